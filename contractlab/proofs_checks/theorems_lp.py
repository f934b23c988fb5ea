"""Theorems about the LP layer (:mod:`contractlab.solvers.lp`) and its two backends.

Every exact solver of contractlab reaches its LPs through one entry point,
:func:`~contractlab.solvers.lp.solve_lp_batch`, on batches in one standard form

    minimise c·x  subject to  A_ge x >= b_ge,  A_eq x = b_eq,  x >= 0,

whose dual is  maximise b·y  subject to  A^T y <= c,  y_ge >= 0 (y_eq free). The checks here
recompute the evidence of every returned answer from the data, with numpy only (never the
layer's own checking helpers):

* an optimum is primal feasible, its ``y`` dual feasible in the documented sign convention,
  the pair complementary and of equal objectives -- so it *is* optimal (Bertsimas & Tsitsiklis,
  *Introduction to Linear Optimization*, Thm 4.4 strong duality, Thm 4.5 complementary
  slackness) -- and its value equals independent references: the optimum planted by
  construction and ``scipy.optimize.linprog(method="highs")``;
* an infeasibility verdict carries a Farkas ray ``y``: ``y_ge >= 0``, ``A^T y <= 0``,
  ``b·y > 0``, which proves that no ``x >= 0`` meets the rows (Farkas' lemma: Schrijver,
  *Theory of Linear and Integer Programming*, Cor. 7.1e); by the same lemma no such ray exists
  for a feasible LP, so a certificate attached to any other verdict is wrong evidence;
* the verdict is the true one: every drawn LP is dual feasible by construction, hence bounded
  below (weak duality), and has either a planted optimum or a planted Farkas ray, so it is
  exactly one of optimal / infeasible (B&T Thm 4.4) and the answer must say which.

The same is claimed of each backend's own answers (``backend_highs.solve``,
``backend_cvxpy.solve``): the layer documents that every backend reports ``y`` in its sign
convention and only valid-looking certificates, and its fallbacks (phase 1, the exact simplex on
small LPs) would otherwise hide a backend that is wrong.

Instances (:func:`lp_batches`, :func:`large_lp_batches`): batches of LPs of one shape with data of
order 1, on a grid of halves (exact in binary: degenerate vertices, ties, zero rows) half of the
time and continuous (rounded to 1e-3) otherwise. Each LP is feasible with a planted optimal
pair, or infeasible through a trivially infeasible ``=`` row (``0 = b``, or coefficients of one
sign against the sign of ``b``), a trivially infeasible ``>=`` row, or rows that are infeasible
only in combination. Large batches (more than ``backend_highs.FEASIBILITY_FIRST_MIN`` LPs) take
the HiGHS backend's phase-1 path; tall LPs beyond ``lp.EXACT_MAX_ENTRIES`` are answered without
the exact fallback.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st
from scipy.optimize import linprog

from ..solvers import backend_cvxpy, backend_highs
from ..solvers.backend_highs import FEASIBILITY_FIRST_MIN
from ..solvers.lp import AGREE_TOL, EXACT_MAX_ENTRIES, LPBatch, LPSolution, solve_lp_batch
from .registry import Evidence, theorem

BT = "Bertsimas & Tsitsiklis, Introduction to Linear Optimization (1997)"
FARKAS = "Schrijver, Theory of Linear and Integer Programming (1986), Cor. 7.1e (Farkas' lemma)"
SOURCES = f"{BT}, Thm 4.4 (strong duality) and Thm 4.5 (complementary slackness); {FARKAS}"

#: Relative tolerance of the KKT and Farkas checks (each residual relative to the sum of the
#: absolute terms it is made of, plus 1). The layer accepts an optimum whose residuals are at most
#: ``VERIFY_TOL = 1e-7`` relative to the solution's size on the equilibrated data, which differ
#: from the drawn data (entries of order 1) by powers of two of modest size; the backends solve
#: to ``SOLVER_TOL = 1e-10``. 1e-6 leaves room for that rescaling; a wrong sign, a dropped row or
#: a reversed inequality is off by order 1.
TOL = 1e-6

#: Tolerance of the objective against the planted optimum and against ``linprog`` (run with
#: feasibility tolerances 1e-10), relative to ``max(1, |value|)``: the layer's own ``AGREE_TOL``.
VALUE_TOL = AGREE_TOL

#: LPs of a batch also solved by ``linprog`` (the planted optimum is the reference for all of them).
LINPROG_PER_BATCH = 2

#: ``linprog``'s status codes.
LINPROG_STATUS = {0: "optimal", 2: "infeasible", 3: "unbounded"}

#: Kinds of drawn LPs: feasible with a planted optimum, or infeasible for one of three reasons.
FEASIBLE, TRIVIAL_EQ, TRIVIAL_GE, COMBINATION = "feasible", "trivial_eq", "trivial_ge", "combination"
KINDS = (FEASIBLE, TRIVIAL_EQ, TRIVIAL_GE, COMBINATION)
#: Drawing weights: feasible LPs about half of the time.
_KIND_DRAW = (FEASIBLE, FEASIBLE, FEASIBLE, TRIVIAL_EQ, TRIVIAL_GE, COMBINATION)


@dataclass(frozen=True, eq=False)
class LPCase:
    """A batch with what is known of each LP by construction: its kind and its optimal value
    (NaN if infeasible). ``recipe`` is the :func:`make_case` call that rebuilds it."""

    lp: LPBatch
    kinds: tuple[str, ...]
    value: np.ndarray
    recipe: str = ""

    def __repr__(self) -> str:         # a failing case is reported by the call that rebuilds it
        return self.recipe or object.__repr__(self)

    def _repr_pretty_(self, printer, cycle) -> None:    # hypothesis' pretty printer, likewise
        printer.text(repr(self))


# --------------------------------------------------------------------------- drawing LPs

def _entries(rng: np.random.Generator, shape, grid: bool, bound: float = 1.5) -> np.ndarray:
    """Values in [-bound, bound]: halves (a quarter of them 0) or continuous rounded to 1e-3."""
    if grid:
        v = rng.integers(int(-2 * bound), int(2 * bound) + 1, size=shape) / 2.0
        return np.where(rng.random(shape) < 0.25, 0.0, v)
    return np.round(rng.uniform(-bound, bound, size=shape), 3)


def _nonneg(rng: np.random.Generator, n: int, grid: bool, p_zero: float = 0.5) -> np.ndarray:
    """Non-negative values, each 0 with probability ``p_zero``, else in [0.5, 2]."""
    v = rng.integers(1, 5, size=n) / 2.0 if grid else np.round(rng.uniform(0.5, 2.0, size=n), 3)
    return np.where(rng.random(n) < p_zero, 0.0, v)


def _signs(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.choice([-1.0, 1.0], size=n)


def _feasible_lp(rng, nv: int, nge: int, neq: int, grid: bool):
    """An LP with a planted optimal pair ``(x0, y0)``: primal and dual feasible and complementary
    (positive slack only on rows with multiplier 0, positive reduced cost only where ``x0_j = 0``),
    so ``c·x0 = b·y0`` is its optimum (B&T Thm 4.5). Returns ``(c, A_ge, b_ge, A_eq, b_eq, c·x0)``."""
    A_ge, A_eq = _entries(rng, (nge, nv), grid), _entries(rng, (neq, nv), grid)
    x0 = _nonneg(rng, nv, grid)
    y_ge, y_eq = _nonneg(rng, nge, grid), _nonneg(rng, neq, grid) * _signs(rng, neq)
    slack = np.where(y_ge > 0, 0.0, _nonneg(rng, nge, grid))
    reduced = np.where(x0 > 0, 0.0, _nonneg(rng, nv, grid))
    c = A_ge.T @ y_ge + A_eq.T @ y_eq + reduced
    return c, A_ge, A_ge @ x0 - slack, A_eq, A_eq @ x0, float(c @ x0)


def _trivial_row(rng, nv: int, grid: bool, equality: bool):
    """A row that no ``x >= 0`` meets on its own: ``0 = b`` with ``b != 0``, or coefficients
    ``>= 0`` with ``b < 0`` (``=`` rows), or coefficients ``<= 0`` with ``b > 0`` (both kinds)."""
    size = _nonneg(rng, 1, grid, p_zero=0.0)[0]
    if equality and rng.random() < 0.3:
        return np.zeros(nv), size * _signs(rng, 1)[0]
    row = -_nonneg(rng, nv, grid)
    if equality and rng.random() < 0.5:
        return -row, -size
    return row, size


def _infeasible_by_combination(rng, nv: int, nge: int, neq: int, grid: bool):
    """An LP with a planted Farkas ray ``y*`` on two to four rows (``y*_ge >= 0``,
    ``A^T y* = -s <= 0``, ``b·y* = δ > 0``): one row ``r`` of the support, with ``y*_r = ±1``, is
    solved for; the other rows, ``b`` and ``c >= 0`` are random."""
    rows = nge + neq
    A, b = _entries(rng, (rows, nv), grid), _entries(rng, rows, grid, 2.0)
    support = rng.choice(rows, size=int(rng.integers(2, min(4, rows) + 1)), replace=False)
    y = np.zeros(rows)
    y[support] = _nonneg(rng, len(support), grid, 0.0) * np.where(support < nge, 1.0, _signs(rng, len(support)))
    r = int(support[0])
    y[r] = 1.0 if r < nge else _signs(rng, 1)[0]
    others = np.arange(rows) != r
    A[r] = -(_nonneg(rng, nv, grid) + y[others] @ A[others]) / y[r]
    b[r] = (_nonneg(rng, 1, grid, 0.0)[0] - y[others] @ b[others]) / y[r]
    return _nonneg(rng, nv, grid), A[:nge], b[:nge], A[nge:], b[nge:]


def _draw_lp(rng, kind: str, nv: int, nge: int, neq: int, grid: bool):
    """One LP of ``kind`` as ``(c, A_ge, b_ge, A_eq, b_eq, value)`` (``nge >= 2``)."""
    if kind == COMBINATION:
        return (*_infeasible_by_combination(rng, nv, nge, neq, grid), np.nan)
    c, A_ge, b_ge, A_eq, b_eq, value = _feasible_lp(rng, nv, nge, neq, grid)
    if kind == FEASIBLE:
        return c, A_ge, b_ge, A_eq, b_eq, value
    # one row made infeasible on its own; the others still hold at x0, so no other row is infeasible alone
    if kind == TRIVIAL_EQ:
        r = int(rng.integers(neq))
        A_eq[r], b_eq[r] = _trivial_row(rng, nv, grid, equality=True)
    else:
        r = int(rng.integers(nge))
        A_ge[r], b_ge[r] = _trivial_row(rng, nv, grid, equality=False)
    return c, A_ge, b_ge, A_eq, b_eq, np.nan


def make_case(seed: int, kinds, nv: int, nge: int, neq: int, grid: bool) -> LPCase:
    """The batch of LPs of ``kinds`` (``trivial_eq`` needs ``neq >= 1``) and one shape, drawn with
    numpy from ``seed`` (``nge >= 2``)."""
    kinds = tuple(kinds)
    rng = np.random.default_rng(seed)
    drawn = [_draw_lp(rng, k, nv, nge, neq, grid) for k in kinds]
    c, A_ge, b_ge, A_eq, b_eq, value = (np.array([d[i] for d in drawn], dtype=np.float64) for i in range(6))
    B = len(kinds)
    lp = LPBatch(c, A_ge.reshape(B, nge, nv), b_ge.reshape(B, nge), A_eq.reshape(B, neq, nv), b_eq.reshape(B, neq))
    return LPCase(lp, kinds, value, f"make_case({seed}, {kinds!r}, {nv}, {nge}, {neq}, {grid})")


def _kinds(draw, size, neq: int) -> list[str]:
    kinds = draw(st.lists(st.sampled_from(_KIND_DRAW), min_size=size, max_size=size))
    return [TRIVIAL_GE if k == TRIVIAL_EQ and not neq else k for k in kinds]


@st.composite
def lp_batches(draw, min_batch: int = 1, max_batch: int = 5, max_vars: int = 5, max_ge: int = 4,
               max_eq: int = 3) -> LPCase:
    """Batches of ``min_batch`` to ``max_batch`` small LPs of one shape, each feasible (about half
    of them) or infeasible for a random reason."""
    nv, nge, neq = draw(st.integers(1, max_vars)), draw(st.integers(2, max_ge)), draw(st.integers(0, max_eq))
    kinds = _kinds(draw, draw(st.integers(min_batch, max_batch)), neq)
    return make_case(draw(st.integers(0, 2 ** 32 - 1)), kinds, nv, nge, neq, draw(st.booleans()))


def exact_tableau_entries(nv: int, nge: int, neq: int) -> int:
    """Entries of the exact simplex's tableau for this shape (rows times variables, surplus and
    artificial columns), the size the LP layer's exact fallback is limited by."""
    rows = nge + neq
    return rows * (nv + nge + rows)


