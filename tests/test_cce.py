"""Coarse correlated equilibria and zero-sum values (contractlab/solvers/cce.py) against
independent methods: scipy's linprog on LPs written here from the definitions, closed forms for
2x2 games, explicit loops over the deviations, games with known answers, and the two backends
of the LP layer against each other."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy.optimize import linprog

from contractlab.solvers import cce
from contractlab.theory.bimatrix import BimatrixGame, pure_nash_equilibria
from contractlab.theory.errors import InvalidInstanceError

#: Agreement between two LP solvers (both verify their optima to ~1e-9 on these small games).
LP_TOL = 1e-7

cell = st.one_of(st.integers(-3, 3).map(float), st.floats(-5.0, 5.0, allow_subnormal=False))


@st.composite
def games(draw, min_actions=1, max_actions=4):
    k, l = draw(st.integers(min_actions, max_actions)), draw(st.integers(min_actions, max_actions))
    matrix = st.lists(st.lists(cell, min_size=l, max_size=l), min_size=k, max_size=k).map(np.array)
    return BimatrixGame(draw(matrix), draw(matrix))


@st.composite
def game_and_distribution(draw):
    game = draw(games())
    k, l = game.shape
    weights = np.array(draw(st.lists(st.floats(0.0, 1.0), min_size=k * l, max_size=k * l)))
    if weights.sum() == 0:
        weights[0] = 1.0
    return game, (weights / weights.sum()).reshape(k, l)


def gains_by_loops(game, sigma):
    """Each fixed deviation's gain under ``sigma``, written out with loops (the definition)."""
    A, B = game.leader_payoffs, game.follower_payoffs
    k, l = A.shape
    out = []
    for dev in range(k):
        out.append(sum(sigma[i, j] * (A[dev, j] - A[i, j]) for i in range(k) for j in range(l)))
    for dev in range(l):
        out.append(sum(sigma[i, j] * (B[i, dev] - B[i, j]) for i in range(k) for j in range(l)))
    return np.array(out)


def scipy_cce(game, epsilon, w):
    """max w·σ over the ε-CCE, with scipy's HiGHS on rows built from ``gains_by_loops``."""
    k, l = game.shape
    rows = []
    for cellidx in range(k * l):
        e = np.zeros(k * l)
        e[cellidx] = 1.0
        rows.append(gains_by_loops(game, e.reshape(k, l)))
    A_ub = np.array(rows).T                                # gains are linear in σ
    res = linprog(-w.ravel(), A_ub=A_ub, b_ub=np.full(k + l, epsilon), A_eq=np.ones((1, k * l)), b_eq=[1.0],
                  bounds=(0, None), method="highs")
    return res


def scipy_zero_sum_value(M):
    """The column player's LP: max v s.t. (M q)_i >= v, q in the simplex (v free)."""
    k, l = M.shape
    c = np.zeros(l + 1)
    c[-1] = -1.0
    A_ub = np.concatenate([-M, np.ones((k, 1))], axis=1)
    res = linprog(c, A_ub=A_ub, b_ub=np.zeros(k), A_eq=np.concatenate([np.ones((1, l)), [[0.0]]], axis=1),
                  b_eq=[1.0], bounds=[(0, None)] * l + [(None, None)], method="highs")
    assert res.status == 0
    return -res.fun


# --------------------------------------------------------------------------- definitions

@given(game_and_distribution())
def test_deviation_gains_are_the_definition(data):
    game, sigma = data
    expected = gains_by_loops(game, sigma)
    assert np.allclose(cce.deviation_gains(game, sigma), expected, atol=1e-12)
    G, _ = cce.deviation_matrix(game)
    assert np.allclose(G @ sigma.ravel(), expected, atol=1e-12)
    assert cce.cce_epsilon(game, sigma) == pytest.approx(expected.max(), abs=1e-12)


@given(game_and_distribution())
def test_epsilon_lp_equals_the_definition_and_its_duals_pick_the_worst_deviation(data):
    game, sigma = data
    eps, y = cce.cce_epsilon_lp(game, sigma)
    gains = cce.deviation_gains(game, sigma)
    assert eps == pytest.approx(gains.max(), abs=1e-9)
    # the duals are a distribution on the deviations, supported where the gain is largest
    assert y.min() >= -1e-9 and y.sum() == pytest.approx(1.0, abs=1e-9)
    assert y @ gains == pytest.approx(gains.max(), abs=1e-9)


def test_epsilon_lp_is_batched():
    rng = np.random.default_rng(0)
    game = BimatrixGame(rng.normal(size=(3, 2)), rng.normal(size=(3, 2)))
    sigmas = rng.dirichlet(np.ones(6), size=5).reshape(5, 3, 2)
    eps, y = cce.cce_epsilon_lp(game, sigmas)
    assert eps.shape == (5,) and y.shape == (5, 5)
    assert np.allclose(eps, cce.cce_epsilon(game, sigmas), atol=1e-9)


