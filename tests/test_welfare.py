"""Exact welfare benchmarks (``solvers/welfare.py``) against independent computations: brute-force
enumeration of policies, the toolkit's policy evaluation and best response, scipy's ``linprog``
(per state and one joint LP over all transfers), and simulated trajectories."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from contractlab.learning.simulator import Simulator
from contractlab.solvers.pamdp_policy import agent_best_response, evaluate
from contractlab.solvers.welfare import (Implementation, implement_policy, selfish_play, welfare_benchmarks,
                                         welfare_optimum, zero_transfers)
from contractlab.theory.contract_policy import ContractPolicy
from contractlab.theory.errors import InvalidInstanceError
from contractlab.theory.externality import ExternalityMDP
from contractlab.theory.externality_families import (insurance, pollution_control, random_externality,
                                                     random_insurance, random_pollution)
from contractlab.theory.pamdp_families import random_dag

#: Two exact computations of the same value by different routes agree to this (float64 round-off
#: over <= 10 steps of sums of order-10 numbers).
EXACT_TOL = 1e-9
#: scipy's HiGHS against our MIN-PAY: both solve to ~1e-10 feasibility; payments agree to this.
LP_TOL = 1e-7
#: Monte-Carlo slack: |mean − exact| <= MC_SIGMAS standard errors. For a correct computation a
#: single check fails with probability < 1e-6 (CLT); over the 4 checks below, < 1e-5.
MC_SIGMAS = 5.0

seeds = st.integers(0, 2**32 - 1)


def tiny(seed: int) -> ExternalityMDP:
    """Small enough to enumerate every deterministic time-indexed policy (A^(H S) <= 2^6)."""
    rng = np.random.default_rng(seed)
    return random_externality(rng, n_states=2, n_actions=2, n_outcomes=int(rng.integers(2, 4)),
                              horizon=int(rng.integers(1, 4)), stochastic=bool(rng.integers(2)))


def small(seed: int) -> ExternalityMDP:
    rng = np.random.default_rng(seed)
    kind = int(rng.integers(3))
    if kind == 0:
        return random_pollution(rng, n_levels=4, horizon=4)
    if kind == 1:
        return random_insurance(rng, n_levels=3, horizon=4)
    return random_externality(rng, n_states=3, n_actions=int(rng.integers(2, 4)), n_outcomes=int(rng.integers(2, 4)),
                              horizon=int(rng.integers(1, 5)), stochastic=bool(rng.integers(2)))


def next_values(m: ExternalityMDP, values: np.ndarray) -> np.ndarray:
    """``E[values(s') | s, o]`` from the dense successor matrix (``(S, K)``)."""
    return m.to_pamdp().successor_matrix() @ values


def agent_q_independent(m: ExternalityMDP, agent_next: np.ndarray) -> np.ndarray:
    """``Q̄(s, a) = r(s, a) + γ Σ_o O(s, a, o) E[V_a(s') | s, o]``, computed here from scratch."""
    return m.private_rewards + m.discount * np.einsum("sak,sk->sa", m.outcome_probs, next_values(m, agent_next))


# --- the welfare-optimal policy --------------------------------------------------------------

@settings(max_examples=25)
@given(seeds)
def test_dp_value_is_the_best_over_all_deterministic_policies(seed):
    """W_0(s) = max over all A^(H S) time-indexed policies of their welfare from s (evaluated by
    the toolkit's policy evaluation, with zero transfers), and the DP policy attains it."""
    m = tiny(seed)
    H, S, A = m.horizon, m.n_states, m.n_actions
    zero = zero_transfers(m)
    best = np.full(S, -np.inf)
    for actions in itertools.product(range(A), repeat=H * S):
        welfare = evaluate(m.to_pamdp(), zero, np.array(actions).reshape(H, S)).welfare[0]
        best = np.maximum(best, welfare)
    opt = welfare_optimum(m)
    assert np.allclose(opt.value[0], best, rtol=0, atol=EXACT_TOL)
    attained = evaluate(m.to_pamdp(), zero, opt.policy).welfare
    assert np.allclose(attained, opt.value, rtol=0, atol=EXACT_TOL)


@settings(max_examples=25)
@given(seeds)
def test_welfare_is_at_least_the_selfish_welfare(seed):
    b = welfare_benchmarks(small(seed))
    assert b.optimal_welfare >= b.selfish_welfare - EXACT_TOL
    assert b.gap >= -EXACT_TOL
    assert (b.optimum.value >= b.selfish.welfare_value - EXACT_TOL).all()


@pytest.mark.parametrize("model, selfish_action", [(pollution_control(), 0), (insurance(), 0)])
def test_default_environments_have_a_strict_gap(model, selfish_action):
    """The selfish agent produces without abating / makes no effort, and that loses welfare: the
    gap is more than 5% of |W*| (it is 3.25 of 4.23 in pollution, 0.39 of 2.84 in insurance)."""
    b = welfare_benchmarks(model)
    assert (b.selfish.policy == selfish_action).all()
    assert b.first_best_implementable
    assert b.gap > 0.05 * abs(b.optimal_welfare)
    assert b.benchmark_welfare == pytest.approx(b.optimal_welfare, abs=EXACT_TOL)


# --- the minimal transfers -------------------------------------------------------------------

def check_best_response(m: ExternalityMDP, impl: Implementation, welfare: float) -> None:
    """Against the agent's own DP with the transfers: the implemented action is optimal at every
    (t, s), and the agent's tie-broken response achieves the target welfare."""
    response = agent_best_response(m.to_pamdp(), impl.contract_policy)
    q = response.q
    chosen = np.take_along_axis(q, impl.policy[..., None], axis=2)[..., 0]
    assert (chosen >= q.max(axis=2) - EXACT_TOL).all()
    achieved = evaluate(m.to_pamdp(), impl.contract_policy, response.policy)
    assert achieved.welfare_start == pytest.approx(welfare, abs=EXACT_TOL)
    assert np.allclose(response.agent_value, impl.agent_value, rtol=0, atol=EXACT_TOL)


@settings(max_examples=25)
@given(seeds)
def test_minimal_transfers_make_the_welfare_optimal_policy_a_best_response(seed):
    m = small(seed)
    b = welfare_benchmarks(m)
    # a welfare-optimal action is always implementable (module docstring of solvers/welfare.py)
    assert b.first_best_implementable
    assert np.array_equal(b.implementation.policy, b.optimum.policy)
    check_best_response(m, b.implementation, b.optimal_welfare)


@pytest.mark.parametrize("model", [pollution_control(), insurance()])
def test_default_environments_transfers_implement_the_optimum(model):
    b = welfare_benchmarks(model)
    check_best_response(model, b.implementation, b.optimal_welfare)
    assert b.total_transfer > 0                          # the optimum is not what the agent does alone


@settings(max_examples=20)
@given(seeds)
def test_implementation_values_agree_with_policy_evaluation(seed):
    m = small(seed)
    impl = welfare_benchmarks(m).implementation
    ev = evaluate(m.to_pamdp(), impl.contract_policy, impl.policy)
    for ours, theirs in ((impl.agent_value, ev.agent_value), (impl.principal_value, ev.principal_value),
                         (impl.transfer_value, ev.payment_value), (impl.expected_payment, ev.expected_payment)):
        assert np.allclose(ours, theirs, rtol=0, atol=EXACT_TOL)


def scipy_min_pay(F: np.ndarray, q: np.ndarray, i: int) -> float:
    """min F_i·b s.t. q_i + F_i·b >= q_k + F_k·b for all k, b >= 0 (scipy HiGHS)."""
    others = [k for k in range(len(q)) if k != i]
    res = linprog(F[i], A_ub=F[others] - F[i], b_ub=q[i] - q[others], bounds=(0, None), method="highs")
    assert res.status == 0
    return float(res.fun)


@settings(max_examples=20)
@given(seeds)
def test_each_step_payment_is_the_scipy_min_pay_given_the_continuation(seed):
    m = small(seed)
    impl = welfare_benchmarks(m).implementation
    H, S = m.horizon, m.n_states
    for t in range(H):
        agent_next = impl.agent_value[t + 1] if t + 1 < H else np.zeros(S)
        q = agent_q_independent(m, agent_next)
        assert np.allclose(q, impl.agent_q[t], rtol=0, atol=EXACT_TOL)
        for s in range(S):
            a = int(impl.policy[t, s])
            assert impl.expected_payment[t, s] == pytest.approx(scipy_min_pay(m.outcome_probs[s], q[s], a),
                                                                abs=LP_TOL * (1 + abs(q[s]).max()))


def joint_min_transfers(m: ExternalityMDP, policy: np.ndarray) -> tuple[float, np.ndarray]:
    """One LP over every transfer b[t, s, o] >= 0 and agent value U[t, s]: U follows the policy's
    Bellman equation and the policy's action is optimal at every (t, s); minimise Σ U (the
    agent's value is its private value, fixed by the policy, plus the transfers). Returns the
    optimum and U."""
    H, S, A, K, g = m.horizon, m.n_states, m.n_actions, m.n_outcomes, m.discount
    P = m.to_pamdp().successor_matrix()                          # (S, K, S)
    nb = H * S * K

    def b_index(t, s, o):
        return (t * S + s) * K + o

    def u_index(t, s):
        return nb + t * S + s

    n = nb + H * S
    rows_eq, rhs_eq, rows_ub, rhs_ub = [], [], [], []
    for t in range(H):
        for s in range(S):
            def q_row(a):
                """Coefficients of r(s, a) + Σ_o O (b + γ Σ_s' P U[t+1]) as a row (constant apart)."""
                row = np.zeros(n)
                for o in range(K):
                    row[b_index(t, s, o)] += m.outcome_probs[s, a, o]
                    if t + 1 < H:
                        for s2 in range(S):
                            row[u_index(t + 1, s2)] += g * m.outcome_probs[s, a, o] * P[s, o, s2]
                return row
            pi = int(policy[t, s])
            eq = -q_row(pi)
            eq[u_index(t, s)] += 1.0
            rows_eq.append(eq)
            rhs_eq.append(m.private_rewards[s, pi])
            for a in range(A):
                if a != pi:
                    rows_ub.append(q_row(a) - q_row(pi))            # Q(a) <= Q(pi)
                    rhs_ub.append(m.private_rewards[s, pi] - m.private_rewards[s, a])
    c = np.zeros(n)
    c[nb:] = 1.0
    bounds = [(0, None)] * nb + [(None, None)] * (H * S)
    res = linprog(c, A_ub=np.array(rows_ub) if rows_ub else None, b_ub=np.array(rhs_ub) if rhs_ub else None,
                  A_eq=np.array(rows_eq), b_eq=np.array(rhs_eq), bounds=bounds, method="highs")
    assert res.status == 0
    return float(res.fun), res.x[nb:].reshape(H, S)


@settings(max_examples=15)
@given(seeds)
def test_stepwise_minimal_transfers_are_minimal_among_all_transfer_policies(seed):
    """The proposition in solvers/welfare.py: backward MIN-PAY gives the pointwise smallest agent
    value (so the smallest expected total transfer from every (t, s)) of all limited-liability
    transfer policies that make the policy a best response everywhere."""
    rng = np.random.default_rng(seed)
    m = random_externality(rng, n_states=3, n_actions=int(rng.integers(2, 4)), n_outcomes=2,
                           horizon=int(rng.integers(1, 4)), stochastic=bool(rng.integers(2)))
    impl = welfare_benchmarks(m).implementation
    total, U = joint_min_transfers(m, impl.policy)
    scale = 1 + np.abs(impl.agent_value).max()
    assert total == pytest.approx(impl.agent_value.sum(), abs=LP_TOL * scale * U.size)
    assert np.allclose(U, impl.agent_value, rtol=0, atol=LP_TOL * scale * U.size)


def test_lp_and_vertex_methods_give_the_same_transfers():
    for m in (pollution_control(horizon=4), insurance(horizon=4), random_externality(3, 3, 4, 3, 3)):
        vertex, lp = implement_policy(m, welfare_optimum(m).policy, method="vertex"), \
            implement_policy(m, welfare_optimum(m).policy, method="lp")
        assert vertex.method == "vertex" and lp.method == "lp"
        assert np.allclose(vertex.expected_payment, lp.expected_payment, rtol=0, atol=LP_TOL)
        assert np.allclose(vertex.agent_value, lp.agent_value, rtol=0, atol=LP_TOL)


# --- targets that cannot be implemented ----------------------------------------------------

def twin_actions() -> ExternalityMDP:
    """Actions 0 and 1 have the same outcome distribution, 1 earns the agent less: 1 can never be
    implemented (no transfer on outcomes tells them apart). Action 2 is cleaner and costly."""
    O = np.array([[[0.2, 0.8], [0.2, 0.8], [0.9, 0.1]]] * 2)
    r = np.array([[1.0, 0.4, 0.0]] * 2)
    e = np.array([[0.0, -1.0], [0.0, -2.0]])
    return ExternalityMDP(O, r, e, horizon=3, next_state=[[0, 1], [0, 1]])


def test_a_target_that_is_not_implementable_is_reported_and_replaced_by_the_best_implementable():
    m = twin_actions()
    impl = implement_policy(m, np.ones(m.n_states, dtype=np.int64))
    assert not impl.target_implementable.any() and not impl.all_implementable
    assert not impl.implementable[:, :, 1].any()
    assert np.isinf(impl.min_pay[:, :, 1]).all()
    # the replacement is the welfare-best of the implementable actions {0, 2}, given the continuation
    best = np.where(impl.welfare_q[:, :, 2] > impl.welfare_q[:, :, 0], 2, 0)
    assert np.array_equal(impl.policy, best)
    check_best_response(m, impl, impl.welfare)


def test_a_welfare_optimal_target_is_implementable_even_with_a_twin():
    b = welfare_benchmarks(twin_actions())
    assert b.first_best_implementable and (b.optimum.policy != 1).all()


# --- transfers cancel: welfare on every trajectory --------------------------------------------

@pytest.mark.parametrize("model", [pollution_control(), insurance(), random_externality(5, 3, 3, 2, 6, False)])
def test_principal_plus_agent_utility_is_welfare_on_every_trajectory(model):
    """Any transfers (drawn at random each step), any actions: on each simulated episode, the
    principal's utility (externality − transfers) plus the agent's (private reward + transfers)
    is Σ r(s, a) + e(s, o) read from the model, up to float round-off."""
    rng = np.random.default_rng(0)
    n_envs, p = 64, model.to_pamdp()
    sim = Simulator(p, n_envs=n_envs, seed=1)
    agent = np.zeros(n_envs)
    principal = np.zeros(n_envs)
    welfare = np.zeros(n_envs)
    paid = np.zeros(n_envs)
    episodes = 0
    for _ in range(20 * model.horizon):
        action = rng.integers(0, model.n_actions, n_envs)
        contract = rng.exponential(2.0, (n_envs, model.n_outcomes))
        step = sim.step(action, contract)
        agent += step.agent_reward + step.payment
        principal += step.principal_reward - step.payment
        welfare += model.private_rewards[step.state, step.action] + model.externality[step.state, step.outcome]
        paid += step.payment
        done = step.done
        assert np.allclose(agent[done] + principal[done], welfare[done], rtol=0,
                           atol=1e-12 * (1 + paid[done] + np.abs(welfare[done])))
        episodes += int(done.sum())
        agent[done] = principal[done] = welfare[done] = paid[done] = 0.0
    assert episodes >= 10 * n_envs


@pytest.mark.parametrize("model", [pollution_control(), insurance()])
def test_simulated_welfare_and_transfers_match_the_exact_benchmarks(model):
    """The agent follows π* under the minimal transfers: the mean episode welfare and transfer
    over 20 000 episodes are within MC_SIGMAS standard errors of W* and the exact total transfer."""
    b = welfare_benchmarks(model)
    impl, n_envs = b.implementation, 20_000
    sim = Simulator(model.to_pamdp(), n_envs=n_envs, seed=2)
    welfare = np.zeros(n_envs)
    paid = np.zeros(n_envs)
    for t in range(model.horizon):
        s = sim.state
        step = sim.step(impl.policy[t, s], impl.contract[t, s])
        assert (step.step == t).all()
        welfare += step.agent_reward + step.principal_reward
        paid += step.payment
    for sample, exact in ((welfare, b.optimal_welfare), (paid, b.total_transfer)):
        se = sample.std(ddof=1) / np.sqrt(n_envs)
        assert abs(sample.mean() - exact) <= MC_SIGMAS * se


# --- the selfish policy and the input checks -------------------------------------------------

@settings(max_examples=20)
@given(seeds)
def test_selfish_policy_is_the_agents_best_response_to_no_transfers(seed):
    m = small(seed)
    play = selfish_play(m)
    own = evaluate(m.to_pamdp(), zero_transfers(m), play.policy)
    # the agent's private value is the best it can get: no deviation at any (t, s) helps it
    H, S = m.horizon, m.n_states
    for t in range(H):
        q = agent_q_independent(m, own.agent_value[t + 1] if t + 1 < H else np.zeros(S))
        assert (own.agent_value[t] >= q.max(axis=1) - EXACT_TOL).all()
    assert np.allclose(play.welfare_value, own.welfare, rtol=0, atol=EXACT_TOL)
    # ties broken in the others' favour (the default) never give less welfare than adversarially
    assert selfish_play(m, tie_break="adversarial").welfare <= play.welfare + EXACT_TOL


def test_stationary_target_is_repeated_over_the_steps():
    m = pollution_control(horizon=3)
    target = np.array([1, 1, 2, 2, 2])
    a = implement_policy(m, target)
    b = implement_policy(m, np.tile(target, (3, 1)))
    assert np.array_equal(a.policy, b.policy) and np.array_equal(a.contract, b.contract)


@pytest.mark.parametrize("call, field", [
    (lambda: implement_policy(pollution_control(), np.zeros(4, dtype=np.int64)), "target_policy"),
    (lambda: implement_policy(pollution_control(), np.full(5, 3)), "target_policy"),
    (lambda: implement_policy(pollution_control(), [[0.5] * 5] * 8), "target_policy"),
    (lambda: welfare_optimum(random_dag(4)), "horizon"),
    (lambda: welfare_optimum("pollution"), "model"),
    (lambda: welfare_optimum(pollution_control(), tie_tol=-1.0), "tie_tol"),
    (lambda: selfish_play(insurance(), tie_break="random"), "tie_break"),
])
def test_bad_arguments_are_refused_naming_the_field(call, field):
    with pytest.raises(InvalidInstanceError) as info:
        call()
    assert info.value.field == field


def test_a_principal_agent_mdp_with_a_horizon_is_accepted_as_it_is():
    m = insurance(horizon=3)
    direct, via = welfare_benchmarks(m), welfare_benchmarks(m.to_pamdp())
    assert direct.summary() == via.summary()
    assert isinstance(via.implementation.contract_policy, ContractPolicy)