@st.composite
def large_lp_batches(draw) -> LPCase:
    """Tall LPs (two to six columns, the fewest ``>=`` rows that put the exact tableau above
    ``EXACT_MAX_ENTRIES``): one to four of them, or more than ``FEASIBILITY_FIRST_MIN``."""
    nv, neq = draw(st.integers(2, 6)), draw(st.integers(0, 3))
    nge = next(n for n in range(2, 10 ** 4) if exact_tableau_entries(nv, n, neq) > EXACT_MAX_ENTRIES)
    size = draw(st.one_of(st.integers(1, 4), st.integers(FEASIBILITY_FIRST_MIN + 1, FEASIBILITY_FIRST_MIN + 4)))
    return make_case(draw(st.integers(0, 2 ** 32 - 1)), _kinds(draw, size, neq), nv, nge, neq, draw(st.booleans()))


# --------------------------------------------------------------------------- checking one answer from the data

def _fail(detail: str) -> Evidence:
    return Evidence(np.nan, 0.0, -np.inf, False, detail)


def _verdict(status: str, truth: str, detail: str) -> Evidence:
    ok = status == truth
    return Evidence(0.0 if ok else 1.0, 0.0, 0.0 if ok else -np.inf, ok, f"{detail}: {status} (truth: {truth})")


