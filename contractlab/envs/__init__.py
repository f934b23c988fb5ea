"""Environments with the standard multi-agent RL interface (PettingZoo), over contractlab's numpy
cores.

This subpackage needs the optional extra ``envs`` (``gymnasium`` and ``pettingzoo``)::

    pip install "contractlab[envs]"

Nothing else in contractlab imports it: the games themselves and their batched cores live in
:mod:`contractlab.theory` (e.g. :mod:`contractlab.theory.escape_room`) and use numpy only, so the
solvers, learners and checks run without these packages.

* :class:`EscapeRoomEnv` / :func:`parallel_env` — Escape Room ER(N, M) as a PettingZoo
  ``ParallelEnv`` (:mod:`contractlab.envs.escape_room`).
* :class:`CoinGameEnv` — the Coin Game (:mod:`contractlab.envs.coin_game`, whose own
  ``parallel_env`` builds it).
* :class:`AgentEnv` / :class:`PrincipalEnv` — the two sides of a principal-agent MDP as Gymnasium
  environments (:mod:`contractlab.envs.pamdp_gym`).
* :func:`make` / :func:`ids` — every environment by id; importing this package registers the
  Gymnasium ids (``contractlab/PAMDPAgent-v0``, ``contractlab/PAMDPPrincipal-v0``) for
  ``gymnasium.make`` (:mod:`contractlab.envs.registry`).
"""

from __future__ import annotations

#: The one-line message of the ImportError raised when the extra is missing.
MISSING_EXTRA_MESSAGE = ('contractlab.envs needs gymnasium and pettingzoo: pip install "contractlab[envs]"')

try:
    import gymnasium  # noqa: F401
    import pettingzoo  # noqa: F401
except ImportError as exc:
    raise ImportError(MISSING_EXTRA_MESSAGE, name=getattr(exc, "name", None)) from exc

from .coin_game import CoinGameEnv  # noqa: E402
from .escape_room import EscapeRoomEnv, parallel_env  # noqa: E402
from .pamdp_gym import AgentEnv, PrincipalEnv  # noqa: E402
from .registry import ids, make  # noqa: E402

__all__ = ["CoinGameEnv", "EscapeRoomEnv", "parallel_env", "AgentEnv", "PrincipalEnv", "make", "ids",
           "MISSING_EXTRA_MESSAGE"]
