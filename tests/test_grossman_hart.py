"""Tests of the Grossman–Hart convex program for a risk-averse agent.

Independent cross-checks: closed forms (single action; two outcomes x two actions with IC and
IR binding; the shifting-support case), scipy.optimize.minimize (SLSQP) on drawn instances,
and the exact LP implementability decision.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize

from contractlab.proofs_checks import theorems_stackelberg as ts
from contractlab.proofs_checks.registry import _REGISTRY
from contractlab.solvers.grossman_hart import (UTILITIES, GrossmanHartResult, full_insurance_payment, grossman_hart,
                                               grossman_hart_optimal, inverse_utility, utility_of_money, utility_range)
from contractlab.theory.contract_problem import ContractProblem
from contractlab.theory.errors import InvalidInstanceError

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

#: The solver's answers are KKT points polished to round-off; closed forms are compared at this
#: relative tolerance.
EXACT_TOL = 1e-9


def h(v, utility, rho=1.0):
    """The inverse utility written out independently of the solver module."""
    v = np.asarray(v, dtype=float)
    return {"sqrt": lambda: v ** 2, "log": lambda: np.exp(v), "cara": lambda: -np.log(1 - rho * v) / rho}[utility]()


# --- closed forms -------------------------------------------------------------------------------

@pytest.mark.parametrize("utility", UTILITIES)
@pytest.mark.parametrize("u0", [-0.25, 0.0, 0.5])
def test_single_action_pays_full_insurance(utility, u0):
    # One action: no IC constraint, so the constant contract v = c + U_0 is optimal (Jensen):
    # t_j = h(c + U_0) on every outcome.
    problem = ContractProblem([[0.2, 0.3, 0.5]], [0.75], [0, 1, 2])
    res = grossman_hart(problem, 0, utility, rho=0.5, reservation_utility=u0)
    level = 0.75 + u0
    assert res.implementable and res.status == "optimal"
    np.testing.assert_allclose(res.utility_levels, level, rtol=EXACT_TOL, atol=EXACT_TOL)
    np.testing.assert_allclose(res.contract, h(level, utility, 0.5), rtol=EXACT_TOL)
    assert res.expected_payment == pytest.approx(float(h(level, utility, 0.5)), rel=EXACT_TOL)
    assert res.full_insurance_payment == pytest.approx(float(h(level, utility, 0.5)), rel=1e-15)
    assert res.participation_slack == pytest.approx(0.0, abs=1e-12)


def two_by_two(p=0.2, q=0.8, c0=0.0, c1=1.0):
    """Outcomes (fail, succeed); action 0 succeeds w.p. p at cost c0, action 1 w.p. q > p at c1."""
    return ContractProblem([[1 - p, p], [1 - q, q]], [c0, c1], [0.0, 10.0])


@pytest.mark.parametrize("utility", UTILITIES)
def test_two_outcome_two_action_closed_form(utility):
    # Implementing the costly action: IC and IR both bind (when the range does not cut in):
    #   (q - p)(v2 - v1) = c1 - c0,   (1-q) v1 + q v2 = c1 + U0
    #   => Δ = (c1-c0)/(q-p),  v1 = c1 + U0 - qΔ,  v2 = v1 + Δ.
    # With p=.2, q=.8, c=(0,1), U0=1: Δ = 5/3, v = (2/3, 7/3); for sqrt the cost is
    # .2·(4/9) + .8·(49/9) = 40/9.
    rho = 0.25
    res = grossman_hart(two_by_two(), 1, utility, rho=rho, reservation_utility=1.0)
    v = np.array([2 / 3, 7 / 3])
    np.testing.assert_allclose(res.utility_levels, v, rtol=EXACT_TOL)
    expected = 0.2 * h(v[0], utility, rho) + 0.8 * h(v[1], utility, rho)
    assert res.expected_payment == pytest.approx(float(expected), rel=EXACT_TOL)
    if utility == "sqrt":
        assert res.expected_payment == pytest.approx(40 / 9, rel=EXACT_TOL)
    np.testing.assert_allclose(res.ic_slacks, [0.0, 0.0], atol=1e-12)
    assert res.ic_duals[0] > 0 and res.participation_dual > 0   # both constraints bind


def test_two_outcome_sqrt_with_binding_floor():
    # U0 = 0: the formula would give v1 = 1 - 4/3 < 0, outside the range of sqrt. Then v1 = 0,
    # IC binds with v2 = Δ = 5/3 and IR is slack (0.8·5/3 = 4/3 > 1); cost 0.8·25/9 = 20/9.
    res = grossman_hart(two_by_two(), 1, "sqrt", reservation_utility=0.0)
    np.testing.assert_allclose(res.utility_levels, [0.0, 5 / 3], atol=1e-12)
    assert res.expected_payment == pytest.approx(20 / 9, rel=EXACT_TOL)
    assert res.participation_slack == pytest.approx(1 / 3, rel=1e-9)
    assert res.participation_dual == pytest.approx(0.0, abs=1e-9)


def test_least_cost_action_is_fully_insured():
    res = grossman_hart(two_by_two(), 0, "log", reservation_utility=0.3)
    np.testing.assert_allclose(res.utility_levels, [0.3, 0.3], rtol=EXACT_TOL)
    assert res.expected_payment == pytest.approx(np.exp(0.3), rel=EXACT_TOL)
    assert res.risk_premium == pytest.approx(0.0, abs=1e-12)


def test_shifting_support_reaches_first_best_for_unbounded_utilities():
    # Action 1 never produces outcome 1, which action 0 produces w.p. 0.2. With log/CARA
    # utility the principal punishes outcome 1 as hard as needed and fully insures on the
    # support: cost h(c1 + U0) (here U0 = 0, c1 = 1). The punishment level is the mildest that
    # deters action 0: 0.8·1 + 0.2·θ - 0 <= 1 - 1  =>  θ = -4.
    problem = ContractProblem([[0.8, 0.2, 0.0], [0.2, 0.0, 0.8]], [0.0, 1.0], [0, 1, 2])
    for utility in ("log", "cara"):
        res = grossman_hart(problem, 1, utility, rho=0.5)
        np.testing.assert_allclose(res.utility_levels, [1.0, -4.0, 1.0], rtol=1e-12, atol=1e-12)
        assert res.expected_payment == pytest.approx(float(h(1.0, utility, 0.5)), rel=EXACT_TOL)
        assert res.ic_slacks[0] == pytest.approx(0.0, abs=1e-12)
    # sqrt cannot punish below 0: v = (0, 0, 1.25), IC binding, cost 0.8·1.25² = 1.25.
    res = grossman_hart(problem, 1, "sqrt")
    np.testing.assert_allclose(res.utility_levels, [0.0, 0.0, 1.25], atol=1e-12)
    assert res.expected_payment == pytest.approx(1.25, rel=EXACT_TOL)


# --- regressions found by hypothesis ---------------------------------------------------------

def test_duplicate_distributions_with_different_costs_are_polished():
    # Actions 0 and 2 have the same distribution and costs 1e-6 apart: their IC rows coincide
    # with different right-hand sides. Only the binding one may enter the active set.
    problem = ContractProblem([[5 / 6, 1 / 6], [0.5, 0.5], [5 / 6, 1 / 6]], [1e-6, 0.195305, 0.0], [0, 0])
    res = grossman_hart(problem, 1, "cara", rho=0.11610767039026654, reservation_utility=-0.5)
    assert res.polished and res.status == "optimal"
    assert res.ic_slacks.min() >= -1e-12
    assert res.ic_slacks[2] == pytest.approx(0.0, abs=1e-12) and res.ic_slacks[0] == pytest.approx(1e-6, rel=1e-6)


def test_badly_scaled_log_instance_stays_feasible():
    # A near-duplicate cheaper action forces utility levels from -34 to 20 (payments ~2e8). The
    # Newton polish cannot refine this one (curvatures differ by 1e23); the interior-point answer
    # is used with its IR round-off repaired by a shift. Tolerance: 1e-7 relative to max |v|.
    third = 0.33333333333333337
    problem = ContractProblem([[third, third, third], [0.2817738359006265, 0.35951736722378114, 0.3587087968755924]],
                              [1.543957, 0.0], [0, 0, 0])
    res = grossman_hart(problem, 0, "log", reservation_utility=-1.0)
    assert res.implementable
    # Clarabel is at its limits here (a 1e-17 change of the input can make it fail): a failure
    # must be reported as such, never as a contract.
    assert res.status in ("optimal", "error")
    if res.status == "error":
        assert res.contract is None and np.isnan(res.expected_payment)
        return
    scale = np.abs(res.utility_levels).max()
    assert res.participation_slack >= 0.0
    assert res.ic_slacks.min() >= -1e-7 * scale
    assert res.expected_payment > 1e8


@pytest.mark.parametrize("utility", UTILITIES)
def test_unpolished_answer_is_repaired_to_meet_participation(monkeypatch, utility):
    # Force the fallback path: the raw interior-point answer, shifted to meet IR exactly.
    import contractlab.solvers.grossman_hart as gh
    monkeypatch.setattr(gh, "_polish", lambda *args, **kwargs: None)
    res = gh.grossman_hart(two_by_two(), 1, utility, rho=0.25, reservation_utility=1.0)
    assert res.status == "optimal" and not res.polished
    assert res.participation_slack >= -1e-12                  # met up to the shift's round-off
    assert res.ic_slacks.min() >= -1e-8                       # Clarabel's feasibility (tol 1e-10)
    # the value is accurate to the gap tolerance, the minimiser only to ~1e-5 (why the polish exists)
    exact = 0.2 * h(2 / 3, utility, 0.25) + 0.8 * h(7 / 3, utility, 0.25)
    assert res.expected_payment == pytest.approx(float(exact), rel=1e-6)
    np.testing.assert_allclose(res.utility_levels, [2 / 3, 7 / 3], atol=1e-4)


# --- non-implementable actions --------------------------------------------------------------

def test_duplicate_cheaper_action_makes_action_not_implementable():
    problem = ContractProblem([[0.5, 0.5], [0.5, 0.5], [0.1, 0.9]], [0.0, 0.5, 1.0], [0, 1])
    for utility in UTILITIES:
        res = grossman_hart(problem, 1, utility)
        assert not res.implementable and res.status == "infeasible"
        assert res.expected_payment == np.inf and res.contract is None and res.utility_levels is None
        np.testing.assert_allclose(res.witness, [1.0, 0.0, 0.0])
    # the same distribution at the same cost is fine (ties go to the principal)
    tie = problem.replace(costs=[0.5, 0.5, 1.0])
    assert grossman_hart(tie, 1, "sqrt").implementable


def test_cara_participation_beyond_the_utility_bound_is_not_implementable():
    # CARA utility is below 1/ρ = 2; with c + U0 = 2.5 no contract meets participation.
    problem = ContractProblem([[0.3, 0.7]], [1.5], [0, 1])
    res = grossman_hart(problem, 0, "cara", rho=0.5, reservation_utility=1.0)
    assert not res.implementable and res.witness is None and res.status == "infeasible"
    assert res.full_insurance_payment == np.inf
    assert grossman_hart(problem, 0, "cara", rho=0.5, reservation_utility=0.25).implementable


def test_optimal_action_and_no_implementable_action():
    # Rewards make the costly action worth its risk premium: R = (0.2, 0.8)·10, cost 40/9 vs 1.
    opt = grossman_hart_optimal(two_by_two(), "sqrt", reservation_utility=1.0)
    assert opt.action == 1
    np.testing.assert_allclose(opt.principal_utilities, [2.0 - 1.0, 8.0 - 40 / 9], rtol=1e-9)
    assert opt.result is opt.results[1] and opt.principal_utility == pytest.approx(8 - 40 / 9)
    # equal principal utilities: the lowest index wins
    flat = ContractProblem([[0.5, 0.5], [0.5, 0.5]], [0.0, 0.0], [1.0, 1.0])
    assert grossman_hart_optimal(flat, "log").action == 0
    # nothing implementable (CARA bound): action None
    none = grossman_hart_optimal(ContractProblem([[1.0]], [3.0], [1.0]), "cara", rho=1.0)
    assert none.action is None and none.result is None and none.principal_utilities[0] == -np.inf


# --- cross-check against SLSQP -------------------------------------------------------------------

def slsqp_cost(problem: ContractProblem, i: int, utility: str, rho: float, u0: float) -> tuple[bool, float]:
    """The GH program solved independently by SLSQP in utility levels (all outcomes, no reduction)."""
    F, c = problem.outcome_probs, problem.costs
    n, m = F.shape
    D = F[i][None] - np.delete(F, i, axis=0)
    d = c[i] - np.delete(c, i)
    cons = [{"type": "ineq", "fun": lambda v: D @ v - d, "jac": lambda v: D},
            {"type": "ineq", "fun": lambda v: np.array([F[i] @ v - c[i] - u0]), "jac": lambda v: F[i][None]}]
    low, high = {"sqrt": (0.0, None), "log": (None, None), "cara": (None, 1.0 / rho - 1e-6)}[utility]
    fun = lambda v: F[i] @ h(v, utility, rho)
    x0 = np.full(m, max(c[i] + u0, 0.0) if utility == "sqrt" else min(c[i] + u0, 0.5 / rho))
    res = minimize(fun, x0, method="SLSQP", constraints=cons, bounds=[(low, high)] * m,
                   options={"ftol": 1e-12, "maxiter": 500})
    feasible = res.success and np.all(D @ res.x - d >= -1e-7) and F[i] @ res.x - c[i] - u0 >= -1e-7
    return bool(feasible), float(res.fun)


@st.composite
def full_support_instances(draw):
    n = draw(st.integers(1, 3))
    m = draw(st.integers(2, 4))
    F = np.array(draw(st.lists(st.lists(st.floats(0.1, 1.0), min_size=m, max_size=m), min_size=n, max_size=n)))
    F /= F.sum(axis=1, keepdims=True)
    c = np.array(draw(st.lists(st.floats(0.0, 0.5), min_size=n, max_size=n)))
    problem = ContractProblem(F, c, np.zeros(m))
    return (problem, draw(st.integers(0, n - 1)), draw(st.sampled_from(UTILITIES)),
            draw(st.sampled_from([0.2, 0.5])), draw(st.floats(-0.5, 0.5)))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(full_support_instances())
def test_matches_slsqp(instance):
    problem, i, utility, rho, u0 = instance
    res = grossman_hart(problem, i, utility, rho, u0)
    assume(res.implementable and res.status == "optimal")
    cost = res.expected_payment
    assume(cost < 1e3)    # SLSQP is unreliable on badly scaled (near-duplicate action) instances
    ok, ref = slsqp_cost(problem, i, utility, rho, u0)
    assume(ok)
    # The program's optimum can be beaten only by SLSQP's constraint slack (1e-7 in utility),
    # and SLSQP reaches the optimum to ~1e-6 relative: tolerance 1e-5 relative.
    assert cost <= ref + 1e-5 * max(1.0, abs(ref))
    assert ref <= cost + 1e-5 * max(1.0, abs(cost))


# --- properties -------------------------------------------------------------------------------------

@FAST
@given(ts.grossman_hart_instances(), st.floats(0.01, 1.0))
def test_cost_is_nondecreasing_in_the_outside_option(inst, delta):
    # A higher U0 shrinks the feasible set; tolerance 1e-9 relative (both are polished optima).
    lo = inst.solve()
    hi = grossman_hart(inst.problem, inst.action, inst.utility, inst.rho, inst.reservation_utility + delta)
    assume(lo.status == "optimal" and hi.status == "optimal")
    assert hi.expected_payment >= lo.expected_payment - 1e-9 * max(1.0, lo.expected_payment)


@FAST
@given(ts.grossman_hart_instances())
def test_result_is_consistent_evidence(inst):
    res = inst.solve()
    assert isinstance(res, GrossmanHartResult)
    if res.implementable:
        # implementable iff the exact LP test says so; the witness only on IC failure
        assert res.witness is None
    if res.status != "optimal":
        return
    F, c = inst.problem.outcome_probs, inst.problem.costs
    v = res.utility_levels
    u = F @ v - c
    np.testing.assert_allclose(res.ic_slacks, u[inst.action] - u, atol=1e-12, rtol=0)
    assert res.participation_slack == pytest.approx(u[inst.action] - inst.reservation_utility, abs=1e-12)
    assert np.all(res.ic_duals >= 0) and res.participation_dual >= 0
    # complementary slackness: a positive multiplier only on a (numerically) binding constraint
    tight = 1e-7 * max(1.0, np.abs(v).max())
    assert np.all((res.ic_duals <= 1e-9) | (np.abs(res.ic_slacks) <= tight))
    for arr in (res.utility_levels, res.contract, res.ic_slacks, res.ic_duals):
        with pytest.raises(ValueError):
            arr[0] = 1.0


@pytest.mark.parametrize("utility", UTILITIES)
def test_utility_and_inverse_round_trip(utility):
    t = np.array([0.01, 0.5, 1.0, 3.0])
    np.testing.assert_allclose(inverse_utility(utility_of_money(t, utility, 0.5), utility, 0.5), t, rtol=1e-12)
    low, high = utility_range(utility, 0.5)
    assert low < high


# --- the registered theorems --------------------------------------------------------------------

GH_THEOREMS = [tid for tid in _REGISTRY if tid.startswith("grossman_hart.")]


def test_grossman_hart_theorems_are_registered():
    assert set(GH_THEOREMS) >= {"grossman_hart.ic_and_participation", "grossman_hart.jensen_lower_bound"}
    for tid in GH_THEOREMS:
        assert "Grossman & Hart" in _REGISTRY[tid].source


@pytest.mark.parametrize("tid", GH_THEOREMS)
def test_grossman_hart_theorem_holds_on_drawn_instances(tid):
    th = _REGISTRY[tid]

    @settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(th.strategy())
    def run(inst):
        ev = th.check(inst)
        assert ev.passed, (tid, ev, inst)

    run()


# --- invalid input ---------------------------------------------------------------------------------

def test_invalid_arguments_name_the_field():
    problem = two_by_two()
    cases = [
        (dict(utility="exp"), "utility"),
        (dict(utility=None), "utility"),
        (dict(rho=0.0), "rho"),
        (dict(rho=-1.0), "rho"),
        (dict(rho=float("nan")), "rho"),
        (dict(rho=True), "rho"),
        (dict(reservation_utility=float("inf")), "reservation_utility"),
        (dict(reservation_utility="0"), "reservation_utility"),
    ]
    for kwargs, field in cases:
        with pytest.raises(InvalidInstanceError) as e:
            grossman_hart(problem, 0, **kwargs)
        assert e.value.field == field, kwargs
    for action in (2, -1, 0.5, True):
        with pytest.raises(InvalidInstanceError) as e:
            grossman_hart(problem, action)
        assert e.value.field == "action"
    with pytest.raises(InvalidInstanceError) as e:
        grossman_hart_optimal(problem, "cara", rho=0)
    assert e.value.field == "rho"
    with pytest.raises(InvalidInstanceError) as e:
        full_insurance_payment(problem, 0, "quadratic")
    assert e.value.field == "utility"


def test_invalid_problem_names_field_and_index():
    with pytest.raises(InvalidInstanceError) as e:
        ContractProblem([[0.5, 0.5], [0.7, -0.3]], [0, 1], [0, 1])
    assert e.value.field == "outcome_probs" and e.value.index == (1, 1)
    with pytest.raises(InvalidInstanceError) as e:
        ContractProblem([[0.5, 0.5], [0.5, 0.5]], [0, float("nan")], [0, 1])
    assert e.value.field == "costs" and e.value.index == (1,)
