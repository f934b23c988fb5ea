"""Checking a Coin Game principal against the exact solution (proofs_checks/coin_policy_check.py)
and ``contractlab check`` on a ``coin_game`` instance: principals built from the exact solver
are judged incentive compatible, corrupted ones are caught where they are corrupted, and the
command line reports it."""

from __future__ import annotations

import json

import numpy as np
import pytest

from contractlab.cli import main
from contractlab.learning import coin_principal as cp
from contractlab.learning.coin_agents import state_distributions
from contractlab.proofs_checks.coin_policy_check import check_coin_principal
from contractlab.solvers import coin_game_exact as X
from contractlab.theory import fileio
from contractlab.theory.coin_game import CoinGame
from contractlab.theory.errors import InvalidInstanceError

#: 2x2 grid, 4 steps (128 states): every check below is exact and takes milliseconds.
TINY = dict(grid=2, horizon=4)
TOL = 1e-9


@pytest.fixture(scope="module", params=["random", "both"])
def tiny(request):
    game = CoinGame(simultaneous=request.param, **TINY)
    tb = X.tables(game)
    return game, tb, X.welfare_optimum(tb)


def principal(game, recommendation, payments, nudge=0.0):
    H, S, n = game.horizon, game.n_states, game.n_actions
    return cp.CoinPrincipal(game=game, recommendation=np.asarray(recommendation), payments=np.asarray(payments, float),
                            agent_q=np.zeros((2, H, S, n)), alpha=cp.PAPER_ALPHA, nudge=nudge, seed=0, iteration=0)


def test_optimum_with_the_exact_payments_passes(tiny):
    game, tb, opt = tiny
    pay = cp.exact_payments_for(tb, opt.policy, nudge=0.01)
    r = check_coin_principal(principal(game, opt.policy, pay, nudge=0.01), tables=tb, optimum=opt)
    assert r.welfare == pytest.approx(opt.value, abs=1e-12) and r.welfare_fraction == pytest.approx(1.0)
    # a strict margin of 0.01 everywhere: no violation against a follower, and following is the
    # unique best response at every (t, s), so the best responder follows always
    assert r.follow_violations.sum() == 0 and r.ic_gap.max() <= 1e-9
    assert np.all(r.best_response_follow_rate == 1.0)
    assert r.payment_error_on_path == pytest.approx(0.0, abs=1e-12)
    # the expected payment is the paper's (no nudge) plus 0.01 per step of the episode
    assert r.payments.sum() == pytest.approx(r.references["paper"] + 2 * 0.01 * game.horizon, abs=1e-9)
    assert r.objective == pytest.approx(opt.value / cp.PAPER_ALPHA - r.payments.sum())


def test_no_payments_violate_exactly_where_the_paper_pays(tiny):
    """With nothing paid, the violation against a follower at (t, s) is the agent's exact
    best-response gain, which is the paper's payment there."""
    game, tb, opt = tiny
    zero = np.zeros((game.horizon, game.n_states, 2))
    r = check_coin_principal(principal(game, opt.policy, zero), tables=tb, optimum=opt)
    paper = X.paper_payments(tb, opt).paid                                   # (2, H, S)
    np.testing.assert_allclose(r.follow_violation, paper, atol=1e-12)
    on = state_distributions(tb, opt.policy) > 0
    assert np.array_equal(r.follow_violations_on_path, ((paper > TOL) & on[None]).sum(axis=(1, 2)))
    # the start-state gain of deviating is the paper's expected payment (module docstring of the solver)
    np.testing.assert_allclose(r.ic_gap, X.paper_payments(tb, opt).expected_payment, atol=1e-9)


def test_dominance_separates_paper_from_every_action_payments(tiny):
    game, tb, opt = tiny
    greedy = X.every_action_payments(tb, opt).paid
    r = check_coin_principal(principal(game, opt.policy, np.moveaxis(greedy, 0, -1)), tables=tb, optimum=opt)
    assert r.dominance_violations.sum() == 0 and r.follow_violations.sum() == 0
    paper = X.paper_payments(tb, opt)
    r2 = check_coin_principal(principal(game, opt.policy, np.moveaxis(paper.paid, 0, -1)), tables=tb, optimum=opt)
    assert r2.follow_violation_max.max() <= 1e-9            # best response to a follower ...
    if X.every_action_payments(tb, opt).total_payment > paper.total_payment + 1e-9:
        assert r2.dominance_violations_on_path.sum() > 0    # ... but not against every action of the other


