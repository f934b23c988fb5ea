"""Exact certificates for floating-point LP answers, checked in rational arithmetic.

Every float is a rational number (``Fraction(x)`` converts it exactly), so the data of a
problem -- ``F``, ``c``, ``r``, the outside option ``U_0`` and the IC margin ``ε`` -- *is* an
exact rational instance. :func:`certify` takes a solver's floating-point answer for that
instance and tries to prove it right or wrong exactly:

* **MIN-PAY** (:class:`~contractlab.solvers.min_pay.MinPayResult`, LP and dual in
  :mod:`.min_pay`). Rows ``r`` are the IC rows ``a_k = F_i − F_k``, ``b_k = c_i − c_k + ε``
  (``k != i``) and, with a participation constraint, ``a = F_i``, ``b = c_i + U_0``. From the
  float contract we read the *basis*: the support ``J = {j : t_j > tol}`` and the active rows
  ``{r : slack_r <= tol}``; we choose ``|J|`` linearly independent active rows ``B`` (rows
  with the largest reported multipliers first) and solve, in Fractions,

      a_B[:, J] t_J = b_B,  t_j = 0 off J          (the vertex)
      a_B[:, J]^T y_B = F_i[J],  y_r = 0 off B     (complementary slackness: the dual)

  and then check *exactly*: ``t >= 0``; ``a_r·t >= b_r`` for every row; ``y >= 0``;
  ``Σ_r y_r a_r <= F_i`` componentwise; ``F_i·t == Σ_r y_r b_r``. All pass: the LP optimum is
  exactly ``F_i·t`` (weak duality), verdict ``certified``. If the first choice of ``B`` fails,
  other choices of ``|J|`` active rows are tried (at most :data:`MAX_BASES`); if none works
  (an interior-point answer, or a misread degenerate basis), every basis ``(J, B)`` is
  enumerated exactly (at most ``max_enumerated``) for a primal- and dual-feasible one, whose
  value is then the exact optimum the reported payment must match.
  Before that, the float answer itself is checked within ``tol`` (reported payment ``= F_i·t``,
  ``t >= 0``, every IC row, the reported multipliers dual feasible, their dual objective equal
  to the payment); a failure there, or a reported payment further than ``tol`` from a
  certified exact optimum, is ``refuted``.
* **Not implementable** (``implementable=False``): a Farkas certificate. The witness
  ``λ`` (``result.witness``, else recomputed by an LP over the other actions) gives a support
  ``S``; on ``S`` we solve ``λ·F = F_i, Σλ = 1`` exactly (a square independent subsystem of
  it), then check exactly ``λ >= 0``, ``λ·F >= F_i`` componentwise (``==`` in the generic
  case) and ``λ·c < c_i + ε``. Then ``y = λ`` satisfies ``y >= 0``, ``Σ_k y_k a_k <= 0`` and
  ``Σ_k y_k b_k > 0``, so no ``t >= 0`` meets every IC row (Farkas' lemma). Caveat: the
  binary floats of a row of ``F`` need not sum to exactly 1 (e.g. ``w / w.sum()``); then the
  exact IC rows do not sum to 0, the exact instance can be feasible with huge payments, no
  exact witness exists, and the verdict is ``numerically_verified`` with that reason.
* **Optimal contract** (:class:`~contractlab.solvers.optimal.OptimalContract`): every row of
  its table is certified as above; then ``R_a − MINPAY(a)`` of the chosen action must be
  exactly maximal among the certified values.
* **Best linear contract** (:class:`~contractlab.solvers.linear.LinearContractResult`): the
  upper envelope, critical values, induced actions and the principal's utilities are
  recomputed in Fractions and compared with the float answer.

Verdicts: ``"certified"`` (exact proof; ``exact_value`` is the exact optimum),
``"numerically_verified"`` (the float answer passes every check within ``tol`` but no exact
proof was found -- the reason says why, e.g. a degenerate or unidentifiable basis) and
``"refuted"`` (a named constraint or equality is violated by more than ``tol``, or exactly
where the claim is exact).

* **Stackelberg commitment** (:class:`~contractlab.solvers.stackelberg.StackelbergResult`,
  ``problem`` = the :class:`~contractlab.theory.bimatrix.BimatrixGame`): certified against the
  commitment LPs exactly as :func:`~contractlab.solvers.stackelberg.commitment_lps` builds them
  (follower payoff differences ``<= payoff_tol · max(1, max|B|)`` zeroed). LP ``j*`` is
  certified like MIN-PAY (exact vertex from the basis of the reported leader strategy, exact
  dual ``(y, v)`` by complementary slackness, exact feasibility and equal objectives); every
  other follower action ``j`` gets an exact ``y >= 0`` making ``(v*, y)`` dual feasible for LP
  ``j``, which bounds its value by ``v*`` (or proves it infeasible -- the Farkas case) by weak
  duality. See :func:`certify_stackelberg`.
* **SPE contract at one state** (:func:`certify_spe_state`): the MIN-PAY of ``F = O(s)``,
  ``c = −Q̄(s, ·)`` (the stored ``agent_q``) for the recommended action, certified as above.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from itertools import combinations
from typing import Iterable, Sequence

import numpy as np

from ..theory.contract_problem import ContractProblem

#: Default tolerance of the float checks and of reading the basis off a float answer: an entry
#: ``t_j > TOL`` is in the support, a row with slack ``<= TOL`` is active; float comparisons
#: are scaled by ``max(1, |magnitude|)`` of the quantities compared.
TOL = 1e-9

#: At most this many choices of basis rows (or witness equations) are tried exactly.
MAX_BASES = 200

CERTIFIED = "certified"
NUMERICALLY_VERIFIED = "numerically_verified"
REFUTED = "refuted"


@dataclass(frozen=True)
class Check:
    """One named check: ``passed`` and a human-readable ``detail`` (values compared)."""

    name: str
    passed: bool
    exact: bool
    detail: str = ""


@dataclass(frozen=True)
class Certificate:
    """The outcome of :func:`certify`.

    Attributes
    ----------
    verdict:
        ``"certified"``, ``"numerically_verified"`` or ``"refuted"``.
    exact_value:
        The exact optimum (MIN-PAY: ``F_i·t``; optimal contract / linear contract: the
        principal's utility) when certified, else ``None``. For a certified non-implementable
        action it is ``None`` (there is no optimum).
    reason:
        One sentence: what was proved, or the first failed check and why.
    checks:
        Every check performed, in order (float checks have ``exact=False``).
    exact_point:
        The exact primal point (MIN-PAY contract ``t``; the Farkas witness ``λ``; the linear
        share ``(α*,)``), if one was computed.
    exact_dual:
        The exact dual multipliers ``(λ_k for k != i in increasing order, then μ)`` of MIN-PAY.
    parts:
        Certificates of the parts (the rows of an optimal contract's table).
    """

    verdict: str
    exact_value: Fraction | None
    reason: str
    checks: tuple[Check, ...]
    exact_point: tuple[Fraction, ...] | None = None
    exact_dual: tuple[Fraction, ...] | None = None
    parts: tuple["Certificate", ...] = ()

    @property
    def ok(self) -> bool:
        """``True`` unless refuted."""
        return self.verdict != REFUTED


# --------------------------------------------------------------------------- exact linear algebra

def _fr(x) -> Fraction:
    """The exact rational value of a float / int (``Fraction(float)`` is exact)."""
    return Fraction(float(x)) if not isinstance(x, Fraction) else x


def _frvec(v) -> list[Fraction]:
    return [_fr(x) for x in np.asarray(v, dtype=float).ravel()]


def exact_data(problem: ContractProblem) -> tuple[list[list[Fraction]], list[Fraction], list[Fraction]]:
    """``(F, c, r)`` as Fractions: the problem's exact data (:attr:`ContractProblem.exact`, e.g.
    the decimal literals of its JSON file) when it has them, else the exact values of its floats."""
    if problem.exact is not None:
        F, c, r = problem.exact
        return [list(row) for row in F], list(c), list(r)
    return [_frvec(row) for row in problem.outcome_probs], _frvec(problem.costs), _frvec(problem.rewards)


def _dot(a: Sequence[Fraction], b: Sequence[Fraction]) -> Fraction:
    return sum((x * y for x, y in zip(a, b)), Fraction(0))


def solve_square(A: list[list[Fraction]], b: list[Fraction]) -> list[Fraction] | None:
    """Solve the square system ``A x = b`` exactly by Gaussian elimination; ``None`` if singular."""
    k = len(A)
    M = [list(row) + [rhs] for row, rhs in zip(A, b)]
    for col in range(k):
        piv = next((r for r in range(col, k) if M[r][col] != 0), None)
        if piv is None:
            return None
        M[col], M[piv] = M[piv], M[col]
        p = M[col][col]
        for r in range(k):
            if r != col and M[r][col] != 0:
                f = M[r][col] / p
                M[r] = [x - f * y for x, y in zip(M[r], M[col])]
    return [M[r][k] / M[r][r] for r in range(k)]


def independent_rows(rows: list[list[Fraction]], order: Iterable[int]) -> list[int]:
    """Greedily pick, in ``order``, indices of rows that are linearly independent (exactly)."""
    basis: list[tuple[int, list[Fraction]]] = []  # (pivot column, reduced row)
    chosen: list[int] = []
    for idx in order:
        v = list(rows[idx])
        for pc, brow in basis:
            if v[pc] != 0:
                f = v[pc] / brow[pc]
                v = [x - f * y for x, y in zip(v, brow)]
        pc = next((j for j, x in enumerate(v) if x != 0), None)
        if pc is not None:
            basis.append((pc, v))
            chosen.append(idx)
    return chosen


def _close(a: float, b: float, tol: float) -> bool:
    return abs(a - b) <= tol * max(1.0, abs(a), abs(b))


# --------------------------------------------------------------------------- MIN-PAY

def _min_pay_rows(problem: ContractProblem, action: int, participation, ic_margin):
    """Exact rows ``(a_r, b_r, name_r)`` of MIN-PAY for ``action``: IC rows, then participation."""
    F, c, _ = exact_data(problem)
    eps = _fr(ic_margin)
    A, b, names = [], [], []
    for k in range(problem.n_actions):
        if k != action:
            A.append([x - y for x, y in zip(F[action], F[k])])
            b.append(c[action] - c[k] + eps)
            names.append(f"IC[{k}]")
    if participation is not None:
        A.append(list(F[action]))
        b.append(c[action] + _fr(participation))
        names.append("participation")
    return F, c, A, b, names


def _float_min_pay_checks(result, problem: ContractProblem, tol: float) -> list[Check]:
    """The float answer within ``tol``: payment = F_i·t, t >= 0, every row, dual feasibility,
    dual objective (recomputed from the reported multipliers) = payment = reported dual value."""
    i = result.action
    F = problem.outcome_probs
    t = np.asarray(result.contract, dtype=float)
    checks = []
    pay = float(F[i] @ t)
    scale = max(1.0, float(np.abs(t).sum()))
    checks.append(Check("reported payment == F_i·t", _close(pay, result.expected_payment, tol), False,
                        f"F_i·t = {pay!r}, reported {result.expected_payment!r}"))
    neg = np.flatnonzero(t < -tol * scale)
    checks.append(Check("t >= 0", neg.size == 0, False,
                        f"t[{int(neg[0])}] = {t[neg[0]]!r}" if neg.size else ""))
    _, _, A, b, names = _min_pay_rows(problem, i, result.participation, result.ic_margin)
    Af, bf = np.array(A, dtype=float).reshape(len(A), len(t)), np.array(b, dtype=float)
    slack = Af @ t - bf
    bad = [r for r in range(len(b)) if slack[r] < -tol * max(scale, abs(bf[r]), 1.0)]
    checks.append(Check("primal rows (float)", not bad, False,
                        f"{names[bad[0]]} violated by {-slack[bad[0]]!r}" if bad else ""))
    if result.ic_duals is None:
        return checks
    y = _reported_dual(result)
    ny = np.flatnonzero(y < -tol)
    checks.append(Check("dual >= 0 (float)", ny.size == 0, False,
                        f"{names[ny[0]]} multiplier {y[ny[0]]!r}" if ny.size else ""))
    lhs = y @ Af if len(y) else np.zeros(len(t))
    dscale = max(1.0, float(np.abs(y).sum()))
    over = np.flatnonzero(lhs > F[i] + tol * dscale)
    checks.append(Check("dual feasible Σ y_r a_r <= F_i (float)", over.size == 0, False,
                        f"outcome {int(over[0])}: {lhs[over[0]]!r} > {F[i][over[0]]!r}" if over.size else ""))
    dual = float(y @ bf)
    checks.append(Check("dual objective == payment (float)", _close(dual, pay, tol * dscale), False,
                        f"Σ y_r b_r = {dual!r}, F_i·t = {pay!r}"))
    if result.dual_value is not None:
        checks.append(Check("reported dual value == Σ y_r b_r", _close(dual, result.dual_value, tol * dscale),
                            False, f"recomputed {dual!r}, reported {result.dual_value!r}"))
    return checks


def _reported_dual(result) -> np.ndarray:
    """The reported multipliers in row order: ``λ_k`` for ``k != i``, then ``μ`` if imposed."""
    lam = np.delete(np.asarray(result.ic_duals, dtype=float), result.action)
    if result.participation is not None:
        lam = np.append(lam, 0.0 if result.participation_dual is None else float(result.participation_dual))
    return lam


def _exact_vertex_checks(Fi, A, b, names, J, B) -> tuple[list[Check], list[Fraction], list[Fraction]] | None:
    """Solve the basis ``(J, B)`` exactly and check primal/dual feasibility and equal objectives.

    Returns ``None`` when ``a_B[:, J]`` is singular, else the exact checks, ``t`` and ``y``.
    """
    m, R = len(Fi), len(b)
    M = [[A[r][j] for j in J] for r in B]
    tJ = solve_square(M, [b[r] for r in B]) if J else []
    yB = solve_square([list(col) for col in zip(*M)], [Fi[j] for j in J]) if J else []
    if tJ is None or yB is None:
        return None
    t = [Fraction(0)] * m
    for j, v in zip(J, tJ):
        t[j] = v
    y = [Fraction(0)] * R
    for r, v in zip(B, yB):
        y[r] = v
    checks = []
    neg = [j for j in range(m) if t[j] < 0]
    checks.append(Check("t >= 0", not neg, True, f"t[{neg[0]}] = {t[neg[0]]}" if neg else ""))
    bad = [r for r in range(R) if _dot(A[r], t) < b[r]]
    checks.append(Check("primal rows a_r·t >= b_r", not bad, True,
                        f"{names[bad[0]]}: {_dot(A[bad[0]], t)} < {b[bad[0]]}" if bad else ""))
    ny = [r for r in range(R) if y[r] < 0]
    checks.append(Check("dual y >= 0", not ny, True, f"{names[ny[0]]} multiplier {y[ny[0]]}" if ny else ""))
    lhs = [sum((y[r] * A[r][j] for r in range(R)), Fraction(0)) for j in range(m)]
    over = [j for j in range(m) if lhs[j] > Fi[j]]
    checks.append(Check("dual feasible Σ y_r a_r <= F_i", not over, True,
                        f"outcome {over[0]}: {lhs[over[0]]} > {Fi[over[0]]}" if over else ""))
    pv, dv = _dot(Fi, t), _dot(y, b)
    checks.append(Check("F_i·t == Σ y_r b_r", pv == dv, True, f"{pv} vs {dv}"))
    return checks, t, y


def _candidate_bases(A, J, active, order, limit):
    """Row sets ``B`` of size ``|J|`` from the active rows: the greedy choice first, then others."""
    rows = [[A[r][j] for j in J] for r in range(len(A))]
    first = independent_rows(rows, order)
    if len(first) == len(J):
        yield tuple(first)
    for n_tried, combo in enumerate(combinations(active, len(J))):
        if n_tried >= limit:
            return
        if tuple(combo) != tuple(first):
            yield combo


def _all_bases(m: int, R: int, limit: int):
    """Every basis ``(J, B)`` with ``|J| = |B| = k`` for ``k = 0, 1, ...`` (at most ``limit`` of them)."""
    count = 0
    for k in range(min(m, R) + 1):
        for J in combinations(range(m), k):
            for B in combinations(range(R), k):
                if count >= limit:
                    return
                count += 1
                yield list(J), list(B)


def _certified_min_pay(result, checks, ex_checks, t_ex, y_ex, Fi, how: str, tol: float) -> Certificate:
    """The certificate once an exact primal-dual optimal pair is found: compare the reported payment."""
    value = _dot(Fi, t_ex)
    agree = Check("reported payment == exact optimum", _close(float(value), result.expected_payment, tol),
                  False, f"exact {value} ≈ {float(value)!r}, reported {result.expected_payment!r}")
    all_checks = tuple(checks + ex_checks + [agree])
    if not agree.passed:
        return Certificate(REFUTED, value, f"the exact optimum is {value} but {agree.detail}", all_checks,
                           tuple(t_ex), tuple(y_ex))
    return Certificate(CERTIFIED, value, f"{how}: primal and dual feasible, objectives equal {value}", all_checks,
                       tuple(t_ex), tuple(y_ex))


def certify_min_pay(result, problem: ContractProblem, tol: float = TOL,
                    max_enumerated: int = 2000) -> Certificate:
    """Certify a :class:`~contractlab.solvers.min_pay.MinPayResult` exactly (see module docstring).

    If no basis read off the reported point certifies (e.g. an interior-point answer), up to
    ``max_enumerated`` bases ``(J, B)`` are enumerated exactly; a primal- and dual-feasible one
    proves the exact optimum, which the reported payment must then match within ``tol``.
    """
    if not result.implementable:
        return certify_not_implementable(result, problem, tol)
    if result.contract is None:
        return Certificate(REFUTED, None, "implementable=True but no contract reported", ())
    checks = _float_min_pay_checks(result, problem, tol)
    failed = [ch for ch in checks if not ch.passed]
    if failed:
        return Certificate(REFUTED, None, f"float check failed: {failed[0].name} ({failed[0].detail})", tuple(checks))
    i = result.action
    F, c, A, b, names = _min_pay_rows(problem, i, result.participation, result.ic_margin)
    Fi = F[i]
    t = np.asarray(result.contract, dtype=float)
    scale = max(1.0, float(np.abs(t).sum()))
    J = [j for j in range(len(t)) if t[j] > tol * scale]
    Af = np.array(A, dtype=float).reshape(len(A), len(t))
    slack = Af @ t - np.array(b, dtype=float)
    active = [r for r in range(len(b)) if slack[r] <= tol * max(scale, 1.0)]
    y_rep = _reported_dual(result) if result.ic_duals is not None else np.zeros(len(b))
    order = sorted(active, key=lambda r: (-y_rep[r], r))
    last_fail = None
    if len(active) < len(J):
        last_fail = f"not a vertex: {len(active)} active rows for a support of size {len(J)}"
    else:
        for B in _candidate_bases(A, J, active, order, MAX_BASES):
            got = _exact_vertex_checks(Fi, A, b, names, J, list(B))
            if got is None:
                continue
            ex_checks, t_ex, y_ex = got
            bad = [ch for ch in ex_checks if not ch.passed]
            if bad:
                last_fail = f"basis {[names[r] for r in B]} on support {J}: {bad[0].name} fails ({bad[0].detail})"
                continue
            return _certified_min_pay(result, checks, ex_checks, t_ex, y_ex, Fi,
                                      f"exact vertex on support {J} with basis rows {[names[r] for r in B]}", tol)
        if last_fail is None:
            last_fail = (f"degenerate basis: the {len(active)} active rows have rank < support size {len(J)}")
    # The reported point's basis failed (an interior point, or a degenerate / misread basis):
    # search every basis exactly (small problems) for a primal and dual feasible one.
    for J2, B2 in _all_bases(len(t), len(b), max_enumerated):
        got = _exact_vertex_checks(Fi, A, b, names, J2, B2)
        if got is not None and all(ch.passed for ch in got[0]):
            return _certified_min_pay(result, checks, got[0], got[1], got[2], Fi,
                                      f"reported point's basis not certifiable ({last_fail}); exact optimal "
                                      f"vertex found by enumeration on support {J2}, rows {[names[r] for r in B2]}",
                                      tol)
    return Certificate(NUMERICALLY_VERIFIED, None,
                       f"float answer passes within tol={tol:g}, no exact certificate: {last_fail}", tuple(checks))


# --------------------------------------------------------------------------- infeasibility (Farkas)

def _float_witness(problem: ContractProblem, action: int) -> np.ndarray | None:
    """A cheapest convex combination of the *other* actions with ``λ·F = F_i`` (``scipy`` LP)."""
    from scipy.optimize import linprog
    n = problem.n_actions
    others = [k for k in range(n) if k != action]
    if not others:
        return None
    F = problem.outcome_probs
    A_eq = np.vstack([F[others].T, np.ones((1, len(others)))])
    b_eq = np.append(F[action], 1.0)
    res = linprog(problem.costs[others], A_eq=A_eq, b_eq=b_eq, bounds=(0, None), method="highs-ds")
    if res.status != 0:
        return None
    w = np.zeros(n)
    w[others] = np.clip(res.x, 0.0, None)
    return w


def certify_not_implementable(result, problem: ContractProblem, tol: float = TOL) -> Certificate:
    """Certify ``implementable=False`` with an exact Farkas witness (see module docstring).

    Checked exactly: ``λ >= 0``, ``λ_i = 0``, ``Σλ = 1``, ``λ·F >= F_i`` componentwise and
    ``λ·c < c_i + ε``. (With a participation constraint the same ``λ`` on the IC rows and 0
    on the participation row is a Farkas certificate.) The reported witness is tried first,
    then a basic one recomputed by a simplex LP. If neither gives an exact certificate, the
    reported witness is checked in floats within ``tol``.
    """
    i = result.action
    eps = _fr(result.ic_margin)
    F, c, _ = exact_data(problem)
    witnesses = [w for w in (result.witness, _float_witness(problem, i)) if w is not None]
    if not witnesses:
        return Certificate(NUMERICALLY_VERIFIED, None, "no witness combination available to certify infeasibility", ())
    last_fail = "no nonsingular subsystem on the witness support"
    for w in witnesses:
        got = _exact_witness(np.asarray(w, dtype=float), F, c, i, eps, tol)
        if isinstance(got, Certificate):
            return got
        last_fail = got
    sums = [sum(row, Fraction(0)) for row in F]
    if any(s != 1 for s in sums):
        last_fail += ("; note: some rows of F do not sum to 1 exactly in binary floating point, so the exact "
                      "instance may differ from the intended one (IC rows need not sum to 0)")
    w = np.asarray(witnesses[0], dtype=float)
    lam_f = w.copy()
    lam_f[i] = 0.0
    fl = [Check("λ >= 0 (float)", bool((lam_f >= -tol).all()), False),
          Check("λ·F == F_i (float)", bool(np.allclose(lam_f @ problem.outcome_probs, problem.outcome_probs[i],
                                                          rtol=0, atol=tol * 10)), False),
          Check("λ·c < c_i + ε (float)", float(lam_f @ problem.costs) < float(problem.costs[i]) + result.ic_margin,
                False, f"{float(lam_f @ problem.costs)!r} vs {float(problem.costs[i]) + result.ic_margin!r}")]
    bad = [ch for ch in fl if not ch.passed]
    if bad:
        return Certificate(REFUTED, None, f"claimed witness fails: {bad[0].name} {bad[0].detail}", tuple(fl))
    return Certificate(NUMERICALLY_VERIFIED, None, f"witness passes within tol={tol:g}; exact: {last_fail}", tuple(fl))


def _exact_witness(w, F, c, i, eps, tol) -> "Certificate | str":
    """Re-solve ``λ·F = F_i, Σλ = 1`` exactly on the support of ``w`` and run :func:`_farkas_checks`.

    Returns a certified :class:`Certificate`, or a string saying why no exact witness was found.
    """
    n, m = len(F), len(F[i])
    S = [k for k in range(n) if k != i and w[k] > tol]
    # Equations on the support: row 0 is Σλ = 1, row 1 + j is (λ·F)_j = F_ij.
    eqs = [[Fraction(1)] * len(S)] + [[F[k][j] for k in S] for j in range(m)]
    rhs = [Fraction(1)] + list(F[i])
    first = independent_rows(eqs, range(len(eqs)))
    if not S or len(first) < len(S):
        return "no nonsingular subsystem on the witness support"
    last_fail = ""
    tried = [tuple(first)] + [cmb for cmb in combinations(range(len(eqs)), len(S)) if cmb != tuple(first)]
    for E in tried[:MAX_BASES]:
        lamS = solve_square([eqs[e] for e in E], [rhs[e] for e in E])
        if lamS is None:
            continue
        lam = [Fraction(0)] * n
        for k, v in zip(S, lamS):
            lam[k] = v
        checks = _farkas_checks(lam, F, c, i, eps)
        bad = [ch for ch in checks if not ch.passed]
        if not bad:
            cost = _dot(lam, c)
            return Certificate(CERTIFIED, None,
                               f"action {i} is not implementable: λ on {S} has λ·F >= F_i ({checks[2].detail}), "
                               f"λ·c = {cost} < c_i + ε = {c[i] + eps} (Farkas)", tuple(checks), tuple(lam))
        last_fail = last_fail or f"{bad[0].name} fails ({bad[0].detail})"  # report the first choice's failure
    return last_fail or "every subsystem on the witness support is singular"


def _farkas_checks(lam, F, c, i, eps) -> list[Check]:
    """Exact checks on a witness ``λ`` for action ``i``."""
    m = len(F[i])
    lamF = [sum((lam[k] * F[k][j] for k in range(len(F))), Fraction(0)) for j in range(m)]
    neg = [k for k, v in enumerate(lam) if v < 0]
    short = [j for j in range(m) if lamF[j] < F[i][j]]
    cost = _dot(lam, c)
    return [Check("λ >= 0", not neg, True, f"λ[{neg[0]}] = {lam[neg[0]]}" if neg else ""),
            Check("λ_i == 0 and Σλ == 1", lam[i] == 0 and sum(lam) == 1, True, f"Σλ = {sum(lam)}"),
            Check("λ·F >= F_i (== in the generic case)", not short, True,
                  f"outcome {short[0]}: {lamF[short[0]]} < {F[i][short[0]]}" if short else
                  ("equal" if lamF == F[i] else "componentwise >=")),
            Check("λ·c < c_i + ε", cost < c[i] + eps, True, f"{cost} vs {c[i] + eps}")]


# --------------------------------------------------------------------------- optimal contract

def certify_optimal(result, problem: ContractProblem, tol: float = TOL) -> Certificate:
    """Certify an :class:`~contractlab.solvers.optimal.OptimalContract`.

    Every table row is certified with :func:`certify_min_pay`. Exactly checked: the chosen
    action's ``R_a − MINPAY(a)`` (``R_a = F_a·r``) is ``>=`` every certified row's value; if it
    is beaten by more than ``tol`` the answer is refuted, by less (a tie the solver resolved
    within its tolerance) it is only numerically verified.
    """
    parts = tuple(certify_min_pay(row, problem, tol) for row in result.table)
    checks: list[Check] = []
    refuted = [(k, p) for k, p in enumerate(parts) if p.verdict == REFUTED]
    if refuted:
        k, p = refuted[0]
        return Certificate(REFUTED, None, f"table row {k}: {p.reason}", (), parts=parts)
    F, _, r = exact_data(problem)
    util = {k: _dot(F[k], r) - p.exact_value for k, p in enumerate(parts)
            if p.verdict == CERTIFIED and p.exact_value is not None}
    a = result.action
    if a < 0:
        ok = all(not row.implementable for row in result.table)
        verdict = CERTIFIED if ok and all(p.verdict == CERTIFIED for p in parts) else NUMERICALLY_VERIFIED
        return Certificate(verdict if ok else REFUTED, None, "no action is implementable" if ok else
                           "action -1 reported but some action is implementable", (), parts=parts)
    if a not in util:
        return Certificate(NUMERICALLY_VERIFIED, None, f"the chosen action {a} has no exact certificate: "
                           f"{parts[a].reason}", (), parts=parts)
    best_k = max(util, key=lambda k: (util[k], -k))
    u_a = util[a]
    checks.append(Check("principal utility == R_a − MINPAY(a)", _close(float(u_a), result.principal_utility, tol),
                        False, f"exact {u_a}, reported {result.principal_utility!r}"))
    checks.append(Check("R_a − MINPAY(a) maximal among certified rows", u_a >= util[best_k], True,
                        f"action {best_k}: {util[best_k]} vs action {a}: {u_a}"))
    uncertified = [k for k, p in enumerate(parts) if p.verdict != CERTIFIED]
    if not checks[0].passed:
        return Certificate(REFUTED, u_a, f"reported utility is wrong: {checks[0].detail}", tuple(checks), parts=parts)
    if not checks[1].passed:
        if float(util[best_k] - u_a) > tol:
            return Certificate(REFUTED, u_a, f"not optimal: {checks[1].detail}", tuple(checks), parts=parts)
        return Certificate(NUMERICALLY_VERIFIED, u_a, f"tie within tol={tol:g}: {checks[1].detail}",
                           tuple(checks), parts=parts)
    if uncertified:
        return Certificate(NUMERICALLY_VERIFIED, u_a, f"rows {uncertified} only numerically verified",
                           tuple(checks), parts=parts)
    return Certificate(CERTIFIED, u_a, f"every row certified; action {a} attains the exact optimum {u_a}",
                       tuple(checks), (Fraction(a),), parts=parts)


# --------------------------------------------------------------------------- linear contracts

def exact_linear_envelope(R: list[Fraction], c: list[Fraction]) -> tuple[list[Fraction], list[int]]:
    """Critical values in ``[0, 1]`` and induced actions of the exact upper envelope of ``α R_k − c_k``.

    At ``α = 0`` the agent takes a cheapest action, ties to the highest ``R`` then lowest index;
    at each critical value it switches to the line that overtakes first, ties to the highest
    ``R`` then lowest index (the principal's favour for ``α <= 1``). ``O(n^2)``, exact.
    """
    n = len(R)
    a = min(range(n), key=lambda k: (c[k], -R[k], k))
    alphas, acts = [Fraction(0)], [a]
    while True:
        cands = [((c[k] - c[a]) / (R[k] - R[a]), -R[k], k) for k in range(n) if R[k] > R[a]]
        if not cands:
            break
        x, _, k = min(cands)
        if x > 1:
            break
        alphas.append(x)
        acts.append(k)
        a = k
    return alphas, acts


def certify_linear(result, problem: ContractProblem, tol: float = TOL) -> Certificate:
    """Certify a :class:`~contractlab.solvers.linear.LinearContractResult`.

    The envelope is recomputed exactly (:func:`exact_linear_envelope`) and compared with the
    float answer: the critical values within ``tol``, the induced actions and the chosen action
    exactly, ``α*`` and the principal's utility ``(1 − α*) R_a`` within ``tol``. A mismatch of
    the actions alone, with the principal's utility still within ``tol`` of the exact optimum,
    is a near-tie: numerically verified. A utility off by more than ``tol``: refuted.
    """
    F, c, r = exact_data(problem)
    R = [_dot(row, r) for row in F]
    alphas, acts = exact_linear_envelope(R, c)
    utils = [(1 - x) * R[k] for x, k in zip(alphas, acts)]
    best = max(range(len(utils)), key=lambda q: (utils[q], -q))
    alpha, a, u = alphas[best], acts[best], utils[best]
    rep_cv = np.asarray(result.critical_values, dtype=float)
    checks = [
        Check("principal utility == exact optimum", _close(float(u), result.principal_utility, tol), False,
              f"exact {u} ≈ {float(u)!r}, reported {result.principal_utility!r}"),
        Check("α* == exact α*", _close(float(alpha), result.alpha, tol), False,
              f"exact {alpha}, reported {result.alpha!r}"),
        Check("induced action == exact", a == result.action, True, f"exact {a}, reported {result.action}"),
        Check("critical values == exact", len(rep_cv) == len(alphas) and all(
            _close(float(x), y, tol) for x, y in zip(alphas, rep_cv)), False,
            f"exact {[str(x) for x in alphas]}, reported {rep_cv.tolist()}"),
        Check("induced actions == exact", list(np.asarray(result.induced_actions).tolist()) == acts, True,
              f"exact {acts}, reported {np.asarray(result.induced_actions).tolist()}"),
    ]
    if not checks[0].passed:
        return Certificate(REFUTED, u, f"{checks[0].name} fails: {checks[0].detail}", tuple(checks), (alpha,))
    bad = [ch for ch in checks if not ch.passed]
    if bad:
        return Certificate(NUMERICALLY_VERIFIED, u, f"utility within tol={tol:g} but {bad[0].name} fails "
                           f"(near-tie): {bad[0].detail}", tuple(checks), (alpha,))
    return Certificate(CERTIFIED, u, f"exact envelope agrees: α* = {alpha}, action {a}, utility {u}",
                       tuple(checks), (alpha,))


# --------------------------------------------------------------------------- Stackelberg commitment

#: Names of the MIN-PAY-shaped exact checks when reused for a commitment LP (see :func:`_exact_vertex_checks`).
_STK_NAMES = {"t >= 0": "x >= 0", "primal rows a_r·t >= b_r": "best-response rows >= 0 and Σx == 1",
              "dual y >= 0": "dual y >= 0", "dual feasible Σ y_r a_r <= F_i": "dual feasible v − Σ y_r g_r >= A[:, j]",
              "F_i·t == Σ y_r b_r": "x·A[:, j] == v (equal objectives)"}


def _commitment_rows(game, payoff_tol: float):
    """Exact data of the commitment LPs, zeroed exactly as :func:`~.stackelberg.commitment_lps` zeroes them.

    Returns ``(A, G)``: ``A[j]`` the exact column ``A[:, j]`` and ``G[j]`` the exact best-response
    rows ``g_{j'} = B[:, j] − B[:, j']`` (``j' != j`` increasing), each entry ``0`` where the float
    LP zeroed it (``|float difference| <= payoff_tol · max(1, max|B|)``) and otherwise the exact
    difference of the two stored floats.
    """
    from .stackelberg import commitment_lps
    Af, Bf = game.leader_payoffs, game.follower_payoffs
    k, l = Af.shape
    lp = commitment_lps(Af, Bf, payoff_tol)
    A = [[_fr(Af[i, j]) for i in range(k)] for j in range(l)]
    G = []
    for j in range(l):
        others = [jp for jp in range(l) if jp != j]
        G.append([[Fraction(0) if lp.A_ge[j, r, i] == 0 else _fr(Bf[i, j]) - _fr(Bf[i, jp]) for i in range(k)]
                  for r, jp in enumerate(others)])
    return A, G


def _stk_lp_as_min(a, G):
    """LP ``j`` (max ``a·x``, ``G x >= 0``, ``Σx = 1``, ``x >= 0``) as the MIN-PAY-shaped system
    ``min (−a)·x`` s.t. rows ``G``, ``1·x >= 1``, ``−1·x >= −1`` (for :func:`_exact_vertex_checks`)."""
    k = len(a)
    rows = [list(g) for g in G] + [[Fraction(1)] * k, [Fraction(-1)] * k]
    rhs = [Fraction(0)] * len(G) + [Fraction(1), Fraction(-1)]
    names = [f"BR[{r}]" for r in range(len(G))] + ["Σx >= 1", "Σx <= 1"]
    return [-v for v in a], rows, rhs, names


def _exact_commitment_optimum(a, G, x: np.ndarray, tol: float, max_enumerated: int):
    """An exact optimal vertex and dual of LP ``(a, G)``: from the basis of the float ``x``, else by
    enumeration. Returns ``(checks, x_exact, (y_G..., v), how)`` or ``(None, reason)``."""
    negc, rows, rhs, names = _stk_lp_as_min(a, G)
    k = len(a)
    J = [i for i in range(k) if x[i] > tol]
    Rf = np.array([[float(v) for v in row] for row in rows], dtype=float).reshape(len(rows), k)
    slack = Rf @ x - np.array([float(v) for v in rhs])
    active = [r for r in range(len(rows)) if slack[r] <= tol]
    order = [len(G)] + [r for r in active if r < len(G)]       # Σx = 1 first: always in the basis

    def done(got, how):
        ex, t_ex, y_ex = got
        v = y_ex[len(G) + 1] - y_ex[len(G)]                    # v = −(y_{Σ>=1} − y_{Σ<=1})
        return [_stk_check(ch) for ch in ex], t_ex, tuple(y_ex[:len(G)]) + (v,), how

    last_fail = f"not a vertex: {len(active)} active rows for a support of size {len(J)}"
    if len(active) >= len(J):
        for B in _candidate_bases(rows, J, active, order, MAX_BASES):
            got = _exact_vertex_checks(negc, rows, rhs, names, J, list(B))
            if got is None:
                continue
            bad = [ch for ch in got[0] if not ch.passed]
            if not bad:
                return done(got, f"exact vertex on support {J}, basis rows {[names[r] for r in B]}")
            last_fail = f"basis {[names[r] for r in B]} on support {J}: {_STK_NAMES.get(bad[0].name)} fails"
    for J2, B2 in _all_bases(k, len(rows), max_enumerated):
        got = _exact_vertex_checks(negc, rows, rhs, names, J2, B2)
        if got is not None and all(ch.passed for ch in got[0]):
            return done(got, f"reported strategy's basis not certifiable ({last_fail}); exact optimal vertex "
                             f"found by enumeration on support {J2}")
    return None, last_fail


def _stk_check(ch: Check) -> Check:
    """A MIN-PAY-named exact check renamed for a commitment LP."""
    return Check(_STK_NAMES.get(ch.name, ch.name), ch.passed, ch.exact, ch.detail)


def _value_bound(a, G, vstar: Fraction, tol: float, max_enumerated: int):
    """An exact ``y >= 0`` with ``Σ_r y_r g_r,i <= v* − a_i`` for every row ``i`` (so ``(v*, y)`` is dual
    feasible for LP ``(a, G)`` and its value, or its infeasibility, is ``<= v*`` by weak duality).

    The vertex read off a float simplex solution is tried first, then every vertex (support ``P`` of
    ``y``, tight rows ``T``, ``|P| = |T|``) up to ``max_enumerated``. Returns ``y`` or ``None``.
    """
    k, R = len(a), len(G)
    rhs = [vstar - ai for ai in a]

    def check(P, T):
        if P:
            ys = solve_square([[G[r][i] for r in P] for i in T], [rhs[i] for i in T])
            if ys is None:
                return None
        else:
            ys = []
        y = [Fraction(0)] * R
        for r, v in zip(P, ys):
            y[r] = v
        if any(v < 0 for v in y):
            return None
        if all(sum((y[r] * G[r][i] for r in range(R)), Fraction(0)) <= rhs[i] for i in range(k)):
            return y
        return None

    y0 = check([], [])
    if y0 is not None:
        return y0
    if R == 0:
        return None
    guided = []
    try:
        from scipy.optimize import linprog
        Gf = np.array([[float(v) for v in g] for g in G], dtype=float)
        res = linprog(np.ones(R), A_ub=Gf.T, b_ub=np.array([float(v) for v in rhs]), bounds=(0, None),
                      method="highs-ds")
        if res.status == 0:
            P = [r for r in range(R) if res.x[r] > tol]
            sl = np.array([float(v) for v in rhs]) - Gf.T @ res.x
            tight = sorted((i for i in range(k) if sl[i] <= tol * max(1.0, float(np.abs(res.x).sum()))),
                           key=lambda i: sl[i])
            T = independent_rows([[G[r][i] for r in P] for i in range(k)], tight)
            if len(T) == len(P):
                guided.append((P, T))
    except Exception:  # pragma: no cover - scipy failure: enumerate
        pass
    count = 0
    for P, T in guided:
        y = check(P, T)
        if y is not None:
            return y
    for s in range(1, min(R, k) + 1):
        for P in combinations(range(R), s):
            for T in combinations(range(k), s):
                if count >= max_enumerated:
                    return None
                count += 1
                y = check(list(P), list(T))
                if y is not None:
                    return y
    return None


def _short(x: Fraction) -> str:
    """``x`` as ``p/q``, or ``≈float`` when that would be longer than 40 characters."""
    text = str(x)
    return text if len(text) <= 40 else f"≈{float(x)!r} (exact, long fraction)"


def certify_stackelberg(result, game, tol: float = TOL, payoff_tol: float | None = None,
                        max_enumerated: int = 2000) -> Certificate:
    """Certify a :class:`~contractlab.solvers.stackelberg.StackelbergResult` exactly.

    The instance is the game's stored floats read exactly, **with the follower payoff
    differences zeroed exactly where** :func:`~contractlab.solvers.stackelberg.commitment_lps`
    **zeroes them** (``|B[i, j] − B[i, j']| <= payoff_tol · max(1, max|B|)``, ``payoff_tol``
    defaulting to :data:`~contractlab.solvers.stackelberg.PAYOFF_TOL`): the certificate is about
    the LPs the solver solved, in which such near-ties are exact ties. For follower action ``j``,
    LP ``j`` is ``max a·x`` (``a = A[:, j]``) s.t. ``g_r·x >= 0`` (``g_r = B[:, j] − B[:, j']``),
    ``Σx = 1``, ``x >= 0``; its dual is ``min v`` s.t. ``v − Σ_r y_r g_{r,i} >= a_i``, ``y >= 0``.

    1. Float checks on the reported answer (within ``tol``): ``x >= 0``, ``Σx = 1``, ``x`` keeps
       ``j*`` a best response, ``leader_value = x·A[:, j*]``, ``follower_value = x·B[:, j*]``.
    2. LP ``j*``: the basis of the reported ``x`` (support, active best-response rows and
       ``Σx = 1``) is re-solved exactly for a vertex ``x`` and, by complementary slackness, a dual
       ``(y, v)``; then exactly ``x >= 0``, ``g_r·x >= 0``, ``Σx = 1``, ``y >= 0``,
       ``v − Σ y_r g_r >= a`` and ``a·x == v``. If the reported basis does not certify, bases
       are enumerated (at most ``max_enumerated``). The exact optimum ``v*`` must match the
       reported leader value within ``tol``.
    3. Every other ``j``: an exact ``y >= 0`` with ``v* − Σ_r y_r g_{r,i} >= A[i, j]`` for all
       ``i``, i.e. a dual solution of LP ``j`` of value ``v*``: by weak duality LP ``j`` is worth
       at most ``v*`` (this also covers an infeasible LP ``j``, the Farkas case). A reported
       strategy of LP ``j`` that is feasible within ``tol`` and worth more than ``v* + tol`` refutes
       the answer; an LP ``j`` with no such certificate otherwise (a near-tie within ``tie_tol``)
       leaves the answer ``numerically_verified``.

    ``exact_point`` is the exact leader strategy, ``exact_dual`` the dual of LP ``j*``
    (``y_r`` for ``j' != j*`` increasing, then ``v``), ``exact_value`` the exact ``v*``.
    """
    from .stackelberg import PAYOFF_TOL
    payoff_tol = PAYOFF_TOL if payoff_tol is None else payoff_tol
    Af, Bf = game.leader_payoffs, game.follower_payoffs
    k, l = Af.shape
    j = int(result.follower_action)
    x = np.asarray(result.leader_strategy, dtype=float)
    Aex, Gex = _commitment_rows(game, payoff_tol)
    Gf = [np.array([[float(v) for v in g] for g in G], dtype=float).reshape(len(G), k) for G in Gex]
    checks: list[Check] = []
    if not (0 <= j < l) or x.shape != (k,):
        return Certificate(REFUTED, None, f"follower action {j} / strategy shape {x.shape} do not fit a "
                           f"{k}x{l} game", ())
    neg = np.flatnonzero(x < -tol)
    checks.append(Check("x >= 0 (float)", neg.size == 0, False, f"x[{int(neg[0])}] = {x[neg[0]]!r}" if neg.size else ""))
    checks.append(Check("Σx == 1 (float)", _close(float(x.sum()), 1.0, tol), False, f"Σx = {float(x.sum())!r}"))
    slack = Gf[j] @ x
    others = [jp for jp in range(l) if jp != j]
    bad = np.flatnonzero(slack < -tol * max(1.0, float(np.abs(Bf).max())))
    checks.append(Check(f"follower action {j} is a best response to x (float)", bad.size == 0, False,
                        f"x·B[:, {j}] − x·B[:, {others[bad[0]]}] = {slack[bad[0]]!r}" if bad.size else ""))
    lv = float(x @ Af[:, j])
    checks.append(Check("leader value == x·A[:, j*] (float)", _close(lv, result.leader_value, tol), False,
                        f"x·A[:, {j}] = {lv!r}, reported {result.leader_value!r}"))
    fv = float(x @ Bf[:, j])
    checks.append(Check("follower value == x·B[:, j*] (float)", _close(fv, result.follower_value, tol), False,
                        f"x·B[:, {j}] = {fv!r}, reported {result.follower_value!r}"))
    failed = [ch for ch in checks if not ch.passed]
    if failed:
        return Certificate(REFUTED, None, f"float check failed: {failed[0].name} ({failed[0].detail})", tuple(checks))
    got = _exact_commitment_optimum(Aex[j], Gex[j], x, tol, max_enumerated)
    if got[0] is None:
        return Certificate(NUMERICALLY_VERIFIED, None, f"float answer passes within tol={tol:g}, LP {j} not "
                           f"certified exactly: {got[1]}", tuple(checks))
    ex_checks, x_ex, dual, how = got
    vstar = _dot(Aex[j], x_ex)
    agree = Check("leader value == exact optimum of LP j*", _close(float(vstar), result.leader_value, tol), False,
                  f"exact {vstar} ≈ {float(vstar)!r}, reported {result.leader_value!r}")
    checks += ex_checks + [agree]
    if not agree.passed:
        return Certificate(REFUTED, vstar, f"LP {j}'s exact optimum is {_short(vstar)} but reported {result.leader_value!r}", tuple(checks),
                           tuple(x_ex), dual)
    uncertified = []
    for jp in others:
        y = _value_bound(Aex[jp], Gex[jp], vstar, tol, max_enumerated)
        checks.append(Check(f"LP {jp} worth <= v* (exact dual / Farkas)", y is not None, True,
                            "" if y is None else f"y = {[str(v) for v in y]}"))
        if y is not None:
            continue
        xs = np.asarray(result.action_strategies[jp], dtype=float) if result.action_strategies is not None else None
        if xs is not None and np.isfinite(xs).all():
            feas = ((xs >= -tol).all() and _close(float(xs.sum()), 1.0, tol)
                    and (Gf[jp] @ xs >= -tol * max(1.0, float(np.abs(Bf).max()))).all())
            val = float(xs @ Af[:, jp])
            if feas and val > float(vstar) + tol * max(1.0, abs(float(vstar))):
                return Certificate(REFUTED, vstar, f"follower action {jp} is better for the leader: its reported "
                                   f"strategy is feasible and worth {val!r} > v* = {_short(vstar)}", tuple(checks),
                                   tuple(x_ex), dual)
        uncertified.append(jp)
    if uncertified:
        return Certificate(NUMERICALLY_VERIFIED, vstar, f"LP {j} certified ({how}), optimum {_short(vstar)}; LPs "
                           f"{uncertified} have no exact certificate of value <= {_short(vstar)} (a near-tie within "
                           f"tolerance)", tuple(checks), tuple(x_ex), dual)
    return Certificate(CERTIFIED, vstar, f"LP {j} has exact optimum {_short(vstar)} ({how}); every other follower "
                       f"action's LP is worth <= v* or infeasible (exact dual certificates)", tuple(checks),
                       tuple(x_ex), dual)


# --------------------------------------------------------------------------- SPE (per state)

def spe_state_problem(spe_result, mdp, state: int, step: int | None = None) -> ContractProblem:
    """The one-shot MIN-PAY instance behind the SPE contract at ``state`` (and ``step``).

    ``F = O(s)`` (rows validated with the MDP's ``prob_tol``), costs ``c = −Q̄(s, ·)`` read from
    the *stored* truncated Q-function ``spe_result.agent_q`` (so the exact instance is the
    floats the backup computed, not a re-derivation of ``Q̄``), rewards ``r_p(s, ·)``.
    """
    idx = _spe_index(spe_result, state, step)
    return ContractProblem(mdp.outcome_probs[state], -np.asarray(spe_result.agent_q[idx], dtype=float),
                           mdp.principal_rewards[state], prob_tol=mdp.prob_tol)


def _spe_index(spe_result, state: int, step: int | None):
    if spe_result.time_indexed:
        if step is None:
            raise ValueError("certify_spe_state: a time-indexed SPE needs step=t")
        return (int(step), int(state))
    if step is not None:
        raise ValueError("certify_spe_state: step given for an SPE that is not time-indexed")
    return int(state)


def certify_spe_state(spe_result, mdp, state: int, step: int | None = None, tol: float = TOL) -> Certificate:
    """Certify the SPE contract at ``state`` (``step`` for a finite-horizon result) as a MIN-PAY answer.

    At state ``s`` the SPE contract for the recommended action ``a*`` is the MIN-PAY of the
    one-shot problem :func:`spe_state_problem` (``F = O(s)``, ``c = −Q̄(s, ·)``): the reported
    contract ``b*(s)`` and payment ``O(s, a*)·b*`` are wrapped as a
    :class:`~contractlab.solvers.min_pay.MinPayResult` without duals and certified by
    :func:`certify_min_pay` (float checks, exact vertex from the contract's basis, else exact
    enumeration of bases). The payment must also equal the stored ``min_pay[s, a*]`` within
    ``tol``. Only the contract of the recommended action is certified here, not the
    principal's choice of ``a*`` nor the continuation values ``Q̄`` (taken as given floats).
    """
    from .min_pay import MinPayResult
    idx = _spe_index(spe_result, state, step)
    problem = spe_state_problem(spe_result, mdp, state, step)
    action = int(spe_result.policy.action[idx])
    contract = np.asarray(spe_result.policy.contract[idx], dtype=float)
    pay = float(spe_result.expected_payment[idx])
    implementable = bool(spe_result.implementable[idx + (action,)] if isinstance(idx, tuple)
                         else spe_result.implementable[idx, action])
    table = float(spe_result.min_pay[idx + (action,)] if isinstance(idx, tuple) else spe_result.min_pay[idx, action])
    res = MinPayResult(action=action, implementable=implementable, contract=contract if implementable else None,
                       expected_payment=pay, agent_utility=None, ic_slacks=None, ic_duals=None,
                       participation_dual=None, dual_value=None, witness=None, status="optimal",
                       backend=str(spe_result.backend))
    cert = certify_min_pay(res, problem, tol)
    if implementable and not _close(pay, table, tol):
        chk = Check("expected payment == min_pay[s, a*]", False, False, f"{pay!r} vs {table!r}")
        return Certificate(REFUTED, cert.exact_value, f"inconsistent SPE tables: {chk.detail}",
                           cert.checks + (chk,), cert.exact_point, cert.exact_dual, (cert,))
    where = f"state {state}" + (f", step {step}" if step is not None else "")
    return Certificate(cert.verdict, cert.exact_value, f"{where}, action {action}: {cert.reason}", cert.checks,
                       cert.exact_point, cert.exact_dual, cert.parts)


# --------------------------------------------------------------------------- dispatch

def certify(result, problem: ContractProblem, tol: float = TOL) -> Certificate:
    """Check a solver's floating-point answer exactly in rational arithmetic.

    Supports :class:`MinPayResult`, :class:`OptimalContract`, :class:`LinearContractResult` and
    :class:`StackelbergResult` (``problem`` is then the :class:`BimatrixGame`; see the module docstring for exactly what is checked). ``tol`` (default :data:`TOL`) is
    used for the float checks and to read the basis off the float answer.
    """
    from .linear import LinearContractResult
    from .min_pay import MinPayResult
    from .optimal import OptimalContract
    if isinstance(result, MinPayResult):
        return certify_min_pay(result, problem, tol)
    if isinstance(result, OptimalContract):
        return certify_optimal(result, problem, tol)
    if isinstance(result, LinearContractResult):
        return certify_linear(result, problem, tol)
    from .stackelberg import StackelbergResult
    if isinstance(result, StackelbergResult):
        return certify_stackelberg(result, problem, tol)
    raise TypeError(f"certify: unsupported result type {type(result).__name__}")
