"""The HiGHS backend of the LP layer (``highspy``), with a batched block-diagonal fast path.

Batched solves
--------------
The ``B`` LPs of a batch are put into one block-diagonal model and solved in a single call.
If that model is infeasible (or unbounded), HiGHS does not say which blocks are to blame, so
the batch has to be split. Bisection alone costs ``O(k log B)`` extra solves for ``k``
offending blocks, and random instances almost always have some (an action that cannot be
implemented makes its MIN-PAY LP infeasible). So for a batch of more than
:data:`FEASIBILITY_FIRST_MIN` LPs a cheap phase 1 runs first: one block-diagonal *elastic*
LP (a slack on the rows, minimise the violation) that is always feasible and bounded, and
whose per-block optimum is 0 exactly when that LP is feasible. Blocks whose violation is
clearly positive (above :data:`INFEASIBILITY_GAP`, relative to ``max(1, |b|)``, far above
the solver tolerance) are certified infeasible; blocks with (almost) no violation (at most
:data:`FEASIBILITY_GAP`) are solved in one call; the few borderline blocks in between, whose
verdict hangs on the solver tolerance, are solved one at a time. Bisection remains only as
the fallback for what phase 1 cannot decide (an unbounded LP in the batched call).

Infeasibility certificates
--------------------------
Every LP reported infeasible comes with a Farkas certificate for the LP layer to check
(:func:`~contractlab.solvers.lp.farkas_certified`): the phase-1 duals of its block, or HiGHS'
dual ray when it was solved alone. :func:`farkas_certificates` finds them on demand (phase 1,
optionally in a box) for the LPs the layer is unsure of, e.g. one on which the dual simplex
ends with status "unknown" because its Farkas combination cancels to 1e-11.
"""

from __future__ import annotations

import threading

import highspy
import numpy as np

from .lp import SOLVER_TOL, LPBatch, LPSolution, accurate, empty_solution
from .silence import c_output_silenced

#: Batches larger than this run the phase-1 feasibility LP before the batched solve; smaller
#: ones are solved whole first (one call when all are feasible) and bisected if needed.
FEASIBILITY_FIRST_MIN = 32

#: Larger batches are solved in chunks of at most this many LPs: the simplex time per LP
#: grows with the size of the block-diagonal model, and chunks of about a thousand LPs
#: keep it near its minimum.
CHUNK = 1024

#: Phase 1 certifies an LP infeasible when its minimal violation exceeds this, times
#: ``max(1, max|b|)`` of the LP (``1e4`` times the solver tolerance ``SOLVER_TOL``) ...
INFEASIBILITY_GAP = 1e-6

#: ... and sends it to the one batched call when the violation is at most this (times the same
#: scale). LPs in between are borderline (their verdict depends on the solver tolerance) and
#: are solved one at a time.
FEASIBILITY_GAP = 1e-3 * SOLVER_TOL

#: HiGHS' ``small_matrix_value`` (its minimum; see :func:`_highs`).
SMALL_MATRIX_VALUE = 1e-12

_local = threading.local()
_STATUS = {
    highspy.HighsModelStatus.kOptimal: "optimal",
    highspy.HighsModelStatus.kInfeasible: "infeasible",
    highspy.HighsModelStatus.kUnbounded: "unbounded",
    highspy.HighsModelStatus.kUnboundedOrInfeasible: "unbounded_or_infeasible",
}
_COLWISE = int(highspy.MatrixFormat.kColwise)
_MINIMIZE = int(highspy.ObjSense.kMinimize)


def _set_option(h: highspy.Highs, name: str, value) -> None:
    """``h.setOptionValue(name, value)``, raising ``RuntimeError`` naming the option if HiGHS
    rejects it. highspy reports an unknown name or an illegal value (a string where a number is
    expected, a tolerance out of range, ``presolve="of"``) only by the returned status, and HiGHS
    then keeps the option's previous value: unchecked, a misspelt option would run the solver
    silently with its default. An internal error, never the caller's: every option is ours."""
    status = h.setOptionValue(name, value)
    if status != highspy.HighsStatus.kOk:
        raise RuntimeError(f"HiGHS rejected the option {name}={value!r} (setOptionValue returned {status}): "
                           f"an internal error of contractlab's HiGHS backend with the installed highspy")


def _highs() -> highspy.Highs:
    """One reusable HiGHS instance per thread (creating one costs more than a small solve)."""
    h = getattr(_local, "highs", None)
    if h is None:
        with c_output_silenced():  # highspy >= 1.16 prints a banner on stdout when it is built
            h = highspy.Highs()
        _set_option(h, "output_flag", False)
        _set_option(h, "solver", "simplex")
        _set_option(h, "primal_feasibility_tolerance", SOLVER_TOL)
        _set_option(h, "dual_feasibility_tolerance", SOLVER_TOL)
        # HiGHS treats matrix entries at most small_matrix_value (default 1e-9) as zero. The LP
        # layer equilibrates every LP first (entries of order 1), so the lowest value HiGHS
        # allows is used: only entries 1e-12 below their row's and column's largest are
        # dropped, and lp.verify_solution judges the answer on the full matrix anyway.
        _set_option(h, "small_matrix_value", SMALL_MATRIX_VALUE)
        _local.highs = h
    return h


