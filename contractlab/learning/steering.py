"""Steering no-regret learners to a target profile of a bimatrix game with payments.

Source: Zhang, Farina, Anagnostides, Cacciamani, McAleer, Haupt, Celli, Gatti, Conitzer &
Sandholm, *Steering No-Regret Learners to a Desired Equilibrium* (arXiv 2306.05221). A mediator
watches two no-regret learners play a game ``(A, B)`` round after round and pays them
(non-negative payments) to steer play to a target profile ``d = (d_1, d_2)``. The paper shows
(abstract) that a total budget that does not grow with ``T`` cannot steer, and that one growing
sublinearly in ``T`` (a vanishing average payment) suffices to steer to an equilibrium. The
payment rule below is designed and proved HERE, not transcribed from the paper (whose
normal-form scheme we did not have in front of us); it shows the dichotomy on the classic
examples: a sublinear budget to a pure Nash equilibrium (the stag hunt's (stag, stag)), a linear
budget to a profile that is not one (cooperation in the prisoner's dilemma).

The payment rule: dominance payments with a decaying margin
----------------------------------------------------------
Round ``t = 1, 2, ...`` has the margin ``δ_t = margin · t^(−decay)`` (``margin >= 0``, ``decay >= 0``).
The game's own margin of the row player's target against column ``b`` is

    m_1(b) = A[d_1, b] − max_{a ≠ d_1} A[a, b]          (+∞ if the row player has one action),

and likewise ``m_2(a) = B[a, d_2] − max_{b ≠ d_2} B[a, b]``. The payments are

    P_1^t(a, b) = 1{a = d_1} · max(0, δ_t − m_1(b)),      P_2^t(a, b) = 1{b = d_2} · max(0, δ_t − m_2(a)):

the row player is paid only when it plays its target, and then the amount that makes the target
beat every other row by ``δ_t`` against the column actually played, minus what the game already
guarantees (``m_1(b)``), and never less than 0. Properties (each checked by a registered theorem
of :mod:`contractlab.proofs_checks.theorems_steering_games`):

(P1) ``0 <= P_i^t <= max(0, δ_1 − min m_i) <= span(payoffs_i) + margin``; zero off the target action.
(P2) Dominance: in the steered game ``(A + P_1^t, B + P_2^t)`` the target action of each player is
     strictly dominant by at least ``δ_t``: ``(A + P_1^t)[d_1, b] − (A + P_1^t)[a, b] >= δ_t`` for all
     ``a ≠ d_1`` and all ``b``, with equality against the best deviation wherever ``P_1^t > 0``: no
     smaller non-negative payment made on the target action alone does it (minimality).
(P3) At the target: the payment there is ``c_i(t) = max(0, δ_t − m_i(d_{−i}))``. If ``d`` is a pure
     Nash equilibrium, ``m_i(d_{−i}) >= 0`` and ``c_i(t) <= δ_t`` (0 as soon as ``δ_t <= m_i(d_{−i})``:
     a strict equilibrium costs nothing at the target); otherwise some player has
     ``c_i(t) >= −m_i(d_{−i}) = `` its gain from deviating, ``> 0`` in every round.
(P4) Budget sandwich: with ``p_t, q_t`` the learners' strategies, ``dist_t = 1 − p_t(d_1) q_t(d_2)``
     (the distance of play to the target) and ``E_t = Σ_i E[P_i^t]`` the expected payment of round
     ``t`` under ``p_t ⊗ q_t``,

         (1 − dist_t) Σ_i c_i(t)  <=  E_t  <=  (1 − dist_t) Σ_i c_i(t) + dist_t Σ_i max_x P_i^t(x).

     Proof: ``E[P_1^t] = p(d_1) Σ_b q(b) P_1^t(d_1, b) = p(d_1) q(d_2) c_1(t) + p(d_1) Σ_{b ≠ d_2} q(b)
     P_1^t(d_1, b)``; ``p(d_1) q(d_2) = 1 − dist_t``, and the last sum is between 0 and
     ``p(d_1)(1 − q(d_2)) max P_1^t <= dist_t max P_1^t``. Hence the budget ``Σ_{t<=T} E_t`` is
     ``o(T)`` when ``d`` is an equilibrium, ``δ_t → 0`` and ``Σ_t dist_t = o(T)`` (the learners,
     facing a strictly dominant action, converge); and it is ``>= (gain) · Σ_t (1 − dist_t)``,
     linear, when ``d`` is not an equilibrium and play stays near it.

Why the margin decays: with a constant margin the payment at a weak (non-strict) equilibrium
target is ``δ`` per round forever, a linear budget; ``δ_t = margin · t^(−1/3)`` (the default decay)
costs ``O(T^{2/3})`` there and still keeps the target strictly dominant in every round. At a strict
equilibrium with ``margin <= m_i(d_{−i})`` the payments at the target are 0 whatever the decay.

The runs
--------
:func:`steer_game` is :func:`~.no_regret.self_play.self_play` with the payments added to each
player's payoff in every round: each learner sees the payoffs of the steered game of that round.
In ``"mixed"`` mode a full-information learner observes ``(A + P_1^t) q_t`` and the payments are
their expectation under ``p_t ⊗ q_t``; in ``"sampled"`` mode actions ``a_t ~ p_t``, ``b_t ~ q_t`` are
drawn and a learner observes its column/row of the steered game at the other's realised action
(full information) or only its own realised payoff (bandit); the mediator then pays
``P_i^t(a_t, b_t)`` (recorded as ``realised_payments``), and the expected payments given the history
are recorded as well. Losses: the steered payoffs of player ``i`` lie in
``[min M_i, max M_i + margin]`` (``M_1 = A``, ``M_2 = B``; by (P2)'s formula the steered payoff of the
target is ``max(M_i[d_i, ·], max_{others} + δ_t) <= max M_i + δ_1``), so the fixed affine map
``ℓ = (max M_i + margin − u) / (span M_i + margin)`` (span 1 if that is 0) puts every loss in ``[0, 1]``
for the whole run.

Vectorised over the seeds, round by round; a run's draws come from its own two generators
(:func:`~.no_regret.base.run_generators`), every sum is per run and in the order of the rounds,
so a seed's run is the same bit for bit alone or in any batch.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

from ..theory.bimatrix import BimatrixGame
from ..theory.errors import InvalidInstanceError
from ..theory.validation import check_real
from .no_regret.base import Learner, check_count, draw_uniforms, run_generators, sample_actions
from .no_regret.run import _horizons, _seeds
from .no_regret.self_play import BLOCK_ROUNDS, _check

#: Default ``margin``: ``δ_1``, in payoff units (half the stag hunt's own margin at (stag, stag), so
#: that steering to it pays nothing at the target).
DEFAULT_MARGIN = 0.5
#: Default ``decay``: ``δ_t = margin · t^(−1/3)`` (module docstring: ``O(T^{2/3})`` at a weak equilibrium).
DEFAULT_DECAY = 1.0 / 3.0


def check_target(game: BimatrixGame, target) -> tuple[int, int]:
    """``target`` as ``(d_1, d_2)``: a pair of action indices of ``game`` (or action names)."""
    if not isinstance(game, BimatrixGame):
        raise InvalidInstanceError("game", f"expected a BimatrixGame, got {type(game).__name__}")
    try:
        pair = tuple(target)
    except TypeError:
        raise InvalidInstanceError("target", f"must be a pair (row action, column action), got {target!r}") from None
    if len(pair) != 2:
        raise InvalidInstanceError("target", f"must be a pair (row action, column action), got {len(pair)} items")
    out = []
    for i, (value, n, names) in enumerate(zip(pair, game.shape,
                                              (game.leader_action_names, game.follower_action_names))):
        if isinstance(value, str) and names and value in names:
            value = names.index(value)
        if isinstance(value, bool) or not isinstance(value, (numbers.Integral, np.integer)) or not 0 <= value < n:
            raise InvalidInstanceError("target", f"must be an action index in 0..{n - 1} (or an action name), "
                                       f"got {value!r}", i)
        out.append(int(value))
    return out[0], out[1]


def target_margins(game: BimatrixGame, target) -> tuple[np.ndarray, np.ndarray]:
    """The game's own margins of the target actions: ``m_1`` ``(l,)`` with ``m_1[b] = A[d_1, b] −
    max_{a ≠ d_1} A[a, b]`` and ``m_2`` ``(k,)`` with ``m_2[a] = B[a, d_2] − max_{b ≠ d_2} B[a, b]``
    (``+inf`` for a player with a single action). ``d`` is a pure Nash equilibrium iff
    ``m_1[d_2] >= 0`` and ``m_2[d_1] >= 0``."""
    d1, d2 = check_target(game, target)
    A, B = game.leader_payoffs, game.follower_payoffs
    return _own_margin(A, d1), _own_margin(B.T, d2)


def _own_margin(M: np.ndarray, d: int) -> np.ndarray:
    """``M[d, j] − max_{i ≠ d} M[i, j]`` for every column ``j`` (``+inf`` if ``M`` has one row)."""
    others = np.delete(M, d, axis=0)
    if others.shape[0] == 0:
        return np.full(M.shape[1], np.inf)
    return M[d] - others.max(axis=0)


def margin_schedule(rounds, margin: float = DEFAULT_MARGIN, decay: float = DEFAULT_DECAY) -> np.ndarray:
    """``δ_t = margin · t^(−decay)`` for each round ``t >= 1`` of ``rounds``."""
    t = np.asarray(rounds, dtype=float)
    return margin * t ** -decay


def payment_tables(game: BimatrixGame, target, deltas) -> tuple[np.ndarray, np.ndarray]:
    """The payments on the target actions at margins ``deltas`` (shape ``S``): ``P_1`` ``S + (l,)``
    with ``P_1[..., b] = max(0, δ − m_1(b))``, the row player's payment for playing ``d_1`` against
    column ``b`` (it is paid nothing for any other row), and ``P_2`` ``S + (k,)``, the column
    player's for playing ``d_2`` against row ``a``."""
    m1, m2 = target_margins(game, target)
    delta = np.asarray(deltas, dtype=float)[..., None]
    return np.maximum(0.0, delta - m1), np.maximum(0.0, delta - m2)


