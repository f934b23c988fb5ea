"""One LP layer for every exact solver in contractlab.

All LPs are written in one standard form, batched over a leading axis ``B``:

    minimise    c·x
    subject to  A_ge x >= b_ge,   A_eq x = b_eq,   x >= 0.

Its dual is  maximise b_ge·y_ge + b_eq·y_eq  subject to  A_ge^T y_ge + A_eq^T y_eq <= c,
y_ge >= 0 (``y_eq`` free). Every backend reports ``y`` in this sign convention, so a caller
can check strong duality and complementary slackness without knowing which solver ran.

Backends
--------
``"highs"``
    HiGHS through ``highspy`` (dual simplex, so the primal answer is a basic solution).
    With ``batched=True`` the ``B`` LPs are put into one block-diagonal model and solved in
    a single call; blocks are independent, so an optimal solution of the big LP restricted
    to a block is optimal for that block. If the big LP is infeasible or unbounded, the
    batch is bisected until the offending blocks are isolated.
``"cvxpy"``
    The readable reference model, built with cvxpy and solved by the interior-point solver
    Clarabel (named explicitly; an independent algorithm from HiGHS' simplex).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BACKENDS = ("highs", "cvxpy")

#: Feasibility / optimality tolerance handed to both backends.
SOLVER_TOL = 1e-10


@dataclass(frozen=True, eq=False)
class LPBatch:
    """``B`` linear programs of one shape in the standard form above (arrays are float64)."""

    c: np.ndarray      # (B, nv)
    A_ge: np.ndarray   # (B, n_ge, nv)
    b_ge: np.ndarray   # (B, n_ge)
    A_eq: np.ndarray   # (B, n_eq, nv)
    b_eq: np.ndarray   # (B, n_eq)

    @classmethod
    def build(cls, c, A_ge=None, b_ge=None, A_eq=None, b_eq=None) -> "LPBatch":
        """Build a batch; 1-d ``c`` (and 2-d ``A``) mean a single LP (``B = 1``)."""
        c = np.asarray(c, dtype=np.float64)
        single = c.ndim == 1
        if single:
            c = c[None]
        B, nv = c.shape

        def mat(A, b):
            if A is None:
                return np.zeros((B, 0, nv)), np.zeros((B, 0))
            A = np.asarray(A, dtype=np.float64)
            b = np.asarray(b, dtype=np.float64)
            if single:
                A, b = A[None], b[None]
            return A, b

        A_ge, b_ge = mat(A_ge, b_ge)
        A_eq, b_eq = mat(A_eq, b_eq)
        return cls(c, A_ge, b_ge, A_eq, b_eq)

    @property
    def size(self) -> int:
        return self.c.shape[0]

    @property
    def n_vars(self) -> int:
        return self.c.shape[1]

    def take(self, idx) -> "LPBatch":
        return LPBatch(self.c[idx], self.A_ge[idx], self.b_ge[idx], self.A_eq[idx], self.b_eq[idx])


@dataclass(frozen=True, eq=False)
class LPSolution:
    """Solutions of a batch: one row per LP. Entries of non-optimal LPs are NaN."""

    status: np.ndarray       # (B,) of str: "optimal" | "infeasible" | "unbounded" | "error"
    x: np.ndarray            # (B, nv)
    objective: np.ndarray    # (B,)
    y_ge: np.ndarray         # (B, n_ge), >= 0
    y_eq: np.ndarray         # (B, n_eq)
    backend: str

    @property
    def optimal(self) -> np.ndarray:
        return self.status == "optimal"


def reduced_costs(lp: LPBatch, sol: LPSolution) -> np.ndarray:
    """``c - A_ge^T y_ge - A_eq^T y_eq``: non-negative at a dual-feasible point."""
    return (lp.c - np.einsum("brv,br->bv", lp.A_ge, sol.y_ge)
            - np.einsum("brv,br->bv", lp.A_eq, sol.y_eq))


def dual_objective(lp: LPBatch, sol: LPSolution) -> np.ndarray:
    """``b_ge·y_ge + b_eq·y_eq``: equals the primal objective at an optimum (strong duality)."""
    return np.einsum("br,br->b", lp.b_ge, sol.y_ge) + np.einsum("br,br->b", lp.b_eq, sol.y_eq)


#: Verification tolerance of :func:`verify_solution`, on the equilibrated LP (entries, right-hand
#: side and objective of largest magnitude about 1): a solution is accepted as optimal when its
#: primal residuals, dual residuals and duality gap are at most this, relative to the size of the
#: solution. Three orders of magnitude above the solver tolerance :data:`SOLVER_TOL`.
VERIFY_TOL = 1e-7

#: Absolute slack of the suboptimality check (on the equilibrated data, whose entries are of
#: order 1): round-off such as a cost of ``2.2e-16`` priced at 0.
GAP_FLOOR = 1e-14

#: Two backends agree on an LP (``backend="both"``) when they report the same status and, if
#: optimal, objectives within this, relative to ``max(1, |objective|)``.
AGREE_TOL = 1e-6

#: Statuses of :class:`LPSolution`: the backends' verdicts, ``"inaccurate"`` when an optimum
#: reported by a backend fails :func:`verify_solution`, and ``"disagreement"`` when
#: ``backend="both"`` finds the two backends at odds (see :func:`solve_lp_batch`).
STATUSES = ("optimal", "infeasible", "unbounded", "error", "inaccurate", "disagreement")


def residuals(lp: LPBatch, sol: LPSolution) -> dict[str, np.ndarray]:
    """Per LP: the primal residual, the dual sign residual, the negative reduced costs and the
    duality gap (absolute).

    ``primal``: ``max(b_ge − A_ge x)^+``, ``max|A_eq x − b_eq|`` and ``max(−x)^+``; ``dual``:
    ``max(−y_ge)^+`` relative to ``max(1, max|y|)``; ``reduced``: ``Σ_j (A^T y − c)_j^+``, the
    negative reduced costs, by which ``y`` misses dual feasibility; ``gap``: ``|c·x − b·y|``.
    """
    x, y_ge = np.nan_to_num(sol.x), np.nan_to_num(sol.y_ge)
    y_eq = np.nan_to_num(sol.y_eq)
    clean = LPSolution(sol.status, x, sol.objective, y_ge, y_eq, sol.backend)
    ge = np.einsum("brv,bv->br", lp.A_ge, x) - lp.b_ge
    eq = np.einsum("brv,bv->br", lp.A_eq, x) - lp.b_eq
    rc = reduced_costs(lp, clean)
    primal = np.maximum.reduce([np.max(-ge, axis=1, initial=0.0), np.max(np.abs(eq), axis=1, initial=0.0),
                                np.max(-x, axis=1, initial=0.0)])
    y_size = np.maximum(1.0, np.abs(np.concatenate([y_ge, y_eq], axis=1)).max(axis=1, initial=0.0))
    dual = np.max(-y_ge, axis=1, initial=0.0) / y_size
    reduced = np.maximum(-rc, 0.0).sum(axis=1)
    gap = np.abs(np.einsum("bv,bv->b", lp.c, x) - dual_objective(lp, clean))
    return {"primal": primal, "dual": dual, "reduced": reduced, "gap": gap}


def accurate(lp: LPBatch, sol: LPSolution, tol: float = VERIFY_TOL) -> np.ndarray:
    """Per LP: does the reported point pass the KKT checks of :func:`verify_solution`?

    (Entries of LPs that are not reported optimal are ``False``.)
    """
    res = residuals(lp, sol)
    x = np.nan_to_num(sol.x)
    y = np.concatenate([sol.y_ge, sol.y_eq], axis=1)
    x_size = np.maximum(1.0, np.abs(x).max(axis=1, initial=0.0))
    y_b = np.nan_to_num(y) * np.concatenate([lp.b_ge, lp.b_eq], axis=1)
    terms = np.maximum(np.abs(lp.c * x).sum(axis=1), np.abs(y_b).sum(axis=1))
    # how much better than c·x an optimum could be, judged from (x, y): the duality gap plus
    # what the negative reduced costs could gain on a point of the size of x
    suboptimality = res["gap"] + res["reduced"] * x_size
    finite = np.isfinite(sol.x).all(axis=1) & np.isfinite(y).all(axis=1)
    return (sol.optimal & finite & (res["primal"] <= tol * x_size) & (res["dual"] <= tol)
            & (suboptimality <= tol * terms + GAP_FLOOR))


def verify_solution(lp: LPBatch, sol: LPSolution, tol: float = VERIFY_TOL) -> LPSolution:
    """Demote every reported optimum whose KKT residuals exceed ``tol`` to ``"inaccurate"``.

    Meant for an equilibrated batch (:func:`contractlab.solvers.lp_scaling.equilibrate`), where
    the data are of order 1: primal residuals are measured relative to ``max(1, max|x|)``, the
    sign of ``y_ge`` relative to ``max(1, max|y|)``, and the estimated suboptimality (the duality
    gap plus the negative reduced costs times ``max(1, max|x|)``) relative to the larger of
    ``Σ|c_j x_j|`` and ``Σ|b_r y_r|`` (plus :data:`GAP_FLOOR`): an optimum far below 1 in the
    equilibrated units must still be accurate to ``tol`` relative to itself. The check reads the whole matrix, so a
    coefficient a backend ignored shows up here.
    """
    bad = sol.optimal & ~accurate(lp, sol, tol)
    if not bad.any():
        return sol
    status = sol.status.copy()
    status[bad] = "inaccurate"
    x, y_ge, y_eq, objective = sol.x.copy(), sol.y_ge.copy(), sol.y_eq.copy(), sol.objective.copy()
    for arr in (x, y_ge, y_eq, objective):
        arr[bad] = np.nan
    return LPSolution(status, x, objective, y_ge, y_eq, sol.backend)


def trivially_infeasible(lp: LPBatch) -> np.ndarray:
    """Per LP: is there a row that no ``x >= 0`` satisfies on its own?

    A ``>=`` row with no positive coefficient and ``b_r > 0`` (``A_r x <= 0 < b_r``), or an ``=``
    row with all coefficients of one sign (or zero) and ``b_r`` of the other sign, or all
    zero and ``b_r != 0``. Such a row is an exact Farkas certificate (the multiplier ``e_r``).
    """
    ge = ((lp.A_ge <= 0).all(axis=2) & (lp.b_ge > 0)).any(axis=1)
    eq_nonpos = (lp.A_eq <= 0).all(axis=2) & (lp.b_eq > 0)
    eq_nonneg = (lp.A_eq >= 0).all(axis=2) & (lp.b_eq < 0)
    return ge | (eq_nonpos | eq_nonneg).any(axis=1)


def row_violations(lp: LPBatch, sol: LPSolution) -> np.ndarray:
    """Per LP: the largest violation of a row on the data as given, each row relative to its
    own scale ``max(|b_r|, Σ_j |A_rj x_j|)``: invariant under scaling a row, so a row that the
    equilibration left tiny next to others is judged on its own terms."""
    x = np.nan_to_num(sol.x)
    out = np.zeros(lp.size)
    for A, b, eq in ((lp.A_ge, lp.b_ge, False), (lp.A_eq, lp.b_eq, True)):
        if A.shape[1] == 0:
            continue
        terms = A * x[:, None, :]
        lhs = terms.sum(axis=2)
        viol = np.abs(lhs - b) if eq else np.maximum(b - lhs, 0.0)
        scale = np.maximum(np.abs(b), np.abs(terms).sum(axis=2))
        rel = np.divide(viol, scale, out=np.zeros_like(viol), where=scale > 0)
        out = np.maximum(out, rel.max(axis=1))
    return out


def _settle(lp: LPBatch, sol: LPSolution, tol: float = VERIFY_TOL) -> LPSolution:
    """Final checks on the original data: an optimum violating a row (relative to that row's
    scale) by more than ``tol`` becomes ``"inaccurate"``, and an LP with a one-row Farkas
    certificate (:func:`trivially_infeasible`) is ``"infeasible"`` whatever the backend said."""
    bad = sol.optimal & (row_violations(lp, sol) > tol)
    infeasible = trivially_infeasible(lp)
    if not (bad.any() or (infeasible & (sol.status != "infeasible")).any()):
        return sol
    status = sol.status.copy()
    status[bad] = "inaccurate"
    status[infeasible] = "infeasible"
    drop = bad | infeasible
    x, y_ge, y_eq, objective = sol.x.copy(), sol.y_ge.copy(), sol.y_eq.copy(), sol.objective.copy()
    for arr in (x, y_ge, y_eq, objective):
        arr[drop] = np.nan
    return LPSolution(status, x, objective, y_ge, y_eq, sol.backend)


def _solve_one_backend(lp: LPBatch, backend: str, batched: bool, scale: bool) -> LPSolution:
    if backend == "highs":
        from . import backend_highs as module
    elif backend == "cvxpy":
        from . import backend_cvxpy as module
    else:
        raise ValueError(f"backend: unknown backend {backend!r} (choose one of {', '.join(BACKENDS + ('both',))})")
    if not scale:
        sol = module.solve(lp, batched=batched) if backend == "highs" else module.solve(lp)
        return _settle(lp, verify_solution(lp, sol))
    from .lp_scaling import equilibrate, unscale
    scaled, scaling = equilibrate(lp)
    sol = verify_solution(scaled, module.solve(scaled, batched=batched) if backend == "highs" else module.solve(scaled))
    return _settle(lp, unscale(lp, sol, scaling))


def agreement(first: LPSolution, second: LPSolution, tol: float = AGREE_TOL) -> np.ndarray:
    """Per LP: do the two solutions report the same status and (if optimal) the same objective?"""
    same = first.status == second.status
    both_opt = first.optimal & second.optimal
    close = np.abs(first.objective - second.objective) <= tol * np.maximum(1.0, np.abs(first.objective))
    return same & (~both_opt | close)


def solve_lp_batch(lp: LPBatch, backend: str = "highs", batched: bool = True, scale: bool = True) -> LPSolution:
    """Solve every LP of the batch with the named backend.

    Every LP is first equilibrated (:mod:`contractlab.solvers.lp_scaling`; exact, by powers of
    two) unless ``scale=False``, and every optimum a backend reports is checked by
    :func:`verify_solution` on the equilibrated data: one that fails is returned as
    ``"inaccurate"`` (NaN solution) rather than as a wrong answer.

    ``backend="both"`` solves with HiGHS and with cvxpy and returns HiGHS' solution (backend
    ``"highs+cvxpy"``) where the two agree (:func:`agreement`); where they do not, the status
    is ``"disagreement"`` and the solution NaN, so that the caller sees the conflict instead
    of one backend's answer. ``batched`` only matters for ``"highs"``: ``True`` solves the
    whole batch in one call (the fast path), ``False`` one LP at a time.
    """
    if backend != "both":
        return _solve_one_backend(lp, backend, batched, scale)
    first = _solve_one_backend(lp, "highs", batched, scale)
    second = _solve_one_backend(lp, "cvxpy", batched, scale)
    agree = agreement(first, second)
    status = first.status.copy()
    status[~agree] = "disagreement"
    x, y_ge, y_eq, objective = first.x.copy(), first.y_ge.copy(), first.y_eq.copy(), first.objective.copy()
    for arr in (x, y_ge, y_eq, objective):
        arr[~agree] = np.nan
    return LPSolution(status, x, objective, y_ge, y_eq, "highs+cvxpy")


def empty_solution(lp: LPBatch, backend: str) -> LPSolution:
    """An all-NaN solution with status "error", filled in by the backends."""
    B, nv = lp.c.shape
    return LPSolution(status=np.full(B, "error", dtype=object), x=np.full((B, nv), np.nan),
                      objective=np.full(B, np.nan), y_ge=np.full((B, lp.A_ge.shape[1]), np.nan),
                      y_eq=np.full((B, lp.A_eq.shape[1]), np.nan), backend=backend)
