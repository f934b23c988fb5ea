"""Steering theorems: the mediator's dominance payments of :mod:`contractlab.learning.steering`.

Source: Zhang, Farina, Anagnostides, Cacciamani, McAleer, Haupt, Celli, Gatti, Conitzer & Sandholm,
*Steering No-Regret Learners to a Desired Equilibrium* (arXiv 2306.05221): a sublinear total budget
suffices to steer no-regret learners to an equilibrium. Steering to a profile that is not an
equilibrium (cooperation in the prisoner's dilemma) needs payments that stay positive in every round. The payment rule and the properties (P1)–(P4) checked here are
stated and proved in the docstring of :mod:`contractlab.learning.steering` (a rule designed for this
package, not transcribed from the paper).

* ``steering_games.dominance`` — on drawn games, targets and margins ``δ`` (exact check of the
  payment tables, (P1)–(P3)): payments are ``>= 0``, paid only on the target action, at most
  ``max(0, δ − min m_i)``; in the steered game each target action beats every other action by at
  least ``δ`` against every opponent action, by exactly ``δ`` (against the best deviation) wherever
  a payment is made; the payment at the target profile is ``<= δ`` when the target is a pure Nash
  equilibrium and ``>=`` the deviation gain of every player whose target is not a best response.
* ``steering_games.budget_sandwich`` — on drawn games, targets and learners (mixed or sampled self-play
  with the payments, up to :data:`MAX_T` rounds), at every round: ``(1 − dist_t) Σ_i c_i(t) <= E_t <=
  (1 − dist_t) Σ_i c_i(t) + dist_t Σ_i max P_i^t`` (P4); realised payments are ``>= 0`` and at most
  ``Σ_i max P_i^t`` per round; with Hedge/RM/RM+ in mixed play each learner's regret in the steered
  payoffs is within its sure bound times its loss span (the learners stay no-regret: the fixed loss
  map keeps every loss in ``[0, 1]``).
* ``steering_games.stag_hunt_vs_prisoners_dilemma`` — one fixed experiment (too slow to draw): two
  Hedge learners (tuned to ``T =`` :data:`DICHOTOMY_T`), sampled play, :data:`DICHOTOMY_SEEDS` seeds,
  the default payment rule. Steering the stag hunt to (stag, stag): the mean distance of play to the
  target at ``T`` is at most :data:`CONVERGED`, and the expected and the realised budgets are
  ``sublinear`` by :func:`~contractlab.proofs_checks.sublinearity.sublinearity_test` over
  :data:`DICHOTOMY_HORIZONS`. Steering the prisoner's dilemma to (cooperate, cooperate): both
  budgets are ``linear``.

Round-off: the steered payoff of a target action is computed as ``M[d, b] + max(0, δ − (M[d, b] −
max_others))``: three roundings, each at most half an ulp of the largest magnitude involved, so the
dominance margin is checked to :data:`ROUNDOFF` ``× max(1, max |payoff|, δ)``; running sums of the
budget to ``CHECK_TOL`` relative to ``max(1, |bound|)`` (sums of at most ``MAX_T`` terms).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from hypothesis import strategies as st

from ..learning.no_regret import Hedge
from ..learning.no_regret.base import Learner
from ..learning.steering import (DEFAULT_DECAY, DEFAULT_MARGIN, margin_schedule, payment_tables, steer_game,
                                 target_margins)
from ..theory.bimatrix import BimatrixGame, pure_nash_equilibria
from ..theory.game_families import prisoners_dilemma, stag_hunt
from .registry import CHECK_TOL, Evidence, theorem
from .sublinearity import sublinearity_test
from .theorems_regret import any_learners, full_information_learners, payoff_games, sure_bound

ZHANG = ("Zhang, Farina, Anagnostides, Cacciamani, McAleer, Haupt, Celli, Gatti, Conitzer & Sandholm, "
         "Steering No-Regret Learners to a Desired Equilibrium (arXiv 2306.05221)")
DESIGN = "payment rule and proofs (P1)-(P4): contractlab/learning/steering.py"

#: Relative slack of the dominance check (module docstring: three roundings of the payoff scale).
ROUNDOFF = 1e-12
#: Largest horizon of the drawn runs of ``steering_games.budget_sandwich`` (each round is a Python step).
MAX_T = 60
#: The fixed experiment: horizon, seeds, recorded horizons (2 decades, 5 points) and the largest mean
#: distance of play to (stag, stag) at ``T`` accepted as converged.
DICHOTOMY_T, DICHOTOMY_SEEDS = 3000, tuple(range(20))
DICHOTOMY_HORIZONS = (30, 95, 300, 949, 3000)
CONVERGED = 0.01


# --------------------------------------------------------------------------------------
# steering_games.dominance
# --------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class DominanceCase:
    game: BimatrixGame
    target: tuple[int, int]
    deltas: tuple[float, ...]


_DELTA = st.one_of(st.sampled_from((0.0, 0.25, 0.5, 1.0, 2.0)), st.floats(0.0, 8.0, allow_subnormal=False))


@st.composite
def dominance_cases(draw) -> DominanceCase:
    """A game of 1..4 x 1..4 actions (grid payoffs with ties, or floats in [-5, 5]), a target (a pure
    Nash equilibrium in half of the draws that have one) and 1..5 margins."""
    game = draw(payoff_games(1, 4))
    k, l = game.shape
    nash = pure_nash_equilibria(game)
    if nash and draw(st.booleans()):
        target = draw(st.sampled_from(nash))
    else:
        target = (draw(st.integers(0, k - 1)), draw(st.integers(0, l - 1)))
    return DominanceCase(game, target, tuple(draw(st.lists(_DELTA, min_size=1, max_size=5))))


@theorem("steering_games.dominance",
         "Dominance payments P_1(a, b) = 1{a = d_1} max(0, δ − m_1(b)) with m_1(b) = A[d_1, b] − max_{a≠d_1} "
         "A[a, b] (likewise P_2): they are >= 0, paid on the target action only and at most max(0, δ − min m_i); "
         "in the steered game (A + P_1, B + P_2) each target action beats every other action by >= δ against "
         "every opponent action, by exactly δ against the best deviation wherever a payment is made "
         "(minimality); the payment at the target profile is <= δ if it is a pure Nash equilibrium, and >= the "
         "deviation gain −m_i of every player whose target is not a best response.",
         f"{ZHANG} (steering by payments); {DESIGN}", dominance_cases)
def check_dominance(case: DominanceCase) -> Evidence:
    game, (d1, d2) = case.game, case.target
    A, B = game.leader_payoffs, game.follower_payoffs
    m1, m2 = target_margins(game, case.target)
    is_nash = (d1, d2) in pure_nash_equilibria(game)
    items = []
    for delta in case.deltas:
        pay1, pay2 = payment_tables(game, case.target, delta)
        tol = ROUNDOFF * max(1.0, float(np.abs(A).max()), float(np.abs(B).max()), delta)
        for i, (M, pay, d, m) in enumerate(((A, pay1, d1, m1), (B.T, pay2, d2, m2))):
            who = f"player {i + 1}, δ = {delta:g}"
            items.append(Evidence.at_least(float(pay.min()), 0.0, 0.0, f"{who}: payments >= 0"))
            items.append(Evidence.at_most(float(pay.max()), max(0.0, delta - float(m.min())), tol,
                                          f"{who}: payments <= max(0, δ − min m)"))
            if M.shape[0] == 1:
                continue
            steered = M.copy()                       # rows: own actions, columns: the opponent's
            steered[d] = M[d] + pay                  # as the learners see them (learning/steering.py)
            gap = steered[d] - np.delete(steered, d, axis=0).max(axis=0)
            worst = int(np.argmin(gap))
            items.append(Evidence.at_least(float(gap[worst]), delta, tol,
                                           f"{who}: target dominant by >= δ (opponent action {worst})"))
            paid = pay > 0
            if paid.any():
                j = int(np.argmax(np.where(paid, np.abs(gap - delta), -1.0)))
                items.append(Evidence.equal(float(gap[j]), delta, tol,
                                            f"{who}: margin exactly δ where paid (opponent action {j})"))
        c = (float(pay1[d2]), float(pay2[d1]))
        if is_nash:
            items += [Evidence.at_most(c[i], delta, tol, f"NE target: payment to player {i + 1} at d <= δ = {delta:g}")
                      for i in range(2)]
        for i, mi in enumerate((float(m1[d2]), float(m2[d1]))):
            if mi < 0:
                items.append(Evidence.at_least(c[i], -mi, tol, f"player {i + 1} would gain {-mi:g} by deviating "
                                               f"from d: paid at least that, δ = {delta:g}"))
    return Evidence.combine(items)


# --------------------------------------------------------------------------------------
# steering_games.budget_sandwich
# --------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class SteeringCase:
    game: BimatrixGame
    target: tuple[int, int]
    row: Learner
    column: Learner
    horizon: int
    mode: str
    seeds: tuple[int, ...]
    margin: float
    decay: float


@st.composite
def steering_cases(draw) -> SteeringCase:
    """A game of 2..4 x 2..4 actions, a target (a pure Nash equilibrium in half of the draws that have
    one), margin and decay, and mixed play of two full-information learners (one seed) or sampled
    play of any two learners (two seeds), for 1..MAX_T rounds."""
    game = draw(payoff_games(2, 4))
    k, l = game.shape
    nash = pure_nash_equilibria(game)
    target = draw(st.sampled_from(nash)) if nash and draw(st.booleans()) else \
        (draw(st.integers(0, k - 1)), draw(st.integers(0, l - 1)))
    mode = draw(st.sampled_from(["mixed", "sampled"]))
    make = full_information_learners if mode == "mixed" else any_learners
    seed = draw(st.integers(0, 2**31 - 1))
    seeds = (seed,) if mode == "mixed" else (seed, seed + 1)
    decay = draw(st.one_of(st.sampled_from((0.0, DEFAULT_DECAY, 0.5, 1.0)), st.floats(0.0, 2.0)))
    return SteeringCase(game, target, draw(make(k)), draw(make(l)), draw(st.integers(1, MAX_T)), mode, seeds,
                        draw(_DELTA), decay)


@theorem("steering_games.budget_sandwich",
         "Two learners play a game with the dominance payments toward d (margin δ_t = δ_1 t^(−decay)); with "
         "dist_t = 1 − p_t(d_1) q_t(d_2), c_i(t) the payment to player i at d and E_t the expected payment of round "
         "t: (1 − dist_t) Σ_i c_i(t) <= E_t <= (1 − dist_t) Σ_i c_i(t) + dist_t Σ_i max P_i^t at every round; "
         "realised payments lie in [0, Σ_i max P_i^t]; Hedge/RM/RM+ in mixed play keep their sure regret bounds "
         "(times the loss span) in the steered game.",
         f"{ZHANG} (sublinear budgets); {DESIGN}, (P4)", steering_cases)
def check_budget_sandwich(case: SteeringCase) -> Evidence:
    run = steer_game(case.game, case.target, case.row, case.column, case.horizon, list(case.seeds),
                     margin=case.margin, decay=case.decay, mode=case.mode)
    d1, d2 = case.target
    T = case.horizon
    deltas = margin_schedule(np.arange(1, T + 1), case.margin, case.decay)
    pay1, pay2 = payment_tables(case.game, case.target, deltas)            # (T, l), (T, k)
    c = pay1[:, d2] + pay2[:, d1]                                          # Σ_i c_i(t)
    top = pay1.max(axis=1) + pay2.max(axis=1)                              # Σ_i max P_i^t
    per_round = np.diff(run.payments.sum(axis=2), axis=1, prepend=0.0)     # E_t, (R, T)
    dist = run.distance
    lower, upper = (1 - dist) * c, (1 - dist) * c + dist * top
    tol = CHECK_TOL * max(1.0, float(top.max()))
    r, t = np.unravel_index(np.argmin(per_round - lower), per_round.shape)
    items = [Evidence.at_least(float(per_round[r, t]), float(lower[r, t]), tol,
                               f"E_t >= (1 − dist_t) Σ c_i(t) at round {t + 1}, seed {case.seeds[r]}")]
    r, t = np.unravel_index(np.argmin(upper - per_round), per_round.shape)
    items.append(Evidence.at_most(float(per_round[r, t]), float(upper[r, t]), tol,
                                  f"E_t <= (1 − dist_t) Σ c_i(t) + dist_t Σ max P_i at round {t + 1}, seed {case.seeds[r]}"))
    if run.realised_payments is not None:
        real = np.diff(run.realised_payments, axis=1, prepend=0.0)         # (R, T, 2)
        items.append(Evidence.at_least(float(real.min()), 0.0, tol, "realised payments >= 0"))
        slack = top[None, :] - real.sum(axis=2)
        r, t = np.unravel_index(np.argmin(slack), slack.shape)
        items.append(Evidence.at_least(float(slack[r, t]), 0.0, tol, f"realised payment <= Σ max P_i at round {t + 1}"))
    if case.mode == "mixed":
        for i, learner in enumerate((case.row, case.column)):
            bound = sure_bound(learner, T)
            if bound is not None:
                span = run.scales[i][1]
                items.append(Evidence.at_most(float(run.regret[0, -1, i]), bound * span, CHECK_TOL,
                                              f"player {i + 1} ({type(learner).__name__}): regret in the steered "
                                              f"game <= span × sure bound"))
    return Evidence.combine(items)


# --------------------------------------------------------------------------------------
# steering_games.stag_hunt_vs_prisoners_dilemma
# --------------------------------------------------------------------------------------

@lru_cache(maxsize=None)
def dichotomy_runs():
    """The two runs of the fixed experiment (module docstring), computed once per process."""
    out = {}
    for name, game, target in (("stag hunt", stag_hunt(), ("stag", "stag")),
                               ("prisoner's dilemma", prisoners_dilemma(), ("cooperate", "cooperate"))):
        out[name] = steer_game(game, target, Hedge(2), Hedge(2), DICHOTOMY_T, list(DICHOTOMY_SEEDS),
                               margin=DEFAULT_MARGIN, decay=DEFAULT_DECAY, mode="sampled",
                               record=list(DICHOTOMY_HORIZONS))
    return out


def _verdict(run, realised: bool, wanted: str, name: str) -> Evidence:
    res = sublinearity_test(run.budget_curve(realised), run.horizons)
    ok = res.verdict == wanted
    what = "realised" if realised else "expected"
    return Evidence(res.slope, 1.0, 1.0 if ok else -math.inf, ok,
                    f"{name}: {what} budget is {res.verdict} (wanted {wanted}): {res.reason}")


@theorem("steering_games.stag_hunt_vs_prisoners_dilemma",
         f"Two Hedge learners (tuned to T = {DICHOTOMY_T}), sampled play, {len(DICHOTOMY_SEEDS)} seeds, dominance "
         f"payments with δ_t = {DEFAULT_MARGIN:g} t^(−1/3): steered to the payoff-dominant equilibrium (stag, stag) "
         f"of the stag hunt, the mean distance of play to it at T is <= {CONVERGED:g} and the mediator's expected "
         "and realised budgets are sublinear (sublinearity test over 30..3000 rounds); steered to (cooperate, "
         "cooperate) of the prisoner's dilemma, which is not an equilibrium, both budgets are linear.",
         f"{ZHANG} (sublinear budget to an equilibrium); {DESIGN}, (P3)-(P4)",
         lambda: st.just(None))
def check_stag_hunt_vs_prisoners_dilemma(_: None) -> Evidence:
    runs = dichotomy_runs()
    stag, pd = runs["stag hunt"], runs["prisoner's dilemma"]
    items = [Evidence.at_most(float(stag.distance[:, -1].mean()), CONVERGED, 0.0,
                              f"stag hunt: mean distance to (stag, stag) at T = {DICHOTOMY_T}")]
    for realised in (False, True):
        items.append(_verdict(stag, realised, "sublinear", "stag hunt"))
        items.append(_verdict(pd, realised, "linear", "prisoner's dilemma"))
    return Evidence.combine(items)
