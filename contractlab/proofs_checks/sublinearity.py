"""Is a learner's regret sublinear? A test usable on any run, with a stated decision rule.

Input: regrets ``R[seed, horizon]`` of independent runs (seeds) at horizons ``T_1 < ... < T_J``
(at least :data:`MIN_SEEDS` seeds, :data:`MIN_HORIZONS` horizons spread over at least
:data:`MIN_DECADES` decades, e.g. ``10^2 .. 10^4``). The regrets of one seed at different
horizons may come from one trajectory (prefixes of one run) or from separate runs.

What is estimated
-----------------
* Per horizon: the mean regret ``m_j`` over seeds with a Student-t confidence interval
  ``[L_j, U_j]`` at ``level`` (default 95%), and the ratio ``m_j / T_j`` with the interval
  ``[L_j / T_j, U_j / T_j]``.
* The log-log slope ``b``: the least-squares slope of ``log m_j`` against ``log T_j`` (every
  horizon weighted equally), defined when every ``m_j > 0``. Its confidence interval is a
  percentile bootstrap over seeds (``n_bootstrap`` resamples of whole seeds, drawn from
  ``numpy.random.default_rng(seed)``, so the same input gives the same interval bit for bit).
  Why a bootstrap over seeds and not an OLS t-interval over horizons: the regrets of one seed
  at different horizons are usually prefixes of one trajectory, hence correlated, and the OLS
  residuals measure the scatter of the ``J`` means about the fitted line (curvature as much
  as noise), with only ``J − 2`` degrees of freedom (3 for 5 horizons), not the seed-to-seed
  spread of the slope. Resampling whole seeds keeps the dependence across horizons and
  measures how the slope varies from seed to seed. A resample in which some horizon's mean is ``<= 0``
  has no log-log slope; it counts as ``−∞`` for the lower end of the interval and as ``+∞``
  for the upper end (conservative: if more than ``(1 − level)/2`` of the resamples are
  undefined, the interval is infinite on both sides). The ends are order statistics (no
  interpolation).

Decision rule (``δ = slope_margin = 0.1``, ``δ' = linear_margin = 0.05``,
``ρ = linear_ratio_floor = 0.5`` by default; intervals at ``level``)
-------------------------------------------------------------------------------------------
``sublinear`` iff (S1) or (S2):

* (S1) the slope interval's upper end is ``< 1 − δ``, **and** ``R(T)/T`` decreases: its
  interval at the largest horizon lies entirely below its interval at the smallest
  (``U_J/T_J < L_1/T_1``), and it increases significantly nowhere (``L_k/T_k <= U_j/T_j`` for
  all ``j < k``; the slack is the width of the intervals);
* (S2) the mean regret is non-positive within confidence at every horizon of the upper
  log-half (``U_j <= 0`` for every ``T_j`` in ``[sqrt(T_1 T_J), T_J]``, a range of at least one
  decade). Regret can be negative (the learner beats the best fixed action in
  hindsight, or a bandit's realised regret against the pseudo-regret comparator); then
  ``R(T)/T <= 0`` on that range and the no-regret property ``limsup R(T)/T <= 0`` is what the
  data shows. The slope is not needed (nor defined) there.

``linear`` iff every ``m_j > 0``, the slope interval's lower end is ``>= 1 − δ'``, and
``R(T)/T`` stays bounded away from 0: ``L_J > 0`` and ``L_J/T_J >= ρ · max_j m_j/T_j``.

``inconclusive`` otherwise. The three verdicts exclude each other (``L_J <= U_J`` and the slope
interval's ends are ordered), and the gap ``1 − δ <= b < 1 − δ'`` is inconclusive on purpose: a
regret like ``T^0.92`` over two decades is not told apart from a linear regret with an offset.

What "sublinear" means here: ``sublinear`` is the no-regret property on the horizons tested
(``limsup R(T)/T <= 0``), not ``|R(T)| = o(T)``: a regret of ``−T/2`` is reported
``sublinear`` by (S2). A verdict is about the horizons given: a linear term that is smaller
than the ``sqrt(T)`` term over the whole range (``0.001 T + sqrt(T)`` up to ``10^4``) cannot be
seen, and the bootstrap interval measures sampling noise, not the misfit of a power law.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from ..theory.errors import InvalidInstanceError
from .registry import Evidence

#: Minimum number of horizons, of decades between the smallest and largest, and of seeds.
MIN_HORIZONS, MIN_DECADES, MIN_SEEDS = 5, 2.0, 20
#: Level of every confidence interval (per-horizon t-intervals and the bootstrap slope interval).
LEVEL = 0.95
#: ``δ``: ``sublinear`` (S1) needs the slope interval's upper end below ``1 − δ``.
SLOPE_MARGIN = 0.1
#: ``δ'``: ``linear`` needs the slope interval's lower end at least ``1 − δ'``.
LINEAR_MARGIN = 0.05
#: ``ρ``: ``linear`` needs ``L_J/T_J >= ρ · max_j m_j/T_j`` (the ratio keeps this share).
LINEAR_RATIO_FLOOR = 0.5
#: Bootstrap resamples of the slope and the seed of their generator.
N_BOOTSTRAP, BOOTSTRAP_SEED = 2000, 0

VERDICTS = ("sublinear", "linear", "inconclusive")


@dataclass(frozen=True)
class SublinearityResult:
    """The verdict of :func:`sublinearity_test` with everything it was decided on.

    ``criterion`` says which rule decided: ``"S1"`` (slope and decreasing ratio), ``"S2"``
    (non-positive regret), ``"linear"``, or ``None`` (inconclusive). ``mean_ci`` and
    ``ratio_ci`` have shape ``(J, 2)`` (lower, upper). ``slope`` is NaN when some mean regret
    is ``<= 0``; ``undefined_fraction`` is the share of bootstrap resamples without a slope.
    """

    verdict: str
    reason: str
    criterion: str | None
    slope: float
    slope_ci: tuple[float, float]
    horizons: np.ndarray
    mean_regret: np.ndarray
    mean_ci: np.ndarray
    ratio: np.ndarray
    ratio_ci: np.ndarray
    n_seeds: int
    level: float
    slope_margin: float
    linear_margin: float
    undefined_fraction: float

    def evidence(self) -> Evidence:
        """As registry :class:`Evidence` of the claim "the regret is sublinear".

        Under (S2) ``measured`` is the largest upper confidence bound of the mean regret over
        the upper log-half and ``bound`` is 0; otherwise ``measured`` is the slope interval's
        upper end and ``bound`` is ``1 − δ``. ``passed`` is ``verdict == "sublinear"``.
        """
        if self.criterion == "S2":
            measured, bound = float(np.max(self.mean_ci[_upper_half(self.horizons), 1])), 0.0
        else:
            measured, bound = self.slope_ci[1], 1.0 - self.slope_margin
        margin = bound - measured if math.isfinite(measured) else -math.inf
        return Evidence(measured, bound, margin, self.verdict == "sublinear", self.reason)


def sublinearity_test(regret: Any, horizons: Any, *, level: float = LEVEL,
                      slope_margin: float = SLOPE_MARGIN, linear_margin: float = LINEAR_MARGIN,
                      linear_ratio_floor: float = LINEAR_RATIO_FLOOR,
                      n_bootstrap: int = N_BOOTSTRAP, seed: int = BOOTSTRAP_SEED) -> SublinearityResult:
    """Decide ``sublinear`` / ``linear`` / ``inconclusive`` for regrets ``regret[seed, horizon]``.

    The estimates and the exact decision rule are in the module docstring. Raises
    :class:`InvalidInstanceError` (a ``ValueError``) naming the field for fewer than
    :data:`MIN_SEEDS` seeds (rows of ``regret``), fewer than :data:`MIN_HORIZONS` horizons,
    horizons spread over less than :data:`MIN_DECADES` decades, horizons that are not positive
    and strictly increasing, non-finite regrets, a shape mismatch, or a parameter out of range.
    """
    R, T = validate_design(regret, horizons)
    _check_parameters(level, slope_margin, linear_margin, linear_ratio_floor, n_bootstrap)
    n = R.shape[0]
    means, mean_ci = _mean_intervals(R, level)
    ratio, ratio_ci = means / T, mean_ci / T[:, None]
    slope = _loglog_slope(means[None, :], T)[0]
    slope_ci, undefined = _bootstrap_slope_ci(R, T, level, n_bootstrap, seed)

    verdict, criterion, reason = _decide(T, means, mean_ci, ratio, ratio_ci, slope, slope_ci, level,
                                         slope_margin, linear_margin, linear_ratio_floor)
    frozen = [np.array(a, dtype=float) for a in (T, means, mean_ci, ratio, ratio_ci)]
    for a in frozen:
        a.setflags(write=False)
    return SublinearityResult(verdict, reason, criterion, float(slope), slope_ci, *frozen, n,
                              float(level), float(slope_margin), float(linear_margin), undefined)


# --------------------------------------------------------------------------------------
# Estimates
# --------------------------------------------------------------------------------------

def _mean_intervals(R: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-horizon means and Student-t intervals ``m ± t_{(1+level)/2, n−1} s/sqrt(n)``."""
    n = R.shape[0]
    means = R.mean(axis=0)
    half = stats.t.ppf((1 + level) / 2, n - 1) * R.std(axis=0, ddof=1) / math.sqrt(n)
    return means, np.stack([means - half, means + half], axis=1)


