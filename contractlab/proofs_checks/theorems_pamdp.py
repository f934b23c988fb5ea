"""Theorems about principal-agent MDPs and their subgame-perfect equilibria (arXiv 2407.18074).

Drawn instances: the paper's random binary game trees (Appendix D.1), random trees and DAGs
with 2–3 actions and outcomes, and cyclic instances with a finite horizon.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from ..solvers.pamdp_policy import agent_best_response, evaluate
from ..solvers.spe import solve_spe
from ..theory.pamdp import PrincipalAgentMDP
from ..theory.pamdp_families import binary_game_tree, random_dag, random_discounted, random_tree
from .registry import Evidence, theorem
from .spe_checks import spe_gap

TOL = 1e-7
PARL = "Ivanov, Dütting, Talgam-Cohen, Wang, Parkes, Principal-Agent Reinforcement Learning (arXiv 2407.18074)"


def _with_horizon(m: PrincipalAgentMDP, horizon: int) -> PrincipalAgentMDP:
    return PrincipalAgentMDP(m.outcome_probs, m.agent_rewards, m.principal_rewards, transitions=m.transitions,
                             next_state=m.next_state, discount=m.discount, horizon=horizon)


def pamdp_instances():
    """Small PA-MDPs of every kind ``solve_spe`` handles."""
    seeds = st.integers(0, 2**32 - 1)
    return st.one_of(
        st.builds(binary_game_tree, st.integers(1, 5), seeds),
        st.builds(random_tree, st.integers(1, 3), st.integers(1, 3), st.integers(1, 3), seeds),
        st.builds(random_dag, st.integers(1, 25), st.integers(1, 3), st.integers(1, 3), seeds),
        st.builds(lambda n, a, k, g, s, h: _with_horizon(random_discounted(n, a, k, g, s), h),
                  st.integers(1, 6), st.integers(1, 3), st.integers(1, 3), st.sampled_from([0.0, 0.5, 0.9]), seeds,
                  st.integers(1, 4)),
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
