"""Theorems about the taxed economy (``theory/tax_economy.py``, ``solvers/tax_planner.py``).

The economy is the AI Economist's bracket tax with an equal lump-sum rebate (Zheng et al., arXiv
2004.13332; the tax experiment of Yang et al., arXiv 2112.10859). Every check recomputes its
reference here, by a route that shares no code with the one under test:

* ``tax.budget_balance`` — for any labour profile the rebate returns the revenue exactly:
  ``Σ_i T(z_i) = N R`` and ``Σ_i c_i = Σ_i z_i`` (relative :data:`EXACT_TOL`).
* ``tax.closed_form`` — ``T`` equals the closed form ``T(b_k) + τ_k (z − b_k)`` on the bracket of
  ``z`` (``T(b_k)`` summed here bracket by bracket in Python); with rates in ``[0, 1]`` it is
  nondecreasing, 1-Lipschitz (so continuous, across the cutoffs too) and ``0 <= T(z) <= z``.
* ``tax.equality_extremes`` — the normalised Gini (``N/(N − 1)`` times the plain one) is 0 at equal
  incomes and 1 when one agent holds everything (equality 1 and 0), lies in ``[0, 1]``, and
  equals the sorted-sum formula ``(2 Σ_i i x_(i)/(N Σ x) − (N + 1)/N) · N/(N − 1)``.
* ``tax.best_response_optimal`` — the exact best response beats every labour of a fine grid (plus
  the kinks and bounds) up to round-off, satisfies the KKT conditions (``f' = 0`` inside a piece,
  one-sided derivatives of the right signs at a kink or a bound), and equals the closed form
  ``(s(1 − τ)/κ)^ε`` at ``η = 0`` when it lies inside a bracket.
* ``tax.cvxpy_agrees`` — for nondecreasing rates cvxpy's solution of the concave problem
  ``max U(t) − κ v(l)``, ``t <= c_k(l)`` has the exact best response's utility (:data:`CVXPY_TOL`).
* ``tax.equilibrium_unique`` — for nondecreasing rates the equilibrium lump sum is a fixed point
  ``Φ(R) = R`` (:data:`~contractlab.solvers.tax_planner.EQUILIBRIUM_TOL`), its labour is every
  agent's exact best response, and ``Φ(R') − R'`` is ``> 0`` below and ``< 0`` above ``R`` (the
  strictly decreasing ``Φ(R) − R`` of the uniqueness argument in ``solvers/tax_planner.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st

from ..solvers.tax_planner import (EQUILIBRIUM_TOL, agent_objective, best_response, best_response_cvxpy,
                                   equilibrium)
from ..theory.tax_economy import TaxEconomy, bracket_index, gini, outcome, tax
from .registry import Evidence, theorem

#: Round-off slack of identities that hold exactly (relative to ``max(1, scale)``).
EXACT_TOL = 1e-12
#: Slack of "no grid labour beats the best response" (relative to ``max(1, |f|)``): round-off of
#: ``f`` plus the stationary point's bisection width (``2^-50 l_max``) squared times ``|f''|``.
GRID_TOL = 1e-10
#: Slack of a KKT derivative (relative to the larger of the two terms of ``f'``).
KKT_TOL = 1e-7
#: cvxpy (Clarabel, default accuracy ~1e-8) against the exact utility, relative to ``max(1, |f|)``.
CVXPY_TOL = 1e-6
#: Labours of the fine grid of ``tax.best_response_optimal``.
GRID_POINTS = 2001

AIE = "Zheng et al., The AI Economist (arXiv 2004.13332, 2020), PeriodicBracketTax and social_metrics"
YANG = "Yang et al., Adaptive Incentive Design with Multi-Agent Meta-Gradient RL (arXiv 2112.10859), tax experiment"


@dataclass(frozen=True)
class TaxCase:
    """A drawn economy, schedule, lump sum and labour profile."""

    economy: TaxEconomy
    cutoffs: np.ndarray
    rates: np.ndarray
    lump_sum: float
    labour: np.ndarray


@st.composite
def tax_cases(draw, progressive: bool = False, max_agents: int = 5) -> TaxCase:
    n = draw(st.integers(1, max_agents))
    skills = np.array(draw(st.lists(st.floats(0.2, 10.0), min_size=n, max_size=n)))
    eta = draw(st.one_of(st.sampled_from([0.0, 0.5, 1.0, 2.0]), st.floats(0.0, 3.0)))
    economy = TaxEconomy(skills, draw(st.floats(0.5, 2.0)), eta, draw(st.floats(0.3, 3.0)), draw(st.floats(0.2, 5.0)))
    k = draw(st.integers(1, 4))
    cutoffs = np.concatenate([[0.0], np.cumsum(draw(st.lists(st.floats(0.05, 3.0), min_size=k - 1, max_size=k - 1)))])
    rate = st.one_of(st.sampled_from([0.0, 1.0]), st.floats(0.0, 1.0))
    rates = np.array(draw(st.lists(rate, min_size=k, max_size=k)))
    if progressive:
        rates = np.sort(rates)
    lump = draw(st.floats(0.0, 3.0))
    if eta >= 1.0:
        lump = max(lump, 0.01)          # c > 0 somewhere: U(0) = −∞ at η >= 1
    labour = np.array(draw(st.lists(st.floats(0.0, 1.0), min_size=n, max_size=n))) * economy.l_max
    return TaxCase(economy, cutoffs, rates, lump, labour)


@theorem("tax.budget_balance",
         "For any labour profile, the lump sum R = Σ T(z_i)/N returns the revenue exactly: Σ_i T(z_i) = N R and "
         "Σ_i c_i = Σ_i z_i, c_i = z_i − T(z_i) + R.",
         f"{AIE} (lump-sum redistribution); {YANG}", lambda: tax_cases())
def check_budget_balance(case: TaxCase) -> Evidence:
    o = outcome(case.economy, case.cutoffs, case.rates, case.labour)
    scale = max(1.0, float(np.abs(o.incomes).sum()))
    items = [Evidence.equal(float(o.budget_residual) / scale, 0.0, EXACT_TOL, "(Σ T − N R)/max(1, Σ z)"),
             Evidence.equal(float(o.consumption_residual) / scale, 0.0, EXACT_TOL, "(Σ c − Σ z)/max(1, Σ z)")]
    return Evidence.combine(items)


@theorem("tax.closed_form",
         "T(z) = Σ_k τ_k |[b_k, b_{k+1}] ∩ [0, z]| equals T(b_k) + τ_k (z − b_k) on the bracket of z; for rates in "
         "[0, 1] it is nondecreasing, 1-Lipschitz (continuous at the cutoffs) and 0 <= T(z) <= z.",
         f"{AIE} (bracket tax)", lambda: tax_cases())
def check_closed_form(case: TaxCase) -> Evidence:
    b, r = case.cutoffs, case.rates
    top = float(b[-1]) * 1.5 + 1.0
    z = np.sort(np.concatenate([np.linspace(0.0, top, 401), b, b + 1e-9, np.maximum(b - 1e-9, 0.0)]))
    t = tax(z, b, r)
    at_cut = [0.0]
    for k in range(1, b.size):                      # T(b_k), bracket by bracket
        at_cut.append(at_cut[-1] + float(r[k - 1]) * float(b[k] - b[k - 1]))
    k = bracket_index(z, b)
    closed = np.array(at_cut)[k] + r[k] * (z - b[k])
    scale = max(1.0, top)
    dz, dt = np.diff(z), np.diff(t)
    items = [Evidence.equal(float(np.max(np.abs(t - closed))) / scale, 0.0, EXACT_TOL, "max |T − closed form|"),
             Evidence.at_least(float(np.min(dt)) / scale, 0.0, EXACT_TOL, "min ΔT (nondecreasing)"),
             Evidence.at_most(float(np.max(dt - dz)) / scale, 0.0, EXACT_TOL, "max (ΔT − Δz) (1-Lipschitz)"),
             Evidence.at_least(float(np.min(t)) / scale, 0.0, EXACT_TOL, "min T"),
             Evidence.at_most(float(np.max(t - z)) / scale, 0.0, EXACT_TOL, "max (T − z)")]
    return Evidence.combine(items)


@st.composite
def income_vectors(draw):
    n = draw(st.integers(2, 12))
    return np.array(draw(st.lists(st.floats(0.0, 100.0), min_size=n, max_size=n))), draw(st.floats(0.01, 100.0))


@theorem("tax.equality_extremes",
         "The normalised Gini G = Σ_ij |x_i − x_j| / (2 N Σ x) · N/(N − 1) is 0 at equal incomes and 1 when one agent "
         "holds everything (equality 1 − G is 1 and 0), lies in [0, 1], and equals the sorted-sum formula "
         "(2 Σ_i i x_(i) / (N Σ x) − (N + 1)/N) · N/(N − 1).",
         f"{AIE} (get_gini, get_equality)", lambda: income_vectors())
def check_equality_extremes(case) -> Evidence:
    x, level = case
    n = x.size
    one = np.zeros(n)
    one[n // 2] = level
    items = [Evidence.equal(float(gini(np.full(n, level))), 0.0, EXACT_TOL, "Gini of equal incomes"),
             Evidence.equal(float(gini(one)), 1.0, EXACT_TOL, "Gini when one agent holds everything")]
    g = float(gini(x))
    items += [Evidence.at_least(g, 0.0, EXACT_TOL, "G >= 0"), Evidence.at_most(g, 1.0, EXACT_TOL, "G <= 1")]
    if x.sum() > 0:
        xs = np.sort(x)
        sorted_formula = (2.0 * np.sum(np.arange(1, n + 1) * xs) / (n * xs.sum()) - (n + 1) / n) * n / (n - 1)
        items.append(Evidence.equal(g, float(sorted_formula), 1e-10, "G against the sorted-sum formula"))
    return Evidence.combine(items)


#: Relative distance within which an income counts as sitting on a bracket cutoff (round-off of ``s * (b / s)``).
KINK_SNAP = 1e-12


def _one_sided(economy: TaxEconomy, b, r, R, l, side: float) -> tuple[np.ndarray, np.ndarray]:
    """One-sided derivative of every agent's ``f`` at ``l`` from the bracket on ``side`` (+1: right,
    −1: left), and the scale of its two terms; written from the model here."""
    s = economy.skills
    z = s * l
    # a best response at a kink is l = cutoff / s, and s * l may land one ulp below the cutoff: snap
    # incomes within KINK_SNAP of a cutoff onto it, so the side asked for is the side used
    near = np.abs(z[:, None] - b[None, :]) <= KINK_SNAP * np.maximum(1.0, b[None, :])
    z = np.where(near.any(axis=1), b[np.argmax(near, axis=1)], z)
    k = np.clip(np.searchsorted(b, z, side="right" if side > 0 else "left") - 1, 0, b.size - 1)
    c = z - tax(z, b, r) + R
    with np.errstate(divide="ignore", invalid="ignore"):
        gain = np.where(r[k] < 1, (1 - r[k]) * s * np.maximum(c, 0.0) ** (-economy.eta), 0.0)
    cost = economy.labour_coefficient * l ** (1 / economy.elasticity)
    return gain - cost, np.maximum(1.0, np.maximum(np.abs(gain), cost))


@theorem("tax.best_response_optimal",
         "The exact best response l* (maximum over the brackets' stationary points and the kinks) maximises "
         "f(l) = U(s l − T(s l) + R) − κ l^(1+1/ε)/(1+1/ε) over [0, l_max]: no labour of a fine grid (with the kinks) does "
         "better; KKT: f'(l*) = 0 inside a piece, f'(l*−) >= 0 >= f'(l*+) at a kink, f'(0+) <= 0 at 0, f'(l_max−) >= 0 "
         "at l_max; at η = 0 inside a bracket, l* = (s(1 − τ)/κ)^ε.",
         f"{YANG}; the agent's problem of {AIE}", lambda: tax_cases())
def check_best_response_optimal(case: TaxCase) -> Evidence:
    e, b, r, R = case.economy, case.cutoffs, case.rates, case.lump_sum
    l = best_response(e, b, r, R)
    f_star = agent_objective(e, b, r, R, l)
    grid = np.linspace(0.0, e.l_max, GRID_POINTS)
    kinks = np.minimum(b[:, None] / e.skills[None, :], e.l_max)       # (K, N)
    cand = np.concatenate([np.broadcast_to(grid[:, None], (grid.size, e.n_agents)), kinks], axis=0)
    f_grid = agent_objective(e, b, r, R, cand).max(axis=0)
    scale = np.maximum(1.0, np.abs(f_star))
    items = [Evidence.at_most(float(np.max((f_grid - f_star) / scale)), 0.0, GRID_TOL,
                              "max over agents of (best grid f − f(l*))/max(1, |f(l*)|)")]
    right, sr = _one_sided(e, b, r, R, l, +1.0)
    left, sl = _one_sided(e, b, r, R, l, -1.0)
    at_lo, at_hi = l <= 0.0, l >= e.l_max
    items.append(Evidence.at_most(float(np.max(np.where(at_hi, -np.inf, right / sr))), 0.0, KKT_TOL,
                                  "max f'(l*+) (must be <= 0 unless l* = l_max)"))
    items.append(Evidence.at_least(float(np.min(np.where(at_lo, np.inf, left / sl))), 0.0, KKT_TOL,
                                   "min f'(l*−) (must be >= 0 unless l* = 0)"))
    if e.eta == 0.0:
        k = bracket_index(e.skills * l, b)
        closed = np.minimum((e.skills * (1 - r[k]) / e.labour_coefficient) ** e.elasticity, e.l_max)
        z = e.skills * l
        inside = (z > b[k] * (1 + 1e-9)) & ((k == b.size - 1) | (z < np.append(b, np.inf)[k + 1] * (1 - 1e-9))) \
            & (l < e.l_max) & (l > 0)
        if inside.any():
            items.append(Evidence.equal(float(np.max(np.abs(l - closed)[inside])), 0.0, 1e-9,
                                        "η = 0: max |l* − (s(1 − τ)/κ)^ε| inside a bracket"))
    return Evidence.combine(items)


@theorem("tax.cvxpy_agrees",
         "For nondecreasing rates, cvxpy's solution of the concave problem max U(t) − κ v(l) s.t. t <= c_k(l) (every "
         "bracket k), 0 <= l <= l_max, has the utility of the exact best response (and no more).",
         f"{YANG}; {AIE}", lambda: tax_cases(progressive=True, max_agents=1))
def check_cvxpy_agrees(case: TaxCase) -> Evidence:
    e, b, r, R = case.economy, case.cutoffs, case.rates, case.lump_sum
    exact = best_response(e, b, r, R)
    lc = best_response_cvxpy(e, b, r, R, 0, concave=True)
    f_exact = float(agent_objective(e, b, r, R, exact)[0])
    f_cvx = float(agent_objective(e, b, r, R, np.array([lc]))[0])
    scale = max(1.0, abs(f_exact))
    return Evidence.combine([
        Evidence.equal(f_cvx / scale, f_exact / scale, CVXPY_TOL, "f(cvxpy)/max(1,|f|) vs f(exact)/max(1,|f|)"),
        Evidence.at_most(f_cvx / scale, f_exact / scale, GRID_TOL, "cvxpy does not beat the exact answer")])


@theorem("tax.equilibrium_unique",
         "For nondecreasing rates, the equilibrium lump sum R satisfies Φ(R) = R with Φ(R) = Σ T(s_i l_i(R))/N, its "
         "labour is every agent's exact best response to R, and Φ(R') − R' > 0 for R' < R, < 0 for R' > R (Φ is "
         "nonincreasing by decreasing differences of U(g(l) + R), so the fixed point is unique).",
         f"{YANG}; Topkis, Minimizing a submodular function on a lattice (Operations Research 26, 1978)",
         lambda: tax_cases(progressive=True))
def check_equilibrium_unique(case: TaxCase) -> Evidence:
    e, b, r = case.economy, case.cutoffs, case.rates
    eq = equilibrium(e, b, r)
    R = float(eq.lump_sum)

    def phi(x):
        return float(tax(e.skills * best_response(e, b, r, x), b, r).mean())

    scale = max(1.0, R)
    items = [Evidence.at_most(abs(phi(R) - R) / scale, 0.0, EQUILIBRIUM_TOL, "|Φ(R) − R|/max(1, R)"),
             Evidence.equal(float(np.max(np.abs(eq.labour - best_response(e, b, r, R)))), 0.0, EXACT_TOL,
                            "labour = best response to R")]
    gap = 1e-3 * scale
    if R > gap:
        items.append(Evidence.at_least(phi(R - gap) - (R - gap), 0.0, 0.0, "Φ(R') − R' at R' = R − 1e-3"))
    items.append(Evidence.at_most(phi(R + gap) - (R + gap), 0.0, 0.0, "Φ(R') − R' at R' = R + 1e-3"))
    return Evidence.combine(items)
