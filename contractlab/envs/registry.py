"""The environments of contractlab under ids, for ``gymnasium.make`` and :func:`make`.

Importing :mod:`contractlab.envs` registers the Gymnasium ids with ``gymnasium.register``:

* ``contractlab/PAMDPAgent-v0`` — :class:`~contractlab.envs.pamdp_gym.AgentEnv`; kwargs ``mdp`` (a
  :class:`~contractlab.theory.pamdp.PrincipalAgentMDP` or a ``pamdp`` path), ``contract_policy``
  (object, ``contract_policy`` / ``pamdp_solution`` path, or ``"spe"``, the default),
  ``observation``, ``max_steps``;
* ``contractlab/PAMDPPrincipal-v0`` — :class:`~contractlab.envs.pamdp_gym.PrincipalEnv`; kwargs
  ``mdp``, ``agent`` (``"best_response"``, the default; actions, an ``agent_policy`` path, or a
  callable), ``tie_break``, ``continuation``, ``max_payment``, ``illegal_contract``,
  ``observation``, ``max_steps``;

so that, after ``import contractlab.envs``, ``gymnasium.make("contractlab/PAMDPAgent-v0",
mdp="examples/binary_tree_depth3.json")`` builds the agent's side against the exact SPE;
without the import, ``gymnasium.make("contractlab.envs:contractlab/PAMDPAgent-v0", ...)`` imports
the module first (Gymnasium's ``module:id`` form).

PettingZoo has no registry, so :func:`make` is one for all of contractlab's environments: the
Gymnasium ids above (it calls ``gymnasium.make``) and the PettingZoo games, which it builds as
``ParallelEnv`` with their ``parallel_env`` constructors:

* ``contractlab/EscapeRoom-v0`` — :class:`~contractlab.envs.escape_room.EscapeRoomEnv`; kwargs
  ``n_agents``, ``min_at_lever``, ``max_steps``, ``randomize``;
* ``contractlab/CoinGame-v0`` — :class:`~contractlab.envs.coin_game.CoinGameEnv`; kwargs ``grid``,
  ``horizon``, ``payoff``, ``payoff_matrix``, ``stay``, ``simultaneous``.

:func:`ids` lists them all. An unknown id raises :class:`InvalidInstanceError` (field ``"name"``).
"""

from __future__ import annotations

import gymnasium

from ..theory.errors import InvalidInstanceError

#: Gymnasium ids -> entry points (registered on import).
GYMNASIUM_ENVS = {
    "contractlab/PAMDPAgent-v0": "contractlab.envs.pamdp_gym:AgentEnv",
    "contractlab/PAMDPPrincipal-v0": "contractlab.envs.pamdp_gym:PrincipalEnv",
}

#: PettingZoo ids -> ``module:constructor`` of a ``ParallelEnv``.
PETTINGZOO_ENVS = {
    "contractlab/EscapeRoom-v0": "contractlab.envs.escape_room:parallel_env",
    "contractlab/CoinGame-v0": "contractlab.envs.coin_game:parallel_env",
}


def register_all() -> None:
    """Register :data:`GYMNASIUM_ENVS` with Gymnasium (again registering an id already there is
    skipped, so that a reload does not warn)."""
    for env_id, entry_point in GYMNASIUM_ENVS.items():
        if env_id not in gymnasium.registry:
            gymnasium.register(id=env_id, entry_point=entry_point)


def ids() -> list[str]:
    """Every id :func:`make` accepts: the Gymnasium ones, then the PettingZoo ones."""
    return list(GYMNASIUM_ENVS) + list(PETTINGZOO_ENVS)


def make(name: str, **kwargs):
    """Build the environment ``name`` (one of :func:`ids`) with ``kwargs``: a Gymnasium id
    through ``gymnasium.make`` (so with its usual wrappers), a PettingZoo game as a
    ``ParallelEnv`` from its ``parallel_env`` constructor."""
    if name in GYMNASIUM_ENVS:
        register_all()
        return gymnasium.make(name, **kwargs)
    if name in PETTINGZOO_ENVS:
        import importlib
        module, attr = PETTINGZOO_ENVS[name].split(":")
        return getattr(importlib.import_module(module), attr)(**kwargs)
    raise InvalidInstanceError("name", f"unknown environment {name!r}; known: {', '.join(ids())}")


register_all()

__all__ = ["make", "ids", "register_all", "GYMNASIUM_ENVS", "PETTINGZOO_ENVS"]
