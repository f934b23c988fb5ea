"""Theorems about tie rules and exact evidence in the one-shot contract and game solvers.

Every claim is checked against an independent recomputation from the instance's data in exact
rational arithmetic (:class:`fractions.Fraction`), on instances built so that ties are certain
rather than rare: duplicated actions or follower columns, payoffs on a coarse dyadic grid,
lines through a common point, crossings exactly at ``α = 0`` and ``α = 1``.

Registered ids
--------------
``exact.optimum_recomputed``
    ``solve(problem, exact=True)``: every reported number recomputed from the data; each MIN-PAY
    answer proved optimal by its exact dual, each refusal by its exact Farkas witness; the
    lowest-index tie rule.
``linear.envelope_brute_force``
    ``best_linear_contract``: the critical values, induced actions and principal utilities equal a
    brute-force evaluation of the agent's choice at every candidate ``α`` (0, 1 and every pairwise
    crossing), ties in the principal's favour.
``best_response.tie_rule``
    ``agent_best_response``: the best set, the principal-favourable and the adversarial choice,
    and the reported utilities, recomputed exactly.
``stackelberg.commitment_values_exact``
    The per-follower-action commitment values equal an exact vertex enumeration; the follower
    action is the lowest index among the tied best.
``stackelberg.leader_favourable_evaluation``
    ``leader_payoff_with_best_response`` is the best payoff over the follower's best responses;
    its maximum over commitments is the strong Stackelberg value.
``grossman_hart.optimum_ties_to_lowest_index``
    Duplicated actions cost the same under Grossman–Hart and the optimum takes the lowest index.

Sources: Dütting, Roughgarden and Talgam-Cohen, *Simple versus Optimal Contracts* (EC 2019),
Sections 2 and 3; Conitzer and Sandholm, *Computing the Optimal Strategy to Commit to* (EC 2006),
Sections 2 and 3; Grossman and Hart, *An Analysis of the Principal-Agent Problem* (Econometrica
51(1), 1983), Section 2; the tie rules documented in the solvers' docstrings.

The strategies of the linear-contract and best-response theorems draw data that are exact in
binary floating point (probabilities in sixteenths, money in multiples of ``1/512``), so the float
solvers compute ``R_i``, ``F_i·t`` and their differences without rounding and their answers can be
held to the exact values up to the final rounding. The exact solver's instances are rationals such
as thirds, given exactly through :meth:`ContractProblem.from_exact`; games have integer payoffs.
"""

from __future__ import annotations

import math
from fractions import Fraction
from itertools import combinations

import numpy as np
from hypothesis import strategies as st

from ..solvers.best_response import TIE_BREAKS, agent_best_response
from ..solvers.exact import optimal_contract_exact
from ..solvers.grossman_hart import TIE_TOL as GH_TIE_TOL
from ..solvers.grossman_hart import UTILITIES, grossman_hart_optimal
from ..solvers.linear import best_linear_contract
from ..solvers.stackelberg import TIE_TOL as STK_TIE_TOL
from ..solvers.stackelberg import leader_payoff_with_best_response, stackelberg
from ..theory.bimatrix import BimatrixGame
from ..theory.contract_problem import ContractProblem
from .registry import CHECK_TOL, Evidence, theorem
from .strategies import contract_problems

DRT19 = "Dütting, Roughgarden, Talgam-Cohen, Simple versus Optimal Contracts (EC 2019)"
CS06 = "Conitzer & Sandholm, Computing the Optimal Strategy to Commit to (EC 2006)"
GH83 = "Grossman & Hart, An Analysis of the Principal-Agent Problem (Econometrica 51(1), 1983), Section 2"

#: Float answers computed from exact dyadic data by a few correctly rounded operations (a
#: quotient, a product with ``1 - α``) are within a few ulps of the exact value; 1e-12 (relative
#: to max(1, |exact|)) is far above that and far below the gap between distinct exact values of
#: the drawn instances (at least ~1e-6: denominators below 2^10).
ROUND_OFF_TOL = 1e-12

#: Two Grossman–Hart costs of duplicated actions come from the same convex program (the same
#: constraint rows in the same order), solved to a duality gap of 1e-10 and polished to a KKT
#: point at 1e-9; they must agree to the solver's tie tolerance.
TWIN_COST_TOL = GH_TIE_TOL

