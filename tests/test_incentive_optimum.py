"""Exact references of incentive design (``solvers/incentive_optimum.py``) against independent
computations: brute-force enumeration of joint-action sequences, closed forms written here from the
payoffs, best responses and dominance re-checked by the loops of
``proofs_checks/theorems_incentives.py``, minimality by perturbation, and the second LP backend."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from contractlab.proofs_checks import theorems_incentives as ti
from contractlab.solvers.incentive_optimum import (MAX_LP_ENTRIES, best_response_gaps, check_policy, min_incentives,
                                                   normal_form_closed_form, policy_values, trajectory,
                                                   welfare_optimum)
from contractlab.theory.errors import InvalidInstanceError
from contractlab.theory.incentive_games import NormalFormGame, prisoners_dilemma, public_goods, stag_hunt
from contractlab.theory.markov_game import TabularMarkovGame

#: Two exact routes to one number agree to this (float64 round-off, sums of <= 5 terms of order 10).
EXACT_TOL = 1e-9
#: LP answers (verified by the LP layer to 1e-7 relative on equilibrated data) agree to this.
LP_TOL = 1e-6


def escape_room_like(n: int, m: int, horizon: int = 5) -> TabularMarkovGame:
    """An Escape Room ER(n, m) built here from the issue's rules (positions lever 0, start 1, door 2;
    an action is the position moved to; the door is open when at least ``m`` actions are "lever";
    reward +10 for "door" when open, 0 for staying, else −1; the episode ends when the door is open and
    an agent goes to the door). Only for sizes and the optimum's value; the real environment is
    ``theory/escape_room.py``."""
    K, S = 3, 3 ** n
    pos = np.stack(np.unravel_index(np.arange(S), (K,) * n), axis=1)
    act = pos                                                              # joint action a: the same table
    lever = (act == 0).sum(axis=1) >= m
    rewards = np.where(act[None] == pos[:, None], 0.0, -1.0)
    rewards = np.where(lever[None, :, None] & (act[None] == 2), 10.0, rewards)
    nxt = np.broadcast_to(np.arange(S), (S, S)).copy()
    nxt[:, lever & (act == 2).any(axis=1)] = -1
    return TabularMarkovGame((K,) * n, nxt, rewards, int(np.ravel_multi_index((1,) * n, (K,) * n)), horizon)


def random_game(seed: int, grid: bool = True, S: int | None = None, H: int | None = None) -> TabularMarkovGame:
    rng = np.random.default_rng(seed)
    ks = (int(rng.integers(1, 4)), int(rng.integers(2, 4)))
    A = ks[0] * ks[1]
    S = int(rng.integers(1, 5)) if S is None else S
    H = int(rng.integers(1, 5)) if H is None else H
    rewards = rng.integers(-2, 3, size=(S, A, 2)).astype(float) if grid else rng.normal(size=(S, A, 2))
    return TabularMarkovGame(ks, rng.integers(-1, S, size=(S, A)), rewards, int(rng.integers(0, S)), H)


seeds = st.integers(0, 2**32 - 1)


# --------------------------------------------------------------------------- welfare optimum

@given(seeds, st.booleans())
def test_welfare_dp_equals_brute_force(seed, grid):
    game = random_game(seed, grid)
    opt = welfare_optimum(game)
    assert abs(opt.value - ti.brute_force_welfare(game)) <= EXACT_TOL * max(1.0, abs(opt.value))
    returns, _ = ti.forward_returns(game, opt.policy)
    assert np.allclose(opt.returns, returns, rtol=0, atol=EXACT_TOL)
    assert abs(opt.returns.sum() - opt.value) <= EXACT_TOL * max(1.0, abs(opt.value))
    # the evidence: value = max of q at s_0, and q[t, s, policy] = values
    assert opt.q[0, game.initial_state].max() == pytest.approx(opt.value, abs=1e-9)
    H, S = opt.values.shape
    assert np.array_equal(opt.values, opt.q[np.arange(H)[:, None], np.arange(S)[None], opt.policy])


def test_ties_go_to_the_lowest_joint_action():
    game = TabularMarkovGame((2, 2), np.full((2, 4), 1), np.ones((2, 4, 2)), 0, 3)
    assert (welfare_optimum(game).policy == 0).all()
    r = np.zeros((1, 4, 2))
    r[0, [1, 3], 0] = 5.0                                                 # joint actions 1 and 3 tie
    assert welfare_optimum(TabularMarkovGame((2, 2), np.full((1, 4), -1), r, 0, 1)).policy[0, 0] == 1


@pytest.mark.parametrize("n, m", [(2, 1), (3, 2), (3, 1), (4, 2), (5, 2)])
def test_escape_room_optimum_is_10_times_n_minus_m_minus_m(n, m):
    # the optimum: m agents pull the lever (−1 each), the others walk through the door (+10 each)
    assert welfare_optimum(escape_room_like(n, m)).value == 10 * (n - m) - m


def test_policy_helpers_agree_with_the_forward_pass():
    game = random_game(7, S=3, H=4)
    pol = np.random.default_rng(1).integers(0, game.n_joint_actions, size=(4, 3))
    V = policy_values(game, pol)
    returns, visited = ti.forward_returns(game, pol)
    assert np.allclose(V[0, game.initial_state], returns, atol=EXACT_TOL)
    path = trajectory(game, pol)
    assert [s for _, s, _ in visited] == [int(s) for s in path if s >= 0]


# --------------------------------------------------------------------------- minimal incentives

def test_prisoners_dilemma_incentives():
    g = prisoners_dilemma()                                               # R, S, T, P = 3, 0, 4, 1
    cc = [[0]]
    for kind in ("nash", "dominant"):
        res = min_incentives(g, cc, kind)
        assert res.feasible and res.expected_cost == pytest.approx(2 * (4 - 3), abs=LP_TOL)
    dom = min_incentives(g, cc, "dominant").eta[0, 0]                    # (A, n); A: CC, CD, DC, DD
    # cooperating against a defector needs P − S = 1 promised (never paid on the path)
    assert dom[1, 0] == pytest.approx(1.0, abs=LP_TOL) and dom[2, 1] == pytest.approx(1.0, abs=LP_TOL)
    assert min_incentives(g, [[3]], "nash").expected_cost == 0.0         # (D, D) is already an equilibrium
    bounded = min_incentives(g, cc, "nash", max_incentive=0.5)
    assert not bounded.feasible and bounded.expected_cost == np.inf and list(bounded.status) == ["infeasible"] * 2
    assert min_incentives(g, cc, "nash", max_incentive=1.0).feasible


def test_stag_hunt_needs_only_promises():
    res = min_incentives(stag_hunt(), [[0]], "dominant")
    assert res.expected_cost == 0.0
    assert res.eta[0, 0, 1, 0] == pytest.approx(3.0, abs=LP_TOL)         # stag against hare: 3 promised
    assert min_incentives(stag_hunt(), [[0]], "nash").eta.max() == 0.0


@given(st.integers(2, 5), st.floats(0.05, 0.95), st.floats(0.1, 10.0))
def test_public_goods_cost_of_full_contribution(n, fraction, endowment):
    multiplier = 1.0 + fraction * (n - 1.0)
    g = public_goods(n, multiplier, endowment)
    everyone = g.joint_index((1,) * n)
    want = endowment * (n - multiplier)                                   # each gains e(1 − m/n) by keeping
    for kind in ("nash", "dominant"):
        assert min_incentives(g, [[everyone]], kind).expected_cost == pytest.approx(want, rel=LP_TOL, abs=LP_TOL)


@st.composite
def normal_form(draw):
    n = draw(st.integers(2, 3))
    ks = tuple(draw(st.integers(2, 3)) for _ in range(n))
    rng = np.random.default_rng(draw(seeds))
    payoffs = rng.integers(-2, 4, size=(n,) + ks).astype(float) if draw(st.booleans()) else rng.normal(size=(n,) + ks)
    game = NormalFormGame(payoffs)
    return game, tuple(draw(st.integers(0, k - 1)) for k in ks)


@given(normal_form())
def test_lp_equals_closed_form_and_brute_force_on_normal_form_games(case):
    game, prof = case
    a = game.joint_index(prof)
    cf = normal_form_closed_form(game, prof)
    # brute force: each player's gain from every unilateral deviation, written out here
    brute = sum(max(0.0, max(game.payoffs[(i,) + prof[:i] + (b,) + prof[i + 1:]] for b in range(game.n_actions[i]))
                    - game.payoffs[(i,) + prof]) for i in range(game.n_players))
    assert cf.nash_cost == pytest.approx(brute, abs=EXACT_TOL) and cf.dominant_cost == pytest.approx(brute, abs=EXACT_TOL)
    nash = min_incentives(game, [[a]], "nash")
    dom = min_incentives(game, [[a]], "dominant")
    assert nash.expected_cost == pytest.approx(brute, abs=LP_TOL)
    assert dom.expected_cost == pytest.approx(brute, abs=LP_TOL)
    dom_eta = np.moveaxis(dom.eta[0, 0], -1, 0).reshape((game.n_players,) + game.n_actions)
    assert np.abs(dom_eta - cf.dominant_eta).max() <= LP_TOL


@given(seeds, st.booleans(), st.booleans())
def test_incentives_make_the_policy_an_equilibrium(seed, grid, optimum):
    game = random_game(seed, grid)
    pol = welfare_optimum(game).policy if optimum else \
        np.random.default_rng(seed + 1).integers(0, game.n_joint_actions, size=(game.horizon, game.n_states))
    items = ti.equilibrium_evidence(game, pol, None)
    assert all(e.passed for e in items), [e for e in items if not e.passed]
    nash = min_incentives(game, pol, "nash")
    dom = min_incentives(game, pol, "dominant")
    gaps = best_response_gaps(game, pol)
    assert np.allclose(nash.cost_per_agent, gaps, atol=LP_TOL) and np.allclose(dom.cost_per_agent, gaps, atol=LP_TOL)
    assert np.allclose(gaps, ti.best_response_gaps(game, pol), atol=EXACT_TOL)
    assert (nash.ic_slack >= -LP_TOL).all()
    reach = dom.reachable
    assert (dom.ic_slack[reach] >= -LP_TOL).all() and np.isnan(dom.ic_slack[~reach]).all()
    assert nash.expected_cost == pytest.approx(nash.lp_objective.sum(), abs=LP_TOL)


@given(seeds)
def test_incentives_are_minimal(seed):
    """Pay any agent with a positive on-path incentive 1e-3 less at one step: its IC breaks (nash: a
    profitable deviation; the LP cost is the least that works)."""
    game = random_game(seed)
    pol = welfare_optimum(game).policy
    res = min_incentives(game, pol, "nash")
    path = trajectory(game, pol)
    for t, s in enumerate(path):
        if s < 0:
            break
        for i in range(game.n_agents):
            if res.eta[t, s, pol[t, s], i] > 1e-3:
                eta = res.eta.copy()
                eta[t, s, pol[t, s], i] -= 1e-3
                paid, _ = ti.forward_returns(game, pol, eta)
                assert ti.best_response_value(game, pol, eta, i) > paid[i] + 1e-4


def test_bounded_incentives_respect_the_bound():
    for seed in range(12):
        game = random_game(seed)
        pol = welfare_optimum(game).policy
        for kind in ("nash", "dominant"):
            res = min_incentives(game, pol, kind, max_incentive=1.5)
            free = min_incentives(game, pol, kind)
            if res.feasible:
                assert res.eta.max() <= 1.5 + LP_TOL
                assert res.expected_cost >= free.expected_cost - LP_TOL
                assert all(e.passed for e in ti.equilibrium_evidence(game, pol, 1.5))
            else:
                assert free.eta.max() > 1.5 - LP_TOL                     # the unbounded answer needs more


def test_a_bound_that_raises_the_nash_cost_keeps_it_feasible():
    """With a bound the cheapest Nash incentives can cost more than the best-response gain, because
    an incentive a deviator collects after rejoining the path raises its best response too; the
    bounded LP must still find them. One agent (actions 0 = follow, 1 = deviate), H = 3, path
    s0 -> s1 -> s2 -> end, all rewards 0 but: deviating at s0 pays 2 and leads to the detour s3, from
    which following rejoins the path at s2 (collecting x_2); deviating at s1 pays 2 and ends the
    episode. With incentives x_0, x_1, x_2 <= 1 on the path the Nash conditions are x_0 + x_1 >= 2
    (the detour) and x_1 + x_2 >= 2 (quitting at s1), so x = (1, 1, 1) is the only solution: cost 3,
    while the best-response gain is 2. Dominance implies Nash, so the bounded dominant answer (also
    cost 3) is a witness that the bounded Nash LP is feasible and costs at most that."""
    nxt = np.array([[1, 3], [2, -1], [-1, -1], [2, 3]])
    rewards = np.zeros((4, 2, 1))
    rewards[0, 1, 0] = rewards[1, 1, 0] = 2.0
    game = TabularMarkovGame((2,), nxt, rewards, 0, 3)
    pol = np.zeros((3, 4), dtype=np.int64)
    assert best_response_gaps(game, pol)[0] == 2.0
    assert min_incentives(game, pol, "nash").expected_cost == pytest.approx(2.0, abs=LP_TOL)
    eta = np.zeros((3, 4, 2, 1))
    eta[0, 0, 0, 0] = eta[1, 1, 0, 0] = eta[2, 2, 0, 0] = 1.0                      # the hand-made witness
    paid, _ = ti.forward_returns(game, pol, eta)
    assert ti.best_response_value(game, pol, eta, 0) <= paid[0] + EXACT_TOL      # it makes following Nash
    dom = min_incentives(game, pol, "dominant", max_incentive=1.0)
    nash = min_incentives(game, pol, "nash", max_incentive=1.0)
    assert dom.feasible and dom.expected_cost == pytest.approx(3.0, abs=LP_TOL)
    assert nash.feasible, nash.status                       # feasible: the witnesses above satisfy it
    assert nash.expected_cost <= dom.expected_cost + LP_TOL
    assert nash.expected_cost == pytest.approx(3.0, abs=LP_TOL)                   # and no less (see above)
    assert nash.eta.max() <= 1.0 + LP_TOL and nash.ic_slack[0] >= -LP_TOL

def test_a_wrong_incentive_is_caught_by_the_checks():
    game = prisoners_dilemma().as_markov_game()
    res = min_incentives(game, [[0]], "dominant")
    eta = res.eta * 0.9
    assert ti.dominance_slack(game, np.array([[0]]), eta) < -0.05
    paid, _ = ti.forward_returns(game, np.array([[0]]), eta)
    assert ti.best_response_value(game, np.array([[0]]), eta, 0) > paid[0]


@pytest.mark.parametrize("kind", ["nash", "dominant"])
def test_escape_room_5_2_fits(kind):
    game = escape_room_like(5, 2)
    opt = welfare_optimum(game)
    res = min_incentives(game, opt.policy, kind)
    assert res.feasible and res.expected_cost == pytest.approx(best_response_gaps(game, opt.policy).sum(), abs=LP_TOL)
    assert res.eta.shape == (5, 243, 243, 5)


def test_too_large_lps_are_refused():
    game = escape_room_like(5, 2)
    with pytest.raises(InvalidInstanceError) as err:
        min_incentives(game, welfare_optimum(game).policy, "dominant", max_incentive=5.0)
    assert err.value.field == "game" and "too large" in str(err.value)
    rng = np.random.default_rng(0)
    S = 3000
    big = TabularMarkovGame((2, 2), rng.integers(0, S, size=(S, 4)), np.zeros((S, 4, 2)), 0, 14)
    with pytest.raises(InvalidInstanceError, match="too large"):
        min_incentives(big, np.zeros((14, S), dtype=int), "nash")
    assert MAX_LP_ENTRIES == 4_000_000


@pytest.mark.parametrize("seed", range(4))
def test_cvxpy_agrees_with_highs(seed):
    game = random_game(seed, grid=False, S=2, H=2)
    pol = welfare_optimum(game).policy
    for kind in ("nash", "dominant"):
        highs = min_incentives(game, pol, kind)
        cvx = min_incentives(game, pol, kind, backend="cvxpy")
        assert cvx.expected_cost == pytest.approx(highs.expected_cost, abs=LP_TOL)
        assert all(e.passed for e in ti.equilibrium_evidence(game, pol, None))
    both = min_incentives(prisoners_dilemma(), [[0]], "nash", backend="both")
    assert both.backend == "highs+cvxpy" and both.expected_cost == pytest.approx(2.0, abs=LP_TOL)


@pytest.mark.parametrize("args, kwargs, field", [
    (("not a game", [[0]]), {}, "game"),
    ((None, [[0]]), {"kind": "stackelberg"}, "kind"),
    ((None, [[0]]), {"max_incentive": -1.0}, "max_incentive"),
    ((None, [[0]]), {"max_incentive": float("nan")}, "max_incentive"),
    ((None, [[4]]), {}, "policy"),
    ((None, [[-1]]), {}, "policy"),
    ((None, [[0.5]]), {}, "policy"),
    ((None, [0, 0]), {}, "policy"),
    ((None, "0"), {}, "policy"),
])
def test_bad_arguments_are_refused(args, kwargs, field):
    game = prisoners_dilemma() if args[0] is None else args[0]
    with pytest.raises(InvalidInstanceError) as err:
        min_incentives(game, args[1], **kwargs)
    assert err.value.field == field


def test_policy_shapes():
    game = random_game(3, S=3, H=2)
    stationary = np.arange(3) % game.n_joint_actions
    assert check_policy(game, stationary).shape == (2, 3)
    assert check_policy(game, stationary.astype(float)).dtype == np.int64
    with pytest.raises(InvalidInstanceError):
        check_policy(game, np.zeros((3, 3), dtype=int))


def test_closed_form_validates_the_profile():
    with pytest.raises(InvalidInstanceError):
        normal_form_closed_form(prisoners_dilemma(), (0, 2))
    with pytest.raises(InvalidInstanceError):
        normal_form_closed_form(prisoners_dilemma().as_markov_game(), (0, 0))
    assert list(itertools.chain(normal_form_closed_form(prisoners_dilemma(), (0, 0)).nash_gain)) == [1.0, 1.0]
