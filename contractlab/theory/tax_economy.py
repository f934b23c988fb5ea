"""A taxed labour economy with a bracket income tax and an equal lump-sum rebate.

The economy of the tax experiment of Yang, Wang, Trivedi, Zhao, Zha, *Adaptive Incentive Design
with Multi-Agent Meta-Gradient Reinforcement Learning* (AAMAS 2022, arXiv 2112.10859), which
takes its tax and its planner objective from the AI Economist (Zheng et al., *The AI Economist:
Improving Equality and Productivity with AI-Driven Tax Policies*, arXiv 2004.13332, 2020),
reduced to a one-shot economy whose equilibrium and optimum are computed exactly
(``solvers/tax_planner.py``):

* ``N`` agents with skills ``s_i > 0`` choose labour ``l_i ∈ [0, l_max]``; pre-tax income
  ``z_i = s_i l_i``.
* Bracket tax with cutoffs ``0 = b_0 < b_1 < ... < b_{K-1}`` (``b_K = ∞``) and marginal rates
  ``τ_k ∈ [0, 1]``: ``T(z) = Σ_k τ_k · |[b_k, b_{k+1}] ∩ [0, z]|`` (rate times the overlap of the
  income with the bracket; AI Economist ``PeriodicBracketTax``).
* The revenue goes back as an equal lump sum ``R = Σ_j T(z_j) / N``; consumption
  ``c_i = z_i − T(z_i) + R``; so ``Σ_i c_i = Σ_i z_i`` exactly (the budget balances).
* Utility ``u_i = U(c_i) − κ v(l_i)``: isoelastic (CRRA) ``U(c) = (c^(1−η) − 1)/(1 − η)``, ``log c``
  at ``η = 1`` (the AI Economist's ``isoelastic_eta``), and the labour cost
  ``v(l) = l^(1+1/ε)/(1 + 1/ε)`` (constant Frisch elasticity ``ε``; the AI Economist's cost is
  linear in labour, the limit ``ε → ∞``, which we do not use: a strictly convex cost makes every
  best response unique and continuous, which the equilibrium argument of the solver needs).

The US-federal-like schedule is the one the AI Economist calls
``us-federal-single-filer-2018-scaled``: rates 10, 12, 22, 24, 32, 35, 37 % (the 2018 rates of the
Tax Cuts and Jobs Act) on the single-filer cutoffs 0, 9 700, 39 475, 84 200, 160 725, 204 100,
510 300 USD (those cutoffs are the 2019 inflation-adjusted ones; the AI Economist uses them with
the 2018 name), divided by a ``usd_scaling`` to the model's income units (salesforce/ai-economist,
``ai_economist/foundation/components/redistribution.py``, ``bracket_spacing="us-federal"``).

Planner objectives (:func:`planner_objective`): ``"equality_productivity"`` — the AI Economist's
``equality × productivity`` with equality ``1 − G`` of the consumption (post-tax-and-rebate income,
the AI Economist's coin endowments) and productivity ``Σ_i z_i`` (``= Σ_i c_i``); or
``"utilitarian"`` — ``Σ_i u_i``. ``G`` is the Gini index normalised by ``N/(N − 1)`` (AI Economist
``social_metrics.get_gini``): ``G = Σ_ij |x_i − x_j| / (2 N Σ_i x_i) · N/(N − 1)``, so equality is 1
at equal incomes and 0 when one agent holds everything.

Everything is vectorised over a leading batch of schedules: rates ``(..., K)``, incomes
``(..., N)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .errors import InvalidInstanceError
from .validation import as_float_array

#: AI Economist ``us_federal_single_filer_2018_scaled``: the cutoffs (USD) and the marginal rates.
US_2018_CUTOFFS_USD = (0.0, 9700.0, 39475.0, 84200.0, 160725.0, 204100.0, 510300.0)
US_2018_RATES = (0.10, 0.12, 0.22, 0.24, 0.32, 0.35, 0.37)
#: Default divisor of the USD cutoffs: the default economy's income unit is 125 000 USD a year
#: (its no-tax incomes run from about 0.5 to 6; the top cutoff 4.08 is reached by the top agent under the US schedule).
DEFAULT_USD_SCALING = 125000.0
#: Cutoffs (USD) of the coarse three-bracket schedule the planner's grid and the designer use:
#: three of the US cutoffs (0, 84 200, 204 100), so the grid spans "low", "middle", "top".
COARSE_CUTOFFS_USD = (0.0, 84200.0, 204100.0)

OBJECTIVES = ("equality_productivity", "utilitarian")


def check_schedule(cutoffs, rates) -> tuple[np.ndarray, np.ndarray]:
    """Validated ``(cutoffs (K,), rates (..., K))``: cutoffs start at 0 and increase strictly;
    rates lie in ``[0, 1]``. Raises :class:`InvalidInstanceError` naming the entry."""
    b = as_float_array("cutoffs", cutoffs, 1)
    if b.size < 1 or b[0] != 0.0:
        raise InvalidInstanceError("cutoffs", "must start at 0", (0,))
    bad = np.flatnonzero(np.diff(b) <= 0)
    if bad.size:
        raise InvalidInstanceError("cutoffs", "must increase strictly", (int(bad[0]) + 1,))
    r = np.asarray(rates, dtype=float)
    if r.ndim < 1 or r.shape[-1] != b.size:
        raise InvalidInstanceError("rates", f"last axis must have {b.size} entries (one per bracket), got {r.shape}")
    bad = np.argwhere(~((r >= 0) & (r <= 1)))
    if bad.size:
        where = tuple(int(i) for i in bad[0])
        raise InvalidInstanceError("rates", f"must lie in [0, 1], got {r[where]!r}", where)
    return b, r


def bracket_overlap(z, cutoffs) -> np.ndarray:
    """``(..., K)``: the part of income ``z`` (any shape) in each bracket, ``clip(z − b_k, 0, b_{k+1} − b_k)``."""
    b = np.asarray(cutoffs, dtype=float)
    width = np.append(np.diff(b), np.inf)
    return np.clip(np.asarray(z, dtype=float)[..., None] - b, 0.0, width)


def tax(z, cutoffs, rates) -> np.ndarray:
    """``T(z) = Σ_k τ_k · overlap_k(z)`` for incomes ``z (..., N)`` and rates ``(..., K)`` (broadcast
    over the leading axes): shape ``(..., N)``."""
    r = np.asarray(rates, dtype=float)
    return np.einsum("...nk,...k->...n", bracket_overlap(z, cutoffs), r)


def tax_at_cutoffs(cutoffs, rates) -> np.ndarray:
    """``(..., K)``: ``T(b_k)``, the tax due at the bottom of each bracket (cumulative sums)."""
    b = np.asarray(cutoffs, dtype=float)
    r = np.asarray(rates, dtype=float)
    below = r[..., :-1] * np.diff(b)
    return np.concatenate([np.zeros(r.shape[:-1] + (1,)), np.cumsum(below, axis=-1)], axis=-1)


def bracket_index(z, cutoffs) -> np.ndarray:
    """The bracket ``k`` with ``b_k <= z < b_{k+1}`` (``z >= 0``)."""
    b = np.asarray(cutoffs, dtype=float)
    return np.clip(np.searchsorted(b, np.asarray(z, dtype=float), side="right") - 1, 0, b.size - 1)


def gini(x) -> np.ndarray:
    """Normalised Gini index over the last axis: ``Σ_ij |x_i − x_j| / (2 N Σ x) · N/(N − 1)``;
    0 where ``Σ x = 0`` (nothing to share unequally) or ``N = 1``. ``x >= 0``."""
    x = np.asarray(x, dtype=float)
    n = x.shape[-1]
    if n < 2:
        return np.zeros(x.shape[:-1])
    diff = np.abs(x[..., :, None] - x[..., None, :]).sum(axis=(-1, -2))
    total = x.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        g = diff / (2.0 * n * total) * n / (n - 1)
    return np.where(total > 0, g, 0.0)


def equality(x) -> np.ndarray:
    """``1 − gini(x)`` (AI Economist ``get_equality``)."""
    return 1.0 - gini(x)


@dataclass(frozen=True, eq=False)
class TaxEconomy:
    """Agents' skills and preferences (module docstring).

    Parameters
    ----------
    skills: ``(N,)``, each ``> 0``: income per unit of labour.
    l_max: the most labour an agent can supply (``> 0``).
    eta: the CRRA coefficient ``η >= 0`` of the consumption utility (``log`` at ``η = 1``).
    elasticity: the Frisch elasticity ``ε > 0`` of the labour cost ``l^(1+1/ε)/(1+1/ε)``.
    labour_coefficient: ``κ > 0``, the weight of the labour cost.
    """

    skills: np.ndarray
    l_max: float = 1.0
    eta: float = 0.5
    elasticity: float = 1.0
    labour_coefficient: float = 1.0

    def __post_init__(self) -> None:
        s = as_float_array("skills", self.skills, 1)
        if s.size < 1:
            raise InvalidInstanceError("skills", "needs at least one agent")
        bad = np.flatnonzero(~(s > 0))
        if bad.size:
            raise InvalidInstanceError("skills", f"must be > 0, got {s[bad[0]]!r}", (int(bad[0]),))
        for name, low, value in (("l_max", 0.0, self.l_max), ("elasticity", 0.0, self.elasticity),
                                 ("labour_coefficient", 0.0, self.labour_coefficient)):
            if not (math.isfinite(float(value)) and float(value) > low):
                raise InvalidInstanceError(name, f"must be a finite number > {low:g}, got {value!r}")
        if not (math.isfinite(float(self.eta)) and float(self.eta) >= 0):
            raise InvalidInstanceError("eta", f"must be a finite number >= 0, got {self.eta!r}")
        s = s.copy()
        s.setflags(write=False)
        object.__setattr__(self, "skills", s)
        for name in ("l_max", "eta", "elasticity", "labour_coefficient"):
            object.__setattr__(self, name, float(getattr(self, name)))

    @property
    def n_agents(self) -> int:
        return int(self.skills.size)

    def consumption_utility(self, c) -> np.ndarray:
        """``U(c)``: ``(c^(1−η) − 1)/(1 − η)``, ``log c`` at ``η = 1``; ``−∞`` at ``c <= 0`` when ``η >= 1``."""
        c = np.asarray(c, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            if self.eta == 1.0:
                return np.where(c > 0, np.log(np.where(c > 0, c, 1.0)), -np.inf)
            if self.eta > 1.0:
                return np.where(c > 0, (np.where(c > 0, c, 1.0) ** (1 - self.eta) - 1) / (1 - self.eta), -np.inf)
            return (np.maximum(c, 0.0) ** (1 - self.eta) - 1) / (1 - self.eta)

    def marginal_consumption_utility(self, c) -> np.ndarray:
        """``U'(c) = c^(−η)`` (``+∞`` at ``c = 0`` when ``η > 0``)."""
        with np.errstate(divide="ignore", over="ignore"):
            return np.maximum(np.asarray(c, dtype=float), 0.0) ** (-self.eta)

    def labour_cost(self, l) -> np.ndarray:
        """``κ l^(1+1/ε)/(1 + 1/ε)``."""
        p = 1.0 + 1.0 / self.elasticity
        return self.labour_coefficient * np.maximum(np.asarray(l, dtype=float), 0.0) ** p / p

    def marginal_labour_cost(self, l) -> np.ndarray:
        """``κ l^(1/ε)``."""
        return self.labour_coefficient * np.maximum(np.asarray(l, dtype=float), 0.0) ** (1.0 / self.elasticity)

    def utility(self, labour, consumption) -> np.ndarray:
        """``U(c_i) − κ v(l_i)``, elementwise."""
        return self.consumption_utility(consumption) - self.labour_cost(labour)


