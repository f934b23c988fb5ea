"""Theorems about MIN-PAY itself, checked against an exact reference built from the definition.

MIN-PAY of action ``i`` (Dütting, Roughgarden and Talgam-Cohen, *Simple versus Optimal
Contracts*, EC 2019, Section 2, LP (1); abbreviated DRT19) with its options: IC margin
``ε >= 0`` and outside option ``U_0`` (the participation constraint of Grossman and Hart, *An
Analysis of the Principal-Agent Problem*, Econometrica 51(1), 1983):

    minimise    F_i · t
    subject to  F_i·t − c_i >= F_k·t − c_k + ε     for every k != i    (IC)
                F_i·t − c_i >= U_0                  (participation, when U_0 is given)
                t >= 0                              (limited liability)

The reference (:func:`exact_min_pay`) solves this LP in rational arithmetic by enumerating its
basic solutions, sharing no code with the solvers: the feasible set lies in the orthant
``t >= 0`` (it has a vertex) and the objective is bounded below by 0, so a feasible LP attains
its minimum at a basic feasible solution (Bertsimas and Tsitsiklis, *Introduction to Linear
Optimization*, 1997, Sections 2.2 and 2.6). It also lists EVERY optimal basic solution, which
decides the tie rules: a contract of smallest support among all optimal contracts exists among
them (restrict the LP to that support: its optimal face has a vertex).

Instances are drawn from exact rationals (integer probability weights, costs and options on a
grid of 1/8), so exact ties are certain where the strategy plants them (duplicated outcomes and
actions, zero probabilities, tied costs), and two different exact payments differ by far more
than any solver tolerance. The solvers see the nearest floats; their answers differ from the
exact ones only by round-off (relative ``1e-14`` on these small denominators), well inside the
tolerances below.

Theorems:

- ``minpay.options_exact``: ``min_pay`` / ``min_pay_all`` with drawn ``ε``, ``U_0`` and backend
  report implementability as defined and return a feasible contract of minimum payment.
- ``minpay.evidence_recomputed``: every field of a ``MinPayResult`` (payment, agent utility, IC
  slacks, multipliers and dual value, echoed options, witness) recomputed from the data.
- ``minpay_vertex.exact_optimum``: every entry point of :mod:`contractlab.solvers.min_pay_vertex`
  (vertex enumeration, its two-action closed form, the batched LP, ``auto``) on batches of
  (problem, action) pairs: implementability, feasibility and minimum payment.
- ``minpay_vertex.evidence_recomputed``: the payments, IC slacks, status codes and NaN marks of
  those entry points, recomputed.
- ``minpay_vertex.two_action_closed_form``: with two actions the minimum pays only on an outcome
  of highest likelihood ratio (Laffont and Martimort, *The Theory of Incentives*, 2002, Chapter 4).
- ``minpay_vertex.tie_rule``: the vertex method's documented tie rule among optimal contracts,
  where the tie is certain.

The tie rule is checked only where a tie is exact in floating point as well: two optimal
vertices whose exact payments are equal but whose float payments differ by an ulp (e.g. likelihood
ratios 1/4 : 1/5 and 3/4 : 3/5) are decided by ``argmin`` on the floats, not by the index order
that ``PAYMENT_TIE_TOL``'s documentation describes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from itertools import combinations

import numpy as np
from hypothesis import strategies as st

from ..solvers.min_pay import min_pay, min_pay_all
from ..solvers.min_pay_vertex import (STATUS_NAMES, _two_by_two, min_pay_all_actions, min_pay_batch,
                                      solve_min_pay_lp, solve_min_pay_vertex, two_action_min_pay)
from ..theory.contract_problem import ContractProblem
from .registry import Evidence, theorem

DRT19 = "Dütting, Roughgarden, Talgam-Cohen, Simple versus Optimal Contracts (EC 2019)"
GH83 = "Grossman and Hart, An Analysis of the Principal-Agent Problem (Econometrica 51(1), 1983)"
LM02 = "Laffont and Martimort, The Theory of Incentives (2002)"
BT97 = "Bertsimas and Tsitsiklis, Introduction to Linear Optimization (1997)"

#: Tolerance of the checks on the HiGHS / Clarabel answers, relative to ``max(1, Σ_j t_j)`` (a
#: bound on ``|(F_i − F_k)·t|`` and on ``F_i·t``) or to ``max(1, |expected|)``: the LP layer
#: verifies every optimum to ``VERIFY_TOL = 1e-7`` on the equilibrated LP (docs/tolerances.md).
LP_TOL = 1e-7
#: Tolerance on the vertex method, whose answers are basic solutions computed by Cramer's rule
#: (round-off ``1e-15`` relative on these instances) and accepted within ``FEASIBILITY_TOL = 1e-10``.
VERTEX_TOL = 1e-9


# --------------------------------------------------------------------------- exact reference

@dataclass(frozen=True)
class ExactMinPay:
    """The exact solution of one MIN-PAY LP: ``value`` is ``None`` when it is infeasible;
    ``optimal`` lists every distinct optimal basic solution."""

    value: Fraction | None
    optimal: tuple[tuple[Fraction, ...], ...]

    @property
    def feasible(self) -> bool:
        return self.value is not None

    def supports(self) -> list[tuple[int, ...]]:
        """The support (paid outcomes, increasing) of every optimal basic solution."""
        return [tuple(j for j, v in enumerate(t) if v != 0) for t in self.optimal]

    @property
    def min_support(self) -> int:
        """The fewest paid outcomes of any optimal contract (attained at a basic solution)."""
        return min(len(s) for s in self.supports())


def _det(M: list) -> int:
    """Determinant of a square integer matrix (Bareiss' fraction-free elimination: every division is exact)."""
    a = [row[:] for row in M]
    k, sign, prev = len(a), 1, 1
    for col in range(k - 1):
        if a[col][col] == 0:
            piv = next((q for q in range(col + 1, k) if a[q][col] != 0), None)
            if piv is None:
                return 0
            a[col], a[piv] = a[piv], a[col]
            sign = -sign
        for q in range(col + 1, k):
            for j in range(col + 1, k):
                a[q][j] = (a[q][j] * a[col][col] - a[q][col] * a[col][j]) // prev
        prev = a[col][col]
    return sign * a[k - 1][k - 1] if k else 1


def _integer_rows(A: list, b: list) -> tuple[list, list]:
    """Each row of ``A t >= b`` (Fractions) times the positive lcm of its denominators: same solutions."""
    Ai, bi = [], []
    for row, rhs in zip(A, b):
        L = math.lcm(*(x.denominator for x in row), rhs.denominator)
        Ai.append([int(x * L) for x in row])
        bi.append(int(rhs * L))
    return Ai, bi


def _basic_feasible_solutions(A: list, b: list, m: int) -> set:
    """Every basic feasible solution of ``{t >= 0 : A t >= b}`` (``A``, ``b``: Fractions).

    A basic solution has ``m`` linearly independent active constraints: ``t_j = 0`` off a support
    ``J`` and ``|J|`` rows ``R`` whose block ``A[R, J]`` is nonsingular; it is
    ``t_J = A[R, J]^{-1} b_R``, computed by Cramer's rule on the rows scaled to integers."""
    Ai, bi = _integer_rows(A, b)
    r = len(Ai)
    found = set()
    for s in range(min(r, m) + 1):
        for J in combinations(range(m), s):
            for R in combinations(range(r), s):
                M = [[Ai[q][j] for j in J] for q in R]
                D = _det(M)
                if D == 0:
                    continue
                # t_J = N / D with N_p = det(M with column p replaced by b_R); make D > 0
                N = [_det([row[:p] + [bi[q]] + row[p + 1:] for row, q in zip(M, R)]) for p in range(s)]
                if D < 0:
                    D, N = -D, [-x for x in N]
                if any(x < 0 for x in N) or any(sum(Ai[q][j] * x for j, x in zip(J, N)) < bi[q] * D
                                                for q in range(r)):
                    continue
                t = [Fraction(0)] * m
                for j, x in zip(J, N):
                    t[j] = Fraction(x, D)
                found.add(tuple(t))
    return found


def exact_min_pay(F, c, action: int, margin: Fraction = Fraction(0),
                  participation: Fraction | None = None) -> ExactMinPay:
    """MIN-PAY of ``action`` in rationals, from the definition (module docstring): ``F`` (n × m)
    and ``c`` (n) as Fractions, IC margin ``ε = margin``, outside option ``U_0 = participation``."""
    n, m, i = len(F), len(F[0]), action
    A = [[F[i][j] - F[k][j] for j in range(m)] for k in range(n) if k != i]
    b = [c[i] - c[k] + margin for k in range(n) if k != i]
    if participation is not None:
        A.append(list(F[i]))
        b.append(c[i] + participation)
    vertices = _basic_feasible_solutions(A, b, m)
    if not vertices:
        return ExactMinPay(None, ())
    pays = {t: sum(f * v for f, v in zip(F[i], t)) for t in vertices}
    best = min(pays.values())
    return ExactMinPay(best, tuple(sorted(t for t, p in pays.items() if p == best)))


def _exact_data(p: ContractProblem) -> tuple[list, list]:
    F, c, _ = p.exact
    return [list(row) for row in F], list(c)


# --------------------------------------------------------------------------- strategies

def _fractions_grid(low: int, high: int, den: int = 8) -> st.SearchStrategy[Fraction]:
    return st.integers(low, high).map(lambda k: Fraction(k, den))


@st.composite
def exact_problems(draw, min_actions: int = 1, max_actions: int = 4, min_outcomes: int = 1,
                   max_outcomes: int = 4, max_weight: int = 6) -> ContractProblem:
    """Contract problems with exact rational data (``problem.exact``) and planted degeneracies.

    Rows are integer weights in ``[0, max_weight]`` normalised (so zero probabilities are common),
    costs multiples of 1/8 in ``[0, 4]`` (tied costs are common). Half of the time one outcome is
    duplicated (an identical column in every action: paying on either copy costs the same) and
    half of the time one action is duplicated (same row, a drawn cost: the same, higher or lower).
    The duplicates count towards ``max_actions`` / ``max_outcomes``."""
    n = draw(st.integers(min_actions, max_actions))
    m = draw(st.integers(min_outcomes, max_outcomes))
    flat = draw(st.lists(st.integers(0, max_weight), min_size=n * m, max_size=n * m))
    W = [w if sum(w) else [1] * m for w in (flat[k * m:(k + 1) * m] for k in range(n))]
    c = [Fraction(x, 8) for x in draw(st.lists(st.integers(0, 32), min_size=n, max_size=n))]
    if m >= 2 and draw(st.booleans()):
        j, k = draw(st.integers(0, m - 2)), draw(st.integers(0, m - 1))
        W = [w[:m - 1] for w in W]                         # keep m outcomes: drop one, duplicate one
        W = [w[:k] + [w[j]] + w[k:] for w in W]
        if any(sum(w) == 0 for w in W):
            W = [[x + 1 for x in w] for w in W]
    if n >= 2 and draw(st.booleans()):
        j, k = draw(st.integers(0, n - 2)), draw(st.integers(0, n - 1))
        shift = draw(st.sampled_from([Fraction(0), Fraction(0), Fraction(1, 4), Fraction(-1, 4)]))
        W, c = W[:n - 1], c[:n - 1]
        W.insert(k, list(W[j]))
        c.insert(k, max(Fraction(0), c[j] + shift))
    F = [[Fraction(w, sum(r)) for w in r] for r in W]
    return ContractProblem.from_exact(F, c, [0] * m)


@st.composite
def spread_problems(draw, n: int, m: int) -> ContractProblem:
    """Problems whose minimum-pay contracts pay on many outcomes (bases of size up to ``n − 1``).

    One target action (at a drawn index, cost in ``[1/2, 2]``) and ``n − 1`` cheaper deviations
    (cost in ``[0, 1/2]``), all with nearly uniform weights in ``[4, 6]``, except that deviation ``k``
    never produces its own outcome ``σ(k)`` (``σ`` injective, so ``m >= n − 1``): paying on ``σ(k)``
    deters ``k`` but encourages the other deviations (they produce ``σ(k)`` more often than the
    target does), so a contract must pay on the own outcome of every binding deviation."""
    target = draw(st.integers(0, n - 1))
    own = draw(st.permutations(range(m)))[:n - 1]
    flat = draw(st.lists(st.integers(4, 6), min_size=n * m, max_size=n * m))
    W = [flat[k * m:(k + 1) * m] for k in range(n)]
    c = [Fraction(x, 8) for x in draw(st.lists(st.integers(0, 4), min_size=n, max_size=n))]
    c[target] = draw(_fractions_grid(4, 16))
    for k in range(n):
        if k != target:
            W[k][own[k - (k > target)]] = 0
    F = [[Fraction(w, sum(r)) for w in r] for r in W]
    return ContractProblem.from_exact(F, c, [0] * m)


@dataclass(frozen=True)
class OptionsInstance:
    """A problem with drawn MIN-PAY options: ``actions`` for ``min_pay_all(actions=...)`` (any
    order, repeats allowed; ``min_pay`` is called on the first)."""

    problem: ContractProblem
    ic_margin: Fraction
    participation: Fraction | None
    backend: str
    actions: tuple[int, ...]

    def options(self) -> dict:
        u0 = None if self.participation is None else float(self.participation)
        return dict(backend=self.backend, ic_margin=float(self.ic_margin), participation=u0)


@st.composite
def option_instances(draw) -> OptionsInstance:
    """``ε`` is 0 or a multiple of 1/8 in (0, 1]; ``U_0`` is absent, 0 (the usual normalisation) or a
    multiple of 1/8 in ``[−2, 3]`` (negative, zero and positive: binding for cheap actions, slack for
    costly ones); the backend is HiGHS, or one time in eight cvxpy."""
    p = draw(exact_problems(min_outcomes=2))
    eps = draw(st.one_of(st.just(Fraction(0)), _fractions_grid(1, 8)))
    u0 = draw(st.one_of(st.none(), st.just(Fraction(0)), _fractions_grid(-16, 24)))
    backend = draw(st.sampled_from(["highs"] * 7 + ["cvxpy"]))       # cvxpy costs ten times more
    actions = draw(st.lists(st.integers(0, p.n_actions - 1), min_size=1, max_size=p.n_actions + 1))
    return OptionsInstance(p, eps, u0, backend, tuple(actions))


@dataclass(frozen=True)
class BatchInstance:
    """``P`` problems of one shape and the (problem, action) pairs asked of the batched solvers."""

    problems: tuple[ContractProblem, ...]
    pairs: tuple[tuple[int, int], ...]

    @property
    def F(self) -> np.ndarray:
        return np.stack([p.outcome_probs for p in self.problems])

    @property
    def c(self) -> np.ndarray:
        return np.stack([p.costs for p in self.problems])

    def pair_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """``(actions, problems)`` as the solvers take them."""
        return (np.array([a for _, a in self.pairs], dtype=np.int64),
                np.array([q for q, _ in self.pairs], dtype=np.int64))


@st.composite
def batch_instances(draw, min_actions: int = 2, max_actions: int = 4, min_outcomes: int = 2,
                    max_outcomes: int = 4) -> BatchInstance:
    """One to three problems of the same drawn shape (:func:`exact_problems`) or, a quarter of the
    time, one or two :func:`spread_problems` with 4-5 actions and as many or 5 outcomes (so that bases of
    three and four outcomes are needed), and one to six (problem, action) pairs in any order,
    repeats allowed."""
    if draw(st.integers(0, 3)) == 0:
        n = draw(st.integers(4, 5))
        m = draw(st.integers(n, 5))
        problems = draw(st.lists(spread_problems(n, m), min_size=1, max_size=2))
    else:
        n = draw(st.integers(min_actions, max_actions))
        m = draw(st.integers(min_outcomes, max_outcomes))
        problems = draw(st.lists(exact_problems(n, n, m, m), min_size=1, max_size=3))
    pair = st.tuples(st.integers(0, len(problems) - 1), st.integers(0, n - 1))
    return BatchInstance(tuple(problems), tuple(draw(st.lists(pair, min_size=1, max_size=6))))


def two_action_problems():
    """Two actions and two to five outcomes: the two-action closed form really runs (with three
    or more outcomes, several likelihood ratios compete; a duplicated outcome ties two of them)."""
    return exact_problems(2, 2, 2, 5, max_weight=9)


@st.composite
def tie_batches(draw) -> BatchInstance:
    """One or two problems of one drawn shape (2-5 actions, 2-4 outcomes) where ties between optimal
    contracts are certain: weights in ``[0, 3]`` (zero probabilities: paying on an outcome the action
    never produces is free; coincident likelihood ratios), duplicated outcomes and actions, tied
    costs. The pairs are all (problem, action) pairs, in a drawn order."""
    n = draw(st.integers(2, 5))
    m = draw(st.integers(2, 4))
    problems = draw(st.lists(exact_problems(n, n, m, m, max_weight=3), min_size=1, max_size=2))
    pairs = draw(st.permutations([(q, a) for q in range(len(problems)) for a in range(n)]))
    return BatchInstance(tuple(problems), tuple(pairs))


# --------------------------------------------------------------------------- helpers

def _fail(detail: str, measured: float = math.nan, bound: float = math.nan) -> Evidence:
    return Evidence(measured, bound, -math.inf, False, detail)


def _holds(condition: bool, detail: str) -> Evidence:
    """A yes/no claim: margin 0 when it holds, ``-inf`` when not."""
    return Evidence(float(bool(condition)), 1.0, 0.0 if condition else -math.inf, bool(condition), detail)


def _feasibility(F: np.ndarray, c: np.ndarray, i: int, t: np.ndarray, eps: float, u0: float | None,
                 tol: float, label: str) -> list[Evidence]:
    """Limited liability, IC with margin ``eps`` and participation ``u0`` of ``t`` for action ``i``,
    recomputed from the data, relative to ``max(1, Σ t)`` (which bounds ``|(F_i − F_k)·t|``)."""
    if not np.all(np.isfinite(t)):
        return [_fail(f"{label}: contract is not finite")]
    scale = max(1.0, float(np.abs(t).sum()))
    u = F @ t - c
    items = [Evidence.at_least(float(t.min()), 0.0, tol, f"{label}: limited liability t >= 0")]
    others = np.delete(u, i)
    if others.size:
        items.append(Evidence.at_least(float(u[i] - others.max() - eps) / scale, 0.0, tol,
                                       f"{label}: IC with margin ε={eps} (relative to max(1, Σt))"))
    if u0 is not None:
        items.append(Evidence.at_least(float(u[i] - u0) / scale, 0.0, tol,
                                       f"{label}: participation U_0={u0} (relative to max(1, Σt))"))
    return items


def _implementability(claimed: bool, ref: ExactMinPay, label: str) -> Evidence:
    return _holds(bool(claimed) == ref.feasible,
                  f"{label}: implementable={bool(claimed)}, exact LP feasible={ref.feasible}")


def _minimum(F: np.ndarray, i: int, t: np.ndarray, ref: ExactMinPay, tol: float, label: str) -> Evidence:
    """The contract's own payment ``F_i·t`` (recomputed) equals the exact minimum."""
    return Evidence.equal(float(F[i] @ t), float(ref.value), tol, f"{label}: F_i·t = exact MIN-PAY")


# --------------------------------------------------------------------------- min_pay (the LP)

def _min_pay_answers(inst: OptionsInstance) -> list:
    """``(label, requested action, result)`` for ``min_pay_all(actions=...)`` and ``min_pay``."""
    kw = inst.options()
    batch = min_pay_all(inst.problem, actions=list(inst.actions), **kw)
    if len(batch) != len(inst.actions):
        raise AssertionError(f"min_pay_all answered {len(batch)} of {len(inst.actions)} requested actions")
    answers = [(f"min_pay_all[{b}]", a, res) for b, (a, res) in enumerate(zip(inst.actions, batch))]
    first = inst.actions[0]
    return answers + [("min_pay", first, min_pay(inst.problem, first, **kw))]


@theorem("minpay.options_exact",
         "For every IC margin ε ≥ 0, outside option U_0 (absent, negative, zero or positive) and backend, "
         "min_pay and min_pay_all(actions=...) report action i implementable iff the LP "
         "min F_i·t s.t. F_i·t − c_i ≥ F_k·t − c_k + ε (k ≠ i), F_i·t − c_i ≥ U_0, t ≥ 0 is feasible, and "
         "then return a contract that meets every one of these constraints (recomputed from the data) and "
         "whose payment F_i·t equals the LP's minimum, computed exactly in rationals by enumerating its "
         "basic feasible solutions (tolerance 1e-7, relative to max(1, Σt) or max(1, MINPAY)).",
         f"{DRT19}, Section 2, LP (1) (IC, limited liability); {GH83} (participation: the agent's reservation "
         "utility U_0); "
         f"{BT97}, Sections 2.2 and 2.6 (an LP over a polyhedron with a vertex attains its minimum at a "
         "basic feasible solution)", option_instances)
def check_options_exact(inst: OptionsInstance) -> Evidence:
    p = inst.problem
    F, c = p.outcome_probs, p.costs
    Fx, cx = _exact_data(p)
    eps, u0 = float(inst.ic_margin), inst.options()["participation"]
    refs = {a: exact_min_pay(Fx, cx, a, inst.ic_margin, inst.participation) for a in set(inst.actions)}
    items = []
    for label, a, res in _min_pay_answers(inst):
        label = f"{label} (action {a}, {inst.backend})"
        if res.action != a:
            return _fail(f"{label}: answered action {res.action}", res.action, a)
        items.append(_implementability(res.implementable, refs[a], label))
        if res.implementable and refs[a].feasible:
            t = np.asarray(res.contract, dtype=float)
            items += _feasibility(F, c, a, t, eps, u0, LP_TOL, label)
            items.append(_minimum(F, a, t, refs[a], LP_TOL, label))
    return Evidence.combine(items)


def _evidence_implementable(F, c, res, eps: float, u0: float | None, label: str) -> list[Evidence]:
    """Every evidence field of an implementable ``MinPayResult``, recomputed from ``t`` and the data."""
    i, n = res.action, len(c)
    t = np.asarray(res.contract, dtype=float)
    u = F @ t - c
    pay = float(F[i] @ t)
    scale = max(1.0, float(np.abs(t).sum()))
    items = [Evidence.equal(res.expected_payment, pay, 1e-12, f"{label}: expected_payment = F_i·t"),
             Evidence.equal(res.agent_utility, float(u[i]), 1e-12, f"{label}: agent_utility = F_i·t − c_i")]
    slacks = np.asarray(res.ic_slacks, dtype=float)
    if slacks.shape != (n,):
        return items + [_fail(f"{label}: ic_slacks has shape {slacks.shape}, expected ({n},)")]
    items.append(Evidence.equal(float(np.abs(slacks - (u[i] - u)).max()) / scale, 0.0, 1e-12,
                                f"{label}: ic_slacks = (F_i·t − c_i) − (F_k·t − c_k), relative to max(1, Σt)"))
    lam = np.asarray(res.ic_duals, dtype=float)
    mu = res.participation_dual
    if lam.shape != (n,) or (mu is None) != (u0 is None):
        return items + [_fail(f"{label}: multipliers of the wrong shape: ic_duals {lam.shape}, "
                              f"participation_dual {mu!r} with U_0 {u0!r}")]
    mu = 0.0 if mu is None else float(mu)
    size = max(1.0, float(lam.sum()) + mu)
    items += [Evidence.at_least(min(float(lam.min()), mu) / size, 0.0, LP_TOL, f"{label}: multipliers >= 0"),
              Evidence.equal(float(lam[i]), 0.0, 0.0, f"{label}: no multiplier on the recommended action")]
    # the dual of the module docstring: Σ_k λ_k (F_i − F_k) + μ F_i <= F_i componentwise
    lhs = lam.sum() * F[i] - lam @ F + mu * F[i]
    items.append(Evidence.at_most(float((lhs - F[i]).max()) / size, 0.0, LP_TOL,
                                  f"{label}: dual feasibility, relative to max(1, Σλ + μ)"))
    rest = np.arange(n) != i
    dual = float(lam[rest] @ (c[i] - c[rest] + eps) + mu * (c[i] + (u0 or 0.0)))
    items += [Evidence.equal(dual, pay, LP_TOL, f"{label}: Σλ_k(c_i − c_k + ε) + μ(c_i + U_0) = F_i·t "
                                                 "(strong duality)"),
              Evidence.equal(float(res.dual_value), dual, LP_TOL, f"{label}: dual_value recomputed")]
    return items


def _evidence_not_implementable(F, c, res, eps: float, label: str) -> list[Evidence]:
    """A non-implementable answer carries no contract, an infinite payment, and a valid witness if any."""
    empty = all(getattr(res, f) is None for f in ("contract", "agent_utility", "ic_slacks", "ic_duals",
                                                  "participation_dual", "dual_value"))
    items = [_holds(empty, f"{label}: no contract or duals"),
             _holds(res.expected_payment == math.inf, f"{label}: expected_payment = inf")]
    if res.witness is not None:
        # Farkas: a convex combination of the other actions with the same outcome distribution that
        # costs less than c_i + ε leaves no room for IC with margin ε
        w, i = np.asarray(res.witness, dtype=float), res.action
        items += [Evidence.at_least(float(w.min()), 0.0, LP_TOL, f"{label}: witness >= 0"),
                  Evidence.equal(float(w.sum()), 1.0, LP_TOL, f"{label}: witness sums to 1"),
                  Evidence.equal(float(w[i]), 0.0, 0.0, f"{label}: witness excludes the action"),
                  Evidence.equal(float(np.abs(w @ F - F[i]).max()), 0.0, LP_TOL, f"{label}: witness reproduces F_i"),
                  Evidence.at_most(float(w @ c), float(c[i] + eps), LP_TOL, f"{label}: witness costs < c_i + ε")]
    return items


@theorem("minpay.evidence_recomputed",
         "Every field of a MIN-PAY answer (min_pay, min_pay_all with any ε, U_0 and backend) is what its "
         "definition says, recomputed from the data and the returned contract t: expected_payment = F_i·t, "
         "agent_utility = F_i·t − c_i, ic_slacks_k = (F_i·t − c_i) − (F_k·t − c_k) (0 at k = i); the "
         "multipliers λ ≥ 0 (λ_i = 0) and μ ≥ 0 (present iff U_0 is) are dual feasible, "
         "Σ_k λ_k (F_i − F_k) + μ F_i ≤ F_i, and their dual objective Σ_k λ_k (c_i − c_k + ε) + μ (c_i + U_0) "
         "equals F_i·t and dual_value; ic_margin, participation and the action echo the request. A "
         "non-implementable answer has no contract, an infinite payment, status 'infeasible', and its witness "
         "(if any) is a convex combination of the other actions with the distribution F_i and cost below "
         "c_i + ε. Tolerances: 1e-12 on recomputed sums, 1e-7 (the LP layer's VERIFY_TOL) on multipliers.",
         f"{DRT19}, Section 2, LP (1) and its dual; {GH83} (participation); {BT97}, Chapter 4 (strong duality; "
         "Section 4.6, Farkas' lemma, for the witness)", option_instances)
def check_evidence_recomputed(inst: OptionsInstance) -> Evidence:
    p = inst.problem
    F, c = p.outcome_probs, p.costs
    eps, u0 = float(inst.ic_margin), inst.options()["participation"]
    items = []
    for label, a, res in _min_pay_answers(inst):
        label = f"{label} (action {a}, {inst.backend})"
        echo = (res.action == a and res.ic_margin == eps and res.participation == u0
                and res.status == ("optimal" if res.implementable else "infeasible"))
        items.append(_holds(echo, f"{label}: action {res.action}, ic_margin {res.ic_margin}, participation "
                                  f"{res.participation}, status {res.status} echo the request"))
        if not echo:
            continue
        if res.implementable:
            items += _evidence_implementable(F, c, res, eps, u0, label)
            items.append(_holds(res.witness is None, f"{label}: no witness for an implementable action"))
        else:
            items += _evidence_not_implementable(F, c, res, eps, label)
    return Evidence.combine(items)


# --------------------------------------------------------------------------- min_pay_vertex

@dataclass(frozen=True)
class _Answer:
    """The answers of one entry point of :mod:`~contractlab.solvers.min_pay_vertex`, one row per
    (problem, action) pair; ``status`` and ``ic_slacks`` are ``None`` where it returns none."""

    label: str
    method: str
    pairs: list
    contract: np.ndarray
    payment: np.ndarray
    implementable: np.ndarray
    status_code: np.ndarray | None = None
    status: np.ndarray | None = None
    ic_slacks: np.ndarray | None = None
    reported_method: str | None = None


def _flat(res, label: str, method: str, pairs: list) -> _Answer:
    """An ``_Answer`` from ``MinPayArrays`` of shape ``(B, ...)`` or ``(P, n, ...)`` (rows flattened)."""
    B = len(pairs)
    return _Answer(label, method, pairs, np.reshape(res.contract, (B, -1)), np.reshape(res.expected_payment, B),
                   np.reshape(res.implementable, B), np.reshape(res.status_code, B), np.reshape(res.status, B),
                   np.reshape(res.ic_slacks, (B, -1)), res.method)


def _vertex_module_answers(inst: BatchInstance) -> list[_Answer]:
    """The answers of every entry point of :mod:`~contractlab.solvers.min_pay_vertex` on the batch.
    ``auto`` must resolve to the vertex method here: these problems have at most 126 candidate
    vertices per pair, below ``MAX_VERTEX_CANDIDATES`` (200)."""
    F, c = inst.F, inst.c
    P, n, _ = F.shape
    actions, problems = inst.pair_arrays()
    every = [(q, a) for q in range(P) for a in range(n)]
    out = [_flat(min_pay_all_actions(F, c, method=method), f"min_pay_all_actions({method})",
                 "lp" if method == "lp" else "vertex", every) for method in ("vertex", "lp", "auto")]
    for label, fn, method in (("solve_min_pay_vertex", solve_min_pay_vertex, "vertex"),
                              ("solve_min_pay_lp", solve_min_pay_lp, "lp"),
                              ("min_pay_batch(auto)", min_pay_batch, "vertex")):
        out.append(_flat(fn(F, c, actions, problems=problems), label, method, list(inst.pairs)))
    if n == 2:
        t, pay, ok = two_action_min_pay(F, c)
        out.append(_Answer("two_action_min_pay", "vertex", every, t.reshape(P * n, -1), pay.reshape(-1),
                           ok.reshape(-1)))
    return out


@theorem("minpay_vertex.exact_optimum",
         "Every entry point of min_pay_vertex (min_pay_all_actions with method vertex, lp and auto, including "
         "the two-action closed form; solve_min_pay_vertex, solve_min_pay_lp and min_pay_batch on batches of "
         "(problem, action) pairs in any order; two_action_min_pay) reports pair (q, i) implementable iff "
         "MIN-PAY of action i of problem q (weak IC, t ≥ 0) is feasible, and then returns a contract that is "
         "IC and limited-liability (recomputed from the data) and whose payment F_i·t equals the exact "
         "minimum (rational vertex enumeration); the methods therefore agree with each other. Drawn with "
         "planted degeneracies and with instances whose minimum needs bases of three and four outcomes. "
         "Tolerances: 1e-9 for vertex answers, 1e-7 for LP answers (relative to max(1, Σt) or max(1, MINPAY)).",
         f"{DRT19}, Section 2, LP (1); Ivanov et al., Principal-Agent Reinforcement Learning (arXiv 2407.18074), "
         f"Section 3 (per-state MIN-PAY); {BT97}, Sections 2.2 and 2.6 (optimal basic feasible solutions)",
         batch_instances)
def check_vertex_exact_optimum(inst: BatchInstance) -> Evidence:
    F, c = inst.F, inst.c
    refs = {}
    items = []
    for ans in _vertex_module_answers(inst):
        tol = VERTEX_TOL if ans.method == "vertex" else LP_TOL
        for (q, a), t, ok in zip(ans.pairs, ans.contract, ans.implementable):
            if (q, a) not in refs:
                refs[q, a] = exact_min_pay(*_exact_data(inst.problems[q]), a)
            where = f"{ans.label} problem {q} action {a}"
            items.append(_implementability(ok, refs[q, a], where))
            if ok and refs[q, a].feasible:
                items += _feasibility(F[q], c[q], a, t, 0.0, None, tol, where)
                items.append(_minimum(F[q], a, t, refs[q, a], tol, where))
    return Evidence.combine(items)


def _row_evidence(ans: _Answer, b: int, F: np.ndarray, c: np.ndarray) -> list[Evidence]:
    """The documented fields of row ``b`` of ``ans``, recomputed from its contract and the data."""
    (q, a), t, pay, ok = ans.pairs[b], ans.contract[b], ans.payment[b], ans.implementable[b]
    where = f"{ans.label} problem {q} action {a}"
    code, name, slacks = ans.status_code[b], ans.status[b], ans.ic_slacks[b]
    items = [_holds(name == STATUS_NAMES[code], f"{where}: status {name!r} is STATUS_NAMES[{code}]")]
    if not ok:
        marked = np.isnan(t).all() and np.isnan(slacks).all() and pay == math.inf
        right_status = code == 1 if ans.method == "vertex" else code != 0
        return items + [_holds(marked and right_status, f"{where}: not implementable: NaN contract and slacks, "
                                                        f"infinite payment, status {name!r}")]
    scale = max(1.0, float(np.abs(t).sum()))
    u = F[q] @ t - c[q]
    return items + [
        _holds(code == 0, f"{where}: implementable with status {name!r}"),
        Evidence.equal(float(pay), float(F[q, a] @ t), 1e-12, f"{where}: expected_payment = F_i·t"),
        Evidence.equal(float(np.abs(slacks - (u[a] - u)).max()) / scale, 0.0, 1e-12,
                       f"{where}: ic_slacks = (F_i·t − c_i) − (F_k·t − c_k), relative to max(1, Σt)")]


@theorem("minpay_vertex.evidence_recomputed",
         "The arrays returned by every entry point of min_pay_vertex are what their documentation says, "
         "recomputed from the data and the returned contract: for an implementable pair, expected_payment = "
         "F_i·t, ic_slacks_k = (F_i·t − c_i) − (F_k·t − c_k) (0 at k = i) and status 'optimal' (code 0); "
         "otherwise a NaN contract and NaN slacks, an infinite payment and a status other than 'optimal' "
         "('infeasible', code 1, for the vertex method); status names are STATUS_NAMES[status_code]; method "
         "names the method that ran ('auto' resolves to vertex on these small problems); two_action_min_pay "
         "returns the same values as min_pay_all_actions(method='vertex'). Tolerance 1e-12, relative to "
         "max(1, Σt).",
         "contractlab.solvers.min_pay_vertex (MinPayArrays, two_action_min_pay); "
         f"{DRT19}, Section 2 (IC slack of LP (1))", batch_instances)
def check_vertex_evidence(inst: BatchInstance) -> Evidence:
    F, c = inst.F, inst.c
    items = []
    answers = _vertex_module_answers(inst)
    for ans in answers:
        if ans.status is None:
            continue
        items.append(_holds(ans.reported_method == ans.method,
                            f"{ans.label}: method {ans.reported_method!r}, expected {ans.method!r}"))
        for b in range(len(ans.pairs)):
            items += _row_evidence(ans, b, F, c)
    if F.shape[1] == 2:
        ref, closed = answers[0], answers[-1]
        same = (np.array_equal(closed.implementable, ref.implementable)
                and np.array_equal(closed.payment, ref.payment)
                and np.array_equal(closed.contract, ref.contract, equal_nan=True))
        items.append(_holds(same, "two_action_min_pay = min_pay_all_actions(method='vertex')"))
    return Evidence.combine(items)


def two_action_closed_form(F, c, i: int) -> tuple[Fraction | None, tuple[int, ...], Fraction]:
    """Exact MIN-PAY of action ``i`` of a two-action problem (``F``, ``c`` as Fractions):
    ``(value, outcomes, d)``: ``value`` (``None`` if not implementable), the outcomes of highest
    likelihood ratio ``F_i[j] / F_k[j]`` among those with ``F_i[j] > F_k[j]`` (where a contract
    paying ``d / (F_i[j] − F_k[j])`` is optimal), and ``d = c_i − c_k``."""
    k = 1 - i
    d = c[i] - c[k]
    if d <= 0:
        return Fraction(0), (), d
    # highest ratio F_i/F_k  <=>  lowest cost per unit of IC slack F_i / (F_i − F_k)
    unit = {j: F[i][j] / (F[i][j] - F[k][j]) for j in range(len(F[i])) if F[i][j] > F[k][j]}
    if not unit:
        return None, (), d
    best = min(unit.values())
    return d * best, tuple(j for j in sorted(unit) if unit[j] == best), d


@theorem("minpay_vertex.two_action_closed_form",
         "With two actions i and k (d = c_i − c_k) the minimum payment of i is 0 if d ≤ 0 (the zero contract); "
         "otherwise i is implementable iff some outcome has F_i[j] > F_k[j], and the minimum is "
         "d · min_j F_i[j] / (F_i[j] − F_k[j]), attained by paying d / (F_i[j] − F_k[j]) on an outcome j of highest "
         "likelihood ratio F_i[j] / F_k[j] and nothing elsewhere. The vertex method (min_pay_all_actions, "
         "solve_min_pay_vertex, two_action_min_pay, and with two outcomes the SPE solver's _two_by_two) returns "
         "exactly such a contract (tolerance 1e-9 relative), "
         "and the LP method the same minimum (1e-7); where i is not implementable the array entry points return "
         "a NaN contract and an infinite payment. Of two outcomes with identical columns (an exact tie of "
         "likelihood ratios) the closed form pays on the lower-index one.",
         f"{LM02}, Chapter 4 (moral hazard with a risk-neutral, limited-liability agent and two effort "
         f"levels: with several outcomes only the one of highest likelihood ratio is rewarded); {DRT19}, Section 2, "
         "LP (1) with n = 2", two_action_problems)
def check_two_action_closed_form(p: ContractProblem) -> Evidence:
    F, c = p.outcome_probs, p.costs
    Fx, cx = _exact_data(p)
    items = []
    for i in range(2):
        value, best, d = two_action_closed_form(Fx, cx, i)
        for label, T, pay, ok, lp in _two_action_answers(F, c):
            where = f"{label} action {i}"
            items.append(_holds(bool(ok[i]) == (value is not None),
                                f"{where}: implementable={bool(ok[i])}, closed form says {value is not None}"))
            if not ok[i] and label != "_two_by_two":
                # documented: NaN contract and infinite payment where not implementable
                items.append(_holds(np.isnan(T[i]).all() and pay[i] == math.inf,
                                    f"{where}: not implementable, contract {T[i].tolist()}, payment {pay[i]}"))
            if not ok[i] or value is None:
                continue
            t = np.asarray(T[i], dtype=float)
            items.append(Evidence.equal(float(F[i] @ t), float(value), LP_TOL if lp else VERTEX_TOL,
                                        f"{where}: F_i·t = d · min F_i[j] / (F_i[j] − F_k[j])"))
            if not lp:
                items.append(_pays_on_best_ratio(t, best, d, Fx, i, where))
                items += _tie_evidence(F, t, exact_min_pay(Fx, cx, i), where)
    return Evidence.combine(items)


def _two_action_answers(F: np.ndarray, c: np.ndarray) -> list:
    """``(label, contracts (2, m), payments (2,), implementable (2,), is_lp)`` of every two-action path."""
    P1 = (F[None], c[None])
    out = []
    for method in ("vertex", "lp"):
        res = min_pay_all_actions(*P1, method=method)
        out.append((f"min_pay_all_actions({method})", res.contract[0], res.expected_payment[0],
                    res.implementable[0], method == "lp"))
    res = solve_min_pay_vertex(*P1, np.array([0, 1]), problems=np.array([0, 0]))
    out.append(("solve_min_pay_vertex", res.contract, res.expected_payment, res.implementable, False))
    t, pay, ok = two_action_min_pay(*P1)
    out.append(("two_action_min_pay", t[0], pay[0], ok[0], False))
    if F.shape[1] == 2:
        # the SPE solver's path for two actions and two outcomes, on columns
        both = _two_by_two(*(F[[i], j] for i in range(2) for j in range(2)), c[[0]] - c[[1]])
        t = np.array([[0.0, v[0]] if second[0] else [v[0], 0.0] for second, v, _, _ in both])
        out.append(("_two_by_two", t, np.array([x[2][0] for x in both]), np.array([x[3][0] for x in both]), False))
    return out


def _pays_on_best_ratio(t: np.ndarray, best: tuple[int, ...], d: Fraction, Fx, i: int, where: str) -> Evidence:
    """``t`` is zero if ``d <= 0``, else pays ``d / (F_i[j] − F_k[j])`` on one outcome ``j`` of ``best``."""
    paid = tuple(int(j) for j in np.flatnonzero(t != 0))
    if d <= 0:
        return _holds(paid == (), f"{where}: d = {d} <= 0 but pays on outcomes {paid}")
    if len(paid) != 1 or paid[0] not in best:
        return _fail(f"{where}: pays on outcomes {paid}, highest likelihood ratio at {best}")
    j = paid[0]
    return Evidence.equal(float(t[j]), float(d / (Fx[i][j] - Fx[1 - i][j])), VERTEX_TOL,
                          f"{where}: t_j = d / (F_i[j] − F_k[j]) on outcome {j}")


def _matching_vertex(t: np.ndarray, ref: ExactMinPay) -> tuple[Fraction, ...] | None:
    """The exact optimal basic solution within :data:`VERTEX_TOL` of ``t`` (relative), if any."""
    for v in ref.optimal:
        vf = np.array([float(x) for x in v])
        if np.abs(t - vf).max() <= VERTEX_TOL * max(1.0, float(np.abs(vf).max())):
            return v
    return None


def _tie_evidence(F: np.ndarray, t: np.ndarray, ref: ExactMinPay, where: str) -> list[Evidence]:
    v = _matching_vertex(t, ref)
    if v is None:
        return [_fail(f"{where}: contract {t.tolist()} is none of the {len(ref.optimal)} optimal basic solutions")]
    paid = [j for j, x in enumerate(v) if x != 0]
    items = [Evidence.at_most(len(paid), ref.min_support, 0.0,
                              f"{where}: pays on {len(paid)} outcomes, the sparsest optimal contract on "
                              f"{ref.min_support}")]
    # among the sparsest optimal vertices, the one on the lowest outcome indices (the documented
    # order: sparsest, then lowest outcome indices; exact ties may differ by an ulp in floats,
    # which PAYMENT_TIE_TOL absorbs)
    supports = sorted(tuple(j for j, x in enumerate(u) if x != 0) for u in ref.optimal)
    first = min(s for s in supports if len(s) == ref.min_support)
    items.append(_holds(tuple(paid) == first, f"{where}: pays on outcomes {paid}, the documented tie rule "
                                               f"(sparsest, then lowest indices) gives {list(first)}"))
    return items


@theorem("minpay_vertex.tie_rule",
         "The vertex method's documented tie rule among optimal contracts. Its answer (min_pay_all_actions with "
         "method='vertex', solve_min_pay_vertex) is an optimal basic solution (within 1e-9 of one found by exact "
         "enumeration) with the fewest paid outcomes of any optimal contract (ties within PAYMENT_TIE_TOL go to "
         "the sparsest vertex); among equally sparse ones, ties go to the lowest outcome indices (the support "
         "of the returned contract is the lexicographically first support of a sparsest optimal vertex); and "
         "two identical "
         "actions (same row of F, same cost) get the same contract. Drawn with zero probabilities, duplicated "
         "outcomes and actions and tied costs, so that ties are certain.",
         "contractlab.solvers.min_pay_vertex (PAYMENT_TIE_TOL and the two-action closed form: ties to the "
         f"lowest index); {DRT19}, Section 2 (MIN-PAY depends on an action only through (F_i, c_i)); {BT97}, "
         "Section 2.6 (an optimal solution of smallest support can be taken basic)", tie_batches)
def check_tie_rule(inst: BatchInstance) -> Evidence:
    F, c = inst.F, inst.c
    P, n, _ = F.shape
    refs = {(q, a): exact_min_pay(*_exact_data(inst.problems[q]), a) for q in range(P) for a in range(n)}
    every = [(q, a) for q in range(P) for a in range(n)]
    actions, problems = inst.pair_arrays()
    answers = [_flat(min_pay_all_actions(F, c, method="vertex"), "min_pay_all_actions(vertex)", "vertex", every),
               _flat(solve_min_pay_vertex(F, c, actions, problems=problems), "solve_min_pay_vertex", "vertex",
                     list(inst.pairs))]
    items = []
    for ans in answers:
        contract = {}
        for (q, a), t, ok in zip(ans.pairs, ans.contract, ans.implementable):
            where = f"{ans.label} problem {q} action {a}"
            items.append(_implementability(ok, refs[q, a], where))
            if ok and refs[q, a].feasible:
                items += _tie_evidence(F[q], t, refs[q, a], where)
                contract[q, a] = t
        for (q, a), (r, k) in combinations(sorted(contract), 2):
            if q == r and np.array_equal(F[q, a], F[q, k]) and c[q, a] == c[q, k]:
                items.append(Evidence.equal(float(np.abs(contract[q, a] - contract[q, k]).max()), 0.0, VERTEX_TOL,
                                            f"{ans.label} problem {q}: identical actions {a} and {k} get the "
                                            "same contract"))
    return Evidence.combine(items)
