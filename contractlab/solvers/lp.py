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

What a verdict means
--------------------
``"optimal"``: the point passed the KKT check of :func:`verify_solution` and every row on the
original data (:func:`row_violations`). ``"infeasible"``: a Farkas certificate ``y``
(``LPSolution.farkas_ge`` / ``farkas_eq``) passed :func:`farkas_certified` -- it proves the LP
infeasible once each matrix entry is moved by at most the precision of the data it was computed
from (:data:`DATA_TOL`, 16 ulps; :attr:`LPBatch.A_scale`), so that a point meeting the rows as
given has to be of order ``1 / DATA_TOL`` -- or was found by the exact simplex in rational
arithmetic. Every infeasibility claim is checked so, whichever backend made it (HiGHS' dual
ray, the duals of its phase 1, Clarabel's certificate). Whatever a backend could not back
(``"error"``, an optimum that fails its check, a claim without a valid certificate) is settled
by :func:`_solve_one_backend`: phase 1, whose dual is a Farkas certificate, then, for a small
LP, the exact simplex :func:`exact_lp` on the LP's rational data (every float is a rational
number). It also checks the rare *fragile* optimum (:func:`fragile_optima`), one that meets its
rows only through the last digits of the data: MIN-PAY on rows of ``F`` that sum to 1 only up
to an ulp can have such "contracts" paying ``~1e15`` where the intended LP is infeasible. Only
what none of this settles keeps ``"error"`` or becomes ``"inaccurate"``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from fractions import Fraction

import numpy as np

from .exact_lp import ExactLP, exact_lp  # noqa: F401  (re-exported; called through this module)

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
    #: (B, n_ge + n_eq, nv) or None: the magnitude of the data each matrix entry was computed
    #: from (rows ``>=`` then ``=``; at least ``|A|``), e.g. ``|F_i| + |F_k|`` for the IC row
    #: ``F_i − F_k`` of MIN-PAY, whose entries can be far smaller than the probabilities they are
    #: the difference of. An entry is taken as known to :data:`DATA_TOL` times this
    #: (:func:`farkas_certified`); None: to ``DATA_TOL`` times itself.
    A_scale: np.ndarray | None = None

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
        return LPBatch(self.c[idx], self.A_ge[idx], self.b_ge[idx], self.A_eq[idx], self.b_eq[idx],
                       None if self.A_scale is None else self.A_scale[idx])

    def data_scale(self) -> np.ndarray:
        """:attr:`A_scale`, or ``|[A_ge; A_eq]|`` when it is not given (B, n_ge + n_eq, nv)."""
        if self.A_scale is not None:
            return self.A_scale
        return np.abs(np.concatenate([self.A_ge, self.A_eq], axis=1) if self.A_eq.shape[1] else self.A_ge)


@dataclass(frozen=True, eq=False)
class LPSolution:
    """Solutions of a batch: one row per LP. Entries of non-optimal LPs are NaN.

    ``farkas_ge``, ``farkas_eq`` hold the Farkas certificate of an ``"infeasible"`` LP (``y_ge >= 0``,
    ``A_ge^T y_ge + A_eq^T y_eq <= 0`` up to the precision of the data, ``b·y > 0``: see
    :func:`farkas_certified`); NaN elsewhere (and when not given, ``None``, they are filled with NaN).
    """

    status: np.ndarray       # (B,) of str: "optimal" | "infeasible" | "unbounded" | "error"
    x: np.ndarray            # (B, nv)
    objective: np.ndarray    # (B,)
    y_ge: np.ndarray         # (B, n_ge), >= 0
    y_eq: np.ndarray         # (B, n_eq)
    backend: str
    farkas_ge: np.ndarray | None = None   # (B, n_ge), >= 0
    farkas_eq: np.ndarray | None = None   # (B, n_eq)

    def __post_init__(self):
        if self.farkas_ge is None:
            object.__setattr__(self, "farkas_ge", np.full(np.shape(self.y_ge), np.nan))
        if self.farkas_eq is None:
            object.__setattr__(self, "farkas_eq", np.full(np.shape(self.y_eq), np.nan))

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
#: reported by a backend fails :func:`verify_solution` (or an infeasibility claim its certificate
#: check) and no fallback settles the LP, and ``"disagreement"`` when
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
    return _with_status(sol, bad, "inaccurate")


