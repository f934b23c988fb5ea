"""The cvxpy backend of the LP layer: the readable reference model, solved by Clarabel."""

from __future__ import annotations

import warnings

import cvxpy as cp
import numpy as np

from .lp import SOLVER_TOL, LPBatch, LPSolution, empty_solution

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
    if status != "optimal":
        return status, None, None, None
    y_ge = np.asarray(cons[0].dual_value, dtype=float) if A_ge.shape[0] else np.zeros(0)
    # cvxpy's multiplier of an equality enters the Lagrangian with the opposite sign to ours.
    y_eq = -np.asarray(cons[-1].dual_value, dtype=float) if A_eq.shape[0] else np.zeros(0)
    return status, np.asarray(x.value, dtype=float), np.atleast_1d(y_ge), np.atleast_1d(y_eq)


def solve(lp: LPBatch) -> LPSolution:
    """Solve each LP of the batch with cvxpy + Clarabel."""
    out = empty_solution(lp, "cvxpy")
    for b in range(lp.size):
        status, x, y_ge, y_eq = _solve_one(lp.c[b], lp.A_ge[b], lp.b_ge[b], lp.A_eq[b], lp.b_eq[b])
        out.status[b] = status
        if status == "optimal":
            out.x[b] = x
            out.objective[b] = float(lp.c[b] @ x)
            out.y_ge[b] = y_ge
            out.y_eq[b] = y_eq
    return out
