"""Two-player normal-form (bimatrix) games between a leader and a follower.

The leader (row player) has ``k`` actions, the follower (column player) ``l``. If the
leader plays row ``i`` and the follower column ``j``, the leader gets ``A[i, j]`` and the
follower ``B[i, j]``. A mixed strategy of the leader is a point ``x`` of the simplex
``Δ_k``; the follower's expected payoff from column ``j`` is then ``x · B[:, j]``.
Notation follows Conitzer and Sandholm, *Computing the Optimal Strategy to Commit to*
(EC 2006), Section 2, with the leader as player 1.

The file format is ``{"kind": "bimatrix_game", "version": 1, "leader_payoffs": [[...]],
"follower_payoffs": [[...]]}`` (optionally ``leader_action_names``,
``follower_action_names``); it is registered with :mod:`contractlab.theory.fileio` when
this module is imported.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import InvalidInstanceError
from .fileio import FileKind, require_fields, register_kind
from .validation import as_float_array, check_names

#: Largest ``|payoff|`` accepted. Beyond it, the differences and products the solvers form
#: could overflow (``1e308`` gives ``inf`` and a RuntimeWarning). Payoffs are unit-free: scale a
#: game with larger numbers down. (Well below the bound, around ``1e70``, HiGHS may already
#: fail on the commitment LPs; that is reported as a solver failure, not answered wrongly.)
MAX_ABS_PAYOFF = 1e150


@dataclass(frozen=True, eq=False)
class BimatrixGame:
    """A validated, immutable bimatrix game.

    Parameters
    ----------
    leader_payoffs:
        ``A``, shape ``(k, l)``; ``A[i, j]`` is the leader's payoff at (row ``i``, column ``j``).
    follower_payoffs:
        ``B``, shape ``(k, l)``; the follower's payoffs.
    leader_action_names, follower_action_names:
        Optional distinct labels of the rows and columns.

    Raises
    ------
    InvalidInstanceError
        Naming the field (and index) of the first violation: a non-finite or non-numeric
        entry, an entry beyond ``±``:data:`MAX_ABS_PAYOFF`, a ragged or empty array, or shapes
        of ``A`` and ``B`` that differ.
    """

    leader_payoffs: np.ndarray
    follower_payoffs: np.ndarray
    leader_action_names: tuple[str, ...] | None = None
    follower_action_names: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        A = as_float_array("leader_payoffs", self.leader_payoffs, 2)
        B = as_float_array("follower_payoffs", self.follower_payoffs, 2)
        for name, M in (("leader_payoffs", A), ("follower_payoffs", B)):
            if np.abs(M).max() > MAX_ABS_PAYOFF:
                idx = tuple(int(i) for i in np.argwhere(np.abs(M) > MAX_ABS_PAYOFF)[0])
                raise InvalidInstanceError(name, f"payoff {float(M[idx]):g} is beyond ±{MAX_ABS_PAYOFF:g}, the "
                                                 "largest magnitude accepted (scale the game down)", idx)
        if B.shape != A.shape:
            axis = 0 if B.shape[0] != A.shape[0] else 1
            raise InvalidInstanceError(
                "follower_payoffs", f"has shape {B.shape}, but leader_payoffs has shape {A.shape} "
                f"(they differ on axis {axis})")
        k, l = A.shape
        object.__setattr__(self, "leader_payoffs", A)
        object.__setattr__(self, "follower_payoffs", B)
        object.__setattr__(self, "leader_action_names", check_names("leader_action_names", self.leader_action_names, k))
        object.__setattr__(self, "follower_action_names",
                           check_names("follower_action_names", self.follower_action_names, l))

    @property
    def n_leader_actions(self) -> int:
        """``k``, the number of rows."""
        return self.leader_payoffs.shape[0]

    @property
    def n_follower_actions(self) -> int:
        """``l``, the number of columns."""
        return self.leader_payoffs.shape[1]

    @property
    def shape(self) -> tuple[int, int]:
        return self.leader_payoffs.shape

    def leader_label(self, i: int) -> str:
        return self.leader_action_names[i] if self.leader_action_names else str(i)

    def follower_label(self, j: int) -> str:
        return self.follower_action_names[j] if self.follower_action_names else str(j)

    def replace(self, **changes) -> "BimatrixGame":
        """A new game with some fields replaced (validated again)."""
        data = dict(leader_payoffs=self.leader_payoffs, follower_payoffs=self.follower_payoffs,
                    leader_action_names=self.leader_action_names,
                    follower_action_names=self.follower_action_names)
        data.update(changes)
        return BimatrixGame(**data)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BimatrixGame):
            return NotImplemented
        return (np.array_equal(self.leader_payoffs, other.leader_payoffs)
                and np.array_equal(self.follower_payoffs, other.follower_payoffs)
                and self.leader_action_names == other.leader_action_names
                and self.follower_action_names == other.follower_action_names)

    __hash__ = None  # arrays inside: not hashable by design


def follower_payoffs_against(game: BimatrixGame, leader_strategy: Any) -> np.ndarray:
    """``x · B[:, j]`` for every column ``j``: the follower's expected payoffs against ``x``."""
    x = _as_strategy(leader_strategy, game.n_leader_actions)
    return x @ game.follower_payoffs


