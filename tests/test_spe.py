"""Subgame-perfect equilibria of principal-agent MDPs (arXiv 2407.18074, Section 3).

(a) the vertex and LP methods agree; (b) an independent per-state ``scipy.optimize.linprog``
backward induction agrees on tiny trees; (c) the SPE conditions hold at every state;
(d) hand-computed examples; (e) horizon semantics; plus bad input.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from contractlab import ContractProblem, InvalidInstanceError, optimal_contract
from contractlab.theory import PrincipalAgentMDP
from contractlab.solvers.spe import TIE_TOL, continuation, solve_spe, spe_backup
from contractlab.theory.pamdp_families import (binary_game_tree, contractual_rl, random_dag, random_discounted,
                                               random_tree)

REL = 1e-9      # agreement of values between two exact methods, relative to max(1, |v|)
IC_TOL = 1e-9   # IC / optimality slack allowed, relative to max(1, |value|)
GAP = 1e-7      # actions are compared only where the best action beats the runner-up by this much


def close(a, b, rel=REL):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return np.all(np.abs(a - b) <= rel * np.maximum(1.0, np.maximum(np.abs(a), np.abs(b))))


def stochastic_dag(n_states: int, n_actions: int, n_outcomes: int, seed: int, discount: float = 1.0):
    """An acyclic instance with dense stochastic transitions onto later states (some outcomes end)."""
    rng = np.random.default_rng(seed)
    S, A, K = n_states, n_actions, n_outcomes
    O = rng.dirichlet(np.ones(K), size=(S, A))
    T = rng.uniform(size=(S, K, S)) * (np.arange(S)[None, None, :] > np.arange(S)[:, None, None])
    T *= rng.uniform(size=(S, K, 1)) < 0.8                           # some outcomes end the episode
    sums = T.sum(axis=2, keepdims=True)
    T = np.divide(T, sums, out=np.zeros_like(T), where=sums > 0)
    r = -rng.uniform(size=(S, A))
    r[:, 0] = 0.0
    return PrincipalAgentMDP(O, r, rng.uniform(size=(S, K)), transitions=T, discount=discount)


def with_horizon(m: PrincipalAgentMDP, H: int, discount=None) -> PrincipalAgentMDP:
    return PrincipalAgentMDP(m.outcome_probs, m.agent_rewards, m.principal_rewards, next_state=m.next_state,
                             transitions=m.transitions, discount=m.discount if discount is None else discount,
                             horizon=H, initial_state=m.initial_state)


@st.composite
def instances(draw):
    """Small instances of every kind solve_spe handles."""
    kind = draw(st.sampled_from(["tree", "dag", "stochastic_dag", "cyclic_horizon", "contractual_horizon",
                                 "tree_horizon"]))
    seed = draw(st.integers(0, 2**31 - 1))
    A, K = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    if kind == "tree":
        return random_tree(draw(st.integers(1, 3)), A, K, seed=seed)
    if kind == "dag":
        return random_dag(draw(st.integers(1, 12)), A, K, seed=seed)
    if kind == "stochastic_dag":
        return stochastic_dag(draw(st.integers(1, 8)), A, K, seed, draw(st.sampled_from([1.0, 0.8])))
    H = draw(st.integers(1, 4))
    if kind == "cyclic_horizon":
        m = random_discounted(draw(st.integers(1, 6)), A, K, discount=0.9, seed=seed)
        return with_horizon(m, H, draw(st.sampled_from([1.0, 0.9])))
    if kind == "contractual_horizon":
        return with_horizon(contractual_rl(draw(st.integers(1, 4)), A, discount=0.7, seed=seed), H)
    return with_horizon(random_tree(draw(st.integers(1, 3)), A, K, seed=seed), H)


def decisive(principal_q: np.ndarray) -> np.ndarray:
    """States (or steps × states) whose best action beats every other by more than ``GAP``."""
    q = np.sort(np.where(np.isfinite(principal_q), principal_q, -1e300), axis=-1)
    if q.shape[-1] == 1:
        return np.ones(q.shape[:-1], dtype=bool)
    return q[..., -1] - q[..., -2] > GAP


# --------------------------------------------------------------------------- (a) vertex vs LP

@settings(max_examples=30)
@given(instances())
def test_vertex_and_lp_methods_agree(mdp):
    v = solve_spe(mdp, method="vertex")
    lp = solve_spe(mdp, method="lp")
    assert (v.method, lp.method) == ("vertex", "lp")
    for name in ("principal_value", "agent_value", "expected_payment", "agent_q"):
        assert close(getattr(v, name), getattr(lp, name)), name
    np.testing.assert_array_equal(v.implementable, lp.implementable)
    ok = v.implementable
    assert close(v.principal_q[ok], lp.principal_q[ok])
    assert np.all(np.isneginf(v.principal_q[~ok])) and np.all(np.isneginf(lp.principal_q[~ok]))
    sure = decisive(v.principal_q)
    np.testing.assert_array_equal(v.policy.action[sure], lp.policy.action[sure])
    assert close(v.principal_value_initial, lp.principal_value_initial)
    assert close(v.agent_value_initial, lp.agent_value_initial)


# --------------------------------------------------------------------------- (b) brute force

def brute_force_tree(mdp: PrincipalAgentMDP):
    """SPE of a tree in breadth-first order (children after parents), written independently:
    states in decreasing index, one ``scipy.optimize.linprog`` MIN-PAY per (state, action)."""
    S, A, K = mdp.n_states, mdp.n_actions, mdp.n_outcomes
    O, r, rp, ns, g = mdp.outcome_probs, mdp.agent_rewards, mdp.principal_rewards, mdp.next_state, mdp.discount
    Vp, Va, act = np.zeros(S), np.zeros(S), np.zeros(S, dtype=int)
    for s in range(S - 1, -1, -1):
        cont_p = np.array([Vp[n] if n >= 0 else 0.0 for n in ns[s]])
        cont_a = np.array([Va[n] if n >= 0 else 0.0 for n in ns[s]])
        qbar = np.array([r[s, a] + g * O[s, a] @ cont_a for a in range(A)])
        values, pays = [], []
        for a in range(A):
            others = [k for k in range(A) if k != a]
            if others:
                # Q̄(a) + O_a·t >= Q̄(k) + O_k·t   <=>   (O_k − O_a)·t <= Q̄(a) − Q̄(k)
                res = linprog(O[s, a], A_ub=O[s, others] - O[s, a], b_ub=qbar[a] - qbar[others],
                              bounds=[(0, None)] * K, method="highs")
                assert res.status in (0, 2)
                pay = res.fun if res.status == 0 else np.inf
            else:
                pay = 0.0
            pays.append(pay)
            values.append(O[s, a] @ (rp[s] + g * cont_p) - pay if np.isfinite(pay) else -np.inf)
        best = max(values)
        a = next(a for a in range(A) if values[a] >= best - TIE_TOL * max(1.0, abs(best)))
        act[s], Vp[s], Va[s] = a, values[a], qbar[a] + pays[a]
    return Vp, Va, act


@settings(max_examples=20)
@given(depth=st.integers(1, 3), A=st.integers(1, 3), K=st.integers(1, 3), seed=st.integers(0, 2**31 - 1))
def test_matches_independent_linprog_backward_induction(depth, A, K, seed):
    mdp = random_tree(depth, A, K, seed=seed)
    Vp, Va, act = brute_force_tree(mdp)
    res = solve_spe(mdp)
    assert close(res.principal_value, Vp) and close(res.agent_value, Va)
    sure = decisive(res.principal_q)
    np.testing.assert_array_equal(res.policy.action[sure], act[sure])


def test_matches_brute_force_on_a_binary_game_tree():
    mdp = binary_game_tree(4, seed=3)                         # App. D.1 family, 15 states
    Vp, Va, act = brute_force_tree(mdp)
    res = solve_spe(mdp)
    assert close(res.principal_value, Vp) and close(res.agent_value, Va)
    np.testing.assert_array_equal(res.policy.action, act)


# --------------------------------------------------------------------------- (c) SPE conditions

def check_spe_at(mdp, step_res, vp_next, va_next, states):
    """At every state: Q̄ matches the continuation; the principal's choice is optimal among all
    actions with their min-pay contracts (one-shot ``optimal_contract`` with costs −Q̄ and rewards
    r_p + γ V_p(next)); the recommended action is a best response of the agent to the contract."""
    action, contract, payment, vp, va, qbar = step_res
    g = mdp.discount
    cp = continuation(mdp, states, vp_next)
    ca = continuation(mdp, states, va_next)
    for i, s in enumerate(states):
        O = mdp.outcome_probs[s]
        expect_qbar = mdp.agent_rewards[s] + g * O @ ca[i]
        assert close(qbar[i], expect_qbar)
        problem = ContractProblem(O, -qbar[i], mdp.principal_rewards[s] + g * cp[i])
        opt = optimal_contract(problem)
        scale = max(1.0, abs(opt.principal_utility))
        assert abs(vp[i] - opt.principal_utility) <= IC_TOL * scale       # no action gives the principal more
        a = action[i]
        assert contract[i].min() >= 0.0
        assert abs(payment[i] - O[a] @ contract[i]) <= 1e-12 * max(1.0, payment[i])
        utility = qbar[i] + O @ contract[i]                                # agent: Q̄ + expected payment
        assert utility[a] >= utility.max() - IC_TOL * max(1.0, abs(utility.max()))
        assert abs(va[i] - utility[a]) <= 1e-12 * max(1.0, abs(va[i]))
        assert abs(vp[i] - (O[a] @ (mdp.principal_rewards[s] + g * cp[i]) - payment[i])) <= 1e-12 * scale


@settings(max_examples=15)
@given(instances())
def test_spe_conditions_hold_at_every_state(mdp):
    res = solve_spe(mdp)
    S = mdp.n_states
    if res.time_indexed:
        H = mdp.horizon
        for t in range(H):
            nxt_p = res.principal_value[t + 1] if t + 1 < H else np.zeros(S)
            nxt_a = res.agent_value[t + 1] if t + 1 < H else np.zeros(S)
            check_spe_at(mdp, (res.policy.action[t], res.policy.contract[t], res.expected_payment[t],
                               res.principal_value[t], res.agent_value[t], res.agent_q[t]), nxt_p, nxt_a,
                         np.arange(S))
    else:
        check_spe_at(mdp, (res.policy.action, res.policy.contract, res.expected_payment, res.principal_value,
                           res.agent_value, res.agent_q), res.principal_value, res.agent_value, np.arange(S))


@settings(max_examples=10)
@given(seed=st.integers(0, 2**31 - 1), A=st.integers(1, 3), K=st.integers(1, 3))
def test_backup_is_independent_of_where_continuations_come_from(seed, A, K):
    """spe_backup with arbitrary continuation values (stochastic transitions: E[V] = T @ V)."""
    mdp = random_discounted(5, A, K, discount=0.8, seed=seed)
    rng = np.random.default_rng(seed)
    vp, va = rng.normal(size=5), rng.normal(size=5)
    states = np.array([4, 0, 2, 2])
    out = spe_backup(mdp, states, vp, va)
    np.testing.assert_allclose(continuation(mdp, states, vp), mdp.transitions[states] @ vp, rtol=1e-14)
    check_spe_at(mdp, (out.action, out.contract, out.expected_payment, out.principal_value, out.agent_value,
                       out.agent_q), vp, va, states)
    assert out.agent_q.shape == (4, A) and out.principal_q.shape == (4, A) and out.contract.shape == (4, K)


# --------------------------------------------------------------------------- (d) hand-computed

def one_state():
    return PrincipalAgentMDP([[[0.75, 0.25], [0.25, 0.75]]], [[0.0, -1.0]], [[0.0, 4.0]],
                             next_state=[[-1, -1]], discount=1.0)


def test_one_state_by_hand():
    # MIN-PAY of effort: pay (1 − 0)/(0.75 − 0.25) = 2 on outcome 1, expected 1.5.
    # Principal: shirk 0.25·4 = 1; effort 0.75·4 − 1.5 = 1.5 -> effort. Agent: −1 + 1.5 = 0.5.
    res = solve_spe(one_state())
    assert res.policy.action.tolist() == [1]
    np.testing.assert_allclose(res.policy.contract, [[0.0, 2.0]], atol=1e-15)
    np.testing.assert_allclose(res.principal_q, [[1.0, 1.5]], atol=1e-15)
    np.testing.assert_allclose(res.agent_q, [[0.0, -1.0]], atol=1e-15)
    assert res.principal_value_initial == pytest.approx(1.5, abs=1e-15)
    assert res.agent_value_initial == pytest.approx(0.5, abs=1e-15)
    assert res.expected_payment.tolist() == pytest.approx([1.5], abs=1e-15)


def test_two_levels_by_hand():
    # leaves: state 1 is the one-state example (V_p = 1.5, V_a = 0.5); in state 2 both actions
    # give the same outcomes, the second costs 0.2 more: not implementable; V_p = 1, V_a = 0.
    # root (γ = 0.9): outcome 0 -> state 1, outcome 1 -> state 2.
    #   Q̄(0, a0) = 0.9 (0.8·0.5) = 0.36,   Q̄(0, a1) = −0.3 + 0.9 (0.2·0.5) = −0.21
    #   gross a0 = 0.2·2 + 0.9 (0.8·1.5 + 0.2·1) = 1.66,   gross a1 = 0.8·2 + 0.9 (0.2·1.5 + 0.8·1) = 2.59
    #   MINPAY(a1): pay 0.57 / 0.6 = 0.95 on outcome 1, expected 0.76 -> Q_p = (1.66, 1.83) -> a1
    #   V_a = −0.21 + 0.76 = 0.55 (and the agent is indifferent: a0 also gets 0.36 + 0.2·0.95 = 0.55)
    mdp = PrincipalAgentMDP(
        outcome_probs=[[[0.8, 0.2], [0.2, 0.8]], [[0.75, 0.25], [0.25, 0.75]], [[0.5, 0.5], [0.5, 0.5]]],
        agent_rewards=[[0.0, -0.3], [0.0, -1.0], [0.0, -0.2]],
        principal_rewards=[[0.0, 2.0], [0.0, 4.0], [1.0, 1.0]],
        next_state=[[1, 2], [-1, -1], [-1, -1]], discount=0.9)
    for method in ("vertex", "lp"):
        res = solve_spe(mdp, method=method)
        assert res.policy.action.tolist() == [1, 1, 0]
        np.testing.assert_allclose(res.policy.contract, [[0.0, 0.95], [0.0, 2.0], [0.0, 0.0]], atol=1e-12)
        np.testing.assert_allclose(res.principal_value, [1.83, 1.5, 1.0], atol=1e-12)
        np.testing.assert_allclose(res.agent_value, [0.55, 0.5, 0.0], atol=1e-12)
        np.testing.assert_allclose(res.agent_q[0], [0.36, -0.21], atol=1e-12)
        np.testing.assert_allclose(res.principal_q[0], [1.66, 1.83], atol=1e-12)
        np.testing.assert_array_equal(res.implementable, [[True, True], [True, True], [True, False]])
        assert np.isneginf(res.principal_q[2, 1]) and np.isinf(res.min_pay[2, 1])
        assert res.principal_value_initial == pytest.approx(1.83, abs=1e-12)


def test_stochastic_transitions_equal_their_deterministic_twin():
    m = random_tree(3, 3, 2, seed=5)
    twin = PrincipalAgentMDP(m.outcome_probs, m.agent_rewards, m.principal_rewards,
                             transitions=m.successor_matrix(), discount=1.0)
    a, b = solve_spe(m), solve_spe(twin)
    np.testing.assert_allclose(a.principal_value, b.principal_value, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(a.agent_value, b.agent_value, rtol=1e-13, atol=1e-13)
    np.testing.assert_array_equal(a.policy.action, b.policy.action)


# --------------------------------------------------------------------------- (e) horizon semantics

@settings(max_examples=10)
@given(seed=st.integers(0, 2**31 - 1), S=st.integers(1, 4), A=st.integers(1, 3), K=st.integers(1, 3))
def test_horizon_one_is_the_one_shot_contract_problem(seed, S, A, K):
    mdp = with_horizon(random_discounted(S, A, K, discount=0.9, seed=seed), 1)     # cyclic graph
    res = solve_spe(mdp)
    assert res.time_indexed and res.policy.action.shape == (1, S) and res.policy.contract.shape == (1, S, K)
    for s in range(S):
        opt = optimal_contract(ContractProblem(mdp.outcome_probs[s], -mdp.agent_rewards[s],
                                               mdp.principal_rewards[s]))
        assert abs(res.principal_value[0, s] - opt.principal_utility) <= REL * max(1.0, abs(opt.principal_utility))
        assert abs(res.expected_payment[0, s] - opt.expected_payment) <= REL * max(1.0, opt.expected_payment)
        if decisive(res.principal_q[0, s]):
            assert res.policy.action[0, s] == opt.action


def test_horizon_steps_and_stationary_limit():
    base = random_discounted(4, 2, 3, discount=0.9, seed=1)
    long = solve_spe(with_horizon(base, 5))
    short = solve_spe(with_horizon(base, 2))
    # the last steps of a long horizon are the short horizon (same number of steps to go)
    np.testing.assert_allclose(long.principal_value[3:], short.principal_value, rtol=1e-13)
    np.testing.assert_allclose(long.agent_value[3:], short.agent_value, rtol=1e-13)
    assert long.principal_value_initial == long.principal_value[0, base.initial_state]
    # on a tree, a horizon at least the depth changes nothing
    tree = random_tree(3, 2, 3, seed=2)
    stationary = solve_spe(tree)
    timed = solve_spe(with_horizon(tree, 4))
    np.testing.assert_allclose(timed.principal_value[0], stationary.principal_value, rtol=1e-13)
    np.testing.assert_allclose(timed.agent_value[0], stationary.agent_value, rtol=1e-13)
    np.testing.assert_array_equal(timed.policy.action[0], stationary.policy.action)
    # a horizon of 2 on the same tree cuts it after two steps: the last step is a one-shot
    # problem at every state, the first one backs up from it
    cut = solve_spe(with_horizon(tree, 2))
    S = tree.n_states
    last = spe_backup(tree, np.arange(S), np.zeros(S), np.zeros(S))
    first = spe_backup(tree, np.arange(S), last.principal_value, last.agent_value)
    np.testing.assert_array_equal(cut.principal_value, [first.principal_value, last.principal_value])
    np.testing.assert_array_equal(cut.agent_value, [first.agent_value, last.agent_value])
    np.testing.assert_array_equal(cut.policy.contract, [first.contract, last.contract])
    assert not np.isclose(cut.principal_value[0, 0], stationary.principal_value[0])


# --------------------------------------------------------------------------- results and errors

def test_result_is_read_only_and_carries_its_method():
    res = solve_spe(random_tree(2, 2, 2, seed=0))
    assert res.method == "vertex" and res.backend == "highs"
    for arr in (res.expected_payment, res.principal_value, res.agent_value, res.agent_q, res.principal_q,
                res.implementable, res.min_pay):
        assert not arr.flags.writeable
    with pytest.raises(ValueError):
        res.principal_value[0] = 1.0


def test_cyclic_discounted_without_horizon_is_refused():
    with pytest.raises(InvalidInstanceError) as err:
        solve_spe(random_discounted(3, 2, 2, discount=0.9, seed=0))
    assert err.value.field == "horizon" and "discounted solver" in str(err.value)


@pytest.mark.parametrize("kwargs, field", [
    (dict(method="simplex"), "method"),
    (dict(backend="gurobi"), "backend"),
    (dict(tie_tol=-1.0), "tie_tol"),
])
def test_bad_options_are_refused(kwargs, field):
    with pytest.raises(InvalidInstanceError) as err:
        solve_spe(one_state(), **kwargs)
    assert err.value.field == field


@pytest.mark.parametrize("states, vp, field", [
    (np.array([1]), np.zeros(1), "states"),
    (np.array([0.0]), np.zeros(1), "states"),
    (np.array([0]), np.zeros(2), "principal_next"),
    (np.array([0]), np.array([np.inf]), "principal_next"),
])
def test_backup_refuses_bad_input(states, vp, field):
    with pytest.raises(InvalidInstanceError) as err:
        spe_backup(one_state(), states, vp, np.zeros(1))
    assert err.value.field == field


# --------------------------------------------------------------------------- chunked two-action kernel

FIELDS = ("action", "contract", "expected_payment", "principal_value", "agent_value", "agent_q", "principal_q",
          "implementable", "min_pay")


def tables_of(res) -> dict:
    out = {name: getattr(res, name) for name in FIELDS if name not in ("action", "contract")}
    out.update(action=res.policy.action, contract=res.policy.contract)
    return out


def assert_same_bits(a: dict, b: dict) -> None:
    """Equal arrays, dtype, NaN and the sign of zeros included."""
    for name in a:
        assert a[name].dtype == b[name].dtype and a[name].shape == b[name].shape, name
        assert a[name].tobytes() == b[name].tobytes(), name


def degenerate_two_by_two(seed: int, S: int = 60, discount: float = 1.0) -> PrincipalAgentMDP:
    """Two actions and two outcomes with equal rows, point masses, zero rewards (also −0.0), ties
    and episode ends anywhere (``−1`` among the successors of every level)."""
    rng = np.random.default_rng(seed)
    O = rng.dirichlet(np.ones(2), size=(S, 2))
    O[::3, 1] = O[::3, 0]
    O[1::7] = [[1.0, 0.0], [0.0, 1.0]]
    O[2::11, :] = [0.0, 1.0]
    r = -rng.uniform(size=(S, 2))
    r[:, 0] = 0.0
    r[5::13, 1] = 0.0
    r[6::17] = -0.0
    rp = rng.uniform(size=(S, 2))
    rp[::19] = 0.0
    later = np.minimum(np.arange(S)[:, None] + 1 + rng.integers(0, 6, (S, 2)), S - 1)
    ns = np.where(rng.uniform(size=(S, 2)) < 0.3, -1, later)
    ns[-1] = -1
    return PrincipalAgentMDP(O, r, rp, next_state=ns, discount=discount)


def two_action_cases():
    return {"binary tree": binary_game_tree(7, seed=2), "tree 2x2": random_tree(5, 2, 2, seed=3),
            "tree 2x3": random_tree(4, 2, 3, seed=4), "dag 2x2 (levels not ranges)": random_dag(300, 2, 2, seed=5),
            "degenerate": degenerate_two_by_two(6), "degenerate, discounted": degenerate_two_by_two(7, discount=0.9),
            "tree with a horizon": with_horizon(random_tree(4, 2, 2, seed=8), 3),
            "cyclic with a horizon": with_horizon(contractual_rl(2, 2, discount=0.7, seed=9), 4)}


@pytest.mark.parametrize("name", sorted(two_action_cases()))
def test_two_action_kernel_gives_the_bits_of_the_general_backup(name, monkeypatch):
    """The chunked backups (any chunk size) and the two-by-two kernel give exactly what one
    general batched backup per level (argmax, fancy indexing, ``min_pay_all_actions``) gives."""
    import contractlab.solvers.spe as spe
    mdp = two_action_cases()[name]
    fast = tables_of(solve_spe(mdp))
    for chunk in (1, 3, 64):
        monkeypatch.setattr(spe, "CHUNK_STATES", chunk)
        assert_same_bits(tables_of(solve_spe(mdp)), fast)
    monkeypatch.setattr(spe, "_chunked", lambda mdp, method: False)
    general = tables_of(solve_spe(mdp))
    assert_same_bits(general, fast)


@settings(max_examples=20)
@given(seed=st.integers(0, 2**31 - 1), discount=st.sampled_from([1.0, 0.9]))
def test_two_by_two_kernel_matches_the_general_backup_on_random_states(seed, discount):
    """``spe_backup`` at arbitrary states (repeats, any order) with arbitrary continuation values,
    including values of both signs at the last state (read, times 0, for ending outcomes)."""
    import contractlab.solvers.spe as spe
    mdp = degenerate_two_by_two(seed % 1000, S=40, discount=discount)
    rng = np.random.default_rng(seed)
    states = rng.integers(0, 40, size=25)
    vp, va = rng.normal(size=40), rng.normal(size=40)
    vp[rng.uniform(size=40) < 0.2] = 0.0
    fast = spe_backup(mdp, states, vp, va)
    general = spe._Tables((25,), 2, 2)
    general.store((slice(None),), spe._backup(mdp, states, vp, va, "vertex", "highs", TIE_TOL))
    assert_same_bits({name: getattr(fast, name) for name in FIELDS}, general.views((slice(None),)))


def test_backup_arrays_are_read_only():
    out = spe_backup(one_state(), np.array([0, 0]), np.zeros(1), np.zeros(1))
    for name in FIELDS + ("states",):
        assert not getattr(out, name).flags.writeable, name
