"""MIN-PAY by vertex enumeration: exact, vectorised, for few actions and outcomes.

For action ``i`` of a contract problem with outcome matrix ``F`` (``n`` actions × ``m``
outcomes) and costs ``c``, MIN-PAY (Dütting, Roughgarden and Talgam-Cohen, EC 2019,
Section 2, LP (1); the per-state problem of a principal-agent MDP in Ivanov et al.,
arXiv 2407.18074, Section 3, with ``c = −Q̄(s, ·)``) is

    minimise    F_i · t
    subject to  (F_i − F_k) · t >= c_i − c_k     for every k != i      (IC, weak)
                t >= 0                                                (limited liability)

Why enumeration is exact
------------------------
The feasible set lies in the orthant ``t >= 0`` (it contains no line), and the objective is
bounded below by 0, so if the LP is feasible an optimum is attained at a vertex. A vertex has
``m`` linearly independent active constraints: ``m − k`` of them are ``t_j = 0`` for the
outcomes outside a support ``J`` (``|J| = k``) and ``k`` are IC rows ``R`` (``|R| = k``) whose
``k × k`` block ``(F_i − F_R)[:, J]`` is nonsingular. So every vertex is a *basic solution*
``t_J = A_RJ^{-1} b_R`` for some ``(J, R)`` with ``k <= min(n − 1, m − 1)`` (``k = 0`` is the
zero contract; ``k = m`` is impossible because every row of ``F_i − F_k`` sums to zero). This
module solves every such system for a whole batch of (problem, action) pairs at once,
discards singular and infeasible candidates, and keeps the cheapest feasible one. No
candidate feasible means the LP is infeasible: the action is not implementable.

The number of candidates per pair is :func:`n_candidates` ``= Σ_k C(m, k) C(n − 1, k)``
(15 for 3 actions and 4 outcomes, 69 for 5 and 4). ``method="auto"`` in
:func:`min_pay_batch` uses enumeration when it is at most :data:`MAX_VERTEX_CANDIDATES`
and the batched HiGHS LP otherwise.

Two actions
-----------
For ``n = 2`` there is one IC row ``(F_i − F_k)·t >= d = c_i − c_k``: if ``d <= 0`` the zero
contract is optimal; otherwise the optimum pays only on the outcome with the highest
likelihood ratio ``F_i[j] / F_k[j]`` (cost ``d F_i[j] / (F_i[j] − F_k[j])``, i.e. the lowest
cost per unit of IC slack), ``t_j = d / (F_i[j] − F_k[j])``. No outcome with
``F_i[j] > F_k[j]`` (the rows are equal) and ``d > 0`` means not implementable. With two
outcomes as well, the same arithmetic runs on columns (:func:`_two_outcomes`: comparisons and
``np.where`` instead of ``argmin`` and fancy indexing), which the SPE solver's inner loop uses.

Tolerances
----------
:data:`PROB_DIFF_TOL`, :data:`FEASIBILITY_TOL`, :data:`SINGULAR_TOL` and :data:`PAYMENT_TIE_TOL`
(below); the last three are the defaults of the keyword arguments of the same names in lower
case. Agreement with the HiGHS LP (relative ``1e-9`` on optimal payments, identical
implementability) is tested in ``tests/test_min_pay_vertex.py``, on random problems with
zero probabilities, duplicated actions, identical outcomes and tied costs.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations, product
from math import comb

import numpy as np

from ..theory.errors import InvalidInstanceError
from ..theory.validation import PROB_SUM_TOL

#: A candidate contract is feasible when every IC row and every payment is violated by at most
#: this, times ``max(1, max|c_i − c_k|, Σ_j |t_j|)`` of its pair (the rows of ``F_i − F_k``
#: have entries in ``[−1, 1]``, so ``Σ|t|`` bounds ``|(F_i − F_k)·t|``). Default ``1e-10``, the
#: solver tolerance of the LP layer (:data:`contractlab.solvers.lp.SOLVER_TOL`).
FEASIBILITY_TOL = 1e-10

#: Entries of ``F_i − F_k`` with ``|F_i[j] − F_k[j]| <= PROB_DIFF_TOL`` are set to 0 before anything
#: else: they are taken as round-off of (equal) probabilities (``0.9999999999999999`` against
#: ``1.0``), and :func:`solve_min_pay_lp` zeroes the same entries, so both methods read the same
#: IC rows. An outcome whose probability moves by at most this between two actions cannot carry
#: an incentive (it would need payments above ``1e9`` per unit of cost). This is a modelling rule
#: of the SPE solver; the one-shot :func:`~contractlab.solvers.min_pay.min_pay` solves the data
#: exactly as given (its LPs are equilibrated, so such rows are not lost). Default ``1e-9``.
PROB_DIFF_TOL = 1e-9

#: A basis block ``A_RJ`` counts as singular (the candidate is discarded) when
#: ``|det A_RJ| <= SINGULAR_TOL * Σ_pq |adj(A_RJ)_pq|``, i.e. when the entries of its inverse
#: add up to ``1/SINGULAR_TOL`` or more: a vertex that needs payments above ``1e9`` per unit of
#: cost difference. A test relative to the row norms is not enough: the rows of ``F_i − F_k``
#: are differences of probabilities with round-off of order ``1e-16``, so a mathematically
#: singular block (e.g. two rows that are both multiples of ``e_1 − e_2``) shows a determinant
#: of order ``1e-17``, tiny in absolute terms but not relative to a small row. For ``k = 1``
#: (and the two-action closed form) this reads ``|F_i[j] − F_k[j]| <= SINGULAR_TOL``, the same
#: threshold as :data:`PROB_DIFF_TOL`. Default ``1e-9``.
SINGULAR_TOL = 1e-9

#: Among candidates whose payments agree within this (relative to ``max(1, payment)``), the one
#: found first is kept: the sparsest (fewest paid outcomes), then the lowest outcome indices,
#: then the lowest IC rows. This makes the returned contract deterministic on degenerate
#: problems (ties between vertices). Default ``1e-12``.
PAYMENT_TIE_TOL = 1e-12

#: ``method="auto"`` enumerates vertices when :func:`n_candidates` ``(n, m)`` is at most this,
#: and solves the batched HiGHS LP otherwise. Bases of size ``k <= 3`` are solved in closed
#: form, larger ones by batched ``numpy.linalg.inv`` (slower), so the cost per candidate grows
#: with ``k``. ``python benchmarks/spe.py --crossover`` measures µs per (problem, action) pair
#: for both methods; on the development machine (2026-11-22, recorded in docs/performance.md)
#: enumeration was 4-40x faster up to 153 candidates, about even at 210 (5 actions × 6
#: outcomes) and 3x slower at 462 (6 × 6).
MAX_VERTEX_CANDIDATES = 200

#: ``method="vertex"`` refuses problems with more candidates than this (the work is
#: proportional to the number of candidates; use the LP).
VERTEX_HARD_LIMIT = 100_000

#: Work arrays are processed in chunks of pairs so that ``chunk × candidates × max(n, m)`` stays
#: below this many float64 entries (32 MiB).
CHUNK_ENTRIES = 1 << 18

METHODS = ("auto", "vertex", "lp")

#: Names of the codes in :attr:`MinPayArrays.status_code`.
STATUS_NAMES = ("optimal", "infeasible", "unbounded", "error", "inaccurate", "disagreement")


@dataclass(frozen=True, eq=False)
class MinPayArrays:
    """MIN-PAY solutions of a batch of ``B`` (problem, action) pairs (read-only arrays).

    Attributes
    ----------
    contract:
        ``(B, m)``: the min-pay contract ``t >= 0``; rows of non-implementable pairs are NaN
        (as ``LPSolution.x``).
    expected_payment:
        ``(B,)``: ``F_i · t``; ``inf`` where the action is not implementable (as
        :class:`~contractlab.solvers.min_pay.MinPayResult`).
    implementable:
        ``(B,)`` bool.
    status_code:
        ``(B,)`` int8 index into :data:`STATUS_NAMES`: 0 ``"optimal"``, 1 ``"infeasible"``; the LP
        path may also report 2 ``"unbounded"``, 3 ``"error"`` (any other solver status),
        4 ``"inaccurate"`` (the reported optimum failed its KKT check) or 5 ``"disagreement"``
        (``backend="both"``: HiGHS and cvxpy differ); such a pair is not marked implementable. The property ``status`` gives the names (an array
        of strings, as ``LPSolution.status``); codes are kept because a million strings cost
        more than the enumeration itself.
    ic_slacks:
        ``(B, n)``: ``(F_i·t − c_i) − (F_k·t − c_k)`` for every action ``k``, on the data as
        given (``>= −tol`` at a feasible contract, 0 at ``k = i``); NaN rows where not
        implementable.
    method:
        ``"vertex"`` or ``"lp"``: what solved the batch.
    """

    contract: np.ndarray
    expected_payment: np.ndarray
    implementable: np.ndarray
    status_code: np.ndarray
    ic_slacks: np.ndarray
    method: str

    @property
    def status(self) -> np.ndarray:
        """The status names (``STATUS_NAMES[status_code]``), built on demand."""
        return np.asarray(STATUS_NAMES, dtype=object)[self.status_code]


def max_support(n: int, m: int) -> int:
    """Largest basis size enumerated: ``min(n − 1, m − 1)``.

    Every row of ``F_i − F_k`` sums to 0 (both are distributions), so a block on all ``m``
    outcomes has ``A_RJ · 1 = 0`` and is singular: no vertex pays on every outcome.
    """
    return max(0, min(n - 1, m - 1))


def n_candidates(n: int, m: int) -> int:
    """Basic solutions per (problem, action): ``Σ_{k=0}^{min(n−1, m−1)} C(m, k) C(n − 1, k)``."""
    return sum(comb(m, k) * comb(n - 1, k) for k in range(max_support(n, m) + 1))


def choose_method(n: int, m: int, method: str = "auto") -> str:
    """Resolve ``method`` (``"auto" | "vertex" | "lp"``) for problems with ``n`` actions, ``m`` outcomes."""
    if method not in METHODS:
        raise InvalidInstanceError("method", f"unknown method {method!r} (choose one of {', '.join(METHODS)})")
    if method == "auto":
        return "vertex" if n_candidates(n, m) <= MAX_VERTEX_CANDIDATES else "lp"
    if method == "vertex" and n_candidates(n, m) > VERTEX_HARD_LIMIT:
        raise InvalidInstanceError("method", f"vertex enumeration with {n} actions and {m} outcomes has "
                                   f"{n_candidates(n, m)} candidates per pair (limit {VERTEX_HARD_LIMIT}); "
                                   "use method='lp'")
    return method


# --------------------------------------------------------------------------- input

def _check_inputs(F, c, actions, problems):
    F = np.asarray(F, dtype=np.float64)
    c = np.asarray(c, dtype=np.float64)
    if F.ndim != 3 or F.shape[1] < 1 or F.shape[2] < 1:
        raise InvalidInstanceError("F", f"expected shape (problems, actions, outcomes), got {F.shape}")
    P, n, m = F.shape
    if c.shape != (P, n):
        raise InvalidInstanceError("c", f"has shape {c.shape}, expected (problems, actions) = {(P, n)}")
    for name, arr in (("F", F), ("c", c)):
        bad = np.argwhere(~np.isfinite(arr))
        if bad.size:
            raise InvalidInstanceError(name, "value is not finite", tuple(int(i) for i in bad[0]))
    bad = np.argwhere(F < 0)
    if bad.size:
        raise InvalidInstanceError("F", "probability is negative", tuple(int(i) for i in bad[0]))
    bad = np.argwhere(np.abs(F.sum(axis=2) - 1.0) > PROB_SUM_TOL)
    if bad.size:
        # the enumeration relies on rows of F_i − F_k summing to 0 (see max_support)
        raise InvalidInstanceError("F", f"row sums to {float(F[tuple(bad[0])].sum())!r}, not 1",
                                   tuple(int(i) for i in bad[0]))
    actions = np.asarray(actions)
    if actions.ndim != 1 or (actions.size and actions.dtype.kind not in "iu"):
        raise InvalidInstanceError("actions", f"expected a 1-d integer array, got {actions.dtype} {actions.shape}")
    actions = actions.astype(np.int64, copy=False)
    bad = np.flatnonzero((actions < 0) | (actions >= n))
    if bad.size:
        raise InvalidInstanceError("actions", f"action {int(actions[bad[0]])} is out of range [0, {n})", int(bad[0]))
    if problems is None:
        if len(actions) != P:
            raise InvalidInstanceError("actions", f"has length {len(actions)}, expected one per problem ({P}) "
                                       "or give `problems`")
        problems = np.arange(P)
    else:
        problems = np.asarray(problems)
        if problems.shape != actions.shape or (problems.size and problems.dtype.kind not in "iu"):
            raise InvalidInstanceError("problems", f"expected integers of shape {actions.shape}")
        problems = problems.astype(np.int64, copy=False)
        bad = np.flatnonzero((problems < 0) | (problems >= P))
        if bad.size:
            raise InvalidInstanceError("problems", f"problem {int(problems[bad[0]])} is out of range [0, {P})",
                                       int(bad[0]))
    return F, c, actions, problems


def _ic_system(F, c, actions, problems):
    """The IC system with the pairs on the LAST axis (every elementwise operation below then runs
    over long contiguous rows): ``Fi (m, B)``, ``A (n−1, m, B)`` with rows ``F_i − F_k`` for
    ``k != i`` ascending and entries up to :data:`PROB_DIFF_TOL` set to 0, ``b (n−1, B)`` with
    ``c_i − c_k``, and ``A_raw``: ``A`` before that (for the reported IC slacks)."""
    n = F.shape[1]
    Fi = F[problems, actions]                                              # (B, m)
    ci = c[problems, actions]
    A = np.empty((n - 1, F.shape[2], len(actions)))
    b = np.empty((n - 1, len(actions)))
    for r in range(n - 1):
        k = r + (r >= actions)                                             # the r-th action != i
        A[r] = (Fi - F[problems, k]).T
        b[r] = ci - c[problems, k]
    A_raw = A.copy()
    A *= np.abs(A) > PROB_DIFF_TOL
    return np.ascontiguousarray(Fi.T), A, b, A_raw


# --------------------------------------------------------------------------- two actions

def _two_actions(Fi, a, d, feasibility_tol, singular_tol):
    """Closed form for ``n = 2`` (pairs first): ``Fi (B, m)``, ``a = F_i − F_k (B, m)``,
    ``d = c_i − c_k (B,)``; returns ``(t (B, m), payment (B,), implementable (B,))``.

    Pays ``d / (F_i[j] − F_k[j])`` on the outcome ``j`` of lowest ``F_i[j] / (F_i[j] − F_k[j])``
    (highest likelihood ratio ``F_i[j] / F_k[j]``; ties within :data:`PAYMENT_TIE_TOL`, relative, to
    the lowest ``j``), nothing if ``d <= 0``
    (within ``feasibility_tol``). Outcomes with ``F_i[j] − F_k[j] <= singular_tol`` are not used.
    Written without data-dependent branches (``np.where`` / boolean indexing on random masks
    cost several times more than arithmetic on a million pairs). Two outcomes go through
    :func:`_two_outcomes`, which does the same arithmetic on columns.
    """
    B, m = Fi.shape
    if m == 2:
        second, value, pay, ok = _two_outcomes(Fi[:, 0], Fi[:, 1], a[:, 0], a[:, 1], d, feasibility_tol,
                                               singular_tol)
        t = np.empty((B, 2))
        t[:, 0] = np.where(second, 0.0, value)
        t[:, 1] = np.where(second, value, 0.0)
        return t, pay, ok
    rows = np.arange(B)
    free = d <= feasibility_tol * np.maximum(1.0, np.abs(d))
    den = np.abs(a) * (a > singular_tol)                # +0.0 (never -0.0) where unusable
    with np.errstate(divide="ignore", invalid="ignore"):
        unit = Fi / den                                 # cost per unit of IC slack; inf (or nan) if unusable
    np.nan_to_num(unit, copy=False, nan=np.inf, posinf=np.inf)
    # the first outcome whose cost is within the tie tolerance of the cheapest (exact ties can
    # differ by an ulp in floats, and then argmin alone would not take the lowest j)
    umin = unit.min(axis=1)
    j = np.argmax(unit <= (umin * (1.0 + PAYMENT_TIE_TOL) + PAYMENT_TIE_TOL)[:, None], axis=1)
    ok = free | (unit[rows, j] < np.inf)
    pay_on = ok & ~free
    value = (d * pay_on) / (den[rows, j] + ~pay_on)     # d / (F_i[j] − F_k[j]) where paying, else 0
    t = np.zeros((B, m))
    t[rows, j] = value
    return t, value * Fi[rows, j], ok


def _two_outcomes(F0, F1, a0, a1, d, feasibility_tol, singular_tol, shared=None):
    """:func:`_two_actions` for two outcomes, on columns (arrays ``(B,)``): ``F_i[0]``, ``F_i[1]``,
    ``a_0, a_1`` of ``F_i − F_k`` and ``d = c_i − c_k``. Returns ``(second, value, payment,
    implementable)``: the contract pays ``value`` on outcome 1 where ``second``, else on outcome 0
    (``value`` is 0 where nothing is paid), and ``payment = F_i · t`` (not yet ``inf`` where not
    implementable).

    The same floating-point operations as the general case, arranged for speed: the choice between
    two columns is a comparison (ties within :data:`PAYMENT_TIE_TOL` to outcome 0), ``fmin(x, inf)`` replaces the NaN of ``0/0``
    by ``inf`` exactly (the only NaN: ``F_i >= 0`` and the denominator is ``>= +0.0``, so there is
    no ``−inf`` either), the smaller of the two costs is finite exactly when the chosen one is,
    and ``implementable & ~free`` is ``finite & ~free``. ``shared`` optionally gives
    ``(|a_0|, |a_1|, a_0 > singular_tol, a_1 > singular_tol, feasibility_tol · max(1, |d|))``,
    which the two actions of a problem have in common (see :func:`_two_by_two`); ``a_0`` and
    ``a_1`` are not read then.
    """
    if shared is None:
        shared = (np.abs(a0), np.abs(a1), a0 > singular_tol, a1 > singular_tol,
                  feasibility_tol * np.maximum(1.0, np.abs(d)))
    abs0, abs1, use0, use1, scale = shared
    free = d <= scale
    den0 = abs0 * use0                                  # +0.0 (never -0.0) where unusable
    den1 = abs1 * use1
    with np.errstate(divide="ignore", invalid="ignore"):
        unit0 = np.fmin(F0 / den0, np.inf)              # cost per unit of IC slack; inf if unusable
        unit1 = np.fmin(F1 / den1, np.inf)
    second = unit1 * (1.0 + PAYMENT_TIE_TOL) + PAYMENT_TIE_TOL < unit0   # outcome 1 only if clearly cheaper
    finite = np.minimum(unit0, unit1) < np.inf
    pay_on = finite & ~free
    value = (d * pay_on) / (np.where(second, den1, den0) + ~pay_on)   # d / (F_i[j] − F_k[j]) where paying
    return second, value, value * np.where(second, F1, F0), free | finite


def _two_by_two(F00, F01, F10, F11, d, feasibility_tol=FEASIBILITY_TOL, singular_tol=SINGULAR_TOL):
    """Both actions of two-action, two-outcome problems on columns (``F_ik = F[:, i, k]``,
    ``d = c_0 − c_1``): ``(_two_outcomes of action 0, _two_outcomes of action 1)``, with the IC
    row ``F_0 − F_1`` rounded as in :func:`_ic_system` (entries up to :data:`PROB_DIFF_TOL` are 0).

    Action 1 has the row ``−a`` and ``−d``: ``|−a| = |a|``, ``|−d| = |d|`` and ``−a > tol`` is
    ``a < −tol`` exactly, so these are computed once."""
    a_raw0 = F00 - F10
    a_raw1 = F01 - F11
    a0 = a_raw0 * (np.abs(a_raw0) > PROB_DIFF_TOL)
    a1 = a_raw1 * (np.abs(a_raw1) > PROB_DIFF_TOL)
    abs0, abs1 = np.abs(a0), np.abs(a1)
    scale = feasibility_tol * np.maximum(1.0, np.abs(d))
    return (_two_outcomes(F00, F01, a0, a1, d, feasibility_tol, singular_tol,
                          (abs0, abs1, a0 > singular_tol, a1 > singular_tol, scale)),
            _two_outcomes(F10, F11, None, None, -d, feasibility_tol, singular_tol,
                          (abs0, abs1, a0 < -singular_tol, a1 < -singular_tol, scale)))


def _two_action_problems(F, c, feasibility_tol=FEASIBILITY_TOL, singular_tol=SINGULAR_TOL):
    """MIN-PAY of both actions of ``P`` two-action problems (validated ``F (P, 2, m)``, ``c (P, 2)``)
    by :func:`_two_actions`: ``(t (P, 2, m), payment (P, 2), implementable (P, 2), a_raw, d)`` with
    ``a_raw = F_0 − F_1`` and ``d = c_0 − c_1`` (for the IC slacks). Rows that are not implementable
    are NOT yet marked (see :func:`_package`)."""
    P, _, m = F.shape
    a_raw = F[:, 0] - F[:, 1]
    a = a_raw * (np.abs(a_raw) > PROB_DIFF_TOL)
    d = c[:, 0] - c[:, 1]
    t = np.empty((P, 2, m))
    pay = np.empty((P, 2))
    ok = np.empty((P, 2), dtype=bool)
    t[:, 0], pay[:, 0], ok[:, 0] = _two_actions(F[:, 0], a, d, feasibility_tol, singular_tol)
    t[:, 1], pay[:, 1], ok[:, 1] = _two_actions(F[:, 1], -a, -d, feasibility_tol, singular_tol)
    return t, pay, ok, a_raw, d


def two_action_min_pay(F, c) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MIN-PAY of both actions of two-action problems, for callers with validated arrays that need
    no IC slacks (the SPE solver's inner loop): ``(contract (P, 2, m), payment (P, 2),
    implementable (P, 2))``, with NaN contracts and infinite payments where not implementable,
    the same values as :func:`min_pay_all_actions` (``method="vertex"``)."""
    t, pay, ok, _, _ = _two_action_problems(F, c)
    bad = ~ok
    np.copyto(t, np.nan, where=bad[:, :, None])
    np.copyto(pay, np.inf, where=bad)
    return t, pay, ok


