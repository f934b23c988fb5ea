"""Exact policy evaluation and the agent's best response in principal-agent MDPs
(arXiv 2407.18074, Section 3): against a naive recursion, Monte-Carlo rollouts, value
iteration, brute-force enumeration of agent policies, hand-made tie cases and bad input."""

from __future__ import annotations

import functools
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contractlab.solvers.pamdp_policy import (TIE_TOL, AgentResponse, PolicyEvaluation, agent_best_response,
                                              evaluate)
from contractlab.theory.contract_policy import ContractPolicy
from contractlab.theory.errors import InvalidInstanceError
from contractlab.theory.pamdp import PrincipalAgentMDP
from contractlab.theory.pamdp_families import (binary_game_tree, contractual_rl, random_dag, random_discounted,
                                               random_tree)

#: Exact computations of the same quantity by different routes agree to this (float64 round-off).
EXACT_TOL = 1e-9
#: Monte-Carlo slack: |mean − exact| <= MC_SIGMAS standard errors (per seed: P(fail) < 1e-6 for a
#: correct evaluator by the CLT; a bias above ~5 SE ≈ 0.05 here is caught).
MC_SIGMAS = 5.0
MC_EPISODES = 4000
MC_SEEDS = 30


# --- instances --------------------------------------------------------------------------

def replace(m: PrincipalAgentMDP, **kw) -> PrincipalAgentMDP:
    data = dict(outcome_probs=m.outcome_probs, agent_rewards=m.agent_rewards, principal_rewards=m.principal_rewards,
                next_state=m.next_state, transitions=m.transitions, discount=m.discount, horizon=m.horizon,
                initial_state=m.initial_state)
    data.update(kw)
    return PrincipalAgentMDP(**data)


def stochastic_dag(n_states: int, n_actions: int, n_outcomes: int, seed: int, discount: float = 1.0):
    """Acyclic PA-MDP with stochastic transitions: (s, o) -> a distribution over later states, or the end."""
    rng = np.random.default_rng(seed)
    S, A, K = n_states, n_actions, n_outcomes
    T = np.zeros((S, K, S))
    for s in range(S - 1):
        for k in range(K):
            if rng.uniform() < 0.75:
                T[s, k, s + 1:] = rng.dirichlet(np.ones(S - 1 - s))
    return PrincipalAgentMDP(rng.dirichlet(np.ones(K), size=(S, A)), -rng.uniform(0, 1, (S, A)),
                             rng.uniform(0, 1, (S, K)), transitions=T, discount=discount)


def build(kind: str, seed: int) -> PrincipalAgentMDP:
    """A small instance of each computation path (levels / horizon / linear solve)."""
    rng = np.random.default_rng(seed)
    if kind == "binary_tree":
        return binary_game_tree(int(rng.integers(1, 4)), seed=seed)
    if kind == "random_tree":
        return random_tree(int(rng.integers(1, 4)), int(rng.integers(1, 4)), int(rng.integers(1, 4)), seed=seed)
    if kind == "random_dag_discounted":
        return replace(random_dag(int(rng.integers(1, 9)), 3, 2, seed=seed), discount=0.8)
    if kind == "stochastic_dag":
        return stochastic_dag(int(rng.integers(1, 7)), 2, 3, seed)
    if kind == "horizon_cyclic":          # deterministic cycles cut by a horizon, γ = 1
        return replace(contractual_rl(int(rng.integers(1, 5)), 2, seed=seed), discount=1.0,
                       horizon=int(rng.integers(1, 5)))
    if kind == "horizon_stochastic":
        return replace(random_discounted(int(rng.integers(1, 5)), 2, 2, seed=seed), discount=0.95,
                       horizon=int(rng.integers(1, 5)))
    if kind == "discounted_sparse":       # cyclic, deterministic next_state: the sparse solve
        return contractual_rl(int(rng.integers(1, 7)), 3, discount=0.8, seed=seed)
    if kind == "discounted_dense":        # cyclic, stochastic transitions: the dense solve
        return random_discounted(int(rng.integers(1, 7)), 2, 3, discount=0.8, seed=seed)
    raise AssertionError(kind)


EXACT_KINDS = ["binary_tree", "random_tree", "random_dag_discounted", "stochastic_dag", "horizon_cyclic",
               "horizon_stochastic"]
CYCLIC_KINDS = ["discounted_sparse", "discounted_dense"]
ALL_KINDS = EXACT_KINDS + CYCLIC_KINDS