# --------------------------------------------------------------------------- the CCE LP

@settings(max_examples=40)
@given(games(), st.sampled_from(["welfare", "min_welfare", "random"]), st.floats(0.0, 2.0), st.integers(0, 100))
def test_cce_lp_matches_scipy_on_the_definition(game, objective, epsilon, seed):
    w = (np.random.default_rng(seed).normal(size=game.shape) if objective == "random"
         else (1 if objective == "welfare" else -1) * (game.leader_payoffs + game.follower_payoffs))
    ours = cce.solve_cce(game, epsilon, w if objective == "random" else objective)
    ref = scipy_cce(game, epsilon, w)
    assert ref.status == 0 and ours.feasible
    assert ours.value == pytest.approx(-ref.fun, abs=LP_TOL * max(1.0, abs(ref.fun)))
    assert ours.gains.max() <= epsilon + LP_TOL
    assert ours.sigma.min() >= 0 and ours.sigma.sum() == pytest.approx(1.0, abs=1e-12)


@settings(max_examples=40)
@given(games())
def test_welfare_range_brackets_every_pure_and_2x2_mixed_nash_equilibrium(game):
    low, high = cce.cce_welfare_range(game)
    assert -low.value <= high.value + LP_TOL
    W = game.leader_payoffs + game.follower_payoffs
    for i, j in pure_nash_equilibria(game):
        assert -low.value - LP_TOL <= W[i, j] <= high.value + LP_TOL
    if game.shape == (2, 2):
        A, B = game.leader_payoffs, game.follower_payoffs
        dp, dq = B[0, 0] - B[0, 1] - B[1, 0] + B[1, 1], A[0, 0] - A[1, 0] - A[0, 1] + A[1, 1]
        if dp != 0 and dq != 0:
            p, q = (B[1, 1] - B[1, 0]) / dp, (A[1, 1] - A[0, 1]) / dq     # each makes the other indifferent
            if 0 <= p <= 1 and 0 <= q <= 1:
                sigma = np.outer([p, 1 - p], [q, 1 - q])
                assert cce.cce_epsilon(game, sigma) <= 1e-9                # a Nash equilibrium is a CCE
                assert -low.value - LP_TOL <= cce.welfare(game, sigma) <= high.value + LP_TOL


def test_chicken_has_a_coarse_correlated_equilibrium_better_than_every_nash_equilibrium():
    # Aumann (1974): the uniform distribution on (C, C), (C, D), (D, C) is a correlated equilibrium of
    # chicken with welfare 10, above every Nash equilibrium (9 at the pure ones, 28/3 at the mixed one)
    A = np.array([[6.0, 2.0], [7.0, 0.0]])           # rows: C, D
    game = BimatrixGame(A, A.T.copy())
    aumann = np.array([[1, 1], [1, 0]]) / 3
    assert cce.cce_epsilon(game, aumann) <= 1e-12
    high = cce.solve_cce(game)
    assert high.value >= 10.0 - LP_TOL
    assert high.value > max(A[i, j] + A[j, i] for i, j in pure_nash_equilibria(game)) + 0.5


def test_prisoners_dilemma_has_mutual_defection_as_its_only_cce():
    A = np.array([[3.0, 0.0], [5.0, 1.0]])           # rows: cooperate, defect
    game = BimatrixGame(A, A.T.copy())
    low, high = cce.cce_welfare_range(game)
    assert high.value == pytest.approx(2.0, abs=LP_TOL) and -low.value == pytest.approx(2.0, abs=LP_TOL)
    assert high.sigma[1, 1] == pytest.approx(1.0, abs=1e-9)


@settings(max_examples=30)
@given(games())
def test_smallest_epsilon_is_at_most_zero_attained_and_minimal(game):
    eps, sigma = cce.min_cce_epsilon(game)
    assert eps <= 1e-9
    assert cce.cce_epsilon(game, sigma) == pytest.approx(eps, abs=1e-8)
    span = max(1.0, np.ptp(game.leader_payoffs), np.ptp(game.follower_payoffs))
    assert cce.solve_cce(game, eps + 1e-6 * span).feasible
    below = cce.solve_cce(game, eps - 1e-4 * span)
    assert not below.feasible and below.status == "infeasible" and below.sigma is None