def test_one_corrupted_payment_is_found(tiny):
    game, tb, opt = tiny
    pay = cp.exact_payments_for(tb, opt.policy, nudge=0.01)
    paper = X.paper_payments(tb, opt).paid
    on = state_distributions(tb, opt.policy) > 0
    t, s = map(int, np.argwhere(on & (paper[0] > 0.05))[0])
    pay[t, s, 0] = 0.0
    r = check_coin_principal(principal(game, opt.policy, pay, nudge=0.01), tables=tb, optimum=opt)
    bad = np.argwhere(r.follow_violation[0] > TOL)
    assert bad.tolist() == [[t, s]] and r.follow_violations[1] == 0
    # later steps pay ξ = 0.01 more whatever i does now, so the gain is the paper's payment at (t, s)
    assert r.follow_violation[0, t, s] == pytest.approx(paper[0, t, s], abs=1e-9)
    assert r.ic_gap[0] > 0 and r.best_response_follow_rate[0] < 1.0


def test_recommending_to_stay_has_no_welfare_and_is_not_followed(tiny):
    """Both told to stay forever: no coin is ever reached (none starts under an agent), so the
    welfare is 0; with nothing paid, each agent's best response to a staying other picks up
    coins, worth its selfish best-response value, and does not follow."""
    game, tb, opt = tiny
    n = game.n_actions
    stay = np.full((game.horizon, game.n_states), 4 * n + 4)
    zero = np.zeros((game.horizon, game.n_states, 2))
    r = check_coin_principal(principal(game, stay, zero), tables=tb, optimum=opt)
    assert r.welfare == 0.0 and r.welfare_fraction == 0.0 and r.payments.sum() == 0.0
    for i in (0, 1):
        assert r.ic_gap[i] == pytest.approx(X.best_response(tb, i, np.full_like(stay, 4)).value, abs=1e-12)
    assert np.all(r.ic_gap > 0) and np.all(r.best_response_follow_rate < 1.0)


def test_bad_arguments_name_the_field(tiny):
    game, tb, opt = tiny
    p = principal(game, opt.policy, np.zeros((game.horizon, game.n_states, 2)))
    with pytest.raises(InvalidInstanceError, match="principal"):
        check_coin_principal("not a principal")
    with pytest.raises(InvalidInstanceError, match="validate_iterations"):
        check_coin_principal(p, tables=tb, validate_iterations=-1)
    other = X.tables(CoinGame(grid=2, horizon=3))
    with pytest.raises(InvalidInstanceError, match="tables"):
        check_coin_principal(p, tables=other)


# ---- the coin_game file kind and the command line ---------------------------------------------------

def test_coin_game_file_round_trip_and_hostile_fields(tmp_path):
    game = CoinGame(grid=3, simultaneous="random", payoff="jaxmarl", payoff_matrix=[[1, 0.5, -1], [1, 0.5, -1]])
    path = tmp_path / "g.json"
    fileio.save(game, path)
    back = fileio.load(path, expect="coin_game")
    assert np.array_equal(back.payoff_matrix, game.payoff_matrix) and back.simultaneous == "random"
    for doc, field in (({"grid": 10 ** 9}, "grid"), ({"grid": 3, "stay": "no"}, "stay"),
                       ({"grid": 3, "payoff": "jaxmarl", "payoff_matrix": [[1, "2", 0], [1, 1, 1]]}, "payoff_matrix"),
                       ({"grid": 3, "horizon": 0}, "horizon"), ({"grid": 3, "extra": 1}, "extra"), ({}, "grid")):
        with pytest.raises(InvalidInstanceError, match=field):
            fileio.loads(json.dumps({"kind": "coin_game", "version": 1, **doc}))


def cli(capsys, *argv):
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("coin")
    game = CoinGame(simultaneous="random", **TINY)
    fileio.save(game, d / "game.json")
    pol = cp.train(game, cp.PrincipalConfig(iterations=60, n_envs=256), seed=0)
    pol.save(d / "principal.npz")
    fileio.save(CoinGame(simultaneous="both", **TINY), d / "other.json")
    return d, pol


def test_cli_reports_the_learned_principal(capsys, files):
    d, pol = files
    code, out, err = cli(capsys, "check", d / "game.json", d / "principal.npz", "--json")
    assert code == 0, err
    doc = json.loads(out)
    direct = check_coin_principal(pol).to_json()
    assert doc == json.loads(json.dumps(direct))
    assert doc["kind"] == "coin_policy_check" and 0 < doc["welfare_fraction"] <= 1 + 1e-12
    code, out, err = cli(capsys, "check", d / "game.json", d / "principal.npz")
    assert code == 0 and "IC violations vs follower" in out and err == ""


def test_cli_refuses_mismatches_in_one_line(capsys, files):
    d, _ = files
    for argv, field in (((d / "other.json", d / "principal.npz"), "game"),
                        ((d / "game.json", d / "principal.npz", "--tie-break", "principal"), "--tie-break"),
                        ((d / "game.json", d / "principal.npz", "--validate", "-1"), "--validate"),
                        ((d / "game.json", d / "game.json"), "")):
        code, out, err = cli(capsys, "check", *argv)
        assert code == 2 and out == "" and len(err.strip().splitlines()) == 1 and field in err, (argv, err)


