"""The tabular Coin Game principal (learning/coin_principal.py), its agents and baselines
(learning/coin_agents.py, learning/coin_baselines.py): determinism, save/load and exact resume,
the learned recommendation and payments against the exact solver on a tiny game, validation
agents paid only when they follow, the exact metrics against the solver's own numbers, and
config validation."""

from __future__ import annotations

import numpy as np
import pytest

from contractlab.learning import coin_baselines as cb
from contractlab.learning import coin_principal as cp
from contractlab.learning.coin_agents import AgentConfig, exact_play, train_agents
from contractlab.solvers import coin_game_exact as X
from contractlab.theory.coin_game import CoinGame
from contractlab.theory.errors import InvalidFileError, InvalidInstanceError

#: The tiny game of the learning tests: 2x2 grid, 4 steps, 128 states.
TINY = dict(grid=2, horizon=4)
#: A small budget: 80 batches of 256 whole episodes (82 k steps).
SMALL = dict(iterations=80, n_envs=256)
SEEDS = range(5)
#: Slack of the learned recommendation: welfare >= (1 - WELFARE_SLACK) W* for every seed
#: (measured 0.998 - 1.000 over these seeds).
WELFARE_SLACK = 0.02
#: Slack of incentive compatibility: an agent's exact best-response value exceeds its value of
#: following by at most IC_SLACK per episode (values ~2; measured <= 0.03 without a nudge).
IC_SLACK = 0.05
#: Learned vs exact expected payments per episode (paper's rule, same recommendation and nudge).
PAY_SLACK = 0.06


@pytest.fixture(scope="module", params=["random", "both"])
def tiny(request):
    game = CoinGame(simultaneous=request.param, **TINY)
    tb = X.tables(game)
    return game, tb, X.welfare_optimum(tb)


def test_same_seed_same_result_and_seeds_differ():
    game = CoinGame(simultaneous="random", **TINY)
    cfg = cp.PrincipalConfig(iterations=10, n_envs=64)
    a, b, c = cp.train(game, cfg, seed=3), cp.train(game, cfg, seed=3), cp.train(game, cfg, seed=4)
    assert np.array_equal(a.recommendation, b.recommendation)
    assert np.array_equal(a.payments, b.payments) and np.array_equal(a.agent_q, b.agent_q)
    assert not np.array_equal(a.agent_q, c.agent_q)
    r1 = train_agents(game, cb.shaping_for("selfish"), AgentConfig(iterations=5, n_envs=32), seed=7)
    r2 = train_agents(game, cb.shaping_for("selfish"), AgentConfig(iterations=5, n_envs=32), seed=7)
    assert np.array_equal(r1.q, r2.q) and np.array_equal(r1.curve, r2.curve, equal_nan=True)


def test_policy_save_load_round_trip(tmp_path):
    game = CoinGame(simultaneous="random", **TINY)
    pol = cp.train(game, cp.PrincipalConfig(iterations=5, n_envs=64, nudge=0.03), seed=1)
    pol.save(tmp_path / "p.npz")
    back = cp.CoinPrincipal.load(tmp_path / "p.npz")
    assert cp.game_to_dict(back.game) == cp.game_to_dict(game)
    for name in ("recommendation", "payments", "agent_q"):
        x, y = getattr(pol, name), getattr(back, name)
        assert x.dtype == y.dtype and np.array_equal(x, y)
    assert (back.alpha, back.nudge, back.seed, back.iteration) == (pol.alpha, pol.nudge, pol.seed, pol.iteration)
    with pytest.raises(InvalidFileError):
        cp.CoinPrincipalLearner.load(tmp_path / "p.npz")          # a policy is not a learner checkpoint


def test_resume_is_bit_identical(tmp_path):
    game = CoinGame(simultaneous="random", **TINY)
    cfg = cp.PrincipalConfig(iterations=12, n_envs=64)
    whole = cp.CoinPrincipalLearner(game, cfg, seed=2)
    whole.train()
    part = cp.CoinPrincipalLearner(game, cfg, seed=2)
    part.train(callback=lambda it, total, m: it == 5)
    assert part.iteration == 5
    part.save(tmp_path / "ck.npz")
    resumed = cp.CoinPrincipalLearner.load(tmp_path / "ck.npz")
    resumed.train()
    for name in ("g", "g_count", "agent_q", "agent_count", "curve"):
        assert np.array_equal(getattr(whole, name), getattr(resumed, name), equal_nan=True), name
    assert resumed.iteration == whole.iteration == 12
    assert np.array_equal(whole.policy().recommendation, resumed.policy().recommendation)