def steered_game(game: BimatrixGame, target, delta: float) -> BimatrixGame:
    """The game ``(A + P_1, B + P_2)`` with the payments at margin ``delta``, in which each player's
    target action is strictly dominant by at least ``delta`` (module docstring, (P2))."""
    d1, d2 = check_target(game, target)
    delta = check_real("delta", delta, 0.0)
    pay1, pay2 = payment_tables(game, (d1, d2), delta)
    A, B = game.leader_payoffs.copy(), game.follower_payoffs.copy()
    A[d1] += pay1
    B[:, d2] += pay2
    return game.replace(leader_payoffs=A, follower_payoffs=B)


@dataclass(frozen=True, eq=False)
class SteeringGameRun:
    """A steering run, per seed (rows) and recorded horizon (``horizons``, the last being ``horizon``).

    ``payments`` ``(R, H, 2)``: each player's cumulative EXPECTED payment ``Σ_{s<=t} E[P_i^s]`` under
    ``p_s ⊗ q_s``; ``realised_payments`` ``(R, H, 2)``: ``Σ_{s<=t} P_i^s(a_s, b_s)`` (``"sampled"`` mode;
    ``None`` in ``"mixed"`` mode, where nothing is drawn); ``distance`` ``(R, H)``: ``1 − p_t(d_1) q_t(d_2)``
    at round ``t``; ``cumulative_distance`` ``(R, H)``: ``Σ_{s<=t} dist_s``; ``margins`` ``(H,)``: ``δ_t``;
    ``regret`` ``(R, H, 2)``: each player's regret in the steered payoffs (as in
    :class:`~.no_regret.self_play.SelfPlayRun`); ``joint`` ``(R, k, l)``: the empirical distribution of
    play after ``horizon`` rounds; ``scales``: ``((top_1, span_1), (top_2, span_2))`` of the loss maps.
    """

    game: BimatrixGame
    target: tuple[int, int]
    row_learner: Learner
    column_learner: Learner
    horizon: int
    seeds: np.ndarray
    mode: str
    margin: float
    decay: float
    horizons: np.ndarray
    margins: np.ndarray
    payments: np.ndarray
    realised_payments: np.ndarray | None
    distance: np.ndarray
    cumulative_distance: np.ndarray
    regret: np.ndarray
    joint: np.ndarray
    scales: tuple[tuple[float, float], tuple[float, float]]

    def _column(self, t: int | None) -> int:
        if t is None:
            return self.horizons.size - 1
        ok = not isinstance(t, bool) and isinstance(t, (numbers.Integral, np.integer))
        h = int(np.searchsorted(self.horizons, t)) if ok else 0
        if not ok or h >= self.horizons.size or self.horizons[h] != t:
            raise InvalidInstanceError("t", f"must be a recorded horizon ({self.horizons[0]}..{self.horizons[-1]}), "
                                       f"got {t!r}")
        return h

    def budget_curve(self, realised: bool = False) -> np.ndarray:
        """``(R, H)``: the mediator's total budget (both players' cumulative payments) at every
        recorded horizon: expected, or realised (``"sampled"`` mode only)."""
        paid = self.realised_payments if realised else self.payments
        if paid is None:
            raise InvalidInstanceError("realised", "no realised payments in 'mixed' mode (nothing is drawn)")
        return paid.sum(axis=2)

    def budget(self, t: int | None = None, realised: bool = False) -> np.ndarray:
        """``(R,)``: the total budget after ``t`` rounds (a recorded horizon; default ``horizon``)."""
        return self.budget_curve(realised)[:, self._column(t)]

    def average_payment(self, realised: bool = False) -> np.ndarray:
        """``(R, H)``: the budget per round, ``budget(t)/t``."""
        return self.budget_curve(realised) / self.horizons

    def average_distance(self) -> np.ndarray:
        """``(R, H)``: ``(1/t) Σ_{s<=t} dist_s``."""
        return self.cumulative_distance / self.horizons


