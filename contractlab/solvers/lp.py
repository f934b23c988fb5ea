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


def solve_lp_batch(lp: LPBatch, backend: str = "highs", batched: bool = True) -> LPSolution:
    """Solve every LP of the batch with the named backend.

    ``batched`` only matters for ``"highs"``: ``True`` solves the whole batch in one call
    (the fast path), ``False`` solves the LPs one at a time.
    """
    if backend == "highs":
        from . import backend_highs
        return backend_highs.solve(lp, batched=batched)
    if backend == "cvxpy":
        from . import backend_cvxpy
        return backend_cvxpy.solve(lp)
    raise ValueError(f"backend: unknown backend {backend!r} (choose one of {', '.join(BACKENDS)})")


def empty_solution(lp: LPBatch, backend: str) -> LPSolution:
    """An all-NaN solution with status "error", filled in by the backends."""
    B, nv = lp.c.shape
    return LPSolution(status=np.full(B, "error", dtype=object), x=np.full((B, nv), np.nan),
                      objective=np.full(B, np.nan), y_ge=np.full((B, lp.A_ge.shape[1]), np.nan),
                      y_eq=np.full((B, lp.A_eq.shape[1]), np.nan), backend=backend)
