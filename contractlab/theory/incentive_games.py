"""Normal-form games with ``n`` players, the one-shot games an incentive designer acts on.

The small games of the incentive-design literature: Yang, Wang, Trivedi, Zhao, Zha, *Adaptive
Incentive Design with Multi-Agent Meta-Gradient Reinforcement Learning* (AAMAS 2022, arXiv
2112.10859) and its predecessor LIO (Yang, Li, Farajtabar, Sunehag, Hughes, Zha, *Learning to
Incentivize Other Learning Agents*, NeurIPS 2020) study social dilemmas: the prisoner's dilemma, the
stag hunt and N-player public goods, where the agents' own interest leads away from the welfare
optimum. A designer pays incentives ``eta_i(a) >= 0`` on top of ``r_i(a)``
(:mod:`contractlab.solvers.incentive_optimum`).

``payoffs`` has shape ``(n, K_0, ..., K_{n-1})``: ``payoffs[i, a_0, ..., a_{n-1}]`` is player ``i``'s
payoff when player ``j`` plays ``a_j``. :meth:`NormalFormGame.as_markov_game` gives the same game as a
:class:`~contractlab.theory.markov_game.TabularMarkovGame` with one state and horizon 1 (joint
action index = :func:`numpy.ravel_multi_index` of the profile, player 0 most significant).

The file format is ``{"kind": "normal_form_game", "version": 1, "payoffs": [...]}`` with the
optional ``action_names`` (one list of distinct strings per player); it is registered with
:mod:`contractlab.theory.fileio` when this module is imported.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import InvalidInstanceError
from .fileio import FileKind, register_kind, require_fields
from .markov_game import TabularMarkovGame
from .validation import as_float_array, check_names, check_real

#: Largest ``|payoff|`` accepted (as :data:`contractlab.theory.bimatrix.MAX_ABS_PAYOFF`): beyond it
#: the differences the solvers form could overflow. Scale a game with larger numbers down.
MAX_ABS_PAYOFF = 1e150

#: Most players of a game (the payoff array has ``n + 1`` axes).
MAX_PLAYERS = 16

#: Most joint actions (``prod K_i``) of a game: the payoff array then holds ``n · 2^20`` numbers.
MAX_JOINT_ACTIONS = 2**20

#: Most players of :func:`public_goods` (``2^n`` joint actions).
MAX_PUBLIC_GOODS_PLAYERS = 16


def _n_players(value: Any) -> int:
    """The number of players ``n`` (the length of the first axis), before anything is copied."""
    if isinstance(value, np.ndarray):
        if value.ndim < 2:
            raise InvalidInstanceError("payoffs", f"expected an array (n, K_0, ..., K_(n-1)), got shape {value.shape}")
        if value.ndim != value.shape[0] + 1:
            raise InvalidInstanceError("payoffs", f"shape {value.shape}: {value.shape[0]} players (first axis) need "
                                                  f"{value.shape[0]} action axes, got {value.ndim - 1}")
        return int(value.shape[0])
    if isinstance(value, (str, bytes, dict)) or not hasattr(value, "__len__"):
        raise InvalidInstanceError("payoffs", "expected a nested list (n, K_0, ..., K_(n-1)) of numbers")
    return len(value)


@dataclass(frozen=True, eq=False)
class NormalFormGame:
    """A validated, immutable ``n``-player normal-form game.

    Parameters
    ----------
    payoffs:
        ``(n, K_0, ..., K_{n-1})``: player ``i``'s payoff at every action profile; ``1 <= n <=``
        :data:`MAX_PLAYERS`, every ``K_i >= 1``, ``prod K_i <=`` :data:`MAX_JOINT_ACTIONS`.
    action_names:
        Optional: one tuple of ``K_i`` distinct printable labels per player.

    Raises
    ------
    InvalidInstanceError
        Naming the field (and index) of the first violation: a ragged or empty array, a
        non-finite or non-numeric entry, a magnitude beyond :data:`MAX_ABS_PAYOFF`, a first axis
        that is not the number of players, too many players or joint actions, bad names.
    """

    payoffs: np.ndarray
    action_names: tuple[tuple[str, ...], ...] | None = None

    def __post_init__(self) -> None:
        n = _n_players(self.payoffs)
        if not 1 <= n <= MAX_PLAYERS:
            raise InvalidInstanceError("payoffs", f"needs 1..{MAX_PLAYERS} players (length of the first axis), got {n}")
        p = as_float_array("payoffs", self.payoffs, n + 1)
        if p.shape[0] != n:  # an ndarray whose first axis disagrees with its number of axes
            raise InvalidInstanceError("payoffs", f"shape {p.shape}: {p.ndim - 1} action axes but {p.shape[0]} players")
        if float(np.prod(p.shape[1:], dtype=float)) > MAX_JOINT_ACTIONS:
            raise InvalidInstanceError("payoffs", f"{np.prod(p.shape[1:], dtype=float):.0f} joint actions exceed "
                                                  f"{MAX_JOINT_ACTIONS}")
        big = np.abs(p) > MAX_ABS_PAYOFF
        if big.any():
            idx = tuple(int(i) for i in np.argwhere(big)[0])
            raise InvalidInstanceError("payoffs", f"payoff {float(p[idx]):g} is beyond ±{MAX_ABS_PAYOFF:g} (scale the "
                                                  "game down)", idx)
        names = self.action_names
        if names is not None:
            if isinstance(names, (str, bytes, dict)) or not hasattr(names, "__len__") or len(names) != n:
                raise InvalidInstanceError("action_names", f"expected one list of names per player ({n})")
            names = tuple(check_names(f"action_names[{i}]", names[i], p.shape[1 + i]) for i in range(n))
        object.__setattr__(self, "payoffs", p)
        object.__setattr__(self, "action_names", names)

    @property
    def n_players(self) -> int:
        return self.payoffs.shape[0]

    @property
    def n_actions(self) -> tuple[int, ...]:
        return tuple(int(k) for k in self.payoffs.shape[1:])

    @property
    def n_joint_actions(self) -> int:
        return int(np.prod(self.n_actions))

    def label(self, player: int, action: int) -> str:
        return self.action_names[player][action] if self.action_names else str(action)

    def payoff(self, profile) -> np.ndarray:
        """``(n,)``: every player's payoff at the action profile ``(a_0, ..., a_{n-1})``."""
        return self.payoffs[(slice(None),) + tuple(int(a) for a in profile)].copy()

    def joint_index(self, profile) -> int:
        """Joint-action index of a profile (player 0 most significant)."""
        return int(np.ravel_multi_index(tuple(int(a) for a in profile), self.n_actions))

    def as_markov_game(self) -> TabularMarkovGame:
        """The game as a :class:`TabularMarkovGame`: one state, horizon 1, every joint action ends the
        episode (``next_state = -1``), ``rewards[0, a, i] = payoffs[i, profile(a)]``."""
        A = self.n_joint_actions
        rewards = self.payoffs.reshape(self.n_players, A).T[None]
        return TabularMarkovGame(self.n_actions, np.full((1, A), -1, dtype=np.int64), rewards, 0, 1)

    def best_response_payoffs(self, player: int) -> np.ndarray:
        """``max_{a_i} r_i(a_i, a_{-i})`` broadcast over every profile (shape ``(K_0, ..., K_{n-1})``)."""
        return np.broadcast_to(self.payoffs[player].max(axis=player, keepdims=True), self.n_actions)

    def pure_nash_equilibria(self, tol: float = 0.0) -> list[tuple[int, ...]]:
        """Every pure Nash equilibrium (lexicographic): profiles where each player's payoff is within
        ``tol`` (absolute) of its best response to the others."""
        tol = check_real("tol", tol, 0.0)
        ok = np.ones(self.n_actions, dtype=bool)
        for i in range(self.n_players):
            ok &= self.payoffs[i] >= self.best_response_payoffs(i) - tol
        return [tuple(int(a) for a in row) for row in np.argwhere(ok)]

    def dominant_actions(self, player: int, strict: bool = True) -> list[int]:
        """The actions of ``player`` that (strictly, or weakly) dominate all its other actions: a best
        response to every profile of the others, and (strict) the only one."""
        r = np.moveaxis(self.payoffs[player], player, 0).reshape(self.n_actions[player], -1)
        best = r.max(axis=0)
        out = []
        for a in range(r.shape[0]):
            if not (r[a] >= best).all():
                continue
            if strict and (np.delete(r, a, axis=0) >= r[a]).any():
                continue
            out.append(a)
        return out

    def welfare(self) -> np.ndarray:
        """``(K_0, ..., K_{n-1})``: the sum of the players' payoffs at every profile."""
        return self.payoffs.sum(axis=0)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, NormalFormGame):
            return NotImplemented
        return np.array_equal(self.payoffs, other.payoffs) and self.action_names == other.action_names

    __hash__ = None  # arrays inside: not hashable by design


