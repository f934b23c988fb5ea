"""Checking a strategy profile of a principal-agent MDP for subgame perfection.

The *SPE gap* of a profile (contract policy ρ, agent policy π) is the largest gain either
player gets from a one-shot deviation at any state (on or off the path of play), holding
the continuation fixed (arXiv 2407.18074, Section 3; the one-shot deviation principle for
finite-horizon and discounted games):

* the agent at ``s``: ``max_a Q_a(s, a) − Q_a(s, π(s))`` with
  ``Q_a(s, a) = r(s,a) + Σ_o O(s,a,o)(b(s,o) + γ E[V_a(s')])``;
* the principal at ``s``: the best she can get by offering *any* contract at ``s``, the agent
  answering optimally at ``s`` (ties in her favour), minus ``V_p(s)``. That best value is
  the one-shot optimal contract with outcome distributions ``O(s,·)``, agent costs
  ``−Q̄(s,·)`` and outcome values ``r_p(s,o) + γ E[V_p(s')]``, i.e. exactly
  :func:`~contractlab.solvers.spe.spe_backup` at ``s`` with the profile's continuation values.

A profile is a subgame-perfect equilibrium iff its SPE gap is 0. Nash-conv looks only at the
states the profile reaches; a Nash equilibrium held up by a non-credible threat off the path
has Nash-conv 0 and a positive SPE gap.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import breadth_first_order

from ..solvers.pamdp_policy import _check_time_limit, agent_best_response, evaluate
from ..solvers.spe import continuation, spe_backup
from ..theory.contract_policy import ContractPolicy
from ..theory.pamdp import PrincipalAgentMDP


@dataclass(frozen=True, eq=False)
class SPEGap:
    """One-shot deviation gains of both players at every state (``(S,)``, or ``(H, S)``).

    ``converged`` / ``reason`` are ``False`` / ``"iteration budget"`` or ``"time budget"`` when
    the agent's best response or the evaluation of the profile (discounted cyclic instances)
    was stopped by a budget before its tolerance; the gains are then those of the profile
    actually evaluated. Otherwise ``True`` / ``"converged"``.
    """

    principal_gain: np.ndarray
    agent_gain: np.ndarray
    reachable: np.ndarray
    converged: bool = True
    reason: str = "converged"

    @property
    def gap(self) -> float:
        """The SPE gap: the largest one-shot gain of either player at any state."""
        return float(max(self.principal_gain.max(), self.agent_gain.max(), 0.0))

    @property
    def nash_conv(self) -> float:
        """The largest one-shot gain at the states the profile reaches from the initial state."""
        p = np.where(self.reachable, self.principal_gain, 0.0)
        a = np.where(self.reachable, self.agent_gain, 0.0)
        return float(max(p.max(), a.max(), 0.0))


def _agent_q(mdp: PrincipalAgentMDP, contract: np.ndarray, agent_next: np.ndarray) -> np.ndarray:
    """``Q_a(s, a)`` at every state, given the contract at each state and next-state values."""
    S = mdp.n_states
    cont = continuation(mdp, np.arange(S), agent_next)                      # (S, K)
    return mdp.agent_rewards + np.einsum("sak,sk->sa", mdp.outcome_probs, contract + mdp.discount * cont)


def _reached(mdp: PrincipalAgentMDP, agent_policy: np.ndarray) -> np.ndarray:
    """States reached with positive probability from the initial state under the agent's policy
    (a sparse breadth-first search: no dense ``S x S`` matrix)."""
    S = mdp.n_states
    O = mdp.outcome_probs[np.arange(S), agent_policy]                       # (S, K)
    if mdp.next_state is not None:
        s, k = np.nonzero((O > 0) & (mdp.next_state >= 0))
        dst = mdp.next_state[s, k]
    else:
        s, k, dst = np.nonzero((O[:, :, None] > 0) & (mdp.transitions > 0))
    graph = sp.csr_matrix((np.ones(len(s)), (s, dst)), shape=(S, S))
    order = breadth_first_order(graph, mdp.initial_state, directed=True, return_predecessors=False)
    seen = np.zeros(S, dtype=bool)
    seen[order] = True
    return seen


def spe_gap(mdp: PrincipalAgentMDP, policy: ContractPolicy, agent_policy=None, *,
            time_limit: float | None = None) -> SPEGap:
    """The SPE gap of the profile (``policy``, ``agent_policy``).

    ``agent_policy`` defaults to the agent's best response to ``policy`` (ties in the
    principal's favour). Stationary profiles on acyclic or discounted MDPs; for a finite
    horizon the gains are per step ``(H, S)`` and reachability is not tracked (all ``True``).

    ``time_limit`` (seconds, default ``None``: no limit) bounds the iterative parts on a
    discounted cyclic instance — the agent's best response
    (:func:`~contractlab.solvers.pamdp_policy.agent_best_response`) and a Krylov evaluation —
    which share it; when it runs out the result says so (``converged=False``,
    ``reason="time budget"``) instead of raising. The one-shot LPs are not interrupted.
    """
    time_limit = _check_time_limit(time_limit)
    deadline = math.inf if time_limit is None else time.monotonic() + time_limit

    def remaining():
        return None if math.isinf(deadline) else max(0.0, deadline - time.monotonic())

    reason = "converged"
    if agent_policy is None:
        br = agent_best_response(mdp, policy, time_limit=remaining())
        agent_policy, reason = br.policy, br.reason
    ev = evaluate(mdp, policy, agent_policy, time_limit=remaining())
    if reason == "converged":
        reason = ev.reason
    S = mdp.n_states
    states = np.arange(S)
    if mdp.horizon is None:
        backup = spe_backup(mdp, states, ev.principal_value, ev.agent_value)
        principal_gain = backup.principal_value - ev.principal_value
        q = _agent_q(mdp, policy.contract, ev.agent_value)
        agent_gain = q.max(axis=1) - q[states, ev.agent_policy]
        reachable = _reached(mdp, ev.agent_policy)
    else:
        H = mdp.horizon
        principal_gain, agent_gain = np.zeros((H, S)), np.zeros((H, S))
        zeros = np.zeros(S)
        pol = ev.agent_policy if ev.agent_policy.ndim == 2 else np.broadcast_to(ev.agent_policy, (H, S))
        for t in range(H):
            vp_next = ev.principal_value[t + 1] if t + 1 < H else zeros
            va_next = ev.agent_value[t + 1] if t + 1 < H else zeros
            backup = spe_backup(mdp, states, vp_next, va_next)
            principal_gain[t] = backup.principal_value - ev.principal_value[t]
            q = _agent_q(mdp, policy.at_step(t)[1], va_next)
            agent_gain[t] = q.max(axis=1) - q[states, pol[t]]
        reachable = np.ones((H, S), dtype=bool)
    for arr in (principal_gain, agent_gain, reachable):
        arr.setflags(write=False)
    return SPEGap(principal_gain, agent_gain, reachable, reason == "converged", reason)