Q = Fraction
ZERO = Fraction(0)


# --- exact helpers ---------------------------------------------------------------------------

def _dot(a, b) -> Fraction:
    return sum((x * y for x, y in zip(a, b)), ZERO)


def _fractions(values) -> list[Fraction]:
    return [Fraction(float(x)) for x in np.asarray(values, dtype=float).ravel()]


def _exact_problem(p: ContractProblem) -> tuple[list[list[Fraction]], list[Fraction], list[Fraction]]:
    """``(F, c, r)`` exactly: the data as given (``from_exact``), else the exact values of the floats."""
    if p.exact is not None:
        F, c, r = p.exact
        return [list(row) for row in F], list(c), list(r)
    return [_fractions(row) for row in p.outcome_probs], _fractions(p.costs), _fractions(p.rewards)


def _same(measured, expected, detail: str) -> Evidence:
    """An exact equality (indices, Fractions, tuples): margin 0 when equal, -1 otherwise."""
    ok = measured == expected
    m = float(measured) if isinstance(measured, (int, float, Fraction)) else math.nan
    e = float(expected) if isinstance(expected, (int, float, Fraction)) else math.nan
    return Evidence(m, e, 0.0 if ok else -1.0, bool(ok), detail if ok else f"{detail}: {measured} != {expected}")


def _holds(ok: bool, detail: str) -> Evidence:
    """An exact inequality or membership that holds or not (margin 0 / -1)."""
    return Evidence(float(ok), 1.0, 0.0 if ok else -1.0, bool(ok), detail)


def _close(measured: float, exact: Fraction, detail: str, tol: float = ROUND_OFF_TOL) -> Evidence:
    return Evidence.equal(float(measured), float(exact), tol, detail)


def _solve_square(A: list[list[Fraction]], b: list[Fraction]) -> list[Fraction] | None:
    """``A x = b`` exactly by Gauss–Jordan elimination; ``None`` when ``A`` is singular."""
    k = len(A)
    M = [list(row) + [rhs] for row, rhs in zip(A, b)]
    for col in range(k):
        piv = next((r for r in range(col, k) if M[r][col] != 0), None)
        if piv is None:
            return None
        M[col], M[piv] = M[piv], M[col]
        for r in range(k):
            if r != col and M[r][col] != 0:
                f = M[r][col] / M[col][col]
                M[r] = [x - f * y for x, y in zip(M[r], M[col])]
    return [M[r][k] / M[r][r] for r in range(k)]


def _lowest_best(values: list, want_max: bool = True) -> int:
    """The lowest index attaining the maximum (or minimum) of exact ``values``."""
    target = max(values) if want_max else min(values)
    return values.index(target)


# --- strategies ------------------------------------------------------------------------------

def _sixteenths(m: int) -> st.SearchStrategy[list[Fraction]]:
    """A distribution over ``m`` outcomes in sixteenths (exact as floats)."""
    cuts = st.lists(st.integers(0, 16), min_size=m - 1, max_size=m - 1).map(sorted)
    return cuts.map(lambda cs: [Q(b - a, 16) for a, b in zip([0, *cs], [*cs, 16])])


def _eighths(k: int, high: int) -> st.SearchStrategy[list[Fraction]]:
    return st.lists(st.integers(0, 8 * high), min_size=k, max_size=k).map(lambda v: [Q(x, 8) for x in v])


def _rational_row(m: int) -> st.SearchStrategy[list[Fraction]]:
    """Integer weights normalised exactly (thirds, fifths, ...: not dyadic)."""
    w = st.lists(st.integers(0, 6), min_size=m, max_size=m).filter(lambda v: sum(v) > 0)
    return w.map(lambda v: [Q(x, sum(v)) for x in v])


def _shift_nonnegative(c: list[Fraction]) -> list[Fraction]:
    """Add one constant to every cost so the smallest is >= 0 (no agent comparison changes)."""
    low = min(c)
    return [x - low for x in c] if low < 0 else c


