"""Tests of the symbolic closed forms (contractlab.theory.closed_forms) and their registered theorems.

Tolerances: closed form vs LP within ``CLOSED_FORM_TOL = 1e-8`` (absolute, scaled by
``max(1, |LP value|)``); exact critical values vs ``best_linear_contract`` within ``1e-9``.
Hand-computed examples are compared exactly (sympy Rationals) where the inputs are dyadic.
"""

from __future__ import annotations

import numpy as np
import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

from contractlab.proofs_checks import theorems_closed_forms as tcf
from contractlab.proofs_checks.registry import _REGISTRY, Evidence
from contractlab.solvers.linear import best_linear_contract
from contractlab.solvers.min_pay import min_pay
from contractlab.theory import closed_forms as cf
from contractlab.theory.contract_problem import ContractProblem
from contractlab.theory.errors import InvalidInstanceError

TOL = tcf.CLOSED_FORM_TOL
THEOREM_IDS = ("closed_forms.two_action_min_pay", "closed_forms.success_failure",
               "closed_forms.linear_critical_values")
R = sympy.Rational


def _close(a: float, b: float, tol: float = TOL) -> bool:
    return abs(a - b) <= tol * max(1.0, abs(b))


# --------------------------------------------------------------------------------------
# Symbolic identities
# --------------------------------------------------------------------------------------

def test_success_failure_expressions_simplify_to_expected_forms():
    f = cf.success_failure()
    p_L, p_H, c_L, c_H = cf.p_L, cf.p_H, cf.c_L, cf.c_H
    assert sympy.simplify(f.success_payment - (c_H - c_L) / (p_H - p_L)) == 0
    assert f.failure_payment == 0
    assert sympy.simplify(f.expected_payment - p_H * (c_H - c_L) / (p_H - p_L)) == 0
    assert sympy.simplify(f.rent - (c_H * p_L - c_L * p_H) / (p_H - p_L)) == 0
    # the rent is the agent's utility from H, and IC binds: L gives the agent the same
    assert sympy.simplify(f.rent - (f.expected_payment - c_H)) == 0
    assert sympy.simplify(f.rent - (p_L * f.success_payment - c_L)) == 0
    # with c_L = 0 it is Laffont & Martimort's limited-liability rent p_L * Δc / Δp
    assert sympy.simplify(f.rent.subs(c_L, 0) - p_L * c_H / (p_H - p_L)) == 0


def test_two_action_forms_simplify_and_specialise_to_success_failure():
    t = cf.two_action_min_pay_forms()
    F_H, F_L, c_L, c_H = cf.F_Hj, cf.F_Lj, cf.c_L, cf.c_H
    # the single IC constraint binds: (F_H − F_L) t = Δc
    assert sympy.simplify((F_H - F_L) * t.payment - (c_H - c_L)) == 0
    assert sympy.simplify(t.agent_utility - (c_H * F_L - c_L * F_H) / (F_H - F_L)) == 0
    # success/failure is the two-action form with j* = success
    sf = cf.success_failure()
    on_success = {F_H: cf.p_H, F_L: cf.p_L}
    assert sympy.simplify(t.payment.subs(on_success) - sf.success_payment) == 0
    assert sympy.simplify(t.expected_payment.subs(on_success) - sf.expected_payment) == 0
    assert sympy.simplify(t.agent_utility.subs(on_success) - sf.rent) == 0


def test_critical_value_expression_is_where_the_lines_cross():
    alpha = sympy.Symbol("alpha")
    crossing = sympy.solve(sympy.Eq(alpha * cf.R_prev - cf.c_prev, alpha * cf.R_k - cf.c_k), alpha)
    assert len(crossing) == 1
    assert sympy.simplify(crossing[0] - cf.critical_value_expression()) == 0


