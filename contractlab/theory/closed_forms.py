"""Symbolic closed forms of small contract problems, as sympy expressions.

Each function returns sympy expressions (or a small frozen dataclass of them) in the
module's named symbols; callers substitute numbers with :func:`evaluate` (``subs``, exact)
or :func:`lambdify_expression` (vectorised numpy). Numbers taken from float arrays are
turned into sympy ``Rational`` exactly (``Rational(float)`` is exact), so a closed form
evaluated on an instance is the exact value for the floats that describe it.

Contents
--------
* the two-action MIN-PAY contract (pay only on the outcome of highest likelihood ratio)
  — Laffont & Martimort, *The Theory of Incentives* (2002), ch. 4; Dütting, Roughgarden and
  Talgam-Cohen, *Simple versus Optimal Contracts*, EC 2019, Section 2, LP (1);
* the success/failure model (two outcomes, two actions, limited liability) — Laffont &
  Martimort ch. 4, Proposition 4.2;
* the critical values of linear contracts ``α_k = (c_k − c_{k−1}) / (R_k − R_{k−1})`` and
  their exact computation on a :class:`ContractProblem` — Dütting et al., EC 2019, Section 4;
* the linear-contract approximation bound ``FB / LIN <= n`` — Dütting et al., EC 2019,
  Theorem 4.1 (Section 4).

Only ``theory`` is imported; nothing here calls a solver.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import sympy

from .contract_problem import ContractProblem
from .errors import InvalidInstanceError
from .validation import as_float_array

# --------------------------------------------------------------------------------------
# Symbols (module constants: use these to substitute into the expressions below)
# --------------------------------------------------------------------------------------

#: Costs of the low and high action.
c_L, c_H = sympy.symbols("c_L c_H", real=True)
#: Probabilities of the paid outcome ``j*`` under the high and the low action.
F_Hj, F_Lj = sympy.symbols("F_Hjstar F_Ljstar", nonnegative=True)
#: Success probabilities of the low and high action in the success/failure model.
p_L, p_H = sympy.symbols("p_L p_H", nonnegative=True)
#: Consecutive envelope actions ``k-1`` and ``k`` of the linear-contract envelope.
c_prev, c_k, R_prev, R_k = sympy.symbols("c_{k-1} c_k R_{k-1} R_k", real=True)
#: The share ``α_k`` at which the agent switches from action ``k-1`` to ``k``.
alpha_k = sympy.Symbol("alpha_k", real=True)
#: First-best welfare, the principal's utility from the best linear contract, number of actions.
FB, LIN = sympy.symbols("FB LIN", positive=True)
n_actions = sympy.Symbol("n", positive=True, integer=True)
#: The minimum expected payment implementing the high action (left side of the claims).
min_pay_H = sympy.Symbol("MinPay_H", real=True)


def exact(x: float | int | Fraction) -> sympy.Rational:
    """The exact sympy ``Rational`` of a float (no rounding: a float is a dyadic rational)."""
    q = x if isinstance(x, Fraction) else Fraction(float(x))
    return sympy.Rational(q.numerator, q.denominator)


def evaluate(expr: sympy.Expr, values: Mapping[sympy.Symbol, Any]) -> float:
    """``float(expr.subs(values))``: evaluate a closed form exactly, then round once.

    Raises :class:`InvalidInstanceError` (field ``values``) if a free symbol is left over.
    """
    out = sympy.sympify(expr).subs(values)
    if out.free_symbols:
        names = ", ".join(sorted(str(s) for s in out.free_symbols))
        raise InvalidInstanceError("values", f"no value given for symbol(s) {names}")
    return float(out)


def lambdify_expression(expr: sympy.Expr, symbols: Sequence[sympy.Symbol]) -> Callable[..., Any]:
    """A numpy function of ``symbols`` (positional, in that order) computing ``expr``.

    Use it to evaluate a closed form on many instances at once, e.g.
    ``lambdify_expression(success_failure().rent, (p_L, p_H, c_L, c_H))(pl, ph, cl, ch)``
    with arrays ``pl, ph, cl, ch``.
    """
    return sympy.lambdify(tuple(symbols), expr, modules="numpy")


# --------------------------------------------------------------------------------------
# Two actions, m outcomes: MIN-PAY of the high action
# --------------------------------------------------------------------------------------

#: The three cases of two-action MIN-PAY(H).
TWO_ACTION_CASES = ("likelihood_ratio", "zero_contract", "not_implementable")


@dataclass(frozen=True)
class TwoActionMinPayForms:
    """MIN-PAY(H) of two actions in closed form, in the symbols ``F_Hj, F_Lj, c_H, c_L``.

    With ``Δc = c_H − c_L > 0`` the single IC constraint is ``(F_H − F_L)·t >= Δc``; each
    unit of it bought on outcome ``j`` costs ``F_Hj / (F_Hj − F_Lj)`` in expected payment,
    so the LP pays only on ``j* = argmax_j F_Hj / F_Lj`` (the highest likelihood ratio):

    ``payment``          ``t_{j*} = (c_H − c_L) / (F_Hj − F_Lj)``
    ``expected_payment`` ``F_Hj (c_H − c_L) / (F_Hj − F_Lj)``
    ``agent_utility``    ``expected_payment − c_H = (c_H F_Lj − c_L F_Hj) / (F_Hj − F_Lj)``
    """

    payment: sympy.Expr
    expected_payment: sympy.Expr
    agent_utility: sympy.Expr


def two_action_min_pay_forms() -> TwoActionMinPayForms:
    """The symbolic two-action MIN-PAY contract (Laffont & Martimort ch. 4; Dütting et al.
    EC 2019, Section 2, LP (1) with one IC constraint)."""
    pay = (c_H - c_L) / (F_Hj - F_Lj)
    expected = F_Hj * pay
    return TwoActionMinPayForms(pay, expected, expected - c_H)


@dataclass(frozen=True)
class TwoActionMinPay:
    """The two-action MIN-PAY(H) closed form instantiated on numeric data.

    Attributes
    ----------
    case:
        ``"likelihood_ratio"`` (``c_H > c_L`` and some ``F_Hj > F_Lj``: pay on ``j*`` only),
        ``"zero_contract"`` (``c_H <= c_L``: ``t = 0`` implements H, payment 0) or
        ``"not_implementable"`` (``c_H > c_L`` and ``F_H <= F_L`` entrywise: no contract).
    j_star:
        The paid outcome (``None`` unless ``case == "likelihood_ratio"``); ties in the
        likelihood ratio go to the lowest index (they give the same payment).
    n_outcomes:
        ``m``, the length of the contract.
    forms:
        The symbolic expressions (for the ``"likelihood_ratio"`` case).
    values:
        Exact ``Rational`` values of ``F_Hj, F_Lj, c_H, c_L`` to substitute (``F_*`` only when
        ``j_star`` is set).
    """

    case: str
    j_star: int | None
    n_outcomes: int
    forms: TwoActionMinPayForms
    values: Mapping[sympy.Symbol, sympy.Rational]

    @property
    def implementable(self) -> bool:
        return self.case != "not_implementable"

    def expected_payment_exact(self) -> sympy.Expr:
        """The exact minimum expected payment (``0``, ``oo`` or the closed form at ``values``)."""
        if self.case == "zero_contract":
            return sympy.S.Zero
        if self.case == "not_implementable":
            return sympy.oo
        return self.forms.expected_payment.subs(self.values)

    def expected_payment(self) -> float:
        """The minimum expected payment as a float (``inf`` if H cannot be implemented)."""
        return float(self.expected_payment_exact())

    def contract(self) -> np.ndarray | None:
        """The payment vector ``t`` (``None`` if H cannot be implemented)."""
        if self.case == "not_implementable":
            return None
        t = np.zeros(self.n_outcomes)
        if self.case == "likelihood_ratio":
            t[self.j_star] = evaluate(self.forms.payment, self.values)
        return t


def _check_two_action_inputs(F_L, F_H, cost_L, cost_H) -> tuple[np.ndarray, np.ndarray, float, float]:
    fl = as_float_array("F_L", F_L, 1)
    fh = as_float_array("F_H", F_H, 1)
    if fl.shape != fh.shape:
        raise InvalidInstanceError("F_H", f"has {fh.shape[0]} outcomes, but F_L has {fl.shape[0]}")
    for name, row in (("F_L", fl), ("F_H", fh)):
        neg = np.flatnonzero(row < 0)
        if neg.size:
            raise InvalidInstanceError(name, f"probability {row[neg[0]]!r} is negative", int(neg[0]))
    costs = []
    for name, value in (("cost_L", cost_L), ("cost_H", cost_H)):
        v = as_float_array(name, [value], 1)[0]
        costs.append(float(v))
    return fl, fh, costs[0], costs[1]


def two_action_min_pay(F_L, F_H, cost_L: float, cost_H: float) -> TwoActionMinPay:
    """MIN-PAY of the high action ``H`` against the low action ``L``, in closed form.

    Parameters
    ----------
    F_L, F_H:
        Outcome distributions (length ``m``) of the low and high action (non-negative;
        the closed form does not need them to sum to one).
    cost_L, cost_H:
        Their costs.

    Returns
    -------
    TwoActionMinPay
        ``j*`` is chosen exactly (with ``Fraction`` arithmetic on the floats) as the outcome
        minimising ``F_Hj / (F_Hj − F_Lj)`` over ``{j : F_Hj > F_Lj}``, i.e. maximising the
        likelihood ratio ``F_Hj / F_Lj``. Laffont & Martimort, *The Theory of Incentives*,
        ch. 4; Dütting, Roughgarden and Talgam-Cohen, EC 2019, Section 2, LP (1).

    Raises
    ------
    InvalidInstanceError
        Naming ``F_L``, ``F_H``, ``cost_L`` or ``cost_H``.
    """
    fl, fh, cl, ch = _check_two_action_inputs(F_L, F_H, cost_L, cost_H)
    m = fl.shape[0]
    forms = two_action_min_pay_forms()
    costs = {c_L: exact(cl), c_H: exact(ch)}
    if ch <= cl:
        return TwoActionMinPay("zero_contract", None, m, forms, costs)
    best, j_star = None, None
    for j in range(m):
        h, low = Fraction(float(fh[j])), Fraction(float(fl[j]))
        if h > low:
            unit_cost = h / (h - low)
            if best is None or unit_cost < best:
                best, j_star = unit_cost, j
    if j_star is None:
        return TwoActionMinPay("not_implementable", None, m, forms, costs)
    values = {F_Hj: exact(fh[j_star]), F_Lj: exact(fl[j_star]), **costs}
    return TwoActionMinPay("likelihood_ratio", j_star, m, forms, values)


def two_action_min_pay_of_problem(problem: ContractProblem, low: int = 0, high: int = 1) -> TwoActionMinPay:
    """:func:`two_action_min_pay` for actions ``low`` and ``high`` of a two-action problem."""
    if problem.n_actions != 2:
        raise InvalidInstanceError("outcome_probs", f"the two-action closed form needs 2 actions, got "
                                   f"{problem.n_actions}")
    if {low, high} != {0, 1}:
        raise InvalidInstanceError("high", f"low and high must be 0 and 1 in some order, got {low}, {high}")
    F, c = problem.outcome_probs, problem.costs
    return two_action_min_pay(F[low], F[high], c[low], c[high])


# --------------------------------------------------------------------------------------
# Success / failure: two outcomes, two actions
# --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SuccessFailureForms:
    """The limited-liability contract implementing ``H`` with two outcomes, in ``p_L, p_H, c_L, c_H``.

    For ``p_L < p_H`` and ``c_L < c_H`` (Laffont & Martimort ch. 4, Proposition 4.2, with the
    agent's liability limited at 0 and no participation constraint):

    ``success_payment``  ``(c_H − c_L) / (p_H − p_L)``
    ``failure_payment``  ``0``
    ``expected_payment`` ``p_H (c_H − c_L) / (p_H − p_L)``
    ``rent``             ``(c_H p_L − c_L p_H) / (p_H − p_L)``, the agent's expected utility
                         ``expected_payment − c_H``; it is the limited-liability rent
                         ``p_L Δc / Δp`` of L&M when ``c_L = 0``, and negative when
                         ``c_L p_H > c_H p_L`` (then a participation constraint would bind).
    """

    success_payment: sympy.Expr
    failure_payment: sympy.Expr
    expected_payment: sympy.Expr
    rent: sympy.Expr


def success_failure() -> SuccessFailureForms:
    """The success/failure closed forms (Laffont & Martimort, *The Theory of Incentives*,
    ch. 4, Proposition 4.2; the two-action form with ``j* =`` success)."""
    success = (c_H - c_L) / (p_H - p_L)
    rent = (c_H * p_L - c_L * p_H) / (p_H - p_L)
    return SuccessFailureForms(success, sympy.S.Zero, p_H * success, rent)


def success_failure_values(problem: ContractProblem, low: int = 0, high: int = 1,
                           success: int = 1) -> dict[sympy.Symbol, sympy.Rational]:
    """Exact values of ``p_L, p_H, c_L, c_H`` read off a 2-action, 2-outcome problem.

    ``p_a = F[a, success]``. Raises :class:`InvalidInstanceError` if the problem is not
    2 x 2 (field ``outcome_probs``) or the indices are not a permutation of ``{0, 1}``.
    """
    if problem.outcome_probs.shape != (2, 2):
        raise InvalidInstanceError("outcome_probs", "the success/failure model needs 2 actions and 2 outcomes, "
                                   f"got shape {problem.outcome_probs.shape}")
    if {low, high} != {0, 1}:
        raise InvalidInstanceError("high", f"low and high must be 0 and 1 in some order, got {low}, {high}")
    if success not in (0, 1):
        raise InvalidInstanceError("success", f"must be outcome 0 or 1, got {success}")
    F, c = problem.outcome_probs, problem.costs
    return {p_L: exact(F[low, success]), p_H: exact(F[high, success]), c_L: exact(c[low]), c_H: exact(c[high])}


# --------------------------------------------------------------------------------------
# Linear contracts: critical values
# --------------------------------------------------------------------------------------

def critical_value_expression() -> sympy.Expr:
    """``α_k = (c_k − c_{k−1}) / (R_k − R_{k−1})``: where the agent's utility lines
    ``α R_{k−1} − c_{k−1}`` and ``α R_k − c_k`` of consecutive envelope actions cross
    (Dütting, Roughgarden and Talgam-Cohen, EC 2019, Section 4)."""
    return (c_k - c_prev) / (R_k - R_prev)


@dataclass(frozen=True)
class LinearEnvelope:
    """The agent's best response to ``t = α r`` on ``[0, upper]``, in exact arithmetic.

    ``critical_values[0] == 0``; ``induced_actions[k]`` is the action taken on
    ``[critical_values[k], critical_values[k+1])`` and at ``critical_values[k]`` itself (ties go
    to the principal: the largest ``R``, then the lowest index). ``expected_rewards`` are the
    exact ``R_i = Σ_j F_ij r_j`` of the floats.
    """

    critical_values: tuple[sympy.Rational, ...]
    induced_actions: tuple[int, ...]
    expected_rewards: tuple[sympy.Rational, ...]

    def principal_utilities(self) -> tuple[sympy.Rational, ...]:
        """``(1 − α_k) R_{a_k}`` at each critical value."""
        return tuple((1 - a) * self.expected_rewards[i] for a, i in zip(self.critical_values, self.induced_actions))


def _exact_rewards(problem: ContractProblem) -> list[Fraction]:
    F, r = problem.outcome_probs, problem.rewards
    neg = np.flatnonzero(r < 0)
    if neg.size:
        raise InvalidInstanceError("rewards", "linear contracts need non-negative rewards (limited liability)",
                                   int(neg[0]))
    rf = [Fraction(float(x)) for x in r]
    return [sum((Fraction(float(f)) * x for f, x in zip(row, rf)), Fraction(0)) for row in F]


def linear_envelope(problem: ContractProblem, upper: float | Fraction = 1) -> LinearEnvelope:
    """The exact upper envelope of ``α R_i − c_i`` for ``α`` in ``[0, upper]`` (default 1).

    Walks the envelope from ``α = 0`` (cheapest action, largest ``R`` among the cheapest):
    from the current action ``k`` the next critical value is the least crossing
    :func:`critical_value_expression` with an action of larger ``R``; the next action is the
    one of largest ``R`` among those crossing there. Each ``α_k`` is obtained by substituting
    exact ``Rational`` values into the symbolic expression. ``O(n^2)`` per step, for small ``n``.

    Raises :class:`InvalidInstanceError` (field ``rewards``) on a negative reward.
    """
    R = _exact_rewards(problem)
    c = [Fraction(float(x)) for x in problem.costs]
    upper = Fraction(upper) if not isinstance(upper, Fraction) else upper
    n = len(R)
    expr = critical_value_expression()

    def favourite(cands: list[int]) -> int:      # principal's favourite among tied actions
        return min(cands, key=lambda i: (-R[i], i))

    cheapest = min(c)
    current = favourite([i for i in range(n) if c[i] == cheapest])
    alphas: list[sympy.Rational] = [sympy.S.Zero]
    actions = [current]
    while True:
        crossings = {j: (c[j] - c[current]) / (R[j] - R[current]) for j in range(n) if R[j] > R[current]}
        if not crossings:
            break
        alpha = min(crossings.values())
        if alpha > upper:
            break
        nxt = favourite([j for j, a in crossings.items() if a == alpha])
        symbolic = expr.subs({c_k: exact(c[nxt]), c_prev: exact(c[current]),
                              R_k: exact(R[nxt]), R_prev: exact(R[current])})
        alphas.append(symbolic)
        actions.append(nxt)
        current = nxt
    return LinearEnvelope(tuple(alphas), tuple(actions), tuple(exact(x) for x in R))


def linear_critical_values(problem: ContractProblem) -> list[sympy.Rational]:
    """The critical values in ``[0, 1]`` of linear contracts on ``problem``, exact.

    ``[0, α_1, α_2, ...]`` with ``α_k = (c_k − c_{k−1}) / (R_k − R_{k−1})`` over consecutive
    actions of the upper envelope of ``α R_i − c_i`` ordered by ``R`` (Dütting, Roughgarden
    and Talgam-Cohen, EC 2019, Section 4). A crossing exactly at ``α = 1`` is included.
    """
    return list(linear_envelope(problem).critical_values)


# --------------------------------------------------------------------------------------
# Linear contracts: the approximation bound
# --------------------------------------------------------------------------------------

def linear_approximation_bound() -> sympy.Rel:
    """``FB / LIN <= n``: the best linear contract earns the principal at least a ``1/n``
    fraction of the first-best welfare ``FB = max_i (R_i − c_i)`` (hence of the optimal
    contract's utility), ``n`` the number of actions (Dütting, Roughgarden and Talgam-Cohen,
    *Simple versus Optimal Contracts*, EC 2019, Theorem 4.1, Section 4; tight).

    Equivalent, without division: ``FB <= n * LIN``.
    """
    return sympy.Le(FB / LIN, n_actions)