def random_policies(m: PrincipalAgentMDP, rng: np.random.Generator, time_indexed: bool = False):
    S, A, K = m.n_states, m.n_actions, m.n_outcomes
    lead = (m.horizon, S) if time_indexed else (S,)
    pay = rng.uniform(0, 2, lead + (K,)) * (rng.uniform(size=lead + (K,)) < 0.7)
    cp = ContractPolicy(rng.integers(0, A, lead), pay)
    agent_shape = (m.horizon, S) if m.horizon is not None and rng.uniform() < 0.5 else (S,)
    return cp, rng.integers(0, A, agent_shape)


def instances(kinds=ALL_KINDS):
    return st.tuples(st.sampled_from(kinds), st.integers(0, 10_000), st.booleans())


def draw(kind, seed, time_indexed):
    m = build(kind, seed)
    rng = np.random.default_rng(seed + 1)
    cp, pol = random_policies(m, rng, time_indexed and m.horizon is not None)
    return m, cp, pol


# --- reference implementations -------------------------------------------------------------

def naive_values(m: PrincipalAgentMDP, cp: ContractPolicy, pol: np.ndarray):
    """Plain recursion over (step, state), straight from the Bellman equations of Section 3."""
    H, g = m.horizon, m.discount

    @functools.lru_cache(maxsize=None)
    def value(t: int, s: int) -> tuple[float, float]:
        if H is not None and t >= H:
            return 0.0, 0.0
        a = int(pol[t, s] if pol.ndim == 2 else pol[s])
        b = cp.at_step(t)[1][s]
        tt = t + 1 if H is not None else 0
        vp, va = 0.0, float(m.agent_rewards[s, a])
        for o in range(m.n_outcomes):
            p = float(m.outcome_probs[s, a, o])
            cont_p = cont_a = 0.0
            if m.deterministic:
                if m.next_state[s, o] >= 0:
                    cont_p, cont_a = value(tt, int(m.next_state[s, o]))
            else:
                for s2 in range(m.n_states):
                    q = float(m.transitions[s, o, s2])
                    if q > 0:
                        np_, na_ = value(tt, s2)
                        cont_p += q * np_
                        cont_a += q * na_
            vp += p * (m.principal_rewards[s, o] - b[o] + g * cont_p)
            va += p * (b[o] + g * cont_a)
        return vp, va

    steps = range(H) if H is not None else [0]
    vals = np.array([[value(t, s) for s in range(m.n_states)] for t in steps])
    return (vals[..., 0], vals[..., 1]) if H is not None else (vals[0, :, 0], vals[0, :, 1])


def iterate_policy_values(m: PrincipalAgentMDP, cp: ContractPolicy, pol: np.ndarray, sweeps: int):
    """Policy evaluation by fixed-point iteration V <- r_π + γ P_π V (dense, independent of the solver)."""
    S = m.n_states
    P = m.successor_matrix()
    probs = m.outcome_probs[np.arange(S), pol]
    b = cp.contract
    Pp = np.einsum("sk,skt->st", probs, P)
    rp = np.einsum("sk,sk->s", probs, m.principal_rewards - b)
    ra = m.agent_rewards[np.arange(S), pol] + np.einsum("sk,sk->s", probs, b)
    vp, va = np.zeros(S), np.zeros(S)
    for _ in range(sweeps):
        vp, va = rp + m.discount * Pp @ vp, ra + m.discount * Pp @ va
    return vp, va


def rollouts(m: PrincipalAgentMDP, cp: ContractPolicy, pol: np.ndarray, n: int, rng, max_steps: int):
    """Discounted returns of ``n`` episodes from the initial state (vectorised over episodes)."""
    s = np.full(n, m.initial_state)
    alive = np.ones(n, dtype=bool)
    disc = np.ones(n)
    gp, ga = np.zeros(n), np.zeros(n)
    steps = max_steps if m.horizon is None else m.horizon
    for t in range(steps):
        idx = np.flatnonzero(alive)
        if idx.size == 0:
            break
        st_ = s[idx]
        a = pol[t, st_] if pol.ndim == 2 else pol[st_]
        b = cp.at_step(t)[1][st_]
        cdf = np.cumsum(m.outcome_probs[st_, a], axis=1)
        o = np.minimum((rng.uniform(size=(idx.size, 1)) > cdf).sum(axis=1), m.n_outcomes - 1)
        pay = b[np.arange(idx.size), o]
        gp[idx] += disc[idx] * (m.principal_rewards[st_, o] - pay)
        ga[idx] += disc[idx] * (m.agent_rewards[st_, a] + pay)
        if m.deterministic:
            nxt = m.next_state[st_, o]
        else:
            row = m.transitions[st_, o]
            cdf = np.cumsum(row, axis=1)
            ends = row.sum(axis=1) == 0
            nxt = np.minimum((rng.uniform(size=(idx.size, 1)) > cdf / np.where(ends, 1, cdf[:, -1])[:, None])
                             .sum(axis=1), m.n_states - 1)
            nxt = np.where(ends, -1, nxt)
        alive[idx] = nxt >= 0
        s[idx] = np.maximum(nxt, 0)
        disc[idx] *= m.discount
    return gp, ga