def test_linear_approximation_bound_expression():
    bound = cf.linear_approximation_bound()
    assert isinstance(bound, sympy.Le)
    assert bound == sympy.Le(cf.FB / cf.LIN, cf.n_actions)
    assert bound.subs({cf.FB: 3, cf.LIN: 1, cf.n_actions: 3}) == sympy.true
    assert bound.subs({cf.FB: 4, cf.LIN: 1, cf.n_actions: 3}) == sympy.false
    # multiply through by LIN > 0: FB <= n LIN
    assert sympy.simplify((bound.lhs - bound.rhs) * cf.LIN - (cf.FB - cf.n_actions * cf.LIN)) == 0


# --------------------------------------------------------------------------------------
# Hand-computed examples
# --------------------------------------------------------------------------------------

def test_success_failure_hand_example():
    # p_L = 1/4, p_H = 3/4, c_L = 0, c_H = 1: pay 1/(1/2) = 2 on success, expected 3/2, rent 1/2
    f = cf.success_failure()
    values = {cf.p_L: R(1, 4), cf.p_H: R(3, 4), cf.c_L: 0, cf.c_H: 1}
    assert f.success_payment.subs(values) == 2
    assert f.expected_payment.subs(values) == R(3, 2)
    assert f.rent.subs(values) == R(1, 2)
    problem = ContractProblem([[0.75, 0.25], [0.25, 0.75]], [0.0, 1.0], [0.0, 4.0])
    assert cf.success_failure_values(problem) == values
    lp = min_pay(problem, 1)
    np.testing.assert_allclose(lp.contract, [0.0, 2.0], atol=TOL)
    assert _close(lp.expected_payment, 1.5) and _close(lp.agent_utility, 0.5)


def test_two_action_hand_example():
    # likelihood ratios F_H/F_L = 0.2, 1, 3 -> j* = 2; t_2 = 1/(0.6-0.2) = 2.5; payment 0.6*2.5 = 1.5
    form = cf.two_action_min_pay([0.5, 0.3, 0.2], [0.1, 0.3, 0.6], 0.0, 1.0)
    assert form.case == "likelihood_ratio" and form.j_star == 2
    np.testing.assert_allclose(form.contract(), [0.0, 0.0, 2.5], rtol=1e-15)
    assert _close(form.expected_payment(), 1.5, 1e-15)
    problem = ContractProblem([[0.5, 0.3, 0.2], [0.1, 0.3, 0.6]], [0.0, 1.0], [0.0, 1.0, 2.0])
    assert _close(min_pay(problem, 1).expected_payment, form.expected_payment())


def test_two_action_infinite_likelihood_ratio_leaves_no_rent_over_c_L():
    # F_L puts no mass on outcome 2: pay Δc / F_H2 there; expected payment is exactly Δc = 1
    form = cf.two_action_min_pay([0.5, 0.5, 0.0], [0.25, 0.25, 0.5], 1.0, 2.0)
    assert form.j_star == 2
    assert form.expected_payment_exact() == 1
    np.testing.assert_array_equal(form.contract(), [0.0, 0.0, 2.0])


def test_two_action_degenerate_cases():
    zero = cf.two_action_min_pay([0.5, 0.5], [0.2, 0.8], 1.0, 1.0)
    assert zero.case == "zero_contract" and zero.expected_payment() == 0.0
    np.testing.assert_array_equal(zero.contract(), [0.0, 0.0])
    never = cf.two_action_min_pay([0.5, 0.5], [0.5, 0.5], 0.0, 1.0)
    assert never.case == "not_implementable" and not never.implementable
    assert never.expected_payment() == np.inf and never.contract() is None
    problem = ContractProblem([[0.5, 0.5], [0.5, 0.5]], [0.0, 1.0], [0.0, 1.0])
    assert not min_pay(problem, 1).implementable


