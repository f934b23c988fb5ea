"""Online contract design: the grid + UCB1 learner of linear contracts against the exact benchmark.

The learner is :func:`contractlab.learning.online_contract.learn_linear_contract` (Zhu, Bates,
Yang, Wang, Jiao & Jordan, *The Sample Complexity of Online Contract Design*, arXiv 2211.05732:
a uniform grid of ``K ≈ T^{1/3}`` shares and UCB1); the benchmark is the exact best linear
contract ``α*`` of :func:`contractlab.solvers.linear.best_linear_contract`. Problems are drawn by
:func:`contractlab.proofs_checks.strategies.contract_problems` (rewards ``>= 0``, ties and
duplicated actions on the grid half of the draws), and for the expected-regret check half of
them by :func:`effort_problems` (see there).

* ``online_contract.best_linear_is_optimal`` — ``U(α*)`` is at least the principal's utility at
  every share of a brute-force grid (:data:`FINE_GRID` points, every critical value and
  :data:`NEAR_CRITICAL` either side of it), the agent's reply found there by enumerating every
  action (exact argmax of ``α R_i − c_i``, exact ties to the principal); the library's scalar
  best response (``solvers/best_response.py``) to ``α* r`` earns the principal ``U(α*)``; and
  the learner's vectorised utilities (:func:`~contractlab.learning.online_contract.principal_utilities`)
  equal the brute force at every share farther than :data:`NEAR_CRITICAL` from a critical value.
  So no arm of any grid beats ``α*`` (up to :data:`TOL`), the premise of "regret >= 0".
* ``online_contract.pseudo_regret_accounting`` — on a run, every posted share is a grid share,
  the expected utility of each round recomputed by the scalar best response equals the run's,
  the cumulative regret recomputed as ``Σ_s (U(α*) − U(α_s))`` equals the run's and never
  decreases by more than :data:`TOL` in a round, and every realised utility is
  ``(1 − α_t) r_{j_t}`` with ``j_t`` an outcome of positive probability under the induced action.
* ``online_contract.discretisation_error`` — on the uniform grid ``{k/K}``:
  ``0 <= U(α*) − max_k U(k/K) <= (⌈α* K⌉/K − α*) R_{a*} <= R_{a*}/K`` (the first grid share at or
  above ``α*``; ``(1 − α*) R_{a*}`` when there is none). Proof in the learner's module
  docstring (the induced ``R_{a(α)}`` is non-decreasing in ``α``, EC 2019 Section 3).
* ``online_contract.ucb_expected_regret`` — the expected pseudo-regret after ``T`` rounds is at
  most ``T·disc + r_max · B``, ``disc`` the discretisation error and
  ``B = min_{δ >= 0} [T δ + Σ_{k: Δ_k > δ} (8 ln T/Δ_k + (1 + π²/3) Δ_k)]`` with ``Δ_k`` the gaps
  of the grid arms in scaled utility (Auer, Cesa-Bianchi & Fischer 2002, Theorem 1, per arm,
  with arms of gap ``<= δ`` charged ``δ`` per round; the minimum is attained at ``δ = 0`` or at a
  gap, since the bracket increases between consecutive gaps). Asserted on :data:`N_SEEDS`
  independent runs as ``mean − Z·sd/sqrt(n) <= bound`` (``Z =`` :data:`Z`, one-sided): a false
  alarm needs the sample mean 4 standard errors above its expectation, probability about
  ``3e-5`` per instance under the normal approximation, and far less in fact since the
  expected regret is well below this worst-case bound. The split ``E[regret] = T·disc + r_max ×
  E[UCB1 pseudo-regret on the grid]`` is exact; UCB1's bound applies because the scaled
  realised utilities lie in ``[0, 1]`` and are i.i.d. per arm (the agent is the same every round).
  How much this can catch: the bound is never above the trivial ``T·(U(α*) − min_k U(α_k))``
  (take ``δ`` = the largest gap), and with UCB1's constant 8 it is below it only once
  ``T Δ > 8 ln T/Δ``, i.e. for gaps ``Δ`` of a sizeable share of ``r_max`` at a few hundred rounds.
  So half the draws are binary-outcome effort problems (:func:`effort_problems`, gaps 0.1 to 0.5
  of ``r_max``) on 2 or 3 arms for 400 to 1000 rounds; over 200 draws of :func:`expected_cases`
  (hypothesis seed 0) the bound was below the trivial one on 35 (17.5%), and there the lower
  confidence limit reached at most 0.81 of it (median 0.50). On the other draws the check still
  catches a run whose accounting exceeds the trivial bound. ``tests/test_online_contract.py``
  checks a long run where the bound is far below the trivial one, and that a learner stuck on
  the worst arm fails the check.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st

from ..learning.online_contract import (OnlineContractRun, default_grid_size, learn_linear_contract,
                                        principal_utilities, uniform_grid)
from ..solvers.best_response import agent_best_response
from ..solvers.linear import best_linear_contract
from ..theory import regret_bounds as rb
from ..theory.contract_problem import ContractProblem
from .registry import CHECK_TOL, Evidence, theorem
from .strategies import contract_problems

#: Points of the brute-force grid of shares in [0, 1] (spacing 1/(FINE_GRID − 1)).
FINE_GRID = 1001
#: Distance from a critical value within which the tolerance-based best response (agent ties
#: within ``TIE_TOL = 1e-9``) and the exact argmax may legitimately pick different actions; the
#: brute force also probes this far either side of every critical value.
NEAR_CRITICAL = 1e-6
#: Slack of utility comparisons, relative to ``max(1, |bound|)`` (``Evidence`` convention):
#: round-off of ``(1 − α) R`` and of sums over at most a few hundred rounds.
TOL = CHECK_TOL
#: Independent runs per instance of the expected-regret check, and its one-sided z.
N_SEEDS, Z = 40, 4.0
#: Largest horizons drawn: each round is a Python step (about 25 µs for all seeds together).
#: ``MIN/MAX_T_SMALL_GRID`` bound the horizons of the expected-regret draws with 2 or 3 arms (long
#: enough for UCB1's ``8 ln T/Δ`` to fall below ``T Δ`` on gaps ``Δ >= 0.3``).
MAX_T_ACCOUNTING, MAX_T_EXPECTED = 120, 300
MIN_T_SMALL_GRID, MAX_T_SMALL_GRID = 400, 1000
#: Largest grid drawn for the discretisation check.
MAX_ARMS = 40

ZHU = ("Zhu, Bates, Yang, Wang, Jiao & Jordan, The Sample Complexity of Online Contract Design "
       "(arXiv 2211.05732), linear contracts")
EC19 = "Dütting, Roughgarden & Talgam-Cohen, Simple versus Optimal Contracts (EC 2019), Section 3"
ACF = "Auer, Cesa-Bianchi & Fischer, Machine Learning 47 (2002), Theorem 1"

_SEED = st.integers(0, 2**31 - 1)
#: UCB1's gap-dependent bound (Auer et al. 2002, Theorem 1) as written once in theory/regret_bounds.py.
_UCB1 = rb.get_bound("ucb1").numpy_function()


# --------------------------------------------------------------------------------------
# Instances
# --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class OnlineCase:
    """A problem, a horizon, a grid (``None``: the default ``⌈T^{1/3}⌉`` arms; else ``K`` arms) and
    the first seed."""

    problem: ContractProblem
    horizon: int
    n_arms: int | None
    seed: int


def _problems():
    return contract_problems(max_actions=4, max_outcomes=4)


@st.composite
def accounting_cases(draw) -> OnlineCase:
    return OnlineCase(draw(_problems()), draw(st.integers(1, MAX_T_ACCOUNTING)),
                      draw(st.one_of(st.none(), st.integers(1, 12))), draw(_SEED))


@st.composite
def effort_problems(draw) -> ContractProblem:
    """Binary-outcome effort problems on a grid (fail: reward 0, succeed: ``r_1``): a free action that
    succeeds with probability ``p_0 ∈ {0, 0.1, 0.2}`` and one or two effort actions that succeed with
    ``p ∈ {0.6, 0.7, .., 1}`` at cost ``κ (p − p_0) r_1``, ``κ ∈ {0.05, 0.1, .., 0.45}``, so each is
    induced by some share below 1/2. Their utility gaps are a large share of ``r_1`` (0.1 to 0.5),
    which is what lets UCB1's bound fall below the trivial one within a few hundred rounds."""
    r1 = draw(st.sampled_from([1.0, 2.0, 4.0, 8.0]))
    p0 = draw(st.sampled_from([0.0, 0.1, 0.2]))
    n = draw(st.integers(1, 2))
    p = [p0] + [draw(st.integers(6, 10)) / 10.0 for _ in range(n)]
    c = [0.0] + [draw(st.integers(1, 9)) / 20.0 * (q - p0) * r1 for q in p[1:]]
    p = np.array(p)
    return ContractProblem(np.stack([1.0 - p, p], axis=1), np.array(c), np.array([0.0, r1]))


