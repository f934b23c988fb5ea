"""The grid + UCB1 learner of linear contracts (``learning/online_contract.py``; Zhu et al.,
arXiv 2211.05732): its grid, its utilities, its sampling, reproducibility, its regret against
the exact best linear contract, and bad input.

Every run is drawn from fixed seeds, so each assertion below is deterministic; the statistical
slack of each is stated where it is made.
"""

import math
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, strategies as st

from contractlab.learning.online_contract import (default_grid_size, learn_linear_contract, principal_utilities,
                                                  uniform_grid)
from contractlab.proofs_checks.strategies import contract_problems
from contractlab.proofs_checks.sublinearity import sublinearity_test
from contractlab.proofs_checks.theorems_online_contract import ucb_bound_evidence, ucb_grid_bound
from contractlab.solvers.best_response import agent_best_response
from contractlab.solvers.linear import best_linear_contract
from contractlab.theory.budget import MEMORY_ENV
from contractlab.theory.contract_problem import ContractProblem
from contractlab.theory.errors import InvalidInstanceError


def effort_problem() -> ContractProblem:
    """Shirk (succeeds w.p. 0.1, free) or work (0.95, cost 0.2); success is worth 1. The agent works
    from α = 0.2/0.85 = 4/17 on, and α* = 4/17 with U(α*) = (13/17)·0.95."""
    return ContractProblem(np.array([[0.9, 0.1], [0.05, 0.95]]), np.array([0.0, 0.2]), np.array([0.0, 1.0]))


# --------------------------------------------------------------------------------------
# Grid and utilities
# --------------------------------------------------------------------------------------

@given(st.one_of(st.integers(1, 10**6), st.integers(1, 10**18)))
def test_default_grid_is_the_ceiling_of_the_cube_root(T):
    K = default_grid_size(T)
    assert K ** 3 >= T and (K - 1) ** 3 < T


def test_default_grid_at_perfect_cubes_and_the_run_uses_it():
    assert [default_grid_size(k ** 3) for k in (1, 2, 3, 10, 100)] == [1, 2, 3, 10, 100]
    assert default_grid_size(28) == 4
    run = learn_linear_contract(effort_problem(), 64, [0])
    np.testing.assert_array_equal(run.grid, np.arange(4) / 4)


def test_exact_benchmark_of_the_effort_problem():
    best = best_linear_contract(effort_problem())
    assert best.alpha == pytest.approx(4 / 17) and best.action == 1
    assert best.principal_utility == pytest.approx(13 / 17 * 0.95)


@given(contract_problems(max_actions=4, max_outcomes=4), st.lists(st.floats(0, 1), min_size=1, max_size=20))
def test_vectorised_utilities_equal_the_scalar_best_response(problem, alphas):
    actions, utilities = principal_utilities(problem, np.array(alphas))
    for a, act, u in zip(alphas, actions, utilities):
        ref = agent_best_response(problem, a * problem.rewards, tie_break="principal")
        # the agent's utility is computed as α R − c here and as F·(α r) − c there: rounding may
        # differ by ~1e-15, which the shared tie tolerance 1e-9 absorbs; the utilities must agree
        assert u == pytest.approx(ref.principal_utility, abs=1e-9 * max(1.0, abs(ref.principal_utility)))
        assert act in ref.best_set


@pytest.mark.parametrize("K", [1, 2, 3, 4, 7, 10, 16, 33, 100])
def test_discretisation_error_is_at_most_the_step_above_alpha_star(K):
    """Grid error <= (⌈α* K⌉/K − α*) R_(a*) <= R_(a*)/K (the module's argument), and >= 0."""
    problem = effort_problem()
    run = learn_linear_contract(problem, 1, [0], grid=K)
    best = run.best
    step = (math.ceil(best.alpha * K) / K - best.alpha) if math.ceil(best.alpha * K) < K else 1 - best.alpha
    R_star = problem.expected_rewards[best.action]
    assert -1e-12 <= run.discretisation_error <= step * R_star + 1e-12 <= R_star / K + 2e-12


# --------------------------------------------------------------------------------------
# Sampling and accounting
# --------------------------------------------------------------------------------------

def test_outcomes_follow_the_induced_actions_distribution():
    """One arm (α = 0.3, which induces 'work'): 20,000 outcomes of 3 seeds; each outcome's count is
    within 5 standard deviations of its binomial mean (a false alarm has probability < 1e-6)."""
    problem = ContractProblem(np.array([[0.7, 0.2, 0.1, 0.0], [0.1, 0.2, 0.3, 0.4]]), np.array([0.0, 0.3]),
                              np.array([0.0, 1.0, 2.0, 3.0]))
    run = learn_linear_contract(problem, 20_000, [0, 1, 2], grid=[0.3])
    assert run.grid_actions.tolist() == [1]
    p = problem.outcome_probs[1]
    n = run.outcomes.size
    counts = np.bincount(run.outcomes.ravel(), minlength=4)
    sd = np.sqrt(n * p * (1 - p))
    assert np.all(np.abs(counts - n * p) <= 5 * sd)
    np.testing.assert_array_equal(run.realised, 0.7 * problem.rewards[run.outcomes])