@st.composite
def twinned_rational_problems(draw) -> ContractProblem:
    """Exact problems (rows in thirds, fifths, ...; costs and rewards with small denominators) in
    which every action appears twice, in a random order: the optimal action always has a twin."""
    n, m = draw(st.integers(1, 3)), draw(st.integers(1, 4))
    F = [draw(_rational_row(m)) for _ in range(n)]
    c = [Q(draw(st.integers(0, 24)), draw(st.sampled_from([1, 2, 3, 4, 6, 8]))) for _ in range(n)]
    r = [Q(draw(st.integers(0, 48)), draw(st.sampled_from([1, 2, 3, 8]))) for _ in range(m)]
    order = draw(st.permutations(list(range(n)) * 2))
    return ContractProblem.from_exact([F[k] for k in order], [c[k] for k in order], r)


@st.composite
def envelope_problems(draw) -> ContractProblem:
    """Dyadic problems for linear contracts where the envelope of ``α R_i − c_i`` has ties.

    Mostly, a set of at least two actions gets costs that put their lines through one point
    ``(α*, u*)`` with ``α* in {0, 1/4, 1/2, 3/4, 1}`` and ``u*`` at or above every other line at
    ``α*``: cheapest actions tied at ``α = 0``, several lines through one kink, a crossing exactly at
    ``α = 1``. Sometimes an action is also duplicated.
    """
    n, m = draw(st.integers(1, 5)), draw(st.integers(2, 4))
    F = [draw(_sixteenths(m)) for _ in range(n)]
    c = draw(_eighths(n, 4))
    r = draw(_eighths(m, 8))
    if n >= 2 and draw(st.integers(0, 3)) > 0:
        R = [_dot(row, r) for row in F]
        through = draw(st.lists(st.integers(0, n - 1), min_size=2, max_size=n, unique=True))
        a = draw(st.sampled_from([Q(0), Q(1), Q(1, 2), Q(0), Q(1), Q(1, 4), Q(3, 4)]))   # the ends of [0, 1] twice
        u = max((a * R[i] - c[i] for i in range(n) if i not in through), default=ZERO)
        u += Q(draw(st.integers(0, 2)), 8)
        for i in through:
            c[i] = a * R[i] - u
        c = _shift_nonnegative(c)
    if draw(st.booleans()):
        j, k = draw(st.integers(0, n - 1)), draw(st.integers(0, n))
        F.insert(k, F[j])
        c.insert(k, c[j])
    return ContractProblem.from_exact(F, c, r)


@st.composite
def contracts_with_agent_ties(draw) -> tuple[ContractProblem, tuple[Fraction, ...]]:
    """A dyadic problem and a dyadic contract ``t`` under which the agent is certainly indifferent:
    one added action either copies an existing one (same ``F_i`` and ``c_i``: tied for both
    parties) or has a fresh outcome row and the cost that ties it with the agent's best action."""
    n, m = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    F = [draw(_sixteenths(m)) for _ in range(n)]
    c = draw(_eighths(n, 4))
    r = draw(_eighths(m, 8))
    t = draw(_eighths(m, 4))
    if draw(st.booleans()):
        j = draw(st.integers(0, n - 1))
        row, cost = F[j], c[j]
    else:
        row = draw(_sixteenths(m))
        cost = _dot(row, t) - max(_dot(F[i], t) - c[i] for i in range(n))
    k = draw(st.integers(0, n))
    F.insert(k, row)
    c.insert(k, cost)
    return ContractProblem.from_exact(F, _shift_nonnegative(c), r), tuple(t)


@st.composite
def games_with_twin_columns(draw) -> BimatrixGame:
    """Bimatrix games with integer payoffs in {0,...,4} (frequent follower ties) in which every
    follower column (of both payoff matrices) appears twice, in a random order."""
    k, l = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    entries = st.lists(st.lists(st.integers(0, 4), min_size=l, max_size=l), min_size=k, max_size=k)
    A, B = np.array(draw(entries), dtype=float), np.array(draw(entries), dtype=float)
    order = draw(st.permutations(list(range(l)) * 2))
    return BimatrixGame(A[:, order], B[:, order])


