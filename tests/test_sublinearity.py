"""The sublinearity test (``proofs_checks/sublinearity.py``) on regret data from small numpy
learners written here (Hedge, follow-the-leader), on constructed curves, and on bad input.

Every data set is drawn from a fixed seed, so each verdict below is deterministic; the
statistical slack of each assertion is stated where it is made.
"""

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from contractlab.proofs_checks.registry import Evidence
from contractlab.proofs_checks.sublinearity import (
    MIN_SEEDS, SublinearityResult, sublinearity_test)
from contractlab.theory import regret_bounds
from contractlab.theory.errors import InvalidInstanceError

HORIZONS = np.array([100, 316, 1000, 3162, 10000])
SEEDS = 20


# --------------------------------------------------------------------------------------
# Small independent learners (numpy, vectorised over seeds)
# --------------------------------------------------------------------------------------

def alternating_losses(T, K):
    """``ℓ_1 = (1/2, 0, 1, ...)``, then ``(0, 1, 1, ...)``, ``(1, 0, 1, ...)``, ...: the sequence
    on which follow-the-leader always picks the arm about to lose 1 (arms >= 2 lose 1)."""
    L = np.ones((T, K))
    L[:, 0] = np.arange(T) % 2 == 0
    L[:, 1] = 1 - L[:, 0]
    L[0, :2] = (0.5, 0.0)
    return L


def hedge_regret(losses, eta):
    """Expected-loss regret ``Σ_t <p_t, ℓ_t> − min_i L_{T,i}`` of Hedge, ``p_t ∝ exp(−η L_{t−1})``,
    on losses ``(seeds, T, K)``."""
    cum = np.cumsum(losses, axis=1)
    prev = np.concatenate([np.zeros_like(cum[:, :1]), cum[:, :-1]], axis=1)
    w = np.exp(-eta * (prev - prev.min(axis=2, keepdims=True)))
    p = w / w.sum(axis=2, keepdims=True)
    return np.einsum("stk,stk->s", p, losses) - cum[:, -1].min(axis=1)


def hedge_runs(make_losses, K, rng):
    """``R[seed, horizon]``: one run per horizon with the tuned ``η = sqrt(8 ln K / T)``."""
    R = np.empty((SEEDS, HORIZONS.size))
    for j, T in enumerate(HORIZONS):
        R[:, j] = hedge_regret(make_losses(T, K, rng), regret_bounds.HEDGE.learning_rate(T=T, K=K))
    return R


def random_losses(T, K, rng):
    return rng.random((SEEDS, T, K))


def adversarial_losses(T, K, rng):
    """The alternating sequence on arms 0 and 1; arms >= 2 (K >= 3) get losses drawn from
    ``U[3/4, 1]`` per seed, which never lead after the first rounds but make the seeds differ
    (for K = 2 all seeds see the same sequence and the intervals have zero width)."""
    L = np.repeat(alternating_losses(T, K)[None], SEEDS, axis=0)
    L[:, :, 2:] = 0.75 + 0.25 * rng.random((SEEDS, T, K - 2))
    return L


def ftl_prefix_regrets(losses, rng):
    """Regret at every prefix of follow-the-leader (ties broken uniformly at random) on losses
    ``(seeds, T, K)``: one trajectory per seed."""
    cum = np.cumsum(losses, axis=1)
    prev = np.concatenate([np.zeros_like(cum[:, :1]), cum[:, :-1]], axis=1)
    tied = prev == prev.min(axis=2, keepdims=True)
    action = np.argmax(tied * (1 + rng.random(prev.shape)), axis=2)
    paid = np.take_along_axis(losses, action[..., None], axis=2)[..., 0]
    return np.cumsum(paid, axis=1) - cum.min(axis=2)


# --------------------------------------------------------------------------------------
# The learners' verdicts
# --------------------------------------------------------------------------------------

@pytest.mark.parametrize("K", [2, 5, 10])
@pytest.mark.parametrize("make_losses", [random_losses, adversarial_losses], ids=["random", "alternating"])
def test_hedge_tuned_is_sublinear(make_losses, K):
    R = hedge_runs(make_losses, K, np.random.default_rng(K))
    # the data respect the deterministic bound sqrt(T ln K / 2) (Cesa-Bianchi & Lugosi Thm 2.2)
    assert np.all(R <= regret_bounds.HEDGE_TUNED.numpy_function()(HORIZONS, K) + 1e-9)
    result = sublinearity_test(R, HORIZONS)
    assert result.verdict == "sublinear", result.reason
    assert result.criterion == "S1"
    # Hedge's regret grows like sqrt(T): slack 0.15 on the slope (the fit is within 0.05 of 0.5
    # on these data; the bound is sqrt(T) and the random-loss regret is ~ sqrt(T) too)
    assert abs(result.slope - 0.5) < 0.15
    assert result.slope_ci[0] <= result.slope <= result.slope_ci[1] < 0.9
    assert result.evidence().passed and result.evidence().margin > 0