def all_agent_policies(m: PrincipalAgentMDP):
    shape = (m.horizon, m.n_states) if m.horizon is not None else (m.n_states,)
    for flat in itertools.product(range(m.n_actions), repeat=int(np.prod(shape))):
        yield np.array(flat, dtype=np.int64).reshape(shape)


def brute_force(m: PrincipalAgentMDP, cp: ContractPolicy, tie_tol: float = 1e-7):
    """All deterministic agent policies: the agent's optimal values, and the best and worst
    principal values over the policies that are agent-optimal at every state (and step)."""
    evals = [evaluate(m, cp, pol) for pol in all_agent_policies(m)]
    va = np.array([e.agent_value for e in evals])
    vp = np.array([e.principal_value for e in evals])
    best_a = va.max(axis=0)
    optimal = np.all((va >= best_a - tie_tol).reshape(len(evals), -1), axis=1)
    return best_a, vp[optimal].max(axis=0), vp[optimal].min(axis=0)


# --- evaluate -----------------------------------------------------------------------------

@given(instances(EXACT_KINDS))
def test_evaluate_matches_naive_recursion(case):
    m, cp, pol = draw(*case)
    ev = evaluate(m, cp, pol)
    vp, va = naive_values(m, cp, pol)
    assert ev.principal_value.shape == vp.shape
    np.testing.assert_allclose(ev.principal_value, vp, atol=EXACT_TOL, rtol=0)
    np.testing.assert_allclose(ev.agent_value, va, atol=EXACT_TOL, rtol=0)
    assert ev.method == ("backward_horizon" if m.horizon is not None else "backward_levels")


def test_evaluate_matches_monte_carlo_over_many_seeds():
    """Slack: MC_SIGMAS standard errors per seed; the mean z-score over the seeds within 4/sqrt(#z)."""
    zs = []
    for seed in range(MC_SEEDS):
        kind = ALL_KINDS[seed % len(ALL_KINDS)]
        m, cp, pol = draw(kind, 1000 + seed, seed % 2 == 0)
        ev = evaluate(m, cp, pol)
        rng = np.random.default_rng(seed)
        # γ = 0.8 on cyclic instances: the tail after 200 steps is below 0.8^200 · 3/0.2 < 1e-18.
        gp, ga = rollouts(m, cp, pol, MC_EPISODES, rng, max_steps=200)
        for sample, exact in ((gp, ev.principal_start), (ga, ev.agent_start)):
            se = sample.std(ddof=1) / np.sqrt(sample.size)
            assert abs(sample.mean() - exact) <= MC_SIGMAS * se + 1e-12, (kind, seed, sample.mean(), exact, se)
            if se > 0:
                zs.append((sample.mean() - exact) / se)
    assert abs(np.mean(zs)) <= 4.0 / np.sqrt(len(zs))


@given(instances(CYCLIC_KINDS))
def test_discounted_linear_solve_matches_value_iteration(case):
    m, cp, pol = draw(*case)
    ev = evaluate(m, cp, pol)
    assert ev.method == "linear_solve"
    vp, va = iterate_policy_values(m, cp, pol, sweeps=400)       # 0.8^400 · 15 < 1e-37
    np.testing.assert_allclose(ev.principal_value, vp, atol=EXACT_TOL, rtol=0)
    np.testing.assert_allclose(ev.agent_value, va, atol=EXACT_TOL, rtol=0)


def random_cyclic(S: int, A: int, K: int, discount: float, seed: int) -> PrincipalAgentMDP:
    """Deterministic next_state drawn uniformly (a random graph; 10% of transitions end)."""
    rng = np.random.default_rng(seed)
    ns = rng.integers(0, S, (S, K))
    ns[rng.uniform(size=(S, K)) < 0.1] = -1
    return PrincipalAgentMDP(rng.dirichlet(np.ones(K), (S, A)), -rng.uniform(0, 1, (S, A)), rng.uniform(0, 1, (S, K)),
                             next_state=ns, discount=discount)