@st.composite
def gh_twinned_instances(draw):
    """``(problem, utility, ρ, U_0)``: a problem of one or two actions, one of them duplicated at a
    random position (each action costs a convex program, so the instances are kept this small)."""
    p = draw(contract_problems(max_actions=2, max_outcomes=3, max_cost=2.0))
    j, k = draw(st.integers(0, p.n_actions - 1)), draw(st.integers(0, p.n_actions))
    order = np.insert(np.arange(p.n_actions), k, j)
    twinned = ContractProblem(p.outcome_probs[order], p.costs[order], p.rewards)
    utility = draw(st.sampled_from(UTILITIES))
    rho = draw(st.one_of(st.sampled_from([0.1, 0.25, 0.5]), st.floats(0.05, 0.5)))
    u0 = draw(st.one_of(st.integers(-4, 4).map(lambda q: q / 4.0), st.floats(-1.0, 1.0)))
    return twinned, utility, float(rho), float(u0)


# --- exact optimal contract ------------------------------------------------------------------

def _min_pay_row_evidence(F, c, row) -> list[Evidence]:
    """One exact MIN-PAY row: an IC contract proved optimal by its exact dual, or a Farkas witness."""
    i, n = row.action, len(F)
    if not row.implementable:
        lam = row.witness
        if lam is None:
            return [_holds(False, f"action {i}: refused without a witness")]
        mix = [_dot(lam, col) for col in zip(*F)]
        return [_holds(min(lam) >= 0 and sum(lam) == 1 and lam[i] == 0,
                       f"action {i}: witness is a convex combination of the other actions"),
                _holds(all(x >= y for x, y in zip(mix, F[i])), f"action {i}: witness λ·F >= F_i"),
                _holds(_dot(lam, c) < c[i], f"action {i}: witness λ·c < c_i")]
    t = row.contract
    u = [_dot(F[k], t) - c[k] for k in range(n)]
    items = [_holds(min(t) >= 0, f"action {i}: t >= 0"),
             _holds(u[i] == max(u), f"action {i}: IC (agent utility {u[i]}, best {max(u)})"),
             _same(row.expected_payment, _dot(F[i], t), f"action {i}: expected payment == F_i·t")]
    y = row.certificate.exact_dual
    others = [k for k in range(n) if k != i]
    if y is None or len(y) != len(others):
        return items + [_holds(False, f"action {i}: no exact dual to prove optimality")]
    lhs = [sum((yk * (F[i][j] - F[k][j]) for yk, k in zip(y, others)), ZERO) for j in range(len(t))]
    dual = sum((yk * (c[i] - c[k]) for yk, k in zip(y, others)), ZERO)
    return items + [_holds(min(y, default=ZERO) >= 0, f"action {i}: dual multipliers >= 0"),
                    _holds(all(a <= b for a, b in zip(lhs, F[i])),
                           f"action {i}: dual feasible Σ λ_k (F_i − F_k) <= F_i"),
                    _same(dual, row.expected_payment, f"action {i}: dual objective == MIN-PAY")]


@theorem(
    "exact.optimum_recomputed",
    "For the exact optimal contract (solve(problem, exact=True)), every reported number equals its exact "
    "recomputation from the data in rationals: for each action the MIN-PAY contract t is feasible (t >= 0, "
    "F_i·t − c_i >= F_k·t − c_k for all k), its expected payment is F_i·t, and its exact dual multipliers "
    "λ >= 0 satisfy Σ λ_k (F_i − F_k) <= F_i with Σ λ_k (c_i − c_k) = F_i·t (so it is optimal); each refused "
    "action has a witness λ (a convex combination of the others) with λ·F >= F_i and λ·c < c_i; the principal "
    "utilities are R_k − MINPAY(k) with R_k = F_k·r; the chosen action is the lowest index attaining the "
    "maximum, and its contract, expected payment, principal utility R_a − MINPAY(a) and agent utility "
    "MINPAY(a) − c_a are reported exactly. Checked with exact equality (no tolerance) on problems in which "
    "every action is duplicated.",
    f"{DRT19}, Section 2, LP (1), its dual and Proposition 2 (implementability); the lowest-index tie rule "
    "documented in contractlab.solvers.exact",
    twinned_rational_problems,
    tags=("exact", "ties"),
)
def check_exact_optimum_recomputed(p: ContractProblem) -> Evidence:
    F, c, r = _exact_problem(p)
    res = optimal_contract_exact(p)
    R = [_dot(row, r) for row in F]
    items = [_same(row.action, k, f"table row {k} is about action {k}") for k, row in enumerate(res.table)]
    for row in res.table:
        items += _min_pay_row_evidence(F, c, row)
    u = [R[k] - row.expected_payment if row.implementable else None for k, row in enumerate(res.table)]
    items += [_same(res.principal_utilities[k], u[k], f"principal utility of action {k}") for k in range(len(F))]
    candidates = [k for k in range(len(F)) if u[k] is not None]
    if not candidates:
        return Evidence.combine(items + [_holds(False, "no action implementable (the cheapest always is)")])
    best = max(u[k] for k in candidates)
    tied = [k for k in candidates if u[k] == best]
    a = tied[0]
    items.append(_same(res.action, a, f"optimal action is the lowest index among {tied}"))
    pay = res.table[a].expected_payment
    items += [_same(res.contract, res.table[a].contract, "contract of the optimal action"),
              _same(res.expected_payment, pay, "expected payment of the optimal action"),
              _same(res.principal_utility, R[a] - pay, "principal utility R_a − MINPAY(a)"),
              _same(res.agent_utility, pay - c[a], "agent utility MINPAY(a) − c_a")]
    return Evidence.combine(items)


