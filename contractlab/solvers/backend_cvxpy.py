"""The cvxpy backend of the LP layer: the readable reference model, solved by Clarabel."""

from __future__ import annotations

import warnings

import cvxpy as cp
import numpy as np

from .lp import SOLVER_TOL, LPBatch, LPSolution, accurate, empty_solution

#: The solver is named explicitly, so results do not depend on which solvers happen to be installed.
SOLVER = cp.CLARABEL
SOLVER_OPTIONS = {"tol_gap_abs": SOLVER_TOL, "tol_gap_rel": SOLVER_TOL, "tol_feas": SOLVER_TOL,
                  "tol_ktratio": 1e-8, "max_iter": 500}

#: Clarabel's own defaults, tried when the tight tolerances above end "inaccurate".
FALLBACK_OPTIONS = {"max_iter": 500}

_STATUS = {cp.OPTIMAL: "optimal", cp.INFEASIBLE: "infeasible", cp.UNBOUNDED: "unbounded",
           cp.OPTIMAL_INACCURATE: "optimal_inaccurate", cp.INFEASIBLE_INACCURATE: "infeasible_inaccurate",
           cp.UNBOUNDED_INACCURATE: "unbounded_inaccurate"}


def _solve_one(c, A_ge, b_ge, A_eq, b_eq):
    x = cp.Variable(c.shape[0], nonneg=True)
    cons = []
    if A_ge.shape[0]:
        cons.append(A_ge @ x >= b_ge)
    if A_eq.shape[0]:
        cons.append(A_eq @ x == b_eq)
    problem = cp.Problem(cp.Minimize(c @ x), cons)
    status = "error"
    for options in (SOLVER_OPTIONS, FALLBACK_OPTIONS):
        try:
            with warnings.catch_warnings():
                # an inaccurate solve is reported through the status, not a warning
                warnings.simplefilter("ignore", UserWarning)
                problem.solve(solver=SOLVER, **options)
        except cp.error.SolverError:
            continue
        status = _STATUS.get(problem.status, "error")
        if status in ("optimal", "infeasible", "unbounded"):
            break
    if status not in ("optimal", "infeasible"):
        return status, None, None, None
    # For an infeasible problem cvxpy's duals are Clarabel's certificate of infeasibility (returned
    # with x = None); the LP layer checks it as a Farkas certificate and finds another if it fails.
    y_ge = _dual(cons[0], A_ge.shape[0]) if A_ge.shape[0] else np.zeros(0)
    # cvxpy's multiplier of an equality enters the Lagrangian with the opposite sign to ours.
    y_eq = -_dual(cons[-1], A_eq.shape[0]) if A_eq.shape[0] else np.zeros(0)
    if status == "infeasible":
        return status, None, y_ge, y_eq
    return status, np.asarray(x.value, dtype=float), y_ge, y_eq


def _dual(constraint, n: int) -> np.ndarray:
    """A constraint's dual as a float vector of length ``n`` (NaN if cvxpy has none)."""
    value = constraint.dual_value
    if value is None:
        return np.full(n, np.nan)
    return np.atleast_1d(np.asarray(value, dtype=float))


#: Interior-point answers are strictly positive where a simplex answer has zeros (barrier
#: round-off), which makes the duality gap of an optimum near 0 look like a large relative error.
#: Before :func:`contractlab.solvers.lp.verify_solution` checks the point, it is purified by
#: complementary slackness: ``x_j`` is set to 0 where it is at most ``SNAP_TOL`` (relative to
#: ``max(1, max|x|)``) and its reduced cost is positive, and a multiplier ``y_r`` of a ``>=`` row
#: is set to 0 where it is at most ``SNAP_DUAL_TOL`` (relative to ``max(1, max|y|)``) and its
#: row has positive slack; remaining entries of ``x``, ``y`` at most ``SNAP_TOL`` become 0.
#: The verification then judges the purified point like any other.
SNAP_TOL = 1e-9
SNAP_DUAL_TOL = 1e-7


def _purify(c, A_ge, b_ge, A_eq, x, y_ge, y_eq):
    x_size = max(1.0, float(np.abs(x).max(initial=0.0)))
    y_size = max(1.0, float(np.abs(np.concatenate([y_ge, y_eq])).max(initial=0.0)))
    rc = c - A_ge.T @ y_ge - A_eq.T @ y_eq
    slack = A_ge @ x - b_ge
    x = np.where((x <= SNAP_TOL * x_size) & ((rc > SNAP_TOL * y_size) | (np.abs(x) <= SNAP_TOL)), 0.0, x)
    y_ge = np.where((y_ge <= SNAP_DUAL_TOL * y_size) & (slack > SNAP_TOL * x_size), 0.0, y_ge)
    y_ge = np.where(np.abs(y_ge) <= SNAP_TOL * y_size, 0.0, y_ge)
    y_eq = np.where(np.abs(y_eq) <= SNAP_TOL * y_size, 0.0, y_eq)
    return x, y_ge, y_eq


#: An entry of the interior-point ``x`` counts as in the support, and a ``>=`` row as active,
#: when above / within this (relative to ``max(1, max|x|)``) in :func:`_polish`.
POLISH_TOL = 1e-7