def test_krylov_solve_matches_direct_solve_and_reports_its_bound(monkeypatch):
    import contractlab.solvers.pamdp_policy as pp

    m = random_cyclic(400, 3, 2, 0.95, seed=0)
    cp, pol = random_policies(m, np.random.default_rng(0))
    direct = evaluate(m, cp, pol, linear_solver="direct")
    krylov = evaluate(m, cp, pol, linear_solver="iterative")
    assert direct.method == "linear_solve" and krylov.method == "linear_solve_iterative"
    assert direct.error_bound <= 1e-10 and krylov.error_bound <= 1e-10
    np.testing.assert_allclose(krylov.principal_value, direct.principal_value, atol=EXACT_TOL)
    np.testing.assert_allclose(krylov.agent_value, direct.agent_value, atol=EXACT_TOL)
    assert evaluate(m, cp, pol).method == "linear_solve"                  # auto: small -> direct
    monkeypatch.setattr(pp, "DIRECT_SOLVE_MAX_STATES", 100)
    assert evaluate(m, cp, pol).method == "linear_solve_iterative"        # auto: large -> Krylov
    br = agent_best_response(m, cp)
    assert br.converged and br.value_error_bound <= 1e-10
    np.testing.assert_allclose(br.agent_value, evaluate(m, cp, br.policy, linear_solver="direct").agent_value,
                               atol=EXACT_TOL)
    assert evaluate(binary_game_tree(2), ContractPolicy([0, 0, 0], np.zeros((3, 2))), [0, 0, 0]).error_bound == 0.0
    # The bound is a real upper bound: with no Krylov round at all (V = 0) it covers the whole error.
    monkeypatch.setattr(pp, "KRYLOV_REFINE_ROUNDS", 0)
    crude = evaluate(m, cp, pol, linear_solver="iterative")
    err = max(np.abs(crude.principal_value - direct.principal_value).max(),
              np.abs(crude.agent_value - direct.agent_value).max())
    assert err > 0.1 and crude.error_bound >= err


def test_acyclic_discounted_levels_match_linear_algebra():
    """An acyclic γ < 1 instance solved by levels equals the fixed point of V = r_π + γ P_π V."""
    m = replace(random_dag(12, 3, 2, seed=5), discount=0.7)
    cp, pol = random_policies(m, np.random.default_rng(0))
    ev = evaluate(m, cp, pol)
    vp, va = iterate_policy_values(m, cp, pol, sweeps=50)        # nilpotent P_π: exact after 12 sweeps
    np.testing.assert_allclose(ev.principal_value, vp, atol=EXACT_TOL)
    np.testing.assert_allclose(ev.agent_value, va, atol=EXACT_TOL)


@given(instances())
def test_welfare_identity_and_payments(case):
    """Payments are transfers: welfare = V_p + V_a is the same under the zero contract; and
    V_p = (value of r_p) − (discounted payments)."""
    m, cp, pol = draw(*case)
    ev = evaluate(m, cp, pol)
    np.testing.assert_allclose(ev.welfare, ev.principal_value + ev.agent_value, atol=1e-12)
    zero = ContractPolicy(cp.action, np.zeros_like(cp.contract))
    ev0 = evaluate(m, zero, pol)
    np.testing.assert_allclose(ev.welfare, ev0.welfare, atol=EXACT_TOL)
    np.testing.assert_allclose(ev.principal_value, ev0.principal_value - ev.payment_value, atol=EXACT_TOL)
    np.testing.assert_allclose(ev.agent_value, ev0.agent_value + ev.payment_value, atol=EXACT_TOL)
    S = m.n_states
    t0_pol = pol[0] if pol.ndim == 2 else pol
    pay0 = (m.outcome_probs[np.arange(S), t0_pol] * cp.at_step(0)[1]).sum(axis=1)
    np.testing.assert_allclose(ev.expected_payment[0] if ev.expected_payment.ndim == 2 else ev.expected_payment,
                               pay0, atol=1e-12)
    assert ev.expected_payment.shape == ev.principal_value.shape
    for arr in (ev.principal_value, ev.agent_value, ev.welfare, ev.expected_payment, ev.payment_value):
        assert not arr.flags.writeable


def test_evaluation_result_is_frozen():
    m = binary_game_tree(2, seed=0)
    ev = evaluate(m, ContractPolicy(np.zeros(3, int), np.zeros((3, 2))), np.zeros(3, int))
    assert isinstance(ev, PolicyEvaluation)
    with pytest.raises(AttributeError):
        ev.method = "other"
    with pytest.raises(ValueError):
        ev.agent_value[0] = 1.0


# --- best response ------------------------------------------------------------------------

def tiny_kinds_case():
    return st.tuples(st.sampled_from(["binary_tree", "random_tree", "stochastic_dag", "horizon_cyclic"]),
                     st.integers(0, 10_000), st.booleans())


def shrink(m: PrincipalAgentMDP) -> bool:
    """Small enough to enumerate every deterministic agent policy."""
    cells = m.n_states * (m.horizon or 1)
    return m.n_actions ** cells <= 600


