"""Theorems: the symbolic closed forms of :mod:`contractlab.theory.closed_forms` equal the solvers.

Registered ids
--------------
``closed_forms.two_action_min_pay``
    The likelihood-ratio contract is MIN-PAY(H) with two actions (LP optimum, within 1e-8).
``closed_forms.success_failure``
    The success/failure contract, its expected payment and the agent's rent equal MIN-PAY(H).
``closed_forms.linear_critical_values``
    The exact critical values ``α_k = (c_k − c_{k−1}) / (R_k − R_{k−1})`` equal those of
    :func:`~contractlab.solvers.linear.best_linear_contract`.

Each theorem comes with a hypothesis strategy (below) drawing small instances of the right
kind: half on a dyadic grid (probabilities in sixteenths, costs and rewards in eighths, so
float arithmetic is exact and ties are exact ties), half continuous. Instances are kept
well conditioned (a probability gap of at least ``MIN_GAP`` where the formula divides by
one), since the claims compare an exact formula with a floating-point LP.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import sympy
from hypothesis import strategies as st

from ..solvers.linear import best_linear_contract
from ..solvers.min_pay import min_pay
from ..theory import closed_forms as cf
from ..theory.contract_problem import ContractProblem
from .registry import Evidence, theorem
from .strategies import contract_problems

#: Tolerance of the closed-form vs LP comparisons (absolute, scaled by ``max(1, |LP value|)``).
CLOSED_FORM_TOL = 1e-8
#: Two critical values closer than this are one (exact vs floating-point envelope); also the
#: tolerance of the critical-value comparison.
CRITICAL_VALUE_TOL = 1e-9
#: Smallest probability gap ``F_Hj − F_Lj`` (or ``p_H − p_L``) the strategies draw, unless zero.
MIN_GAP = 0.01

SOURCE_TWO_ACTION = ("Laffont & Martimort, The Theory of Incentives (2002), ch. 4; Dütting, Roughgarden & "
                     "Talgam-Cohen, Simple versus Optimal Contracts, EC 2019, Section 2, LP (1)")
SOURCE_SUCCESS_FAILURE = ("Laffont & Martimort, The Theory of Incentives (2002), ch. 4, Proposition 4.2 "
                          "(risk-neutral agent, limited liability)")
SOURCE_LINEAR = "Dütting, Roughgarden & Talgam-Cohen, Simple versus Optimal Contracts, EC 2019, Section 4"


# --------------------------------------------------------------------------------------
# Strategies
# --------------------------------------------------------------------------------------

def _dyadic_row(m: int) -> st.SearchStrategy[np.ndarray]:
    """A distribution over ``m`` outcomes with probabilities in sixteenths (exact floats)."""
    cuts = st.lists(st.integers(0, 16), min_size=m - 1, max_size=m - 1).map(sorted)
    return cuts.map(lambda cs: np.diff(np.array([0, *cs, 16], dtype=float)) / 16.0)


def _continuous_row(m: int) -> st.SearchStrategy[np.ndarray]:
    w = st.lists(st.floats(0.01, 1.0), min_size=m, max_size=m).map(np.array)
    return w.map(lambda v: v / v.sum())


def _row(m: int) -> st.SearchStrategy[np.ndarray]:
    return st.one_of(_dyadic_row(m), _continuous_row(m))


def _value(low: float, high: float) -> st.SearchStrategy[float]:
    """A number in ``[low, high]``: a multiple of 1/8 or a continuous draw."""
    return st.one_of(st.integers(int(low * 8), int(high * 8)).map(lambda k: k / 8.0), st.floats(low, high))


def _rarely() -> st.SearchStrategy[bool]:
    """``True`` about one time in ten (hypothesis favours early list entries, so ``False`` comes first)."""
    return st.sampled_from((False,) * 9 + (True,))


@st.composite
def _ordered_costs(draw, max_cost: float = 4.0) -> tuple[float, float]:
    """``(c_L, c_H)``, with ``c_L < c_H`` nine times in ten and otherwise ``c_H <= c_L`` (vacuous)."""
    a, b = draw(_value(0.0, max_cost)), draw(_value(0.0, max_cost))
    if a == b:
        b = a + draw(st.sampled_from([0.125, 0.5, 0.0]))
    lo, hi = min(a, b), max(a, b)
    return (hi, lo) if draw(_rarely()) else (lo, hi)


@st.composite
def two_action_problems(draw, max_outcomes: int = 4) -> ContractProblem:
    """Two-action problems (action 0 = L, action 1 = H) for ``closed_forms.two_action_min_pay``.

    Either ``F_H == F_L`` (H not implementable: vacuous) or ``max_j (F_Hj − F_Lj) >= MIN_GAP``.
    """
    m = draw(st.integers(2, max_outcomes))
    F_L = draw(_row(m))
    F_H = draw(_row(m).filter(lambda f: np.array_equal(f, F_L) or (f - F_L).max() >= MIN_GAP))
    c_low, c_high = draw(_ordered_costs())
    r = np.array(draw(st.lists(_value(0.0, 8.0), min_size=m, max_size=m)))
    return ContractProblem(np.vstack([F_L, F_H]), np.array([c_low, c_high]), r)


def _probability() -> st.SearchStrategy[float]:
    return st.one_of(st.integers(1, 15).map(lambda k: k / 16.0), st.floats(0.005, 0.995))


@st.composite
def success_failure_problems(draw) -> ContractProblem:
    """2 x 2 problems (action 0 = L, action 1 = H; outcome 0 = failure, 1 = success).

    ``p_H − p_L >= MIN_GAP`` nine times in ten, else ``p_H <= p_L`` (vacuous); likewise costs.
    """
    a = draw(_probability())
    b = draw(_probability().filter(lambda x: abs(x - a) >= MIN_GAP))
    lo, hi = min(a, b), max(a, b)
    p_low, p_high = (hi, lo) if draw(_rarely()) else (lo, hi)
    c_low, c_high = draw(_ordered_costs())
    F = np.array([[1.0 - p_low, p_low], [1.0 - p_high, p_high]])
    r = np.array([draw(_value(0.0, 2.0)), draw(_value(2.0, 8.0))])
    return ContractProblem(F, np.array([c_low, c_high]), r)


@st.composite
def _dyadic_problems(draw, max_actions: int = 5, max_outcomes: int = 4) -> ContractProblem:
    n = draw(st.integers(1, max_actions))
    m = draw(st.integers(1, max_outcomes))
    F = np.vstack([draw(_dyadic_row(m)) for _ in range(n)])
    c = np.array(draw(st.lists(st.integers(0, 32), min_size=n, max_size=n))) / 8.0
    r = np.array(draw(st.lists(st.integers(0, 64), min_size=m, max_size=m))) / 8.0
    return ContractProblem(F, c, r)


def linear_problems(max_actions: int = 5, max_outcomes: int = 4) -> st.SearchStrategy[ContractProblem]:
    """Problems with rewards >= 0 for ``closed_forms.linear_critical_values``: exact dyadic
    grids (ties are exact ties) or the general :func:`~.strategies.contract_problems`."""
    return st.one_of(_dyadic_problems(max_actions, max_outcomes),
                     contract_problems(max_actions=max_actions, max_outcomes=max_outcomes))


# --------------------------------------------------------------------------------------
# Theorems
# --------------------------------------------------------------------------------------

_TWO = cf.two_action_min_pay_forms()
_SF = cf.success_failure()
t_success, t_failure, U_H = sympy.symbols("t_success t_failure U_H", real=True)


def _lp_failed(detail: str, closed: float) -> Evidence:
    return Evidence(float(closed), math.inf, -math.inf, False, detail)


@theorem(
    id="closed_forms.two_action_min_pay",
    statement=("Two actions L (action 0) and H (action 1), m outcomes, limited liability, no participation "
               "constraint. If c_H > c_L and F_Hj > F_Lj for some j, then MIN-PAY(H) pays only on an outcome j* "
               "of highest likelihood ratio F_Hj/F_Lj: t_j* = (c_H - c_L)/(F_Hj* - F_Lj*), 0 elsewhere, with "
               "expected payment F_Hj*(c_H - c_L)/(F_Hj* - F_Lj*). Checked: this equals the LP's minimum expected "
               "payment within 1e-8 * max(1, |LP|) and the closed-form contract satisfies IC."),
    source=SOURCE_TWO_ACTION,
    strategy=two_action_problems,
    expression=sympy.Eq(cf.min_pay_H, _TWO.expected_payment),
    tags=("closed_form", "min_pay"),
)
def check_two_action_min_pay(problem: ContractProblem) -> Evidence:
    """Closed-form MIN-PAY(H) (action 1 against action 0) vs the HiGHS LP."""
    form = cf.two_action_min_pay_of_problem(problem, low=0, high=1)
    if form.case == "zero_contract":
        return Evidence.vacuous("c_H <= c_L: the zero contract implements H")
    if form.case == "not_implementable":
        return Evidence.vacuous("no outcome has F_Hj > F_Lj: H cannot be implemented")
    closed = form.expected_payment()
    lp = min_pay(problem, 1)
    if not lp.implementable:
        return _lp_failed(f"LP says H is not implementable ({lp.status}); closed form pays {closed!r}", closed)
    t = form.contract()
    F, c = problem.outcome_probs, problem.costs
    ic_slack = float((F[1] - F[0]) @ t - (c[1] - c[0]))
    return Evidence.combine([
        Evidence.equal(closed, lp.expected_payment, CLOSED_FORM_TOL,
                       f"closed form pays t[{form.j_star}] = {float(t[form.j_star])!r}; LP contract {lp.contract.tolist()}"),
        Evidence.at_least(ic_slack, 0.0, CLOSED_FORM_TOL, "IC slack of the closed-form contract"),
    ])


@theorem(
    id="closed_forms.success_failure",
    statement=("Success/failure model: two actions L, H (actions 0, 1) with success probabilities p_L < p_H "
               "(outcome 1) and costs c_L < c_H, limited liability, no participation constraint. MIN-PAY(H) pays "
               "(c_H - c_L)/(p_H - p_L) on success and 0 on failure; its expected payment is "
               "p_H (c_H - c_L)/(p_H - p_L) and the agent's rent (expected utility) is "
               "(c_H p_L - c_L p_H)/(p_H - p_L). Checked: contract, payment and rent equal the LP's within "
               "1e-8 * max(1, |LP value|)."),
    source=SOURCE_SUCCESS_FAILURE,
    strategy=success_failure_problems,
    expression=sympy.And(sympy.Eq(t_success, _SF.success_payment), sympy.Eq(t_failure, _SF.failure_payment),
                         sympy.Eq(cf.min_pay_H, _SF.expected_payment), sympy.Eq(U_H, _SF.rent)),
    tags=("closed_form", "min_pay"),
)
def check_success_failure(problem: ContractProblem) -> Evidence:
    """The success/failure closed forms vs the HiGHS LP for action 1."""
    values = cf.success_failure_values(problem)
    if not values[cf.p_L] < values[cf.p_H]:
        return Evidence.vacuous("p_H <= p_L")
    if not values[cf.c_L] < values[cf.c_H]:
        return Evidence.vacuous("c_H <= c_L")
    success = cf.evaluate(_SF.success_payment, values)
    lp = min_pay(problem, 1)
    if not lp.implementable:
        return _lp_failed(f"LP says H is not implementable ({lp.status})", success)
    return Evidence.combine([
        Evidence.equal(success, lp.contract[1], CLOSED_FORM_TOL, "payment on success"),
        Evidence.equal(cf.evaluate(_SF.failure_payment, values), lp.contract[0], CLOSED_FORM_TOL,
                       "payment on failure"),
        Evidence.equal(cf.evaluate(_SF.expected_payment, values), lp.expected_payment, CLOSED_FORM_TOL,
                       "expected payment"),
        Evidence.equal(cf.evaluate(_SF.rent, values), lp.agent_utility, CLOSED_FORM_TOL, "agent's rent"),
    ])


def merge_close(values, utilities, tol: float = CRITICAL_VALUE_TOL) -> tuple[list[float], list[float]]:
    """Collapse runs of critical values closer than ``tol`` to their first value, keeping the
    principal's utility of the last (the action the envelope settles on after the run)."""
    merged_v: list[float] = []
    merged_u: list[float] = []
    for v, u in zip(values, utilities):
        if merged_v and v - merged_v[-1] <= tol:
            merged_u[-1] = u
        else:
            merged_v.append(v)
            merged_u.append(u)
    return merged_v, merged_u