@st.composite
def expected_cases(draw) -> OnlineCase:
    """Half the draws: a generic problem, the default grid and a horizon up to :data:`MAX_T_EXPECTED`;
    half: an :func:`effort_problems` problem, 2 or 3 arms and :data:`MIN_T_SMALL_GRID` to
    :data:`MAX_T_SMALL_GRID` rounds,
    where UCB1's bound is often below the trivial ``T·(U(α*) − min_k U(α_k))``."""
    if draw(st.booleans()):
        return OnlineCase(draw(_problems()), draw(st.integers(1, MAX_T_EXPECTED)), None, draw(_SEED))
    return OnlineCase(draw(effort_problems()), draw(st.integers(MIN_T_SMALL_GRID, MAX_T_SMALL_GRID)),
                      draw(st.integers(2, 3)),
                      draw(_SEED))


@st.composite
def grid_cases(draw) -> OnlineCase:
    return OnlineCase(draw(_problems()), 1, draw(st.integers(1, MAX_ARMS)), 0)


# --------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------

def brute_force_utilities(problem: ContractProblem, alphas: np.ndarray) -> np.ndarray:
    """``U(α)`` by enumerating every action: the agent's exact argmax of ``α R_i − c_i`` (ties, exact
    in floats, to the larger ``(1 − α) R_i``). Independent of the envelope of ``solvers/linear.py``."""
    R, c = problem.expected_rewards, problem.costs
    agent = alphas[:, None] * R[None, :] - c[None, :]
    principal = (1.0 - alphas)[:, None] * R[None, :]
    best = agent == agent.max(axis=1, keepdims=True)
    return np.where(best, principal, -np.inf).max(axis=1)