def test_linear_critical_values_hand_example():
    # R = (0, 1, 2), c = (0, 1/4, 1): α_1 = (1/4)/1 = 1/4, α_2 = (3/4)/1 = 3/4
    problem = ContractProblem(np.eye(3), [0.0, 0.25, 1.0], [0.0, 1.0, 2.0])
    assert cf.linear_critical_values(problem) == [0, R(1, 4), R(3, 4)]
    assert all(isinstance(a, sympy.Rational) for a in cf.linear_critical_values(problem))
    env = cf.linear_envelope(problem)
    assert env.induced_actions == (0, 1, 2)
    assert env.principal_utilities() == (0, R(3, 4), R(1, 2))
    np.testing.assert_allclose(best_linear_contract(problem).critical_values, [0.0, 0.25, 0.75], atol=1e-15)


def test_linear_three_lines_through_one_point_skip_the_middle_action():
    # lines 0, α − 1/2, 2α − 1 all meet at α = 1/2; the tie goes to the principal (largest R)
    problem = ContractProblem(np.eye(3), [0.0, 0.5, 1.0], [0.0, 1.0, 2.0])
    env = cf.linear_envelope(problem)
    assert env.critical_values == (0, R(1, 2)) and env.induced_actions == (0, 2)
    assert tcf.check_linear_critical_values(problem).passed


def test_linear_crossing_exactly_at_one_is_reported():
    problem = ContractProblem(np.eye(2), [0.0, 1.0], [0.0, 1.0])
    assert cf.linear_critical_values(problem) == [0, 1]
    assert cf.linear_envelope(problem, upper=R(1, 2)).critical_values == (0,)


def test_lambdify_matches_subs():
    f = cf.success_failure()
    fn = cf.lambdify_expression(f.rent, (cf.p_L, cf.p_H, cf.c_L, cf.c_H))
    pl, ph = np.array([0.25, 0.1]), np.array([0.75, 0.9])
    cl, ch = np.array([0.0, 0.5]), np.array([1.0, 2.0])
    expected = [cf.evaluate(f.rent, {cf.p_L: a, cf.p_H: b, cf.c_L: c, cf.c_H: d})
                for a, b, c, d in zip(pl, ph, cl, ch)]
    np.testing.assert_allclose(fn(pl, ph, cl, ch), expected, rtol=1e-14)


# --------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------

def test_errors_name_the_field():
    with pytest.raises(InvalidInstanceError) as e:
        cf.two_action_min_pay([0.5, 0.5], [0.2, 0.3, 0.5], 0.0, 1.0)
    assert e.value.field == "F_H"
    with pytest.raises(InvalidInstanceError) as e:
        cf.two_action_min_pay([0.5, -0.1], [0.2, 0.8], 0.0, 1.0)
    assert e.value.field == "F_L" and e.value.index == (1,)
    with pytest.raises(InvalidInstanceError) as e:
        cf.two_action_min_pay([0.5, 0.5], [0.2, 0.8], 0.0, float("nan"))
    assert e.value.field == "cost_H"
    with pytest.raises(InvalidInstanceError) as e:
        cf.success_failure_values(ContractProblem(np.eye(3)[:, :2] + [[0, 0], [0, 0], [0.5, 0.5]],
                                                  [0.0, 1.0, 2.0], [0.0, 1.0]))
    assert e.value.field == "outcome_probs"
    with pytest.raises(InvalidInstanceError) as e:
        cf.linear_critical_values(ContractProblem(np.eye(2), [0.0, 1.0], [1.0, -1.0]))
    assert e.value.field == "rewards" and e.value.index == (1,)
    with pytest.raises(InvalidInstanceError) as e:
        cf.evaluate(cf.success_failure().rent, {cf.p_L: 0.25})
    assert e.value.field == "values"
    with pytest.raises(InvalidInstanceError) as e:
        cf.two_action_min_pay_of_problem(ContractProblem(np.eye(3), [0.0, 1.0, 2.0], [0.0, 1.0, 2.0]))
    assert e.value.field == "outcome_probs"


# --------------------------------------------------------------------------------------
# Closed forms vs the LP on drawn instances
# --------------------------------------------------------------------------------------