def _block_diagonal(lp: LPBatch) -> tuple:
    """The batch as one block-diagonal model (rows: ``>=`` rows, then ``=`` rows, per block).

    Returns the arguments of ``Highs.passModel`` in its array form. The column-wise matrix is
    built directly with numpy (no scipy.sparse, no ``HighsLp`` whose integer vectors are
    converted element by element): both cost more than solving a small batch.
    """
    B, nv = lp.c.shape
    A = np.concatenate([lp.A_ge, lp.A_eq], axis=1)          # (B, nr, nv)
    nr = A.shape[1]
    lower = np.concatenate([lp.b_ge, lp.b_eq], axis=1)
    upper = np.concatenate([np.full_like(lp.b_ge, highspy.kHighsInf), lp.b_eq], axis=1)
    At = A.transpose(0, 2, 1)                                # (B, nv, nr): column b*nv+v, row r
    nz = At != 0
    blk, _, row = np.nonzero(nz)                             # column-major, rows ascending
    start = np.zeros(B * nv + 1, dtype=np.int32)
    np.cumsum(nz.sum(axis=2).ravel(), out=start[1:])
    index = (blk * nr + row).astype(np.int32)
    return (B * nv, B * nr, len(index), _COLWISE, _MINIMIZE, 0.0,
            np.ascontiguousarray(lp.c.ravel()), np.zeros(B * nv), np.full(B * nv, highspy.kHighsInf),
            np.ascontiguousarray(lower.ravel()), np.ascontiguousarray(upper.ravel()),
            start, index, np.ascontiguousarray(At[nz]), np.zeros(B * nv, dtype=np.int32))


def _run(lp: LPBatch, presolve: bool = False) -> str:
    """Solve the whole batch as one model; returns its status (the solution stays in HiGHS).

    Presolve is off by default: on these block-diagonal models of tiny LPs it costs more than
    it saves, and HiGHS 1.15's presolve was seen to call an unbounded LP "infeasible".
    """
    h = _highs()
    model = _block_diagonal(lp)
    _set_option(h, "presolve", "on" if presolve else "off")
    h.passModel(*model)
    h.run()
    status = _STATUS.get(h.getModelStatus(), "error")
    if status == "unbounded_or_infeasible" and presolve:
        # Presolve may not tell the two apart; the simplex without presolve does.
        _set_option(h, "presolve", "off")
        h.passModel(*model)
        h.run()
        status = _STATUS.get(h.getModelStatus(), "error")
    if status == "unbounded_or_infeasible":
        status = "error"
    return status


def _store(lp: LPBatch, out: LPSolution, idx: np.ndarray, status: str) -> None:
    """Copy HiGHS' current solution of the sub-batch ``lp`` (rows ``idx`` of the whole) into ``out``.

    For one LP found infeasible, HiGHS' dual ray (found by the dual simplex at no extra cost) is
    stored as its Farkas certificate; the LP layer checks it (:func:`~contractlab.solvers.lp.farkas_certified`)
    and looks for another where it is missing or does not pass.
    """
    out.status[idx] = status
    if status == "infeasible" and len(idx) == 1:
        _store_dual_ray(lp, out, int(idx[0]))
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


def _store_dual_ray(lp: LPBatch, out: LPSolution, b: int) -> None:
    """HiGHS' dual ray of the (single-LP) model just solved, as the Farkas certificate of LP ``b``.

    For ``>=`` rows HiGHS' ray is in the sign convention of the LP layer (``y_ge >= 0``,
    ``A^T y <= 0``, ``b·y > 0``); a ray of the opposite orientation is flipped.
    """
    _, has_ray, ray = _highs().getDualRay()
    if not has_ray:
        return
    ray = np.asarray(ray, dtype=np.float64)
    nge = lp.A_ge.shape[1]
    if len(ray) != nge + lp.A_eq.shape[1]:
        return
    if float(np.dot(np.concatenate([lp.b_ge[0], lp.b_eq[0]]), ray)) < 0:
        ray = -ray
    out.farkas_ge[b] = np.maximum(ray[:nge], 0.0)        # round-off below 0; the check decides
    out.farkas_eq[b] = ray[nge:]