@dataclass(frozen=True, eq=False)
class EconomyOutcome:
    """The accounts of one labour profile under one schedule (batched over schedules).

    ``budget_residual`` is ``Σ T(z_i) − N R`` per schedule (exactly 0 up to round-off: the rebate
    is defined as the mean tax); ``consumption_residual`` is ``Σ c_i − Σ z_i``."""

    labour: np.ndarray
    incomes: np.ndarray
    taxes: np.ndarray
    lump_sum: np.ndarray
    consumption: np.ndarray
    utilities: np.ndarray
    budget_residual: np.ndarray
    consumption_residual: np.ndarray


def outcome(economy: TaxEconomy, cutoffs, rates, labour) -> EconomyOutcome:
    """Incomes, taxes, the budget-balancing lump sum, consumption and utilities of ``labour``
    ``(..., N)`` under ``rates (..., K)``."""
    b, r = check_schedule(cutoffs, rates)
    l = np.asarray(labour, dtype=float)
    z = economy.skills * l
    t = tax(z, b, r)
    R = t.mean(axis=-1)
    c = z - t + R[..., None]
    u = economy.utility(l, c)
    n = economy.n_agents
    return EconomyOutcome(l, z, t, R, c, u, t.sum(axis=-1) - n * R, c.sum(axis=-1) - z.sum(axis=-1))


