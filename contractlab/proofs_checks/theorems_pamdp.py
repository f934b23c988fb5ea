"""Theorems about principal-agent MDPs and their subgame-perfect equilibria (arXiv 2407.18074).

Drawn instances: the paper's random binary game trees (Appendix D.1), random trees and DAGs
with 1–3 actions and outcomes, and cyclic instances with a finite horizon. Apart from the
published binary trees (``γ = 1``), every instance gets a discount drawn over ``(0, 1)`` (floats
in ``[0.05, 0.95]`` and a grid; ``1`` where the game is finite) and a per-state shift of the
agent's rewards (:func:`lively`), so that the agent's values, and hence the continuation values
that enter the incentive constraints one step earlier, are neither zero nor undiscounted.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from ..solvers.pamdp_policy import agent_best_response, evaluate
from ..solvers.spe import solve_spe
from ..theory.pamdp import PrincipalAgentMDP
from ..theory.pamdp_families import binary_game_tree, contractual_rl, random_dag, random_discounted, random_tree
from .registry import Evidence, theorem
from .spe_checks import spe_gap

TOL = 1e-7
PARL = "Ivanov, Dütting, Talgam-Cohen, Wang, Parkes, Principal-Agent Reinforcement Learning (arXiv 2407.18074)"


def _with_horizon(m: PrincipalAgentMDP, horizon: int) -> PrincipalAgentMDP:
    return PrincipalAgentMDP(m.outcome_probs, m.agent_rewards, m.principal_rewards, transitions=m.transitions,
                             next_state=m.next_state, discount=m.discount, horizon=horizon)


def discounts(finite: bool = True):
    """Discounts over the open interval (0, 1), floats in [0.05, 0.95], plus the grid values 0.5
    and 0.9 (and 1.0 when ``finite``: trees, DAGs and finite horizons allow it)."""
    grid = [0.5, 0.9, 1.0] if finite else [0.5, 0.9]
    return st.one_of(st.floats(0.05, 0.95), st.sampled_from(grid))


def lively(mdp: PrincipalAgentMDP, discount: float, seed: int) -> PrincipalAgentMDP:
    """``mdp`` with discount ``discount`` and the agent's rewards at every state shifted by a
    constant drawn from U[−1, 1] (seeded).

    A constant shift at a state leaves the incentives at that state unchanged, but it makes the
    agent's values non-zero and different across states, so that at every predecessor the agent's
    discounted continuation differs across outcomes and enters the incentive constraints (the
    generators' agent rewards are effort costs with a free action 0, whose values are mostly 0).
    """
    rng = np.random.default_rng(seed)
    shift = rng.uniform(-1.0, 1.0, (mdp.n_states, 1))
    return PrincipalAgentMDP(mdp.outcome_probs, mdp.agent_rewards + shift, mdp.principal_rewards,
                             transitions=mdp.transitions, next_state=mdp.next_state, discount=discount,
                             horizon=mdp.horizon, initial_state=mdp.initial_state)


def _finite_families(min_outcomes: int = 1):
    """Trees, DAGs and cyclic instances with a finite horizon (at least ``min_outcomes`` outcomes)."""
    seeds = st.integers(0, 2**32 - 1)
    return st.one_of(
        st.builds(binary_game_tree, st.integers(1, 5), seeds),
        st.builds(random_tree, st.integers(1, 3), st.integers(1, 3), st.integers(min_outcomes, 3), seeds),
        st.builds(random_dag, st.integers(1, 25), st.integers(1, 3), st.integers(min_outcomes, 3), seeds),
        st.builds(lambda n, a, k, s, h: _with_horizon(random_discounted(n, a, k, 0.5, s), h),
                  st.integers(1, 6), st.integers(1, 3), st.integers(min_outcomes, 3), seeds, st.integers(1, 4)),
    )


def pamdp_instances(min_outcomes: int = 1):
    """Small PA-MDPs of every kind ``solve_spe`` handles: the paper's binary game trees as published
    (``γ = 1``), and every family with a drawn discount and shifted agent rewards (:func:`lively`)."""
    seeds = st.integers(0, 2**32 - 1)
    return st.one_of(
        st.builds(binary_game_tree, st.integers(1, 5), seeds),
        st.builds(lively, _finite_families(min_outcomes), discounts(), seeds),
    )


@theorem("spe.subgame_perfect",
         "The backward-induction profile is a subgame-perfect equilibrium: at every state, on and off the "
         "path, neither the principal (offering any contract, the agent answering optimally) nor the agent "
         "gains from a one-shot deviation (SPE gap 0).",
         f"{PARL}, Section 3 (SPE; backward induction) and the one-shot deviation principle", pamdp_instances)
def check_subgame_perfect(mdp: PrincipalAgentMDP) -> Evidence:
    res = solve_spe(mdp)
    gap = spe_gap(mdp, res.policy)
    return Evidence.at_most(gap.gap, 0.0, TOL, "largest one-shot gain at any state")


@theorem("spe.agent_follows",
         "The agent's dynamic-programming best response to the SPE contracts (ties to the principal) takes "
         "every recommended action, at every state.",
         f"{PARL}, Section 3 (minimal implementing contracts make the recommendation optimal)", pamdp_instances)
def check_agent_follows(mdp: PrincipalAgentMDP) -> Evidence:
    res = solve_spe(mdp)
    br = agent_best_response(mdp, res.policy)
    misses = int((~br.follow).sum())
    return Evidence.at_most(misses, 0, 0.0, "states where the best-responding agent deviates")


@theorem("spe.values_match_evaluation",
         "The SPE values of both players equal the exact policy evaluation of the profile (contracts, "
         "recommended actions) at every state.",
         f"{PARL}, Section 3 (value functions of a profile)", pamdp_instances)
def check_values(mdp: PrincipalAgentMDP) -> Evidence:
    res = solve_spe(mdp)
    ev = evaluate(mdp, res.policy, res.policy.action)
    return Evidence.combine([
        Evidence.equal(float(np.abs(ev.principal_value - res.principal_value).max()), 0.0, TOL, "principal"),
        Evidence.equal(float(np.abs(ev.agent_value - res.agent_value).max()), 0.0, TOL, "agent")])


def _welfare(mdp: PrincipalAgentMDP, actions: np.ndarray) -> np.ndarray:
    """Welfare of an action policy with no payments at all, by a dense linear solve (or steps)."""
    S = mdp.n_states
    idx = np.arange(S)
    P = mdp.successor_matrix()

    def step(a):
        O = mdp.outcome_probs[idx, a]                                       # (S, K)
        return mdp.agent_rewards[idx, a] + np.einsum("sk,sk->s", O, mdp.principal_rewards), \
            mdp.discount * np.einsum("sk,skt->st", O, P)

    if mdp.horizon is None:
        r, M = step(actions)
        return np.linalg.solve(np.eye(S) - M, r)
    W = np.zeros(S)
    out = np.zeros((mdp.horizon, S))
    for t in range(mdp.horizon - 1, -1, -1):
        r, M = step(actions[t])
        W = r + M @ W
        out[t] = W
    return out


@theorem("spe.welfare_identity",
         "Payments are transfers: principal value + agent value equals the welfare (agent reward plus "
         "principal reward, no payments) of the induced action policy, at every state.",
         f"{PARL}, Section 3", pamdp_instances)
def check_welfare(mdp: PrincipalAgentMDP) -> Evidence:
    res = solve_spe(mdp)
    w = _welfare(mdp, res.policy.action)
    diff = float(np.abs(res.principal_value + res.agent_value - w).max())
    return Evidence.equal(diff, 0.0, TOL, "max |V_p + V_a − W|")


@theorem("spe.methods_agree",
         "The exact vectorised MIN-PAY (vertex enumeration) and the batched HiGHS LP give the same SPE "
         "values at every state (within 1e-8, relative).",
         "contractlab design: exact vectorised method cross-checked against the LP", pamdp_instances)
def check_methods(mdp: PrincipalAgentMDP) -> Evidence:
    a = solve_spe(mdp, method="vertex")
    b = solve_spe(mdp, method="lp")
    scale = max(1.0, float(np.abs(a.principal_value).max()))
    return Evidence.combine([
        Evidence.equal(float(np.abs(a.principal_value - b.principal_value).max()) / scale, 0.0, 1e-8, "principal"),
        Evidence.equal(float(np.abs(a.agent_value - b.agent_value).max()) / scale, 0.0, 1e-8, "agent")])


def _meta_instances():
    """Trees, DAGs and finite horizons (the meta-algorithm's domain), starting from random policies."""
    return st.tuples(pamdp_instances(), st.integers(0, 2**32 - 1))


def _random_policy(mdp: PrincipalAgentMDP, seed: int):
    from ..theory.contract_policy import ContractPolicy
    rng = np.random.default_rng(seed)
    lead = (mdp.horizon, mdp.n_states) if mdp.horizon is not None else (mdp.n_states,)
    return ContractPolicy(rng.integers(0, mdp.n_actions, lead), rng.uniform(0, 1, lead + (mdp.n_outcomes,)))


def _steps_to_end(mdp: PrincipalAgentMDP) -> np.ndarray:
    """Steps until the end from every state (horizon: from every (step, state)), counting this one."""
    if mdp.horizon is not None:
        H = mdp.horizon
        return np.broadcast_to((H - np.arange(H))[:, None], (H, mdp.n_states))
    out = np.zeros(mdp.n_states, dtype=np.int64)
    for height, level in enumerate(mdp.levels()):
        out[level] = height + 1
    return out


def _meta_run(args):
    """The meta-algorithm from a random initial policy, and the SPE to compare it with."""
    from ..solvers.meta_algorithm import meta_algorithm
    mdp, seed = args
    return mdp, meta_algorithm(mdp, _random_policy(mdp, seed)), solve_spe(mdp)


@theorem("meta.reaches_spe",
         "On trees, DAGs and finite horizons the meta-algorithm (agent best response, then the principal's "
         "optimisation given the agent) stops within depth + 1 iterations from any initial contract policy, "
         "at the subgame-perfect values of both players at every state.",
         f"{PARL}, Section 3.2, Algorithm 1 (meta-algorithm) and its finite-horizon convergence", _meta_instances)
def check_meta_reaches_spe(args) -> Evidence:
    mdp, res, spe = _meta_run(args)
    depth = int(_steps_to_end(mdp).max())
    return Evidence.combine([
        Evidence.at_most(res.iterations, depth + 1, 0.0, "iterations until the policy stops changing"),
        Evidence(float(res.converged), 1.0, 0.0 if res.converged else -np.inf, res.converged, "converged"),
        Evidence.equal(float(np.abs(res.principal_value - spe.principal_value).max()), 0.0, TOL, "principal values"),
        Evidence.equal(float(np.abs(res.agent_value - spe.agent_value).max()), 0.0, TOL, "agent values")])


@theorem("meta.exact_near_the_end",
         "After k iterations of the meta-algorithm, every state within k steps of the end (horizon: every "
         "step t >= H − k) already has the principal's subgame-perfect value.",
         f"{PARL}, Section 3.2 (backward-induction argument for Algorithm 1)", _meta_instances)
def check_meta_exact_near_end(args) -> Evidence:
    mdp, res, spe = _meta_run(args)
    steps = _steps_to_end(mdp)
    items = []
    for it in res.iterates:
        near = steps <= it.iteration
        err = np.abs(it.step.principal_value - spe.principal_value)[near]
        items.append(Evidence.equal(float(err.max(initial=0.0)), 0.0, TOL, f"iteration {it.iteration}"))
    return Evidence.combine(items)


def _discounted_instances():
    """Small discounted cyclic instances (stochastic transitions, or outcome = next state), with a
    discount drawn over (0, 1) and shifted agent rewards (:func:`lively`)."""
    seeds = st.integers(0, 2**32 - 1)
    families = st.one_of(
        st.builds(random_discounted, st.integers(1, 6), st.integers(1, 3), st.integers(1, 3), st.just(0.5), seeds),
        st.builds(contractual_rl, st.integers(1, 4), st.integers(1, 3), st.just(0.5), seeds))
    return st.builds(lively, families, discounts(finite=False), seeds)


@theorem("operator.contraction",
         "For fixed agent continuation values, the principal's operator (T q)(s,a) = Σ_o O(s,a,o)(r_p(s,o) − "
         "b*(s,a)(o) + γ E[max q(s',·)]) is a γ-contraction in the sup-norm: ||Tq − Tq'|| <= γ ||q − q'|| for "
         "arbitrary Q tables q, q'.",
         f"{PARL}, Section 3.2 (the meta-algorithm as a contraction on the principal's Q-function)",
         lambda: st.tuples(_discounted_instances(), st.integers(0, 2**32 - 1)))
def check_contraction(args) -> Evidence:
    from ..solvers.meta_algorithm import principal_operator
    mdp, seed = args
    rng = np.random.default_rng(seed)
    S, A = mdp.n_states, mdp.n_actions
    va = rng.normal(0.0, 2.0, S)
    q1, q2 = rng.normal(0.0, 5.0, (S, A)), rng.normal(0.0, 5.0, (S, A))
    t1, t2 = principal_operator(mdp, q1, va), principal_operator(mdp, q2, va)
    finite = np.isfinite(t1)
    lhs = float(np.abs(t1[finite] - t2[finite]).max(initial=0.0))
    return Evidence.at_most(lhs, mdp.discount * float(np.abs(q1 - q2).max()), TOL, "||Tq − Tq'|| vs γ||q − q'||")


@theorem("operator.fixed_point_is_spe",
         "On discounted cyclic instances, when the meta-algorithm converges its profile is a subgame-perfect "
         "equilibrium (SPE gap 0) and the principal's Q-table of its last step is a fixed point of the "
         "operator whose maximum is her value of the profile. (Non-convergence is reported, counted as vacuous.)",
         f"{PARL}, Section 3.2 (fixed point of the contraction = SPE Q-function)", _discounted_instances)
def check_fixed_point(mdp: PrincipalAgentMDP) -> Evidence:
    from ..solvers.meta_algorithm import meta_algorithm, principal_operator
    res = meta_algorithm(mdp, max_iter=100)
    if not res.converged:
        return Evidence.vacuous("the meta-algorithm did not converge within 100 iterations")
    last = res.iterates[-1]
    q = last.step.principal_q
    tq = principal_operator(mdp, q, last.agent_value)
    finite = np.isfinite(q)
    gap = spe_gap(mdp, res.policy, res.agent_policy).gap
    ev = evaluate(mdp, res.policy, res.agent_policy)
    bound = last.step.fixed_point.error_bound if last.step.fixed_point is not None else 0.0
    return Evidence.combine([
        Evidence.at_most(gap, 0.0, 1e-6, "SPE gap of the converged profile"),
        Evidence.equal(float(np.abs(tq[finite] - q[finite]).max(initial=0.0)), 0.0, 1e-8 + bound, "||Tq − q||"),
        Evidence.equal(float(np.abs(q.max(axis=1) - ev.principal_value).max()), 0.0, 1e-6, "max q = V_p")])
