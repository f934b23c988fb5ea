"""Equilibration of LP batches before they reach a backend, and the way back.

Why
---
Contract LPs on hostile data are badly scaled in two ways that floating-point solvers handle
poorly: rows of probability *differences* of order ``1e-12`` (HiGHS treats matrix entries
below its ``small_matrix_value`` as zero, so such a row silently disappears and a feasible LP
is called infeasible), and right-hand sides (cost differences) of order ``1e9`` next to
objective coefficients of order 1 (an interior-point solver's relative accuracy is then
measured against the huge contract, and it stops far from the optimum). Equilibration
(Ruiz, *A scaling algorithm to equilibrate both rows and columns norms in matrices*, RAL
Technical Report 2001; the same idea as the scaling inside HiGHS and Clarabel, which act too
late for dropped coefficients) rescales rows and columns so that every row and column of the
constraint matrix has largest entry about 1, then scales the right-hand side and the
objective to largest entry about 1. The objective takes part in the equilibration as one
more row, so that a column with a tiny cost but a large constraint entry (a contract that pays
``2e9`` on an outcome of probability ``1e-12``) is balanced between the two.

Exactness
---------
Every factor is a power of two, so scaling and unscaling are exact in binary floating
point: the scaled LP is *exactly* the original one in new units, and the backends see the
same rational data the exact certificates of :mod:`contractlab.solvers.certify` read -- as long
as no entry leaves the float range. One scalar ``β`` per right-hand side cannot keep both a
cost difference of ``5e-324`` and one of 1 (the first underflows to 0); the LP layer's checks on
the original data catch the consequences, and its exact fallback solves the original LP.

The change of variables, for ``min c·x, A x >= b (or =), x >= 0``: ``A' = R A C``,
``b' = R b / β``, ``c' = C c / γ`` with positive diagonal ``R`` (rows), ``C`` (columns) and
scalars ``β``, ``γ``. A solution ``(x', y')`` of the scaled LP maps back to ``x = β C x'``
and ``y = γ R y'`` (primal and dual feasibility and the objective gap carry over exactly:
``c·x = βγ c'·x'`` and ``b·y = βγ b'·y'``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .lp import LPBatch, LPSolution

#: Rounds of alternating row/column equilibration (Ruiz converges in a few; each round halves
#: the log-spread of the row and column maxima).
ROUNDS = 8

#: Every factor stays within ``2^±MAX_EXPONENT`` (subnormal or huge entries are not chased to
#: the edge of the float range, where scaling itself would under- or overflow).
MAX_EXPONENT = 80


@dataclass(frozen=True, eq=False)
class Scaling:
    """The factors of one scaled batch: ``rows (B, n_ge + n_eq)``, ``cols (B, nv)``, ``beta, gamma (B,)``."""

    rows: np.ndarray
    cols: np.ndarray
    beta: np.ndarray
    gamma: np.ndarray


def _pow2(x: np.ndarray, max_exponent: int = MAX_EXPONENT) -> np.ndarray:
    """The power of two nearest to ``x`` (in log scale, within ``2^±max_exponent``); 1 where
    ``x`` is 0 or not finite."""
    out = np.ones_like(x)
    ok = np.isfinite(x) & (x > 0)
    out[ok] = np.exp2(np.clip(np.round(np.log2(x[ok])), -max_exponent, max_exponent))
    return out


def _clip(factors: np.ndarray) -> np.ndarray:
    """Keep accumulated factors within ``2^±MAX_EXPONENT`` (still powers of two)."""
    bound = 2.0 ** MAX_EXPONENT
    return np.clip(factors, 1.0 / bound, bound)


def _abs_max(a: np.ndarray, axis: int) -> np.ndarray:
    return np.abs(a).max(axis=axis, initial=0.0)


def _inv_sqrt_pow2(m: np.ndarray) -> np.ndarray:
    """``_pow2(1 / sqrt(m))``, and 1 where ``m`` is 0 (an empty row or column is left alone)."""
    out = np.ones_like(m)
    pos = m > 0
    out[pos] = 1.0 / np.sqrt(m[pos])
    return _pow2(out)


def equilibrate(lp: LPBatch) -> tuple[LPBatch, Scaling]:
    """The scaled batch and its factors (see the module docstring)."""
    B, nv = lp.c.shape
    nge = lp.A_ge.shape[1]
    # The objective takes part as row 0 (its factor is 1/γ): columns are then balanced between
    # their constraint entries and their cost, so that the optimum is of order 1 in the new units.
    A = np.concatenate([lp.c[:, None, :], lp.A_ge, lp.A_eq], axis=1)    # (B, 1 + nr, nv)
    R = np.ones(A.shape[:2])
    C = np.ones((B, nv))
    M = A
    for _ in range(ROUNDS):
        R_new = _clip(R * _inv_sqrt_pow2(_abs_max(M, axis=2)))
        M = A * R_new[:, :, None] * C[:, None, :]
        C_new = _clip(C * _inv_sqrt_pow2(_abs_max(M, axis=1)))
        M = A * R_new[:, :, None] * C_new[:, None, :]
        # A round that changes no factor leaves M as it was, so every later round would do the
        # same: stop (the factors are exactly those of all ROUNDS rounds, in fewer steps).
        stationary = (R_new == R).all() and (C_new == C).all()
        R, C = R_new, C_new
        if stationary:
            break
    gamma = 1.0 / R[:, 0]
    R, M = R[:, 1:], M[:, 1:]
    b = np.concatenate([lp.b_ge, lp.b_eq], axis=1) * R
    # one scalar per LP: it may span the whole float range (a cost difference of 1e-108 is
    # brought to 1 here, where the solvers' absolute tolerances would otherwise swallow it)
    beta = _pow2(_abs_max(b, axis=1), max_exponent=1000)
    b = b / beta[:, None]
    c = lp.c * C / gamma[:, None]
    # the precision of each entry (LPBatch.A_scale) is scaled with the entry
    A_scale = None if lp.A_scale is None else lp.A_scale * R[:, :, None] * C[:, None, :]
    scaled = LPBatch(c=c, A_ge=M[:, :nge], b_ge=b[:, :nge], A_eq=M[:, nge:], b_eq=b[:, nge:], A_scale=A_scale)
    return scaled, Scaling(rows=R, cols=C, beta=beta, gamma=gamma)


def unscale(lp: LPBatch, sol: LPSolution, scaling: Scaling) -> LPSolution:
    """Map a solution of the scaled batch back to the original units (objective recomputed)."""
    nge = lp.A_ge.shape[1]
    with np.errstate(over="ignore"):   # a value beyond the float range becomes inf (lp._settle rejects it)
        x = sol.x * scaling.cols * scaling.beta[:, None]
        y = np.concatenate([sol.y_ge, sol.y_eq], axis=1) * scaling.rows * scaling.gamma[:, None]
    # A Farkas certificate maps back with the row factors alone, its scale being immaterial: the
    # combination A^T y of the original rows is the scaled one divided by the (positive) column
    # factors, and b·y is the scaled one times β, so the signs that make it a certificate carry
    # over. It is brought to largest entry 1 first, so that the row factors cannot overflow it.
    farkas = np.full((lp.size, scaling.rows.shape[1]), np.nan)
    inf = np.flatnonzero(sol.status == "infeasible")
    if len(inf):
        f = np.concatenate([sol.farkas_ge[inf], sol.farkas_eq[inf]], axis=1)
        size = np.abs(f).max(axis=1, initial=0.0)
        ok = np.isfinite(size) & (size > 0)
        f[ok] = f[ok] / size[ok, None]
        farkas[inf] = f * scaling.rows[inf]
    objective = np.where(np.isfinite(x).all(axis=1), np.einsum("bv,bv->b", lp.c, np.nan_to_num(x)), np.nan)
    return LPSolution(status=sol.status, x=x, objective=objective, y_ge=y[:, :nge], y_eq=y[:, nge:],
                      backend=sol.backend, farkas_ge=farkas[:, :nge], farkas_eq=farkas[:, nge:])