def _solve_range(lp: LPBatch, out: LPSolution, idx: np.ndarray, presolve: bool = False) -> None:
    """Solve the sub-batch ``idx`` in one call; bisect if it is not optimal as a whole."""
    sub = lp.take(idx)
    status = _run(sub, presolve)
    if status == "optimal" or len(idx) == 1:
        _store(sub, out, idx, status)
        return
    half = len(idx) // 2
    _solve_range(lp, out, idx[:half], presolve)
    _solve_range(lp, out, idx[half:], presolve)


def _elastic(lp: LPBatch) -> LPBatch:
    """Phase 1: minimise the violation of each LP's rows (always feasible, bounded below by 0).

    Columns per block: ``x``, then one slack ``s`` shared by all ``>=`` rows
    (``A_ge x + s >= b_ge``: ``s`` is the largest violation), then ``p`` and ``q`` per ``=`` row
    (``A_eq x + p - q = b_eq``); the objective is ``s + Σ (p + q)``. One shared slack instead of
    one per ``>=`` row keeps the model small, which solves faster.
    """
    B, nv = lp.c.shape
    nge, neq = lp.A_ge.shape[1], lp.A_eq.shape[1]
    ns = 1 + 2 * neq
    S_ge = np.zeros((nge, ns))
    S_ge[:, 0] = 1.0
    S_eq = np.zeros((neq, ns))
    S_eq[:, 1:1 + neq] = np.eye(neq)
    S_eq[:, 1 + neq:] = -np.eye(neq)
    A_ge = np.concatenate([lp.A_ge, np.broadcast_to(S_ge, (B, nge, ns))], axis=2)
    A_eq = np.concatenate([lp.A_eq, np.broadcast_to(S_eq, (B, neq, ns))], axis=2)
    c = np.concatenate([np.zeros((B, nv)), np.ones((B, ns))], axis=1)
    return LPBatch(c, A_ge, lp.b_ge, A_eq, lp.b_eq)


def farkas_certificates(lp: LPBatch, box=np.inf) -> tuple[np.ndarray, np.ndarray] | None:
    """Farkas certificates ``(y_ge, y_eq)`` for the LPs of a batch, from one phase-1 solve (``None`` if it fails).

    The elastic LP (:func:`_elastic`) minimises the violation of the rows over ``0 <= x <= box``.
    Its dual ``y`` (on the rows) and ``z >= 0`` (on the bounds ``x <= box``) satisfy
    ``A_ge^T y_ge + A_eq^T y_eq <= z``, ``y_ge >= 0``, ``Σ y_ge <= 1``, ``|y_eq| <= 1``, and at the
    optimum ``b·y − box Σ z`` is the minimal violation. When that is positive, no point of the
    box meets the rows: ``A^T y <= z`` and ``b·y > box Σ z``, so every feasible point has an entry
    above ``box``, and ``y`` is a Farkas certificate up to ``Σ_j (A^T y)_j^+ < b·y / box`` -- a
    candidate for the LP layer's check (:func:`~contractlab.solvers.lp.farkas_certified`), which
    accepts it when that excess is within the precision of the data. ``box = inf`` is plain phase
    1 (``z = 0``, so ``A^T y <= 0``: the classical certificate). ``box`` is a number or one per
    LP. For an LP with feasible points in the box ``b·y`` is 0 and ``y`` proves nothing.
    """
    box = np.broadcast_to(np.asarray(box, dtype=np.float64), (lp.size,))
    nge = lp.A_ge.shape[1]
    if nge + lp.A_eq.shape[1] == 0:
        return lp.b_ge.copy(), lp.b_eq.copy()
    p1 = _elastic(lp)
    model = list(_block_diagonal(p1))
    upper = model[8].reshape(lp.size, p1.n_vars).copy()
    upper[:, :lp.n_vars] = box[:, None]                 # the box on x; the slacks stay free above
    model[8] = np.ascontiguousarray(upper.ravel())
    h = _highs()
    _set_option(h, "presolve", "off")
    h.passModel(*model)
    h.run()
    if _STATUS.get(h.getModelStatus()) != "optimal":
        return None
    y = np.asarray(h.getSolution().row_dual).reshape(lp.size, -1)
    return y[:, :nge], y[:, nge:]


