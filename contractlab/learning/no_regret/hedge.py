"""Hedge: the exponentially weighted average forecaster with full information (Vovk 1990;
Littlestone & Warmuth 1994; Freund & Schapire 1997), as in Cesa-Bianchi & Lugosi,
*Prediction, Learning, and Games* (2006), Section 2.1:

    p_{t,i} = exp(−η L_{t−1,i}) / Σ_j exp(−η L_{t−1,j}),     L_{t−1,i} = Σ_{s<t} ℓ_{s,i}.

Theorem 2.2 there: for losses in ``[0, 1]``, every ``η > 0`` and EVERY loss sequence (a sure
bound, no expectation), the regret of the mixed strategies satisfies

    Σ_t p_t·ℓ_t − min_i L_{T,i} <= ln K / η + η T / 8,

and ``η = sqrt(8 ln K / T)`` makes it ``sqrt(T ln K / 2)``.

``p_t`` depends on the past only through ``L_{t−1}``, so against an oblivious adversary a whole
block of rounds is computed at once from the cumulative losses (``block_weights``).

Numerically the weights are ``exp(−η (L_{t−1,i} − s_t))`` with ``s_t = min_j L_{τ,j}``, the smallest
cumulative loss at the last round ``τ <= t − 1`` that is a multiple of ``P = ⌊32 / η⌋`` (at least
1, at most ``T``; ``τ = 0`` at first). The shift changes no probability. It keeps every exponent
``<= 0`` (``L`` only grows, so ``L_{t−1,i} >= s_t``: nothing overflows), and the action that led
at ``τ`` has lost at most ``t − 1 − τ < P`` since, so its weight is ``>= exp(−η (P − 1)) > e^-32``
(the sum never underflows); the minimum over the actions is taken only every ``P`` rounds.
``s_t`` depends on ``t``, ``η`` and ``T`` only, not on how the rounds are split into blocks, so
the blocks and the round-by-round path agree bit for bit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .base import Learner, check_count, check_real, min_last_axis


#: The stabilising shift is refreshed at least every ``SHIFT_EXPONENT / η`` rounds (module docstring).
SHIFT_EXPONENT = 32.0


@dataclass
class HedgeState:
    """``eta``: the learning rate in use; ``period``: rounds between refreshes of the shift;
    ``rounds``: rounds observed so far (``t − 1``); ``cumulative``: ``L_{t−1}``, ``(R, K)``;
    ``shift``: ``min_i L_{τ,i}`` at the last multiple ``τ`` of ``period`` that is ``<= t − 1``, ``(R,)``."""

    eta: float
    period: int
    rounds: int
    cumulative: np.ndarray
    shift: np.ndarray


@dataclass(frozen=True)
class Hedge(Learner):
    """Exponential weights over ``n_actions`` actions with learning rate ``eta`` (``None``: tuned
    to the horizon of the run, ``η = sqrt(8 ln K / T)``, Cesa-Bianchi & Lugosi 2006, Thm 2.2)."""

    n_actions: int
    eta: float | None = None

    feedback = "full"
    time_vectorised = True

    def __post_init__(self):
        check_count("n_actions", self.n_actions)
        if self.eta is not None:
            check_real("eta", self.eta, 0.0, low_open=True)

    def learning_rate(self, horizon: int) -> float:
        """``eta``, or ``sqrt(8 ln K / T)`` if it is ``None``."""
        if self.eta is not None:
            return float(self.eta)
        return math.sqrt(8.0 * math.log(self.n_actions) / check_count("horizon", horizon))

    def regret_bound(self, horizon: int) -> float:
        """``ln K / η + η T / 8`` (Thm 2.2): a sure bound on the regret of the mixed strategies
        after ``horizon`` rounds of a run of that horizon (0 for ``K = 1``)."""
        eta = self.learning_rate(horizon)
        return 0.0 if self.n_actions == 1 else math.log(self.n_actions) / eta + eta * horizon / 8.0

    def start(self, n_runs: int, horizon: int) -> HedgeState:
        eta = self.learning_rate(horizon)
        period = int(min(horizon, max(1.0, SHIFT_EXPONENT / eta))) if eta > 0 else horizon
        return HedgeState(eta, max(period, 1), 0, np.zeros((n_runs, self.n_actions)), np.zeros(n_runs))

    def weights(self, state: HedgeState) -> np.ndarray:
        w = state.cumulative - state.shift[:, None]
        np.multiply(w, -state.eta, out=w)
        return np.exp(w, out=w)

    def observe(self, state: HedgeState, actions, losses: np.ndarray) -> None:
        np.add(state.cumulative, losses, out=state.cumulative)
        state.rounds += 1
        if state.rounds % state.period == 0:
            state.shift = min_last_axis(state.cumulative)

    def block_weights(self, state: HedgeState, cum_prev: np.ndarray, out: np.ndarray) -> np.ndarray:
        """The weights of rounds ``t0 + 1 … t0 + n`` (``t0 = state.rounds``) from ``cum_prev[j] =
        L_{t0+j}``, as ``weights`` gives them round by round; advances ``state.rounds`` and
        ``state.shift`` past the block (not ``state.cumulative``: the runner keeps the sums)."""
        n, P = cum_prev.shape[0], state.period
        first = -state.rounds % P                     # the first row j with t0 + j a multiple of P
        refresh = np.arange(first, n, P)
        if refresh.size == 0:
            np.subtract(cum_prev, state.shift[None, :, None], out=out)
        else:
            table = np.concatenate([state.shift[None], min_last_axis(cum_prev[refresh])])
            which = (np.arange(n) - first + P) // P          # 0: the carried shift
            np.subtract(cum_prev, table[which][..., None], out=out)
            state.shift = table[-1].copy()
        state.rounds += n
        np.multiply(out, -state.eta, out=out)
        return np.exp(out, out=out)


__all__ = ["Hedge", "HedgeState", "SHIFT_EXPONENT"]