def _loglog_slope(means: np.ndarray, T: np.ndarray) -> np.ndarray:
    """Least-squares slope of ``log means[b, :]`` on ``log T`` per row; NaN if a mean is <= 0."""
    x = np.log(T)
    xc = x - x.mean()
    valid = np.all(means > 0, axis=1)
    logs = np.log(np.where(means > 0, means, 1.0))
    return np.where(valid, logs @ xc / (xc @ xc), np.nan)


def _bootstrap_slope_ci(R: np.ndarray, T: np.ndarray, level: float, n_bootstrap: int,
                        seed: int) -> tuple[tuple[float, float], float]:
    """Percentile interval of the slope over resamples of whole seeds (order statistics);
    undefined resamples count as ``−∞`` for the lower end and ``+∞`` for the upper. Returns the
    interval and the share of undefined resamples."""
    n = R.shape[0]
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(n, np.full(n, 1.0 / n), size=n_bootstrap)   # (B, n) resample weights
    slopes = _loglog_slope(counts @ R / n, T)
    undefined = np.isnan(slopes)
    lo = np.quantile(np.where(undefined, -np.inf, slopes), (1 - level) / 2, method="lower")
    hi = np.quantile(np.where(undefined, np.inf, slopes), (1 + level) / 2, method="higher")
    return (float(lo), float(hi)), float(undefined.mean())


