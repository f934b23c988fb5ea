"""Tests of the bimatrix game model and the Stackelberg commitment LPs.

Independent cross-checks: a hand-computed textbook game, exact enumeration of the follower's
best-response breakpoints for 2 x l games, scipy.optimize.linprog per follower action, the
minimax value for zero-sum games, and a loop-based pure-Nash enumeration.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from scipy.optimize import linprog

from contractlab.proofs_checks import theorems_stackelberg as ts
from contractlab.proofs_checks.registry import _REGISTRY
from contractlab.solvers import lp as lp_module
from contractlab.solvers.stackelberg import (StackelbergResult, commitment_lps, leader_payoff_with_best_response,
                                             stackelberg)
from contractlab.theory import fileio
from contractlab.theory.bimatrix import (BimatrixGame, follower_best_responses, follower_payoffs_against,
                                         pure_nash_equilibria)
from contractlab.theory.errors import InvalidFileError, InvalidInstanceError

bimatrix_games = ts.bimatrix_games
FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

#: Agreement between the solver and an independent computation of the same LP value
#: (absolute, scaled by max(1, |value|)); both sides are simplex / exact-enumeration answers.
VALUE_TOL = 1e-8


def close(a: float, b: float, tol: float = VALUE_TOL) -> bool:
    return abs(a - b) <= tol * max(1.0, abs(a), abs(b))


# --- the textbook example -----------------------------------------------------------------

# Conitzer & Sandholm (EC 2006), Section 1 / von Stengel & Zamir (2010): rows U, D; columns L, R.
# U strictly dominates D for the leader, so the unique Nash equilibrium is (U, L) with payoff 1.
# Committing to P(U) = 1/2 makes the follower (weakly, tie broken for the leader) play R:
# leader payoff 3/2 + 2/2 = 2.5, follower payoff 1/2.
TEXTBOOK = BimatrixGame([[1, 3], [0, 2]], [[1, 0], [0, 1]], leader_action_names=["U", "D"],
                        follower_action_names=["L", "R"])


@pytest.mark.parametrize("backend", ["highs", "cvxpy"])
def test_textbook_commitment_beats_nash(backend):
    assert pure_nash_equilibria(TEXTBOOK) == [(0, 0)]
    res = stackelberg(TEXTBOOK, backend=backend)
    assert res.follower_action == 1
    np.testing.assert_allclose(res.leader_strategy, [0.5, 0.5], atol=1e-8)
    assert res.leader_value == pytest.approx(2.5, abs=1e-8)
    assert res.follower_value == pytest.approx(0.5, abs=1e-8)
    np.testing.assert_allclose(res.action_values, [1.0, 2.5], atol=1e-8)   # inducing L: best is x = e_U
    assert list(res.statuses) == ["optimal", "optimal"]
    assert res.backend == backend
    assert res.leader_value > 1.0   # strictly better than the Nash payoff


def test_matching_pennies_has_no_pure_nash_and_value_zero():
    A = np.array([[1.0, -1.0], [-1.0, 1.0]])
    game = BimatrixGame(A, -A)
    assert pure_nash_equilibria(game) == []
    res = stackelberg(game)
    assert res.leader_value == pytest.approx(0.0, abs=1e-9)
    np.testing.assert_allclose(res.leader_strategy, [0.5, 0.5], atol=1e-9)
    ev = _REGISTRY["stackelberg.beats_pure_nash"].check(game)
    assert ev.passed and ev.margin == np.inf   # vacuous


def test_infeasible_follower_action_has_value_minus_inf():
    # Column 1 is strictly dominated for the follower: it is a best response to no x.
    game = BimatrixGame([[0, 10], [0, 10]], [[1, 0], [2, 1]])
    res = stackelberg(game)
    assert res.statuses[1] == "infeasible"
    assert res.action_values[1] == -np.inf
    assert np.isnan(res.action_strategies[1]).all()
    assert res.follower_action == 0 and res.leader_value == pytest.approx(0.0)


def test_tie_between_follower_actions_goes_to_lowest_index():
    # Both columns give the leader 1 whatever she does: equal LP values, lowest index wins.
    game = BimatrixGame([[1.0, 1.0], [1.0, 1.0]], [[0.0, 0.0], [0.0, 0.0]])
    for backend in ("highs", "cvxpy"):
        assert stackelberg(game, backend=backend).follower_action == 0
    # The follower is indifferent; the strong equilibrium breaks the tie in the leader's favour.
    game = BimatrixGame([[0.0, 5.0]], [[1.0, 1.0]])
    res = stackelberg(game)
    assert res.follower_action == 1 and res.leader_value == 5.0


def test_one_by_one_game():
    res = stackelberg(BimatrixGame([[3.0]], [[-1.0]]))
    assert res.leader_value == 3.0 and res.follower_value == -1.0 and res.follower_action == 0
    np.testing.assert_array_equal(res.leader_strategy, [1.0])


def test_result_is_frozen_and_read_only():
    res = stackelberg(TEXTBOOK)
    assert isinstance(res, StackelbergResult)
    with pytest.raises(AttributeError):
        res.leader_value = 0.0
    for arr in (res.leader_strategy, res.action_values, res.action_strategies, res.statuses):
        with pytest.raises(ValueError):
            arr[0] = 0


def test_all_follower_actions_are_solved_in_one_batched_call(monkeypatch):
    calls = []
    real = lp_module.solve_lp_batch

    def spy(lp, backend="highs", batched=True):
        calls.append((lp.size, backend, batched))
        return real(lp, backend=backend, batched=batched)

    import contractlab.solvers.stackelberg as sk
    monkeypatch.setattr(sk, "solve_lp_batch", spy)
    game = BimatrixGame(np.arange(12.0).reshape(3, 4), np.arange(12.0)[::-1].reshape(3, 4))
    stackelberg(game)
    assert calls == [(4, "highs", True)]


def test_commitment_lps_standard_form():
    lp = commitment_lps(TEXTBOOK.leader_payoffs, TEXTBOOK.follower_payoffs)
    assert lp.size == 2 and lp.n_vars == 2
    np.testing.assert_array_equal(lp.c, [[-1, 0], [-3, -2]])
    # block 0 (induce L): B[:,0] - B[:,1] = (1, -1); block 1 (induce R): (-1, 1)
    np.testing.assert_array_equal(lp.A_ge, [[[1, -1]], [[-1, 1]]])
    np.testing.assert_array_equal(lp.b_ge, [[0], [0]])
    np.testing.assert_array_equal(lp.A_eq, [[[1, 1]], [[1, 1]]])


# --- independent cross-checks ------------------------------------------------------------------

def brute_force_2xl(game: BimatrixGame, tol: float = 1e-12) -> float:
    """Exact strong-Stackelberg value of a 2 x l game by enumerating breakpoints.

    With x = (p, 1-p), the follower's payoff from column j is linear in p; her best-response
    regions are intervals whose endpoints are 0, 1 and crossings of two payoff lines. On each
    region the leader's payoff is linear, so the optimum is at an endpoint, where the follower
    (indifferent) breaks the tie in the leader's favour.
    """
    A, B = game.leader_payoffs, game.follower_payoffs
    slopes, icpts = B[0] - B[1], B[1]               # follower payoff of j: icpt_j + slope_j p
    candidates = [0.0, 1.0]
    for a, b in itertools.combinations(range(B.shape[1]), 2):
        if slopes[a] != slopes[b]:
            p = (icpts[b] - icpts[a]) / (slopes[a] - slopes[b])
            if 0.0 <= p <= 1.0:
                candidates.append(float(p))
    best = -np.inf
    for p in candidates:
        u = icpts + slopes * p
        br = u >= u.max() - tol * max(1.0, abs(u.max()))
        best = max(best, float((A[0] * p + A[1] * (1 - p))[br].max()))
    return best


def linprog_values(game: BimatrixGame) -> np.ndarray:
    """The l LP values with scipy.optimize.linprog, one LP at a time (-inf where infeasible)."""
    A, B = game.leader_payoffs, game.follower_payoffs
    k, l = A.shape
    out = np.full(l, -np.inf)
    for j in range(l):
        A_ub = (B - B[:, [j]]).T                    # x·B[:, j'] - x·B[:, j] <= 0
        res = linprog(-A[:, j], A_ub=A_ub, b_ub=np.zeros(l), A_eq=np.ones((1, k)), b_eq=[1.0],
                      bounds=[(0, None)] * k, method="highs")
        if res.status == 0:
            out[j] = -res.fun
        else:
            assert res.status == 2, res.message      # infeasible, never unbounded
    return out


@FAST
@given(bimatrix_games(min_leader=2, max_leader=2, max_follower=5))
def test_two_row_games_match_breakpoint_enumeration(game):
    # tolerance: VALUE_TOL (1e-8) relative; both answers are exact up to round-off
    res = stackelberg(game)
    assert close(res.leader_value, brute_force_2xl(game))


@FAST
@given(bimatrix_games(max_leader=5, max_follower=5))
def test_per_action_values_match_scipy_linprog(game):
    res = stackelberg(game)
    ref = linprog_values(game)
    assert np.array_equal(np.isfinite(res.action_values), np.isfinite(ref))
    fin = np.isfinite(ref)
    assert all(close(a, b) for a, b in zip(res.action_values[fin], ref[fin]))
    assert close(res.leader_value, ref.max())


def minimax_value(A: np.ndarray) -> float:
    """max_x min_j x·A[:, j] by linprog (variables x, z): the value of the zero-sum game."""
    k, l = A.shape
    c = np.zeros(k + 1)
    c[-1] = -1.0
    A_ub = np.hstack([-A.T, np.ones((l, 1))])        # z <= x·A[:, j]
    res = linprog(c, A_ub=A_ub, b_ub=np.zeros(l), A_eq=[[1.0] * k + [0.0]], b_eq=[1.0],
                  bounds=[(0, None)] * k + [(None, None)], method="highs")
    assert res.status == 0
    return -res.fun


@FAST
@given(bimatrix_games(max_leader=4, max_follower=4))
def test_zero_sum_commitment_value_is_the_minimax_value(game):
    # In a zero-sum game commitment neither helps nor hurts (von Neumann); tolerance VALUE_TOL.
    zs = BimatrixGame(game.leader_payoffs, -game.leader_payoffs)
    assert close(stackelberg(zs).leader_value, minimax_value(zs.leader_payoffs))


@settings(max_examples=25, deadline=None)
@given(bimatrix_games(max_leader=4, max_follower=3))
def test_backends_agree_and_cvxpy_statuses_match(game):
    h, c = stackelberg(game, "highs"), stackelberg(game, "cvxpy")
    assert close(h.leader_value, c.leader_value, ts.BACKEND_TOL)
    assert list(h.statuses) == list(c.statuses)


def test_payoff_differences_below_tolerance_are_ties_for_both_backends():
    # Found by hypothesis: B[1, 2] - B[1, 0] = 5.4e-10. Exactly, column 2 is then a best response
    # to no x (LP 2 infeasible); HiGHS drops matrix entries below 1e-9 and finds x = e_0 with
    # value 4.06, while Clarabel kept the entry and reported LP 2 infeasible (value -1.25).
    # With PAYOFF_TOL the difference is a tie for both backends.
    eps = 5.36580211e-10
    game = BimatrixGame([[-4.44446918, 0.0, 4.05578233], [eps, -2.96268472, 0.0]],
                        [[eps, -2.96268472, 0.0], [0.0, 4.05578233, eps]])
    h, c = stackelberg(game, "highs"), stackelberg(game, "cvxpy")
    assert list(h.statuses) == list(c.statuses) == ["optimal"] * 3
    assert close(h.leader_value, 4.05578233) and close(c.leader_value, 4.05578233)
    # HiGHS drops entries of size <= 1e-9 (inclusive): the boundary case must be a tie too.
    game = BimatrixGame([[-1.23668818, 1.02360324, 0.0]], [[1e-9, 0.0, -0.897572879]])
    h, c = stackelberg(game, "highs"), stackelberg(game, "cvxpy")
    assert h.follower_action == c.follower_action == 1
    assert close(h.leader_value, c.leader_value)


@FAST
@given(bimatrix_games())
def test_reported_strategy_is_worth_the_reported_value(game):
    res = stackelberg(game)
    value, j = leader_payoff_with_best_response(game, res.leader_strategy, tol=1e-7)
    # the follower may have a better-for-the-leader tie at x (within 1e-7): value can only be >=
    assert value >= res.leader_value - 1e-7 * max(1.0, abs(res.leader_value))
    assert j in follower_best_responses(game, res.leader_strategy, tol=1e-7)


# --- pure Nash equilibria -----------------------------------------------------------------------

def pure_nash_loops(game: BimatrixGame) -> list[tuple[int, int]]:
    A, B = game.leader_payoffs, game.follower_payoffs
    return [(i, j) for i in range(A.shape[0]) for j in range(A.shape[1])
            if A[i, j] >= A[:, j].max() and B[i, j] >= B[i, :].max()]


def test_pure_nash_textbook_games():
    pd = BimatrixGame([[3, 0], [5, 1]], [[3, 5], [0, 1]])           # prisoners' dilemma
    assert pure_nash_equilibria(pd) == [(1, 1)]
    coord = BimatrixGame([[2, 0], [0, 1]], [[2, 0], [0, 1]])
    assert pure_nash_equilibria(coord) == [(0, 0), (1, 1)]
    assert pure_nash_equilibria(BimatrixGame([[0, 0], [0, 0]], [[0, 0], [0, 0]])) == [(0, 0), (0, 1), (1, 0), (1, 1)]


@FAST
@given(bimatrix_games(max_leader=5, max_follower=5))
def test_pure_nash_matches_loops(game):
    assert pure_nash_equilibria(game) == pure_nash_loops(game)


# --- the registered theorems ------------------------------------------------------------------

STACKELBERG_THEOREMS = [tid for tid in _REGISTRY if tid.startswith("stackelberg.")]


def test_stackelberg_theorems_are_registered():
    assert set(STACKELBERG_THEOREMS) >= {"stackelberg.beats_pure_nash", "stackelberg.backends_agree",
                                         "stackelberg.follower_best_responds", "stackelberg.beats_pure_commitment"}
    for tid in STACKELBERG_THEOREMS:
        th = _REGISTRY[tid]
        assert th.statement and "Conitzer" in th.source


@pytest.mark.parametrize("tid", STACKELBERG_THEOREMS)
def test_stackelberg_theorem_holds_on_drawn_games(tid):
    th = _REGISTRY[tid]

    @settings(max_examples=30 if tid == "stackelberg.backends_agree" else 50, deadline=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(th.strategy())
    def run(game):
        ev = th.check(game)
        assert ev.passed, (tid, ev, game.leader_payoffs.tolist(), game.follower_payoffs.tolist())

    run()


# --- validation and files -------------------------------------------------------------------------

def test_invalid_games_name_field_and_index():
    with pytest.raises(InvalidInstanceError) as e:
        BimatrixGame([[1, 2], [float("nan"), 4]], [[0, 0], [0, 0]])
    assert e.value.field == "leader_payoffs" and e.value.index == (1, 0)
    with pytest.raises(InvalidInstanceError) as e:
        BimatrixGame([[1, 2]], [[0, float("inf")]])
    assert e.value.field == "follower_payoffs" and e.value.index == (0, 1)
    with pytest.raises(InvalidInstanceError) as e:
        BimatrixGame([[1, 2], [3, 4]], [[0, 0, 0], [0, 0, 0]])
    assert e.value.field == "follower_payoffs" and "shape" in str(e.value)
    with pytest.raises(InvalidInstanceError) as e:
        BimatrixGame([[1, 2], [3]], [[0, 0], [0, 0]])
    assert e.value.field == "leader_payoffs" and e.value.index == (1,)
    with pytest.raises(InvalidInstanceError) as e:
        BimatrixGame([[1, "x"]], [[0, 0]])
    assert e.value.field == "leader_payoffs" and e.value.index == (0, 1)
    with pytest.raises(InvalidInstanceError) as e:
        BimatrixGame(np.zeros((0, 2)), np.zeros((0, 2)))
    assert e.value.field == "leader_payoffs"
    with pytest.raises(InvalidInstanceError) as e:
        BimatrixGame([[1, 2]], [[0, 0]], follower_action_names=["a", "a"])
    assert e.value.field == "follower_action_names" and e.value.index == (1,)
    with pytest.raises(InvalidInstanceError) as e:
        stackelberg(TEXTBOOK, backend="glpk")
    assert e.value.field == "backend"
    with pytest.raises(InvalidInstanceError) as e:
        follower_payoffs_against(TEXTBOOK, [0.5, -0.5])
    assert e.value.field == "leader_strategy" and e.value.index == (1,)


def test_game_is_immutable():
    with pytest.raises(ValueError):
        TEXTBOOK.leader_payoffs[0, 0] = 7.0
    with pytest.raises(AttributeError):
        TEXTBOOK.leader_payoffs = np.zeros((2, 2))


def test_file_round_trip(tmp_path):
    path = tmp_path / "game.json"
    fileio.save(TEXTBOOK, path)
    back = fileio.load(path, expect="bimatrix_game")
    assert back == TEXTBOOK
    doc = fileio.to_dict(TEXTBOOK)
    assert doc["kind"] == "bimatrix_game" and doc["version"] == 1
    assert doc["leader_payoffs"] == [[1.0, 3.0], [0.0, 2.0]]
    bare = fileio.loads('{"kind": "bimatrix_game", "version": 1, "leader_payoffs": [[1]], "follower_payoffs": [[2]]}')
    assert bare == BimatrixGame([[1.0]], [[2.0]])


def test_bad_files_name_the_field():
    with pytest.raises(InvalidFileError) as e:
        fileio.loads('{"kind": "bimatrix_game", "version": 2, "leader_payoffs": [[1]], "follower_payoffs": [[2]]}')
    assert e.value.field == "version"
    with pytest.raises(InvalidFileError) as e:
        fileio.loads('{"kind": "bimatrix_game", "version": 1, "leader_payoffs": [[1]]}')
    assert e.value.field == "follower_payoffs"
    with pytest.raises(InvalidFileError) as e:
        fileio.loads('{"kind": "bimatrix_game", "version": 1, "leader_payoffs": [[1]], "follower_payoffs": [[2]], '
                     '"extra": 1}')
    assert e.value.field == "extra"
    with pytest.raises(InvalidInstanceError) as e:
        fileio.loads('{"kind": "bimatrix_game", "version": 1, "leader_payoffs": [[1, 2], [3, true]], '
                     '"follower_payoffs": [[2, 2], [2, 2]]}')
    assert e.value.field == "leader_payoffs" and e.value.index == (1, 1)