# --------------------------------------------------------------------------- families

def _symmetric_2x2(row: np.ndarray, names: tuple[str, str]) -> NormalFormGame:
    """A symmetric two-player game from the row player's matrix ``row`` (column player: ``row.T``)."""
    return NormalFormGame(np.stack([row, row.T]), (names, names))


def prisoners_dilemma(reward: float = 3.0, sucker: float = 0.0, temptation: float = 4.0,
                      punishment: float = 1.0) -> NormalFormGame:
    """The prisoner's dilemma, actions ``("cooperate", "defect")``; the row player's payoffs are
    ``[[R, S], [T, P]]`` and the game is symmetric.

    Defaults ``R, S, T, P = 3, 0, 4, 1``: the payoffs of the prisoner's dilemma of LOLA (Foerster et
    al., *Learning with Opponent-Learning Awareness*, AAMAS 2018: ``[[-1, -3], [0, -2]]``), whose
    environment LIO (Yang et al. 2020, code github.com/011235813/lio, ``lio/env/ipd_wrapper.py``)
    uses, shifted by +4 so that every payoff is non-negative (a shift changes no incentive: every
    deviation gain is a difference). Yang et al. 2022's own code (github.com/011235813/
    metagradient-incentive-design) has no matrix game; this is the one of its predecessor.

    Requires ``T > R > P > S``: defection strictly dominates, (defect, defect) is the unique Nash
    equilibrium, and (cooperate, cooperate) maximises welfare when ``2R > T + S`` (true at the
    defaults; not required). Raises :class:`InvalidInstanceError` naming the payoff that breaks the order.
    """
    t, r, p, s = (check_real(name, v, -MAX_ABS_PAYOFF, MAX_ABS_PAYOFF) for name, v in
                  (("temptation", temptation), ("reward", reward), ("punishment", punishment), ("sucker", sucker)))
    for (hi_name, hi), (lo_name, lo) in ((("temptation", t), ("reward", r)), (("reward", r), ("punishment", p)),
                                         (("punishment", p), ("sucker", s))):
        if not hi > lo:
            raise InvalidInstanceError(hi_name, f"must exceed {lo_name} ({lo:g}) in a prisoner's dilemma "
                                                f"(temptation > reward > punishment > sucker), got {hi:g}")
    return _symmetric_2x2(np.array([[r, s], [t, p]]), ("cooperate", "defect"))