def test_cli_learn_resumes_bit_identically_and_checks(capsys, tmp_path):
    game = CoinGame(simultaneous="random", **TINY)
    fileio.save(game, tmp_path / "game.json")
    half = cp.CoinPrincipalLearner(game, cp.PrincipalConfig(iterations=6), seed=2)
    half.train(iterations=3)
    half.save(tmp_path / "ck.npz")
    code, out, err = cli(capsys, "learn", tmp_path / "game.json", "-o", tmp_path / "p.npz",
                         "--checkpoint", tmp_path / "ck.npz", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["resumed"] is True and doc["iterations"] == 6 and doc["kind"] == "coin_policy_check"
    whole = cp.train(game, cp.PrincipalConfig(iterations=6), seed=2)
    back = cp.CoinPrincipal.load(tmp_path / "p.npz")
    for name in ("recommendation", "payments", "agent_q"):
        assert np.array_equal(getattr(back, name), getattr(whole, name)), name
    code, out2, err = cli(capsys, "check", tmp_path / "game.json", tmp_path / "p.npz", "--json")
    assert code == 0 and json.loads(out2)["welfare"] == doc["welfare"]
    # a checkpoint of another seed is refused before any work
    code, out, err = cli(capsys, "learn", tmp_path / "game.json", "-o", tmp_path / "q.npz",
                         "--checkpoint", tmp_path / "ck.npz", "--seed", "5")
    assert code == 2 and "--seed" in err and not (tmp_path / "q.npz").exists()
    code, out, err = cli(capsys, "learn", tmp_path / "game.json", "-o", tmp_path / "q.npz", "--curve", tmp_path / "c")
    assert code == 2 and "--curve" in err


def _rewrite(src, dst, name, index, value, dtype=None):
    """``src`` (a saved principal or checkpoint) with one entry of member ``name`` replaced."""
    with np.load(src, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    a = arrays[name].astype(dtype) if dtype is not None else arrays[name].copy()
    a[index] = value
    arrays[name] = a
    np.savez(dst, **arrays)


@pytest.mark.parametrize("name, index, value, dtype, shown", [
    ("recommendation", (2, 5), 25, None, "recommendation[2][5] = 25"),
    ("recommendation", (0, 0), -1, None, "recommendation[0][0] = -1"),
    ("recommendation", (1, 1), 3.5, float, "recommendation has dtype float64"),
    ("payments", (3, 7, 1), np.nan, None, "payments[3][7][1] = nan"),
    ("payments", (0, 2, 0), -0.5, None, "payments[0][2][0] = -0.5"),
    ("agent_q", (1, 0, 4, 2), np.inf, None, "agent_q[1][0][4][2] = inf"),
])
def test_cli_refuses_a_corrupted_entry_naming_it(capsys, files, tmp_path, name, index, value, dtype, shown):
    """A principal with one impossible entry (an action that does not exist, a NaN or negative
    payment, an infinite Q-value) is refused on load in one line naming the member and index,
    not judged as if it were a policy."""
    d, _ = files
    _rewrite(d / "principal.npz", tmp_path / "bad.npz", name, index, value, dtype)
    code, out, err = cli(capsys, "check", d / "game.json", tmp_path / "bad.npz")
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1 and shown in err, err


@pytest.mark.parametrize("name, index, value", [("g", (1, 3, 0), np.nan), ("g_count", (0, 0, 0), -4),
                                                ("agent_q", (0, 1, 2, 3), -np.inf)])
def test_a_corrupted_learner_checkpoint_is_refused_naming_the_entry(tmp_path, name, index, value):
    game = CoinGame(simultaneous="random", **TINY)
    learner = cp.CoinPrincipalLearner(game, cp.PrincipalConfig(iterations=4), seed=1)
    learner.train(iterations=2)
    learner.save(tmp_path / "ck.npz")
    _rewrite(tmp_path / "ck.npz", tmp_path / "bad.npz", name, index, value)
    with pytest.raises(InvalidInstanceError) as err:
        cp.CoinPrincipalLearner.load(tmp_path / "bad.npz")
    assert f"{name}{''.join(f'[{i}]' for i in index)}" in str(err.value)


@pytest.mark.parametrize("option, value", [("--iterations", "0"), ("--seed", "-1"), ("--margin", "nan"),
                                           ("--margin", "-0.5")])
def test_cli_learn_names_the_option_of_a_bad_value(capsys, files, tmp_path, option, value):
    d, _ = files
    code, out, err = cli(capsys, "learn", d / "game.json", "-o", tmp_path / "p.npz", option, value)
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1 and f"{option}:" in err, err
    assert not (tmp_path / "p.npz").exists()