@given(tiny_kinds_case(), st.sampled_from(["principal", "adversarial"]))
def test_best_response_matches_brute_force(case, tie_break):
    m, cp, _ = draw(*case)
    if not shrink(m):
        m = build("binary_tree", case[1] % 7)
        cp, _ = random_policies(m, np.random.default_rng(case[1]))
    br = agent_best_response(m, cp, tie_break=tie_break)
    best_a, best_p, worst_p = brute_force(m, cp)
    np.testing.assert_allclose(br.agent_value, best_a, atol=EXACT_TOL)
    np.testing.assert_allclose(br.principal_value, best_p if tie_break == "principal" else worst_p, atol=1e-7)
    ev = evaluate(m, cp, br.policy)
    np.testing.assert_allclose(ev.agent_value, br.agent_value, atol=EXACT_TOL)
    np.testing.assert_allclose(ev.principal_value, br.principal_value, atol=EXACT_TOL)
    assert br.converged and br.error_bound == 0.0 and br.policy_gap <= TIE_TOL
    rec = cp.action if cp.action.ndim == br.policy.ndim else np.broadcast_to(cp.action, br.policy.shape)
    np.testing.assert_array_equal(br.follow, br.policy == rec)


def tied_instance(m: PrincipalAgentMDP, seed: int) -> tuple[PrincipalAgentMDP, ContractPolicy]:
    """Zero contract and agent rewards in {0, −1} with at least one 0 per state: the agent's
    optimal value is 0 everywhere and it is indifferent among its zero-reward actions, so the
    tie-break alone decides what the principal gets."""
    rng = np.random.default_rng(seed)
    r = -(rng.uniform(size=m.agent_rewards.shape) < 0.4).astype(float)
    r[np.arange(m.n_states), rng.integers(0, m.n_actions, m.n_states)] = 0.0
    mt = replace(m, agent_rewards=r)
    return mt, ContractPolicy(np.zeros(m.n_states, int), np.zeros((m.n_states, m.n_outcomes)))


@given(st.sampled_from(["binary_tree", "random_tree", "stochastic_dag"]), st.integers(0, 10_000))
def test_tie_breaking_picks_the_principals_best_and_worst_agent_optimal_policy(kind, seed):
    m = build(kind, seed)
    if not shrink(m):
        m = build("binary_tree", seed % 5)
    m, cp = tied_instance(m, seed)
    best_a, best_p, worst_p = brute_force(m, cp)
    fav = agent_best_response(m, cp, tie_break="principal")
    adv = agent_best_response(m, cp, tie_break="adversarial")
    np.testing.assert_allclose(fav.agent_value, 0.0, atol=1e-12)
    np.testing.assert_allclose(adv.agent_value, 0.0, atol=1e-12)
    np.testing.assert_allclose(fav.principal_value, best_p, atol=1e-9)
    np.testing.assert_allclose(adv.principal_value, worst_p, atol=1e-9)
    assert np.all(fav.principal_value >= adv.principal_value - 1e-12)


def one_state(agent_rewards, outcome_probs, principal_rewards, discount=1.0):
    return PrincipalAgentMDP(np.array([outcome_probs], float), np.array([agent_rewards], float),
                             np.array([principal_rewards], float), next_state=[[-1] * len(principal_rewards)],
                             discount=discount)


def test_tie_break_cases_by_hand():
    # Agent indifferent between actions 0 and 1 (costs 0; no pay); the principal prefers 1.
    m = one_state([0.0, 0.0, -1.0], [[1, 0], [0, 1], [0, 1]], [0.0, 1.0])
    cp = ContractPolicy([0], [[0.0, 0.0]])
    assert agent_best_response(m, cp, "principal").policy.tolist() == [1]
    assert agent_best_response(m, cp, "adversarial").policy.tolist() == [0]
    # A tie within tol counts as a tie; outside it does not.
    m2 = one_state([0.0, -1e-10], [[1, 0], [0, 1]], [0.0, 1.0])
    assert agent_best_response(m2, cp, "principal").policy.tolist() == [1]
    assert agent_best_response(m2, cp, "principal", tol=1e-11).policy.tolist() == [0]
    # Principal indifferent too: the lowest index wins under both rules.
    m3 = one_state([-0.5, 0.0, 0.0, 0.0], [[1, 0], [0, 1], [1, 0], [0, 1]], [1.0, 1.0])
    for rule in ("principal", "adversarial"):
        assert agent_best_response(m3, cp, rule).policy.tolist() == [1]
    # A contract breaks the tie the other way: paying 0.25 on outcome 0 makes action 0 strictly best.
    cp2 = ContractPolicy([0], [[0.25, 0.0]])
    br = agent_best_response(m, cp2, "principal")
    assert br.policy.tolist() == [0] and br.follow.tolist() == [True]
    assert br.agent_value[0] == pytest.approx(0.25) and br.principal_value[0] == pytest.approx(-0.25)


