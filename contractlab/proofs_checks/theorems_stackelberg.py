"""Theorems about Stackelberg commitment and the Grossman–Hart risk-averse agent.

Stackelberg (bimatrix games, the row player leads; :mod:`contractlab.solvers.stackelberg`):

* ``stackelberg.beats_pure_nash`` -- commitment is worth at least any pure Nash equilibrium;
* ``stackelberg.beats_pure_commitment`` -- mixed commitment is worth at least pure commitment;
* ``stackelberg.backends_agree`` -- HiGHS and cvxpy/Clarabel find the same value;
* ``stackelberg.follower_best_responds`` -- the reported follower action is a best response.

Grossman–Hart (:mod:`contractlab.solvers.grossman_hart`):

* ``grossman_hart.ic_and_participation`` -- the returned utility levels satisfy IC and IR;
* ``grossman_hart.jensen_lower_bound`` -- the second-best cost is at least the first-best
  (full-insurance) cost, with equality for a least-cost action.

Instances are drawn by the hypothesis strategies :func:`bimatrix_games` and
:func:`grossman_hart_instances` defined here (sizes up to 4 x 4 for games, 4 actions x 4
outcomes for contract problems), half on a coarse grid (ties, zero probabilities,
duplicated rows) and half from continuous ranges.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st

from ..solvers.grossman_hart import UTILITIES, GrossmanHartResult, grossman_hart, inverse_utility, utility_range
from ..solvers.stackelberg import StackelbergResult, stackelberg
from ..theory.bimatrix import BimatrixGame, pure_nash_equilibria
from ..theory.contract_problem import ContractProblem
from .registry import CHECK_TOL, Evidence, theorem
from .strategies import contract_problems

#: Sizes drawn by the strategies of this module.
MAX_LEADER_ACTIONS = 4
MAX_FOLLOWER_ACTIONS = 4
MAX_GH_ACTIONS = 4
MAX_GH_OUTCOMES = 4

#: Relative agreement required between the HiGHS and cvxpy/Clarabel Stackelberg values.
BACKEND_TOL = 1e-8

#: Slack allowed in a best-response or IC/IR inequality (absolute, scaled by max(1, |bound|)).
BR_TOL = CHECK_TOL

C_S_2006 = ("Conitzer & Sandholm, Computing the Optimal Strategy to Commit to (EC 2006), Section 3, "
            "Theorem 2 (one LP per follower action)")
G_H_1983 = "Grossman & Hart, An Analysis of the Principal-Agent Problem (Econometrica 51(1), 1983), Section 2"


# --- strategies --------------------------------------------------------------------------

def _payoff_matrix(k: int, l: int) -> st.SearchStrategy[np.ndarray]:
    grid = st.lists(st.lists(st.integers(0, 4), min_size=l, max_size=l), min_size=k, max_size=k)
    cont = st.lists(st.lists(st.floats(-5.0, 5.0), min_size=l, max_size=l), min_size=k, max_size=k)
    return st.one_of(grid, cont).map(lambda a: np.array(a, dtype=float))


@st.composite
def bimatrix_games(draw, min_leader: int = 1, max_leader: int = MAX_LEADER_ACTIONS, min_follower: int = 1,
                   max_follower: int = MAX_FOLLOWER_ACTIONS) -> BimatrixGame:
    """Bimatrix games with payoffs in {0,...,4} (ties) or [-5, 5] (generic)."""
    k = draw(st.integers(min_leader, max_leader))
    l = draw(st.integers(min_follower, max_follower))
    return BimatrixGame(draw(_payoff_matrix(k, l)), draw(_payoff_matrix(k, l)))


@dataclass(frozen=True, eq=False)
class GrossmanHartInstance:
    """One drawn input of :func:`~contractlab.solvers.grossman_hart.grossman_hart`."""

    problem: ContractProblem
    action: int
    utility: str
    rho: float
    reservation_utility: float

    def solve(self) -> GrossmanHartResult:
        return grossman_hart(self.problem, self.action, self.utility, self.rho, self.reservation_utility)


def _with_costlier_copy(problem: ContractProblem, k: int, position: int, delta: float) -> ContractProblem:
    """``problem`` with a copy of action ``k`` (same outcome distribution) inserted at ``position``
    at cost ``c_k + delta`` (at least 0): two IC rows with the same left-hand side and different
    right-hand sides, of which only the one against the cheaper copy can bind."""
    F = np.insert(problem.outcome_probs, position, problem.outcome_probs[k], axis=0)
    c = np.insert(problem.costs, position, max(0.0, problem.costs[k] + delta))
    return ContractProblem(F, c, problem.rewards)


@st.composite
def grossman_hart_instances(draw, max_actions: int = MAX_GH_ACTIONS, max_outcomes: int = MAX_GH_OUTCOMES,
                            utilities: tuple[str, ...] = UTILITIES) -> GrossmanHartInstance:
    """A contract problem (costs in [0, 2]; half of the time with one action copied at another cost),
    an action, a utility, ``ρ in [0.05, 0.5]``, ``U_0 in [-1, 1]``.

    With ``ρ <= 0.5`` the CARA utility is bounded by ``1/ρ >= 2``, so participation is usually
    (not always) attainable; the instances where it is not are non-implementable results.
    """
    problem = draw(contract_problems(max_actions=max_actions, max_outcomes=max_outcomes, max_cost=2.0))
    if draw(st.booleans()):
        problem = _with_costlier_copy(problem, draw(st.integers(0, problem.n_actions - 1)),
                                      draw(st.integers(0, problem.n_actions)), draw(st.sampled_from([-0.5, 0.25, 0.5])))
    action = draw(st.integers(0, problem.n_actions - 1))
    utility = draw(st.sampled_from(utilities))
    rho = draw(st.one_of(st.sampled_from([0.1, 0.25, 0.5]), st.floats(0.05, 0.5)))
    u0 = draw(st.one_of(st.integers(-4, 4).map(lambda q: q / 4.0), st.floats(-1.0, 1.0)))
    return GrossmanHartInstance(problem, action, utility, float(rho), float(u0))


# --- Stackelberg -----------------------------------------------------------------------------

@theorem(
    "stackelberg.beats_pure_nash",
    "In every bimatrix game, the leader's value of the optimal (strong) Stackelberg commitment to a mixed "
    "strategy is at least her payoff A[i, j] in every pure-strategy Nash equilibrium (i, j) of the "
    "simultaneous-move game: committing to row i makes j a best response, and ties are broken in the "
    "leader's favour. Vacuous when the game has no pure Nash equilibrium.",
    C_S_2006 + "; von Stengel & Zamir, Leadership games with convex strategy sets (GEB 2010): the leader's "
    "commitment payoff is at least any Nash equilibrium payoff",
    bimatrix_games,
    tags=("stackelberg", "lp"),
)
def check_beats_pure_nash(game: BimatrixGame) -> Evidence:
    equilibria = pure_nash_equilibria(game)
    if not equilibria:
        return Evidence.vacuous("no pure Nash equilibrium")
    rows, cols = np.array(equilibria).T
    best = float(game.leader_payoffs[rows, cols].max())
    res = stackelberg(game)
    return Evidence.at_least(res.leader_value, best, detail=f"{len(equilibria)} pure NE; best NE leader payoff")


@theorem(
    "stackelberg.beats_pure_commitment",
    "The optimal mixed commitment is worth at least the best pure commitment: for every row i and every "
    "column j that is a best response of the follower to row i, the Stackelberg value is >= A[i, j].",
    C_S_2006 + " (pure commitment is the special case x = e_i of the LP)",
    bimatrix_games,
    tags=("stackelberg", "lp"),
)
def check_beats_pure_commitment(game: BimatrixGame) -> Evidence:
    A, B = game.leader_payoffs, game.follower_payoffs
    best_response = B >= B.max(axis=1, keepdims=True)          # exact: pure rows, exact payoffs
    best = float(np.where(best_response, A, -np.inf).max())
    res = stackelberg(game)
    return Evidence.at_least(res.leader_value, best, detail="best pure commitment value")


@theorem(
    "stackelberg.backends_agree",
    "The Stackelberg leader value computed with the HiGHS backend (dual simplex, all follower-action LPs "
    f"in one block-diagonal model) and with the cvxpy/Clarabel backend (interior point, one LP at a time) "
    f"agree within {BACKEND_TOL:g} * max(1, |value|).",
    C_S_2006 + "; the LP value is unique even when its solution is not",
    lambda: bimatrix_games(max_follower=3),   # the cvxpy backend costs ~15 ms per LP
    tags=("stackelberg", "lp", "backends"),
)
def check_backends_agree(game: BimatrixGame) -> Evidence:
    highs = stackelberg(game, backend="highs")
    ref = stackelberg(game, backend="cvxpy")
    return Evidence.equal(ref.leader_value, highs.leader_value, tol=BACKEND_TOL,
                          detail=f"cvxpy vs highs leader value (follower actions {ref.follower_action}, "
                                 f"{highs.follower_action})")


@theorem(
    "stackelberg.follower_best_responds",
    "The follower action j* reported with the optimal commitment x is a best response to x: "
    f"x·B[:, j*] >= max_j x·B[:, j] - {BR_TOL:g} * max(1, |max_j x·B[:, j]|), and the reported leader and "
    "follower values equal x·A[:, j*] and x·B[:, j*].",
    C_S_2006 + " (the constraints of LP j*)",
    bimatrix_games,
    tags=("stackelberg", "lp"),
)
def check_follower_best_responds(game: BimatrixGame) -> Evidence:
    res: StackelbergResult = stackelberg(game)
    x, j = res.leader_strategy, res.follower_action
    u = x @ game.follower_payoffs
    return Evidence.combine([
        Evidence.at_least(u[j], u.max(), tol=BR_TOL, detail=f"follower payoff of j*={j} vs best response"),
        Evidence.equal(res.leader_value, x @ game.leader_payoffs[:, j], detail="leader_value == x·A[:, j*]"),
        Evidence.equal(res.follower_value, u[j], detail="follower_value == x·B[:, j*]"),
    ])


# --- Grossman–Hart ---------------------------------------------------------------------------

def _relative_gap(a: np.ndarray, b: np.ndarray) -> float:
    """``max |a - b| / max(1, |b|)`` (0 for empty arrays)."""
    return float((np.abs(a - b) / np.maximum(1.0, np.abs(b))).max(initial=0.0))


@theorem(
    "grossman_hart.ic_and_participation",
    "For an implementable action i, the utility levels v returned by the Grossman–Hart program satisfy "
    "IC, F_i·v - c_i >= F_k·v - c_k for every action k, and participation, F_i·v - c_i >= U_0 (each "
    f"within {BR_TOL:g} * max(1, max_j |v_j|, |bound|)), lie in the range of u (v >= 0 for sqrt, v < 1/ρ for CARA), "
    "and the contract pays t_j = h(v_j) with expected payment F_i·t. Vacuous for a non-implementable action "
    "(and for the rare solver failure, status 'error', on astronomically expensive actions).",
    G_H_1983 + " (the cost-minimisation program over utility levels, h = u^{-1})",
    grossman_hart_instances,
    tags=("grossman_hart", "convex"),
)
def check_gh_ic_and_participation(inst: GrossmanHartInstance) -> Evidence:
    res = inst.solve()
    if not res.implementable or res.utility_levels is None:
        return Evidence.vacuous(f"action {inst.action}: no contract to check (status {res.status})")
    F, c = inst.problem.outcome_probs, inst.problem.costs
    v, i = res.utility_levels, inst.action
    utilities = F @ v - c                       # recomputed, not read from the result
    low, high = utility_range(inst.utility, inst.rho)
    on_support = F[i] > 0
    tol = BR_TOL * max(1.0, float(np.abs(v).max()))   # relative to the size of the terms F·v
    items = [
        Evidence.at_least(utilities[i] - np.delete(utilities, i).max() if F.shape[0] > 1 else 0.0, 0.0,
                          tol=tol, detail="min IC slack"),
        Evidence.at_least(utilities[i], inst.reservation_utility, tol=tol,
                          detail="participation: F_i·v - c_i vs U_0"),
        Evidence.at_least(float(v.min()), low, tol=BR_TOL, detail="v >= bottom of the range of u")
        if np.isfinite(low) else None,
        Evidence.at_most(float(v.max()), high, tol=0.0, detail="v <= top of the range of u")
        if np.isfinite(high) else None,
        Evidence.at_most(_relative_gap(res.contract[on_support], inverse_utility(v[on_support], inst.utility,
                                                                                 inst.rho)), 0.0,
                         detail="contract t_j == h(v_j) on the support (max relative gap)"),
        Evidence.equal(res.expected_payment, float(F[i, on_support] @ res.contract[on_support]),
                       detail="expected_payment == F_i·t"),
    ]
    return Evidence.combine([e for e in items if e is not None])


@theorem(
    "grossman_hart.jensen_lower_bound",
    "The least expected payment C(i) implementing action i for a risk-averse agent is at least the "
    "first-best (full-insurance) cost h(max(c_i + U_0, inf range u)): F_i·h(v) >= h(F_i·v) >= h(c_i + U_0) by "
    "Jensen's inequality (h convex) and IR (h increasing). When no IC constraint can bind -- i has the "
    "least cost, e.g. a single action -- the constant contract is IC and C(i) equals the bound (both within "
    f"{CHECK_TOL:g} * max(1, bound)). Vacuous for a non-implementable action.",
    G_H_1983 + " (first-best cost C_FB; second-best cost >= first-best)",
    grossman_hart_instances,
    tags=("grossman_hart", "convex"),
)
def check_gh_jensen_lower_bound(inst: GrossmanHartInstance) -> Evidence:
    res = inst.solve()
    if not res.implementable or res.utility_levels is None:
        return Evidence.vacuous(f"action {inst.action}: no contract to check (status {res.status})")
    low, _ = utility_range(inst.utility, inst.rho)
    c = inst.problem.costs
    level = max(float(c[inst.action]) + inst.reservation_utility, low)
    bound = float(inverse_utility(level, inst.utility, inst.rho))     # recomputed, not read from the result
    items = [Evidence.at_least(res.expected_payment, bound, detail="C(i) >= h(c_i + U_0)")]
    if c[inst.action] <= c.min():
        items.append(Evidence.equal(res.expected_payment, bound, detail="least-cost action: C(i) == h(c_i + U_0)"))
    return Evidence.combine(items)


__all__ = ["bimatrix_games", "grossman_hart_instances", "GrossmanHartInstance", "BACKEND_TOL", "BR_TOL"]