def _upper_half(T: np.ndarray) -> np.ndarray:
    """The horizons of the upper log-half, ``T_j >= sqrt(T_1 T_J)`` (always includes ``T_J``;
    compared in logs with a relative slack of 1e-12, so ``T_j = 1000`` counts for ``100..10^4``)."""
    mid = (math.log(T[0]) + math.log(T[-1])) / 2
    return np.log(T) >= mid - 1e-12 * max(1.0, abs(mid))


# --------------------------------------------------------------------------------------
# The decision rule (see the module docstring)
# --------------------------------------------------------------------------------------

def _decide(T, means, mean_ci, ratio, ratio_ci, slope, slope_ci, level, slope_margin,
            linear_margin, linear_ratio_floor) -> tuple[str, str | None, str]:
    """Apply the rule; return ``(verdict, criterion, one-line reason)``."""
    lo, hi = slope_ci
    pct = f"{level:.0%}"
    slope_txt = f"slope {slope:.3f} ({pct} CI [{lo:.3f}, {hi:.3f}])"

    # (S2) non-positive regret over the upper log-half
    upper = _upper_half(T)
    if np.all(mean_ci[upper, 1] <= 0):
        return "sublinear", "S2", (
            f"mean regret <= 0 within its {pct} CI at every T >= {T[upper][0]:g} (largest upper "
            f"bound {np.max(mean_ci[upper, 1]):.4g}): R(T)/T <= 0 there")

    # (S1) slope below 1 − δ and R/T decreasing
    s1_slope = hi < 1 - slope_margin
    s1_drop = ratio_ci[-1, 1] < ratio_ci[0, 0]
    earlier_hi = np.minimum.accumulate(ratio_ci[:, 1])            # min_{j <= k} U_j/T_j
    rises = np.nonzero(ratio_ci[1:, 0] > earlier_hi[:-1])[0]
    drop_txt = (f"R/T CI [{ratio_ci[0, 0]:.4g}, {ratio_ci[0, 1]:.4g}] at T={T[0]:g}, "
                f"[{ratio_ci[-1, 0]:.4g}, {ratio_ci[-1, 1]:.4g}] at T={T[-1]:g}")
    if s1_slope and s1_drop and rises.size == 0:
        return "sublinear", "S1", f"{slope_txt} < {1 - slope_margin:g}; {drop_txt} (decreasing)"

    # linear: slope at least 1 − δ' and R/T bounded away from 0
    keep = linear_ratio_floor * float(np.max(ratio))
    l_slope = bool(np.all(means > 0)) and lo >= 1 - linear_margin
    l_ratio = mean_ci[-1, 0] > 0 and ratio_ci[-1, 0] >= keep
    if l_slope and l_ratio:
        return "linear", "linear", (
            f"{slope_txt} >= {1 - linear_margin:g}; R/T at T={T[-1]:g} >= {ratio_ci[-1, 0]:.4g} "
            f"(lower CI) >= {linear_ratio_floor:g} x max mean R/T {np.max(ratio):.4g}")

    # inconclusive: say why each verdict failed
    if not s1_slope:
        why_sub = f"slope CI upper end {hi:.3f} >= {1 - slope_margin:g}"
    elif not s1_drop:
        why_sub = f"R/T not significantly lower at T={T[-1]:g} than at T={T[0]:g}: {drop_txt}"
    else:
        k = rises[0] + 1
        why_sub = f"R/T rises significantly up to T={T[k]:g} (lower CI {ratio_ci[k, 0]:.4g})"
    if not np.all(means > 0):
        why_lin = "some mean regret <= 0"
    elif not l_slope:
        why_lin = f"slope CI lower end {lo:.3f} < {1 - linear_margin:g}"
    else:
        why_lin = (f"R/T lower CI {ratio_ci[-1, 0]:.4g} at T={T[-1]:g} below {linear_ratio_floor:g} "
                   f"x max mean R/T {np.max(ratio):.4g}")
    return "inconclusive", None, f"{slope_txt}; not sublinear: {why_sub}; not linear: {why_lin}"


