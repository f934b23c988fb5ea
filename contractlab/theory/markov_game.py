"""Finite-horizon, deterministic Markov games on a finite state set, with tabular policies.

The common form of the games an incentive designer acts on (Yang, Wang, Trivedi, Zhao, Zha,
*Adaptive Incentive Design with Multi-Agent Meta-Gradient Reinforcement Learning*, AAMAS 2022,
arXiv 2112.10859, Section 3): ``n`` agents, a state set ``{0, ..., S-1}``, at every step each
agent ``i`` picks one of ``K_i`` actions, the joint action ``a`` (an index into the product of
the action sets, agent 0 most significant, as :func:`numpy.ravel_multi_index`) gives every agent
a reward ``r_i(s, a)`` and moves the game to ``next_state[s, a]`` (``-1``: the episode ends). An
episode starts at ``initial_state`` and lasts at most ``horizon`` steps. A normal-form game is
the case ``S = 1``, ``horizon = 1``.

Agent ``i`` sees ``observations[i, s]`` (an index into its own observation set; by default the
state itself) and plays a stationary policy ``policy_i[o] ∈ Δ(K_i)``, as the tabular agents of
the paper's Escape Room. :func:`evaluate` gives each agent's exact expected return by forward
dynamic programming over the state distribution of every step, the reference that sampled runs
and learned designers are judged against.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import InvalidInstanceError
from .validation import as_float_array

#: Tolerance on a policy row summing to one.
POLICY_SUM_TOL = 1e-9


@dataclass(frozen=True, eq=False)
class TabularMarkovGame:
    """A validated, immutable finite-horizon deterministic Markov game.

    Parameters
    ----------
    n_actions:
        ``(K_0, ..., K_{n-1})``, each at least 1.
    next_state:
        Integer array ``(S, A)``, ``A = prod(K_i)``; ``-1`` ends the episode.
    rewards:
        ``(S, A, n)``: ``rewards[s, a, i]`` is agent ``i``'s reward for joint action ``a`` in ``s``.
    initial_state:
        The state every episode starts in.
    horizon:
        The largest number of steps of an episode (at least 1).
    observations:
        Optional integer array ``(n, S)``: what agent ``i`` observes in state ``s``; default: the
        state (every agent sees ``s``).
    """

    n_actions: tuple[int, ...]
    next_state: np.ndarray
    rewards: np.ndarray
    initial_state: int = 0
    horizon: int = 1
    observations: np.ndarray | None = None

    def __post_init__(self) -> None:
        ks = tuple(int(k) for k in self.n_actions)
        if not ks or min(ks) < 1:
            raise InvalidInstanceError("n_actions", f"needs at least one agent with at least one action, got {ks}")
        n, A = len(ks), int(np.prod(ks))
        nxt = np.asarray(self.next_state)
        if nxt.ndim != 2 or nxt.shape[1] != A or not np.issubdtype(nxt.dtype, np.integer):
            raise InvalidInstanceError("next_state", f"must be an integer array (S, {A}), got shape {nxt.shape}")
        S = nxt.shape[0]
        if S < 1:
            raise InvalidInstanceError("next_state", "needs at least one state")
        bad = np.argwhere((nxt < -1) | (nxt >= S))
        if bad.size:
            raise InvalidInstanceError("next_state", f"{int(nxt[tuple(bad[0])])} is not a state or -1",
                                       tuple(int(i) for i in bad[0]))
        r = as_float_array("rewards", self.rewards, 3)
        if r.shape != (S, A, n):
            raise InvalidInstanceError("rewards", f"must have shape {(S, A, n)}, got {r.shape}")
        if not 0 <= int(self.initial_state) < S:
            raise InvalidInstanceError("initial_state", f"must be a state in [0, {S}), got {self.initial_state}")
        if int(self.horizon) < 1:
            raise InvalidInstanceError("horizon", f"must be at least 1, got {self.horizon}")
        obs = np.tile(np.arange(S), (n, 1)) if self.observations is None else np.asarray(self.observations)
        if obs.shape != (n, S) or not np.issubdtype(obs.dtype, np.integer) or obs.min() < 0:
            raise InvalidInstanceError("observations", f"must be non-negative integers of shape {(n, S)}")
        nxt = nxt.astype(np.int64)
        obs = obs.astype(np.int64)
        for arr in (nxt, r, obs):
            arr.setflags(write=False)
        object.__setattr__(self, "n_actions", ks)
        object.__setattr__(self, "next_state", nxt)
        object.__setattr__(self, "rewards", r)
        object.__setattr__(self, "initial_state", int(self.initial_state))
        object.__setattr__(self, "horizon", int(self.horizon))
        object.__setattr__(self, "observations", obs)

    @property
    def n_agents(self) -> int:
        return len(self.n_actions)

    @property
    def n_states(self) -> int:
        return self.next_state.shape[0]

    @property
    def n_joint_actions(self) -> int:
        return self.next_state.shape[1]

    def n_observations(self, agent: int) -> int:
        """Size of agent ``agent``'s observation set (largest observation index + 1)."""
        return int(self.observations[agent].max()) + 1

    def joint_actions(self) -> np.ndarray:
        """``(A, n)``: the agents' actions in each joint action (agent 0 most significant)."""
        return np.stack(np.unravel_index(np.arange(self.n_joint_actions), self.n_actions), axis=1)

    def joint_index(self, actions: np.ndarray) -> np.ndarray:
        """Joint-action index of per-agent actions ``(..., n)``."""
        actions = np.asarray(actions)
        return np.ravel_multi_index(tuple(np.moveaxis(actions, -1, 0)), self.n_actions)