def ucb_grid_bound(gaps: np.ndarray, horizon: int) -> float:
    """``min_{δ >= 0} [T δ + Σ_{Δ_k > δ} (8 ln T/Δ_k + (1 + π²/3) Δ_k)]`` for scaled gaps ``gaps``
    (module docstring). The per-arm term is :data:`contractlab.theory.regret_bounds.UCB1` evaluated
    on that arm's gap alone."""
    positive = np.sort(gaps[gaps > 0])
    if positive.size == 0:
        return 0.0
    per_arm = np.array([float(_UCB1(horizon, positive[i:i + 1])) for i in range(positive.size)])
    # tail[i] = Σ_{k >= i} per_arm[k]; δ = 0 keeps every arm (tail[0]), δ = positive[i] keeps at most
    # the arms after i (tail[i + 1]; with tied gaps this over-counts, which only loosens the bound)
    tail = np.concatenate([np.cumsum(per_arm[::-1])[::-1], [0.0]])
    deltas = np.concatenate([[0.0], positive])
    return float(np.min(horizon * deltas + tail))


def ucb_bound_evidence(run: OnlineContractRun) -> Evidence:
    """The statistical rule of ``online_contract.ucb_expected_regret`` on ``run``'s seeds."""
    T = run.horizon
    bound = T * run.discretisation_error + run.scale * ucb_grid_bound(run.grid_gaps / run.scale, T)
    samples = run.final_regret
    n = samples.size
    mean = float(samples.mean())
    se = float(samples.std(ddof=1)) / math.sqrt(n) if n > 1 else 0.0
    low = mean - Z * se
    trivial = T * float(run.best_utility - run.grid_utilities.min())
    return Evidence.at_most(low, bound, TOL, f"T = {T}, K = {run.n_arms}: mean regret {mean:.4g} over {n} seeds, "
                            f"mean − {Z:g}·sd/√n = {low:.4g} vs T·disc + r_max·B = {bound:.4g} (trivial bound "
                            f"T·(U(α*) − min_k U(α_k)) = {trivial:.4g})")


