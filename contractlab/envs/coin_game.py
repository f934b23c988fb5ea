"""The Coin Game as a PettingZoo ``ParallelEnv`` over the numpy core.

The rules and their sources (Ivanov et al., arXiv 2407.18074, Section 5 and Appendix D.2; the
RLlib / LOLA / JaxMARL games) are in :mod:`contractlab.theory.coin_game`; this wrapper steps that
core with a batch of one game. Agents are ``"agent_0"`` (red) and ``"agent_1"`` (blue); each has
the action space ``Discrete(5)`` (``Discrete(4)`` with ``stay=False``: 0 up, 1 down, 2 left,
3 right, 4 stay) and the observation space ``Box(0, 1, (4, grid, grid), uint8)``: the egocentric
planes of :meth:`~contractlab.theory.coin_game.CoinGame.observations` (own cell, other's cell,
coin of one's colour, coin of the other's colour). :meth:`CoinGameEnv.state` is the index of the
full state (:meth:`~contractlab.theory.coin_game.CoinGame.state_index`) as a ``(1,)`` int64 array.

An episode ends after ``horizon`` steps; the time limit is reported as *truncation* for both
agents (nothing terminates the game earlier). ``infos[agent]["picked"]`` says whether the agent
picked up the coin on the step. Randomness: one generator, seeded by ``reset(seed=...)``.
"""

from __future__ import annotations

import numpy as np

try:
    from gymnasium import spaces
    from pettingzoo import ParallelEnv
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError('contractlab.envs.coin_game needs gymnasium and pettingzoo: pip install "contractlab[envs]"',
                      name=getattr(exc, "name", None)) from exc

from ..theory.coin_game import CoinGame
from ..theory.errors import InvalidInstanceError


class CoinGameEnv(ParallelEnv):
    """The Coin Game (``CoinGame(grid, horizon, payoff, payoff_matrix, stay, simultaneous)``) for
    PettingZoo.

    ``render_mode`` must be ``None`` (no rendering).
    """

    metadata = {"name": "coin_game_v0", "render_modes": [], "is_parallelizable": True}

    def __init__(self, grid: int = 3, horizon: int | None = None, payoff: str = "paper", payoff_matrix=None,
                 stay: bool = True, simultaneous: str = "both", render_mode: str | None = None):
        if render_mode is not None:
            raise InvalidInstanceError("render_mode", f"only None is supported, got {render_mode!r}")
        self.game = CoinGame(grid=grid, horizon=horizon, payoff=payoff, payoff_matrix=payoff_matrix, stay=stay,
                             simultaneous=simultaneous)
        self.render_mode = None
        self.possible_agents = ["agent_0", "agent_1"]
        self.agents: list[str] = []
        g = self.game.grid
        self.observation_spaces = {a: spaces.Box(0, 1, (4, g, g), np.uint8) for a in self.possible_agents}
        self.action_spaces = {a: spaces.Discrete(self.game.n_actions) for a in self.possible_agents}
        self.state_space = spaces.Box(0, self.game.n_states - 1, (1,), np.int64)
        self._rng = np.random.default_rng()
        self._state = self.game.reset(1, self._rng)

    def observation_space(self, agent: str) -> spaces.Box:
        return self.observation_spaces[agent]

    def action_space(self, agent: str) -> spaces.Discrete:
        return self.action_spaces[agent]

    def _observe(self) -> dict[str, np.ndarray]:
        obs = self.game.observations(self._state)[0]
        return {a: obs[i] for i, a in enumerate(self.possible_agents)}

    def reset(self, seed: int | None = None, options: dict | None = None):
        """Start an episode; ``seed`` reseeds the generator (start and respawns)."""
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        self._state = self.game.reset(1, self._rng)
        self.agents = list(self.possible_agents)
        return self._observe(), {a: {} for a in self.agents}

    def step(self, actions: dict):
        """Both agents' actions -> observations, rewards, terminations, truncations, infos."""
        if not self.agents:
            raise InvalidInstanceError("actions", "the episode has ended: call reset() first")
        missing = [a for a in self.agents if a not in actions]
        if missing:
            raise InvalidInstanceError("actions", f"no action for {missing[0]}")
        acts = np.array([[int(actions[a]) for a in self.possible_agents]], dtype=np.int64)
        self._state, rewards, picked = self.game.step(self._state, acts, self._rng)
        truncated = self.game.done(self._state)
        agents = self.agents
        obs = self._observe()
        rew = {a: float(rewards[0, i]) for i, a in enumerate(self.possible_agents)}
        terms = {a: False for a in agents}
        truncs = {a: truncated for a in agents}
        infos = {a: {"picked": bool(picked[0, i])} for i, a in enumerate(self.possible_agents)}
        if truncated:
            self.agents = []
        return obs, rew, terms, truncs, infos

    def state(self) -> np.ndarray:
        """``(1,)`` int64: the index of the full state."""
        return self.game.index_of(self._state).astype(np.int64)

    def render(self) -> None:
        """No rendering (``render_mode`` is always ``None``)."""
        return None

    def close(self) -> None:
        pass


def parallel_env(**kwargs) -> CoinGameEnv:
    """The PettingZoo-style constructor: ``parallel_env(grid=3, payoff="paper", ...)``."""
    return CoinGameEnv(**kwargs)