# --- linear contracts ------------------------------------------------------------------------

def _linear_choice(R, c, alpha: Fraction) -> int:
    """The agent's choice under ``t = α r``: the best ``α R_i − c_i``; ties to the highest ``R_i``
    (the principal's favourite, as ``(1 − α) R_i`` grows with ``R_i``), then the lowest index."""
    u = [alpha * Ri - ci for Ri, ci in zip(R, c)]
    top = max(u)
    tied = [i for i in range(len(u)) if u[i] == top]
    high = max(R[i] for i in tied)
    return min(i for i in tied if R[i] == high)


def _brute_force_envelope(R, c) -> tuple[list[Fraction], list[int]]:
    """Critical values in [0, 1] and induced actions by evaluating the choice at every candidate.

    Between consecutive candidates (0, 1 and every crossing of two lines in (0, 1)) no two lines
    cross, so the choice is constant on ``[α_k, α_{k+1})``; a critical value is a candidate where
    the choice differs from the previous one.
    """
    cands = {ZERO, Q(1)}
    for a, b in combinations(range(len(R)), 2):
        if R[a] != R[b]:
            x = (c[b] - c[a]) / (R[b] - R[a])
            if 0 < x < 1:
                cands.add(x)
    values, actions = [], []
    for alpha in sorted(cands):
        act = _linear_choice(R, c, alpha)
        if not actions or act != actions[-1]:
            values.append(alpha)
            actions.append(act)
    return values, actions


@theorem(
    "linear.envelope_brute_force",
    "Under linear contracts t = α r the agent's utility from action i is the line α R_i − c_i; its choice "
    "(ties to the principal: the highest R_i among the tied lines, then the lowest index) changes only at "
    "crossings of two lines. best_linear_contract's critical values are exactly the α in [0, 1] (0 and 1 "
    "included) at which this choice changes, in strictly increasing order, its induced actions are the "
    "choices there and its principal utilities (1 − α_k) R_{a_k}; the best share attains the maximum of "
    "(1 − α) R over [0, 1], and its action, agent utility α R_a − c_a and contract α r are consistent. "
    "Checked against exact rational evaluation at 0, 1 and every pairwise crossing, on dyadic instances "
    f"(float arithmetic exact up to the final quotient), within {ROUND_OFF_TOL:g}.",
    f"{DRT19}, Section 3 (linear contracts, the upper envelope of the agent's utilities, critical values, "
    "Lemma 3.1); the tie rule documented in contractlab.solvers.linear",
    envelope_problems,
    tags=("linear", "ties"),
)
def check_envelope_brute_force(p: ContractProblem) -> Evidence:
    F, c, r = _exact_problem(p)
    R = [_dot(row, r) for row in F]
    values, actions = _brute_force_envelope(R, c)
    lin = best_linear_contract(p)
    got_v, got_a = [float(x) for x in lin.critical_values], [int(a) for a in lin.induced_actions]
    detail = f"exact {[str(v) for v in values]} -> {actions}; solver {got_v} -> {got_a}"
    if len(got_v) != len(values):
        return Evidence(len(got_v), len(values), -1.0, False, "number of critical values: " + detail)
    items = [_same(got_a, actions, "induced actions: " + detail)]
    items += [_close(g, v, f"critical value {k}: " + detail) for k, (g, v) in enumerate(zip(got_v, values))]
    utilities = [(1 - v) * R[a] for v, a in zip(values, actions)]
    items += [_close(g, u, f"principal utility at critical value {k}")
              for k, (g, u) in enumerate(zip(lin.principal_utilities, utilities))]
    best = max(utilities)
    items.append(_close(lin.principal_utility, best, "principal utility of the best share = max (1 − α) R"))
    at = [k for k, v in enumerate(values) if abs(float(v) - lin.alpha) <= ROUND_OFF_TOL]
    if not at:
        return Evidence.combine(items + [_holds(False, f"best share {lin.alpha} is not a critical value")])
    a, alpha = actions[at[0]], values[at[0]]
    items += [_same(lin.action, a, f"action induced at the best share {lin.alpha}"),
              _close(lin.agent_utility, alpha * R[a] - c[a], "agent utility α R_a − c_a"),
              _holds(bool(np.array_equal(lin.contract, lin.alpha * p.rewards)), "contract == α r")]
    return Evidence.combine(items)


