"""The HiGHS backend of the LP layer (``highspy``), with a batched block-diagonal fast path."""

from __future__ import annotations

import threading

import highspy
import numpy as np
import scipy.sparse as sp

from .lp import SOLVER_TOL, LPBatch, LPSolution, empty_solution

_local = threading.local()
_STATUS = {
    highspy.HighsModelStatus.kOptimal: "optimal",
    highspy.HighsModelStatus.kInfeasible: "infeasible",
    highspy.HighsModelStatus.kUnbounded: "unbounded",
    highspy.HighsModelStatus.kUnboundedOrInfeasible: "unbounded_or_infeasible",
}


def _highs() -> highspy.Highs:
    """One reusable HiGHS instance per thread (creating one costs more than a small solve)."""
    h = getattr(_local, "highs", None)
    if h is None:
        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        h.setOptionValue("solver", "simplex")
        h.setOptionValue("primal_feasibility_tolerance", SOLVER_TOL)
        h.setOptionValue("dual_feasibility_tolerance", SOLVER_TOL)
        _local.highs = h
    return h


def _block_diagonal(lp: LPBatch) -> tuple[highspy.HighsLp, int, int]:
    """The batch as one block-diagonal HiGHS model (rows: ``>=`` rows, then ``=`` rows, per block)."""
    B, nv = lp.c.shape
    A = np.concatenate([lp.A_ge, lp.A_eq], axis=1)          # (B, nr, nv)
    nr = A.shape[1]
    lower = np.concatenate([lp.b_ge, lp.b_eq], axis=1)
    upper = np.concatenate([np.full_like(lp.b_ge, highspy.kHighsInf), lp.b_eq], axis=1)
    b, r, v = np.nonzero(A)
    mat = sp.csc_matrix((A[b, r, v], (b * nr + r, b * nv + v)), shape=(B * nr, B * nv))
    model = highspy.HighsLp()
    model.num_col_ = B * nv
    model.num_row_ = B * nr
    model.col_cost_ = lp.c.ravel()
    model.col_lower_ = np.zeros(B * nv)
    model.col_upper_ = np.full(B * nv, highspy.kHighsInf)
    model.row_lower_ = lower.ravel()
    model.row_upper_ = upper.ravel()
    model.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    model.a_matrix_.start_ = mat.indptr.astype(np.int32)
    model.a_matrix_.index_ = mat.indices.astype(np.int32)
    model.a_matrix_.value_ = mat.data
    return model, nr, nv


def _run(lp: LPBatch) -> str:
    """Solve the whole batch as one model; returns its status (the solution stays in HiGHS)."""
    h = _highs()
    model, _, _ = _block_diagonal(lp)
    h.setOptionValue("presolve", "on")
    h.passModel(model)
    h.run()
    status = _STATUS.get(h.getModelStatus(), "error")
    if status == "unbounded_or_infeasible":
        # Presolve may not tell the two apart; the simplex without presolve does.
        h.setOptionValue("presolve", "off")
        h.passModel(model)
        h.run()
        status = _STATUS.get(h.getModelStatus(), "error")
        if status == "unbounded_or_infeasible":
            status = "error"
    return status


def _store(lp: LPBatch, out: LPSolution, idx: np.ndarray, status: str) -> None:
    """Copy HiGHS' current solution of the sub-batch ``lp`` (rows ``idx`` of the whole) into ``out``."""
    out.status[idx] = status
    if status != "optimal":
        return
    h = _highs()
    sol = h.getSolution()
    nv, nge = lp.n_vars, lp.A_ge.shape[1]
    nr = nge + lp.A_eq.shape[1]
    x = np.asarray(sol.col_value).reshape(len(idx), nv)
    y = np.asarray(sol.row_dual).reshape(len(idx), nr)
    out.x[idx] = x
    out.objective[idx] = np.einsum("bv,bv->b", lp.c, x)
    out.y_ge[idx] = y[:, :nge]
    out.y_eq[idx] = y[:, nge:]


def _solve_range(lp: LPBatch, out: LPSolution, idx: np.ndarray) -> None:
    """Solve the sub-batch ``idx`` in one call; bisect if it is not optimal as a whole."""
    sub = lp.take(idx)
    status = _run(sub)
    if status == "optimal" or len(idx) == 1:
        _store(sub, out, idx, status)
        return
    half = len(idx) // 2
    _solve_range(lp, out, idx[:half])
    _solve_range(lp, out, idx[half:])


def solve(lp: LPBatch, batched: bool = True) -> LPSolution:
    """Solve a batch with HiGHS: in one block-diagonal call, or one LP at a time."""
    out = empty_solution(lp, "highs")
    if lp.size == 0:
        return out
    if batched:
        _solve_range(lp, out, np.arange(lp.size))
    else:
        for b in range(lp.size):
            idx = np.array([b])
            sub = lp.take(idx)
            _store(sub, out, idx, _run(sub))
    return out
