"""One small LP solved exactly, in rational arithmetic: the last resort of the LP layer.

When the floating-point backends cannot vouch for an answer (HiGHS ends with an unknown
status, an optimum fails its check, an infeasibility claim comes without a certificate that
passes), :mod:`contractlab.solvers.lp` settles a small LP here, on its original data: every
float is a rational number, so the LP is an exact instance.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np


@dataclass(frozen=True)
class ExactLP:
    """The exact answer of :func:`exact_lp`: status and, as Fractions, the optimal vertex ``x`` with
    its dual ``y``, the Farkas certificate of an infeasible LP, or the ray of an unbounded one."""

    status: str
    x: tuple = ()
    y_ge: tuple = ()
    y_eq: tuple = ()
    farkas_ge: tuple = ()
    farkas_eq: tuple = ()
    ray: tuple = ()


def exact_lp(c, A_ge, b_ge, A_eq, b_eq, max_pivots: int | None = None) -> ExactLP | None:
    """Solve one LP of the standard form exactly, in rational arithmetic (``fractions.Fraction``).

    Every float is a rational number, so the LP *is* an exact instance. A two-phase tableau simplex
    with Bland's rule (it cannot cycle) on ``A_ge x − s = b_ge``, ``A_eq x = b_eq``, ``x, s >= 0``, one
    artificial variable per row (rows with a negative right-hand side negated first). Phase 1
    minimises the artificials: a positive optimum makes its dual a Farkas certificate; otherwise
    phase 2 ends at an optimal basis (the dual ``c_B B^{-1}`` read off the artificial columns, which
    hold ``B^{-1}``) or at an unbounded ray. Every answer is then checked exactly (primal and dual
    feasibility and equal objectives; ``y_ge >= 0``, ``A^T y <= 0``, ``b·y > 0``; ``A d >= 0`` (``= 0``),
    ``d >= 0``, ``c·d < 0``). Returns ``None`` if a check fails or after ``max_pivots`` pivots
    (default ``50 ×`` (rows + columns)). Meant for small LPs: the fallback of :func:`_exact_fallback`.
    """
    try:
        fr = [Fraction(float(v)) for v in np.ravel(c)]
        Ag = [[Fraction(float(v)) for v in row] for row in np.asarray(A_ge)]
        Ae = [[Fraction(float(v)) for v in row] for row in np.asarray(A_eq)]
        bg = [Fraction(float(v)) for v in np.ravel(b_ge)]
        be = [Fraction(float(v)) for v in np.ravel(b_eq)]
    except (ValueError, OverflowError):          # NaN or inf in the data
        return None
    cost, nv, nge = fr, len(fr), len(bg)
    A, b, R = Ag + Ae, bg + be, len(bg) + len(be)
    n0 = nv + nge                                # structural columns: x, then the surplus s
    zero, one = Fraction(0), Fraction(1)
    sigma = [1 if b[r] >= 0 else -1 for r in range(R)]
    T = []
    for r in range(R):
        row = [sigma[r] * v for v in A[r]] + [zero] * (nge + R) + [sigma[r] * b[r]]
        if r < nge:
            row[nv + r] = Fraction(-sigma[r])
        row[n0 + r] = one
        T.append(row)
    basis = [n0 + r for r in range(R)]
    limit = max_pivots if max_pivots is not None else 50 * (n0 + 2 * R)
    pivots = 0

    def pivot(r, j):
        p = T[r][j]
        prow = [v / p if v else v for v in T[r]]
        T[r] = prow
        for k in range(R):
            f = T[k][j]
            if k != r and f:
                T[k] = [a - f * q if q else a for a, q in zip(T[k], prow)]
        basis[r] = j

    def reduced(costs, j):
        return costs[j] - sum((costs[basis[r]] * T[r][j] for r in range(R) if costs[basis[r]] and T[r][j]), zero)

    def simplex(costs):
        """Bland's rule from the current (feasible) basis: ``"optimal"``, ``("unbounded", j)`` or None."""
        nonlocal pivots
        while True:
            inbasis = set(basis)
            j = next((j for j in range(n0) if j not in inbasis and reduced(costs, j) < 0), None)
            if j is None:
                return "optimal"
            best = None
            for r in range(R):
                if T[r][j] > 0:
                    key = (T[r][-1] / T[r][j], basis[r])
                    if best is None or key < best[0]:
                        best = (key, r)
            if best is None:
                return ("unbounded", j)
            if pivots >= limit:
                return None
            pivot(best[1], j)
            pivots += 1

    def dual(costs):
        u = [sum((costs[basis[r]] * T[r][n0 + k] for r in range(R) if costs[basis[r]]), zero) for k in range(R)]
        return [sigma[k] * u[k] for k in range(R)]

    def dot(a, x):
        return sum((p * q for p, q in zip(a, x) if p and q), zero)

    phase1 = [zero] * n0 + [one] * R
    if simplex(phase1) != "optimal":
        return None
    if sum((T[r][-1] for r in range(R) if basis[r] >= n0), zero) > 0:
        y = dual(phase1)
        g = [sum((y[r] * A[r][j] for r in range(R)), zero) for j in range(nv)]
        if all(v >= 0 for v in y[:nge]) and all(v <= 0 for v in g) and dot(b, y) > 0:
            return ExactLP("infeasible", farkas_ge=tuple(y[:nge]), farkas_eq=tuple(y[nge:]))
        return None
    for r in range(R):                           # artificials left at level 0: pivot them out
        if basis[r] >= n0:
            j = next((j for j in range(n0) if T[r][j]), None)
            if j is not None:                    # else the row is redundant; its artificial stays at 0
                pivot(r, j)
    phase2 = cost + [zero] * (nge + R)
    end = simplex(phase2)
    if end is None:
        return None
    x = [zero] * n0
    for r in range(R):
        if basis[r] < n0:
            x[basis[r]] = T[r][-1]
    xs = x[:nv]
    if end != "optimal":                         # unbounded: x + t d stays feasible for every t >= 0
        j = end[1]
        d = [zero] * n0
        d[j] = one
        for r in range(R):
            if basis[r] < n0:
                d[basis[r]] = -T[r][j]
        dx = d[:nv]
        if (all(v >= 0 for v in dx) and all(dot(A[r], dx) >= 0 for r in range(nge))
                and all(dot(A[r], dx) == 0 for r in range(nge, R)) and dot(cost, dx) < 0):
            return ExactLP("unbounded", x=tuple(xs), ray=tuple(dx))
        return None
    y = dual(phase2)
    primal = (all(v >= 0 for v in xs) and all(dot(A[r], xs) >= b[r] for r in range(nge))
              and all(dot(A[r], xs) == b[r] for r in range(nge, R)))
    dual_ok = all(v >= 0 for v in y[:nge]) and all(
        cost[j] - sum((y[r] * A[r][j] for r in range(R)), zero) >= 0 for j in range(nv))
    if primal and dual_ok and dot(cost, xs) == dot(b, y):
        return ExactLP("optimal", x=tuple(xs), y_ge=tuple(y[:nge]), y_eq=tuple(y[nge:]))
    return None
