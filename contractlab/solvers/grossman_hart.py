"""The Grossman–Hart cost-minimisation program for a risk-averse agent.

Grossman and Hart, *An Analysis of the Principal-Agent Problem* (Econometrica 51(1), 1983),
Section 2: the agent's utility is ``u(t) - c_i`` for a strictly increasing, concave utility of
money ``u``. Writing the contract in *utility levels* ``v_j = u(t_j)`` makes the problem of
implementing action ``i`` at least cost a convex program (their "first step"):

    minimise    Σ_j F_ij h(v_j)                         (h = u^{-1}, convex and increasing)
    subject to  F_i·v - c_i >= F_k·v - c_k    for every k != i          (IC)
                F_i·v - c_i >= U_0                                       (participation, IR)
                v_j in the range of u.

The agent breaks ties in the principal's favour (weak IC). Three utilities are provided:

=========  ==============================  =======================  ====================
name       u(t)                            h(v) = u^{-1}(v)         range of v
=========  ==============================  =======================  ====================
``sqrt``   ``sqrt(t)``, ``t >= 0``         ``v**2``                 ``[0, inf)``
``log``    ``log(t)``, ``t > 0``           ``exp(v)``               ``(-inf, inf)``
``cara``   ``(1 - exp(-ρ t)) / ρ``         ``-log(1 - ρ v) / ρ``    ``(-inf, 1/ρ)``
=========  ==============================  =======================  ====================

The program is solved with cvxpy and the interior-point solver Clarabel (named explicitly).

Outcomes the target action never produces
-----------------------------------------
If ``F_ij = 0`` the utility level ``v_j`` does not enter the objective and lowering it only
relaxes IC, so the set of minimisers is unbounded in ``v_j`` (for ``log`` and ``cara``) and an
interior-point solver may fail to converge. We therefore solve over the support ``S`` of
``F_i`` only, which gives the same optimal value, and fix the levels off the support
canonically:

* ``sqrt``: ``v_j = 0`` (pay nothing; lowering ``v_j`` is free, and ``0`` is the bottom of the range).
* ``log``, ``cara`` (utility unbounded below): an IC constraint against an action ``k`` that puts
  mass on ``Z = {j : F_ij = 0}`` can always be met by punishing on ``Z``, so it is dropped
  from the convex program; afterwards every ``v_j``, ``j in Z``, is set to the common level
  ``min(min_S v, θ)``, where ``θ`` is the largest level that keeps every dropped IC constraint
  satisfied (the mildest punishment that deters every deviation reaching ``Z``).

Implementability
----------------
IC alone can be met (with utility levels unbounded above) iff no convex combination of the
other actions reproduces ``F_i`` at a strictly lower cost (:func:`.is_implementable`); IR can
then be met by a shift of ``v``. For ``cara`` the range is bounded above by ``1/ρ``, so in
addition, with ``w = 1/ρ - v >= 0``, the LP ``min F_i·w`` s.t. ``(F_k - F_i)·w >= c_i - c_k`` must
have value below ``1/ρ - c_i - U_0``. Non-implementable actions are results with
``implementable=False``, not exceptions.

Accuracy
--------
Clarabel stops at a duality gap of ~1e-10, which fixes the optimal *value* to that accuracy
but the minimiser only to ~1e-5. The interior-point answer is therefore refined by a small
active-set Newton method on the KKT system (:func:`_polish`); the refined point is accepted
only if it is verified to satisfy the KKT conditions (feasibility to 1e-12, stationarity with
non-negative multipliers to 1e-9), and then it is optimal. The same refinement rescues the rare
instances where Clarabel stalls at its iteration limit next to the optimum.
"""

from __future__ import annotations

import numbers
import warnings
from dataclasses import dataclass

import cvxpy as cp
import numpy as np

from ..theory.contract_problem import ContractProblem
from ..theory.errors import InvalidInstanceError
from .implementability import _check_action, is_implementable
from .lp import LPBatch, solve_lp_batch

UTILITIES = ("sqrt", "log", "cara")

