"""Regret matching (Hart & Mas-Colell, *A Simple Adaptive Procedure Leading to Correlated
Equilibrium*, Econometrica 68, 2000) and regret matching+ (Tammelin, *Solving Large Imperfect
Information Games Using CFR+*, arXiv:1407.5042, 2014), with full information.

Both play in proportion to the positive part of a vector of cumulative regrets, uniformly when
it is zero. The instantaneous regret of round ``t`` is ``r_{t,i} = p_t·ℓ_t − ℓ_{t,i}`` (the
expected loss of the mixed strategy, as in CFR and in Cesa-Bianchi & Lugosi 2006, Section 2.1,
the polynomial potential with ``p = 2``; Hart & Mas-Colell's procedure for a player of a game
uses the realised loss ``ℓ_{t,A_t}`` instead).

- RM: ``R_t = R_{t−1} + r_t``, ``p_{t+1} ∝ R_t^+``.
- RM+: ``Q_t = (Q_{t−1} + r_t)^+``, ``p_{t+1} ∝ Q_t``.

Sure bound (Blackwell's condition; for RM+ as in Tammelin, Burch, Johanson & Bowling, IJCAI
2015): ``⟨R_{t−1}^+, r_t⟩ = 0`` because ``p_t ∝ R_{t−1}^+``, and ``x ↦ x^+`` moves no coordinate
further from a non-negative point, so ``‖R_t^+‖² <= ‖R_{t−1}^+‖² + ‖r_t‖²`` (likewise for ``Q``,
and ``Q_T >= R_T`` coordinatewise). Hence for every loss sequence in ``[0, 1]``

    Σ_t p_t·ℓ_t − min_i L_{T,i} = max_i R_{T,i} <= sqrt(Σ_t ‖r_t‖²) <= sqrt(K T).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .base import Learner, check_count


@dataclass
class RegretMatchingState:
    """``regrets``: ``R_{t−1}`` (RM) or ``Q_{t−1}`` (RM+), ``(R, K)``; ``w``, ``total``: the weights
    last handed out and their sums."""

    regrets: np.ndarray
    w: np.ndarray | None = None
    total: np.ndarray | None = None


@dataclass(frozen=True)
class RegretMatching(Learner):
    """Regret matching (Hart & Mas-Colell 2000) over ``n_actions`` actions."""

    n_actions: int

    feedback = "full"
    #: Clip the cumulative regrets at 0 after every round (RM+, Tammelin 2014).
    plus = False

    def __post_init__(self):
        check_count("n_actions", self.n_actions)

    def regret_bound(self, horizon: int) -> float:
        """``sqrt(K T)``: a sure bound on the regret of the mixed strategies (module docstring)."""
        return math.sqrt(self.n_actions * horizon)

    def start(self, n_runs: int, horizon: int) -> RegretMatchingState:
        return RegretMatchingState(np.zeros((n_runs, self.n_actions)))

    def weights(self, state: RegretMatchingState) -> np.ndarray:
        w = np.maximum(state.regrets, 0.0)
        total = w.sum(axis=1)
        none = total == 0.0
        if none.any():
            w[none] = 1.0
            total[none] = self.n_actions
        state.w, state.total = w, total
        return w

    def observe(self, state: RegretMatchingState, actions, losses: np.ndarray) -> None:
        """``losses``: the ``(R, K)`` loss vectors of the round (``actions`` are not used)."""
        mixed = np.einsum("rk,rk->r", state.w, losses) / state.total
        state.regrets += mixed[:, None] - losses
        if self.plus:
            np.maximum(state.regrets, 0.0, out=state.regrets)


@dataclass(frozen=True)
class RegretMatchingPlus(RegretMatching):
    """Regret matching+ (Tammelin 2014): cumulative regrets clipped at 0 after every round."""

    plus = True


__all__ = ["RegretMatching", "RegretMatchingPlus", "RegretMatchingState"]
