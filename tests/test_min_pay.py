"""MIN-PAY, implementability and the optimal contract, cross-checked against an independent LP."""

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from scipy.optimize import linprog

from contractlab import (ContractProblem, InvalidInstanceError, first_best, is_implementable, min_pay, min_pay_all,
                         optimal_contract)
from contractlab.proofs_checks.strategies import contract_problems
from contractlab.solvers.min_pay import solve_min_pay_arrays

REL = 1e-8  # agreement between two exact LP solvers, relative to max(1, value)


def linprog_min_pay(p: ContractProblem, i: int, participation=None):
    """MIN-PAY written independently for scipy.optimize.linprog (A_ub x <= b_ub form)."""
    F, c = p.outcome_probs, p.costs
    others = [k for k in range(p.n_actions) if k != i]
    A = [F[k] - F[i] for k in others]
    b = [c[k] - c[i] for k in others]
    if participation is not None:
        A.append(-F[i])
        b.append(-(c[i] + participation))
    res = linprog(F[i], A_ub=np.array(A) if A else None, b_ub=np.array(b) if b else None,
                  bounds=[(0, None)] * p.n_outcomes, method="highs")
    return res.fun if res.status == 0 else np.inf


def close(a, b, rel=REL):
    if np.isinf(a) or np.isinf(b):
        return a == b
    return abs(a - b) <= rel * max(1.0, abs(a), abs(b))


@given(contract_problems(), st.sampled_from([None, 0.0, 0.5]))
def test_min_pay_matches_linprog_and_cvxpy(p, participation):
    for backend in ("highs", "cvxpy"):
        for res in min_pay_all(p, backend=backend, participation=participation):
            ref = linprog_min_pay(p, res.action, participation)
            assert close(res.expected_payment, ref), (backend, res.action, res.expected_payment, ref)


@given(contract_problems())
def test_single_and_batched_calls_agree_bit_for_bit(p):
    batch = min_pay_all(p)
    for res in batch:
        one = min_pay(p, res.action)
        assert one.implementable == res.implementable
        if one.implementable:
            assert close(one.expected_payment, res.expected_payment, 1e-12)


def test_textbook_success_failure_example():
    # p_L = 1/4, p_H = 3/4, c_H = 1: pay (c_H - c_L)/(p_H - p_L) = 2 on success, rent 1/2.
    p = ContractProblem([[0.75, 0.25], [0.25, 0.75]], [0.0, 1.0], [0.0, 4.0])
    res = min_pay(p, 1)
    np.testing.assert_allclose(res.contract, [0.0, 2.0], atol=1e-12)
    assert res.expected_payment == pytest.approx(1.5, abs=1e-12)
    assert res.agent_utility == pytest.approx(0.5, abs=1e-12)
    assert res.ic_duals[0] == pytest.approx(1.5, abs=1e-9)  # dual value = λ (c_H - c_L)
    opt = optimal_contract(p)
    assert opt.action == 1 and opt.principal_utility == pytest.approx(3.0 - 1.5)
    assert first_best(p).welfare == pytest.approx(2.0)


def test_dominated_action_returns_witness_not_exception():
    # action 2 reproduces the mix 0.5*a0 + 0.5*a1 at a higher cost than the mix
    F = [[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]]
    p = ContractProblem(F, [0.0, 0.2, 0.5], [0.0, 1.0])
    res = min_pay(p, 2)
    assert not res.implementable and res.expected_payment == np.inf and res.contract is None
    np.testing.assert_allclose(res.witness, [0.5, 0.5, 0.0])
    imp = is_implementable(p, 2)
    assert not imp.implementable and imp.witness_cost == pytest.approx(0.1)
    # at a cost below the mix's, it becomes implementable
    assert is_implementable(p.replace(costs=[0.0, 0.2, 0.05]), 2).implementable


def test_ic_margin_makes_duplicate_actions_infeasible():
    p = ContractProblem([[0.5, 0.5], [0.5, 0.5]], [0.0, 0.0], [0.0, 1.0])
    assert min_pay(p, 0).implementable
    strict = min_pay(p, 0, ic_margin=0.1)
    assert not strict.implementable and strict.witness is None  # implementable in the weak sense only


def test_participation_binds():
    p = ContractProblem([[1.0]], [1.0], [2.0])
    assert min_pay(p, 0).expected_payment == 0.0
    res = min_pay(p, 0, participation=0.25)
    assert res.expected_payment == pytest.approx(1.25) and res.participation_dual == pytest.approx(1.0)


@pytest.mark.parametrize("kw, field", [(dict(action=3), "action"), (dict(action=-1), "action"),
                                       (dict(action=1.0), "action"), (dict(action=0, ic_margin=-1.0), "ic_margin"),
                                       (dict(action=0, participation=float("nan")), "participation"),
                                       (dict(action=0, backend="gurobi"), "backend")])
def test_bad_arguments(kw, field):
    p = ContractProblem([[0.5, 0.5], [0.2, 0.8]], [0.0, 1.0], [0.0, 3.0])
    with pytest.raises(ValueError) as info:
        min_pay(p, **kw)
    assert str(info.value).startswith(field)
    if field != "backend":
        assert isinstance(info.value, InvalidInstanceError)


@given(contract_problems())
# Drawn by an older hypothesis: HiGHS ended MIN-PAY of action 3 "unknown" (its two IC rows are
# antiparallel to 3e-11), which was passed on as "error" (see tests/test_lp_degenerate_infeasible.py).
@example(ContractProblem([[0.5, 0.5], [0.5, 0.5], [0.3333333333333333, 0.6666666666666666],
                          [0.49999833572101954, 0.5000016642789805]], [0, 0, 0, 0.125], [0, 0]))
def test_optimal_contract_is_best_over_brute_force(p):
    opt = optimal_contract(p)
    values = [p.expected_rewards[i] - linprog_min_pay(p, i) for i in range(p.n_actions)]
    assert close(opt.principal_utility, max(values))
    # the optimal contract really induces its action (ties to the principal)
    from contractlab import agent_best_response
    br = agent_best_response(p, opt.contract, tol=1e-9)
    assert opt.action in br.best_set


def test_batched_array_path_handles_infeasible_blocks():
    rng = np.random.default_rng(3)
    F = rng.dirichlet(np.ones(4), size=(200, 5))
    c = rng.uniform(0, 1, (200, 5))
    actions = rng.integers(0, 5, 200)
    _, batched = solve_min_pay_arrays(F, c, actions, batched=True)
    _, single = solve_min_pay_arrays(F, c, actions, batched=False)
    assert (batched.status == single.status).all()
    assert (batched.status == "infeasible").any() and (batched.status == "optimal").any()
    ok = batched.status == "optimal"
    np.testing.assert_allclose(batched.objective[ok], single.objective[ok], rtol=1e-9, atol=1e-12)