# --------------------------------------------------------------------------------------
# Theorems
# --------------------------------------------------------------------------------------

@theorem("online_contract.best_linear_is_optimal",
         "The best linear contract α* of the envelope is optimal among all shares: U(α*) >= U(α) for every α "
         f"of a brute-force grid ({FINE_GRID} points, every critical value and {NEAR_CRITICAL:g} either side), "
         "the agent's reply found by enumerating every action; the scalar best response to α* r earns the "
         "principal U(α*); and the learner's vectorised utilities equal the brute force away from critical values.",
         f"{EC19} (the optimum sits at a critical value); {ZHU} (the benchmark of the regret)",
         _problems)
def check_best_linear_is_optimal(problem: ContractProblem) -> Evidence:
    best = best_linear_contract(problem)
    U = best.principal_utility
    cv = best.critical_values
    probes = np.concatenate([np.linspace(0.0, 1.0, FINE_GRID), cv, cv - NEAR_CRITICAL, cv + NEAR_CRITICAL])
    probes = np.unique(np.clip(probes, 0.0, 1.0))
    brute = brute_force_utilities(problem, probes)
    k = int(np.argmax(brute))
    items = [Evidence.at_least(U, float(brute[k]), TOL, f"U(α*) = {U:.6g} at α* = {best.alpha:.6g} vs brute force "
                                                        f"{brute[k]:.6g} at α = {probes[k]:.6g}")]
    scalar = agent_best_response(problem, best.alpha * problem.rewards, tie_break="principal")
    items.append(Evidence.equal(scalar.principal_utility, U, TOL, "scalar best response to α* r earns U(α*)"))
    far = np.min(np.abs(probes[:, None] - cv[None, :]), axis=1) > NEAR_CRITICAL
    if far.any():
        _, mine = principal_utilities(problem, probes[far])
        worst = int(np.argmax(np.abs(mine - brute[far])))
        items.append(Evidence.equal(float(mine[worst]), float(brute[far][worst]), TOL,
                                    f"learner's utility = brute force at α = {probes[far][worst]:.6g}"))
    return Evidence.combine(items)


@theorem("online_contract.pseudo_regret_accounting",
         "On a run of the grid + UCB1 learner: every posted share is a grid share; the expected utility U(α_t) "
         "recomputed by the scalar best response (ties to the principal) equals the run's; the cumulative "
         "pseudo-regret recomputed as Σ_s (U(α*) − U(α_s)) equals the run's and no round lowers it by more "
         "than the tolerance (no grid share beats α*); every realised utility is (1 − α_t) r_j for an outcome j "
         "of positive probability under the induced action.",
         f"{ZHU} (Stackelberg regret against the best linear contract)", accounting_cases)