# --------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------

def validate_design(regret: Any, horizons: Any) -> tuple[np.ndarray, np.ndarray]:
    """``regret`` as a finite ``(n_seeds, J)`` float array and ``horizons`` as ``(J,)``, refused
    (naming the field) unless they are what :func:`sublinearity_test` needs; a benchmark calls it
    with zeros to check its horizons before any learning."""
    try:
        T = np.asarray(horizons, dtype=float)
    except (TypeError, ValueError):
        raise InvalidInstanceError("horizons", "must be a 1-D array of numbers") from None
    try:
        R = np.asarray(regret, dtype=float)
    except (TypeError, ValueError):
        raise InvalidInstanceError("regret", "must be a 2-D array R[seed, horizon] of numbers") from None
    if T.ndim != 1:
        raise InvalidInstanceError("horizons", f"must be 1-D, got shape {T.shape}")
    if T.size < MIN_HORIZONS:
        raise InvalidInstanceError("horizons", f"needs at least {MIN_HORIZONS} horizons, got {T.size}")
    bad = np.nonzero(~(np.isfinite(T) & (T > 0)))[0]
    if bad.size:
        raise InvalidInstanceError("horizons", f"must be finite and > 0, got {T[bad[0]]}", int(bad[0]))
    bad = np.nonzero(np.diff(T) <= 0)[0]
    if bad.size:
        raise InvalidInstanceError("horizons", f"must be strictly increasing, got {T[bad[0]]:g} "
                                   f"then {T[bad[0] + 1]:g}", int(bad[0]) + 1)
    decades = math.log10(T[-1] / T[0])
    if decades < MIN_DECADES - 1e-9:
        raise InvalidInstanceError("horizons", f"must span at least {MIN_DECADES:g} decades "
                                   f"(largest/smallest >= 100), got {T[0]:g}..{T[-1]:g} "
                                   f"({decades:.2f} decades)")
    if R.ndim != 2:
        raise InvalidInstanceError("regret", f"must be 2-D R[seed, horizon], got shape {R.shape}")
    if R.shape[1] != T.size:
        raise InvalidInstanceError("regret", f"has {R.shape[1]} columns but there are {T.size} "
                                   f"horizons (regret must be R[seed, horizon])")
    if R.shape[0] < MIN_SEEDS:
        raise InvalidInstanceError("regret", f"needs at least {MIN_SEEDS} seeds (rows), "
                                   f"got {R.shape[0]}")
    bad = np.argwhere(~np.isfinite(R))
    if bad.size:
        raise InvalidInstanceError("regret", f"must be finite, got {R[tuple(bad[0])]}",
                                   tuple(int(k) for k in bad[0]))
    return R, T


def _check_parameters(level: float, slope_margin: float, linear_margin: float,
                      linear_ratio_floor: float, n_bootstrap: int) -> None:
    """Each parameter in its range, else :class:`InvalidInstanceError` naming it."""
    if not 0.5 <= level < 1:
        raise InvalidInstanceError("level", f"must be in [0.5, 1), got {level}")
    if not 0 < linear_margin <= slope_margin < 1:
        raise InvalidInstanceError("slope_margin", "need 0 < linear_margin <= slope_margin < 1, "
                                   f"got linear_margin={linear_margin}, slope_margin={slope_margin}")
    if not 0 < linear_ratio_floor <= 1:
        raise InvalidInstanceError("linear_ratio_floor", f"must be in (0, 1], got {linear_ratio_floor}")
    if int(n_bootstrap) != n_bootstrap or n_bootstrap < 100:
        raise InvalidInstanceError("n_bootstrap", f"must be an integer >= 100, got {n_bootstrap}")