# --- the agent's best response ---------------------------------------------------------------

@theorem(
    "best_response.tie_rule",
    "Under a contract t, the agent's best set is {i : F_i·t − c_i = max_k (F_k·t − c_k)}; with tie_break="
    "'principal' the chosen action maximises the principal's utility R_i − F_i·t over the best set, with "
    "'adversarial' it minimises it, remaining ties to the lowest index; the reported best set, agent "
    "utility, principal utility and expected payment F_a·t equal their exact recomputation. Checked on "
    "dyadic instances with an action certainly tied with the agent's best (a copy, or a different outcome "
    f"row at the tying cost), within {ROUND_OFF_TOL:g}.",
    f"{DRT19}, Section 2 (the agent best-responds; ties in the principal's favour, the standard convention); "
    "the tie rules documented in contractlab.solvers.best_response",
    contracts_with_agent_ties,
    tags=("best_response", "ties"),
)
def check_best_response_tie_rule(args) -> Evidence:
    p, t = args
    F, c, r = _exact_problem(p)
    pay = [_dot(row, t) for row in F]
    agent = [x - ci for x, ci in zip(pay, c)]
    principal = [_dot(row, r) - x for row, x in zip(F, pay)]
    top = max(agent)
    best = [i for i in range(len(F)) if agent[i] == top]
    items = []
    for rule in TIE_BREAKS:
        br = agent_best_response(p, np.array([float(x) for x in t]), tie_break=rule)
        a = best[_lowest_best([principal[i] for i in best], want_max=(rule == "principal"))]
        items += [_same(br.action, a, f"{rule}: chosen action among best set {best}"),
                  _same(tuple(br.best_set), tuple(best), f"{rule}: best set"),
                  _close(br.agent_utility, agent[a], f"{rule}: agent utility"),
                  _close(br.principal_utility, principal[a], f"{rule}: principal utility"),
                  _close(br.expected_payment, pay[a], f"{rule}: expected payment")]
    return Evidence.combine(items)


# --- Stackelberg -----------------------------------------------------------------------------

def _exact_game(game: BimatrixGame) -> tuple[list[list[Fraction]], list[list[Fraction]]]:
    """The payoff columns of ``A`` and ``B`` as exact Fractions: ``A[j]`` is column ``j``."""
    return ([_fractions(col) for col in game.leader_payoffs.T], [_fractions(col) for col in game.follower_payoffs.T])


