"""Escape Room ER(N, M): the sequential social dilemma of the meta-gradient incentive designer.

Yang, Wang, Trivedi, Zhao, Zha, *Adaptive Incentive Design with Multi-Agent Meta-Gradient
Reinforcement Learning* (AAMAS 2022, arXiv 2112.10859), Section 5.1 and Figure 2; first in Yang et
al., *Learning to Incentivize Other Learning Agents* (LIO, NeurIPS 2020, arXiv 2006.06051),
Section 5.1. The rules below are those of the authors' code, GitHub ``011235813/metagradient-
incentive-design``, ``incentive_design/env/escape_room.py`` and ``incentive_design/env/
room_agent.py`` (commit ``c4ad680``; the same rules as ``011235813/lio``, ``lio/env/
room_symmetric.py``):

* ``N`` agents, three positions: lever (:data:`LEVER` = 0), start (:data:`START` = 1), door
  (:data:`DOOR` = 2); every agent starts at start.
* An agent's action is the position it moves to.
* The door is open on a step where at least ``M`` agents' *actions* are "lever" (``get_door_status``).
* Reward of each agent, computed before anyone moves, first rule that applies
  (``calc_reward``): ``+10`` (:data:`DOOR_REWARD`) if the door is open and its action is "door";
  ``0`` if its action equals its position; ``-1`` (:data:`MOVE_COST`) otherwise.
* Then every agent moves to its action; the episode ends if the door was open and some agent is
  now at the door, or after ``max_steps`` (the authors' ``config.env.max_steps = 5``) steps.

The authors' option ``randomize`` (uniform random start positions; ``False`` in their configs) is
:meth:`EscapeRoom.reset` with a generator. Observations: agent ``i`` sees the one-hot positions of
itself first and then of the other agents in index order, ``3 N`` numbers (``room_agent.get_obs``);
the designer sees the one-hot positions of all agents in index order (``get_obs``'s central
observation). The LIO version appends the incentives each agent gave to the others; the
meta-gradient version, followed here, does not.

This module is the vectorised core: :meth:`EscapeRoom.step` steps a batch of ``B`` episodes at
once with no Python loop over episodes or agents, and is deterministic given the actions (the
only randomness is the optional random start, from a :class:`numpy.random.Generator`).
:func:`escape_room_game` is the same game as a :class:`~contractlab.theory.markov_game.
TabularMarkovGame` on the joint positions, for the exact solvers. It imports only numpy; the
PettingZoo wrapper is :mod:`contractlab.envs.escape_room`.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass

import numpy as np

from .errors import InvalidInstanceError
from .fileio import FileKind, register_kind, require_fields
from .markov_game import TabularMarkovGame

#: Position (and action) indices, as in the authors' code.
LEVER, START, DOOR = 0, 1, 2
#: Number of positions (= actions per agent).
N_POSITIONS = 3
#: Reward of an agent whose action is "door" on a step where the door is open.
DOOR_REWARD = 10.0
#: Cost of a move (an action different from the agent's position) that does not earn the door reward.
MOVE_COST = 1.0
#: The authors' episode length (``config.env.max_steps``).
DEFAULT_MAX_STEPS = 5
#: Largest number of agents: the joint positions (``3^N`` states, the observation set of a tabular
#: agent that sees everyone) must stay at most ``3^10 = 59049``.
MAX_AGENTS = 10
MAX_JOINT_STATES = N_POSITIONS ** MAX_AGENTS
#: Largest reward table ``S x A x N = 9^N N`` that :func:`escape_room_game` builds (float64,
#: 32 MB): ``N <= 6``.
MAX_GAME_ENTRIES = 4_000_000


def _int(field: str, value, low: int, high: int | None = None) -> int:
    if isinstance(value, (bool, np.bool_)):
        raise InvalidInstanceError(field, f"must be an integer, got {value!r}")
    try:
        v = operator.index(value)
    except TypeError:
        raise InvalidInstanceError(field, f"must be an integer, got {value!r}") from None
    if v < low or (high is not None and v > high):
        rng = f"[{low}, {high}]" if high is not None else f">= {low}"
        raise InvalidInstanceError(field, f"must be in {rng}, got {v}")
    return int(v)


def optimal_welfare(n_agents: int, min_at_lever: int) -> float:
    """The largest total reward of the ``N`` agents in one episode of ER(N, M) (any ``max_steps >= 1``):
    ``max(0, 10 (N − M) − M)``.

    The paper's value ``10 (N − M) − M`` (arXiv 2112.10859, Section 5.1): on the first step ``M``
    agents go to the lever (``−1`` each) and the other ``N − M`` to the door (``+10`` each), and the
    episode ends. No episode does better: an agent earns ``+10`` at most once (the episode ends on
    that step), on a step where at least ``M`` actions are "lever", so at most ``N − M`` agents earn
    it, and each of the ``>= M`` agents at the lever then paid ``−1`` on the move that took it
    there from the start. An episode where nobody reaches an open door earns at most ``0`` (all
    stay at the start). So the optimum is ``10 (N − M) − M`` exactly when that is ``>= 0``, i.e.
    ``M <= 10 N / 11``; for every ``M < N <= 11`` it is; for ``M = N`` the door never opens with an
    agent at it and the optimum is ``0``, not the formula's ``−N``.
    """
    n = _int("n_agents", n_agents, 1)
    m = _int("min_at_lever", min_at_lever, 1, n)
    return float(max(0.0, DOOR_REWARD * (n - m) - MOVE_COST * m))


@dataclass(frozen=True, eq=False)
class EpisodeBatch:
    """``B`` episodes played by :meth:`EscapeRoom.play`.

    Attributes
    ----------
    positions:
        ``(B, T, N)`` positions before each step (kept as they were after the end).
    actions:
        ``(B, T, N)`` the actions given (also after the end, where they are ignored).
    rewards:
        ``(B, T, N)`` rewards; 0 on steps after the episode ended.
    alive:
        ``(B, T)`` bool: step ``t`` was played.
    """

    positions: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    alive: np.ndarray

    @property
    def returns(self) -> np.ndarray:
        """``(B, N)`` each agent's total reward."""
        return self.rewards.sum(axis=1)

    @property
    def welfare(self) -> np.ndarray:
        """``(B,)`` the agents' total reward."""
        return self.rewards.sum(axis=(1, 2))