def stag_hunt(stag: float = 4.0, hare_alone: float = 3.0, hare_both: float = 3.0,
              stag_alone: float = 0.0) -> NormalFormGame:
    """The stag hunt, actions ``("stag", "hare")``; the row player's payoffs are
    ``[[stag, stag_alone], [hare_alone, hare_both]]`` and the game is symmetric.

    Defaults ``4, 3, 3, 0`` (hunting hare pays 3 whatever the other does), as
    :func:`contractlab.theory.game_families.stag_hunt` (after Harsanyi & Selten, *A General Theory of
    Equilibrium Selection in Games*, 1988). Neither paper of Yang et al. fixes stag-hunt payoffs in its
    code. Requires ``stag > hare_alone`` and ``hare_both > stag_alone`` (both (stag, stag) and
    (hare, hare) are strict Nash equilibria) and ``stag > hare_both`` ((stag, stag) is payoff-dominant
    and the welfare optimum); risk dominance of (hare, hare) is not required. Raises
    :class:`InvalidInstanceError` naming the payoff that breaks a condition.
    """
    a, b, d, c = (check_real(name, v, -MAX_ABS_PAYOFF, MAX_ABS_PAYOFF) for name, v in
                  (("stag", stag), ("hare_alone", hare_alone), ("hare_both", hare_both), ("stag_alone", stag_alone)))
    if not a > b:
        raise InvalidInstanceError("stag", f"must exceed hare_alone ({b:g}) for (stag, stag) to be a strict "
                                           f"equilibrium, got {a:g}")
    if not d > c:
        raise InvalidInstanceError("hare_both", f"must exceed stag_alone ({c:g}) for (hare, hare) to be a strict "
                                                f"equilibrium, got {d:g}")
    if not a > d:
        raise InvalidInstanceError("stag", f"must exceed hare_both ({d:g}) for (stag, stag) to be payoff-dominant, "
                                           f"got {a:g}")
    return _symmetric_2x2(np.array([[a, c], [b, d]]), ("stag", "hare"))