def check_pseudo_regret_accounting(case: OnlineCase) -> Evidence:
    problem, T = case.problem, case.horizon
    run = learn_linear_contract(problem, T, [case.seed, case.seed + 1, case.seed + 2], grid=case.n_arms)
    U = run.best_utility
    items = [Evidence.equal(float(np.setdiff1d(run.alphas, run.grid).size), 0.0, 0.0, "posted shares are grid shares")]
    shares, inverse = np.unique(run.alphas, return_inverse=True)
    replies = [agent_best_response(problem, a * problem.rewards, tie_break="principal") for a in shares]
    expected = np.array([b.principal_utility for b in replies])[inverse].reshape(run.alphas.shape)
    worst = np.unravel_index(np.argmax(np.abs(expected - run.expected)), expected.shape)
    items.append(Evidence.equal(float(run.expected[worst]), float(expected[worst]), TOL,
                                f"U(α_t) at seed row {worst[0]}, round {worst[1] + 1}"))
    regret = np.cumsum(U - expected, axis=1)
    worst = np.unravel_index(np.argmax(np.abs(regret - run.regret)), regret.shape)
    items.append(Evidence.equal(float(run.regret[worst]), float(regret[worst]), TOL * T,
                                f"cumulative regret at seed row {worst[0]}, round {worst[1] + 1}"))
    steps = U - run.expected
    items.append(Evidence.at_least(float(steps.min()), 0.0, TOL, "U(α*) − U(α_t) >= 0 in every round"))
    actions = np.array([b.action for b in replies])[inverse].reshape(run.alphas.shape)
    probs = problem.outcome_probs[actions, run.outcomes]
    items.append(Evidence.at_least(float(probs.min()), np.nextafter(0.0, 1.0), 0.0,
                                   "every outcome drawn has positive probability under the induced action"))
    realised = (1.0 - run.alphas) * problem.rewards[run.outcomes]
    items.append(Evidence.equal(float(np.abs(realised - run.realised).max()), 0.0, TOL,
                                "realised utility is (1 − α_t) r_{j_t}"))
    return Evidence.combine(items)


@theorem("online_contract.discretisation_error",
         "On the uniform grid {k/K : k = 0..K−1}: 0 <= U(α*) − max_k U(k/K) <= (⌈α* K⌉/K − α*) R_(a*) "
         "<= R_(a*)/K ((1 − α*) R_(a*) when no grid share is >= α*), because R_(a(α)) is non-decreasing in α.",
         f"{EC19} (monotone R_(a(α))); the discretisation step of {ZHU}", grid_cases)
def check_discretisation_error(case: OnlineCase) -> Evidence:
    problem, K = case.problem, case.n_arms
    best = best_linear_contract(problem)
    grid = uniform_grid(K)
    _, utilities = principal_utilities(problem, grid)
    disc = best.principal_utility - float(utilities.max())
    Ra = float(problem.expected_rewards[best.action])
    above = grid[grid >= best.alpha]
    step = (float(above[0]) - best.alpha) * Ra if above.size else (1.0 - best.alpha) * Ra
    return Evidence.combine([
        Evidence.at_least(disc, 0.0, TOL, f"K = {K}: no grid share beats α*"),
        Evidence.at_most(disc, step, TOL, f"K = {K}, α* = {best.alpha:.6g}: error <= (α' − α*) R_(a*)"),
        Evidence.at_most(step, Ra / K, TOL, f"K = {K}: (α' − α*) R_(a*) <= R_(a*)/K")])


@theorem("online_contract.ucb_expected_regret",
         "The grid + UCB1 learner on the uniform grid of K arms (the default K = ⌈T^(1/3)⌉, or any K) has "
         "expected pseudo-regret after T rounds at most T·disc + r_max·min_(δ>=0) [T δ + Σ_(Δ_k > δ) "
         "(8 ln T/Δ_k + (1 + π²/3) Δ_k)], disc = U(α*) − max_k U(α_k), "
         f"Δ_k the arms' gaps in utility scaled by r_max; asserted on {N_SEEDS} runs as mean − {Z:g}·sd/sqrt(n) "
         "<= bound (one-sided).",
         f"{ACF}; {ZHU} (the decomposition behind the T^(2/3) upper bound)", expected_cases)
def check_ucb_expected_regret(case: OnlineCase) -> Evidence:
    run = learn_linear_contract(case.problem, case.horizon, case.seed + np.arange(N_SEEDS), grid=case.n_arms)
    K = default_grid_size(case.horizon) if case.n_arms is None else case.n_arms
    if run.n_arms != K:
        return Evidence(float(run.n_arms), float(K), -math.inf, False, f"the grid has {run.n_arms} arms, not {K}")
    return ucb_bound_evidence(run)
