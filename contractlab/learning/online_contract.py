"""Learning the best linear contract online, from outcomes alone: a uniform grid of shares and UCB1.

The model (Zhu, Bates, Yang, Wang, Jiao & Jordan, *The Sample Complexity of Online Contract
Design*, arXiv 2211.05732, Section 2, restricted to linear contracts): in every round
``t = 1..T`` the principal posts a linear contract ``t = α_t r`` with ``α_t ∈ [0, 1]``; the
agent of :class:`~contractlab.theory.contract_problem.ContractProblem` ``(F, c, r)`` — the
same agent every round, unknown to the principal — best-responds with the action ``a(α_t)``
that maximises ``α_t R_i − c_i`` (``R_i = F_i · r``; agent ties go to the principal, as in
:func:`contractlab.solvers.best_response.agent_best_response`); an outcome ``j_t ~ F_{a(α_t)}``
is drawn and the principal observes only ``j_t`` and her realised utility ``(1 − α_t) r_{j_t}``.
Her expected utility of a share is ``U(α) = (1 − α) R_{a(α)}``. The benchmark is the exact
best linear contract ``α*`` of :func:`contractlab.solvers.linear.best_linear_contract`, and
the (Stackelberg pseudo-)regret after ``t`` rounds is ``Σ_{s <= t} (U(α*) − U(α_s))``. For
linear contracts the paper shows this regret is ``Θ̃(T^{2/3})`` (abstract and its section on
linear contracts): the upper bound by the algorithm implemented here.

The algorithm
-------------
* **Grid.** ``K`` arms ``α_k = k/K``, ``k = 0..K−1`` (spacing ``1/K``; ``α = 1``, which leaves the
  principal nothing, is left out). By default ``K = ⌈T^{1/3}⌉``, computed in integers as the
  smallest ``K`` with ``K³ >= T`` (:func:`default_grid_size`). Any increasing list of shares in
  ``[0, 1]`` may be given instead.
* **Bandit rule.** UCB1 (Auer, Cesa-Bianchi & Fischer, *Machine Learning* 47, 2002, Figure 1;
  :class:`~contractlab.learning.no_regret.ucb1.UCB1`): play each arm once, then the arm
  maximising ``x̄_k + sqrt(2 ln n / n_k)`` (exploration constant 2 as in that paper; ties to the
  lowest index), on the principal's realised utility scaled to ``[0, 1]``:
  ``x_t = (1 − α_t) r_{j_t} / r_max`` with ``r_max = max_j r_j`` (1 if every reward is 0). The
  principal knows her own rewards, so the scaling uses nothing she could not know.

Why ``T^{2/3}`` (the argument of the paper's upper bound, written for this grid)
-------------------------------------------------------------------------------
*Discretisation.* Under ``t = α r`` the induced ``R_{a(α)}`` is non-decreasing in ``α``
(Dütting, Roughgarden & Talgam-Cohen, EC 2019, Section 3: the envelope's lines are met in
increasing order of slope ``R_i``). For the grid point ``α' = ⌈α* K⌉/K >= α*``:
``U(α') = (1 − α') R_{a(α')} >= (1 − α') R_{a*} = U(α*) − (α' − α*) R_{a*}``; when no grid point
is ``>= α*`` (``α* > (K−1)/K``), ``U(α*) = (1 − α*) R_{a*} < R_{a*}/K`` while ``U(0) >= 0``. So
the discretisation error ``U(α*) − max_k U(α_k)`` is at most ``R_{a*}/K`` (and at most
``(α' − α*) R_{a*}`` when ``α'`` exists).
*Learning.* The expected pseudo-regret splits exactly into ``T × (discretisation error)``
plus ``r_max`` times UCB1's pseudo-regret against the best arm, which is at most
``Tδ + Σ_{k: Δ_k > δ} (8 ln T/Δ_k + (1 + π²/3) Δ_k)`` for every ``δ >= 0`` (Auer et al.,
Theorem 1, per arm: ``E[n_k] <= 8 ln T/Δ_k² + 1 + π²/3``; arms with gap ``<= δ`` cost at most
``δ`` per round); ``δ = sqrt(8 K ln T/T)`` gives ``2 sqrt(8 K T ln T) + (1 + π²/3) K``. With
``K ≈ T^{1/3}`` both parts are ``O(T^{2/3} sqrt(ln T))``.

Vectorised over seeds: the agent's best response to each grid share is computed once, exactly
(:func:`principal_utilities`); a round is then UCB1's choice for every seed and one draw from
the induced action's outcome distribution (inverse CDF of a uniform). Each seed has its own
generator ``numpy.random.default_rng(seed)`` and uses exactly one uniform per round (drawn in
blocks of :data:`DRAW_BLOCK`), so a seed's run is the same bit for bit whichever other seeds
run with it, and a shorter horizon with the same grid is a prefix of a longer one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ..solvers.best_response import TIE_TOL
from ..solvers.linear import LinearContractResult, best_linear_contract
from ..theory.budget import check_memory
from ..theory.contract_problem import ContractProblem
from ..theory.errors import InvalidInstanceError
from .no_regret.base import check_count
from .no_regret.ucb1 import UCB1

#: Uniforms drawn per seed at a time (memory ``DRAW_BLOCK × seeds`` floats; no effect on results).
DRAW_BLOCK = 4096
#: Bytes stored per (seed, round): arm and outcome (int32), share, realised and expected utility,
#: cumulative regret (float64); the estimate given to the memory budget.
BYTES_PER_ROUND = 4 + 4 + 8 * 4


@dataclass(frozen=True, eq=False)
class OnlineContractRun:
    """A run of :func:`learn_linear_contract`: what was posted and earned, and the exact benchmark.

    Per-round arrays have shape ``(seeds, horizon)``; row ``s`` belongs to ``seeds[s]``.

    Attributes
    ----------
    problem, horizon, seeds:
        The inputs.
    grid, grid_actions, grid_utilities:
        The arms' shares ``α_k`` ``(K,)``, the action each induces (agent ties to the principal)
        and its exact expected utility ``U(α_k) = (1 − α_k) R_{a(α_k)}``.
    best:
        The exact best linear contract (:func:`~contractlab.solvers.linear.best_linear_contract`):
        ``best.alpha`` is ``α*``, ``best.principal_utility`` is ``U(α*)``.
    scale:
        ``r_max``; UCB1 sees realised utilities divided by it (in ``[0, 1]``).
    arms, alphas, outcomes:
        The arm pulled, its share ``α_t`` and the outcome drawn, per round.
    realised:
        The principal's realised utility ``(1 − α_t) r_{j_t}`` (unscaled).
    expected:
        The exact expected utility ``U(α_t)`` of the posted share.
    regret:
        Cumulative pseudo-regret ``Σ_{s <= t} (U(α*) − U(α_s))`` (unscaled).
    discretisation_error:
        ``U(α*) − max_k U(α_k)`` (>= 0 up to rounding; at most ``R_{a*}/K`` on the uniform grid).
    """

    problem: ContractProblem
    horizon: int
    seeds: np.ndarray
    grid: np.ndarray
    grid_actions: np.ndarray
    grid_utilities: np.ndarray
    best: LinearContractResult
    scale: float
    arms: np.ndarray
    alphas: np.ndarray
    outcomes: np.ndarray
    realised: np.ndarray
    expected: np.ndarray
    regret: np.ndarray
    discretisation_error: float

    @property
    def n_arms(self) -> int:
        return int(self.grid.shape[0])

    @property
    def best_utility(self) -> float:
        """``U(α*)``, the benchmark."""
        return float(self.best.principal_utility)

    @property
    def final_regret(self) -> np.ndarray:
        """The pseudo-regret after ``horizon`` rounds, per seed ``(seeds,)``."""
        return self.regret[:, -1]

    @property
    def grid_gaps(self) -> np.ndarray:
        """``max_k U(α_k) − U(α_j)`` per arm ``j``: the gaps UCB1 faces (unscaled)."""
        return self.grid_utilities.max() - self.grid_utilities


def default_grid_size(horizon: int) -> int:
    """``⌈T^{1/3}⌉``, exactly: the smallest integer ``K >= 1`` with ``K³ >= T``."""
    T = check_count("horizon", horizon)
    K = max(1, int(round(T ** (1.0 / 3.0))))
    while K ** 3 < T:
        K += 1
    while K > 1 and (K - 1) ** 3 >= T:
        K -= 1
    return K


def uniform_grid(n_arms: int) -> np.ndarray:
    """The ``K`` shares ``k/K``, ``k = 0..K−1``."""
    K = check_count("grid", n_arms)
    return np.arange(K, dtype=float) / K


def principal_utilities(problem: ContractProblem, alphas: Any,
                        tie_tol: float = TIE_TOL) -> tuple[np.ndarray, np.ndarray]:
    """The agent's best response to each linear contract ``α r`` and the principal's utility.

    Vectorised over ``alphas`` ``(A,)``; the rule of
    :func:`~contractlab.solvers.best_response.agent_best_response` with ``tie_break="principal"``:
    among the actions whose utility ``α R_i − c_i`` is within ``tie_tol`` of the best, the one
    with the largest principal utility ``(1 − α) R_i``, then the lowest index. Returns the
    actions ``(A,)`` and the utilities ``(1 − α) R_{a(α)}`` ``(A,)``.
    """
    a = np.asarray(alphas, dtype=float).reshape(-1)
    R, c = problem.expected_rewards, problem.costs
    agent = a[:, None] * R[None, :] - c[None, :]
    principal = (1.0 - a)[:, None] * R[None, :]
    best = agent >= agent.max(axis=1, keepdims=True) - tie_tol
    actions = np.argmax(np.where(best, principal, -np.inf), axis=1)   # first maximum: lowest index
    return actions, principal[np.arange(a.size), actions]


def _check_grid(grid: Any, horizon: int) -> np.ndarray:
    if grid is None:
        return uniform_grid(default_grid_size(horizon))
    if isinstance(grid, (int, np.integer)) and not isinstance(grid, bool):
        return uniform_grid(grid)
    try:
        g = np.array(grid, dtype=float)
    except (TypeError, ValueError):
        raise InvalidInstanceError("grid", "must be None, a number of arms, or a list of shares in [0, 1]") from None
    if g.ndim != 1 or g.size == 0:
        raise InvalidInstanceError("grid", f"must be a non-empty 1-D list of shares, got shape {g.shape}")
    bad = np.flatnonzero(~np.isfinite(g) | (g < 0) | (g > 1))
    if bad.size:
        raise InvalidInstanceError("grid", f"shares must lie in [0, 1], got {g[bad[0]]!r}", int(bad[0]))
    dup = np.flatnonzero(np.diff(g) <= 0)
    if dup.size:
        raise InvalidInstanceError("grid", "shares must be strictly increasing", int(dup[0]) + 1)
    return g


def _check_seeds(seeds: Any) -> np.ndarray:
    if isinstance(seeds, (int, np.integer)) and not isinstance(seeds, bool):
        seeds = [seeds]
    try:
        items = list(seeds)
    except TypeError:
        raise InvalidInstanceError("seeds", f"must be a list of integers >= 0, got {seeds!r}") from None
    if not items:
        raise InvalidInstanceError("seeds", "needs at least one seed")
    out = np.empty(len(items), dtype=np.int64)
    for k, s in enumerate(items):
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 0:
            raise InvalidInstanceError("seeds", f"must be integers >= 0, got {s!r}", k)
        out[k] = int(s)
    return out


def learn_linear_contract(problem: ContractProblem, horizon: int, seeds: Sequence[int] | int,
                          grid: Any = None, tie_tol: float = TIE_TOL) -> OnlineContractRun:
    """Run the grid + UCB1 principal for ``horizon`` rounds, once per seed (module docstring).

    Parameters
    ----------
    problem:
        The agent (unknown to the learner); rewards must be ``>= 0`` (limited liability).
    horizon:
        ``T >= 1``.
    seeds:
        Integers ``>= 0``; seed ``s`` draws the outcomes from ``numpy.random.default_rng(s)``.
    grid:
        ``None`` (default): ``K = ⌈T^{1/3}⌉`` arms ``k/K``, ``k = 0..K−1``; an integer ``K``: that
        uniform grid; or a strictly increasing list of shares in ``[0, 1]``.
    tie_tol:
        The agent's tie tolerance (default :data:`~contractlab.solvers.best_response.TIE_TOL`).

    Raises
    ------
    InvalidInstanceError
        Naming the field: negative rewards, a bad horizon, seed or grid, or a run whose
        per-round record would exceed the memory budget (``theory/budget.py``).
    """
    if not isinstance(problem, ContractProblem):
        raise InvalidInstanceError("problem", f"must be a ContractProblem, got {type(problem).__name__}")
    T = check_count("horizon", horizon)
    seed_arr = _check_seeds(seeds)
    alphas_k = _check_grid(grid, T)
    if not (isinstance(tie_tol, (int, float)) and math.isfinite(tie_tol) and tie_tol >= 0):
        raise InvalidInstanceError("tie_tol", f"must be a finite number >= 0, got {tie_tol!r}")
    best = best_linear_contract(problem)            # raises for negative rewards
    n_runs, K = seed_arr.size, alphas_k.size
    check_memory("horizon", float(n_runs) * T * BYTES_PER_ROUND,
                 f"recording {n_runs} seeds x {T} rounds")

    actions_k, utilities_k = principal_utilities(problem, alphas_k, tie_tol)
    r = problem.rewards
    scale = float(r.max()) if r.size and r.max() > 0 else 1.0
    payoff = (1.0 - alphas_k)[:, None] * r[None, :]                    # (K, m) realised utility
    scaled = payoff / scale                                            # in [0, 1]
    cum = np.cumsum(problem.outcome_probs[actions_k], axis=1)
    cum = cum / cum[:, -1:]                                            # exact 1 at the end (rows sum to 1 ± tol)
    inner = cum[:, :-1]                                                # outcome j = #{l < m−1: cum_l <= u}

    generators = [np.random.default_rng(int(s)) for s in seed_arr]
    learner = UCB1(K)
    state = learner.start(n_runs, T)
    arms_t = np.empty((T, n_runs), dtype=np.int32)
    outcomes_t = np.empty((T, n_runs), dtype=np.int32)
    block = np.empty((0, n_runs))
    for t in range(T):
        b = t % DRAW_BLOCK
        if b == 0:
            size = min(DRAW_BLOCK, T - t)
            block = np.stack([g.random(size) for g in generators], axis=1)   # (size, runs)
        a = np.argmax(learner.weights(state), axis=1)
        j = np.count_nonzero(inner[a] <= block[b][:, None], axis=1)
        learner.observe(state, a, 1.0 - scaled[a, j])
        arms_t[t], outcomes_t[t] = a, j

    arms, outcomes = np.ascontiguousarray(arms_t.T), np.ascontiguousarray(outcomes_t.T)
    expected = utilities_k[arms]
    regret = np.cumsum(best.principal_utility - expected, axis=1)
    frozen = dict(seeds=seed_arr, grid=alphas_k, grid_actions=actions_k, grid_utilities=utilities_k, arms=arms,
                  alphas=alphas_k[arms], outcomes=outcomes, realised=payoff[arms, outcomes], expected=expected,
                  regret=regret)
    for v in frozen.values():
        v.setflags(write=False)
    return OnlineContractRun(problem=problem, horizon=T, best=best, scale=scale,
                             discretisation_error=float(best.principal_utility - utilities_k.max()), **frozen)


__all__ = ["OnlineContractRun", "learn_linear_contract", "principal_utilities", "default_grid_size",
           "uniform_grid", "DRAW_BLOCK"]