def _region_vertices(B: list[list[Fraction]], j: int) -> list[tuple[Fraction, ...]]:
    """Every vertex of ``{x in Δ_k : x·B_j >= x·B_j' for all j'}`` (empty list if the region is empty).

    A vertex is the unique solution of ``Σ x = 1`` and ``k − 1`` of the inequalities made tight.
    """
    k = len(B[j])
    rows = [[Q(int(i == h)) for h in range(k)] for i in range(k)]
    rows += [[x - y for x, y in zip(B[j], B[jp])] for jp in range(len(B)) if jp != j]
    found: set[tuple[Fraction, ...]] = set()
    for tight in combinations(range(len(rows)), k - 1):
        x = _solve_square([[Q(1)] * k] + [rows[s] for s in tight], [Q(1)] + [ZERO] * (k - 1))
        if x is not None and all(_dot(row, x) >= 0 for row in rows):
            found.add(tuple(x))
    return sorted(found)


def _commitment_values(A, B) -> list[Fraction | None]:
    """``max x·A_j`` over the region where ``j`` is a best response (``None`` if empty), per column."""
    out = []
    for j in range(len(A)):
        verts = _region_vertices(B, j)
        out.append(max(_dot(x, A[j]) for x in verts) if verts else None)
    return out


@theorem(
    "stackelberg.commitment_values_exact",
    "For every follower action j, the value of the commitment LP of j (the best leader payoff x·A[:, j] over "
    "mixed commitments x to which j is a best response) equals the exact maximum over the vertices of that "
    "best-response region (−inf exactly when the region is empty); the Stackelberg value is the largest, "
    "and the follower action reported is the lowest index whose value is within TIE_TOL·max(1, |best|) of "
    f"it (TIE_TOL = {STK_TIE_TOL:g}; the exact values of the drawn games are tied exactly or far apart). "
    f"Values within {CHECK_TOL:g}·max(1, |value|) (LP accuracy); checked on integer games in which every "
    "follower column is duplicated.",
    f"{CS06}, Section 3, Theorem 2 (one LP per follower action; the strong Stackelberg equilibrium); the "
    "lowest-index tie rule documented in contractlab.solvers.stackelberg",
    games_with_twin_columns,
    tags=("stackelberg", "ties"),
)
def check_commitment_values_exact(game: BimatrixGame) -> Evidence:
    A, B = _exact_game(game)
    values = _commitment_values(A, B)
    res = stackelberg(game)
    items = []
    for j, (v, got) in enumerate(zip(values, res.action_values)):
        if v is None:
            items.append(_holds(got == -np.inf, f"column {j}: never a best response, LP value {got}"))
        else:
            items.append(Evidence.equal(float(got), float(v), CHECK_TOL, f"column {j}: commitment value"))
    best = max(v for v in values if v is not None)
    items.append(Evidence.equal(res.leader_value, float(best), CHECK_TOL, "Stackelberg value"))
    tied = [j for j, v in enumerate(values) if v is not None and v >= best - STK_TIE_TOL * max(1, abs(best))]
    items.append(_same(res.follower_action, tied[0], f"follower action: lowest index among tied {tied}"))
    return Evidence.combine(items)


def _evaluation_evidence(game, A, B, x: tuple[Fraction, ...], label: str) -> tuple[list[Evidence], float]:
    """``leader_payoff_with_best_response`` at ``x`` against the exact leader-favourable best response."""
    follower = [_dot(x, col) for col in B]
    brs = [j for j, f in enumerate(follower) if f == max(follower)]
    leader = [_dot(x, A[j]) for j in brs]
    target = max(leader)
    value, j = leader_payoff_with_best_response(game, np.array([float(v) for v in x]))
    items = [_close(value, target, f"{label}: leader payoff under leader-favourable ties", CHECK_TOL),
             _holds(j in brs and _dot(x, A[j]) >= target - Q(CHECK_TOL) * max(1, abs(target)),
                    f"{label}: reported column {j} is a best response attaining the payoff (best responses {brs})")]
    if all(Fraction(float(v)) == v for v in x):   # x exact in floats: the tie rule is exact too
        items.append(_same(j, brs[_lowest_best(leader)], f"{label}: lowest index among the leader's favourites"))
    return items, value