def test_regret_is_the_sum_of_exact_utility_gaps_and_never_decreases():
    problem = effort_problem()
    run = learn_linear_contract(problem, 500, range(5))
    _, exact = principal_utilities(problem, run.alphas.ravel())
    np.testing.assert_array_equal(run.expected.ravel(), exact)
    np.testing.assert_allclose(run.regret, np.cumsum(run.best_utility - run.expected, axis=1), rtol=0, atol=1e-12)
    assert np.all(np.diff(run.regret, axis=1) >= 0)
    assert run.discretisation_error == pytest.approx(run.best_utility - run.grid_utilities.max())


# --------------------------------------------------------------------------------------
# Reproducibility
# --------------------------------------------------------------------------------------

def test_a_seed_gives_the_same_run_bit_for_bit_whatever_runs_beside_it():
    problem = ContractProblem(np.array([[0.6, 0.3, 0.1], [0.2, 0.3, 0.5], [0.05, 0.15, 0.8]]),
                              np.array([0.0, 0.1, 0.35]), np.array([0.0, 0.5, 1.0]))
    alone = learn_linear_contract(problem, 5000, [5])     # crosses a block of uniforms (DRAW_BLOCK = 4096)
    batch = learn_linear_contract(problem, 5000, [3, 5, 7])
    again = learn_linear_contract(problem, 5000, [3, 5, 7])
    for field in ("arms", "alphas", "outcomes", "realised", "expected", "regret"):
        np.testing.assert_array_equal(getattr(alone, field)[0], getattr(batch, field)[1])
        np.testing.assert_array_equal(getattr(batch, field), getattr(again, field))
    assert not np.array_equal(batch.outcomes[0], batch.outcomes[1])


def test_a_shorter_horizon_on_the_same_grid_is_a_prefix():
    problem = effort_problem()
    short = learn_linear_contract(problem, 300, [1, 2], grid=6)
    long = learn_linear_contract(problem, 4500, [1, 2], grid=6)
    np.testing.assert_array_equal(short.arms, long.arms[:, :300])
    np.testing.assert_array_equal(short.outcomes, long.outcomes[:, :300])


def test_results_are_read_only():
    run = learn_linear_contract(effort_problem(), 10, [0])
    with pytest.raises(ValueError):
        run.regret[0, 0] = 1.0


# --------------------------------------------------------------------------------------
# Regret
# --------------------------------------------------------------------------------------

#: Horizons whose default grids are NESTED (K = 4, 4, 8, 16, 32 arms), so that the discretisation
#: error cannot grow with T. On other horizons it jumps up and down with where α* falls between
#: grid points (for the effort problem T·disc is 6.5 at T = 464 and 61.5 at T = 1000), R(T)/T then
#: rises between some horizons, and the sublinearity test's rule S1 (R/T increases significantly
#: nowhere) is inconclusive for a reason that has nothing to do with learning. The smallest horizon
#: gives each of the 4 arms 8 pulls on average; at T = 8 (K = 2) UCB1 has barely started and R/T
#: can rise from T = 8 to T = 64. 2.8 decades; about 1.5 s for 20 seeds.
NESTED_HORIZONS = np.array([32, 64, 512, 4096, 32768])


def test_regret_is_sublinear_with_slope_near_two_thirds():
    """20 seeds x 5 nested horizons on the effort problem.

    Theory (Zhu et al.; the learner's module docstring): the regret is Θ̃(T^{2/3}) — at most
    T R_(a*)/K + O(sqrt(K T ln T)) with K ≈ T^{1/3}. Over these horizons the least-squares log-log
    slope of T^{2/3} (ln T)^β is 0.667 for β = 0, 0.746 for β = 1/2 and 0.825 for β = 1. On nested
    grids the discretisation term T·disc(K) is at most T R_(a*)/K but can stay flat while K doubles
    (here α* = 4/17 lies 1/68 below 1/4, so disc is the same for K = 4..64): over a finite range it
    adds a part growing like T, which raises the fitted slope above these values. We assert the 95%
    bootstrap CI of the slope lies in [0.6, 0.9]: 2/3 less 0.067 for lower-order terms (the first
    pull of every arm, K ≈ T^{1/3}, weighs most at the smallest horizons and pulls the slope down),
    and at most 0.9, the sublinearity test's own limit (1 − δ) — the upper end is that limit, not a
    sharper consequence of the theory. Measured when written: 0.829, CI [0.823, 0.834]; with the
    same horizons and 20 seeds the verdict was also "sublinear" on four other binary-effort
    variants (slopes 0.75 to 0.85), so the horizons were not picked for this instance alone.
    """
    problem = effort_problem()
    regret = np.stack([learn_linear_contract(problem, int(T), range(20)).final_regret for T in NESTED_HORIZONS],
                      axis=1)
    res = sublinearity_test(regret, NESTED_HORIZONS)
    assert res.verdict == "sublinear", res.reason
    assert 0.6 <= res.slope_ci[0] and res.slope_ci[1] <= 0.9, res.reason