def kkt_evidence(c, A_ge, b_ge, A_eq, b_eq, x, y_ge, y_eq, label: str) -> list[Evidence]:
    """Primal feasibility, dual feasibility (``y_ge >= 0``, ``A^T y <= c``), complementary slackness
    and equal objectives of ``(x, y)``, each residual relative to the absolute terms it sums."""
    if not (np.isfinite(x).all() and np.isfinite(y_ge).all() and np.isfinite(y_eq).all()):
        return [_fail(f"{label}: an optimum with non-finite numbers")]
    ge, eq = A_ge @ x - b_ge, A_eq @ x - b_eq
    row_ge = np.abs(A_ge) @ np.abs(x) + np.abs(b_ge) + 1.0
    row_eq = np.abs(A_eq) @ np.abs(x) + np.abs(b_eq) + 1.0
    rc = c - A_ge.T @ y_ge - A_eq.T @ y_eq
    col = np.abs(c) + np.abs(A_ge.T) @ np.abs(y_ge) + np.abs(A_eq.T) @ np.abs(y_eq) + 1.0
    x_size = max(1.0, float(np.abs(x).max(initial=0.0)))
    y_size = max(1.0, float(np.abs(np.concatenate([y_ge, y_eq])).max(initial=0.0)))
    gap = float(c @ x) - float(b_ge @ y_ge + b_eq @ y_eq)
    terms = 1.0 + float(np.abs(c * x).sum() + np.abs(b_ge * y_ge).sum() + np.abs(b_eq * y_eq).sum())

    def worst(v: np.ndarray) -> float:
        return float(v.max(initial=0.0))

    return [
        Evidence.at_most(worst(-ge / row_ge), 0.0, TOL, f"{label}: A_ge x >= b_ge"),
        Evidence.at_most(worst(np.abs(eq) / row_eq), 0.0, TOL, f"{label}: A_eq x = b_eq"),
        Evidence.at_most(worst(-x) / x_size, 0.0, TOL, f"{label}: x >= 0"),
        Evidence.at_most(worst(-y_ge) / y_size, 0.0, TOL, f"{label}: y_ge >= 0 (dual sign convention)"),
        Evidence.at_most(worst(-rc / col), 0.0, TOL, f"{label}: A^T y <= c (dual feasibility)"),
        Evidence.at_most(worst(np.abs(x * rc) / (col * x_size)), 0.0, TOL,
                         f"{label}: x_j (c - A^T y)_j = 0 (complementary slackness)"),
        Evidence.at_most(worst(np.abs(y_ge * ge) / (row_ge * y_size)), 0.0, TOL,
                         f"{label}: y_r (A_ge x - b_ge)_r = 0 (complementary slackness)"),
        Evidence.at_most(abs(gap) / terms, 0.0, TOL, f"{label}: c·x = b·y (strong duality)"),
    ]