def steer_game(game: BimatrixGame, target, row_learner: Learner, column_learner: Learner, horizon: int, seeds=0,
               *, margin: float = DEFAULT_MARGIN, decay: float = DEFAULT_DECAY, mode: str | None = None,
               record=None) -> SteeringGameRun:
    """Play ``horizon`` rounds of ``game`` between the two learners with the mediator's dominance
    payments steering to ``target`` (module docstring), one run per seed.

    ``target``: ``(d_1, d_2)``, action indices or names. ``margin``, ``decay``: ``δ_t = margin ·
    t^(−decay)`` (``margin >= 0``, ``decay >= 0``). ``mode``, ``seeds``: as in
    :func:`~.no_regret.self_play.self_play` (default ``"mixed"`` for two full-information learners,
    else ``"sampled"``). ``record``: horizons to record (default: every round; ``horizon`` is always
    recorded). Raises :class:`InvalidInstanceError` naming the field of any bad argument.
    """
    mode = _check(game, row_learner, column_learner, mode)
    d1, d2 = check_target(game, target)
    margin = check_real("margin", margin, 0.0, 1e150)
    decay = check_real("decay", decay, 0.0, 1e3)
    T = check_count("horizon", horizon)
    seed_array = _seeds(seeds)
    horizons = _horizons(None if record is None else [*np.ravel(record), T], T)
    A, B = game.leader_payoffs, game.follower_payoffs
    m1, m2 = target_margins(game, (d1, d2))
    (top1, span1), (top2, span2) = _loss_map(A, margin), _loss_map(B, margin)
    R, (k, l) = seed_array.size, A.shape
    runs = np.arange(R)
    s1, s2 = row_learner.start(R, T), column_learner.start(R, T)
    bandit1, bandit2 = row_learner.feedback == "bandit", column_learner.feedback == "bandit"
    sampled = mode == "sampled"
    U1, U2, got = np.zeros((R, k)), np.zeros((R, l)), np.zeros((R, 2))
    paid, realised, cum_dist = np.zeros((R, 2)), np.zeros((R, 2)), np.zeros(R)
    joint = np.zeros((R, k, l))
    H = horizons.size
    rec_paid, rec_dist, rec_cum = np.empty((R, H, 2)), np.empty((R, H)), np.empty((R, H))
    rec_real = np.empty((R, H, 2)) if sampled else None
    rec_regret = np.empty((R, H, 2))
    rngs = run_generators(seed_array) if sampled else None
    h = 0
    for t0 in range(0, T, BLOCK_ROUNDS):
        n = min(BLOCK_ROUNDS, T - t0)
        deltas = margin_schedule(np.arange(t0 + 1, t0 + n + 1), margin, decay)
        pay1_block = np.maximum(0.0, deltas[:, None] - m1)          # (n, l)
        pay2_block = np.maximum(0.0, deltas[:, None] - m2)          # (n, k)
        if sampled:
            u_row, u_col = draw_uniforms(rngs[0], n)[..., 0], draw_uniforms(rngs[1], n)[..., 0]
        for j in range(n):
            pay1, pay2 = pay1_block[j], pay2_block[j]
            w1, w2 = row_learner.weights(s1), column_learner.weights(s2)
            p = w1 / w1.sum(axis=1, keepdims=True)
            q = w2 / w2.sum(axis=1, keepdims=True)
            bonus1, bonus2 = (q * pay1).sum(axis=1), (p * pay2).sum(axis=1)   # E[payment | own target]
            paid[:, 0] += p[:, d1] * bonus1
            paid[:, 1] += q[:, d2] * bonus2
            dist = 1.0 - p[:, d1] * q[:, d2]
            cum_dist += dist
            if sampled:
                a, b = sample_actions(w1, u_row[j]), sample_actions(w2, u_col[j])
                v1, v2 = A[:, b].T.copy(), B[a, :].copy()
                v1[:, d1] += pay1[b]
                v2[:, d2] += pay2[a]
                realised[:, 0] += np.where(a == d1, pay1[b], 0.0)
                realised[:, 1] += np.where(b == d2, pay2[a], 0.0)
                got[:, 0] += v1[runs, a]
                got[:, 1] += v2[runs, b]
                joint[runs, a, b] += 1.0
            else:
                a = b = None
                v1 = (q[:, None, :] * A).sum(axis=2)
                v2 = (p[:, :, None] * B).sum(axis=1)
                v1[:, d1] += bonus1
                v2[:, d2] += bonus2
                got[:, 0] += (p * v1).sum(axis=1)
                got[:, 1] += (q * v2).sum(axis=1)
                joint += p[:, :, None] * q[:, None, :]
            U1 += v1
            U2 += v2
            loss1 = np.clip((top1 - v1) / span1, 0.0, 1.0)       # clip: round-off only (module docstring)
            loss2 = np.clip((top2 - v2) / span2, 0.0, 1.0)
            row_learner.observe(s1, a, loss1[runs, a] if bandit1 else loss1)
            column_learner.observe(s2, b, loss2[runs, b] if bandit2 else loss2)
            if h < H and horizons[h] == t0 + j + 1:
                rec_paid[:, h] = paid
                rec_dist[:, h] = dist
                rec_cum[:, h] = cum_dist
                if sampled:
                    rec_real[:, h] = realised
                rec_regret[:, h, 0] = U1.max(axis=1) - got[:, 0]
                rec_regret[:, h, 1] = U2.max(axis=1) - got[:, 1]
                h += 1
    joint /= T
    return SteeringGameRun(game, (d1, d2), row_learner, column_learner, T, seed_array, mode, margin, decay,
                           horizons, margin_schedule(horizons, margin, decay), rec_paid, rec_real, rec_dist,
                           rec_cum, rec_regret, joint, ((top1, span1), (top2, span2)))


def _loss_map(M: np.ndarray, margin: float) -> tuple[float, float]:
    """``(max M + margin, span M + margin)`` (span 1 if that is 0): the steered payoffs lie in
    ``[min M, max M + margin]`` (module docstring), so ``(top − u)/span`` is in ``[0, 1]``."""
    span = float(np.ptp(M)) + margin
    return float(M.max()) + margin, span if span > 0 else 1.0


__all__ = ["DEFAULT_MARGIN", "DEFAULT_DECAY", "check_target", "target_margins", "margin_schedule",
           "payment_tables", "steered_game", "steer_game", "SteeringGameRun"]