@settings(max_examples=30)
@given(games(min_actions=2), st.integers(0, 100))
def test_every_cce_of_a_zero_sum_game_pays_the_value_and_has_optimal_marginals(game, seed):
    # row loss M, column gain M: E_σ M <= min_i (M q̄)_i <= v <= max_j (p̄'M)_j <= E_σ M for a CCE σ
    M = game.follower_payoffs
    zs = cce.zero_sum_game(M)
    objective = np.random.default_rng(seed).normal(size=M.shape)
    sigma = cce.solve_cce(zs, 0.0, objective).sigma
    value = cce.zero_sum_value(M).value
    assert float(np.sum(sigma * M)) == pytest.approx(value, abs=1e-6 * max(1.0, np.ptp(M)))
    assert cce.duality_gap(M, sigma.sum(axis=1), sigma.sum(axis=0)) <= 1e-6 * max(1.0, np.ptp(M))


# --------------------------------------------------------------------------- zero-sum values

@settings(max_examples=60)
@given(games())
def test_zero_sum_value_matches_scipy_and_is_certified(game):
    M = game.follower_payoffs
    sol = cce.zero_sum_value(M)
    assert sol.value == pytest.approx(scipy_zero_sum_value(M), abs=LP_TOL * max(1.0, np.ptp(M)))
    # weak duality certificate: each strategy guarantees the value
    assert np.max(sol.row_strategy @ M) <= sol.value + LP_TOL
    assert np.min(M @ sol.column_strategy) >= sol.value - LP_TOL
    assert sol.gap == pytest.approx(0.0, abs=2 * LP_TOL) and sol.gap >= -1e-12
    assert sol.row_strategy.sum() == pytest.approx(1.0) and sol.column_strategy.sum() == pytest.approx(1.0)


@given(st.lists(st.floats(-5.0, 5.0, allow_subnormal=False), min_size=4, max_size=4))
def test_zero_sum_value_of_2x2_games_is_the_closed_form(entries):
    (a, b), (c, d) = M = np.array(entries).reshape(2, 2)
    saddles = [M[i, j] for i, j in itertools.product(range(2), range(2)) if M[i, j] == M[i].max() == M[:, j].min()]
    expected = saddles[0] if saddles else (a * d - b * c) / (a + d - b - c)
    assert cce.zero_sum_value(M).value == pytest.approx(expected, abs=LP_TOL * max(1.0, np.ptp(M)))


@pytest.mark.parametrize("M, value, p, q", [
    (np.array([[1.0, -1.0], [-1.0, 1.0]]), 0.0, [0.5, 0.5], [0.5, 0.5]),                   # matching pennies
    (np.array([[0.0, 1.0, -1.0], [-1.0, 0.0, 1.0], [1.0, -1.0, 0.0]]), 0.0, [1 / 3] * 3, [1 / 3] * 3),  # RPS
    (np.array([[0.0, 0.0], [0.0, 0.0]]), 0.0, None, None),                                 # all ties
    (np.array([[3.0]]), 3.0, [1.0], [1.0]),
])
def test_known_zero_sum_games(M, value, p, q):
    sol = cce.zero_sum_value(M)
    assert sol.value == pytest.approx(value, abs=1e-9)
    if p is not None:
        assert np.allclose(sol.row_strategy, p, atol=1e-9) and np.allclose(sol.column_strategy, q, atol=1e-9)


def test_both_backends_agree():
    rng = np.random.default_rng(7)
    for _ in range(3):
        M = rng.normal(size=(3, 4))
        game = BimatrixGame(rng.normal(size=(3, 4)), rng.normal(size=(3, 4)))
        values = {b: cce.zero_sum_value(M, backend=b).value for b in ("highs", "cvxpy", "both")}
        assert max(values.values()) - min(values.values()) <= 1e-6
        welfare = {b: cce.solve_cce(game, 0.0, backend=b).value for b in ("highs", "cvxpy", "both")}
        assert max(welfare.values()) - min(welfare.values()) <= 1e-6


# --------------------------------------------------------------------------- bad input

def test_bad_input_is_refused_naming_the_field():
    game = BimatrixGame(np.zeros((2, 2)), np.zeros((2, 2)))
    with pytest.raises(InvalidInstanceError, match="objective"):
        cce.solve_cce(game, 0.0, "utilitarian")
    with pytest.raises(InvalidInstanceError, match="objective"):
        cce.solve_cce(game, 0.0, np.zeros((3, 2)))
    with pytest.raises(InvalidInstanceError, match="epsilon"):
        cce.solve_cce(game, float("nan"))
    with pytest.raises(InvalidInstanceError, match="backend"):
        cce.zero_sum_value(np.zeros((2, 2)), backend="glpk")
    with pytest.raises(InvalidInstanceError, match="sigma"):
        cce.deviation_gains(game, np.ones((3, 2)) / 6)
    with pytest.raises(InvalidInstanceError, match="matrix"):
        cce.zero_sum_value([[1.0, float("inf")]])