def farkas_evidence(A_ge, b_ge, A_eq, b_eq, f_ge, f_eq, label: str) -> list[Evidence]:
    """``(f_ge, f_eq)`` is a Farkas ray: ``f_ge >= 0`` and ``A^T f <= 0`` (relative to the absolute
    terms), and ``b·f > 0`` clearly: above ``TOL`` times ``|b|·|f|`` plus the size of ``f``."""
    if not (np.isfinite(f_ge).all() and np.isfinite(f_eq).all()):
        return [_fail(f"{label}: an infeasibility verdict without a finite Farkas certificate")]
    size = max(float(np.abs(np.concatenate([f_ge, f_eq])).max(initial=0.0)), np.finfo(float).tiny)
    g = A_ge.T @ f_ge + A_eq.T @ f_eq
    col = np.abs(A_ge.T) @ np.abs(f_ge) + np.abs(A_eq.T) @ np.abs(f_eq) + size
    beta = float(b_ge @ f_ge + b_eq @ f_eq)
    beta_terms = float(np.abs(b_ge) @ np.abs(f_ge) + np.abs(b_eq) @ np.abs(f_eq)) + size
    return [
        Evidence.at_most(float((-f_ge).max(initial=0.0)) / size, 0.0, TOL, f"{label}: Farkas y_ge >= 0"),
        Evidence.at_most(float((g / col).max(initial=0.0)), 0.0, TOL, f"{label}: Farkas A^T y <= 0"),
        Evidence.at_least(beta / beta_terms, TOL, 0.0, f"{label}: Farkas b·y > 0"),
    ]