def test_tie_break_uses_the_continuation_value_of_the_principal():
    """Two actions tied for the agent lead to different subtrees; only the principal's
    continuation value (computed in the same backward pass) separates them."""
    O = np.zeros((3, 2, 2))
    O[:, 0] = (1, 0)
    O[:, 1] = (0, 1)
    rp = np.array([[0.0, 0.0], [0.0, 0.0], [5.0, 5.0]])        # only state 2 is worth anything
    m = PrincipalAgentMDP(O, np.zeros((3, 2)), rp, next_state=[[1, 2], [-1, -1], [-1, -1]])
    cp = ContractPolicy(np.zeros(3, int), np.zeros((3, 2)))
    fav, adv = agent_best_response(m, cp, "principal"), agent_best_response(m, cp, "adversarial")
    assert fav.policy[0] == 1 and fav.principal_value[0] == pytest.approx(5.0)
    assert adv.policy[0] == 0 and adv.principal_value[0] == pytest.approx(0.0)


@given(st.sampled_from(CYCLIC_KINDS), st.integers(0, 10_000), st.sampled_from(["principal", "adversarial"]))
@settings(max_examples=15)
def test_cyclic_best_response_matches_enumeration(kind, seed, tie_break):
    m = build(kind, seed)
    if m.n_actions ** m.n_states > 300:
        m = build(kind, seed % 3) if m.n_states > 4 else m
        if m.n_actions ** m.n_states > 300:
            m = contractual_rl(3, 2, discount=0.8, seed=seed)
    cp, _ = random_policies(m, np.random.default_rng(seed))
    br = agent_best_response(m, cp, tie_break=tie_break)
    assert br.method == "value_iteration" and br.converged
    assert br.error_bound <= 1e-10 and br.iterations >= 1
    best_a, _, _ = brute_force(m, cp)
    np.testing.assert_allclose(br.agent_value, best_a, atol=1e-8)
    assert br.policy_gap <= 1e-8
    ev = evaluate(m, cp, br.policy)
    np.testing.assert_allclose(ev.principal_value, br.principal_value, atol=EXACT_TOL)


@pytest.mark.parametrize("seed", range(6))
def test_cyclic_tie_breaking_matches_enumeration(seed):
    """All agent actions tied (zero rewards and contract): the principal-favourable response is
    the principal's optimal stationary policy, the adversarial one her worst (per state)."""
    base = random_discounted(3, 2, 2, discount=0.8, seed=seed) if seed % 2 else contractual_rl(3, 2, 0.8, seed)
    m = replace(base, agent_rewards=np.zeros_like(base.agent_rewards))
    cp = ContractPolicy(np.zeros(3, int), np.zeros((3, m.n_outcomes)))
    _, best_p, worst_p = brute_force(m, cp)
    np.testing.assert_allclose(agent_best_response(m, cp, "principal").principal_value, best_p, atol=1e-9)
    np.testing.assert_allclose(agent_best_response(m, cp, "adversarial").principal_value, worst_p, atol=1e-9)


def test_value_iteration_reports_when_it_stops_early():
    m = random_discounted(5, 2, 2, discount=0.95, seed=1)
    cp, _ = random_policies(m, np.random.default_rng(1))
    br = agent_best_response(m, cp, max_iter=3)
    assert not br.converged and br.iterations == 3 and br.error_bound > 1e-3
    assert br.reason == "iteration budget" and br.bound >= br.error_bound
    full = agent_best_response(m, cp, vi_tol=1e-12)
    assert full.converged and full.error_bound <= 1e-12 and full.reason == "converged"
    assert full.iterations > 3


# --- budgets: iteration caps and the clock (no assertion on elapsed time) -------------------

def test_time_limit_defaults_to_none_and_changes_nothing_on_ordinary_instances():
    """``time_limit=None`` is the default; a generous limit gives the same answer array for array."""
    import inspect
    for fn in (agent_best_response, evaluate):
        assert inspect.signature(fn).parameters["time_limit"].default is None
    for kind, seed in itertools.product(CYCLIC_KINDS, range(3)):
        m, cp, pol = draw(kind, seed, False)
        for tie_break in ("principal", "adversarial"):
            a = agent_best_response(m, cp, tie_break)
            b = agent_best_response(m, cp, tie_break, time_limit=3600.0)
            assert a.converged and b.converged and a.reason == b.reason == "converged"
            assert a.iterations == b.iterations and a.error_bound == b.error_bound
            for field in ("policy", "q", "agent_value", "principal_value"):
                assert np.array_equal(getattr(a, field), getattr(b, field))
        ev, ev2 = evaluate(m, cp, pol), evaluate(m, cp, pol, time_limit=3600.0)
        assert ev.converged and ev.reason == "converged" and np.array_equal(ev.agent_value, ev2.agent_value)
    tree = binary_game_tree(3, seed=0)
    br = agent_best_response(tree, ContractPolicy(np.zeros(tree.n_states, int), np.zeros((tree.n_states, 2))),
                             time_limit=0.0)                 # exact backward pass: the limit does not apply
    assert br.converged and br.reason == "converged" and br.bound == 0.0