@dataclass(frozen=True)
class EscapeRoom:
    """ER(N, M) with episodes of at most ``max_steps`` steps (see the module docstring).

    Parameters
    ----------
    n_agents:
        ``N``, in ``[1,`` :data:`MAX_AGENTS` ``]``.
    min_at_lever:
        ``M``, in ``[1, N]``: the door opens on a step where at least ``M`` actions are "lever".
    max_steps:
        Episode length limit, at least 1 (default :data:`DEFAULT_MAX_STEPS`).
    """

    n_agents: int
    min_at_lever: int
    max_steps: int = DEFAULT_MAX_STEPS

    def __post_init__(self) -> None:
        n = _int("n_agents", self.n_agents, 1, MAX_AGENTS)
        object.__setattr__(self, "n_agents", n)
        object.__setattr__(self, "min_at_lever", _int("min_at_lever", self.min_at_lever, 1, n))
        object.__setattr__(self, "max_steps", _int("max_steps", self.max_steps, 1))

    # ------------------------------------------------------------------ episodes

    def reset(self, batch: int, rng: np.random.Generator | None = None) -> np.ndarray:
        """``(batch, N)`` int8 start positions: everyone at :data:`START`; with ``rng``, uniform
        independent positions instead (the authors' ``randomize=True``)."""
        b = _int("batch", batch, 0)
        if rng is None:
            return np.full((b, self.n_agents), START, dtype=np.int8)
        return rng.integers(0, N_POSITIONS, size=(b, self.n_agents), dtype=np.int8)

    def door_open(self, actions: np.ndarray) -> np.ndarray:
        """``(B,)`` bool: at least ``M`` of the actions ``(B, N)`` are "lever"."""
        return np.count_nonzero(actions == LEVER, axis=1) >= self.min_at_lever

    def step(self, positions, actions, steps, *, check: bool = True):
        """One step of ``B`` episodes at once.

        Parameters
        ----------
        positions, actions:
            Integer arrays ``(B, N)`` with entries in ``{0, 1, 2}``.
        steps:
            The number of steps each episode has already played: an integer or ``(B,)``.
        check:
            Validate shapes and values (default); ``False`` skips it for speed.

        Returns
        -------
        rewards:
            ``(B, N)`` float64, by the rules of the module docstring.
        new_positions:
            ``(B, N)``, the actions (a copy, in ``positions``' dtype).
        done:
            ``(B,)`` bool: the door was open and an agent is now at the door, or this was step
            ``max_steps``.
        """
        if check:
            positions, actions, steps = self._check_step(positions, actions, steps)
        at_door = actions == DOOR
        opened = self.door_open(actions)
        rewards = np.where(at_door & opened[:, None], DOOR_REWARD,
                           np.where(actions != positions, -MOVE_COST, 0.0))
        done = (opened & at_door.any(axis=1)) | (np.asarray(steps) + 1 >= self.max_steps)
        return rewards, actions.astype(positions.dtype, copy=True), done

    def _check_step(self, positions, actions, steps):
        positions = np.asarray(positions)
        actions = np.asarray(actions)
        for field, arr in (("positions", positions), ("actions", actions)):
            if arr.ndim != 2 or arr.shape[1] != self.n_agents or not np.issubdtype(arr.dtype, np.integer):
                raise InvalidInstanceError(field, f"must be an integer array (B, {self.n_agents}), "
                                                  f"got {arr.dtype} {arr.shape}")
            if arr.size and (arr.min() < 0 or arr.max() >= N_POSITIONS):
                bad = np.argwhere((arr < 0) | (arr >= N_POSITIONS))[0]
                raise InvalidInstanceError(field, f"{int(arr[tuple(bad)])} is not a position (0, 1, 2)",
                                           tuple(int(i) for i in bad))
        if positions.shape != actions.shape:
            raise InvalidInstanceError("actions", f"must have the shape of positions {positions.shape}, "
                                                  f"got {actions.shape}")
        steps = np.asarray(steps)
        if not np.issubdtype(steps.dtype, np.integer) or steps.shape not in ((), (len(positions),)) \
                or (steps.size and steps.min() < 0):
            raise InvalidInstanceError("steps", f"must be a non-negative integer or ({len(positions)},)")
        return positions, actions, steps

    def play(self, actions, positions=None) -> EpisodeBatch:
        """Play ``B`` episodes of given actions ``(B, T, N)``, ``T <= max_steps``, from
        ``positions`` (default: everyone at the start); steps after an episode's end are not played.
        A loop over the ``T`` steps only."""
        actions = np.asarray(actions)
        if actions.ndim != 3 or actions.shape[2] != self.n_agents or not 1 <= actions.shape[1] <= self.max_steps:
            raise InvalidInstanceError("actions", f"must be (B, T, {self.n_agents}) with 1 <= T <= "
                                                  f"{self.max_steps}, got {actions.shape}")
        B, T, N = actions.shape
        pos = self.reset(B) if positions is None else np.asarray(positions)
        all_pos = np.empty((B, T, N), dtype=pos.dtype)
        rewards = np.zeros((B, T, N))
        alive = np.zeros((B, T), dtype=bool)
        live = np.ones(B, dtype=bool)
        for t in range(T):
            all_pos[:, t] = pos
            alive[:, t] = live
            r, new, done = self.step(pos, actions[:, t], t)
            rewards[:, t] = np.where(live[:, None], r, 0.0)
            pos = np.where(live[:, None], new, pos)
            live &= ~done
        return EpisodeBatch(all_pos, actions, rewards, alive)

    # ------------------------------------------------------------------ observations

    def observations(self, positions, dtype=np.float32) -> np.ndarray:
        """``(B, N, 3N)``: agent ``i``'s observation, the one-hot position of ``i`` and then of the
        other agents in index order (the authors' ``room_agent.get_obs``)."""
        positions = np.asarray(positions)
        n = self.n_agents
        onehot = np.eye(N_POSITIONS, dtype=dtype)[positions]                   # (B, N, 3)
        order = np.array([[i] + [j for j in range(n) if j != i] for i in range(n)])
        return onehot[:, order].reshape(len(positions), n, N_POSITIONS * n)

    def central_observation(self, positions, dtype=np.float32) -> np.ndarray:
        """``(B, 3N)``: the one-hot positions of all agents in index order (the designer's view)."""
        positions = np.asarray(positions)
        return np.eye(N_POSITIONS, dtype=dtype)[positions].reshape(len(positions), N_POSITIONS * self.n_agents)

    # ------------------------------------------------------------------ joint states

    @property
    def n_joint_states(self) -> int:
        """``3^N``."""
        return N_POSITIONS ** self.n_agents

    def state_index(self, positions) -> np.ndarray:
        """Index of joint positions ``(..., N)`` among ``3^N`` (agent 0 most significant, as the joint
        actions of :class:`~contractlab.theory.markov_game.TabularMarkovGame`)."""
        weights = N_POSITIONS ** np.arange(self.n_agents - 1, -1, -1, dtype=np.int64)
        return np.asarray(positions, dtype=np.int64) @ weights

    def joint_positions(self, index) -> np.ndarray:
        """``(..., N)`` int64: the inverse of :meth:`state_index`."""
        return np.stack(np.unravel_index(np.asarray(index), (N_POSITIONS,) * self.n_agents), axis=-1)

    def optimal_welfare(self) -> float:
        """:func:`optimal_welfare` of this room."""
        return optimal_welfare(self.n_agents, self.min_at_lever)

    def as_markov_game(self) -> TabularMarkovGame:
        """:func:`escape_room_game` of this room."""
        return escape_room_game(self.n_agents, self.min_at_lever, self.max_steps)