@theorem(
    "stackelberg.leader_favourable_evaluation",
    "For a commitment x, leader_payoff_with_best_response returns max over the follower's best responses j "
    "to x of x·A[:, j] (the strong-Stackelberg tie-break: the follower favours the leader), with a column "
    "attaining it (the lowest such index when x is exact in floats). Checked at every pure commitment, at "
    "every vertex of every follower best-response region (where the follower is indifferent) and at the "
    "solver's optimal commitment; the maximum over these commitments, and the evaluation at the optimal "
    f"commitment, equal the Stackelberg value (within {CHECK_TOL:g}·max(1, |value|)).",
    f"{CS06}, Sections 2 and 3 (strong Stackelberg equilibrium: follower ties broken in the leader's favour; "
    "the optimum is attained at a vertex of a best-response region)",
    games_with_twin_columns,
    tags=("stackelberg", "ties"),
)
def check_leader_favourable_evaluation(game: BimatrixGame) -> Evidence:
    A, B = _exact_game(game)
    k = game.n_leader_actions
    commitments = {tuple(Q(int(i == h)) for h in range(k)) for i in range(k)}
    for j in range(len(A)):
        commitments.update(_region_vertices(B, j))
    items, evaluated = [], []
    for x in sorted(commitments):
        ev, value = _evaluation_evidence(game, A, B, x, f"x = ({', '.join(map(str, x))})")
        items += ev
        evaluated.append(value)
    res = stackelberg(game)
    value, _ = leader_payoff_with_best_response(game, res.leader_strategy)
    items += [Evidence.equal(max(evaluated), res.leader_value, CHECK_TOL, "best vertex commitment = Stackelberg value"),
              Evidence.equal(value, res.leader_value, CHECK_TOL, "evaluation of the optimal commitment = its value")]
    return Evidence.combine(items)


# --- Grossman–Hart ---------------------------------------------------------------------------

@theorem(
    "grossman_hart.optimum_ties_to_lowest_index",
    "Two actions with the same outcome distribution and cost have the same Grossman–Hart cost C(i) (the "
    "program of each is the other's: the same IC rows, the one between them trivial), within "
    f"{TWIN_COST_TOL:g}·max(1, C(i)); the principal's utilities are R_i − C(i) (−inf if not implementable) and "
    "the optimal action is the lowest index whose utility is within TIE_TOL·max(1, |best|) of the best "
    f"(TIE_TOL = {GH_TIE_TOL:g}). Checked on problems with a duplicated action, for the sqrt, log "
    "and CARA utilities; vacuous when no action is implementable.",
    f"{GH83} (the second step: the action maximising R_i − C(i); the program depends on i only through "
    "(F_i, c_i) and the other actions); the tie rule documented in contractlab.solvers.grossman_hart",
    gh_twinned_instances,
    tags=("grossman_hart", "ties"),
)
def check_gh_ties_to_lowest_index(args) -> Evidence:
    p, utility, rho, u0 = args
    opt = grossman_hart_optimal(p, utility, rho, u0)
    cost = np.array([r.expected_payment if r.implementable and np.isfinite(r.expected_payment) else np.inf
                     for r in opt.results])
    if not np.isfinite(cost).any():
        return Evidence.vacuous("no action is implementable")
    F, c = p.outcome_probs, p.costs
    items = []
    for i, k in combinations(range(p.n_actions), 2):
        if np.array_equal(F[i], F[k]) and c[i] == c[k]:
            if np.isfinite(cost[i]) != np.isfinite(cost[k]):
                return Evidence(cost[k], cost[i], -math.inf, False, f"twins {i} and {k}: one implementable, one not")
            if np.isfinite(cost[i]):
                items.append(Evidence.equal(cost[k], cost[i], TWIN_COST_TOL, f"twins {i} and {k}: cost"))
    values = np.where(np.isfinite(cost), p.expected_rewards - np.where(np.isfinite(cost), cost, 0.0), -np.inf)
    best = values.max()
    tied = np.flatnonzero(values >= best - GH_TIE_TOL * max(1.0, abs(best)))
    items += [_same(opt.action, int(tied[0]), f"optimal action: lowest index among tied {tied.tolist()}"),
              _holds(opt.result is opt.results[opt.action], "result is the optimal action's"),
              _holds(bool(np.array_equal(opt.principal_utilities, values)), "principal utilities R_i − C(i)")]
    return Evidence.combine(items)


__all__ = ["twinned_rational_problems", "envelope_problems", "contracts_with_agent_ties", "games_with_twin_columns",
           "gh_twinned_instances", "ROUND_OFF_TOL", "TWIN_COST_TOL"]
