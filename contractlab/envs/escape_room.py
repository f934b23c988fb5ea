"""Escape Room ER(N, M) as a PettingZoo ``ParallelEnv`` over the numpy core.

The rules, observations and their sources (Yang et al., arXiv 2112.10859, Section 5.1; the
authors' ``incentive_design/env/escape_room.py``) are in :mod:`contractlab.theory.escape_room`;
this wrapper steps that core with a batch of one episode. Agents are ``"agent_0"`` ...
``"agent_{N-1}"``; each has the action space ``Discrete(3)`` (0 lever, 1 start, 2 door) and the
observation space ``Box(0, 1, (3N,), float32)``: its own one-hot position, then the other agents'
in index order, as in the authors' code. :meth:`EscapeRoomEnv.state` is the designer's view, the
one-hot positions of all agents in index order.

The authors' single ``done`` is split the PettingZoo way: an episode that ends because the door
was open and an agent reached it is *terminated* (for every agent); one that reaches
``max_steps`` otherwise is *truncated*. ``infos[agent]["door_open"]`` says whether the door was
open on the step. Randomness: only the optional random start (``randomize=True``, the authors'
``config.env.randomize``), drawn from a generator seeded by ``reset(seed=...)``.
"""

from __future__ import annotations

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from ..theory.errors import InvalidInstanceError
from ..theory.escape_room import DEFAULT_MAX_STEPS, DOOR, N_POSITIONS, EscapeRoom


class EscapeRoomEnv(ParallelEnv):
    """ER(``n_agents``, ``min_at_lever``) with episodes of at most ``max_steps`` steps.

    ``render_mode`` must be ``None`` (no rendering).
    """

    metadata = {"name": "escape_room_v0", "render_modes": [], "is_parallelizable": True}

    def __init__(self, n_agents: int = 3, min_at_lever: int = 2, max_steps: int = DEFAULT_MAX_STEPS,
                 randomize: bool = False, render_mode: str | None = None):
        if render_mode is not None:
            raise InvalidInstanceError("render_mode", f"only None is supported, got {render_mode!r}")
        self.room = EscapeRoom(n_agents, min_at_lever, max_steps)
        self.randomize = bool(randomize)
        self.render_mode = None
        n = self.room.n_agents
        self.possible_agents = [f"agent_{i}" for i in range(n)]
        self.agents: list[str] = []
        width = N_POSITIONS * n
        self.observation_spaces = {a: spaces.Box(0.0, 1.0, (width,), np.float32) for a in self.possible_agents}
        self.action_spaces = {a: spaces.Discrete(N_POSITIONS) for a in self.possible_agents}
        self.state_space = spaces.Box(0.0, 1.0, (width,), np.float32)
        self._rng = np.random.default_rng()
        self._positions = self.room.reset(1)
        self._steps = 0

    def observation_space(self, agent: str) -> spaces.Box:
        return self.observation_spaces[agent]

    def action_space(self, agent: str) -> spaces.Discrete:
        return self.action_spaces[agent]

    def _observe(self) -> dict[str, np.ndarray]:
        obs = self.room.observations(self._positions)[0]
        return {a: obs[i] for i, a in enumerate(self.possible_agents)}

    def reset(self, seed: int | None = None, options: dict | None = None):
        """Start an episode; ``seed`` reseeds the generator of the random start."""
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        self._positions = self.room.reset(1, self._rng if self.randomize else None)
        self._steps = 0
        self.agents = list(self.possible_agents)
        return self._observe(), {a: {} for a in self.agents}

    def step(self, actions: dict):
        """Every live agent's action (0 lever, 1 start, 2 door) -> observations, rewards,
        terminations, truncations, infos, keyed by agent."""
        if not self.agents:
            raise InvalidInstanceError("actions", "the episode has ended: call reset() first")
        missing = [a for a in self.agents if a not in actions]
        if missing:
            raise InvalidInstanceError("actions", f"no action for {missing[0]}")
        acts = np.array([[actions[a] for a in self.possible_agents]])
        if not np.issubdtype(acts.dtype, np.integer):
            raise InvalidInstanceError("actions", f"must be integers in [0, {N_POSITIONS}), got {acts[0].tolist()}")
        rewards, positions, done = self.room.step(self._positions, acts, self._steps)
        opened = bool(self.room.door_open(acts)[0])
        self._positions = positions
        self._steps += 1
        terminated = bool(done[0]) and opened and bool((acts == DOOR).any())
        truncated = bool(done[0]) and not terminated
        agents = self.agents
        obs = self._observe()
        rew = {a: float(rewards[0, i]) for i, a in enumerate(self.possible_agents)}
        terms = {a: terminated for a in agents}
        truncs = {a: truncated for a in agents}
        infos = {a: {"door_open": opened} for a in agents}
        if terminated or truncated:
            self.agents = []
        return obs, rew, terms, truncs, infos

    def state(self) -> np.ndarray:
        """``(3N,)`` float32: the one-hot positions of all agents in index order."""
        return self.room.central_observation(self._positions)[0]

    def render(self) -> None:
        """No rendering (``render_mode`` is always ``None``)."""
        return None

    def close(self) -> None:
        pass


def parallel_env(**kwargs) -> EscapeRoomEnv:
    """The PettingZoo-style constructor: ``parallel_env(n_agents=3, min_at_lever=2, ...)``."""
    return EscapeRoomEnv(**kwargs)
