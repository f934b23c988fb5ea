"""EXP3 for adversarial bandits, in the form of Lattimore & Szepesvári, *Bandit Algorithms*
(Cambridge, 2020), Chapter 11: Algorithm 9 (Exp3) with the loss-based importance-weighted
estimator of Eq. (11.6).

The book writes it with rewards ``x = 1 − ℓ``: ``P_{t,i} ∝ exp(η Ŝ_{t−1,i})`` with
``Ŝ_{t,i} = Ŝ_{t−1,i} + 1 − 1{A_t = i} (1 − X_t) / P_{t,i}``. With losses this is
``Ŝ_{t,i} = t − L̂_{t,i}``, ``L̂_{t,i} = Σ_{s<=t} 1{A_s = i} ℓ_{s,i} / P_{s,i}``, so

    P_{t,i} = exp(−η L̂_{t−1,i}) / Σ_j exp(−η L̂_{t−1,j}),

which is what is computed here (shifted by ``min_j L̂_{t−1,j}``, which changes no probability).

Theorem 11.2: with ``η = sqrt(2 ln K / (T K))`` the expected regret against every loss sequence
in ``[0, 1]^{T×K}`` is at most ``sqrt(2 T K ln K)``; for a general ``η`` its proof (Eq. 11.15 in
expectation) gives ``ln K / η + η T K / 2``. (Theorem 11.1 is the cruder ``η = sqrt(ln K / (T K))``,
``2 sqrt(T K ln K)``.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .base import Learner, check_count, check_real, min_last_axis


@dataclass
class Exp3State:
    """``eta``; ``estimates``: ``L̂_{t−1}`` ``(R, K)``; ``runs``: ``arange(R)``; ``w``, ``total``: the
    weights last handed out and their sums (the probability of the played action is read from them)."""

    eta: float
    estimates: np.ndarray
    runs: np.ndarray
    w: np.ndarray | None = None
    total: np.ndarray | None = None


@dataclass(frozen=True)
class Exp3(Learner):
    """EXP3 over ``n_actions`` actions; ``eta=None`` tunes it to the horizon as in Theorem 11.2
    of Lattimore & Szepesvári (2020): ``η = sqrt(2 ln K / (T K))``."""

    n_actions: int
    eta: float | None = None

    feedback = "bandit"

    def __post_init__(self):
        check_count("n_actions", self.n_actions)
        if self.eta is not None:
            check_real("eta", self.eta, 0.0, low_open=True)

    def learning_rate(self, horizon: int) -> float:
        """``eta``, or ``sqrt(2 ln K / (T K))`` if it is ``None``."""
        if self.eta is not None:
            return float(self.eta)
        K = self.n_actions
        return math.sqrt(2.0 * math.log(K) / (check_count("horizon", horizon) * K))

    def regret_bound(self, horizon: int) -> float:
        """``ln K / η + η T K / 2``: the bound on the EXPECTED regret (over the learner's draws)
        against any oblivious loss sequence; ``sqrt(2 T K ln K)`` with the tuned ``η``."""
        eta = self.learning_rate(horizon)
        K = self.n_actions
        return 0.0 if K == 1 else math.log(K) / eta + eta * horizon * K / 2.0

    def start(self, n_runs: int, horizon: int) -> Exp3State:
        return Exp3State(self.learning_rate(horizon), np.zeros((n_runs, self.n_actions)), np.arange(n_runs))

    def weights(self, state: Exp3State) -> np.ndarray:
        L = state.estimates
        w = L - min_last_axis(L)[:, None]
        w *= -state.eta
        np.exp(w, out=w)
        state.w, state.total = w, w.sum(axis=1)
        return w

    def observe(self, state: Exp3State, actions: np.ndarray, losses: np.ndarray) -> None:
        """``losses``: the ``(R,)`` losses of the played ``actions``; ``L̂_{A_t} += ℓ_{A_t} / P_{t,A_t}``."""
        p = state.w[state.runs, actions] / state.total
        state.estimates[state.runs, actions] += losses / p


__all__ = ["Exp3", "Exp3State"]