def test_expected_regret_is_below_the_ucb_bound_where_that_bound_has_teeth():
    """4 arms on the effort problem for 5000 rounds: the bound T·disc + r_max·B is far below the
    trivial T·(U* − min_k U(α_k)), and the 20 seeds' mean (less 4 standard errors) is under it."""
    run = learn_linear_contract(effort_problem(), 5000, range(20), grid=4)
    trivial = run.horizon * (run.best_utility - run.grid_utilities.min())
    bound = run.horizon * run.discretisation_error + run.scale * ucb_grid_bound(run.grid_gaps / run.scale, 5000)
    assert bound < 0.5 * trivial
    ev = ucb_bound_evidence(run)
    assert ev.passed and ev.bound == pytest.approx(bound), ev


def test_the_ucb_check_catches_a_learner_stuck_on_the_worst_arm():
    run = learn_linear_contract(effort_problem(), 5000, range(20), grid=4)
    worst = run.best_utility - run.grid_utilities.min()
    stuck = replace(run, regret=np.tile(worst * np.arange(1, 5001), (20, 1)))
    assert not ucb_bound_evidence(stuck).passed


def test_ucb_grid_bound_is_the_minimum_over_delta():
    gaps, T = np.array([0.0, 0.05, 0.2, 0.2, 0.6]), 1000
    per_arm = lambda d: 8 * math.log(T) / d + (1 + math.pi ** 2 / 3) * d
    deltas = np.union1d(np.linspace(0, 0.7, 7001), gaps)       # a fine grid of δ, and every gap
    candidates = [T * delta + sum(per_arm(d) for d in gaps if d > delta) for delta in deltas]
    assert ucb_grid_bound(gaps, T) == pytest.approx(min(candidates), rel=1e-9)
    assert ucb_grid_bound(np.zeros(3), T) == 0.0


# --------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, field", [
    (dict(horizon=0), "horizon"), (dict(horizon=True), "horizon"), (dict(horizon=10.0), "horizon"),
    (dict(seeds=[]), "seeds"), (dict(seeds=[-1]), "seeds"), (dict(seeds=[True]), "seeds"),
    (dict(seeds=[1.5]), "seeds"), (dict(seeds=None), "seeds"),
    (dict(grid=0), "grid"), (dict(grid=[]), "grid"), (dict(grid=[0.2, 0.1]), "grid"), (dict(grid=[0.5, 0.5]), "grid"),
    (dict(grid=[0.0, 1.5]), "grid"), (dict(grid=[float("nan")]), "grid"), (dict(grid=[[0.1, 0.2]]), "grid"),
    (dict(grid="abc"), "grid"), (dict(tie_tol=-1.0), "tie_tol"), (dict(tie_tol=float("inf")), "tie_tol"),
])
def test_bad_input_names_the_field(kwargs, field):
    args = dict(problem=effort_problem(), horizon=10, seeds=[0])
    args.update(kwargs)
    with pytest.raises(InvalidInstanceError) as err:
        learn_linear_contract(**args)
    assert err.value.field == field


def test_negative_rewards_and_a_non_problem_are_refused():
    problem = ContractProblem(np.array([[0.5, 0.5]]), np.array([0.0]), np.array([-1.0, 1.0]))
    with pytest.raises(InvalidInstanceError) as err:
        learn_linear_contract(problem, 10, [0])
    assert err.value.field == "rewards" and err.value.index == (0,)
    with pytest.raises(InvalidInstanceError) as err:
        learn_linear_contract("not a problem", 10, [0])
    assert err.value.field == "problem"


def test_a_run_beyond_the_memory_budget_is_refused_before_it_starts(monkeypatch):
    monkeypatch.setenv(MEMORY_ENV, str(2**20))
    with pytest.raises(InvalidInstanceError) as err:
        learn_linear_contract(effort_problem(), 10**6, range(10))
    assert err.value.field == "horizon"


def test_all_zero_rewards_give_zero_regret():
    problem = ContractProblem(np.array([[0.5, 0.5], [0.2, 0.8]]), np.array([0.0, 0.1]), np.zeros(2))
    run = learn_linear_contract(problem, 50, [0, 1])
    assert run.scale == 1.0 and np.all(run.regret == 0) and np.all(run.realised == 0)


def test_uniform_grid_shares():
    np.testing.assert_array_equal(uniform_grid(5), [0.0, 0.2, 0.4, 0.6, 0.8])
