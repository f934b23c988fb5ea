"""The welfare theorems (contractlab/proofs_checks/theorems_welfare.py) on fixed and drawn
instances, and each check refuting corrupted answers.

* The checker's own policy evaluation agrees with the toolkit's (``solvers/pamdp_policy.evaluate``),
  so the checks measure the solvers against something right.
* Every theorem holds on the default environments (brute force on shrunk ones) and on drawn
  instances; each check fails on an answer corrupted by 1e-6 (a transfer lowered or raised, a
  value shifted, a flag flipped) and on a planted bug in the solver (monkeypatched in).
* What "globally minimal" means: a schedule that promises more later can pay less at a step
  while implementing the same policy; it is still not better from any (t, s), and the check
  refutes it as a claimed minimum.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings

from contractlab.proofs_checks import theorems_welfare as TW
from contractlab.proofs_checks.registry import all_theorems
from contractlab.proofs_checks.runner import run_theorem
from contractlab.proofs_checks.theorems_minpay import exact_min_pay
from contractlab.solvers.pamdp_policy import evaluate
from contractlab.solvers.welfare import implement_policy, selfish_play, welfare_optimum
from contractlab.theory.contract_policy import ContractPolicy
from contractlab.theory.externality import ExternalityMDP
from contractlab.theory.externality_families import (insurance, pollution_control, random_externality,
                                                     random_insurance, random_pollution)

IDS = ("welfare.optimum_dominates", "welfare.transfers_cancel", "welfare.stepwise_min_pay_minimal",
       "welfare.optimal_actions_implementable")
#: A corruption of this size must be refuted (the checks' tolerances are ~1e-9 relative).
EPS = 1e-6


def shrunk_environments() -> list[ExternalityMDP]:
    """The two environments small enough for the brute force (3^(H·S) <= 729 policies), pollution
    with a heavier damage (0.2 instead of 0.05: with two or three levels the default damage is too
    small to be worth abating, and the optimum would be the selfish policy)."""
    return [pollution_control(n_levels=2, horizon=3, damage_scale=0.2), insurance(n_levels=2, horizon=3),
            pollution_control(n_levels=3, horizon=2, damage_scale=0.2).replace(discount=0.9)]


def optimum_parts(m):
    opt, selfish = welfare_optimum(m), selfish_play(m)
    return opt.value[0].copy(), opt.policy.copy(), selfish.policy.copy(), selfish.welfare


def largest_transfer(impl) -> tuple[int, int, int]:
    """(t, s, o) of the largest transfer."""
    return tuple(int(i) for i in np.unravel_index(int(np.argmax(impl.contract)), impl.contract.shape))


def with_contract(impl, contract: np.ndarray, model) -> tuple:
    """(policy, contract, expected payment) of ``impl`` with ``contract`` swapped in (the payment
    recomputed, so that only the transfers are wrong)."""
    probs = model.outcome_probs[np.arange(model.n_states)[None, :], impl.policy]
    return impl.policy, contract, np.einsum("tsk,tsk->ts", probs, contract)


# --------------------------------------------------------------------------- the checker's own tools

@pytest.mark.parametrize("model", [pollution_control(), insurance(), random_externality(3, 3, 2, 3, 4, False)])
def test_the_checkers_evaluation_agrees_with_the_toolkit(model):
    impl = implement_policy(model, welfare_optimum(model).policy)
    agent, principal = TW.evaluate_policies(model, impl.policy[None], impl.contract)
    ev = evaluate(model.to_pamdp(), impl.contract_policy, impl.policy)
    assert np.allclose(agent[0, :-1], ev.agent_value, rtol=0, atol=1e-12)
    assert np.allclose(principal[0, :-1], ev.principal_value, rtol=0, atol=1e-12)
    assert np.allclose(TW.welfare_dp(model).max(axis=2), welfare_optimum(model).value, rtol=0, atol=1e-12)


def test_the_theorems_are_registered_with_source_and_assumption():
    theorems = all_theorems()
    for tid in IDS:
        assert theorems[tid].source and "Assumes:" in theorems[tid].statement


# --------------------------------------------------------------------------- fixed and drawn instances

@pytest.mark.parametrize("model", shrunk_environments())
def test_optimum_dominates_on_the_environments(model):
    assert TW.check_optimum_dominates(model).passed


@pytest.mark.parametrize("model", [pollution_control(), insurance()] + shrunk_environments())
@pytest.mark.parametrize("target_seed", [None, 7])
def test_transfers_cancel_and_minimality_on_the_environments(model, target_seed):
    case = TW.TargetCase(model, target_seed)
    assert TW.check_transfers_cancel(case).passed
    impl = implement_policy(model, case.target())
    assert TW.minimality_evidence(model, impl.policy, impl.contract, impl.expected_payment).passed


@pytest.mark.parametrize("model", TW.fixed_environments())
def test_optimal_actions_implementable_on_the_environments(model):
    assert TW.check_optimal_actions_implementable(model).passed


@settings(max_examples=10)
@given(TW.tiny_models())
def test_optimum_dominates_on_drawn_instances(model):
    assert TW.check_optimum_dominates(model).passed


@settings(max_examples=10)
@given(TW.target_cases(tiny=True))
def test_stepwise_min_pay_on_drawn_instances(case):
    assert TW.check_stepwise_min_pay_minimal(case).passed
    assert TW.check_transfers_cancel(case).passed


@settings(max_examples=10)
@given(TW.environment_models())
def test_optimal_actions_implementable_on_drawn_instances(model):
    assert TW.check_optimal_actions_implementable(model).passed


def test_implementability_is_not_vacuous_in_insurance():
    """Insurance's outcome rows lie on a line, so a costly middle effort is not implementable
    (exactly, without IC slack) at some (t, s) — and each such (t, s, a) has a positive welfare
    shortfall and is reported not implementable by the solver."""
    m = insurance(effort_costs=(0.0, 0.2, 0.25))
    impl = implement_policy(m, welfare_optimum(m).policy)
    U = TW.evaluate_policies(m, impl.policy[None], impl.contract)[0][0]
    qbar, qw = TW.truncated_q(m, U), TW.welfare_dp(m)
    F = [[TW._fractions(row) for row in m.outcome_probs[s]] for s in range(m.n_states)]
    blocked = [(t, s, a) for t in range(m.horizon) for s in range(m.n_states) for a in range(m.n_actions)
               if not exact_min_pay(F[s], TW._fractions(-qbar[t, s]), a).feasible]
    assert blocked
    assert all(qw[t, s].max() - qw[t, s, a] > 1e-6 for t, s, a in blocked)
    assert all(not impl.implementable[t, s, a] for t, s, a in blocked)


# --------------------------------------------------------------------------- corrupted answers

@pytest.mark.parametrize("model", shrunk_environments()[:2])
def test_optimum_check_refutes_corrupted_answers(model):
    value0, policy, selfish, selfish_w = optimum_parts(model)
    assert TW.optimum_evidence(model, value0, policy, selfish, selfish_w).passed
    s0 = model.initial_state
    for shift in (-EPS, EPS):
        wrong = value0.copy()
        wrong[s0] += shift
        assert not TW.optimum_evidence(model, wrong, policy, selfish, selfish_w).passed
    assert not TW.optimum_evidence(model, value0, policy, selfish, selfish_w + EPS).passed
    # the selfish policy played as the "optimum" (it is strictly worse: a gap), and the optimum played
    # as the "selfish" policy (it is not the agent's best response without transfers)
    assert not (policy == selfish).all()
    assert not TW.optimum_evidence(model, value0, selfish, selfish, selfish_w).passed
    optimum_welfare = sum(TW.evaluate_policies(model, policy[None]))[0, 0, s0]
    assert not TW.optimum_evidence(model, value0, policy, policy, optimum_welfare).passed


def test_cancel_check_refutes_corrupted_values():
    m = pollution_control(horizon=4)
    impl = implement_policy(m, welfare_optimum(m).policy)
    args = (m, impl.policy, impl.contract)
    agent, principal = impl.agent_value.copy(), impl.principal_value.copy()
    assert TW.cancel_evidence(*args, agent, principal).passed
    agent[1, 2] += EPS
    assert not TW.cancel_evidence(*args, agent, principal).passed
    principal[1, 2] -= EPS                    # the sum is right again; each value is not
    assert not TW.cancel_evidence(*args, agent, principal).passed
    contract = impl.contract.copy()
    contract[2, 1, 0] += EPS                  # the values no longer belong to these transfers
    assert not TW.cancel_evidence(m, impl.policy, contract, impl.agent_value, impl.principal_value).passed


@pytest.mark.parametrize("model", [pollution_control(horizon=3), insurance(n_levels=3, horizon=3),
                                   random_externality(3, 3, 3, 3, 3)])
def test_minimality_check_refutes_a_transfer_moved_by_1e6(model):
    impl = implement_policy(model, welfare_optimum(model).policy)
    assert TW.minimality_evidence(model, *with_contract(impl, impl.contract, model)).passed
    t, s, o = largest_transfer(impl)
    assert impl.contract[t, s, o] > 0
    for shift in (-EPS, EPS):
        contract = impl.contract.copy()
        contract[t, s, o] += shift
        ev = TW.minimality_evidence(model, *with_contract(impl, contract, model), global_check=False)
        assert not ev.passed, (shift, ev)
    # a transfer of 0 lowered: limited liability
    zero = np.argwhere(impl.contract == 0)[0]
    contract = impl.contract.copy()
    contract[tuple(zero)] -= EPS
    assert not TW.minimality_evidence(model, *with_contract(impl, contract, model), global_check=False).passed
    # a claimed expected payment that is not the payment of the transfers
    pay = impl.expected_payment.copy()
    pay[t, s] -= EPS
    assert not TW.minimality_evidence(model, impl.policy, impl.contract, pay, global_check=False).passed


def promise_later_instance() -> ExternalityMDP:
    """State 0 leads to state 1 on outcome 0 and to state 2 on outcome 1; states 1 and 2 end the
    episode after one more step. Working (action 0) makes outcome 0 likely, costs the agent and
    spares the others: the welfare optimum works at state 0 and the agent must be paid on outcome 0."""
    O = np.array([[[0.8, 0.2], [0.3, 0.7]]] * 3)
    r = np.array([[0.0, 0.5], [0.0, 0.4], [0.0, 0.3]])
    e = np.array([[0.0, -2.0], [0.0, -2.0], [0.0, -2.0]])
    return ExternalityMDP(O, r, e, horizon=2, next_state=[[1, 2], [-1, -1], [-1, -1]], discount=0.9)


def test_a_schedule_that_promises_more_later_pays_less_now_but_is_not_minimal():
    """The true statement is about the agent's value from every (t, s), not each step's payment:
    add δ to every transfer at (t=1, s=1) and take γδ off the transfer on outcome 0 at (0, 0), the
    only way into (1, 1). Every action's Q at (0, 0) is unchanged, so the policy is still implemented,
    with a smaller payment at (0, 0); the agent's value from (0, 0) is the same and from (1, 1)
    higher. The check refutes it (the payment at (1, 1) is above MIN-PAY); the global LP agrees
    that nothing beats the stepwise schedule from (0, s)."""
    m = promise_later_instance()
    impl = implement_policy(m, welfare_optimum(m).policy)
    assert impl.policy[0, 0] == 0 and impl.contract[0, 0, 0] > 0
    delta = 0.5 * impl.contract[0, 0, 0] / m.discount
    contract = impl.contract.copy()
    contract[1, 1] += delta
    contract[0, 0, 0] -= m.discount * delta
    policy, contract, pay = with_contract(impl, contract, m)
    assert pay[0, 0] < impl.expected_payment[0, 0] - 1e-3                  # pays less now ...
    U_star = TW.evaluate_policies(m, impl.policy[None], impl.contract)[0][0]
    U = TW.evaluate_policies(m, policy[None], contract)[0][0]
    assert U[0, 0] == pytest.approx(U_star[0, 0], abs=1e-12)               # ... the same from (0, 0)
    assert U[1, 1] > U_star[1, 1] + 1e-3                                   # ... more from (1, 1)
    assert (U >= U_star - 1e-12).all()
    ev = TW.minimality_evidence(m, policy, contract, pay)
    assert not ev.passed and "(1, 1)" in ev.detail
    # it implements the policy all the same: only the payment checks fail
    ic_only = TW.minimality_evidence(m, policy, contract, pay, global_check=False)
    assert "MIN-PAY" in ic_only.detail
    assert np.allclose(TW.global_min_agent_value(m, impl.policy), U_star[0], rtol=0, atol=1e-8)


def test_global_check_refutes_a_schedule_that_pays_a_constant_more():
    """A constant added to every outcome at one (t, s) keeps every IC; only the payment checks and
    the LP over the whole schedule can tell it is not minimal."""
    m = insurance(n_levels=2, horizon=3)
    impl = implement_policy(m, welfare_optimum(m).policy)
    contract = impl.contract.copy()
    contract[0, m.initial_state] += EPS
    policy, contract, pay = with_contract(impl, contract, m)
    lowest = TW.global_min_agent_value(m, policy)
    U = TW.evaluate_policies(m, policy[None], contract)[0][0]
    assert U[0, m.initial_state] > lowest[m.initial_state] + 0.5 * EPS
    assert not TW.minimality_evidence(m, policy, contract, pay).passed


def test_implementability_check_refutes_wrong_flags_and_a_wrong_welfare(monkeypatch):
    m = insurance(effort_costs=(0.0, 0.2, 0.25))
    impl = implement_policy(m, welfare_optimum(m).policy)
    args = (m, impl.policy, impl.contract)
    assert TW.implementability_evidence(*args, impl.implementable, impl.target_implementable).passed
    flags = impl.implementable.copy()
    flags[0, 0, impl.policy[0, 0]] = False
    assert not TW.implementability_evidence(*args, flags, impl.target_implementable).passed
    target = impl.target_implementable.copy()
    target[1, 1] = False
    assert not TW.implementability_evidence(*args, impl.implementable, target).passed
    # a welfare that calls a blocked action optimal: the exact feasibility check refutes it
    real = TW.welfare_dp

    def boosted(model):
        q = real(model).copy()
        U = TW.evaluate_policies(model, impl.policy[None], impl.contract)[0][0]
        qbar = TW.truncated_q(model, U)
        F = [[TW._fractions(row) for row in model.outcome_probs[s]] for s in range(model.n_states)]
        for t in range(model.horizon):
            for s in range(model.n_states):
                for a in range(model.n_actions):
                    if not exact_min_pay(F[s], TW._fractions(-qbar[t, s]), a).feasible:
                        q[t, s, a] = q[t, s].max() + 1.0
                        return q
        raise AssertionError("no blocked action")

    monkeypatch.setattr(TW, "welfare_dp", boosted)
    assert not TW.implementability_evidence(*args).passed


# --------------------------------------------------------------------------- planted bugs in the solver

def test_inflated_transfers_are_caught_by_the_runner(monkeypatch):
    real = implement_policy

    def inflated(model, target, *args, **kwargs):
        impl = real(model, target, *args, **kwargs)
        contract = impl.contract * 1.01
        probs = model.outcome_probs[np.arange(model.n_states)[None, :], impl.policy]
        return dataclasses.replace(impl, contract_policy=ContractPolicy(impl.policy, contract),
                                   expected_payment=np.einsum("tsk,tsk->ts", probs, contract))

    monkeypatch.setattr(TW, "implement_policy", inflated)
    report = run_theorem(all_theorems()["welfare.stepwise_min_pay_minimal"], count=10, seed=1)
    assert not report.passed
    m = pollution_control(horizon=3)
    impl = inflated(m, welfare_optimum(m).policy)
    ev = TW.minimality_evidence(m, impl.policy, impl.contract, impl.expected_payment, global_check=False)
    assert not ev.passed and "MIN-PAY" in ev.detail


def test_a_wrong_optimum_is_caught_by_the_runner(monkeypatch):
    """A DP whose values are 1e-6 too low: below the best policy's welfare."""
    real = welfare_optimum

    def low(model, *args, **kwargs):
        opt = real(model, *args, **kwargs)
        return dataclasses.replace(opt, value=opt.value - EPS)

    monkeypatch.setattr(TW, "welfare_optimum", low)
    report = run_theorem(all_theorems()["welfare.optimum_dominates"], count=3, seed=1)
    assert not report.passed and "W_0" in report.failure


def test_the_drawn_families_have_positive_transfers_often():
    """The minimality check is not checked on zero transfers only: of 40 drawn tiny target cases
    at least a quarter implement a policy with a positive expected total transfer."""
    positive = 0
    for seed in range(40):
        rng = np.random.default_rng(seed)
        m = [random_pollution, random_insurance][seed % 2](rng, n_levels=2, horizon=3)
        impl = implement_policy(m, rng.integers(0, 3, (3, 2)))
        positive += impl.total_transfer > 1e-9
    assert positive >= 10