def public_goods(n: int, multiplier: float, endowment: float = 1.0) -> NormalFormGame:
    """The ``n``-player public goods game, actions ``("keep", "contribute")`` (0 and 1).

    Each player holds ``endowment`` and contributes all of it (``c_i = 1``) or keeps it (``c_i = 0``);
    the pot ``endowment · Σ_j c_j`` is multiplied by ``multiplier`` and shared equally:
    ``r_i(c) = endowment · (1 − c_i) + multiplier · endowment · Σ_j c_j / n`` (the linear public goods
    game of experimental economics, e.g. Ledyard, *Public Goods: A Survey of Experimental Research*,
    1995; the N-player social dilemma of the incentive-design papers). Keeping gains
    ``endowment · (1 − multiplier/n)`` whatever the others do, and every contribution adds
    ``endowment · (multiplier − 1)`` to the welfare; so with ``1 < multiplier < n`` (required) keeping
    strictly dominates while all contributing is the unique welfare optimum.

    Raises :class:`InvalidInstanceError` for ``n`` outside ``2..``:data:`MAX_PUBLIC_GOODS_PLAYERS`,
    ``multiplier`` outside ``(1, n)`` or a non-positive ``endowment``.
    """
    if isinstance(n, bool) or not isinstance(n, (numbers.Integral, np.integer)) or not 2 <= n <= MAX_PUBLIC_GOODS_PLAYERS:
        raise InvalidInstanceError("n", f"must be an integer in 2..{MAX_PUBLIC_GOODS_PLAYERS}, got {n!r}")
    n = int(n)
    m = check_real("multiplier", multiplier, 1.0, float(n), low_open=True)
    if not m < n:
        raise InvalidInstanceError("multiplier", f"must be < n = {n} for a social dilemma, got {m:g}")
    e = check_real("endowment", endowment, 0.0, MAX_ABS_PAYOFF / (n * n), low_open=True)
    c = np.stack(np.meshgrid(*([np.arange(2.0)] * n), indexing="ij"))       # (n, 2, ..., 2): c[i] = c_i
    payoffs = e * (1.0 - c) + m * e * c.sum(axis=0, keepdims=True) / n
    return NormalFormGame(payoffs, tuple(("keep", "contribute") for _ in range(n)))


# --------------------------------------------------------------------------- file format

def _game_from_dict(data: dict) -> NormalFormGame:
    require_fields(data, ("payoffs",), {"kind", "version", "payoffs", "action_names"})
    return NormalFormGame(payoffs=data["payoffs"], action_names=data.get("action_names"))


def _game_to_dict(game: NormalFormGame) -> dict:
    data: dict[str, Any] = {"kind": "normal_form_game", "version": 1, "payoffs": game.payoffs}
    if game.action_names:
        data["action_names"] = [list(names) for names in game.action_names]
    return data


register_kind(FileKind("normal_form_game", 1, NormalFormGame, _game_from_dict, _game_to_dict,
                       array_fields=("payoffs",)))

__all__ = ["MAX_ABS_PAYOFF", "MAX_PLAYERS", "MAX_JOINT_ACTIONS", "MAX_PUBLIC_GOODS_PLAYERS", "NormalFormGame",
           "prisoners_dilemma", "stag_hunt", "public_goods"]