@settings(max_examples=40, deadline=None)
@given(tcf.two_action_problems())
def test_two_action_closed_form_equals_lp(problem):
    form = cf.two_action_min_pay_of_problem(problem)
    lp = min_pay(problem, 1)
    assert lp.implementable == form.implementable
    if form.implementable:
        # within 1e-8 * max(1, |LP|), covering all three cases (zero contract included)
        assert _close(form.expected_payment(), lp.expected_payment), (form, lp.expected_payment)


@settings(max_examples=40, deadline=None)
@given(tcf.success_failure_problems())
def test_success_failure_closed_form_equals_lp(problem):
    values = cf.success_failure_values(problem)
    if not (values[cf.p_L] < values[cf.p_H] and values[cf.c_L] < values[cf.c_H]):
        return
    f = cf.success_failure()
    lp = min_pay(problem, 1)
    assert _close(cf.evaluate(f.success_payment, values), lp.contract[1])
    assert _close(0.0, lp.contract[0])
    assert _close(cf.evaluate(f.expected_payment, values), lp.expected_payment)
    assert _close(cf.evaluate(f.rent, values), lp.agent_utility)


@settings(max_examples=40, deadline=None)
@given(tcf.linear_problems())
def test_exact_envelope_is_the_best_response_everywhere(problem):
    # between consecutive critical values (and after the last) the induced action is a best response
    env = cf.linear_envelope(problem)
    Rx = env.expected_rewards
    c = [cf.exact(x) for x in problem.costs]
    ends = list(env.critical_values[1:]) + [sympy.S.One]
    for lo, hi, a in zip(env.critical_values, ends, env.induced_actions):
        for alpha in (lo, (lo + hi) / 2):
            best = max(alpha * Rx[i] - c[i] for i in range(len(c)))
            assert alpha * Rx[a] - c[a] == best


# --------------------------------------------------------------------------------------
# The registered theorems
# --------------------------------------------------------------------------------------

def test_theorems_are_registered_with_source_and_expression():
    for tid in THEOREM_IDS:
        th = _REGISTRY[tid]
        assert th.statement and ("EC 2019" in th.source or "Laffont" in th.source)
        assert isinstance(th.expression, sympy.Basic)
    assert _REGISTRY["closed_forms.two_action_min_pay"].expression.rhs == \
        cf.two_action_min_pay_forms().expected_payment


@pytest.mark.parametrize("tid", THEOREM_IDS)
def test_registered_theorem_passes_on_drawn_instances(tid):
    th = _REGISTRY[tid]

    @settings(max_examples=50, deadline=None)
    @given(th.strategy())
    def run(instance):
        evidence = th.check(instance)
        assert isinstance(evidence, Evidence)
        assert evidence.passed, evidence

    run()


def test_two_action_theorem_is_vacuous_outside_its_premise():
    same = ContractProblem([[0.5, 0.5], [0.5, 0.5]], [0.0, 1.0], [0.0, 1.0])
    cheaper_H = ContractProblem([[0.5, 0.5], [0.2, 0.8]], [1.0, 0.5], [0.0, 1.0])
    for problem in (same, cheaper_H):
        ev = tcf.check_two_action_min_pay(problem)
        assert ev.passed and ev.margin == np.inf


def test_merge_close_keeps_first_value_and_last_utility():
    v, u = tcf.merge_close([0.0, 0.5, 0.5 + 1e-12, 0.75], [0.0, 1.0, 2.0, 3.0], 1e-9)
    assert v == [0.0, 0.5, 0.75] and u == [0.0, 2.0, 3.0]


@given(st.data())
@settings(max_examples=10, deadline=None)
def test_checker_detects_a_wrong_closed_form(data):
    # sanity: the evidence fails when the LP value is perturbed (the check is not vacuous)
    problem = data.draw(tcf.two_action_problems())
    form = cf.two_action_min_pay_of_problem(problem)
    if form.case != "likelihood_ratio":
        return
    lp = min_pay(problem, 1).expected_payment
    assert not Evidence.equal(form.expected_payment(), lp * (1 + 1e-6) + 1e-6, TOL).passed