def check_policies(game: TabularMarkovGame, policies) -> list[np.ndarray]:
    """Validate one policy per agent: ``policies[i]`` of shape ``(n_observations(i), K_i)``,
    rows on the simplex (within :data:`POLICY_SUM_TOL`)."""
    if len(policies) != game.n_agents:
        raise InvalidInstanceError("policies", f"needs one policy per agent ({game.n_agents}), got {len(policies)}")
    out = []
    for i, pol in enumerate(policies):
        p = as_float_array(f"policies[{i}]", pol, 2)
        want = (game.n_observations(i), game.n_actions[i])
        if p.shape != want:
            raise InvalidInstanceError(f"policies[{i}]", f"must have shape {want}, got {p.shape}")
        if p.min() < 0 or np.abs(p.sum(axis=1) - 1).max() > POLICY_SUM_TOL:
            raise InvalidInstanceError(f"policies[{i}]", "every row must be a probability distribution")
        out.append(p)
    return out


def joint_policy(game: TabularMarkovGame, policies) -> np.ndarray:
    """``(S, A)``: the probability of every joint action in every state, the product of the
    agents' independent choices ``prod_i policy_i[obs_i(s), a_i]``."""
    pols = check_policies(game, policies)
    acts = game.joint_actions()
    out = np.ones((game.n_states, game.n_joint_actions))
    for i, p in enumerate(pols):
        out *= p[game.observations[i]][:, acts[:, i]]
    return out


def state_distributions(game: TabularMarkovGame, policies) -> np.ndarray:
    """``(H, S)``: the probability that the episode is in state ``s`` at step ``t`` (rows sum to
    the probability that step ``t`` is played; the mass of ended episodes is dropped)."""
    pi = joint_policy(game, policies)
    H, S = game.horizon, game.n_states
    d = np.zeros((H, S))
    d[0, game.initial_state] = 1.0
    live = game.next_state >= 0
    for t in range(H - 1):
        flow = d[t][:, None] * pi
        np.add.at(d[t + 1], game.next_state[live], flow[live])
    return d


def evaluate(game: TabularMarkovGame, policies) -> np.ndarray:
    """``(n,)``: each agent's exact expected (undiscounted) return over one episode,
    ``sum_t sum_s d_t(s) sum_a pi(a|s) r_i(s, a)``."""
    pi = joint_policy(game, policies)
    d = state_distributions(game, policies)
    return np.einsum("ts,sa,sai->i", d, pi, game.rewards)


def sample_episodes(game: TabularMarkovGame, policies, n_episodes: int, rng: np.random.Generator):
    """Play ``n_episodes`` independent episodes at once.

    Returns ``(states, actions, rewards, alive)``: ``states (B, H)`` (``-1`` after the end),
    per-agent ``actions (B, H, n)``, ``rewards (B, H, n)`` (0 after the end) and the boolean mask
    ``alive (B, H)`` of steps that were played.
    """
    pols = check_policies(game, policies)
    B, H, n = int(n_episodes), game.horizon, game.n_agents
    states = np.full((B, H), -1, dtype=np.int64)
    actions = np.zeros((B, H, n), dtype=np.int64)
    rewards = np.zeros((B, H, n))
    s = np.full(B, game.initial_state, dtype=np.int64)
    cum = [np.cumsum(p, axis=1) for p in pols]
    for t in range(H):
        alive = s >= 0
        if not alive.any():
            break
        states[:, t] = s
        sa = np.where(alive, s, 0)
        for i in range(n):
            c = cum[i][game.observations[i, sa]]
            u = rng.random(B)
            actions[:, t, i] = np.minimum((u[:, None] >= c).sum(axis=1), game.n_actions[i] - 1)
        a = game.joint_index(actions[:, t])
        rewards[:, t] = np.where(alive[:, None], game.rewards[sa, a], 0.0)
        s = np.where(alive, game.next_state[sa, a], -1)
    return states, actions, rewards, states >= 0