def follower_best_responses(game: BimatrixGame, leader_strategy: Any, tol: float = 1e-9) -> np.ndarray:
    """Columns that are best responses to ``x`` within ``tol * max(1, |best|)`` (increasing order)."""
    u = follower_payoffs_against(game, leader_strategy)
    best = u.max()
    return np.flatnonzero(u >= best - tol * max(1.0, abs(best)))


def pure_nash_equilibria(game: BimatrixGame, tol: float = 0.0) -> list[tuple[int, int]]:
    """All pure-strategy Nash equilibria ``(i, j)``, in lexicographic order.

    ``(i, j)`` is an equilibrium when ``A[i, j] >= max_i' A[i', j] - tol`` (row ``i`` is a
    best response to column ``j``) and ``B[i, j] >= max_j' B[i, j'] - tol`` (column ``j`` is a
    best response to row ``i``). Vectorised: two column/row maxima and one ``argwhere``.

    Parameters
    ----------
    tol:
        Absolute slack in both best-response conditions (default ``0.0``: exact comparison,
        appropriate for payoffs given exactly).
    """
    if isinstance(tol, bool) or not isinstance(tol, numbers.Real) or not np.isfinite(tol) or tol < 0:
        raise InvalidInstanceError("tol", f"must be a finite number >= 0, got {tol!r}")
    A, B = game.leader_payoffs, game.follower_payoffs
    leader_br = A >= A.max(axis=0, keepdims=True) - tol
    follower_br = B >= B.max(axis=1, keepdims=True) - tol
    return [(int(i), int(j)) for i, j in np.argwhere(leader_br & follower_br)]


def _as_strategy(value: Any, k: int, field: str = "leader_strategy", tol: float = 1e-9) -> np.ndarray:
    """Validate a mixed strategy of length ``k`` (entries >= -tol, sum 1 within tol)."""
    x = as_float_array(field, value, 1)
    if x.shape[0] != k:
        raise InvalidInstanceError(field, f"has length {x.shape[0]}, expected {k}")
    neg = np.flatnonzero(x < -tol)
    if neg.size:
        raise InvalidInstanceError(field, f"probability {x[neg[0]]!r} is negative", int(neg[0]))
    if abs(x.sum() - 1.0) > tol * k:
        raise InvalidInstanceError(field, f"sums to {x.sum()!r}, not 1")
    return x


# --- file format -------------------------------------------------------------------------

def _game_from_dict(data: dict) -> BimatrixGame:
    allowed = {"kind", "version", "leader_payoffs", "follower_payoffs", "leader_action_names",
               "follower_action_names"}
    require_fields(data, ("leader_payoffs", "follower_payoffs"), allowed)
    return BimatrixGame(leader_payoffs=data["leader_payoffs"], follower_payoffs=data["follower_payoffs"],
                        leader_action_names=data.get("leader_action_names"),
                        follower_action_names=data.get("follower_action_names"))


def _game_to_dict(game: BimatrixGame) -> dict:
    data: dict[str, Any] = {"kind": "bimatrix_game", "version": 1,
                            "leader_payoffs": game.leader_payoffs,
                            "follower_payoffs": game.follower_payoffs}
    if game.leader_action_names:
        data["leader_action_names"] = list(game.leader_action_names)
    if game.follower_action_names:
        data["follower_action_names"] = list(game.follower_action_names)
    return data


register_kind(FileKind("bimatrix_game", 1, BimatrixGame, _game_from_dict, _game_to_dict,
                       array_fields=("leader_payoffs", "follower_payoffs")))

__all__ = ["MAX_ABS_PAYOFF", "BimatrixGame", "pure_nash_equilibria", "follower_payoffs_against",
           "follower_best_responses"]