#: The convex solver, named explicitly so results do not depend on what else is installed.
SOLVER = cp.CLARABEL
SOLVER_OPTIONS = {"tol_gap_abs": 1e-10, "tol_gap_rel": 1e-10, "tol_feas": 1e-10, "tol_ktratio": 1e-8,
                  "max_iter": 500}

#: For ``cara``, IR is called infeasible unless the penalty LP beats ``1/ρ - c_i - U_0`` by this
#: much (relative to ``max(1, |1/ρ - c_i - U_0|)``).
CARA_FEASIBILITY_TOL = 1e-9

#: IC rows ``F_i - F_k`` (on the support) with no entry above this in size are identically zero.
ZERO_ROW_TOL = 1e-14

#: Principal utilities within this (relative) tolerance of the best count as tied in
#: :func:`grossman_hart_optimal`; the lowest action index wins.
TIE_TOL = 1e-9


# --- utilities of money ------------------------------------------------------------------

def _check_utility(utility, rho) -> tuple[str, float]:
    if not isinstance(utility, str) or utility not in UTILITIES:
        raise InvalidInstanceError("utility", f"unknown utility {utility!r} (choose one of {', '.join(UTILITIES)})")
    if isinstance(rho, bool) or not isinstance(rho, numbers.Real) or not np.isfinite(rho) or rho <= 0:
        raise InvalidInstanceError("rho", f"must be a finite number > 0, got {rho!r}")
    return utility, float(rho)


def utility_range(utility: str, rho: float = 1.0) -> tuple[float, float]:
    """``(low, high)``: the closure of the range of ``u`` (values ``v`` a contract can give)."""
    utility, rho = _check_utility(utility, rho)
    return {"sqrt": (0.0, np.inf), "log": (-np.inf, np.inf), "cara": (-np.inf, 1.0 / rho)}[utility]