def linprog_answer(lp: LPBatch, b: int) -> tuple[str, float]:
    """``linprog(method="highs")``'s verdict and optimum on LP ``b`` (feasibility tolerances 1e-10)."""
    ge, eq = lp.A_ge.shape[1] > 0, lp.A_eq.shape[1] > 0
    res = linprog(lp.c[b], A_ub=-lp.A_ge[b] if ge else None, b_ub=-lp.b_ge[b] if ge else None,
                  A_eq=lp.A_eq[b] if eq else None, b_eq=lp.b_eq[b] if eq else None, bounds=(0, None),
                  method="highs", options={"primal_feasibility_tolerance": 1e-10, "dual_feasibility_tolerance": 1e-10})
    return LINPROG_STATUS.get(res.status, "error"), float(res.fun) if res.status == 0 else np.nan


def answer_evidence(case: LPCase, sol: LPSolution, b: int, label: str, certificate_required: bool = True,
                    with_linprog: bool = False) -> list[Evidence]:
    """LP ``b``'s answer in ``sol`` against its planted truth (and ``linprog``): the verdict, and the
    evidence it comes with recomputed from the data. ``certificate_required=False`` lets an
    infeasibility verdict come without certificate (NaN); one that is given must be valid."""
    lp, kind = case.lp, case.kinds[b]
    where = f"{label} LP {b} ({kind})"
    truth = "optimal" if kind == FEASIBLE else "infeasible"
    status = str(sol.status[b])
    items = [_verdict(status, truth, f"{where}: verdict")]
    if with_linprog:
        ref_status, ref_value = linprog_answer(lp, b)
        items.append(_verdict(ref_status, truth, f"{where}: linprog's verdict"))
        if status == "optimal" and ref_status == "optimal":
            items.append(Evidence.equal(float(sol.objective[b]), ref_value, VALUE_TOL,
                                        f"{where}: objective = linprog's"))
    data = (lp.A_ge[b], lp.b_ge[b], lp.A_eq[b], lp.b_eq[b])
    certificate = np.concatenate([sol.farkas_ge[b], sol.farkas_eq[b]])
    if status == "optimal":
        items += kkt_evidence(lp.c[b], *data, sol.x[b], sol.y_ge[b], sol.y_eq[b], where)
        items.append(Evidence.equal(float(sol.objective[b]), float(lp.c[b] @ sol.x[b]), VALUE_TOL,
                                    f"{where}: reported objective = c·x"))
        if truth == "optimal":
            items.append(Evidence.equal(float(sol.objective[b]), float(case.value[b]), VALUE_TOL,
                                        f"{where}: objective = planted optimum"))
    if status == "infeasible" and (certificate_required or np.isfinite(certificate).any()):
        items += farkas_evidence(*data, sol.farkas_ge[b], sol.farkas_eq[b], where)
    elif np.isfinite(certificate).any():
        # Farkas' alternative: no ray exists for an LP with a feasible point, so this is wrong evidence
        items.append(_fail(f"{where}: a Farkas certificate attached to a '{status}' verdict"))
    return items