def test_follow_the_leader_on_the_alternating_sequence_is_linear():
    rng = np.random.default_rng(0)
    losses = np.broadcast_to(alternating_losses(int(HORIZONS[-1]), 2), (SEEDS, int(HORIZONS[-1]), 2))
    R = ftl_prefix_regrets(losses, rng)[:, HORIZONS - 1]
    # FTL pays 1 on every round after the first while the best arm pays about T/2
    assert np.all(np.abs(R - HORIZONS / 2) <= 1)
    result = sublinearity_test(R, HORIZONS)
    assert result.verdict == "linear", result.reason
    assert result.slope_ci[0] >= 0.95
    assert np.allclose(result.ratio, 0.5, atol=0.01)
    evidence = result.evidence()
    assert isinstance(evidence, Evidence) and not evidence.passed and evidence.margin < 0


# --------------------------------------------------------------------------------------
# Constructed cases: inconclusive, non-positive regret
# --------------------------------------------------------------------------------------

def test_noisy_regret_is_inconclusive():
    # mean sqrt(T), noise sd T/2: the means' standard error (~0.11 T) swamps the signal
    rng = np.random.default_rng(5)
    R = np.sqrt(HORIZONS) + rng.normal(0, 1, (SEEDS, HORIZONS.size)) * HORIZONS / 2
    result = sublinearity_test(R, HORIZONS)
    assert result.verdict == "inconclusive", result.reason
    assert result.criterion is None
    assert "not sublinear" in result.reason and "not linear" in result.reason
    assert not result.evidence().passed


def test_slope_between_the_two_thresholds_is_inconclusive():
    # T^0.92 over two decades: neither below 1 - δ = 0.9 nor above 1 - δ' = 0.95 (5% noise)
    rng = np.random.default_rng(6)
    R = HORIZONS ** 0.92 * np.exp(rng.normal(0, 0.05, (SEEDS, HORIZONS.size)))
    result = sublinearity_test(R, HORIZONS)
    assert result.verdict == "inconclusive", result.reason
    assert 0.9 <= result.slope_ci[1] and result.slope_ci[0] < 0.95


def test_regret_that_rises_significantly_somewhere_is_not_sublinear():
    # R/T = 0.5, 0.01, 0.2, 0.02, 0.01: slope < 0.9 and R/T ends lower, but it rises at T=1000
    ratio = np.array([0.5, 0.01, 0.2, 0.02, 0.01])
    rng = np.random.default_rng(7)
    R = ratio * HORIZONS * (1 + 0.01 * rng.normal(size=(SEEDS, HORIZONS.size)))
    result = sublinearity_test(R, HORIZONS)
    assert result.slope_ci[1] < 0.9
    assert result.verdict == "inconclusive", result.reason
    assert "rises significantly up to T=1000" in result.reason


@pytest.mark.parametrize("scale", [[-1, -1, -1, -1, -1], [3, 1, -1, -1, -3]], ids=["negative", "turns-negative"])
def test_non_positive_regret_is_sublinear_by_s2(scale):
    # the learner beats the best fixed action (at large horizons): R(T)/T <= 0 there
    rng = np.random.default_rng(8)
    R = np.array(scale) * HORIZONS ** 0.7 + rng.normal(0, 1, (SEEDS, HORIZONS.size))
    result = sublinearity_test(R, HORIZONS)
    assert result.verdict == "sublinear" and result.criterion == "S2", result.reason
    assert np.all(result.mean_ci[HORIZONS >= 1000, 1] <= 0)
    evidence = result.evidence()
    assert evidence.passed and evidence.bound == 0 and evidence.measured <= 0


def test_s2_needs_the_whole_upper_log_half():
    # negative at T = 3162 and 10^4 but clearly positive at T = 1000 = sqrt(100 * 10^4), which
    # belongs to the upper log-half: not S2 (and no slope, as some means are < 0)
    rng = np.random.default_rng(8)
    R = np.array([3, 1, 0.5, -1, -3]) * HORIZONS ** 0.7 + rng.normal(0, 1, (SEEDS, HORIZONS.size))
    result = sublinearity_test(R, HORIZONS)
    assert result.mean_ci[2, 0] > 0
    assert result.verdict == "inconclusive", result.reason


def test_regret_positive_at_large_horizons_with_nonpositive_mean_early_is_not_sublinear():
    # the mean is <= 0 at T=100 (no log-log slope), positive and growing afterwards
    R = np.tile(np.array([-1.0, 5, 10, 20, 40]), (SEEDS, 1)) + np.linspace(-0.1, 0.1, SEEDS)[:, None]
    result = sublinearity_test(R, HORIZONS)
    assert math.isnan(result.slope) and result.verdict == "inconclusive", result.reason