def utility_of_money(t, utility: str = "sqrt", rho: float = 1.0) -> np.ndarray:
    """``u(t)`` elementwise (``sqrt(t)``, ``log(t)`` or ``(1 - exp(-ρ t)) / ρ``)."""
    utility, rho = _check_utility(utility, rho)
    t = np.asarray(t, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        if utility == "sqrt":
            return np.sqrt(t)
        if utility == "log":
            return np.log(t)
        return -np.expm1(-rho * t) / rho


def inverse_utility(v, utility: str = "sqrt", rho: float = 1.0) -> np.ndarray:
    """``h(v) = u^{-1}(v)`` elementwise: the payment that gives utility ``v`` (convex, increasing)."""
    utility, rho = _check_utility(utility, rho)
    v = np.asarray(v, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if utility == "sqrt":
            return np.where(v >= 0, v * v, np.nan)
        if utility == "log":
            return np.exp(v)
        return np.where(v < 1.0 / rho, -np.log1p(-rho * v) / rho, np.inf)


def full_insurance_payment(problem: ContractProblem, action: int, utility: str = "sqrt", rho: float = 1.0,
                           reservation_utility: float = 0.0) -> float:
    """The first-best cost ``h(max(c_i + U_0, low))`` of action ``i`` (Grossman–Hart 1983, Section 2).

    The constant contract ``v ≡ c_i + U_0`` meets IR with equality; by Jensen's inequality
    (``h`` convex) and monotonicity of ``h`` no contract meeting IR is cheaper in expectation,
    so this is a lower bound on :func:`grossman_hart`'s expected payment. ``inf`` when
    ``c_i + U_0`` is not below the top of the range (``cara``).
    """
    action = _check_action(problem, action)
    low, high = utility_range(utility, rho)
    level = max(float(problem.costs[action]) + float(reservation_utility), low)
    if level >= high:
        return float("inf")
    return float(inverse_utility(level, utility, rho))


# --- results -----------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class GrossmanHartResult:
    """The least-cost contract implementing one action for a risk-averse agent, with evidence.

    Attributes
    ----------
    action:
        The implemented action ``i``.
    implementable:
        Whether some contract satisfies IC and IR (see the module docstring).
    utility_levels:
        ``v``, shape ``(m,)``: the agent's utility of each outcome's payment (``None`` if not
        implementable or if the solver failed).
    contract:
        ``t = h(v)``, shape ``(m,)``: the payments (``None`` as for ``utility_levels``). For
        ``log`` a punishment level far below zero may round to ``t_j = 0.0`` off the support.
    expected_payment:
        ``F_i · t`` (``inf`` if not implementable, ``nan`` if the solver failed).
    full_insurance_payment:
        ``h(max(c_i + U_0, low))``, the first-best cost; ``expected_payment`` is never below it.
    ic_slacks:
        ``(F_i·v - c_i) - (F_k·v - c_k)`` for every ``k`` (0 at ``k = i``), shape ``(n,)``.
    participation_slack:
        ``F_i·v - c_i - U_0``.
    ic_duals:
        Multipliers of the IC constraints (0 at ``k = i`` and for constraints dropped because
        they can be met by punishment off the support).
    participation_dual:
        Multiplier of IR.
    witness:
        For an action that fails IC, the cheaper convex combination of other actions
        (see :mod:`.implementability`); else ``None``.
    status:
        ``"optimal"`` (Clarabel reported an optimum, or the polished point was verified to satisfy
        the KKT conditions), ``"infeasible"`` (not implementable) or ``"error"`` (the action is
        implementable -- ``implementable`` stays ``True`` -- but the convex solver failed; in
        practice because the optimal payments are astronomically large, e.g. ``exp(40)``).
    utility, rho, reservation_utility:
        The model the contract was computed for.
    polished:
        Whether the interior-point solution was refined to a verified KKT point by
        :func:`_polish` (the usual case, accurate to round-off); if not, ``utility_levels`` are
        accurate only to about the square root of the solver tolerance (~1e-5).
    """

    action: int
    implementable: bool
    utility_levels: np.ndarray | None
    contract: np.ndarray | None
    expected_payment: float
    full_insurance_payment: float
    ic_slacks: np.ndarray | None
    participation_slack: float | None
    ic_duals: np.ndarray | None
    participation_dual: float | None
    witness: np.ndarray | None
    status: str
    utility: str
    rho: float
    reservation_utility: float
    polished: bool = False

    @property
    def risk_premium(self) -> float:
        """``expected_payment - full_insurance_payment`` (>= 0): the cost of incentives."""
        return self.expected_payment - self.full_insurance_payment


@dataclass(frozen=True, eq=False)
class GrossmanHartOptimum:
    """The principal's best action under :func:`grossman_hart` (the second step of GH 1983).

    Attributes
    ----------
    action:
        The action maximising ``R_i - expected_payment_i`` (lowest index within
        :data:`TIE_TOL`), or ``None`` if no action is implementable.
    result:
        Its :class:`GrossmanHartResult` (``None`` if no action is implementable).
    principal_utilities:
        ``R_i - expected_payment_i`` for every action, ``-inf`` where not implementable.
    results:
        The :class:`GrossmanHartResult` of every action.
    """

    action: int | None
    result: GrossmanHartResult | None
    principal_utilities: np.ndarray
    results: tuple[GrossmanHartResult, ...]

    @property
    def principal_utility(self) -> float:
        return -np.inf if self.action is None else float(self.principal_utilities[self.action])


# --- the program ---------------------------------------------------------------------------

def _cara_penalty_value(F: np.ndarray, c: np.ndarray, action: int) -> tuple[str, float]:
    """``min F_i·w`` s.t. ``(F_k - F_i)·w >= c_i - c_k`` (k != i), ``w >= 0`` (HiGHS, via the LP layer)."""
    n, m = F.shape
    others = np.delete(np.arange(n), action)
    lp = LPBatch.build(c=F[action], A_ge=F[others] - F[action][None], b_ge=c[action] - c[others])
    sol = solve_lp_batch(lp, backend="highs")
    return str(sol.status[0]), float(sol.objective[0])


def _not_implementable(action, status, witness, fi, utility, rho, u0) -> GrossmanHartResult:
    return GrossmanHartResult(action, False, None, None, float("inf"), fi, None, None, None, None, witness,
                              status, utility, rho, u0)


def _objective(utility: str, rho: float, p: np.ndarray, v: cp.Variable):
    if utility == "sqrt":
        return p @ cp.square(v)
    if utility == "log":
        return p @ cp.exp(v)
    return p @ (-cp.log(1.0 - rho * v) / rho)


def grossman_hart(problem: ContractProblem, action: int, utility: str = "sqrt", rho: float = 1.0,
                  reservation_utility: float = 0.0) -> GrossmanHartResult:
    """The least expected payment implementing ``action`` for a risk-averse agent.

    Solves the convex program of Grossman and Hart (1983), Section 2, in utility levels
    ``v_j = u(t_j)`` (see the module docstring), with cvxpy + Clarabel.

    Parameters
    ----------
    problem:
        The contract problem (``F``, ``c``; rewards are not used here).
    action:
        The action ``i`` to implement.
    utility:
        ``"sqrt"`` (default), ``"log"`` or ``"cara"``.
    rho:
        Coefficient of absolute risk aversion ``ρ > 0`` of ``"cara"`` (validated, otherwise unused).
    reservation_utility:
        ``U_0``, the agent's outside option (finite).

    Returns
    -------
    GrossmanHartResult
        ``implementable=False`` (with the witness where IC fails) when no contract works.

    Raises
    ------
    InvalidInstanceError
        Naming ``"action"``, ``"utility"``, ``"rho"`` or ``"reservation_utility"``.
    """
    action = _check_action(problem, action)
    utility, rho = _check_utility(utility, rho)
    if (isinstance(reservation_utility, bool) or not isinstance(reservation_utility, numbers.Real)
            or not np.isfinite(reservation_utility)):
        raise InvalidInstanceError("reservation_utility", f"must be a finite number, got {reservation_utility!r}")
    u0 = float(reservation_utility)
    F, c = problem.outcome_probs, problem.costs
    n, m = F.shape
    fi = full_insurance_payment(problem, action, utility, rho, u0)

    imp = is_implementable(problem, action)
    if not imp.implementable:
        return _not_implementable(action, "infeasible", imp.witness, fi, utility, rho, u0)
    if utility == "cara":
        status, value = _cara_penalty_value(F, c, action)
        bound = 1.0 / rho - c[action] - u0
        if status != "optimal" or not value < bound - CARA_FEASIBILITY_TOL * max(1.0, abs(bound)):
            return _not_implementable(action, "infeasible", None, fi, utility, rho, u0)

    Fi = F[action]
    support = Fi > 0
    others = np.delete(np.arange(n), action)
    if utility == "sqrt":
        kept = others
    else:   # IC against actions reaching an outcome off the support is met by punishment there
        kept = others[F[others][:, ~support].sum(axis=1) == 0]
    p = Fi[support]
    G, g, kept = _constraint_rows(F, c, action, support, kept, u0, utility)
    status, vs, duals = _solve_program(utility, rho, p, G, g)
    if status == "infeasible":
        # Only when a cheaper replica is within the LP test's tolerance (1e-9) of c_i.
        return _not_implementable(action, "infeasible", None, fi, utility, rho, u0)
    if status != "optimal" and status != "optimal_inaccurate":
        # The LP checks above found the action implementable, so this is a solver failure
        # (typically: the optimal payments are astronomically large); report it as such.
        return GrossmanHartResult(action, True, None, None, float("nan"), fi, None, None, None, None, None,
                                  "error", utility, rho, u0)
    with np.errstate(all="ignore"):
        try:
            polished = _polish(utility, rho, p, G, g, vs, duals)
        except np.linalg.LinAlgError:
            polished = None
    if polished is not None:
        vs, duals = polished
        status = "optimal"   # the polished point satisfies the KKT conditions (checked in _polish)
    elif status != "optimal":
        return GrossmanHartResult(action, True, None, None, float("nan"), fi, None, None, None, None, None,
                                  "error", utility, rho, u0)
    else:
        # Unpolished interior-point answer: repair its IR round-off by a constant shift of v on
        # the support (Σ_S p = 1), which keeps every IC row's left-hand side or raises it.
        vs = vs + max(0.0, float(g[0] - G[0] @ vs))

    levels = np.zeros(m)
    if utility == "sqrt":
        vs = np.clip(vs, 0.0, None)   # solver round-off below the bottom of the range
    levels[support] = vs
    if not support.all() and utility != "sqrt":
        levels[~support] = _punishment_level(F, c, action, support, vs)
    if utility == "cara":
        levels = np.minimum(levels, np.nextafter(1.0 / rho, -np.inf))
    t = inverse_utility(levels, utility, rho)
    utilities = F @ levels - c
    slacks = utilities[action] - utilities
    ic_duals = np.zeros(n)
    ic_duals[kept] = np.clip(duals[1:1 + kept.size], 0.0, None)
    for arr in (levels, t, slacks, ic_duals):
        arr.setflags(write=False)
    return GrossmanHartResult(action, True, levels, t, float(Fi @ t), fi, slacks,
                              float(utilities[action] - u0), ic_duals, float(max(duals[0], 0.0)), None, status,
                              utility, rho, u0, polished is not None)


def _constraint_rows(F, c, action, support, kept, u0, utility) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``G v_S >= g``: row 0 is IR, then IC against each kept action, then (``sqrt``) ``v_S >= 0``.

    Returns ``(G, g, ic_actions)``, ``ic_actions`` the actions whose IC rows were kept, in order.
    """
    p = F[action, support]
    rows = [p[None], p[None] - F[kept][:, support]]
    rhs = [np.array([c[action] + u0]), c[action] - c[kept]]
    # An action with the same distribution as i (on the support) gives a zero row, 0 >= c_i - c_k,
    # which holds (IC was checked by the LP) -- drop it, interior-point solvers dislike zero rows.
    keep = np.abs(rows[1]).max(axis=1, initial=0.0) > ZERO_ROW_TOL
    # Actions with the same distribution give the same row: keep only the largest right-hand
    # side (the others are implied), so the active set never holds inconsistent equalities.
    order = np.argsort(-rhs[1], kind="stable")
    first = np.unique(rows[1][order], axis=0, return_index=True)[1]
    unique = np.zeros(kept.size, dtype=bool)
    unique[order[first]] = True
    keep &= unique
    rows[1], rhs[1] = rows[1][keep], rhs[1][keep]
    if utility == "sqrt":
        rows.append(np.eye(p.size))
        rhs.append(np.zeros(p.size))
    return np.concatenate(rows), np.concatenate(rhs), kept[keep]


def _solve_program(utility, rho, p, G, g):
    """Solve ``min p·h(v)`` s.t. ``G v >= g`` with cvxpy + Clarabel: ``(status, v, duals)``."""
    v = cp.Variable(p.size)
    cons = [G @ v >= g]
    program = cp.Problem(cp.Minimize(_objective(utility, rho, p, v)), cons)
    try:
        with warnings.catch_warnings():   # "solution may be inaccurate": reported through the status
            warnings.simplefilter("ignore", UserWarning)
            program.solve(solver=SOLVER, **SOLVER_OPTIONS)
    except cp.error.SolverError:
        return "error", None, None
    if program.status == cp.INFEASIBLE:
        return "infeasible", None, None
    if v.value is None or cons[0].dual_value is None:
        return "error", None, None
    # OPTIMAL_INACCURATE and USER_LIMIT (iteration limit) still leave an iterate, which the
    # active-set polish may turn into a certified KKT point.
    status = "optimal" if program.status == cp.OPTIMAL else "optimal_inaccurate"
    return status, np.asarray(v.value, dtype=np.float64), np.atleast_1d(np.asarray(cons[0].dual_value, dtype=np.float64))


def _derivatives(utility, rho, v):
    """``h'(v)`` and ``h''(v)`` elementwise (``None`` outside the domain)."""
    if utility == "sqrt":
        return 2.0 * v, np.full_like(v, 2.0)
    if utility == "log":
        e = np.exp(v)
        return e, e
    gap = 1.0 - rho * v
    if np.any(gap <= 0):
        return None
    return 1.0 / gap, rho / gap ** 2


def _newton_kkt(utility, rho, p, Ga, ga, x, max_iter: int = 30):
    """Newton's method on ``p ∘ h'(v) = G_a^T λ``, ``G_a v = g_a`` from ``x``: ``(v, λ)`` or ``None``.

    ``v`` is unique (the objective is strictly convex on the support); with linearly dependent
    active rows ``λ`` is not, and the least-squares solve of the Schur complement returns one.
    """
    na = Ga.shape[0]
    d = _derivatives(utility, rho, x)
    if d is None:
        return None
    # start from the multipliers that best explain the gradient at x (least squares)
    if not np.all(np.isfinite(p * d[0])):
        return None
    lam = np.linalg.lstsq(Ga.T, p * d[0], rcond=None)[0] if na else np.zeros(0)
    for _ in range(max_iter):
        d = _derivatives(utility, rho, x)
        if d is None or not np.all(np.isfinite(x)):
            return None
        grad, hess = d
        r_dual = p * grad - Ga.T @ lam
        r_prim = Ga @ x - ga
        if (np.abs(r_dual).max() <= 1e-13 * max(1.0, float(np.abs(p * grad).max()))
                and (na == 0 or np.abs(r_prim).max() <= 1e-13 * max(1.0, float(np.abs(ga).max())))):
            break
        # The KKT system [[H, -G_a^T], [G_a, 0]] [dx, dλ] = -[r_dual, r_prim] with H = diag(p h''(v))
        # is solved through its Schur complement G_a H^{-1} G_a^T: H can be ~1e8 times larger than
        # G_a (exp of large levels), which would make the full system look rank-deficient.
        hinv = 1.0 / (p * hess)
        if not (np.all(np.isfinite(hinv)) and np.all(np.isfinite(r_dual)) and np.all(np.isfinite(r_prim))):
            return None   # (never hand NaN/inf to LAPACK: it prints to stderr)
        if na:
            S = (Ga * hinv) @ Ga.T
            rhs = -r_prim + Ga @ (hinv * r_dual)
            if not (np.all(np.isfinite(S)) and np.all(np.isfinite(rhs))):
                return None
            dlam = np.linalg.lstsq(S, rhs, rcond=None)[0]
        else:
            dlam = np.zeros(0)
        dx = hinv * (Ga.T @ dlam - r_dual)
        alpha = 1.0
        if utility == "cara" and np.any(dx > 0):   # stay inside the domain v < 1/rho
            alpha = min(1.0, 0.99 * float(((1.0 / rho - x)[dx > 0] / dx[dx > 0]).min()))
        x, lam = x + alpha * dx, lam + alpha * dlam
    else:
        return None   # no convergence (inconsistent active rows, or badly scaled): keep the IPM answer
    if utility == "sqrt":
        x = np.clip(x, 0.0, None)   # round-off below the bottom of the range (the bound rows are in G)
    return (x, lam) if np.all(np.isfinite(x)) else None


def _polish(utility, rho, p, G, g, v, duals, feas_tol: float = 1e-12, kkt_tol: float = 1e-9):
    """Refine the interior-point solution to a KKT point by a small active-set Newton method.

    An interior-point method stops when the duality gap is ~1e-10, which pins the optimal
    *value* down to that accuracy but the minimiser only to about its square root. Starting
    from the constraints whose multiplier exceeds their slack, Newton's method solves the
    equality-constrained problem on the active set (exact in one step for ``sqrt``); a violated
    inactive constraint is added, an active one with a negative multiplier dropped, and this is
    repeated. The refined point is accepted only if it is feasible (within ``feas_tol``
    relative) and non-negative multipliers (found by NNLS, since with dependent rows they are
    not unique) satisfy stationarity within ``kkt_tol`` -- it then satisfies the KKT conditions
    of the convex program, so it is optimal. Otherwise ``None`` is returned and the
    interior-point solution is used as it is.
    """
    from scipy.optimize import nnls

    active = set(np.flatnonzero(duals > np.maximum(G @ v - g, 0.0)).tolist())
    x = v.copy()
    for _ in range(G.shape[0] + 1):
        idx = np.array(sorted(active), dtype=int)
        solved = _newton_kkt(utility, rho, p, G[idx], g[idx], x)
        if solved is None:
            return None
        x, lam_ls = solved
        if utility == "cara" and np.any(x >= 1.0 / rho):
            return None
        violation = (g - G @ x) / np.maximum(1.0, np.abs(g))
        if violation[idx].max(initial=-np.inf) > feas_tol:
            return None   # the active rows are not met (the Newton solve did not succeed)
        violation[idx] = -np.inf
        if violation.max() > feas_tol:
            active.add(int(np.argmax(violation)))
            continue
        target = p * _derivatives(utility, rho, x)[0]
        if idx.size:
            lam, residual = nnls(G[idx].T, target)
        else:
            lam, residual = np.zeros(0), float(np.linalg.norm(target))
        if residual <= kkt_tol * max(1.0, float(np.abs(target).max())):
            full = np.zeros_like(duals)
            full[idx] = lam
            return x, full
        if not idx.size or lam_ls.min() >= 0:
            return None
        active.discard(int(idx[np.argmin(lam_ls)]))
    return None


def _punishment_level(F, c, action, support, vs) -> float:
    """The level on outcomes off the support: ``min(min_S v, θ)`` (see the module docstring).

    ``θ = min_k (F_i·v - c_i + c_k - F_k,S·v_S) / F_k(Z)`` over actions ``k`` with mass on ``Z``.
    """
    target = F[action, support] @ vs - c[action]
    mass_off = F[:, ~support].sum(axis=1)
    reach = mass_off > 0
    reach[action] = False
    theta = (target + c[reach] - F[reach][:, support] @ vs) / mass_off[reach]
    return float(min(vs.min(), theta.min())) if theta.size else float(vs.min())


def grossman_hart_optimal(problem: ContractProblem, utility: str = "sqrt", rho: float = 1.0,
                          reservation_utility: float = 0.0, tie_tol: float = TIE_TOL) -> GrossmanHartOptimum:
    """The action maximising ``R_i - C(i)``, ``C(i)`` the Grossman–Hart cost (GH 1983, Section 2, step 2).

    Solves :func:`grossman_hart` for every action; ties within ``tie_tol * max(1, |best|)``
    go to the lowest index. ``action is None`` if no action is implementable. An action whose
    program failed (status ``"error"``) counts as ``-inf``; its result is still in ``results``.
    """
    if (isinstance(tie_tol, bool) or not isinstance(tie_tol, numbers.Real) or not np.isfinite(tie_tol)
            or tie_tol < 0):
        raise InvalidInstanceError("tie_tol", f"must be a finite number >= 0, got {tie_tol!r}")
    results = tuple(grossman_hart(problem, i, utility, rho, reservation_utility) for i in range(problem.n_actions))
    pay = np.array([r.expected_payment if r.implementable else np.inf for r in results])
    values = np.where(np.isfinite(pay), problem.expected_rewards - np.where(np.isfinite(pay), pay, 0.0), -np.inf)
    values.setflags(write=False)
    if not np.isfinite(values).any():
        return GrossmanHartOptimum(None, None, values, results)
    best = values.max()
    i = int(np.flatnonzero(values >= best - tie_tol * max(1.0, abs(best)))[0])
    return GrossmanHartOptimum(i, results[i], values, results)


__all__ = ["UTILITIES", "GrossmanHartResult", "GrossmanHartOptimum", "grossman_hart", "grossman_hart_optimal",
           "utility_of_money", "inverse_utility", "utility_range", "full_insurance_payment"]