# --------------------------------------------------------------------------- enumeration

def _bases(n: int, m: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """All ``(J, R)`` of size ``k``: outcome supports ``J`` (outer, lexicographic) × IC rows ``R``."""
    pairs = list(product(combinations(range(m), k), combinations(range(n - 1), k)))
    J = np.array([p[0] for p in pairs], dtype=np.int64).reshape(len(pairs), k)
    R = np.array([p[1] for p in pairs], dtype=np.int64).reshape(len(pairs), k)
    return J, R


def _solve_small(M: np.ndarray, rhs: np.ndarray, singular_tol: float) -> tuple[np.ndarray, np.ndarray]:
    """Solve ``M x = rhs`` for ``M (C, k, k, B)``, ``rhs (C, k, B)``; returns ``(x (C, k, B), nonsingular (C, B))``.

    ``k <= 3`` in closed form (Cramer's rule with cofactors: elementwise over the stacks),
    larger ``k`` by batched ``numpy.linalg.inv`` (one LAPACK call per block: slower) after
    replacing exactly singular blocks by the identity. A block is singular when
    ``|det| <= singular_tol * Σ|adj|`` (see :data:`SINGULAR_TOL`).
    """
    k = M.shape[1]
    if k <= 3:
        cof = _cofactors(M)                                                # cof[i][j]: (C, B)
        det = sum(M[:, 0, j] * cof[0][j] for j in range(k))
        adj_sum = sum(np.abs(cof[i][j]) for i in range(k) for j in range(k))
        ok = np.abs(det) > singular_tol * adj_sum
        safe = det + ~ok                                                   # 1 added where singular
        # Cramer: x_i = Σ_p adj[i, p] rhs_p / det with adj = cofᵀ
        x = np.stack([sum(cof[p][i] * rhs[:, p] for p in range(k)) / safe for i in range(k)], axis=1)
        return x, ok
    Mk = np.moveaxis(M, -1, 1)                                             # (C, B, k, k)
    det = np.linalg.det(Mk)
    nonzero = det != 0
    inv = np.linalg.inv(np.where(nonzero[..., None, None], Mk, np.eye(k)))
    ok = nonzero & (np.abs(inv).sum(axis=(2, 3)) < 1.0 / singular_tol)
    x = np.einsum("cbij,cjb->cib", inv, rhs)
    return x, ok


def _cofactors(M: np.ndarray) -> list:
    """Cofactors ``cof[i][j]`` (each ``(C, B)``) of the blocks ``M (C, k, k, B)`` for ``k <= 3``."""
    k = M.shape[1]
    m = [[M[:, i, j] for j in range(k)] for i in range(k)]
    if k == 1:
        return [[np.ones_like(m[0][0])]]
    if k == 2:
        return [[m[1][1], -m[1][0]], [-m[0][1], m[0][0]]]
    cof = [[None] * 3 for _ in range(3)]
    for i in range(3):
        for j in range(3):
            r0, r1 = [r for r in range(3) if r != i]
            c0, c1 = [c for c in range(3) if c != j]
            minor = m[r0][c0] * m[r1][c1] - m[r0][c1] * m[r1][c0]
            cof[i][j] = minor if (i + j) % 2 == 0 else -minor
    return cof


def _enumerate(Fi, A, b, feasibility_tol, singular_tol, tie_tol):
    """Cheapest feasible basic solution per pair (pairs last): ``(t (m, B), payment (B,), found (B,))``.

    Loops run over the basis size ``k``, the IC rows and the basis columns (all at most
    ``max(n, m)``); every operation inside is over ``(candidates, pairs)`` arrays.
    """
    r, m, B = A.shape
    scale_b = np.maximum(1.0, np.abs(b).max(axis=0, initial=0.0))          # (B,)
    # k = 0: the zero contract
    found = (b <= feasibility_tol * scale_b).all(axis=0)
    best_pay = np.where(found, 0.0, np.inf)
    best_t = np.zeros((m, B))
    cols = np.arange(B)
    for k in range(1, max_support(r + 1, m) + 1):
        J, R = _bases(r + 1, m, k)
        M = A[R[:, :, None], J[:, None, :]]                                # (C, k, k, B)
        tJ, ok = _solve_small(M, b[R], singular_tol)                       # (C, k, B), (C, B)
        lim = -feasibility_tol * np.maximum(scale_b, np.abs(tJ).sum(axis=1))  # (C, B)
        feasible = ok
        for q in range(k):
            feasible &= tJ[:, q] >= lim
        for row in range(r):                                               # IC slack of every row
            slack = -b[row] + A[row, J[:, 0]] * tJ[:, 0]
            for q in range(1, k):
                slack += A[row, J[:, q]] * tJ[:, q]
            feasible &= slack >= lim
        np.maximum(tJ, 0.0, out=tJ)                                        # round-off below 0
        pay = Fi[J[:, 0]] * tJ[:, 0]
        for q in range(1, k):
            pay += Fi[J[:, q]] * tJ[:, q]
        pay[~feasible] = np.inf
        pmin = pay.min(axis=0)                                             # first of equal payments:
        c = np.argmax(pay <= pmin + payment_tie_scale(pmin, np.isfinite(pmin), tie_tol), axis=0)
        pay_k = pay[c, cols]
        finite = np.isfinite(pay_k)
        better = finite & (pay_k < best_pay - payment_tie_scale(pay_k, finite, tie_tol))
        if better.any():
            w = cols[better]
            cw = c[w]
            best_pay[w] = pay_k[w]
            best_t[:, w] = 0.0
            for q in range(k):
                best_t[J[cw, q], w] = tJ[cw, q, w]
            found[w] = True
    return best_t, best_pay, found


def payment_tie_scale(pay, finite, tie_tol):
    """``tie_tol * max(1, |pay|)`` where ``pay`` is finite, 0 elsewhere."""
    return tie_tol * np.maximum(1.0, np.abs(np.where(finite, pay, 0.0)))


def _chunk_size(n: int, m: int) -> int:
    per_pair = max(max(comb(m, k) * comb(n - 1, k) for k in range(max_support(n, m) + 1)) * max(n, m), 1)
    return max(1, CHUNK_ENTRIES // per_pair)


def solve_min_pay_vertex(F, c, actions, *, problems=None, feasibility_tol: float = FEASIBILITY_TOL,
                         singular_tol: float = SINGULAR_TOL, payment_tie_tol: float = PAYMENT_TIE_TOL
                         ) -> MinPayArrays:
    """Exact MIN-PAY for many (problem, action) pairs by enumerating basic solutions.

    Parameters
    ----------
    F:
        ``(P, n, m)`` outcome distributions.
    c:
        ``(P, n)`` costs (in a principal-agent MDP: ``−Q̄(s, ·)``).
    actions:
        ``(B,)`` the action to implement in each pair.
    problems:
        ``(B,)`` the problem of each pair (default: ``arange(P)``, one action per problem).
    feasibility_tol, singular_tol, payment_tie_tol:
        See :data:`FEASIBILITY_TOL`, :data:`SINGULAR_TOL`, :data:`PAYMENT_TIE_TOL`.

    Returns
    -------
    MinPayArrays
        With ``method="vertex"``. Pairs are processed in chunks (see :data:`CHUNK_ENTRIES`);
        there is no Python loop over pairs, only over the basis sizes ``k``.
    """
    F, c, actions, problems = _check_inputs(F, c, actions, problems)
    return _vertex(F, c, actions, problems, feasibility_tol, singular_tol, payment_tie_tol)


def _vertex(F, c, actions, problems, feasibility_tol, singular_tol, payment_tie_tol) -> MinPayArrays:
    """:func:`solve_min_pay_vertex` on validated arrays."""
    _, n, m = F.shape
    B = len(actions)
    t = np.zeros((B, m))
    pay = np.zeros(B)
    ok = np.ones(B, dtype=bool)
    slacks = np.zeros((B, n))
    if n > 1 and B:
        step = _chunk_size(n, m)
        for lo in range(0, B, step):
            sl = slice(lo, min(B, lo + step))
            Fi, A, b, A_raw = _ic_system(F, c, actions[sl], problems[sl])
            if n == 2:
                t[sl], pay[sl], ok[sl] = _two_actions(Fi.T, A[0].T, b[0], feasibility_tol, singular_tol)
                tT = t[sl].T
            else:
                tT, pay[sl], ok[sl] = _enumerate(Fi, A, b, feasibility_tol, singular_tol, payment_tie_tol)
                t[sl] = tT.T
            _fill_slacks(slacks[sl], A_raw, b, tT, actions[sl])
    return _package(t, pay, ok, slacks, _status(ok), "vertex")


def _fill_slacks(out: np.ndarray, A: np.ndarray, b: np.ndarray, tT: np.ndarray, actions: np.ndarray) -> None:
    """``out[:, k] = (F_i − F_k)·t − (c_i − c_k)`` for ``k != i`` (``out[:, i]`` stays 0)."""
    cols = np.arange(len(actions))
    for r in range(A.shape[0]):
        out[cols, r + (r >= actions)] = np.einsum("jb,jb->b", A[r], tT) - b[r]


def _status(ok: np.ndarray) -> np.ndarray:
    """Status codes: 0 (optimal) where ``ok``, else 1 (infeasible)."""
    return (~ok).view(np.int8).copy()


def _package(t, pay, ok, slacks, status, method) -> MinPayArrays:
    """Mark non-implementable rows (NaN contract and slacks, infinite payment); make read-only."""
    bad = ~ok
    if bad.any():
        t[bad] = np.nan
        pay[bad] = np.inf
        slacks[bad] = np.nan
    for arr in (t, pay, ok, status, slacks):
        arr.setflags(write=False)
    return MinPayArrays(t, pay, ok, status, slacks, method)


def solve_min_pay_lp(F, c, actions, *, problems=None, backend: str = "highs", batched: bool = True) -> MinPayArrays:
    """The same arrays from the batched MIN-PAY LP (:func:`~contractlab.solvers.min_pay.solve_min_pay_arrays`).

    The contract is clipped at 0 (solver round-off below zero, limited liability) and the
    payment recomputed as ``F_i · t``.
    """
    from .min_pay import solve_min_pay_arrays
    F, c, actions, problems = _check_inputs(F, c, actions, problems)
    B = len(actions)
    _, sol = solve_min_pay_arrays(F[problems], c[problems], actions, backend=backend, batched=batched,
                                  prob_diff_tol=PROB_DIFF_TOL)
    names = np.asarray(sol.status, dtype=object)
    status = np.full(B, STATUS_NAMES.index("error"), dtype=np.int8)
    for code, name in enumerate(STATUS_NAMES):
        status[names == name] = code
    ok = status == 0
    t = np.clip(np.nan_to_num(sol.x, nan=0.0), 0.0, None)
    Fp = F[problems]
    pay = np.einsum("bm,bm->b", Fp[np.arange(B), actions], t)
    util = np.einsum("bkm,bm->bk", Fp, t) - c[problems]
    slacks = util[np.arange(B), actions][:, None] - util
    return _package(t, pay, ok, slacks, status, "lp")


def min_pay_all_actions(F, c, *, method: str = "auto", backend: str = "highs",
                        feasibility_tol: float = FEASIBILITY_TOL, singular_tol: float = SINGULAR_TOL,
                        payment_tie_tol: float = PAYMENT_TIE_TOL) -> MinPayArrays:
    """MIN-PAY for EVERY action of every problem: arrays shaped ``(P, n, ...)``.

    ``contract (P, n, m)``, ``expected_payment (P, n)``, ``implementable (P, n)``,
    ``status (P, n)``, ``ic_slacks (P, n, n)``. This is the per-state step of subgame-perfect
    backward induction (:mod:`contractlab.solvers.spe`). With two actions and the vertex
    method the closed form runs directly on the ``(P, 2, m)`` array, without building the
    ``2P`` pairs.
    """
    F, c, _, _ = _check_inputs(F, c, np.zeros(np.shape(F)[0], dtype=np.int64), None)
    chosen = choose_method(F.shape[1], F.shape[2], method)
    return _all_actions(F, c, chosen, backend, feasibility_tol, singular_tol, payment_tie_tol)


def _all_actions(F, c, chosen, backend, feasibility_tol=FEASIBILITY_TOL, singular_tol=SINGULAR_TOL,
                 payment_tie_tol=PAYMENT_TIE_TOL) -> MinPayArrays:
    """:func:`min_pay_all_actions` on validated float arrays with ``chosen`` in ``("vertex", "lp")``."""
    P, n, m = F.shape
    if chosen == "vertex" and n == 2:
        t, pay, ok, a_raw, d = _two_action_problems(F, c, feasibility_tol, singular_tol)
        slacks = np.zeros((P, 2, 2))
        slacks[:, 0, 1] = np.einsum("pm,pm->p", a_raw, t[:, 0]) - d
        slacks[:, 1, 0] = d - np.einsum("pm,pm->p", a_raw, t[:, 1])
        return _package(t, pay, ok, slacks, _status(ok), "vertex")
    actions = np.tile(np.arange(n), P)
    problems = np.repeat(np.arange(P), n)
    if chosen == "vertex":
        res = _vertex(F, c, actions, problems, feasibility_tol, singular_tol, payment_tie_tol)
    else:
        res = solve_min_pay_lp(F, c, actions, problems=problems, backend=backend)
    return MinPayArrays(res.contract.reshape(P, n, m), res.expected_payment.reshape(P, n),
                        res.implementable.reshape(P, n), res.status_code.reshape(P, n),
                        res.ic_slacks.reshape(P, n, n), res.method)


def min_pay_batch(F, c, actions, *, problems=None, method: str = "auto", backend: str = "highs") -> MinPayArrays:
    """MIN-PAY for a batch of (problem, action) pairs by vertex enumeration or the batched LP.

    ``method="auto"`` enumerates vertices when ``n_candidates(n, m) <= MAX_VERTEX_CANDIDATES``
    (:data:`MAX_VERTEX_CANDIDATES` = 200), else solves the batched LP with ``backend``.
    """
    F = np.asarray(F)
    if F.ndim != 3:
        raise InvalidInstanceError("F", f"expected shape (problems, actions, outcomes), got {F.shape}")
    chosen = choose_method(F.shape[1], F.shape[2], method)
    if chosen == "vertex":
        return solve_min_pay_vertex(F, c, actions, problems=problems)
    return solve_min_pay_lp(F, c, actions, problems=problems, backend=backend)