def planner_objective(result: EconomyOutcome, objective: str = "equality_productivity") -> np.ndarray:
    """``equality(c) · Σ z`` or ``Σ u`` per schedule (module docstring)."""
    if objective == "equality_productivity":
        return equality(np.maximum(result.consumption, 0.0)) * result.incomes.sum(axis=-1)
    if objective == "utilitarian":
        return result.utilities.sum(axis=-1)
    raise InvalidInstanceError("objective", f"must be one of {', '.join(OBJECTIVES)}, got {objective!r}")


def pareto_skills(n: int, a: float, s_min: float) -> np.ndarray:
    """``n`` deterministic skills at the quantiles ``q_i = (i + 1/2)/n`` of a Pareto law with tail
    parameter ``a`` and minimum ``s_min``: ``s_i = s_min (1 − q_i)^(−1/a)`` (increasing)."""
    q = (np.arange(n) + 0.5) / n
    return s_min * (1.0 - q) ** (-1.0 / a)


#: Default economy: 8 agents, skills at Pareto(a = 1.5) quantiles above 1.2 (120 000 USD a year at
#: full time), η = 0.5, ε = 1, κ = 4, l_max = 1 (every agent's no-tax labour is interior).
DEFAULT_N, DEFAULT_SKILL_PARETO, DEFAULT_SKILL_MIN = 8, 1.5, 1.2
DEFAULT_ETA, DEFAULT_ELASTICITY, DEFAULT_KAPPA = 0.5, 1.0, 4.0


