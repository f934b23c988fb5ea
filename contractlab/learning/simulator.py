"""Many episodes of a principal-agent MDP stepped in lockstep (Ivanov et al., arXiv 2407.18074,
Section 3): the principal offers a contract, the agent acts, an outcome is drawn, both are paid,
the state moves. Used by every learner; one call steps ``n_envs`` episodes with numpy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..theory.errors import InvalidInstanceError
from ..theory.pamdp import PrincipalAgentMDP


@dataclass(frozen=True, eq=False)
class Transition:
    """One lockstep step of ``N`` episodes (arrays of length ``N``; ``contract`` is ``(N, K)``).

    ``next_state`` is ``-1`` where the episode ended (``done``); ``step`` is the time step
    ``t`` at which ``state`` was visited (0 at the initial state). The agent's total reward of
    the step is ``agent_reward + payment``; the principal's is ``principal_reward − payment``.
    """

    state: np.ndarray
    step: np.ndarray
    action: np.ndarray
    contract: np.ndarray
    outcome: np.ndarray
    agent_reward: np.ndarray
    principal_reward: np.ndarray
    payment: np.ndarray
    next_state: np.ndarray
    done: np.ndarray


class Simulator:
    """``n_envs`` independent episodes of ``mdp`` from ``mdp.initial_state``, restarted when they end.

    An episode ends at a terminal transition (``next_state == -1`` or an all-zero row of
    ``transitions``) or after ``mdp.horizon`` steps. Draws come from ``numpy.random.default_rng(seed)``
    only, so equal seeds give equal trajectories.
    """

    def __init__(self, mdp: PrincipalAgentMDP, n_envs: int = 8, seed=0):
        if isinstance(n_envs, bool) or not isinstance(n_envs, (int, np.integer)) or n_envs < 1:
            raise InvalidInstanceError("n_envs", f"must be an integer >= 1, got {n_envs!r}")
        self.mdp = mdp
        self.n_envs = int(n_envs)
        self.rng = np.random.default_rng(seed)
        self.state = np.full(self.n_envs, mdp.initial_state, dtype=np.int64)
        self.step_count = np.zeros(self.n_envs, dtype=np.int64)
        self._cdf_outcome = np.cumsum(mdp.outcome_probs, axis=2)
        self._cdf_next = None if mdp.transitions is None else np.cumsum(mdp.transitions, axis=2)

    def _draw(self, cdf: np.ndarray) -> np.ndarray:
        """Index of the first entry of each row's CDF above a uniform draw (clipped to the row)."""
        u = self.rng.random(cdf.shape[0])[:, None] * cdf[:, -1:]
        return np.minimum((cdf <= u).sum(axis=1), cdf.shape[1] - 1)

    def step(self, action, contract) -> Transition:
        """Step every episode: the agent takes ``action[i]`` under ``contract[i]`` (``(N, K)``, ``>= 0``)."""
        mdp = self.mdp
        N, K = self.n_envs, mdp.n_outcomes
        action = np.asarray(action, dtype=np.int64)
        contract = np.asarray(contract, dtype=np.float64)
        if action.shape != (N,) or ((action < 0) | (action >= mdp.n_actions)).any():
            raise InvalidInstanceError("action", f"expected {N} actions in [0, {mdp.n_actions})")
        if contract.shape != (N, K) or not np.isfinite(contract).all() or (contract < 0).any():
            raise InvalidInstanceError("contract", f"expected finite payments >= 0 of shape {(N, K)}")
        s, t = self.state.copy(), self.step_count.copy()
        outcome = self._draw(self._cdf_outcome[s, action])
        if mdp.next_state is not None:
            nxt = mdp.next_state[s, outcome].copy()
        else:
            cdf = self._cdf_next[s, outcome]
            nxt = np.where(cdf[:, -1] > 0, self._draw(cdf), -1)
        if mdp.horizon is not None:
            nxt[t + 1 >= mdp.horizon] = -1
        done = nxt < 0
        payment = contract[np.arange(N), outcome]
        tr = Transition(state=s, step=t, action=action, contract=contract, outcome=outcome,
                        agent_reward=mdp.agent_rewards[s, action], principal_reward=mdp.principal_rewards[s, outcome],
                        payment=payment, next_state=nxt, done=done)
        self.state = np.where(done, mdp.initial_state, nxt)
        self.step_count = np.where(done, 0, t + 1)
        return tr