def batch_evidence(case: LPCase, sol: LPSolution, label: str, linprog_on: int = 0, **kw) -> list[Evidence]:
    """:func:`answer_evidence` for every LP of the batch, the first ``linprog_on`` also against ``linprog``."""
    return [e for b in range(case.lp.size)
            for e in answer_evidence(case, sol, b, label, with_linprog=b < linprog_on, **kw)]


# --------------------------------------------------------------------------- theorems: the public entry point

_CLAIM = ("every 'optimal' answer is primal feasible, its y dual feasible in the documented sign convention "
          "(y_ge >= 0 on >= rows, y_eq free, A^T y <= c), complementary and of equal primal and dual objectives "
          "(so optimal), with the objective of the planted optimum; every 'infeasible' answer carries a Farkas ray "
          "(y_ge >= 0, A^T y <= 0, b·y > 0) and no other answer carries one (Farkas' alternative); and the verdict "
          "is the true one (each drawn LP is bounded and has a planted optimum or a planted Farkas ray). Checked "
          f"from the data with numpy, residuals relative to their terms within {TOL:g}")


@theorem("lp.highs_answers_certified",
         "solve_lp_batch(backend='highs'), batched and one LP at a time, on batches of one to five small LPs "
         f"(feasible; trivially infeasible = or >= rows; infeasible only in combination): {_CLAIM}; the objective "
         f"also equals scipy's linprog(method='highs') within {VALUE_TOL:g} relative.",
         SOURCES, lp_batches)
def check_highs_answers(case: LPCase) -> Evidence:
    items = batch_evidence(case, solve_lp_batch(case.lp, backend="highs", batched=True), "highs batched",
                           linprog_on=LINPROG_PER_BATCH)
    items += batch_evidence(case, solve_lp_batch(case.lp, backend="highs", batched=False), "highs single")
    return Evidence.combine(items)


def small_lp_batches():
    """One or two LPs of at most four columns and five rows (cvxpy costs milliseconds per LP)."""
    return lp_batches(max_batch=2, max_vars=4, max_ge=3, max_eq=2)


@theorem("lp.cvxpy_answers_certified",
         "solve_lp_batch(backend='cvxpy') (Clarabel's interior point, polished to a vertex) on one or two small "
         f"LPs of the same kinds: {_CLAIM}; the verdict and objective also match scipy's linprog(method='highs') "
         f"(within {VALUE_TOL:g} relative).",
         SOURCES, small_lp_batches)
def check_cvxpy_answers(case: LPCase) -> Evidence:
    return Evidence.combine(batch_evidence(case, solve_lp_batch(case.lp, backend="cvxpy"), "cvxpy",
                                           linprog_on=LINPROG_PER_BATCH))


@theorem("lp.large_batch_answers_certified",
         "solve_lp_batch(backend='highs'), with and without equilibration, on tall LPs whose exact-simplex tableau "
         "exceeds EXACT_MAX_ENTRIES (answered without the exact fallback), one to four of them or more than "
         f"FEASIBILITY_FIRST_MIN = {FEASIBILITY_FIRST_MIN} (HiGHS' phase-1 path): {_CLAIM}.",
         SOURCES, lambda: st.tuples(large_lp_batches(), st.booleans()))