def _drop_unmatched_one(a: list[float], ua: list[float], b: list[float], ub: list[float],
                        tol: float) -> None:
    """A crossing within ``tol`` of ``α = 1`` may fall on either side of 1 in floating point:
    if only one list reports it, drop it (in place)."""
    a_has = len(a) > 1 and a[-1] >= 1.0 - tol
    b_has = len(b) > 1 and b[-1] >= 1.0 - tol
    if a_has and not b_has:
        a.pop(), ua.pop()
    elif b_has and not a_has:
        b.pop(), ub.pop()


@theorem(
    id="closed_forms.linear_critical_values",
    statement=("For linear contracts t = alpha r (r >= 0), the agent's best response changes exactly at the "
               "critical values alpha_k = (c_k - c_{k-1})/(R_k - R_{k-1}) of consecutive actions on the upper "
               "envelope of alpha R_i - c_i ordered by R (ties to the principal), starting from alpha_0 = 0. "
               "Checked: the critical values in [0, 1] computed in exact rational arithmetic equal "
               "best_linear_contract's critical_values, and the principal's utilities (1 - alpha_k) R_{a_k} at them "
               "agree, within 1e-9 (critical values closer than 1e-9 count as one; one within 1e-9 of alpha = 1 "
               "is compared only if both report it)."),
    source=SOURCE_LINEAR,
    strategy=linear_problems,
    expression=sympy.Eq(cf.alpha_k, cf.critical_value_expression()),
    tags=("closed_form", "linear"),
)
def check_linear_critical_values(problem: ContractProblem) -> Evidence:
    """Exact envelope (:func:`closed_forms.linear_envelope`) vs :func:`best_linear_contract`."""
    tol = CRITICAL_VALUE_TOL
    env = cf.linear_envelope(problem, upper=1 + Fraction(1, 10**6))
    exact_v = [float(a) for a in env.critical_values]
    exact_u = [float(u) for u in env.principal_utilities()]
    keep = [k for k, a in enumerate(exact_v) if a <= 1.0 + tol]
    exact_v, exact_u = [exact_v[k] for k in keep], [exact_u[k] for k in keep]
    lin = best_linear_contract(problem)
    a, ua = merge_close(exact_v, exact_u, tol)
    b, ub = merge_close([float(x) for x in lin.critical_values], [float(x) for x in lin.principal_utilities], tol)
    _drop_unmatched_one(a, ua, b, ub, tol)
    detail = f"exact {a}, best_linear_contract {b}"
    if len(a) != len(b):
        return Evidence(float(len(a)), float(len(b)), -math.inf, False, "different numbers of critical values: "
                        + detail)
    value_gap = max(abs(x - y) for x, y in zip(a, b))
    utility_gap = max(abs(x - y) for x, y in zip(ua, ub))
    scale = max(1.0, max(abs(x) for x in ua))
    return Evidence.combine([
        Evidence.equal(value_gap, 0.0, tol, "max |critical value difference|; " + detail),
        Evidence.equal(utility_gap / scale, 0.0, tol, "max relative |principal utility difference|"),
    ])