@pytest.mark.parametrize("nudge", [0.0, 0.05])
def test_learned_principal_reaches_the_optimum_and_is_incentive_compatible(tiny, nudge):
    """Over 5 seeds: the recommendation's exact welfare is within WELFARE_SLACK of W*, following
    is a best response within IC_SLACK (exact best_response against the other following, paid iff
    following), and the learned payments are within PAY_SLACK of the paper's payments computed
    on the exact Q for the same recommendation."""
    game, tb, opt = tiny
    for s in SEEDS:
        pol = cp.train(game, cp.PrincipalConfig(nudge=nudge, **SMALL), seed=s)
        m = cp.evaluate_principal(pol, tb, opt)
        assert m.welfare_fraction >= 1 - WELFARE_SLACK, (s, m.welfare_fraction)
        assert m.ic_gap.max() <= IC_SLACK, (s, m.ic_gap)
        assert abs(m.play.total_payment - m.exact_payment.sum()) <= PAY_SLACK, (s, m.play.payments, m.exact_payment)
        assert np.all(pol.payments >= nudge - 1e-12)


def test_exact_payments_and_metrics_agree_with_the_solver(tiny):
    """exact_payments_for(π*) are the solver's paper payments; paying them, following is a best
    response exactly (IC gap 0); exact_play's forward payments equal the solver's expected
    payment and its welfare equals forward_returns."""
    game, tb, opt = tiny
    pp = X.paper_payments(tb, opt)
    pay = cp.exact_payments_for(tb, opt.policy)
    assert np.allclose(pay, np.moveaxis(pp.paid, 0, 2), atol=1e-12)
    pol = cp.CoinPrincipal(game=game, recommendation=opt.policy, payments=pay,
                           agent_q=np.zeros((2, game.horizon, game.n_states, game.n_actions)), alpha=0.1,
                           nudge=0.0, seed=0, iteration=0)
    assert np.all(np.abs(cp.ic_gap(tb, pol)) <= 1e-9)
    play = exact_play(tb, opt.actions(), opt.actions(), pay)
    assert np.allclose(play.payments, pp.expected_payment, atol=1e-12)
    assert np.allclose(play.returns, X.forward_returns(tb, opt.policy), atol=1e-12)
    assert np.allclose(play.follow_rate, 1.0)
    # underpaying one agent by a margin makes deviating profitable: the gap sees it
    low = pay.copy()
    low[..., 0] = np.maximum(low[..., 0] - 0.1, 0.0)
    pol_low = cp.CoinPrincipal(game=game, recommendation=opt.policy, payments=low, agent_q=pol.agent_q, alpha=0.1,
                               nudge=0.0, seed=0, iteration=0)
    gap = cp.ic_gap(tb, pol_low)
    if np.any(pay[..., 0] > 1e-9):
        assert gap[0] > 1e-6 and abs(gap[1]) <= 1e-9


def _stay_principal(game, pay: float) -> cp.CoinPrincipal:
    """Recommends 'stay' to both agents everywhere and pays ``pay`` to an agent who stays."""
    H, S, n = game.horizon, game.n_states, game.n_actions
    stay = game.n_actions - 1
    return cp.CoinPrincipal(game=game, recommendation=np.full((H, S), stay * n + stay, dtype=np.int64),
                            payments=np.full((H, S, 2), float(pay)), agent_q=np.zeros((2, H, S, n)),
                            alpha=0.1, nudge=0.0, seed=0, iteration=0)


def test_validation_pays_only_followers():
    """The validation shaping adds the payment to exactly the agents whose action is their
    recommendation; validation learners facing a principal who pays 3 per step for staying put
    (more than any coin) learn to stay, and the exact payments count followed steps only."""
    game = CoinGame(simultaneous="random", **TINY)
    rng = np.random.default_rng(0)
    pol = cp.train(game, cp.PrincipalConfig(iterations=5, n_envs=64), seed=0)
    shaping = cp.follow_payments(pol)
    rec = pol.actions()
    for t in range(game.horizon):
        idx = rng.integers(0, game.n_states, 200)
        acts = rng.integers(0, game.n_actions, (200, 2))
        acts[:50] = rec[t, idx[:50]]                                   # some follow
        rew = rng.random((200, 2))
        shaped, paid = shaping(t, idx, acts, rew)
        follows = acts == rec[t, idx]
        assert np.array_equal(paid, np.where(follows, pol.payments[t, idx], 0.0))
        assert np.array_equal(shaped, rew + paid)
    stay = _stay_principal(game, 3.0)
    val = cp.validate(stay, AgentConfig(iterations=40, n_envs=128), seed=0)
    assert val.play.follow_rate.min() >= 0.95
    assert val.play.welfare == pytest.approx(0.0, abs=0.5)
    assert np.allclose(val.play.payments, 3.0 * game.horizon * val.play.follow_rate, atol=1e-9)
    # agents paid whatever they do would chase coins instead: the rule above is what makes them stay
    always = train_agents(game, lambda t, idx, a, r: (r + 3.0, np.full_like(r, 3.0)),
                          AgentConfig(iterations=40, n_envs=128), seed=0, recommendation=stay.actions())
    assert exact_play(X.tables(game), always.policy, stay.actions()).follow_rate.max() < 0.8


