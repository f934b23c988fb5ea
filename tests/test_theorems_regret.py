"""The regret theorems (contractlab/proofs_checks/theorems_regret.py) and self-play
(contractlab/learning/no_regret/self_play.py).

* The theorems are registered with the bound expressions of theory/regret_bounds.py, and each
  fails when the learner or solver it checks is broken (planted bugs, monkeypatched in).
* Self-play agrees with a naive loop written here, its empirical distribution is an
  ε-CCE with ε = max(R_1, R_2)/T exactly, a seed's run does not depend on its batch, and in
  zero-sum games the duality gap of the averages is (R_1 + R_2)/T exactly.
* The sublinearity test says ``sublinear`` for Hedge and ``linear`` for follow-the-leader on
  the trap sequence, both run through ``learning/no_regret``.

(``tests/test_theorems.py`` already checks that every registered theorem holds on drawn instances.)
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from contractlab.learning.no_regret import (UCB1, Exp3, FollowTheLeader, FTLTrap, Hedge, IIDUniform,
                                            RegretMatching, RegretMatchingPlus, run)
from contractlab.learning.no_regret.self_play import self_play
from contractlab.proofs_checks import theorems_regret as TR
from contractlab.proofs_checks.registry import all_theorems
from contractlab.proofs_checks.runner import run_theorem
from contractlab.proofs_checks.sublinearity import sublinearity_test
from contractlab.solvers import cce
from contractlab.theory import regret_bounds as rb
from contractlab.theory.bimatrix import BimatrixGame
from contractlab.theory.errors import InvalidInstanceError

IDS = {"regret.hedge_sure_bound": rb.HEDGE, "regret.hedge_tuned": rb.HEDGE_TUNED,
       "regret.regret_matching": rb.REGRET_MATCHING, "regret.exp3_expected": rb.EXP3_TUNED,
       "regret.ucb1_pseudo_regret": rb.UCB1, "regret.self_play_cce": rb.CCE_FROM_REGRET,
       "regret.zero_sum_duality_gap": rb.ZERO_SUM_DUALITY_GAP, "games.cce_lp": None, "games.zero_sum_value": None}


def test_the_theorems_are_registered_with_the_bounds_of_regret_bounds():
    theorems = all_theorems()
    for tid, bound in IDS.items():
        t = theorems[tid]
        assert t.statement and t.source
        if bound is not None:
            assert t.expression is bound.expression        # the expression, not a copy typed again


# --------------------------------------------------------------------------- planted bugs

class FlippedHedge(Hedge):
    """η with the wrong sign: weights exp(+η L), the worst action is favoured."""

    def weights(self, state):
        L = state.cumulative
        return np.exp(state.eta * (L - L.max(axis=1, keepdims=True)))

    def block_weights(self, state, cum_prev, out):
        np.subtract(cum_prev, cum_prev.max(axis=-1, keepdims=True), out=out)
        state.rounds += cum_prev.shape[0]
        return np.exp(np.multiply(out, state.eta, out=out), out=out)


class UntunedHedge(Hedge):
    """The tuned rate with the factor 8 dropped: sqrt(ln K / T)."""

    def learning_rate(self, horizon):
        return math.sqrt(math.log(self.n_actions) / horizon) if self.eta is None else super().learning_rate(horizon)


class UnclippedPlus(RegretMatchingPlus):
    """RM+ that forgets to clip: it is plain regret matching."""

    plus = False


class WrongSumRM(RegretMatching):
    """Regret matching normalising its mixed loss by K instead of the sum of its weights."""

    def observe(self, state, actions, losses):
        mixed = np.einsum("rk,rk->r", state.w, losses) / self.n_actions
        state.regrets += mixed[:, None] - losses


class UnweightedExp3(Exp3):
    """EXP3 whose estimate adds the raw loss, without dividing by the probability of the action."""

    def observe(self, state, actions, losses):
        state.estimates[state.runs, actions] += losses


class FrozenExp3(Exp3):
    """EXP3 that never learns (rate 0: uniform play); its estimates are still the right ones."""

    def learning_rate(self, horizon):
        return 0.0


class LossIndexUCB1(UCB1):
    """UCB1 that sums the losses where it should sum the rewards (it chases the worst arm)."""

    def observe(self, state, actions, losses):
        state.counts[state.runs, actions] += 1.0
        state.reward_sums[state.runs, actions] += losses
        state.plays += 1


def _fails(theorem_id: str, count: int = 40) -> bool:
    report = run_theorem(all_theorems()[theorem_id], count=count, seed=0)
    return not report.passed


@pytest.mark.parametrize("theorem_id, name, broken", [
    ("regret.hedge_sure_bound", "Hedge", FlippedHedge),
    ("regret.hedge_tuned", "Hedge", UntunedHedge),
    ("regret.regret_matching", "RegretMatchingPlus", UnclippedPlus),
    ("regret.regret_matching", "RegretMatching", WrongSumRM),
    ("regret.exp3_expected", "Exp3", UnweightedExp3),
    ("regret.exp3_expected", "Exp3", FrozenExp3),
    ("regret.ucb1_pseudo_regret", "UCB1", LossIndexUCB1),
])
def test_each_learner_theorem_fails_on_a_broken_learner(monkeypatch, theorem_id, name, broken):
    assert not _fails(theorem_id, 15)
    monkeypatch.setattr(TR, name, broken)
    assert _fails(theorem_id)


def test_the_self_play_theorems_fail_when_a_player_has_linear_regret():
    rng = np.random.default_rng(0)
    game = BimatrixGame(rng.uniform(-1, 1, (3, 3)), rng.uniform(-1, 1, (3, 3)))
    good = TR.GameCase(game, Hedge(3, 0.2), RegretMatching(3), 80, "mixed", (0,))
    bad = TR.GameCase(game, FlippedHedge(3, 0.2), RegretMatching(3), 80, "mixed", (0,))
    assert TR.check_self_play_cce(good).passed and not TR.check_self_play_cce(bad).passed
    zs = cce.zero_sum_game(rng.uniform(-1, 1, (3, 3)))
    good = TR.GameCase(zs, Hedge(3, 0.2), Hedge(3), 80, "mixed", (0,))
    bad = TR.GameCase(zs, Hedge(3, 0.2), FlippedHedge(3), 80, "mixed", (0,))
    assert TR.check_zero_sum_duality_gap(good).passed and not TR.check_zero_sum_duality_gap(bad).passed


def test_the_game_theorems_fail_on_a_wrong_lp(monkeypatch):
    real_lps, real_value = cce.cce_lps, cce.zero_sum_value

    def reversed_lps(game, epsilons, objectives):          # gains >= −ε instead of gains <= ε
        lp = real_lps(game, epsilons, objectives)
        return type(lp)(lp.c, -lp.A_ge, lp.b_ge, lp.A_eq, lp.b_eq, lp.A_scale)

    monkeypatch.setattr(cce, "cce_lps", reversed_lps)
    assert _fails("games.cce_lp", 20) and _fails("regret.self_play_cce", 20)
    monkeypatch.setattr(cce, "cce_lps", real_lps)

    def shifted(M, backend="highs"):
        sol = real_value(M, backend)
        return cce.ZeroSumSolution(sol.value + 0.01, sol.row_strategy, sol.column_strategy, sol.gap, sol.backend)

    monkeypatch.setattr(TR, "zero_sum_value", shifted)
    assert _fails("games.zero_sum_value", 20) and _fails("regret.zero_sum_duality_gap", 20)


def test_sure_bound_is_the_bound_of_the_learner():
    assert TR.sure_bound(Hedge(3, 0.5), 100) == pytest.approx(math.log(3) / 0.5 + 0.5 * 100 / 8)
    assert TR.sure_bound(Hedge(3), 100) == pytest.approx(math.sqrt(100 * math.log(3) / 2))
    assert TR.sure_bound(RegretMatchingPlus(4), 100) == pytest.approx(20.0)
    assert TR.sure_bound(Exp3(3), 100) is None


# --------------------------------------------------------------------------- self-play

def naive_self_play(A, B, T, eta):
    """Hedge(η) as the row player against regret matching, mixed strategies, one loop per round."""
    k, l = A.shape
    a_top, a_span = A.max(), np.ptp(A) or 1.0
    b_top, b_span = B.max(), np.ptp(B) or 1.0
    L, Rc = np.zeros(k), np.zeros(l)
    U1, U2, g1, g2, joint = np.zeros(k), np.zeros(l), 0.0, 0.0, np.zeros((k, l))
    for _ in range(T):
        p = np.exp(-eta * (L - L.min()))
        p /= p.sum()
        r = np.maximum(Rc, 0)
        q = r / r.sum() if r.sum() > 0 else np.full(l, 1 / l)
        v1, v2 = A @ q, p @ B
        g1, g2 = g1 + p @ v1, g2 + q @ v2
        U1, U2, joint = U1 + v1, U2 + v2, joint + np.outer(p, q)
        L += (a_top - v1) / a_span
        loss2 = (b_top - v2) / b_span
        Rc += q @ loss2 - loss2
    return np.array([U1.max() - g1, U2.max() - g2]), joint / T


payoff = st.floats(-3.0, 3.0, allow_subnormal=False)


@st.composite
def bimatrix(draw, zero_sum=False):
    k, l = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    matrix = st.lists(st.lists(payoff, min_size=l, max_size=l), min_size=k, max_size=k).map(np.array)
    A = draw(matrix)
    return cce.zero_sum_game(A) if zero_sum else BimatrixGame(A, draw(matrix))


@settings(max_examples=20)
@given(bimatrix(), st.integers(1, 60), st.floats(0.01, 3.0))
def test_mixed_self_play_agrees_with_a_naive_loop(game, T, eta):
    k, l = game.shape
    sp = self_play(game, Hedge(k, eta), RegretMatching(l), T, seeds=[3, 5])
    regret, joint = naive_self_play(game.leader_payoffs, game.follower_payoffs, T, eta)
    assert sp.mode == "mixed"
    for r in range(2):                                  # no randomness: every seed is the same
        assert np.allclose(sp.final_regret[r], regret, atol=1e-9)
        assert np.allclose(sp.joint[r], joint, atol=1e-12)


def _learner(kind, n):
    return {"hedge": Hedge(n), "rm": RegretMatching(n), "rm+": RegretMatchingPlus(n), "exp3": Exp3(n),
            "ucb1": UCB1(n)}[kind]


kinds = st.sampled_from(["hedge", "rm", "rm+", "exp3", "ucb1"])


@settings(max_examples=25)
@given(bimatrix(), kinds, kinds, st.integers(1, 60), st.integers(0, 1000))
def test_empirical_play_is_an_epsilon_cce_with_epsilon_the_max_regret_over_t(game, row, column, T, seed):
    k, l = game.shape
    sp = self_play(game, _learner(row, k), _learner(column, l), T, seeds=[seed, seed + 1])
    assert sp.joint.min() >= 0 and np.allclose(sp.joint.sum(axis=(1, 2)), 1.0)
    assert np.allclose(sp.row_average, sp.joint.sum(axis=2)) and np.allclose(sp.column_average, sp.joint.sum(axis=1))
    if sp.mode == "sampled":                            # counts of pairs of actions
        assert np.allclose(sp.joint * T, np.round(sp.joint * T))
    scale = 1e-9 * max(1.0, np.abs(game.leader_payoffs).max(), np.abs(game.follower_payoffs).max())
    assert np.allclose(cce.cce_epsilon(game, sp.joint), sp.epsilon, atol=scale)
    gains = cce.deviation_gains(game, sp.joint)
    # each player's largest deviation gain is its own regret over T
    assert np.allclose(gains[:, :k].max(axis=1), sp.final_regret[:, 0] / T, atol=scale)
    assert np.allclose(gains[:, k:].max(axis=1), sp.final_regret[:, 1] / T, atol=scale)


@settings(max_examples=20)
@given(bimatrix(zero_sum=True), st.sampled_from(["mixed", "sampled"]), st.integers(1, 60), st.integers(0, 1000))
def test_zero_sum_duality_gap_of_the_averages_is_the_sum_of_regrets_over_t(game, mode, T, seed):
    k, l = game.shape
    sp = self_play(game, Hedge(k), RegretMatchingPlus(l), T, seeds=[seed], mode=mode)
    M = game.follower_payoffs
    gap = cce.duality_gap(M, sp.row_average[0], sp.column_average[0])
    assert gap == pytest.approx(sp.final_regret[0].sum() / T, abs=1e-9 * max(1.0, np.abs(M).max()))
    value = cce.zero_sum_value(M).value
    assert np.min(M @ sp.column_average[0]) - 1e-7 <= value <= np.max(sp.row_average[0] @ M) + 1e-7


def test_a_seed_gives_the_same_run_alone_or_in_a_batch():
    rng = np.random.default_rng(1)
    game = BimatrixGame(rng.normal(size=(3, 2)), rng.normal(size=(3, 2)))
    batch = self_play(game, Exp3(3), RegretMatchingPlus(2), 300, seeds=[4, 9, 11], record=[10, 100])
    alone = self_play(game, Exp3(3), RegretMatchingPlus(2), 300, seeds=[9], record=[10, 100])
    assert np.array_equal(batch.regret[1], alone.regret[0]) and np.array_equal(batch.joint[1], alone.joint[0])
    assert not np.array_equal(batch.joint[0], batch.joint[1])   # different seeds, different play
    assert list(batch.horizons) == [10, 100, 300]


def test_recorded_regret_is_the_regret_of_the_shorter_game():
    rng = np.random.default_rng(2)
    game = BimatrixGame(rng.normal(size=(2, 3)), rng.normal(size=(2, 3)))
    long = self_play(game, Hedge(2, 0.3), RegretMatching(3), 200, record=[37, 150])
    for h, t in enumerate(long.horizons):
        short = self_play(game, Hedge(2, 0.3), RegretMatching(3), int(t))
        assert np.allclose(long.regret[0, h], short.final_regret[0], atol=1e-12)


def test_no_regret_self_play_approaches_equilibrium():
    # rock-paper-scissors: the averages of two Hedge players approach (1/3, 1/3, 1/3); the duality gap
    # is bounded by the sum of the sure bounds over T (Freund & Schapire 1999), ~0.17 at T = 2000
    M = np.array([[0.0, 1.0, -1.0], [-1.0, 0.0, 1.0], [1.0, -1.0, 0.0]])
    T = 2000
    sp = self_play(cce.zero_sum_game(M), Hedge(3), Hedge(3), T)
    bound = 2 * TR.sure_bound(Hedge(3), T) * 2 / T          # span of M is 2
    assert cce.duality_gap(M, sp.row_average[0], sp.column_average[0]) <= bound
    assert bound < 0.2


def test_bad_input_is_refused():
    game = BimatrixGame(np.zeros((2, 3)), np.zeros((2, 3)))
    with pytest.raises(InvalidInstanceError, match="row_learner"):
        self_play(game, Hedge(3), Hedge(3), 10)
    with pytest.raises(InvalidInstanceError, match="column_learner"):
        self_play(game, Hedge(2), "hedge", 10)
    with pytest.raises(InvalidInstanceError, match="mode"):
        self_play(game, Exp3(2), Hedge(3), 10, mode="mixed")
    with pytest.raises(InvalidInstanceError, match="mode"):
        self_play(game, Hedge(2), Hedge(3), 10, mode="expected")
    with pytest.raises(InvalidInstanceError, match="horizon"):
        self_play(game, Hedge(2), Hedge(3), 0)
    with pytest.raises(InvalidInstanceError, match="game"):
        self_play(np.zeros((2, 3)), Hedge(2), Hedge(3), 10)


# --------------------------------------------------------------------------- sublinearity

HORIZONS = np.array([100, 316, 1000, 3162, 10000])
SEEDS = range(20)


def test_sublinearity_test_says_sublinear_for_hedge_and_linear_for_ftl_on_the_trap():
    trap = FTLTrap(2)
    # Hedge is tuned to each horizon, so one run per horizon (the trap is deterministic: the 20
    # seeds coincide and the intervals have zero width; the verdict rests on the slope and R/T)
    hedge = np.column_stack([run(Hedge(2), trap, int(T), SEEDS, record=[int(T)]).regret[:, 0] for T in HORIZONS])
    assert np.all(hedge <= rb.HEDGE_TUNED.numpy_function()(HORIZONS, 2) + 1e-9)
    verdict = sublinearity_test(hedge, HORIZONS)
    assert verdict.verdict == "sublinear", verdict.reason
    ftl = run(FollowTheLeader(2), trap, int(HORIZONS[-1]), SEEDS, record=HORIZONS)
    assert np.allclose(ftl.regret, trap.ftl_regret(HORIZONS)[None])     # exactly T/2
    verdict = sublinearity_test(ftl.regret, HORIZONS)
    assert verdict.verdict == "linear", verdict.reason
    assert verdict.slope_ci[0] >= 0.95


def test_sublinearity_test_says_sublinear_for_hedge_on_random_losses():
    # the seeds differ here (i.i.d. uniform losses), so the intervals have a width
    adversary = IIDUniform(5)
    hedge = np.column_stack([run(Hedge(5), adversary, int(T), SEEDS, record=[int(T)]).regret[:, 0] for T in HORIZONS])
    verdict = sublinearity_test(hedge, HORIZONS)
    assert verdict.verdict == "sublinear", verdict.reason
    assert verdict.slope_ci[1] < 0.9
