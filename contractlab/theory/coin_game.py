"""The Coin Game: two agents, one coin at a time, a batched numpy core and a state index.

The sequential social dilemma of Lerer & Peysakhovich (arXiv 1707.01068) as popularised by
Foerster et al., *LOLA* (arXiv 1709.04326), in the form Ivanov et al., *Principal-Agent
Reinforcement Learning* (arXiv 2407.18074, Section 5 and Appendix D.2) use: they take the RLlib
Coin Game (``ray/rllib/examples/env/coin_game_non_vectorized_env.py``, contributed from
``longtermrisk/marltoolbox``) and change only the rewards. The rules below follow that code; each
choice is stated. (The paper's own text was read as quoted in the third-party reproduction
``Yixiang-Kenzo/RL_ContractTheory_Recreation``, ``notes/coin_game_spec.md``; no code was copied
from any source.)

Rules
-----
* **Grid.** ``grid x grid`` cells with **wrap-around** (a torus): every source (LOLA's
  ``lola/envs/coin_game.py``, the RLlib game, JaxMARL's ``coin_game.py``) moves by
  ``(pos + move) % grid``. A cell is ``row * grid + col``.
* **Actions.** ``0`` up (row − 1), ``1`` down (row + 1), ``2`` left (col − 1), ``3`` right
  (col + 1), ``4`` stay. The LOLA and RLlib games have only the four moves (``stay=False``
  here); JaxMARL and the issue add *stay*, the default. Both agents move at once; they may share
  a cell (no collisions, as in every source).
* **Coin.** One coin at a time, of agent 0's colour (*red*, ``colour = 0``) or agent 1's
  (*blue*, ``colour = 1``). After the move, an agent whose cell holds the coin picks it up.
  **If both do, both pick it up**: each gets its pick-up reward and the owner's penalty is
  applied for the other's pick-up (RLlib's default ``both_players_can_pick_the_same_coin=True``;
  JaxMARL does the same; LOLA's loop gives it to agent 0 only, which we do not copy). With
  ``simultaneous="random"`` it goes to one of them, each with probability 1/2 (RLlib's
  ``both_players_can_pick_the_same_coin=False``). *Beware:* under the paper's payoff a joint
  pick-up is worth ``1 + 0.2`` to welfare, more than the owner alone, so with ``"both"`` the
  welfare optimum walks the agents together and picks nearly every coin jointly.
* **Respawn.** After a pick-up a new coin appears at once, **uniformly at a cell occupied by
  neither agent** (after their move), and its **colour alternates** (RLlib and LOLA:
  ``red_coin = 1 − red_coin`` at each generation, the cell redrawn until it is free).
* **Start.** Agent 0 uniform over the cells, agent 1 uniform over the *other* cells, the colour
  uniform, the coin uniform over the cells neither agent occupies (RLlib's ``reset``).
* **Episodes** last ``horizon`` steps (20 on 3x3, 50 on 7x7, Appendix D.2), undiscounted here.

Rewards (``payoff``), as a ``(2, 3)`` matrix whose row ``i`` is ``[own, other, penalty]``:
agent ``i`` gets ``own`` for picking up a coin of its colour, ``other`` for picking up the other
agent's coin, and ``penalty`` when the other agent picks up ``i``'s coin (JaxMARL's
``payoff_matrix`` convention, ``[[rr, rb, r_penalty], [bb, br, b_penalty]]``).

* ``"paper"`` — ``[1, 0.2, 0]``: Ivanov et al. remove the penalty and pay 0.2 for the other's
  colour (Section 5).
* ``"classic"`` — ``[1, 1, −2]``: LOLA, Lerer & Peysakhovich.
* ``"jaxmarl"`` — the ``payoff_matrix`` given (default JaxMARL's ``[[1, 1, −2], [1, 1, −2]]``,
  which equals ``"classic"``). Only the payoff convention is taken from JaxMARL; its game has
  two coins on the board at once and respawns a coin anywhere, which we do not.

State index (any grid; the tabular solvers use 3x3)::

    index = ((p0 * C + p1) * C + coin) * 2 + colour,   C = grid²

so ``n_states = 2 C³`` (1458 on 3x3). It includes states that no episode reaches (the coin
under an agent); they are well defined (an agent that stays on the coin picks it up).

Randomness: only through a :class:`numpy.random.Generator`; :meth:`CoinGame.step` draws exactly
one uniform ``u`` per environment per step (used only where a coin is picked up: with
``simultaneous="random"`` and both agents on the coin, ``u < 1/2`` gives it to agent 0 and
``2u mod 1`` chooses the cell), so a seed gives bit-identical episodes for a given batch size.
Passing the uniforms ``u`` instead makes a step deterministic (the solvers' tests enumerate
respawns that way).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import InvalidInstanceError
from .fileio import FileKind, register_kind, require_fields

#: The moves of the actions, as ``(d_row, d_col)``: up, down, left, right, stay.
MOVES = np.array([[-1, 0], [1, 0], [0, -1], [0, 1], [0, 0]], dtype=np.int64)
ACTION_NAMES = ("up", "down", "left", "right", "stay")

#: Payoff rows ``[own, other, penalty]`` of the named conventions (module docstring).
PAYOFFS = {
    "paper": ((1.0, 0.2, 0.0), (1.0, 0.2, 0.0)),
    "classic": ((1.0, 1.0, -2.0), (1.0, 1.0, -2.0)),
    "jaxmarl": ((1.0, 1.0, -2.0), (1.0, 1.0, -2.0)),
}

#: Largest grid side accepted: the move table has ``grid² × 5`` entries and is built at once, so
#: a side that cannot fit is refused before anything is allocated (7x7 is the paper's largest).
MAX_GRID = 1024

#: Default episode lengths of Appendix D.2 by grid size.
PAPER_HORIZONS = {3: 20, 7: 50}


@dataclass(frozen=True, eq=False)
class CoinState:
    """The state of ``B`` games; arrays are ``(B,)`` except ``pos`` ``(B, 2)`` (cells of agents 0
    and 1). ``t`` is the number of steps taken (the same for the whole batch)."""

    pos: np.ndarray
    coin: np.ndarray
    colour: np.ndarray
    t: int = 0

    @property
    def batch(self) -> int:
        return self.coin.shape[0]


@dataclass(frozen=True, eq=False)
class CoinGame:
    """A validated Coin Game (module docstring).

    Parameters
    ----------
    grid:
        Side of the square grid, at least 2.
    horizon:
        Steps per episode, at least 1; default 20 on 3x3, 50 otherwise (Appendix D.2).
    payoff:
        ``"paper"``, ``"classic"`` or ``"jaxmarl"``.
    payoff_matrix:
        ``(2, 3)`` rows ``[own, other, penalty]``; only with ``payoff="jaxmarl"``.
    stay:
        Whether action 4 (*stay*) exists (default ``True``; the paper's RLlib game has no stay).
    simultaneous:
        ``"both"`` (default): a coin both agents reach is picked up by both; ``"random"``: by one
        of them, each with probability 1/2 (module docstring).
    """

    grid: int = 3
    horizon: int | None = None
    payoff: str = "paper"
    payoff_matrix: object = None
    stay: bool = True
    simultaneous: str = "both"

    def __post_init__(self) -> None:
        if isinstance(self.grid, bool) or not isinstance(self.grid, (int, np.integer)) or not 2 <= self.grid <= MAX_GRID:
            raise InvalidInstanceError("grid", f"must be an integer in [2, {MAX_GRID}], got {self.grid!r}")
        object.__setattr__(self, "grid", int(self.grid))
        h = PAPER_HORIZONS.get(self.grid, 50) if self.horizon is None else self.horizon
        if isinstance(h, bool) or not isinstance(h, (int, np.integer)) or h < 1:
            raise InvalidInstanceError("horizon", f"must be an integer >= 1, got {self.horizon!r}")
        object.__setattr__(self, "horizon", int(h))
        if self.payoff not in PAYOFFS:
            raise InvalidInstanceError("payoff", f"must be one of {sorted(PAYOFFS)}, got {self.payoff!r}")
        if self.payoff_matrix is not None and self.payoff != "jaxmarl":
            raise InvalidInstanceError("payoff_matrix", f"only with payoff='jaxmarl', not {self.payoff!r}")
        m = np.array(PAYOFFS[self.payoff] if self.payoff_matrix is None else self.payoff_matrix, dtype=float)
        if m.shape != (2, 3):
            raise InvalidInstanceError("payoff_matrix", f"must have shape (2, 3), got {m.shape}")
        bad = np.argwhere(~np.isfinite(m))
        if bad.size:
            raise InvalidInstanceError("payoff_matrix", "must be finite", tuple(int(i) for i in bad[0]))
        m.flags.writeable = False
        object.__setattr__(self, "payoff_matrix", m)
        object.__setattr__(self, "stay", bool(self.stay))
        if self.simultaneous not in ("both", "random"):
            raise InvalidInstanceError("simultaneous", f"must be 'both' or 'random', got {self.simultaneous!r}")
        C = self.n_cells
        rows, cols = np.divmod(np.arange(C), self.grid)
        mv = MOVES[: self.n_actions]
        g = self.grid
        table = ((rows[:, None] + mv[None, :, 0]) % g) * g + (cols[:, None] + mv[None, :, 1]) % g
        table.flags.writeable = False
        object.__setattr__(self, "move_table", table)

    # ---- sizes -------------------------------------------------------------------------------
    n_agents = 2

    @property
    def n_actions(self) -> int:
        return 5 if self.stay else 4

    @property
    def n_cells(self) -> int:
        return self.grid * self.grid

    @property
    def n_states(self) -> int:
        return 2 * self.n_cells ** 3

    # ---- state index -------------------------------------------------------------------------
    def state_index(self, pos0, pos1, coin, colour) -> np.ndarray:
        """The integer index of the full state (module docstring); arrays broadcast."""
        C = self.n_cells
        return ((np.asarray(pos0, dtype=np.int64) * C + pos1) * C + coin) * 2 + colour

    def decode(self, index) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(pos0, pos1, coin, colour)`` of state indices (the inverse of :meth:`state_index`)."""
        C = self.n_cells
        idx = np.asarray(index, dtype=np.int64)
        rest, colour = np.divmod(idx, 2)
        rest, coin = np.divmod(rest, C)
        pos0, pos1 = np.divmod(rest, C)
        return pos0, pos1, coin, colour

    def index_of(self, state: CoinState) -> np.ndarray:
        """``(B,)`` state indices of a batch."""
        return self.state_index(state.pos[:, 0], state.pos[:, 1], state.coin, state.colour)

    def from_index(self, index, t: int = 0) -> CoinState:
        """The batch of states with the given indices."""
        p0, p1, c, col = self.decode(np.atleast_1d(index))
        return CoinState(pos=np.stack([p0, p1], axis=1), coin=c, colour=col, t=int(t))

    # ---- dynamics ----------------------------------------------------------------------------
    def free_cell(self, pos0: np.ndarray, pos1: np.ndarray, u: np.ndarray) -> np.ndarray:
        """The cell chosen by uniforms ``u`` in ``[0, 1)`` uniformly among the cells occupied by
        neither agent: the ``floor(u · k)``-th free cell in increasing order (``k`` free cells)."""
        lo, hi = np.minimum(pos0, pos1), np.maximum(pos0, pos1)
        same = lo == hi
        k = self.n_cells - 2 + same
        c = np.minimum((u * k).astype(np.int64), k - 1)
        c = c + (c >= lo)
        return c + ((c >= hi) & ~same)

    def moves(self, pos0, pos1, coin, a0, a1):
        """The deterministic part of a step, for arrays that broadcast: the new cells and who
        reaches the coin. Returns ``(new0, new1, reach0, reach1)``."""
        new0 = self.move_table[pos0, a0]
        new1 = self.move_table[pos1, a1]
        return new0, new1, new0 == coin, new1 == coin

    def rewards(self, picked0, picked1, colour) -> np.ndarray:
        """``(..., 2)`` the rewards when agent 0 / agent 1 pick up (``picked0``, ``picked1``) a coin
        of ``colour`` (the payoff matrix of the module docstring)."""
        m = self.payoff_matrix
        red = colour == 0
        # agent 0: own if red, other's if blue; its penalty when agent 1 picks a red coin.
        r0 = picked0 * np.where(red, m[0, 0], m[0, 1]) + (picked1 & red) * m[0, 2]
        r1 = picked1 * np.where(red, m[1, 1], m[1, 0]) + (picked0 & ~red) * m[1, 2]
        return np.stack([r0, r1], axis=-1)

    def expected_rewards(self, reach0, reach1, colour) -> np.ndarray:
        """``(..., 2)`` the rewards in expectation over the tie rule: with
        ``simultaneous="random"`` a coin both reach goes to each agent with probability 1/2."""
        if self.simultaneous == "both":
            return self.rewards(reach0, reach1, colour)
        both = (reach0 & reach1)[..., None]
        split = 0.5 * (self.rewards(reach0, reach1 & False, colour) + self.rewards(reach0 & False, reach1, colour))
        return np.where(both, split, self.rewards(reach0, reach1, colour))

    def reset(self, batch: int, rng: np.random.Generator) -> CoinState:
        """``batch`` fresh games (start distribution in the module docstring)."""
        if isinstance(batch, bool) or not isinstance(batch, (int, np.integer)) or batch < 1:
            raise InvalidInstanceError("batch", f"must be an integer >= 1, got {batch!r}")
        C = self.n_cells
        u = rng.random((batch, 4))
        p0 = np.minimum((u[:, 0] * C).astype(np.int64), C - 1)
        p1 = np.minimum((u[:, 1] * (C - 1)).astype(np.int64), C - 2)
        p1 = p1 + (p1 >= p0)
        colour = (u[:, 2] < 0.5).astype(np.int64)
        coin = self.free_cell(p0, p1, u[:, 3])
        return CoinState(pos=np.stack([p0, p1], axis=1), coin=coin, colour=colour, t=0)

    def step(self, state: CoinState, actions, rng: np.random.Generator | None = None,
             u: np.ndarray | None = None):
        """One step of every game.

        Parameters
        ----------
        actions:
            Integer ``(B, 2)`` in ``[0, n_actions)``.
        rng, u:
            Either a generator (one uniform per game is drawn) or the uniforms ``(B,)`` in
            ``[0, 1)`` themselves, which choose the respawn cell (:meth:`free_cell`).

        Returns
        -------
        ``(state, rewards (B, 2), picked (B, 2) bool)``; ``state.t`` is one more. Stepping past
        the horizon is allowed (the caller decides when an episode ends; :meth:`done`).
        """
        a = np.asarray(actions)
        B = state.batch
        if a.shape != (B, 2) or not np.issubdtype(a.dtype, np.integer):
            raise InvalidInstanceError("actions",
                                       f"must be an integer array of shape {(B, 2)}, got {a.dtype} {a.shape}")
        if a.min() < 0 or a.max() >= self.n_actions:
            bad = np.argwhere((a < 0) | (a >= self.n_actions))[0]
            raise InvalidInstanceError("actions", f"must be in [0, {self.n_actions}), got {int(a[tuple(bad)])}",
                                       tuple(int(i) for i in bad))
        if u is None:
            if rng is None:
                raise InvalidInstanceError("rng", "give a numpy Generator or the uniforms u")
            u = rng.random(B)
        u = np.asarray(u, dtype=float)
        new0, new1, k0, k1 = self.moves(state.pos[:, 0], state.pos[:, 1], state.coin, a[:, 0], a[:, 1])
        if self.simultaneous == "random":
            both = k0 & k1
            first0 = u < 0.5
            k0, k1 = k0 & ~(both & ~first0), k1 & ~(both & first0)
            u = np.where(both, 2 * u - np.floor(2 * u), u)
        rew = self.rewards(k0, k1, state.colour)
        picked = k0 | k1
        coin = np.where(picked, self.free_cell(new0, new1, u), state.coin)
        colour = np.where(picked, 1 - state.colour, state.colour)
        nxt = CoinState(pos=np.stack([new0, new1], axis=1), coin=coin, colour=colour, t=state.t + 1)
        return nxt, rew, np.stack([k0, k1], axis=1)

    def done(self, state: CoinState) -> bool:
        """Whether the batch has played ``horizon`` steps."""
        return state.t >= self.horizon

    # ---- observations ------------------------------------------------------------------------
    def observations(self, state: CoinState) -> np.ndarray:
        """``(B, 2, 4, grid, grid)`` uint8 one-hot planes per agent, egocentric as in RLlib's
        ``_get_obs_invariant_to_the_player_trained``: own cell, the other's cell, a coin of one's
        own colour, a coin of the other's colour."""
        B, C = state.batch, self.n_cells
        obs = np.zeros((B, 2, 4, C), dtype=np.uint8)
        rows = np.arange(B)
        for i in range(2):
            obs[rows, i, 0, state.pos[:, i]] = 1
            obs[rows, i, 1, state.pos[:, 1 - i]] = 1
            mine = state.colour == i
            obs[rows, i, np.where(mine, 2, 3), state.coin] = 1
        return obs.reshape(B, 2, 4, self.grid, self.grid)

    def initial_distribution(self) -> np.ndarray:
        """``(n_states,)`` the probability of each state at the start (module docstring)."""
        C = self.n_cells
        p0, p1, c, col = self.decode(np.arange(self.n_states))
        ok = (p0 != p1) & (c != p0) & (c != p1)
        return np.where(ok, 1.0 / (C * (C - 1) * (C - 2) * 2), 0.0)


# ---- file kind ----------------------------------------------------------------------------------

_FIELDS = ("grid", "horizon", "payoff", "payoff_matrix", "stay", "simultaneous")


def game_to_dict(game: CoinGame) -> dict:
    """The game's parameters (no ``kind``): what :func:`game_from_dict` rebuilds it from."""
    return {"grid": game.grid, "horizon": game.horizon, "payoff": game.payoff,
            "payoff_matrix": game.payoff_matrix.tolist(), "stay": game.stay, "simultaneous": game.simultaneous}


def game_from_dict(data: dict) -> CoinGame:
    """A :class:`CoinGame` from :func:`game_to_dict`'s fields (``payoff_matrix`` is kept only with
    ``payoff="jaxmarl"``; for the named payoffs it is implied). Types are checked here, since the
    constructor would coerce ``"stay": "no"`` to ``True``."""
    d = {k: v for k, v in data.items() if k in _FIELDS}
    if "stay" in d and not isinstance(d["stay"], bool):
        raise InvalidInstanceError("stay", f"must be true or false, got {d['stay']!r}")
    for name in ("payoff", "simultaneous"):
        if name in d and not isinstance(d[name], str):
            raise InvalidInstanceError(name, f"must be a string, got {type(d[name]).__name__}")
    if d.get("payoff") != "jaxmarl":
        d.pop("payoff_matrix", None)
    elif d.get("payoff_matrix") is not None:
        m = d["payoff_matrix"]
        if not (isinstance(m, list) and len(m) == 2 and all(isinstance(r, list) and len(r) == 3 for r in m)):
            raise InvalidInstanceError("payoff_matrix", "must be 2 rows of 3 numbers [own, other, penalty]")
        for i, row in enumerate(m):
            for j, x in enumerate(row):
                if isinstance(x, bool) or not isinstance(x, (int, float)):
                    raise InvalidInstanceError("payoff_matrix", f"must be a number, got {type(x).__name__}", (i, j))
    return CoinGame(**d)


def _game_from_file(data: dict) -> CoinGame:
    require_fields(data, ("grid",), {"kind", "version", *_FIELDS})
    return game_from_dict(data)


def _game_to_file(game: CoinGame) -> dict:
    return {"kind": "coin_game", "version": 1, **game_to_dict(game)}


#: ``{"kind": "coin_game", "version": 1, "grid": 3, "horizon": 20, "payoff": "paper",
#: "stay": true, "simultaneous": "both"}`` (every field but ``grid`` optional, with the defaults of
#: :class:`CoinGame`; ``payoff_matrix`` ``[[own, other, penalty], ...]`` only with ``"jaxmarl"``).
register_kind(FileKind("coin_game", 1, CoinGame, _game_from_file, _game_to_file))
