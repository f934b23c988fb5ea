"""Self-play: two no-regret learners playing a bimatrix game against each other, many seeds at once.

The row player learns with ``row_learner`` over the ``k`` rows of the game, the column player
with ``column_learner`` over the ``l`` columns (any :class:`~.base.Learner`). In round ``t`` each
learner commits to a strategy (``p_t``, ``q_t``), computed from what it has seen before round
``t``. Payoffs are turned into losses in ``[0, 1]`` by the affine map
``ℓ = (max A − u) / span A`` (``span A = max A − min A``, 1 if ``A`` is constant; likewise for
``B``), so a learner's loss-regret times ``span`` is its regret in payoff. Two modes:

``"mixed"`` (both learners full-information; deterministic, the seeds are all alike)
    Each learner observes the loss vector of its actions against the other's MIXED strategy,
    ``u_1 = A q_t``, ``u_2 = p_t'B``. Regrets and the empirical distribution are those of the
    mixed strategies: ``R_1 = max_i Σ_t (A q_t)_i − Σ_t p_t'A q_t`` (likewise ``R_2``),
    ``σ_T = (1/T) Σ_t p_t ⊗ q_t``. This is the self-play of Freund & Schapire (*Adaptive game
    playing using multiplicative weights*, GEB 29, 1999) and of CFR-style solvers.
``"sampled"`` (any learners; bandit learners need it)
    Actions ``a_t ~ p_t``, ``b_t ~ q_t`` are drawn (inverse CDF, one uniform per player, run and
    round from the two generators of the seed, :func:`~.base.run_generators`). A full-information
    learner observes the loss vector of its actions against the other's REALISED action
    (``A[:, b_t]``), a bandit learner only its own realised loss. Regrets are realised:
    ``R_1 = max_i Σ_t A[i, b_t] − Σ_t A[a_t, b_t]``; ``σ_T`` is the empirical distribution of the
    pairs ``(a_t, b_t)`` (Hart & Mas-Colell, Econometrica 68, 2000).

In both modes ``σ_T`` is an ε-coarse correlated equilibrium with ``ε = max(R_1, R_2)/T`` exactly:
the deviation gains of ``σ_T`` (:func:`contractlab.solvers.cce.deviation_gains`) are the regrets
against each fixed action divided by ``T`` (Cesa-Bianchi & Lugosi 2006, Section 7.4). In a
zero-sum game (``B = −A``) the averages ``p̄ = Σ_t p_t/T``, ``q̄`` have duality gap ``(R_1 + R_2)/T``
(Freund & Schapire 1999).

Vectorised over the seeds (every array has the runs on its first axis), round by round; sums are
accumulated in the order of the rounds, and a run's draws come from its own generators only, so
a seed's result is the same alone or in any batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...theory.bimatrix import BimatrixGame
from ...theory.errors import InvalidInstanceError
from .base import Learner, check_count, draw_uniforms, run_generators, sample_actions
from .run import _horizons, _seeds

MODES = ("mixed", "sampled")

#: Rounds whose uniforms are drawn at once in ``"sampled"`` mode (no result depends on it).
BLOCK_ROUNDS = 1024


@dataclass(frozen=True, eq=False)
class SelfPlayRun:
    """Both players' regrets and the empirical distribution of play (module docstring).

    ``regret`` ``(R, H, 2)``: the row and column players' regrets IN PAYOFF at each recorded
    horizon (``horizons``, the last being ``horizon``); ``joint`` ``(R, k, l)``: ``σ_T`` at the last
    round; ``scales``: the spans that turned each player's payoffs into losses in ``[0, 1]``.
    """

    game: BimatrixGame
    row_learner: Learner
    column_learner: Learner
    horizon: int
    seeds: np.ndarray
    mode: str
    horizons: np.ndarray
    regret: np.ndarray
    joint: np.ndarray
    scales: tuple[float, float]

    @property
    def final_regret(self) -> np.ndarray:
        """``(R, 2)``: ``(R_1, R_2)`` after ``horizon`` rounds (always recorded)."""
        return self.regret[:, -1]

    @property
    def row_average(self) -> np.ndarray:
        """``(R, k)``: ``p̄`` (mixed: ``Σ_t p_t / T``; sampled: the frequencies of the rows played)."""
        return self.joint.sum(axis=2)

    @property
    def column_average(self) -> np.ndarray:
        """``(R, l)``: ``q̄``."""
        return self.joint.sum(axis=1)

    @property
    def epsilon(self) -> np.ndarray:
        """``(R,)``: ``max(R_1, R_2)/T``, the ε of the ε-CCE ``σ_T``."""
        return self.final_regret.max(axis=1) / self.horizon


def _loss_map(M: np.ndarray) -> tuple[float, float]:
    """``(max M, span)`` of the affine map ``u ↦ (max M − u)/span`` onto ``[0, 1]``."""
    top, span = float(M.max()), float(np.ptp(M))
    return top, span if span > 0 else 1.0


def _check(game, row_learner, column_learner, mode) -> str:
    if not isinstance(game, BimatrixGame):
        raise InvalidInstanceError("game", f"expected a BimatrixGame, got {type(game).__name__}")
    for name, learner, n in (("row_learner", row_learner, game.n_leader_actions),
                             ("column_learner", column_learner, game.n_follower_actions)):
        if not isinstance(learner, Learner):
            raise InvalidInstanceError(name, f"expected a Learner, got {type(learner).__name__}")
        if learner.n_actions != n:
            raise InvalidInstanceError(name, f"has {learner.n_actions} actions, the game {n}")
    bandit = "bandit" in (row_learner.feedback, column_learner.feedback)
    if mode is None:
        return "sampled" if bandit else "mixed"
    if mode not in MODES:
        raise InvalidInstanceError("mode", f"must be one of {', '.join(MODES)}, got {mode!r}")
    if mode == "mixed" and bandit:
        raise InvalidInstanceError("mode", "'mixed' needs two full-information learners (a bandit learner "
                                   "observes only the loss of an action it played)")
    return mode


def self_play(game: BimatrixGame, row_learner: Learner, column_learner: Learner, horizon: int, seeds=0, *,
              mode: str | None = None, record=None) -> SelfPlayRun:
    """Play ``horizon`` rounds of ``game`` between the two learners, one run per seed.

    ``mode``: ``"mixed"`` or ``"sampled"`` (module docstring); default ``"mixed"`` for two
    full-information learners, else ``"sampled"``. ``seeds``: an integer or a sequence of
    integers ``>= 0`` (the generators of :func:`~.base.run_generators`: the first child draws the
    row player's actions, the second the column player's). ``record``: horizons at which to
    record the regrets (``horizon`` itself is always recorded).
    """
    mode = _check(game, row_learner, column_learner, mode)
    T = check_count("horizon", horizon)
    seed_array = _seeds(seeds)
    horizons = _horizons([T] if record is None else [*np.ravel(record), T], T)
    A, B = game.leader_payoffs, game.follower_payoffs
    (a_top, a_span), (b_top, b_span) = _loss_map(A), _loss_map(B)
    R, (k, l) = seed_array.size, A.shape
    runs = np.arange(R)
    s1, s2 = row_learner.start(R, T), column_learner.start(R, T)
    bandit1, bandit2 = row_learner.feedback == "bandit", column_learner.feedback == "bandit"
    U1, U2 = np.zeros((R, k)), np.zeros((R, l))     # Σ_t payoff of every fixed action
    got = np.zeros((R, 2))                          # Σ_t payoff received
    joint = np.zeros((R, k, l))
    regret = np.empty((R, horizons.size, 2))
    rngs = run_generators(seed_array) if mode == "sampled" else None
    h = 0
    for t0 in range(0, T, BLOCK_ROUNDS):
        n = min(BLOCK_ROUNDS, T - t0)
        if rngs is not None:
            u_row, u_col = draw_uniforms(rngs[0], n)[..., 0], draw_uniforms(rngs[1], n)[..., 0]
        for j in range(n):
            w1, w2 = row_learner.weights(s1), column_learner.weights(s2)
            if mode == "mixed":
                p = w1 / w1.sum(axis=1, keepdims=True)
                q = w2 / w2.sum(axis=1, keepdims=True)
                v1, v2 = q @ A.T, p @ B                         # payoff of each row vs q_t, column vs p_t
                got[:, 0] += (p * v1).sum(axis=1)
                got[:, 1] += (q * v2).sum(axis=1)
                joint += p[:, :, None] * q[:, None, :]
                a = b = None
            else:
                a, b = sample_actions(w1, u_row[j]), sample_actions(w2, u_col[j])
                v1, v2 = A[:, b].T, B[a, :]
                got[:, 0] += A[a, b]
                got[:, 1] += B[a, b]
                joint[runs, a, b] += 1.0
            U1 += v1
            U2 += v2
            loss1, loss2 = (a_top - v1) / a_span, (b_top - v2) / b_span
            row_learner.observe(s1, a, loss1[runs, a] if bandit1 else loss1)
            column_learner.observe(s2, b, loss2[runs, b] if bandit2 else loss2)
            if h < horizons.size and horizons[h] == t0 + j + 1:
                regret[:, h, 0] = U1.max(axis=1) - got[:, 0]
                regret[:, h, 1] = U2.max(axis=1) - got[:, 1]
                h += 1
    joint /= T
    return SelfPlayRun(game, row_learner, column_learner, T, seed_array, mode, horizons, regret, joint,
                       (a_span, b_span))


__all__ = ["self_play", "SelfPlayRun", "MODES", "BLOCK_ROUNDS"]