def _with_status(sol: LPSolution, mask: np.ndarray, status: str) -> LPSolution:
    """``sol`` with the LPs of ``mask`` set to ``status`` and every number of theirs NaN."""
    new_status = sol.status.copy()
    new_status[mask] = status
    arrays = {name: getattr(sol, name).copy() for name in ("x", "objective", "y_ge", "y_eq", "farkas_ge", "farkas_eq")}
    for arr in arrays.values():
        arr[mask] = np.nan
    return replace(sol, status=new_status, **arrays)


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
    scale) by more than ``tol``, or with a number beyond the float range in the original units,
    becomes ``"inaccurate"``, and an LP with a one-row Farkas certificate
    (:func:`trivially_infeasible`) is ``"infeasible"`` whatever the backend said."""
    finite = (np.isfinite(sol.x).all(axis=1) & np.isfinite(sol.y_ge).all(axis=1)
              & np.isfinite(sol.y_eq).all(axis=1))
    with np.errstate(over="ignore", invalid="ignore"):
        bad = sol.optimal & ((row_violations(lp, sol) > tol) | ~finite)
    infeasible = trivially_infeasible(lp)
    if not (bad.any() or infeasible.any()):
        return sol
    out = _with_status(_with_status(sol, bad & ~infeasible, "inaccurate"), infeasible, "infeasible")
    for b in np.flatnonzero(infeasible):           # the one-row certificate e_r
        ge = (lp.A_ge[b] <= 0).all(axis=1) & (lp.b_ge[b] > 0)
        out.farkas_ge[b] = 0.0
        out.farkas_eq[b] = 0.0
        if ge.any():
            out.farkas_ge[b, np.flatnonzero(ge)[0]] = 1.0
            continue
        r = np.flatnonzero(((lp.A_eq[b] <= 0).all(axis=1) & (lp.b_eq[b] > 0))
                           | ((lp.A_eq[b] >= 0).all(axis=1) & (lp.b_eq[b] < 0)))[0]
        out.farkas_eq[b, r] = 1.0 if lp.b_eq[b, r] > 0 else -1.0
    return out


# --------------------------------------------------------------------------- infeasibility certificates

#: The relative precision to which the data of an LP are known: each matrix entry to ``DATA_TOL``
#: times the data it was computed from (:attr:`LPBatch.A_scale`), 16 units in the last place of
#: a float. An LP is reported ``"infeasible"`` on a Farkas certificate ``y`` (:func:`farkas_certified`)
#: that proves it infeasible exactly once each entry is moved by at most that much. Below it the
#: float data say nothing the modeller meant: the rows of ``F`` sum to 1 only up to an ulp, so
#: the IC rows of MIN-PAY, whose exact sums are 0, can sum to ``±1e-17``, and the float LP then
#: has contracts that pay ``~1e15`` on every outcome and satisfy IC thanks to those last digits.
DATA_TOL = 16 * float(np.finfo(np.float64).eps)

#: An optimum is *fragile* (:func:`fragile_optima`) when moving the entries of a row by their
#: precision (``DATA_TOL`` times :attr:`LPBatch.A_scale`) at that point could change the row's
#: value by this fraction of its right-hand side: it satisfies the row only thanks to the last
#: digits of the data, and the LP may be infeasible within their precision, which is then
#: checked (:func:`_certify_unsure`).
FRAGILE_TOL = 1e-3

#: The exact fallback (:func:`exact_lp`) runs on LPs whose tableau has at most this many entries
#: (rows times columns: variables, surplus and artificial variables); MIN-PAY with ``n`` actions
#: and ``m`` outcomes has ``(n − 1) (m + 2 (n − 1))``.
EXACT_MAX_ENTRIES = 4000

#: Clean verdicts; any other status is settled by :func:`_solve_one_backend` where it can be.
CLEAN = ("optimal", "infeasible", "unbounded")


def farkas_certified(lp: LPBatch, y_ge: np.ndarray, y_eq: np.ndarray, tol: float = DATA_TOL) -> np.ndarray:
    """Per LP: does ``(y_ge, y_eq)`` prove the LP infeasible, up to the precision of its data?

    Checked in floating point: ``y_ge >= 0`` and, with ``g = A_ge^T y_ge + A_eq^T y_eq`` and
    ``β = b·y``, ``g_j <= tol (S^T |y|)_j`` for every column ``j`` (``S`` = :meth:`LPBatch.data_scale`)
    and ``β > 0``, each after allowing for the rounding of ``g`` and ``β`` themselves (at most
    ``(R+2) ε`` times ``|A|^T |y|`` and ``|b|·|y|`` for ``R`` rows). Then moving each entry
    ``A_rj`` by at most ``tol S_rj`` gives an LP with ``A^T y <= 0 < b·y``: infeasible (Farkas'
    lemma), and the given LP has no feasible point with ``max_j x_j`` below
    ``β / Σ_j g_j^+``. With ``tol = 0`` this is the classical certificate, up to round-off.
    """
    y_ge, y_eq = np.asarray(y_ge, dtype=np.float64), np.asarray(y_eq, dtype=np.float64)
    valid = np.isfinite(y_ge).all(axis=1) & np.isfinite(y_eq).all(axis=1) & (np.nan_to_num(y_ge) >= 0).all(axis=1)
    y = np.nan_to_num(np.concatenate([y_ge, y_eq], axis=1))
    A = np.concatenate([lp.A_ge, lp.A_eq], axis=1)
    b = np.concatenate([lp.b_ge, lp.b_eq], axis=1)
    u = (A.shape[1] + 2) * np.finfo(np.float64).eps
    y_abs = np.abs(y)
    g = np.einsum("brv,br->bv", A, y)
    slack = tol * np.einsum("brv,br->bv", lp.data_scale(), y_abs) + u * np.einsum("brv,br->bv", np.abs(A), y_abs)
    beta = np.einsum("br,br->b", b, y) - u * np.einsum("br,br->b", np.abs(b), y_abs)
    return valid & (beta > 0) & (g <= slack).all(axis=1)


def certified_infeasible(lp: LPBatch, sol: LPSolution, tol: float = DATA_TOL) -> np.ndarray:
    """Per LP: reported ``"infeasible"`` with a certificate that passes :func:`farkas_certified`."""
    claimed = sol.status == "infeasible"
    if claimed.any():
        idx = np.flatnonzero(claimed)
        claimed[idx] = farkas_certified(lp.take(idx), sol.farkas_ge[idx], sol.farkas_eq[idx], tol)
    return claimed


def fragile_optima(lp: LPBatch, sol: LPSolution, tol: float = DATA_TOL, fragile: float = FRAGILE_TOL) -> np.ndarray:
    """Per LP: an optimum at which moving the entries of some row within their precision (``tol``
    times :meth:`LPBatch.data_scale`) could change the row's value by more than ``fragile`` times
    the largest right-hand side ``max_r |b_r|``: ``tol Σ_j S_rj |x_j| > fragile max_r |b_r|``.

    On the equilibrated data (largest ``|b_r|`` 1) an optimum of order 1 is far from that. One with
    payments of order ``1/ulp`` that meets its IC rows only through their rounding (see
    :data:`DATA_TOL`) is flagged: if ``y`` proves the LP infeasible within that precision with
    margin ``b·y / Σ y``, some row moves by at least that much at any feasible point. An LP with
    ``b = 0`` is feasible at ``x = 0`` and never flagged."""
    opt = sol.optimal
    if not opt.any():
        return opt
    x = np.abs(np.nan_to_num(sol.x))
    move = tol * np.einsum("brv,bv->br", lp.data_scale(), x).max(axis=1, initial=0.0)
    b = np.abs(np.concatenate([lp.b_ge, lp.b_eq], axis=1)).max(axis=1, initial=0.0)
    return opt & (b > 0) & (move > fragile * b)


# --------------------------------------------------------------------------- exact fallback

def _exact_size(lp: LPBatch) -> int:
    R = lp.A_ge.shape[1] + lp.A_eq.shape[1]
    return R * (lp.n_vars + lp.A_ge.shape[1] + R)


def _certificates(lp: LPBatch, todo: np.ndarray, x: np.ndarray, y_ge: np.ndarray, y_eq: np.ndarray):
    """Look for Farkas certificates (:func:`farkas_certified`) of the LPs of ``todo``.

    ``x``, ``y`` are the optima found for them (NaN where none). First the optimal dual itself:
    at an optimum far out, ``y / b·y`` is nearly a certificate (``A^T y <= c`` and ``b·y = c·x``, so
    ``A^T y / b·y <= c / c·x``). Then phase 1 (:func:`contractlab.solvers.backend_highs.farkas_certificates`),
    in the box ``x <= max_j x_j / 8`` where an optimum is known (a point of the LP that the box
    excludes: if no point of the box is feasible, the dual is the certificate) and unbounded
    elsewhere. Returns ``(found, farkas_ge, farkas_eq)`` over ``todo``'s LPs in order.
    """
    idx = np.flatnonzero(todo)
    sub = lp.take(idx)
    found = np.zeros(len(idx), dtype=bool)
    fg = np.full((len(idx), lp.A_ge.shape[1]), np.nan)
    fe = np.full((len(idx), lp.A_eq.shape[1]), np.nan)
    has_x = np.isfinite(x[idx]).all(axis=1) & np.isfinite(y_ge[idx]).all(axis=1) & np.isfinite(y_eq[idx]).all(axis=1)
    if has_x.any():
        dg, de = np.maximum(np.nan_to_num(y_ge[idx]), 0.0), np.nan_to_num(y_eq[idx])
        ok = has_x & farkas_certified(sub, dg, de)
        fg[ok], fe[ok], found = dg[ok], de[ok], ok
    if found.all():
        return found, fg, fe
    from .backend_highs import farkas_certificates
    box = np.where(has_x, np.abs(np.nan_to_num(x[idx])).max(axis=1, initial=0.0) / 8.0, np.inf)
    rest = np.flatnonzero(~found)
    got = farkas_certificates(sub.take(rest), box=box[rest])
    if got is not None:
        pg, pe = np.maximum(got[0], 0.0), got[1]
        ok = farkas_certified(sub.take(rest), pg, pe)
        fg[rest[ok]], fe[rest[ok]] = pg[ok], pe[ok]
        found[rest[ok]] = True
    return found, fg, fe


def _certify_unsure(lp: LPBatch, sol: LPSolution, unsure: np.ndarray, fragile: np.ndarray) -> LPSolution:
    """Step 1 of settling what a backend was unsure of (see :func:`_solve_one_backend`).

    The LPs of ``unsure`` (``"error"``, an optimum that failed its check, an infeasibility claim
    without a valid certificate) and the ``fragile`` optima (:func:`fragile_optima`) for which
    :func:`_certificates` finds a Farkas certificate that passes :func:`farkas_certified` become
    ``"infeasible"``. The other unsure LPs are left open: ``"inaccurate"`` if the backend had
    claimed an optimum or infeasibility, ``"error"`` otherwise, with NaN numbers; the other
    fragile optima stand. ``lp`` is the LP the backend solved (the equilibrated one).
    """
    fragile = fragile & ~unsure
    status = sol.status.copy()
    status[unsure & np.isin(status, ("optimal", "infeasible"))] = "inaccurate"
    status[unsure & ~np.isin(status, STATUSES)] = "error"     # e.g. cvxpy's "optimal_inaccurate"
    out = _with_status(sol, unsure, "error")
    out.status[:] = status
    keep = fragile[:, None]                      # the optima of `fragile` are tried as certificates
    return _mark_infeasible(lp, out, unsure | fragile, np.where(keep, sol.x, np.nan),
                            np.where(keep, sol.y_ge, np.nan), np.where(keep, sol.y_eq, np.nan))


def _exact_fallback(lp: LPBatch, work: LPBatch, scaling, out: LPSolution, todo: np.ndarray) -> LPSolution:
    """Step 2: the LPs of ``todo`` (still open after step 1), if small (:data:`EXACT_MAX_ENTRIES`),
    are solved exactly by :func:`exact_lp` on the original data ``lp`` -- not on the equilibrated
    ``work``, whose right-hand side can underflow where ``b`` spans more than the float range
    (a cost difference of ``5e-324`` next to one of 1). The exact optimal vertex and dual (rounded
    to floats), exact Farkas certificate or exact unbounded ray replace ``out``'s entry, with no
    float check (they are proved exactly); an exact optimum that is fragile (:func:`fragile_optima`,
    on ``work``) is then looked at as in step 1. ``scaling`` maps ``work`` to ``lp`` (None: the same).
    """
    out = _with_status(out, np.zeros(lp.size, dtype=bool), "error")  # a copy, to fill in
    solved = np.zeros(lp.size, dtype=bool)
    for b in np.flatnonzero(todo):
        one = lp.take([b])
        if _exact_size(one) > EXACT_MAX_ENTRIES:
            continue
        res = exact_lp(one.c[0], one.A_ge[0], one.b_ge[0], one.A_eq[0], one.b_eq[0])
        if res is None:
            continue
        try:
            if res.status == "optimal":
                out.x[b] = [float(v) for v in res.x]
                out.y_ge[b], out.y_eq[b] = [float(v) for v in res.y_ge], [float(v) for v in res.y_eq]
                out.objective[b] = float(sum((Fraction(float(ci)) * v for ci, v in zip(one.c[0], res.x)),
                                             Fraction(0)))
            elif res.status == "infeasible":
                size = max(abs(v) for v in res.farkas_ge + res.farkas_eq)   # > 0: b·y > 0
                out.farkas_ge[b] = [float(v / size) for v in res.farkas_ge]
                out.farkas_eq[b] = [float(v / size) for v in res.farkas_eq]
        except OverflowError:                    # an exact answer beyond the float range
            continue
        out.status[b] = res.status
        solved[b] = res.status == "optimal"
    if not solved.any():
        return out
    # the exact optima in the units of `work`, for the fragility check and the certificates
    if scaling is None:
        xw, ygw, yew = out.x, out.y_ge, out.y_eq
    else:
        nge = lp.A_ge.shape[1]
        with np.errstate(over="ignore", under="ignore"):
            xw = out.x / (scaling.cols * scaling.beta[:, None])
            y = np.concatenate([out.y_ge, out.y_eq], axis=1) / (scaling.rows * scaling.gamma[:, None])
        ygw, yew = y[:, :nge], y[:, nge:]
    as_work = LPSolution(np.where(solved, "optimal", "error"), xw, out.objective, ygw, yew, out.backend)
    fragile = solved & fragile_optima(work, as_work)
    if not fragile.any():
        return out
    found, fg, fe = _certificates(work, fragile, xw, ygw, yew)
    mask = np.zeros(lp.size, dtype=bool)
    mask[np.flatnonzero(fragile)[found]] = True
    if not mask.any():
        return out
    out = _with_status(out, mask, "infeasible")
    f = np.concatenate([fg[found], fe[found]], axis=1)
    if scaling is not None:                      # to the original units, as lp_scaling.unscale does
        f = f / np.abs(f).max(axis=1, keepdims=True) * scaling.rows[mask]
    nge = lp.A_ge.shape[1]
    out.farkas_ge[mask], out.farkas_eq[mask] = f[:, :nge], f[:, nge:]
    return out


def _mark_infeasible(lp: LPBatch, sol: LPSolution, todo: np.ndarray, x, y_ge, y_eq) -> LPSolution:
    """``sol`` with the LPs of ``todo`` for which :func:`_certificates` finds a certificate made
    ``"infeasible"`` (with it); the others unchanged."""
    if not todo.any():
        return sol
    found, fg, fe = _certificates(lp, todo, x, y_ge, y_eq)
    mask = np.zeros(lp.size, dtype=bool)
    mask[np.flatnonzero(todo)[found]] = True
    out = _with_status(sol, mask, "infeasible")
    out.farkas_ge[mask], out.farkas_eq[mask] = fg[found], fe[found]
    return out


def _solve_one_backend(lp: LPBatch, backend: str, batched: bool, scale: bool) -> LPSolution:
    """Solve with one backend, check every answer, and settle what the backend was unsure of.

    1. The backend solves the equilibrated LP (``scale=True``); every optimum is checked
       (:func:`verify_solution` on the equilibrated data, :func:`_settle` on the original).
    2. *Unsure* LPs -- no clean verdict, or an infeasibility claim whose certificate does not pass
       :func:`farkas_certified` (unless it has a one-row certificate, :func:`trivially_infeasible`)
       -- and *fragile* optima (:func:`fragile_optima`) get a Farkas certificate where one can be
       found (:func:`_certify_unsure`).
    3. The unsure LPs still open are solved exactly, if small (:func:`_exact_fallback`).
    Steps 2 and 3 are for the rare LP a backend cannot vouch for; the fast path pays for the
    checks only.
    """
    if backend == "highs":
        from . import backend_highs as module
    elif backend == "cvxpy":
        from . import backend_cvxpy as module
    else:
        raise ValueError(f"backend: unknown backend {backend!r} (choose one of {', '.join(BACKENDS + ('both',))})")
    scaling = None
    if scale:
        from .lp_scaling import equilibrate, unscale
        work, scaling = equilibrate(lp)
    else:
        work = lp
    bare = replace(work, A_scale=None)            # the backends read the LP only
    sol = verify_solution(work, module.solve(bare, batched=batched) if backend == "highs" else module.solve(bare))

    def settled(s: LPSolution) -> LPSolution:
        return _settle(lp, unscale(lp, s, scaling) if scale else s)

    out = settled(sol)
    unsure = ~np.isin(out.status, CLEAN)
    weak = (sol.status == "infeasible") & ~certified_infeasible(work, sol)
    if weak.any():
        idx = np.flatnonzero(weak)
        unsure[idx[~trivially_infeasible(lp.take(idx))]] = True
    fragile = (out.status == "optimal") & fragile_optima(work, sol)
    if not (unsure.any() or fragile.any()):
        return out
    out = settled(_certify_unsure(work, sol, unsure, fragile))
    todo = unsure & ~np.isin(out.status, CLEAN)
    if todo.any():
        out = _exact_fallback(lp, work, scaling, out, todo)
    return out


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
    return replace(_with_status(first, ~agree, "disagreement"), backend="highs+cvxpy")


def empty_solution(lp: LPBatch, backend: str) -> LPSolution:
    """An all-NaN solution with status "error", filled in by the backends."""
    B, nv = lp.c.shape
    return LPSolution(status=np.full(B, "error", dtype=object), x=np.full((B, nv), np.nan),
                      objective=np.full(B, np.nan), y_ge=np.full((B, lp.A_ge.shape[1]), np.nan),
                      y_eq=np.full((B, lp.A_eq.shape[1]), np.nan), backend=backend)