def _to_vertex(A, b, c, x, J, act, nge):
    """Purification (Megiddo's crossover, without the dual half): move ``x`` inside its optimal
    face to a vertex. While the columns ``A[act][:, J]`` are dependent, step along a null
    direction ``d`` that does not increase ``c·x`` until an entry of ``x_J`` reaches 0 (dropped
    from ``J``) or an inactive ``>=`` row becomes tight (added to ``act``). Every step keeps the
    active rows' values, so an optimal ``x`` stays optimal."""
    x, J, act = x.copy(), list(J), list(act)
    for _ in range(len(x) + len(b)):
        if not J:
            break
        M = A[np.ix_(act, J)] if act else np.zeros((0, len(J)))
        _, sv, vt = np.linalg.svd(M) if len(act) else (None, np.zeros(0), np.eye(len(J)))
        rank = int((sv > 1e-12 * max(1.0, sv.max(initial=0.0))).sum())
        if rank == len(J):
            break
        d = np.zeros_like(x)
        d[J] = vt[-1]
        if c @ d > 0:
            d = -d
        neg = [j for j in J if d[j] < 0]
        if not neg:
            d = -d if abs(c @ d) <= 1e-15 * max(1.0, np.abs(c).max()) else d
            neg = [j for j in J if d[j] < 0]
            if not neg:
                break                                           # a ray: cannot happen at an optimum
        step, hit_col = min((x[j] / -d[j], j) for j in neg)
        inactive = [r for r in range(nge) if r not in act]
        Ad = A @ d
        rows = [((A[r] @ x - b[r]) / -Ad[r], r) for r in inactive if Ad[r] < 0]
        hit_row = min(rows) if rows else (np.inf, -1)
        if hit_row[0] < step:
            x = x + hit_row[0] * d
            act.append(hit_row[1])
        else:
            x = x + step * d
            x[hit_col] = 0.0
            J.remove(hit_col)
        x = np.maximum(x, 0.0)
    return x, np.array(J, dtype=int), np.array(sorted(act), dtype=int)


def _polish(lp: LPBatch, x, y_ge, y_eq):
    """Crossover to the vertex the interior-point answer points at (as OSQP's "polish").

    Guess the support ``J`` (``x_j`` clearly positive) and the active rows (every ``=`` row;
    the ``>=`` rows with (almost) no slack, or else those whose slack is small compared with
    their multiplier, both measured relative to their largest entry), move to a vertex of the
    face (:func:`_to_vertex`: an interior point of a face of optima is not a basic solution), solve
    ``A_act[:, J] x_J = b_act`` and ``A_act[:, J]^T y_act = c_J`` by least squares, and keep the
    polished point only if it passes :func:`contractlab.solvers.lp.accurate`: it then is a
    numerically exact vertex with complementary duals, where the barrier point had relative
    errors of the order of its tolerance on optima far below 1. Returns ``None`` when no guess
    passes.
    """
    nge = lp.A_ge.shape[1]
    A = np.concatenate([lp.A_ge[0], lp.A_eq[0]])
    b = np.concatenate([lp.b_ge[0], lp.b_eq[0]])
    x_size = max(1.0, float(np.abs(x).max(initial=0.0)))
    J = np.flatnonzero(x > POLISH_TOL * x_size)
    slack = (A @ x - b)[:nge] / x_size
    y_rel = y_ge / max(float(np.abs(y_ge).max(initial=0.0)), np.finfo(float).tiny)
    eq_rows = np.ones(len(b) - nge, dtype=bool)
    for active_ge in (slack <= POLISH_TOL, slack <= y_rel):
        act = np.flatnonzero(np.concatenate([active_ge, eq_rows]))
        # On data spanning the float range (a probability of 5e-324) a step of the walk to the
        # vertex can overflow; such a guess is then simply not accurate below, and dropped.
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            x_v, J_v, act = _to_vertex(A, b, lp.c[0], x, J, act, nge)
            if (len(J_v) and not len(act)) or not np.isfinite(x_v).all():
                continue
            xp = np.zeros_like(x)
            y = np.zeros(len(b))
            if len(J_v):
                xp[J_v] = np.linalg.lstsq(A[np.ix_(act, J_v)], b[act], rcond=None)[0]
                y[act] = np.linalg.lstsq(A[np.ix_(act, J_v)].T, lp.c[0, J_v], rcond=None)[0]
        if not (np.isfinite(xp).all() and np.isfinite(y).all()):
            continue
        sol = LPSolution(np.array(["optimal"], dtype=object), xp[None], np.array([lp.c[0] @ xp]),
                         y[None, :nge], y[None, nge:], "cvxpy")
        if accurate(lp, sol)[0]:
            return xp, y[:nge], y[nge:]
    return None


def solve(lp: LPBatch) -> LPSolution:
    """Solve each LP of the batch with cvxpy + Clarabel."""
    out = empty_solution(lp, "cvxpy")
    for b in range(lp.size):
        status, x, y_ge, y_eq = _solve_one(lp.c[b], lp.A_ge[b], lp.b_ge[b], lp.A_eq[b], lp.b_eq[b])
        out.status[b] = status
        if status == "infeasible":
            out.farkas_ge[b] = np.maximum(y_ge, 0.0)        # round-off below 0; the check decides
            out.farkas_eq[b] = y_eq
        if status == "optimal":
            polished = _polish(lp.take([b]), x, y_ge, y_eq)
            if polished is not None:
                x, y_ge, y_eq = polished
            else:
                x, y_ge, y_eq = _purify(lp.c[b], lp.A_ge[b], lp.b_ge[b], lp.A_eq[b], x, y_ge, y_eq)
            out.x[b] = x
            out.objective[b] = float(lp.c[b] @ x)
            out.y_ge[b] = y_ge
            out.y_eq[b] = y_eq
    return out