def test_value_iteration_stops_at_the_time_budget():
    """A zero time limit: one sweep, then an honest report (the bound covers the distance of
    the iterate to the converged values)."""
    m = random_discounted(5, 2, 2, discount=0.95, seed=1)
    cp, _ = random_policies(m, np.random.default_rng(1))
    br = agent_best_response(m, cp, time_limit=0.0)
    assert not br.converged and br.reason == "time budget" and br.iterations == 1
    assert np.isfinite(br.error_bound) and br.error_bound > 1e-3 and br.bound >= br.error_bound
    assert np.all(np.isfinite(br.agent_value)) and br.policy.shape == (5,)
    # the values are exact for the policy returned (a linear solve), whatever the budget
    ev = evaluate(m, cp, br.policy)
    np.testing.assert_allclose(br.agent_value, ev.agent_value, atol=EXACT_TOL)


def test_principal_tie_break_stops_at_the_time_budget(monkeypatch):
    """Every agent action tied: value iteration converges at once and the principal-side policy
    iteration is the loop the clock (or its round cap) stops; the agent's policy is still optimal."""
    import contractlab.solvers.pamdp_policy as pp

    base = random_discounted(4, 3, 2, discount=0.8, seed=3)
    m = replace(base, agent_rewards=np.zeros_like(base.agent_rewards))
    cp = ContractPolicy(np.zeros(4, int), np.zeros((4, m.n_outcomes)))
    full = agent_best_response(m, cp)
    assert full.converged and full.reason == "converged"
    cut = agent_best_response(m, cp, time_limit=0.0)
    assert not cut.converged and cut.reason == "time budget"
    assert cut.error_bound <= 1e-10 and cut.policy_gap <= TIE_TOL
    assert np.all(cut.principal_value <= full.principal_value + EXACT_TOL)
    assert np.any(cut.principal_value < full.principal_value - 1e-3)
    monkeypatch.setattr(pp, "PI_MAX_ITER", 1)
    capped = agent_best_response(m, cp)
    assert not capped.converged and capped.reason == "iteration budget"


def test_krylov_solve_stops_at_the_time_budget(monkeypatch):
    """The Krylov solver checks the clock every iteration; the residual bound of the iterate it
    stopped at still covers its error."""
    import contractlab.solvers.pamdp_policy as pp

    m = random_cyclic(400, 3, 2, 0.95, seed=0)
    cp, pol = random_policies(m, np.random.default_rng(0))
    direct = evaluate(m, cp, pol, linear_solver="direct")
    full = evaluate(m, cp, pol, linear_solver="iterative", time_limit=None)
    assert full.converged and full.reason == "converged" and full.error_bound <= 1e-10
    cut = evaluate(m, cp, pol, linear_solver="iterative", time_limit=0.0)
    assert cut.method == "linear_solve_iterative" and not cut.converged and cut.reason == "time budget"
    err = max(np.abs(cut.principal_value - direct.principal_value).max(),
              np.abs(cut.agent_value - direct.agent_value).max())
    assert cut.error_bound >= err and cut.bound == cut.error_bound
    assert evaluate(m, cp, pol, linear_solver="direct", time_limit=0.0).converged   # a direct solve is not cut
    monkeypatch.setattr(pp, "DIRECT_SOLVE_MAX_STATES", 100)
    br = agent_best_response(m, cp, time_limit=0.0)
    assert not br.converged and br.reason == "time budget" and np.isfinite(br.bound)
    ref = evaluate(m, cp, br.policy, linear_solver="direct")
    assert np.abs(br.agent_value - ref.agent_value).max() <= br.value_error_bound


