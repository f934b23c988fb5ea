"""Regret theorems: the no-regret learners' bounds, and what self-play reaches in games.

Every bound is the sympy expression of :mod:`contractlab.theory.regret_bounds` (evaluated
exactly by ``RegretBound.evaluate``, or by its ``numpy_function`` where a whole path of rounds is
compared); none is typed again here. Regrets are measured by
:func:`contractlab.learning.no_regret.run` (or stepped here, where the learner's state is read),
game quantities by :mod:`contractlab.solvers.cce` (definitions in numpy, and exact LPs).

Learners (``regret.*``; losses in ``[0, 1]``, adversaries drawn by the strategies of
:mod:`contractlab.learning.no_regret.adversaries`, adaptive ones included where the bound is sure):

* ``regret.hedge_sure_bound`` — Hedge with any ``η``: ``R(t) <= ln K/η + η t/8`` at EVERY round
  ``t`` of every drawn run (Cesa-Bianchi & Lugosi 2006, Thm 2.2; a sure bound, no slack).
* ``regret.hedge_tuned`` — Hedge with the horizon-tuned rate uses ``η = sqrt(8 ln K/T)`` and has
  ``R(T) <= sqrt(T ln K/2)``.
* ``regret.regret_matching`` — RM and RM+: ``R(t) <= Δ sqrt(K t)`` at every round (``Δ = 1``), and on
  an oblivious sequence the learner's own regret vector is the one Blackwell's argument bounds:
  RM's ``R_T`` is the true cumulative regret vector with ``‖R_T^+‖_2 <= Δ sqrt(K T)``; RM+'s ``Q_T``
  is ``>= 0``, ``>= R_T`` and ``‖Q_T‖_2 <= Δ sqrt(K T)`` (``Δ`` the sequence's largest spread).
* ``regret.exp3_expected`` — EXP3 with the tuned rate: the EXPECTED regret is at most
  ``sqrt(2 T K ln K)``. Asserted on the mean of :data:`N_SEEDS` independent runs: the one-sided
  lower confidence limit ``mean − Z·sd/sqrt(n)`` (``Z =`` :data:`Z`) must not exceed the bound.
  The learner's loss estimates ``L̂_T`` must be the importance-weighted ones the proof rests on
  (recomputed from its probabilities and actions; EXP3 is stepped here to read them). Their
  unbiasedness is not tested by a sample mean: with probabilities near 0 the estimates are
  heavy-tailed, the sample mean is usually below ``L_T`` and its standard error is underestimated,
  so a z-test of ``E[L̂_T] = L_T`` raises false alarms.
* ``regret.ucb1_pseudo_regret`` — UCB1 on Bernoulli losses: expected pseudo-regret at most
  ``Σ_i 8 ln T/Δ_i + (1 + π²/3) Σ_i Δ_i``; same statistical rule on :data:`N_SEEDS_UCB1` runs.

Games (``regret.*`` for self-play, ``games.*`` for the LPs alone; games drawn by
:func:`payoff_games`):

* ``regret.self_play_cce`` — the empirical distribution ``σ_T`` of self-play has smallest CCE
  ``ε`` (the definition, and the LP of :func:`~contractlab.solvers.cce.cce_epsilon_lp`) equal to
  ``max(R_1, R_2)/T``; with sure-bound learners that is at most their bounds over ``T``; the CCE
  LP at that ``ε`` is feasible and its welfare range contains ``σ_T``'s.
* ``regret.zero_sum_duality_gap`` — in a zero-sum game the averages' duality gap is at most
  ``(R_1 + R_2)/T``, and the exact LP value lies between the two best-response values.
* ``games.cce_lp`` — the CCE LP's answers are CCE by the definition, bracket the welfare of every
  pure Nash equilibrium, and the smallest ``ε`` admitting an ε-CCE is ``<= 0`` and is the minimum.
* ``games.zero_sum_value`` — the LP value is certified by both players' strategies (weak duality),
  and equals the pure saddle value or the 2x2 closed form where those apply.

Statistical slack (EXP3, UCB1): the realised regrets of the ``n`` seeds are independent with
means at most the bound under the theorem (for a random oblivious adversary, conditionally on
each seed's losses, which are drawn independently of the learner's actions), so with ``Z = 4`` a
false alarm needs the sample mean 4 standard errors above its expectation: probability about
``3e-5`` per instance under the normal approximation (``n = 200`` for EXP3, ``100`` for UCB1),
and far less in fact, since the expected regret is well below these worst-case bounds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from hypothesis import strategies as st

from ..learning.no_regret import (UCB1, Alternating, Bernoulli, Exp3, FixedSequence, FTLTrap, Hedge, IIDUniform,
                                  PunishLastAction, PunishMostWeighted, RegretMatching, RegretMatchingPlus, Switching,
                                  run)
from ..learning.no_regret.base import Learner, sample_actions
from ..learning.no_regret.self_play import self_play
from ..solvers.cce import (cce_epsilon, cce_epsilon_lp, cce_welfare_range, deviation_gains, duality_gap,
                           min_cce_epsilon, solve_cce, welfare, zero_sum_game, zero_sum_value)
from ..theory import regret_bounds as rb
from ..theory.bimatrix import BimatrixGame, pure_nash_equilibria
from .registry import CHECK_TOL, Evidence, theorem

#: Independent runs whose mean regret is compared with an expected-regret bound: EXP3 (stepped
#: here, all runs drawing from one generator) and UCB1 (through :func:`run`, which makes two
#: generators per seed, ~30 µs each, hence fewer).
N_SEEDS, N_SEEDS_UCB1 = 200, 100
#: One-sided z of the statistical checks of a bound: ``mean − Z·sd/sqrt(N_SEEDS) <= bound``.
Z = 4.0
#: Slack of a sure bound (relative to ``max(1, |bound|)``): round-off of sums over <= 2000 rounds.
TOL = CHECK_TOL
#: Slack of an LP answer (relative to ``max(1, payoff span)``): the LP layer verifies its optima
#: to ``VERIFY_TOL = 1e-7`` relative on the equilibrated data (docs/tolerances.md).
LP_TOL = 1e-6

CBL = "Cesa-Bianchi & Lugosi, Prediction, Learning, and Games (2006)"
LS = "Lattimore & Szepesvari, Bandit Algorithms (2020)"
ACF = "Auer, Cesa-Bianchi & Fischer, Finite-time analysis of the multiarmed bandit problem (Machine Learning 47, 2002)"
FS99 = "Freund & Schapire, Adaptive game playing using multiplicative weights (Games and Economic Behavior 29, 1999)"


@lru_cache(maxsize=None)
def _path_bound(name: str):
    """The numpy function of bound ``name`` (lambdified once), to evaluate it at every round."""
    return rb.get_bound(name).numpy_function()


# --------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------

def _every_round(regret: np.ndarray, bound: np.ndarray, what: str) -> Evidence:
    """``regret[t] <= bound[t]`` at every round; the evidence of the tightest round."""
    t = int(np.argmin(bound - regret))
    return Evidence.at_most(float(regret[t]), float(bound[t]), TOL, f"{what} at round t = {t + 1}")


def _mean_within(samples: np.ndarray, bound: float, what: str) -> Evidence:
    """The statistical rule: ``mean − Z·sd/sqrt(n) <= bound`` (module docstring)."""
    n = samples.size
    mean, se = float(samples.mean()), float(samples.std(ddof=1)) / math.sqrt(n)
    low = mean - Z * se
    return Evidence.at_most(low, bound, TOL, f"{what}: mean {mean:.4g} over {n} seeds, "
                            f"mean − {Z:g}·sd/√n = {low:.4g} vs bound {bound:.4g}")


def _oblivious_losses(adversary, horizon: int, seed: int, n_runs: int = 1) -> tuple[np.ndarray, np.random.Generator]:
    """``(n_runs, T, K)`` losses of the oblivious ``adversary``, every run drawing from ONE generator
    ``default_rng(seed)`` in turn (independent runs: disjoint stretches of one stream; one generator
    per run, as :func:`run` makes them, costs ~30 µs each), and that generator, to draw the actions."""
    rng = np.random.default_rng(seed)
    state = adversary.start([rng] * n_runs)
    return np.array(adversary.draw(state, horizon), dtype=float), rng


def _bandit_play(learner: Learner, losses: np.ndarray, rng: np.random.Generator):
    """Play a bandit ``learner`` on ``losses`` ``(R, T, K)`` (``R`` runs), drawing the actions
    ``A_t ~ P_t`` by inverse CDF from uniforms of ``rng``. Returns the loss each run paid,
    ``Σ_t ℓ_{t,A_t}`` ``(R,)``, the importance-weighted loss estimates ``Σ_t 1{A_t = i} ℓ_{t,i}/P_{t,i}``
    computed here from the learner's probabilities ``(R, K)``, and the learner's final state."""
    R, T, K = losses.shape
    state = learner.start(R, T)
    u = rng.random((T, R))
    runs, paid, weighted = np.arange(R), np.zeros(R), np.zeros((R, K))
    for t in range(T):
        w = learner.weights(state)
        a = sample_actions(w, u[t])
        loss = losses[runs, t, a]
        paid += loss
        weighted[runs, a] += loss * w.sum(axis=1) / w[runs, a]
        learner.observe(state, a, loss)
    return paid, weighted, state


def _step(learner: Learner, losses: np.ndarray):
    """Play a full-information ``learner`` on ``losses`` ``(T, K)`` (one run); the strategies ``(T, K)``
    and the final state."""
    state = learner.start(1, losses.shape[0])
    P = np.empty_like(losses)
    for t, loss in enumerate(losses):
        P[t] = learner.probabilities(state)[0]
        learner.observe(state, None, loss[None])
    return P, state


def sure_bound(learner: Learner, horizon: int) -> float | None:
    """The sure regret bound (in losses in ``[0, 1]``) of a full-information learner after ``horizon``
    rounds of a run of that horizon: Hedge ``ln K/η + η T/8`` at its rate, RM/RM+ ``sqrt(K T)``;
    ``None`` for a learner without one."""
    K = learner.n_actions
    if K == 1:
        return 0.0
    if isinstance(learner, Hedge):
        return rb.HEDGE.evaluate(T=horizon, K=K, eta=learner.learning_rate(horizon))
    if isinstance(learner, RegretMatchingPlus):
        return rb.REGRET_MATCHING_PLUS.evaluate(T=horizon, K=K, Delta=1)
    if isinstance(learner, RegretMatching):
        return rb.REGRET_MATCHING.evaluate(T=horizon, K=K, Delta=1)
    return None


# --------------------------------------------------------------------------------------
# Instances
# --------------------------------------------------------------------------------------

#: Largest horizons drawn. Against an adaptive adversary, and for every learner that is not
#: time-vectorised, each round is a Python step (about 30 µs per learner call), so those are kept short.
MAX_T_OBLIVIOUS, MAX_T_STEPS, MAX_T_BANDIT, MAX_T_UCB1, MAX_T_GAME = 500, 100, 150, 200, 60

_SEED = st.integers(0, 2**31 - 1)
_ETA = st.one_of(st.floats(1e-3, 8.0), st.sampled_from([1e-3, 0.05, 0.5, 1.0, 8.0]))
#: Losses and probabilities: a grid (ties, 0 and 1) or any float in [0, 1] except subnormals (which make
#: numpy's arithmetic a hundred times slower and test nothing the normal floats do not).
_UNIT = st.one_of(st.sampled_from((0.0, 0.25, 0.5, 0.75, 1.0)), st.floats(0.0, 1.0, allow_subnormal=False))


@lru_cache(maxsize=None)
def loss_adversaries(K: int, adaptive: bool = True, max_rows: int = 6):
    """Hypothesis strategy: any adversary of :mod:`contractlab.learning.no_regret.adversaries` with ``K``
    actions (adaptive ones too if ``adaptive``): the classes of its own strategies, with lighter
    draws (at most ``max_rows`` rows of a :class:`FixedSequence`, no subnormal floats)."""
    options = [st.just(IIDUniform(K)), st.just(FTLTrap(K)),
               st.lists(_UNIT, min_size=K, max_size=K).map(lambda m: Bernoulli(tuple(m))),
               st.lists(st.lists(_UNIT, min_size=K, max_size=K).map(tuple), min_size=1, max_size=max_rows)
                 .map(lambda rows: FixedSequence(tuple(rows))),
               st.builds(Alternating, st.just(K), st.integers(1, 4), st.integers(0, K - 1)),
               st.builds(Switching, st.just(K), _UNIT, _UNIT, _UNIT)]
    if adaptive:
        options += [st.builds(PunishMostWeighted, st.just(K), _UNIT), st.builds(PunishLastAction, st.just(K), _UNIT)]
    return st.one_of(options)


@dataclass(frozen=True)
class LearnerCase:
    """A full-information learner (``eta`` for Hedge: ``None`` = tuned; ``plus`` for RM) against a drawn
    adversary for ``horizon`` rounds, from ``seed``."""

    n_actions: int
    adversary: object
    horizon: int
    seed: int
    eta: float | None = None
    plus: bool = False


@st.composite
def learner_cases(draw, eta: bool = True, plus: bool = False, steps: bool = False) -> LearnerCase:
    """``K`` in 2..5, any adversary (:func:`loss_adversaries`), a horizon up to :data:`MAX_T_OBLIVIOUS`, or
    :data:`MAX_T_STEPS` against an adaptive adversary or when the learner steps round by round (``steps``)."""
    K = draw(st.integers(2, 5))
    adversary = draw(loss_adversaries(K))
    T = draw(st.integers(1, MAX_T_STEPS if (steps or adversary.adaptive) else MAX_T_OBLIVIOUS))
    return LearnerCase(K, adversary, T, draw(_SEED), draw(_ETA) if eta else None,
                       draw(st.booleans()) if plus else False)


@dataclass(frozen=True)
class BanditCase:
    """EXP3 against an oblivious adversary (:data:`N_SEEDS` runs from ``seed``), or UCB1 on Bernoulli
    losses (:data:`N_SEEDS_UCB1` seeds ``seed, seed + 1, ...``)."""

    adversary: object
    horizon: int
    seed: int


@st.composite
def exp3_cases(draw) -> BanditCase:
    K = draw(st.integers(2, 5))
    return BanditCase(draw(loss_adversaries(K, adaptive=False)), draw(st.integers(1, MAX_T_BANDIT)), draw(_SEED))


@st.composite
def ucb1_cases(draw) -> BanditCase:
    """2..4 arms with Bernoulli losses, means on the grid {0, 1/4, ..., 1} (ties, large gaps) or any
    float, and a horizon up to :data:`MAX_T_UCB1`: the bound is ``~8 ln T/Δ`` per arm, so only
    instances with large gaps and horizons can show a learner that does worse than it should."""
    K = draw(st.integers(2, 4))
    return BanditCase(Bernoulli(tuple(draw(st.lists(_UNIT, min_size=K, max_size=K)))),
                      draw(st.integers(1, MAX_T_UCB1)), draw(_SEED))


@lru_cache(maxsize=None)
def _matrices(k: int, l: int, grid: bool):
    """``k x l`` payoff matrices: a grid {0..4} or floats in [-5, 5] (no subnormals). Built once per
    shape: hypothesis validates a strategy the first time it draws from it."""
    cell = st.integers(0, 4).map(float) if grid else st.one_of(st.integers(0, 4).map(float),
                                                                st.floats(-5.0, 5.0, allow_subnormal=False))
    return st.lists(st.lists(cell, min_size=l, max_size=l), min_size=k, max_size=k).map(np.array)


def payoff_games(min_actions: int = 2, max_actions: int = 4):
    """Bimatrix games of ``min_actions..max_actions`` rows and columns, payoffs on a grid {0..4} (ties,
    pure equilibria, saddle points) or in [-5, 5]."""
    @st.composite
    def draw_game(draw):
        k, l = draw(st.integers(min_actions, max_actions)), draw(st.integers(min_actions, max_actions))
        matrices = _matrices(k, l, draw(st.booleans()))
        return BimatrixGame(draw(matrices), draw(matrices))
    return draw_game()


@lru_cache(maxsize=None)
def full_information_learners(n: int):
    """Hedge (tuned or a drawn rate), RM and RM+ over ``n`` actions: the learners that play mixed strategies."""
    return st.one_of(st.builds(Hedge, st.just(n), st.one_of(st.none(), _ETA)),
                     st.builds(RegretMatching, st.just(n)), st.builds(RegretMatchingPlus, st.just(n)))


@lru_cache(maxsize=None)
def any_learners(n: int):
    """Every learner of the package over ``n`` actions except follow-the-leader."""
    return st.one_of(full_information_learners(n), st.builds(Exp3, st.just(n)), st.builds(UCB1, st.just(n)))


@dataclass(frozen=True, eq=False)
class GameCase:
    """Self-play of ``row`` and ``column`` on ``game`` for ``horizon`` rounds (``mode`` as in
    :func:`~contractlab.learning.no_regret.self_play.self_play`; ``seeds`` runs)."""

    game: BimatrixGame
    row: Learner
    column: Learner
    horizon: int
    mode: str
    seeds: tuple[int, ...]

    def play(self):
        return self_play(self.game, self.row, self.column, self.horizon, list(self.seeds), mode=self.mode)


@st.composite
def game_cases(draw, zero_sum: bool = False) -> GameCase:
    """A game of 2..4 x 2..4 actions (a drawn bimatrix game, or the zero-sum game of a drawn matrix);
    mixed self-play of two full-information learners, or (not zero-sum) sampled self-play of any
    two learners on 2 seeds."""
    if zero_sum:
        game = zero_sum_game(draw(payoff_games()).follower_payoffs)
        mode = "mixed"
    else:
        game = draw(payoff_games())
        mode = draw(st.sampled_from(["mixed", "sampled"]))
    k, l = game.shape
    make = full_information_learners if mode == "mixed" else any_learners
    seed = draw(_SEED)
    seeds = (seed,) if mode == "mixed" else (seed, seed + 1)
    return GameCase(game, draw(make(k)), draw(make(l)), draw(st.integers(1, MAX_T_GAME)), mode, seeds)


def zero_sum_matrices():
    """Matrices of 1..4 x 1..4 payoffs on a grid {0..4} (ties, saddle points) or in [-5, 5]."""
    return payoff_games(1, 4).map(lambda g: g.follower_payoffs)


# --------------------------------------------------------------------------------------
# Learners
# --------------------------------------------------------------------------------------

@theorem("regret.hedge_sure_bound",
         "Hedge with learning rate η (p_t ∝ exp(−η L_{t−1})) on every loss sequence in [0, 1], chosen "
         "obliviously or adaptively: Σ_{s<=t} p_s·ℓ_s − min_i L_{t,i} <= ln K/η + η t/8 at every round t.",
         f"{CBL}, Theorem 2.2", lambda: learner_cases(eta=True), expression=rb.HEDGE.expression)
def check_hedge_sure_bound(case: LearnerCase) -> Evidence:
    res = run(Hedge(case.n_actions, case.eta), case.adversary, case.horizon, [case.seed])
    bound = _path_bound("hedge")(res.horizons, case.n_actions, case.eta)
    return _every_round(res.regret[0], bound, f"Hedge(η={case.eta:.4g}) vs {type(case.adversary).__name__}")


@theorem("regret.hedge_tuned",
         "Hedge tuned to the horizon T uses η = sqrt(8 ln K/T), and then its regret after T rounds is at "
         "most sqrt(T ln K/2) on every loss sequence in [0, 1] (and ln K/η + η t/8 at every t <= T).",
         f"{CBL}, Theorem 2.2 (with eta = sqrt(8 ln K / T))", lambda: learner_cases(eta=False),
         expression=rb.HEDGE_TUNED.expression)
def check_hedge_tuned(case: LearnerCase) -> Evidence:
    K, T = case.n_actions, case.horizon
    learner = Hedge(K)
    eta = learner.learning_rate(T)
    items = [Evidence.equal(eta, rb.HEDGE.learning_rate(T=T, K=K), 1e-12, "the tuned rate is sqrt(8 ln K / T)")]
    res = run(learner, case.adversary, T, [case.seed])
    items.append(Evidence.at_most(float(res.regret[0, -1]), rb.HEDGE_TUNED.evaluate(T=T, K=K), TOL,
                                  f"R(T) <= sqrt(T ln K / 2), T = {T}"))
    items.append(_every_round(res.regret[0], _path_bound("hedge")(res.horizons, K, eta), "R(t) <= ln K/η + η t/8"))
    return Evidence.combine(items)


@theorem("regret.regret_matching",
         "Regret matching (p_t ∝ R_{t−1}^+) and RM+ (p_t ∝ Q_{t−1}, Q_t = (Q_{t−1} + r_t)^+) on every loss "
         "sequence in [0, 1], oblivious or adaptive: R(t) <= Δ sqrt(K t) at every round (Δ = 1). On an "
         "oblivious sequence of largest spread Δ, RM's regret vector R_T is the true one with ‖R_T^+‖_2 <= "
         "Δ sqrt(K T), and RM+'s Q_T satisfies Q_T >= 0, Q_T >= R_T, ‖Q_T‖_2 <= Δ sqrt(K T).",
         "Hart & Mas-Colell, Econometrica 68 (2000); " + f"{CBL}, Corollary 2.1 (p = 2); Tammelin, Burch, "
         "Johanson & Bowling, IJCAI 2015, Theorem 1 (RM+)", lambda: learner_cases(eta=False, plus=True, steps=True),
         expression=rb.REGRET_MATCHING.expression)
def check_regret_matching(case: LearnerCase) -> Evidence:
    K, T = case.n_actions, case.horizon
    name = "regret_matching_plus" if case.plus else "regret_matching"
    learner = (RegretMatchingPlus if case.plus else RegretMatching)(K)
    res = run(learner, case.adversary, T, [case.seed])
    items = [_every_round(res.regret[0], _path_bound(name)(res.horizons, K, 1.0),
                          f"{name} vs {type(case.adversary).__name__}: R(t) <= sqrt(K t)")]

    # Blackwell's potential on the learner's own regret vector (an oblivious sequence)
    adversary = case.adversary if not case.adversary.adaptive else IIDUniform(K)
    losses = _oblivious_losses(adversary, T, case.seed)[0][0]
    P, state = _step(learner, losses)
    true = np.einsum("tk,tk->", P, losses) - losses.sum(axis=0)          # Σ_t p_t·ℓ_t − L_{T,i}
    spread = float((losses.max(axis=1) - losses.min(axis=1)).max())
    bound = float(_path_bound(name)(T, K, spread))
    own = state.regrets[0]
    if case.plus:
        items.append(Evidence.at_least(float(own.min()), 0.0, 0.0, "RM+: Q_T >= 0"))
        items.append(Evidence.at_least(float((own - true).min()), 0.0, TOL * T, "RM+: Q_T >= R_T"))
        items.append(Evidence.at_most(float(np.linalg.norm(own)), bound, TOL, "RM+: ‖Q_T‖_2 <= Δ sqrt(K T)"))
    else:
        items.append(Evidence.equal(float(np.abs(own - true).max()), 0.0, TOL * T,
                                    "RM: its regret vector is Σ_t p_t·ℓ_t − L_T"))
        items.append(Evidence.at_most(float(np.linalg.norm(np.maximum(true, 0.0))), bound, TOL,
                                      "RM: ‖R_T^+‖_2 <= Δ sqrt(K T)"))
    return Evidence.combine(items)


@theorem("regret.exp3_expected",
         "EXP3 with η = sqrt(2 ln K/(T K)) and the importance-weighted loss estimates L̂_(T,i) = Σ_t 1{A_t = i} "
         "ℓ_(t,i)/P_(t,i) (the learner's own, recomputed from its probabilities and actions) against every "
         "oblivious loss sequence in [0, 1] has expected regret E[Σ_t ℓ_(t,A_t)] − min_i L_(T,i) <= "
         f"sqrt(2 T K ln K); asserted on {N_SEEDS} independent runs as mean − {Z:g}·sd/sqrt(n) <= bound (a "
         "one-sided normal-approximation test).",
         f"{LS}, Algorithm 9 with the estimator (11.6), Theorem 11.2", exp3_cases,
         expression=rb.EXP3_TUNED.expression)
def check_exp3(case: BanditCase) -> Evidence:
    K, T = case.adversary.n_actions, case.horizon
    learner = Exp3(K)
    items = [Evidence.equal(learner.learning_rate(T), rb.EXP3.learning_rate(T=T, K=K), 1e-12,
                            "the tuned rate is sqrt(2 ln K / (T K))")]
    losses, rng = _oblivious_losses(case.adversary, T, case.seed, N_SEEDS)
    paid, weighted, state = _bandit_play(learner, losses, rng)
    # the estimator the theorem assumes (unbiased: E[L̂_T] = L_T); a relative comparison, the
    # estimates reaching ~T/min P
    scale = np.maximum(1.0, np.abs(weighted))
    worst = np.unravel_index(np.argmax(np.abs(state.estimates - weighted) / scale), weighted.shape)
    items.append(Evidence.equal(float(state.estimates[worst] / scale[worst]), float(weighted[worst] / scale[worst]),
                                1e-9, f"run {worst[0]}, action {worst[1]}: L̂_T is the importance-weighted estimate"))
    totals = losses.sum(axis=1)                                          # L_{T,i} per run, (R, K)
    items.append(_mean_within(paid - totals.min(axis=1), rb.EXP3_TUNED.evaluate(T=T, K=K),
                              f"EXP3 vs {type(case.adversary).__name__}, T = {T}"))
    return Evidence.combine(items)


@theorem("regret.ucb1_pseudo_regret",
         "UCB1 on i.i.d. Bernoulli losses of means μ: the expected pseudo-regret Σ_t (μ_(A_t) − min μ) after T "
         "rounds is at most Σ_(Δ_i>0) 8 ln T/Δ_i + (1 + π²/3) Σ_i Δ_i, Δ_i = μ_i − min μ; asserted on "
         f"{N_SEEDS_UCB1} runs as mean − {Z:g}·sd/sqrt({N_SEEDS_UCB1}) <= bound; exactly 0 when all means are "
         "equal.",
         f"{ACF}, Theorem 1", ucb1_cases, expression=rb.UCB1.expression)
def check_ucb1(case: BanditCase) -> Evidence:
    adversary, T = case.adversary, case.horizon
    res = run(UCB1(adversary.n_actions), adversary, T, case.seed + np.arange(N_SEEDS_UCB1), record=[T])
    pseudo = res.pseudo_regret[:, -1]
    # the gaps μ_i − min μ as run() computes them: suboptimality_gaps takes mean REWARDS, and
    # max(−μ) − (−μ_i) is μ_i − min μ exactly (1 − μ would round a gap of 1e-38 away)
    gaps = rb.suboptimality_gaps(-adversary.means())
    if gaps.size == 0:
        return Evidence.equal(float(np.abs(pseudo).max()), 0.0, 0.0, "equal means: no pseudo-regret")
    with np.errstate(over="ignore"):                 # a gap of 1e-308: the bound is +inf (vacuous)
        bound = float(_path_bound("ucb1")(T, gaps))
    return _mean_within(pseudo, bound, f"UCB1 on means {adversary.mean_losses}, T = {T}")


# --------------------------------------------------------------------------------------
# Games
# --------------------------------------------------------------------------------------

def _lp_tol(game: BimatrixGame) -> float:
    span = max(np.ptp(game.leader_payoffs), np.ptp(game.follower_payoffs))
    return LP_TOL * max(1.0, float(span))


@theorem("regret.self_play_cce",
         "Two learners playing a bimatrix game for T rounds (mixed strategies, or sampled actions): the "
         "smallest ε for which the empirical distribution σ_T is an ε-CCE — from the definition and from the "
         "LP — equals max(R_1, R_2)/T; for Hedge/RM/RM+ in mixed play it is at most the larger of their sure "
         "bounds (in payoff units) over T; and the CCE LP at that ε is feasible with max welfare >= "
         "welfare(σ_T) >= min welfare, its answers being ε-CCE.",
         f"Hart & Mas-Colell, Econometrica 68 (2000); {CBL}, Section 7.4", game_cases,
         expression=rb.CCE_FROM_REGRET.expression)
def check_self_play_cce(case: GameCase) -> Evidence:
    game, T = case.game, case.horizon
    sp = case.play()
    eps = np.atleast_1d(cce_epsilon(game, sp.joint))
    eps_lp, _ = cce_epsilon_lp(game, sp.joint)
    # the bound's expression, lambdified (sympy's exact Max of two long rationals costs ~10 ms)
    stated = _path_bound("cce_from_regret")(T, sp.final_regret[:, 0], sp.final_regret[:, 1])
    items = []
    for s in range(len(case.seeds)):
        items.append(Evidence.equal(float(eps[s]), float(stated[s]), TOL,
                                    f"seed {case.seeds[s]}: ε(σ_T) = max(R_1, R_2)/T"))
        items.append(Evidence.equal(float(eps_lp[s]), float(eps[s]), _lp_tol(game),
                                    f"seed {case.seeds[s]}: LP ε = definition ε"))
    if case.mode == "mixed":
        for i, learner in enumerate((case.row, case.column)):
            bound = sure_bound(learner, T) * sp.scales[i]
            items.append(Evidence.at_most(float(sp.final_regret[0, i]), bound, TOL,
                                          f"player {i + 1} ({type(learner).__name__}): R_i <= span × sure bound"))
    tol = _lp_tol(game)
    target = welfare(game, sp.joint[0])
    worst, best = cce_welfare_range(game, float(eps[0]))
    for res, word in ((best, "max"), (worst, "min")):
        if not res.feasible:
            return Evidence(float(eps[0]), float(eps[0]), -math.inf, False,
                            f"CCE LP at ε(σ_T) = {eps[0]:.6g} reported {res.status}, but σ_T is feasible")
        items.append(Evidence.at_most(float(res.gains.max()), float(eps[0]), tol,
                                      f"{word}-welfare LP answer is an ε-CCE"))
    items.append(Evidence.at_least(best.value, target, tol, "max welfare over ε-CCE >= welfare(σ_T)"))
    items.append(Evidence.at_most(-worst.value, target, tol, "min welfare over ε-CCE <= welfare(σ_T)"))
    return Evidence.combine(items)


@theorem("regret.zero_sum_duality_gap",
         "In a two-player zero-sum game M (row minimises p'Mq) played by two learners with mixed strategies, "
         "the averages p̄, q̄ after T rounds have duality gap max_j (p̄'M)_j − min_i (M q̄)_i <= (R_1 + R_2)/T, "
         "each R_i is within its learner's sure bound, and the exact LP value v satisfies "
         "min_i (M q̄)_i <= v <= max_j (p̄'M)_j.",
         FS99, lambda: game_cases(zero_sum=True), expression=rb.ZERO_SUM_DUALITY_GAP.expression)
def check_zero_sum_duality_gap(case: GameCase) -> Evidence:
    M, T = case.game.follower_payoffs, case.horizon
    sp = case.play()
    (r1, r2), pbar, qbar = sp.final_regret[0], sp.row_average[0], sp.column_average[0]
    gap = duality_gap(M, pbar, qbar)
    items = [Evidence.at_most(gap, rb.ZERO_SUM_DUALITY_GAP.evaluate(T=T, R_1=r1, R_2=r2), TOL,
                              f"duality gap of the averages <= (R_1 + R_2)/T, T = {T}")]
    for i, learner in enumerate((case.row, case.column)):
        items.append(Evidence.at_most(float(sp.final_regret[0, i]), sure_bound(learner, T) * sp.scales[i], TOL,
                                      f"player {i + 1} ({type(learner).__name__}): R_i <= span × sure bound"))
    value = zero_sum_value(M).value
    tol = _lp_tol(case.game)
    items.append(Evidence.at_least(value, float(np.min(M @ qbar)), tol, "v >= min_i (M q̄)_i"))
    items.append(Evidence.at_most(value, float(np.max(pbar @ M)), tol, "v <= max_j (p̄'M)_j"))
    return Evidence.combine(items)


@theorem("games.cce_lp",
         "For every bimatrix game: the max- and min-welfare CCE returned by the LP have every deviation gain "
         "<= 0 (the definition, recomputed) and the welfare they report; every pure Nash equilibrium's "
         "welfare lies between them; the smallest ε admitting an ε-CCE is <= 0, is attained by the returned "
         "σ, and the ε-CCE LP is infeasible just below it.",
         "Moulin & Vial, Strategically zero-sum games (IJGT 7, 1978); Nash (1951) for existence; "
         f"{CBL}, Section 7.4", lambda: payoff_games(1, 4))
def check_cce_lp(game: BimatrixGame) -> Evidence:
    tol = _lp_tol(game)
    items = []
    worst, best = cce_welfare_range(game, 0.0)
    for res, sign, word in ((best, 1.0, "max"), (worst, -1.0, "min")):
        if not res.feasible:
            return Evidence(0.0, 0.0, -math.inf, False, f"the {word}-welfare CCE LP reported {res.status}")
        gains = deviation_gains(game, res.sigma)
        items.append(Evidence.at_most(float(gains.max()), 0.0, tol, f"{word}-welfare answer: deviation gains <= 0"))
        items.append(Evidence.equal(sign * res.value, welfare(game, res.sigma), tol, f"{word}-welfare value"))
    for i, j in pure_nash_equilibria(game):
        w = float(game.leader_payoffs[i, j] + game.follower_payoffs[i, j])
        items.append(Evidence.at_least(best.value, w, tol, f"max CCE welfare >= pure Nash ({i}, {j})"))
        items.append(Evidence.at_most(-worst.value, w, tol, f"min CCE welfare <= pure Nash ({i}, {j})"))
    eps, sigma = min_cce_epsilon(game)
    items.append(Evidence.at_most(eps, 0.0, tol, "smallest ε with an ε-CCE is <= 0"))
    items.append(Evidence.equal(cce_epsilon(game, sigma), eps, tol, "the minimising σ attains it"))
    below = solve_cce(game, eps - 100 * tol, "welfare")
    items.append(Evidence(float(below.feasible), 0.0, -math.inf if below.feasible else 0.0, not below.feasible,
                          f"no ε-CCE at ε = ε* − {100 * tol:.2g} (LP status {below.status})"))
    return Evidence.combine(items)


@theorem("games.zero_sum_value",
         "The zero-sum LP's value v of M (row minimises) is certified by its two strategies: max_j (p*'M)_j "
         "<= v <= min_i (M q*)_i, with p*, q* distributions (weak duality makes v the value); v is the pure "
         "saddle value where one exists, and (ad − bc)/(a + d − b − c) for a 2x2 game without one.",
         "von Neumann (1928), minimax theorem; Dantzig, Linear Programming and Extensions (1963), Section 13.2",
         zero_sum_matrices)
def check_zero_sum_value(M: np.ndarray) -> Evidence:
    sol = zero_sum_value(M)
    v, p, q = sol.value, sol.row_strategy, sol.column_strategy
    tol = LP_TOL * max(1.0, float(np.ptp(M)))
    items = [Evidence.at_most(float(np.max(p @ M)), v, tol, "row strategy guarantees v: max_j (p*'M)_j <= v"),
             Evidence.at_least(float(np.min(M @ q)), v, tol, "column strategy guarantees v: min_i (M q*)_i >= v"),
             Evidence.equal(float(p.sum()), 1.0, 1e-12, "p* sums to 1"), Evidence.equal(float(q.sum()), 1.0, 1e-12,
                                                                                      "q* sums to 1")]
    saddles = [(i, j) for i, j in np.ndindex(*M.shape) if M[i, j] == M[i].max() == M[:, j].min()]
    if saddles:
        i, j = saddles[0]
        items.append(Evidence.equal(v, float(M[i, j]), tol, f"pure saddle point ({i}, {j})"))
    elif M.shape == (2, 2):
        (a, b), (c, d) = M
        items.append(Evidence.equal(v, float((a * d - b * c) / (a + d - b - c)), tol, "2x2 closed form"))
    return Evidence.combine(items)