# --------------------------------------------------------------------------------------
# Properties of the result
# --------------------------------------------------------------------------------------

def test_result_fields_and_determinism():
    rng = np.random.default_rng(9)
    R = np.sqrt(HORIZONS) * (1 + 0.2 * rng.normal(size=(SEEDS, HORIZONS.size)))
    a, b = sublinearity_test(R, HORIZONS), sublinearity_test(R, HORIZONS)
    assert isinstance(a, SublinearityResult)
    assert a.slope_ci == b.slope_ci and a.verdict == b.verdict      # the bootstrap seed is fixed
    assert a.mean_regret.shape == (5,) and a.mean_ci.shape == (5, 2) and a.ratio_ci.shape == (5, 2)
    assert np.allclose(a.mean_regret, R.mean(axis=0))
    assert np.allclose(a.ratio, a.mean_regret / HORIZONS)
    assert np.all(a.mean_ci[:, 0] <= a.mean_regret) and np.all(a.mean_regret <= a.mean_ci[:, 1])
    assert a.n_seeds == SEEDS and a.level == 0.95 and a.undefined_fraction == 0
    with pytest.raises(ValueError):
        a.mean_regret[0] = 1.0                                         # read-only arrays
    wider = sublinearity_test(R, HORIZONS, level=0.99)
    assert wider.slope_ci[0] <= a.slope_ci[0] and a.slope_ci[1] <= wider.slope_ci[1]


@settings(max_examples=25, deadline=None)
@given(b=st.one_of(st.floats(0.0, 0.75), st.floats(1.0, 1.2)),
       c=st.floats(0.01, 100.0), seed=st.integers(0, 2 ** 32 - 1))
def test_power_laws_get_the_right_verdict(b, c, seed):
    # c T^b with 10% multiplicative noise per entry: the slope's standard error is about 0.01,
    # so b <= 0.75 is 15 standard errors below 0.9 and b >= 1 is 5 above 0.95
    rng = np.random.default_rng(seed)
    R = c * HORIZONS ** b * np.exp(rng.normal(0, 0.1, (SEEDS, HORIZONS.size)))
    result = sublinearity_test(R, HORIZONS)
    assert result.verdict == ("sublinear" if b <= 0.75 else "linear"), result.reason
    # scaling the regret changes nothing: the slope shifts by 0 and every ratio test is relative
    scaled = sublinearity_test(7.0 * R, HORIZONS)
    assert scaled.verdict == result.verdict
    assert scaled.slope == pytest.approx(result.slope, abs=1e-9)


# --------------------------------------------------------------------------------------
# Argument validation
# --------------------------------------------------------------------------------------

GOOD = np.ones((SEEDS, HORIZONS.size))


@pytest.mark.parametrize("regret, horizons, field, words", [
    (np.ones((MIN_SEEDS - 1, 5)), HORIZONS, "regret", "at least 20 seeds"),
    (np.ones((SEEDS, 4)), HORIZONS[:4], "horizons", "at least 5 horizons"),
    (GOOD, np.array([100, 200, 400, 800, 9000]), "horizons", "2 decades"),
    (GOOD, np.array([100, 316, 316, 3162, 10000]), "horizons", "strictly increasing"),
    (GOOD, np.array([0, 316, 1000, 3162, 10000]), "horizons", "> 0"),
    (GOOD, np.array([100, 316, np.nan, 3162, 10000]), "horizons", "finite"),
    (np.ones((SEEDS, 6)), HORIZONS, "regret", "6 columns"),
    (np.ones(5), HORIZONS, "regret", "2-D"),
    (np.where(np.arange(5) == 2, np.nan, GOOD), HORIZONS, "regret", "finite"),
    (GOOD, HORIZONS.reshape(5, 1), "horizons", "1-D"),
])
def test_bad_input_is_refused_naming_the_field(regret, horizons, field, words):
    with pytest.raises(InvalidInstanceError) as info:
        sublinearity_test(regret, horizons)
    assert info.value.field == field
    assert words in str(info.value)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("kwargs, field", [
    (dict(level=1.0), "level"),
    (dict(level=0.3), "level"),
    (dict(slope_margin=0.02, linear_margin=0.05), "slope_margin"),     # would let verdicts overlap
    (dict(linear_ratio_floor=0.0), "linear_ratio_floor"),
    (dict(n_bootstrap=10), "n_bootstrap"),
])
def test_bad_parameters_are_refused(kwargs, field):
    with pytest.raises(InvalidInstanceError) as info:
        sublinearity_test(GOOD, HORIZONS, **kwargs)
    assert info.value.field == field