def check_large_batch(args) -> Evidence:
    case, scale = args
    sol = solve_lp_batch(case.lp, backend="highs", scale=scale)
    return Evidence.combine(batch_evidence(case, sol, f"highs (scale={scale})"))


@theorem("lp.both_agree_when_they_say_so",
         "solve_lp_batch(backend='both'), on one small LP, reports 'disagreement' exactly where HiGHS' and cvxpy's "
         "answers (solved separately) differ in verdict or, both optimal, in objective by more than AGREE_TOL "
         "relative to max(1, |objective|), and otherwise HiGHS' verdict; on these well-conditioned LPs both backends are "
         f"right, so {_CLAIM}.",
         f"contractlab design (docs/design.md: the two backends must agree); {SOURCES}",
         lambda: lp_batches(max_batch=1, max_vars=4, max_ge=3, max_eq=2))
def check_both(case: LPCase) -> Evidence:
    lp = case.lp
    highs, cvx = solve_lp_batch(lp, backend="highs"), solve_lp_batch(lp, backend="cvxpy")
    both = solve_lp_batch(lp, backend="both")
    items = []
    for b in range(lp.size):
        same = highs.status[b] == cvx.status[b]
        if same and highs.status[b] == "optimal":
            same = abs(highs.objective[b] - cvx.objective[b]) <= AGREE_TOL * max(1.0, abs(highs.objective[b]))
        expected = str(highs.status[b]) if same else "disagreement"
        items.append(_verdict(str(both.status[b]), expected, f"both LP {b}: verdict vs the two separate solves"))
    return Evidence.combine(items + batch_evidence(case, both, "both"))


# --------------------------------------------------------------------------- theorems: each backend's own answers

_BACKEND_CLAIM = ("each verdict is the true one; each optimum is a KKT pair in the LP layer's sign convention "
                  "(y_ge >= 0, y_eq free, A^T y <= c, complementary, c·x = b·y) of the planted optimal value, with "
                  "objective c·x; and every Farkas certificate it gives is a valid, oriented ray (y_ge >= 0, "
                  "A^T y <= 0, b·y > 0) attached to an infeasibility verdict")


@theorem("lp.highs_backend_contract",
         "The HiGHS backend's own answers (backend_highs.solve on data of order 1: a small batch whole, one LP at a "
         f"time, and a batch of more than FEASIBILITY_FIRST_MIN = {FEASIBILITY_FIRST_MIN} LPs through phase 1): "
         f"{_BACKEND_CLAIM}; and, as its module documents, every infeasibility verdict comes with one (its dual ray, "
         "or the phase-1 duals of its block).",
         f"{SOURCES}; the HiGHS dual ray and phase-1 duals (backend_highs module docstring)",
         lambda: st.tuples(lp_batches(max_batch=3), lp_batches(FEASIBILITY_FIRST_MIN + 1, FEASIBILITY_FIRST_MIN + 4)))
def check_highs_backend(cases) -> Evidence:
    small, large = cases
    items = batch_evidence(small, backend_highs.solve(small.lp, batched=True), "highs batched")
    items += batch_evidence(small, backend_highs.solve(small.lp, batched=False), "highs single")
    items += batch_evidence(large, backend_highs.solve(large.lp, batched=True), "highs phase 1")
    return Evidence.combine(items)


@theorem("lp.cvxpy_backend_contract",
         "The cvxpy backend's own answers (backend_cvxpy.solve, Clarabel, on one or two small LPs with data of "
         f"order 1): {_BACKEND_CLAIM} (cvxpy may have none to give: NaN, and the layer looks for one). Clarabel "
         "declares infeasibility only on a certificate whose A^T y is within its tolerance of 0 relative to b·y.",
         f"{SOURCES}; Goulart & Chen, Clarabel: an interior-point solver for conic programs (2024), "
         "infeasibility detection", small_lp_batches)
def check_cvxpy_backend(case: LPCase) -> Evidence:
    return Evidence.combine(batch_evidence(case, backend_cvxpy.solve(case.lp), "cvxpy", certificate_required=False))
