"""Follow-the-leader, the negative control: play ``argmin_i L_{t−1,i}``, ties to the lowest index
(Cesa-Bianchi & Lugosi 2006, Section 3.2; Shalev-Shwartz, *Online Learning and Online Convex
Optimization*, 2012, Example 2.2).

It has no regret guarantee: on :class:`~.adversaries.FTLTrap` (``ℓ_1 = (1/2, 0)``, then
``(0, 1), (1, 0), …`` for two actions) it pays loss 1 in every round after the first while the
best action pays about ``T/2``; its regret there is exactly ``T (K − 1) / K``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .base import Learner, check_count


@dataclass
class FTLState:
    """``cumulative``: ``L_{t−1}``, ``(R, K)``."""

    cumulative: np.ndarray


@dataclass(frozen=True)
class FollowTheLeader(Learner):
    """Follow-the-leader over ``n_actions`` actions (a pure strategy; no parameters)."""

    n_actions: int

    feedback = "full"
    time_vectorised = True

    def __post_init__(self):
        check_count("n_actions", self.n_actions)

    def start(self, n_runs: int, horizon: int) -> FTLState:
        return FTLState(np.zeros((n_runs, self.n_actions)))

    def weights(self, state: FTLState) -> np.ndarray:
        L = state.cumulative[None]
        return self.block_weights(state, L, np.empty_like(L))[0]

    def observe(self, state: FTLState, actions, losses: np.ndarray) -> None:
        np.add(state.cumulative, losses, out=state.cumulative)

    def block_weights(self, state: FTLState, cum_prev: np.ndarray, out: np.ndarray) -> np.ndarray:
        leader = np.argmin(cum_prev, axis=-1)          # the first minimum: the lowest index
        out.fill(0.0)
        np.put_along_axis(out, leader[..., None], 1.0, axis=-1)
        return out


__all__ = ["FollowTheLeader", "FTLState"]