def _phase_one(lp: LPBatch, duals: bool = False):
    """Each LP's minimal violation divided by ``max(1, max|b|)``; ``None`` if phase 1 fails.

    With ``duals=True``, ``(violation, y_ge, y_eq)``: the phase-1 duals, which are the Farkas
    certificates of the infeasible LPs (see :func:`farkas_certificates`); they are read only if
    some violation exceeds :data:`INFEASIBILITY_GAP` (else NaN: converting HiGHS' list of row
    duals costs more than the rest of this function on a large batch of feasible LPs).

    A value above :data:`INFEASIBILITY_GAP` means every ``x >= 0`` violates some row by more
    than ``INFEASIBILITY_GAP * max(1, max|b|) / (1 + n_eq)``, ``1e4`` times the solver's
    feasibility tolerance or more (for ``n_eq`` small): the LP is infeasible, not borderline.
    A value at most :data:`FEASIBILITY_GAP` means some ``x >= 0`` violates no row by more than
    a thousandth of that tolerance (times the scale). Presolve is off here: on these models
    the simplex alone is faster, and phase 1 only classifies, it never supplies a returned
    solution.
    """
    nge = lp.A_ge.shape[1]
    if nge + lp.A_eq.shape[1] == 0:
        zeros = np.zeros(lp.size)
        return (zeros, lp.b_ge.copy(), lp.b_eq.copy()) if duals else zeros
    p1 = _elastic(lp)
    if _run(p1, presolve=False) != "optimal":
        return None
    sol = _highs().getSolution()
    x = np.asarray(sol.col_value).reshape(p1.c.shape)
    violation = x[:, lp.n_vars:].sum(axis=1)
    scale = np.maximum(1.0, np.abs(np.concatenate([lp.b_ge, lp.b_eq], axis=1)).max(axis=1, initial=0.0))
    if not duals:
        return violation / scale
    if not (violation > INFEASIBILITY_GAP * scale).any():
        return violation / scale, np.full(lp.b_ge.shape, np.nan), np.full(lp.b_eq.shape, np.nan)
    y = np.asarray(sol.row_dual).reshape(lp.size, -1)
    return violation / scale, y[:, :nge], y[:, nge:]


def _solve_large(lp: LPBatch, out: LPSolution, idx: np.ndarray) -> None:
    """Phase 1 on the sub-batch ``idx``, then the LPs it finds feasible in one call.

    LPs phase 1 proves infeasible are marked so; the borderline ones (violation between the
    two gaps: their verdict hangs on the solver tolerance) are solved one at a time, since
    bisecting a batch that holds many of them costs two solves per LP. Presolve is off
    throughout: on these block-diagonal models of many tiny LPs HiGHS' presolve costs more
    than it saves, and the simplex without presolve tells infeasible from unbounded by itself
    (HiGHS 1.15's presolve was seen to call an unbounded LP "infeasible").
    """
    got = _phase_one(lp.take(idx), duals=True)
    if got is None:                                     # cannot happen for a valid model; be safe
        _solve_range(lp, out, idx, presolve=False)
        return
    violation, y_ge, y_eq = got
    infeasible = violation > INFEASIBILITY_GAP
    feasible = violation <= FEASIBILITY_GAP
    out.status[idx[infeasible]] = "infeasible"
    # the phase-1 duals of these LPs are their Farkas certificates (checked by the LP layer)
    out.farkas_ge[idx[infeasible]] = np.maximum(y_ge[infeasible], 0.0)
    out.farkas_eq[idx[infeasible]] = y_eq[infeasible]
    if feasible.any():
        _solve_range(lp, out, idx[feasible], presolve=False)
    for b in idx[~infeasible & ~feasible]:
        _solve_range(lp, out, np.array([b]), presolve=False)


def solve(lp: LPBatch, batched: bool = True) -> LPSolution:
    """Solve a batch with HiGHS: in one block-diagonal call, or one LP at a time.

    Batched, a batch of at most :data:`FEASIBILITY_FIRST_MIN` LPs is solved whole (and
    bisected if that fails); a larger one is cut into near-equal chunks of at most
    :data:`CHUNK` LPs, each solved by phase 1 plus one call (see the module docstring).
    """
    out = empty_solution(lp, "highs")
    if lp.size == 0:
        return out
    if not batched:
        for b in range(lp.size):
            idx = np.array([b])
            sub = lp.take(idx)
            _store(sub, out, idx, _run(sub))
    elif lp.size <= FEASIBILITY_FIRST_MIN:
        _solve_range(lp, out, np.arange(lp.size))
        _resolve_inaccurate_blocks(lp, out)
    else:
        for idx in np.array_split(np.arange(lp.size), -(-lp.size // CHUNK)):
            _solve_large(lp, out, idx)
        _resolve_inaccurate_blocks(lp, out)
    return out


def _resolve_inaccurate_blocks(lp: LPBatch, out: LPSolution) -> None:
    """Solve again, one at a time, the blocks whose batched optimum fails
    :func:`~contractlab.solvers.lp.accurate`.

    In a block-diagonal model the simplex stops when the *whole* model is optimal within its
    tolerances; a block whose cost entries are of the order of the dual tolerance (``1e-10``)
    can then end at a vertex that is optimal only up to that tolerance, while the same LP solved
    alone ends at its true optimum.
    """
    bad = np.flatnonzero(out.optimal & ~accurate(lp, out))
    for b in bad:
        idx = np.array([b])
        sub = lp.take(idx)
        _store(sub, out, idx, _run(sub))
