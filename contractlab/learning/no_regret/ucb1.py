"""UCB1 (Auer, Cesa-Bianchi & Fischer, *Finite-time Analysis of the Multiarmed Bandit Problem*,
Machine Learning 47, 2002, Figure 1), for stochastic bandits, on the rewards ``x = 1 − ℓ ∈ [0, 1]``.

Play each action once (in index order); then play

    argmax_i  x̄_i + sqrt(2 ln n / n_i),

``x̄_i`` the mean reward of action ``i`` so far, ``n_i`` its number of plays, ``n`` the number of
plays so far (ties to the lowest index). The strategy is a pure action, a function of the past.

Theorem 1 there: if the losses of action ``i`` are i.i.d. with mean ``μ_i`` (rewards ``1 − μ_i``),
the expected pseudo-regret after ``n`` rounds is at most
``8 Σ_{i: Δ_i > 0} ln n / Δ_i + (1 + π²/3) Σ_i Δ_i`` with ``Δ_i = μ_i − min_j μ_j``
(:meth:`UCB1.regret_bound`). Against an adaptive or otherwise non-stochastic adversary no bound
holds (it is deterministic, so it can be made to pay linear regret).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .base import Learner, check_count


@dataclass
class UCB1State:
    """``plays``: rounds played so far (all runs step together); ``counts`` ``n_i`` and
    ``reward_sums`` ``Σ x`` per action, ``(R, K)``; ``runs``: ``arange(R)``."""

    plays: int
    counts: np.ndarray
    reward_sums: np.ndarray
    runs: np.ndarray


@dataclass(frozen=True)
class UCB1(Learner):
    """UCB1 over ``n_actions`` actions (no parameters)."""

    n_actions: int

    feedback = "bandit"

    def __post_init__(self):
        check_count("n_actions", self.n_actions)

    def regret_bound(self, means, horizon: int) -> float:
        """Theorem 1 of Auer et al. (2002) for i.i.d. losses of means ``means``: a bound on the
        EXPECTED pseudo-regret ``Σ_t (μ_{A_t} − min_j μ_j)`` after ``horizon`` rounds."""
        gaps = np.asarray(means, dtype=float) - np.min(means)
        positive = gaps[gaps > 0]
        return float(8.0 * np.sum(math.log(horizon) / positive) + (1.0 + math.pi ** 2 / 3.0) * gaps.sum())

    def start(self, n_runs: int, horizon: int) -> UCB1State:
        K = self.n_actions
        return UCB1State(0, np.zeros((n_runs, K)), np.zeros((n_runs, K)), np.arange(n_runs))

    def weights(self, state: UCB1State) -> np.ndarray:
        R, K = state.counts.shape
        w = np.zeros((R, K))
        if state.plays < K:
            w[:, state.plays] = 1.0
            return w
        index = state.reward_sums / state.counts
        index += np.sqrt(2.0 * math.log(state.plays) / state.counts)
        w[state.runs, np.argmax(index, axis=1)] = 1.0
        return w

    def observe(self, state: UCB1State, actions: np.ndarray, losses: np.ndarray) -> None:
        """``losses``: the ``(R,)`` losses of the played ``actions``."""
        state.counts[state.runs, actions] += 1.0
        state.reward_sums[state.runs, actions] += 1.0 - losses
        state.plays += 1


__all__ = ["UCB1", "UCB1State"]