def test_constant_proportion_pays_its_share():
    game = CoinGame(simultaneous="random", **TINY)
    tb = X.tables(game)
    run = cb.train_baseline(game, "constant_proportion", AgentConfig(iterations=10, n_envs=64), seed=0,
                            proportion=0.3, tables=tb)
    assert run.play.payment_share == pytest.approx(0.3, rel=1e-9)
    shaped, paid = cb.shaping_for("constant_proportion", 0.3)(0, np.zeros(2, int), np.zeros((2, 2), int),
                                                              np.array([[1.0, 0.2], [0.0, 1.0]]))
    assert np.allclose(paid, [[0.06, 0.3], [0.3, 0.0]]) and np.allclose(shaped.sum(axis=1), [1.2 * 1.3, 1.3])
    coop = cb.shaping_for("cooperative")(0, None, None, np.array([[1.0, 0.2]]))
    assert np.allclose(coop[0], [[1.2, 1.2]]) and np.all(coop[1] == 0)


@pytest.mark.parametrize("cls, field, value", [
    (cp.PrincipalConfig, "alpha", 0.0), (cp.PrincipalConfig, "alpha", float("nan")),
    (cp.PrincipalConfig, "nudge", -0.1), (cp.PrincipalConfig, "n_envs", 0), (cp.PrincipalConfig, "iterations", 1.5),
    (cp.PrincipalConfig, "deviation_prob", 1.5), (cp.PrincipalConfig, "epsilon_start", -1),
    (cp.PrincipalConfig, "epsilon_end", 2), (cp.PrincipalConfig, "epsilon_decay", "x"),
    (cp.PrincipalConfig, "step_power", 0.5), (cp.PrincipalConfig, "min_step", 1.5),
    (AgentConfig, "n_envs", True), (AgentConfig, "iterations", 0), (AgentConfig, "epsilon_start", 1.1),
    (AgentConfig, "step_power", 1.2), (AgentConfig, "min_step", -0.5),
])
def test_bad_config_names_the_field(cls, field, value):
    with pytest.raises(InvalidInstanceError) as err:
        cls(**{field: value})
    assert err.value.field == field


def test_bad_arguments_name_the_field():
    game = CoinGame(**TINY)
    cases = [
        (lambda: cp.train("not a game"), "game"),
        (lambda: cp.train(game, seed=-1), "seed"),
        (lambda: cp.train(game, config=AgentConfig()), "config"),
        (lambda: cp.PrincipalConfig.from_dict({"alpha": 0.1, "bogus": 1}), "config"),
        (lambda: cp.validate("x"), "principal"),
        (lambda: cb.shaping_for("altruist"), "kind"),
        (lambda: cb.shaping_for("constant_proportion", -0.2), "proportion"),
        (lambda: train_agents(game, cb.shaping_for("selfish"), seed=1.5), "seed"),
    ]
    for call, field in cases:
        with pytest.raises(InvalidInstanceError) as err:
            call()
        assert err.value.field == field


def test_a_batch_that_cannot_fit_is_refused_before_allocating():
    """10¹² episodes at once would need petabytes: refused by the memory budget, naming the field
    (a MemoryError from numpy would mean the arrays were attempted)."""
    game = CoinGame(**TINY)
    for call in (lambda: train_agents(game, cb.shaping_for("selfish"), AgentConfig(n_envs=10**12)),
                 lambda: cp.CoinPrincipalLearner(game, cp.PrincipalConfig(n_envs=10**12))):
        with pytest.raises(InvalidInstanceError) as err:
            call()
        assert err.value.field == "n_envs" and "memory budget" in str(err.value)

def test_a_checkpoint_written_before_the_configs_shared_their_fields_still_resumes():
    """``tests/data/coin_principal_checkpoint_40d730f.npz`` was written by commit 40d730f, when
    ``PrincipalConfig`` still repeated ``AgentConfig``'s fields instead of extending it:
    ``CoinPrincipalLearner(CoinGame(grid=3, horizon=4), PrincipalConfig(iterations=6, n_envs=32,
    nudge=0.03), seed=2)`` stopped after iteration 3. Resumed now, it must end where an
    uninterrupted run of the same learner ends."""
    from pathlib import Path
    old = cp.CoinPrincipalLearner.load(Path(__file__).parent / "data" / "coin_principal_checkpoint_40d730f.npz")
    assert old.iteration == 3
    resumed = old.train()
    fresh = cp.CoinPrincipalLearner(CoinGame(grid=3, horizon=4),
                                    cp.PrincipalConfig(iterations=6, n_envs=32, nudge=0.03), seed=2).train()
    np.testing.assert_array_equal(resumed.payments, fresh.payments)
    np.testing.assert_array_equal(resumed.recommendation, fresh.recommendation)
    np.testing.assert_array_equal(resumed.agent_q, fresh.agent_q)
