"""Baselines of the Coin Game principal (Ivanov et al., arXiv 2407.18074, Section 5): agents
without a principal, trained from scratch with the same tabular Q-learners
(:mod:`.coin_agents`) and evaluated exactly.

* **selfish** — each agent learns from its own game reward ``r_i``;
* **cooperative** — each agent learns from the welfare ``r_0 + r_1`` (fully cooperative agents;
  nobody pays them: cooperation is assumed, not bought);
* **constant proportion** — the heuristic the paper compares with (after Christoffersen et al.):
  a fixed proportion ``p`` of the social welfare is paid out. Here agent ``i`` is paid ``p · r_j``,
  ``p`` times the *other* agent's reward, at every step, so it learns from ``r_i + p·r_j`` (the
  family ``(1 − p)·r_i + p·w`` of reward mixing, paid from outside the game: ``p = 0`` is selfish,
  ``p = 1`` cooperative) and the total paid is exactly ``p · (r_0 + r_1)``, the proportion ``p`` of
  the welfare actually produced.

**Matched budget** (:func:`matched_proportion`): ``p`` is the learned principal's *payment share
of welfare* in its validation run, ``p = E[payments] / E[welfare]`` of the validation agents'
greedy play, both exact. The constant-proportion agents are then paid the same share of the
welfare they produce; their absolute budget equals the principal's only if their welfare does.

Each baseline returns a :class:`BaselineRun`: the trained agents and the exact outcome of their
greedy play (welfare, payments, and, if a recommendation is given, how often they happen to play
it — the follow rate of agents who are not asked to).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..solvers import coin_game_exact as X
from ..theory.coin_game import CoinGame
from ..theory.errors import InvalidInstanceError
from ..theory.validation import check_real
from .coin_agents import AgentConfig, AgentRun, PlayMetrics, check_game, exact_play, train_agents

BASELINES = ("selfish", "cooperative", "constant_proportion")


def shaping_for(kind: str, proportion: float = 0.0):
    """The training rewards and payments of a baseline (module docstring)."""
    if kind == "selfish":
        return lambda t, idx, actions, rewards: (rewards, np.zeros_like(rewards))
    if kind == "cooperative":
        return lambda t, idx, actions, rewards: (np.repeat(rewards.sum(axis=1, keepdims=True), 2, axis=1),
                                                 np.zeros_like(rewards))
    if kind == "constant_proportion":
        p = check_real("proportion", proportion, 0.0)

        def shaping(t, idx, actions, rewards):
            paid = p * rewards[:, ::-1]
            return rewards + paid, paid

        return shaping
    raise InvalidInstanceError("kind", f"must be one of {BASELINES}, got {kind!r}")


@dataclass(frozen=True, eq=False)
class BaselineRun:
    """``kind``, ``proportion`` (constant proportion only, else 0), the trained ``agents`` and the
    exact ``play`` of their greedy joint policy."""

    kind: str
    proportion: float
    agents: AgentRun
    play: PlayMetrics


def train_baseline(game: CoinGame, kind: str, config: AgentConfig | None = None, seed: int = 0,
                   proportion: float = 0.0, recommendation: np.ndarray | None = None,
                   tables: X.CoinTables | None = None) -> BaselineRun:
    """Train the baseline ``kind`` from scratch and evaluate it exactly. ``recommendation``
    ``(H, S, 2)`` (optional) is only compared with what the agents play (the follow rate)."""
    game = check_game(game)
    shaping = shaping_for(kind, proportion)
    p = float(proportion) if kind == "constant_proportion" else 0.0
    tb = X.tables(game) if tables is None else tables
    run = train_agents(game, shaping, config, seed, recommendation=recommendation)
    pay = (lambda r: p * r[..., ::-1]) if p > 0 else None
    return BaselineRun(kind=kind, proportion=p, agents=run,
                       play=exact_play(tb, run.policy, recommendation, pay))


def matched_proportion(validation_play: PlayMetrics) -> float:
    """The constant proportion whose budget matches a validated principal's: its payments as a
    share of the welfare of the validation play (module docstring)."""
    if not validation_play.welfare > 0:
        raise InvalidInstanceError("validation_play", f"welfare must be > 0, got {validation_play.welfare!r}")
    return validation_play.total_payment / validation_play.welfare


__all__ = ["BASELINES", "BaselineRun", "shaping_for", "train_baseline", "matched_proportion"]