def escape_room_game(n: int, m: int, max_steps: int = DEFAULT_MAX_STEPS) -> TabularMarkovGame:
    """ER(n, m) as a deterministic Markov game on the joint positions.

    States and joint actions are both the ``3^n`` joint positions (agent 0 most significant);
    ``rewards[s, a, i]`` is the reward rule of the module docstring with positions ``s`` and actions
    ``a``; ``next_state[s, a] = a`` (everyone moves to its action), or ``-1`` where the door is open
    under ``a`` and some action is "door"; ``horizon = max_steps`` is the step limit; the initial
    state is everyone at the start; every agent observes the state (the default). Refused above
    :data:`MAX_GAME_ENTRIES` reward entries (``n <= 6``).
    """
    room = EscapeRoom(n, m, max_steps)
    S = room.n_joint_states
    if S * S * n > MAX_GAME_ENTRIES:
        raise InvalidInstanceError("n_agents", f"ER({n}, {m}) as a Markov game has {S * S * n:,} reward "
                                               f"entries, above the limit {MAX_GAME_ENTRIES:,}")
    pos = room.joint_positions(np.arange(S))                       # (S, n): states and joint actions
    n_lever = (pos == LEVER).sum(axis=1)
    opened = n_lever >= m                                          # (A,)
    ends = opened & (pos == DOOR).any(axis=1)                      # (A,)
    moved = pos[None, :, :] != pos[:, None, :]                     # (S, A, n): action != position
    wins = (opened[:, None] & (pos == DOOR))[None, :, :]           # (1, A, n)
    rewards = np.where(wins, DOOR_REWARD, np.where(moved, -MOVE_COST, 0.0))
    next_state = np.where(ends[None, :], -1, np.arange(S)[None, :]).repeat(S, axis=0)
    start = int(room.state_index(np.full(n, START)))
    return TabularMarkovGame(n_actions=(N_POSITIONS,) * n, next_state=next_state.astype(np.int64),
                             rewards=rewards, initial_state=start, horizon=room.max_steps)


# --------------------------------------------------------------------------- file kind

def _room_from_dict(data: dict) -> EscapeRoom:
    require_fields(data, ("n_agents", "min_at_lever"), {"kind", "version", "n_agents", "min_at_lever", "max_steps"})
    return EscapeRoom(data["n_agents"], data["min_at_lever"], data.get("max_steps", DEFAULT_MAX_STEPS))


def _room_to_dict(room: EscapeRoom) -> dict:
    return {"kind": "escape_room", "version": 1, "n_agents": room.n_agents, "min_at_lever": room.min_at_lever,
            "max_steps": room.max_steps}


#: ``{"kind": "escape_room", "version": 1, "n_agents": N, "min_at_lever": M, "max_steps": 5}``.
register_kind(FileKind("escape_room", 1, EscapeRoom, _room_from_dict, _room_to_dict))