def test_best_response_result_is_frozen_and_shaped():
    m = replace(contractual_rl(3, 2, seed=0), discount=1.0, horizon=4)
    cp = ContractPolicy(np.zeros((4, 3), int), np.ones((4, 3, 3)))
    br = agent_best_response(m, cp)
    assert isinstance(br, AgentResponse)
    assert br.policy.shape == (4, 3) and br.q.shape == (4, 3, 2) and br.agent_value.shape == (4, 3)
    assert br.follow.shape == (4, 3) and br.method == "backward_horizon" and br.iterations == 4
    for arr in (br.policy, br.q, br.agent_value, br.principal_value, br.follow):
        assert not arr.flags.writeable
    with pytest.raises(AttributeError):
        br.policy = None


@pytest.mark.parametrize("seed", range(4))
def test_spe_recommendations_are_a_principal_favourable_best_response(seed):
    """Cross-check with ``solvers.spe``: against the SPE contract policy (min-pay contracts, which
    leave the agent indifferent) the principal-favourable best response follows every
    recommendation and reproduces both SPE values; an adversarial agent can only hurt her."""
    from contractlab.solvers.spe import solve_spe

    horizon = replace(contractual_rl(3, 2, seed=seed), discount=0.9, horizon=3)
    for m in (binary_game_tree(3, seed=seed), random_tree(2, 3, 3, seed=seed), random_dag(8, 3, 2, seed=seed),
              horizon):
        spe = solve_spe(m)
        br = agent_best_response(m, spe.policy)
        assert br.follow.all()
        np.testing.assert_allclose(br.principal_value, spe.principal_value, atol=EXACT_TOL)
        np.testing.assert_allclose(br.agent_value, spe.agent_value, atol=EXACT_TOL)
        ev = evaluate(m, spe.policy, spe.policy.action)
        np.testing.assert_allclose(ev.principal_value, spe.principal_value, atol=EXACT_TOL)
        adv = agent_best_response(m, spe.policy, tie_break="adversarial")
        assert np.all(adv.principal_value <= spe.principal_value + EXACT_TOL)


# --- bad input ------------------------------------------------------------------------------

def test_bad_input_names_field_and_index():
    m = binary_game_tree(2, seed=0)                 # S = 3, A = 2, K = 2
    cp = ContractPolicy(np.zeros(3, int), np.zeros((3, 2)))
    cases = [
        (lambda: evaluate(m, cp, [0, 2, 0]), "agent_policy", (1,)),
        (lambda: evaluate(m, cp, [0, -1, 0]), "agent_policy", (1,)),
        (lambda: evaluate(m, cp, [0, 0]), "agent_policy", None),
        (lambda: evaluate(m, cp, [0, 0.5, 0]), "agent_policy", (1,)),
        (lambda: evaluate(m, cp, [[0, 0, 0]]), "agent_policy", None),       # (H, S) without a horizon
        (lambda: evaluate(m, cp, 0), "agent_policy", None),
        (lambda: evaluate(m, ContractPolicy(np.zeros(3, int), np.zeros((3, 3))), [0, 0, 0]), "contract", None),
        (lambda: evaluate(m, ContractPolicy([0, 0, 5], np.zeros((3, 2))), [0, 0, 0]), "action", (2,)),
        (lambda: evaluate(m, "not a policy", [0, 0, 0]), "contract_policy", None),
        (lambda: evaluate(None, cp, [0, 0, 0]), "mdp", None),
        (lambda: agent_best_response(m, cp, tie_break="agent"), "tie_break", None),
        (lambda: agent_best_response(m, cp, tol=-1.0), "tol", None),
        (lambda: agent_best_response(m, cp, tol=float("nan")), "tol", None),
        (lambda: agent_best_response(m, cp, max_iter=0), "max_iter", None),
        (lambda: agent_best_response(m, cp, time_limit=-1.0), "time_limit", None),
        (lambda: agent_best_response(m, cp, time_limit=float("nan")), "time_limit", None),
        (lambda: agent_best_response(m, cp, time_limit="1"), "time_limit", None),
        (lambda: evaluate(m, cp, [0, 0, 0], time_limit=True), "time_limit", None),
        (lambda: evaluate(m, cp, [0, 0, 0], linear_solver="lu"), "linear_solver", None),
        (lambda: agent_best_response(m, ContractPolicy(np.zeros((2, 3), int), np.zeros((2, 3, 2)))), "action",
         None),
    ]
    for call, field, index in cases:
        with pytest.raises(InvalidInstanceError) as info:
            call()
        assert info.value.field == field, (field, info.value)
        assert info.value.index == index, (field, info.value)
    mh = replace(m, horizon=2)
    with pytest.raises(InvalidInstanceError) as info:
        evaluate(mh, cp, np.zeros((3, 3), int))
    assert info.value.field == "agent_policy"
    with pytest.raises(InvalidInstanceError) as info:
        evaluate(mh, cp, [[0, 0, 0], [0, 1, 7]])
    assert info.value.field == "agent_policy" and info.value.index == (1, 2)