def default_economy() -> TaxEconomy:
    """The economy of the tests and the comparison (constants above)."""
    return TaxEconomy(pareto_skills(DEFAULT_N, DEFAULT_SKILL_PARETO, DEFAULT_SKILL_MIN), 1.0, DEFAULT_ETA,
                      DEFAULT_ELASTICITY, DEFAULT_KAPPA)


def us_federal_cutoffs(usd_scaling: float = DEFAULT_USD_SCALING) -> np.ndarray:
    """The seven US cutoffs in model units (USD / ``usd_scaling``)."""
    return np.asarray(US_2018_CUTOFFS_USD) / usd_scaling


def coarse_cutoffs(usd_scaling: float = DEFAULT_USD_SCALING) -> np.ndarray:
    """The three-bracket cutoffs of the planner's grid (USD / ``usd_scaling``)."""
    return np.asarray(COARSE_CUTOFFS_USD) / usd_scaling


def saez_top_rate(pareto_a: float, elasticity: float, welfare_weight: float = 0.0) -> float:
    """The Saez-style top rate ``τ = (1 − g)/(1 − g + a e)``, ``= 1/(1 + a e)`` at the welfare weight
    ``g = 0`` of top earners: Saez (2001), *Using Elasticities to Derive Optimal Income Tax Rates*
    (Review of Economic Studies 68), the optimal rate on high incomes with the income effect set
    to zero (uncompensated = compensated elasticity ``e``), as the AI Economist's
    ``get_saez_marginal_rates`` uses it; ``a`` is the Pareto parameter of the income tail
    (``z_m/(z_m − z*)``, ``z_m`` the mean income above ``z*``) and ``e`` the elasticity of income
    with respect to ``1 − τ``."""
    g = float(welfare_weight)
    return (1.0 - g) / (1.0 - g + float(pareto_a) * float(elasticity))


def saez_parameters(economy: TaxEconomy, skill_pareto: float = DEFAULT_SKILL_PARETO) -> tuple[float, float]:
    """``(a, e)`` of :func:`saez_top_rate` for this model. Under a flat rate ``τ`` with no lump sum
    the first-order condition ``(1 − τ) s U'((1 − τ) s l) = κ l^(1/ε)`` gives
    ``l ∝ ((1 − τ) s)^e`` with ``e = (1 − η)/(η + 1/ε)``, so ``z = s l ∝ (1 − τ)^e s^(1+e)``: the
    elasticity of income with respect to ``1 − τ`` is ``e`` (``= ε`` at ``η = 0``), and a Pareto
    (``a_s``) skill tail gives a Pareto income tail with ``a = a_s/(1 + e)``. ``e`` is the
    uncompensated elasticity; using it in the formula without income effects is the Saez-style
    approximation (exact at ``η = 0``, where there is no income effect)."""
    e = (1.0 - economy.eta) / (economy.eta + 1.0 / economy.elasticity)
    return skill_pareto / (1.0 + e), e
