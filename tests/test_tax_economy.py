"""The taxed economy (theory/tax_economy.py) and its exact solver (solvers/tax_planner.py).

* The US-federal-like schedule reproduces the published base amounts of the 2018/2019 single-filer
  table (970, 4 543, 14 382, 32 748, 46 628, 153 798 USD at the cutoffs; the AI Economist's
  docstring, from the TurboTax table) — numbers the code does not contain.
* The budget balances at equilibrium; the Gini extremes; the exact best response against cvxpy
  (one problem per bracket, also for regressive schedules, where f is not concave) and a brute-force
  grid; the closed form at η = 0.
* The equilibrium: a fixed point, unique (Φ(R) − R changes sign once), and a regressive schedule
  where Φ jumps across the diagonal is reported as having none.
* The grid optimum equals a brute-force loop over single schedules, does not depend on the chunk
  size, and its refinement is never worse.
* The theorem checks fail on planted bugs.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings

from contractlab.proofs_checks import theorems_tax as TT
from contractlab.solvers import tax_planner as tp
from contractlab.theory.errors import InvalidInstanceError
from contractlab.theory.tax_economy import (US_2018_CUTOFFS_USD, US_2018_RATES, TaxEconomy, coarse_cutoffs,
                                            default_economy, equality, gini, outcome, planner_objective,
                                            saez_parameters, saez_top_rate, tax, tax_at_cutoffs)


def test_us_schedule_matches_the_published_base_amounts():
    published = [0, 970, 4543, 14382, 32748, 46628, 153798]          # USD, rounded to the dollar
    base = tax_at_cutoffs(np.array(US_2018_CUTOFFS_USD), np.array(US_2018_RATES))
    assert np.max(np.abs(base - published)) <= 1.0
    # and the tax itself at 100 000 USD: 14 382 + 24 % of (100 000 − 84 200), within the table's rounding
    assert abs(float(tax(np.array([100000.0]), US_2018_CUTOFFS_USD, US_2018_RATES)[0]) - (14382 + 0.24 * 15800)) <= 1.0


def test_validation_names_the_field():
    with pytest.raises(InvalidInstanceError, match="cutoffs"):
        tp.equilibrium(default_economy(), [0.5, 1.0], [0.1, 0.2])
    with pytest.raises(InvalidInstanceError, match=r"rates\[1\]"):
        tp.equilibrium(default_economy(), [0.0, 1.0], [0.1, 1.2])
    with pytest.raises(InvalidInstanceError, match=r"skills\[1\]"):
        TaxEconomy(np.array([1.0, 0.0]))
    with pytest.raises(InvalidInstanceError, match="objective"):
        planner_objective(outcome(default_economy(), [0.0], [0.0], np.ones(8)), "nonsense")


def test_gini_extremes_and_normalisation():
    assert gini(np.full(5, 3.0)) == 0.0 and equality(np.full(5, 3.0)) == 1.0
    assert gini(np.array([0, 0, 7.0, 0])) == pytest.approx(1.0, abs=1e-15)
    # without the N/(N − 1) factor the one-holds-all Gini would be (N − 1)/N
    assert gini(np.array([0.0, 1.0])) == pytest.approx(1.0)
    assert gini(np.zeros(3)) == 0.0


def test_budget_balances_at_equilibrium_for_many_schedules():
    e = default_economy()
    rates = tp.rate_grid(3, [0.0, 0.3, 0.7, 1.0])
    eq = tp.equilibrium(e, coarse_cutoffs(), rates)
    o = outcome(e, coarse_cutoffs(), rates, eq.labour)
    assert np.max(np.abs(o.budget_residual)) <= 1e-12 * max(1.0, o.incomes.sum(axis=-1).max())
    assert np.max(np.abs(o.consumption_residual)) <= 1e-12 * max(1.0, o.incomes.sum(axis=-1).max())
    # where an equilibrium was found, the rebate agents expected is the rebate paid
    ok = eq.converged
    assert ok.sum() >= 0.8 * ok.size
    assert np.max(np.abs(o.lump_sum - eq.lump_sum)[ok]) <= tp.EQUILIBRIUM_TOL * max(1.0, eq.lump_sum.max())


@settings(max_examples=8)
@given(TT.tax_cases(max_agents=2))
def test_best_response_matches_cvxpy_per_bracket(case):
    """One cvxpy problem per bracket (so regressive schedules too): the exact answer is as good, and
    cvxpy's is as good up to its accuracy."""
    e, b, r, R = case.economy, case.cutoffs, case.rates, case.lump_sum
    exact = tp.best_response(e, b, r, R)
    f_exact = tp.agent_objective(e, b, r, R, exact)
    for i in range(e.n_agents):
        li = tp.best_response_cvxpy(e, b, r, R, i)
        l = exact.copy()
        l[i] = li
        f_cvx = tp.agent_objective(e, b, r, R, l)[i]
        assert abs(f_cvx - f_exact[i]) <= TT.CVXPY_TOL * max(1.0, abs(f_exact[i]))


def test_best_response_beats_a_brute_force_grid_on_regressive_schedules():
    rng = np.random.default_rng(3)
    e = TaxEconomy(np.array([0.8, 1.5, 3.0, 6.0]), 1.0, 0.7, 1.5, 2.0)
    b = np.array([0.0, 0.4, 1.0, 2.0])
    rates = rng.uniform(0, 1, (200, 4))
    R = rng.uniform(0, 1, 200)
    l = tp.best_response(e, b, rates, R)
    grid = np.linspace(0, 1, 20001)
    f_grid = np.stack([tp.agent_objective(e, b, rates[g], R[g], np.broadcast_to(grid[:, None], (grid.size, 4))).max(0)
                       for g in range(0, 200, 10)])
    f_star = tp.agent_objective(e, b, rates, R, l)[::10]
    assert np.all(f_grid <= f_star + 1e-10 * np.maximum(1, np.abs(f_star)))
    # the grid comes close (|f'| is bounded, grid step 5e-5): the exact answer is not far above it
    assert np.all(f_star - f_grid <= 1e-3)


def test_closed_form_at_eta_zero():
    e = TaxEconomy(np.array([0.5, 1.0, 2.0]), 10.0, 0.0, 0.8, 1.5)
    r = np.array([0.3])                      # one bracket: a flat tax
    l = tp.best_response(e, [0.0], r, 0.2)
    assert np.allclose(l, (e.skills * 0.7 / 1.5) ** 0.8, rtol=1e-12, atol=0)


def test_equilibrium_is_the_unique_fixed_point():
    e = default_economy()
    b = coarse_cutoffs()
    r = np.array([0.1, 0.3, 0.5])
    eq = tp.equilibrium(e, b, r)
    assert eq.converged and eq.lump_sum > 0

    def excess(R):
        return float(tax(e.skills * tp.best_response(e, b, r, R), b, r).mean()) - R

    Rs = np.linspace(0, 2 * eq.lump_sum, 41)
    g = np.array([excess(x) for x in Rs])
    assert np.all(np.diff(g) < 0)                         # strictly decreasing: one crossing
    assert np.all(g[Rs < eq.lump_sum] > 0) and np.all(g[Rs > eq.lump_sum] < 0)


def test_no_tax_and_eta_zero_equilibria():
    e = default_economy()
    eq = tp.equilibrium(e, coarse_cutoffs(), np.zeros(3))
    assert eq.lump_sum == 0 and eq.converged
    e0 = TaxEconomy(e.skills, 1.0, 0.0, 1.0, 4.0)             # no income effect: Φ is constant
    r = np.array([0.2, 0.4, 0.6])
    eq0 = tp.equilibrium(e0, coarse_cutoffs(), r)
    phi0 = float(tax(e0.skills * tp.best_response(e0, coarse_cutoffs(), r, 0.0), coarse_cutoffs(), r).mean())
    assert eq0.lump_sum == pytest.approx(phi0, rel=1e-12)


def test_regressive_schedule_without_equilibrium_is_reported():
    """Rates (0, 0.8, 0.1): agent 6 jumps between two local maxima as R crosses R*, and Φ jumps across
    the diagonal, so there is no pure equilibrium; the solver says so instead of answering."""
    e = default_economy()
    b = coarse_cutoffs()
    r = np.array([0.0, 0.8, 0.1])
    eq = tp.equilibrium(e, b, r)
    assert not eq.converged
    R = float(eq.lump_sum)

    def excess(x):
        return float(tax(e.skills * tp.best_response(e, b, r, x), b, r).mean()) - x

    assert excess(R - 1e-9) > 0.01 and excess(R + 1e-9) < -0.01
    values, _ = tp.schedule_objective(e, b, r[None])
    assert values[0] == -np.inf


def test_grid_optimum_is_the_brute_force_maximum():
    e = TaxEconomy(np.array([1.0, 2.0, 5.0]), 1.0, 0.5, 1.0, 3.0)
    b = np.array([0.0, 0.5])
    vals = [0.0, 0.25, 0.5, 0.75, 1.0]
    g = tp.grid_optimum(e, b, vals)
    brute = []
    for r0 in vals:
        for r1 in vals:
            eq = tp.equilibrium(e, b, np.array([r0, r1]))
            v = planner_objective(outcome(e, b, np.array([r0, r1]), eq.labour)) if eq.converged else -np.inf
            brute.append(float(v))
    assert g.value == pytest.approx(max(brute), rel=1e-12)
    assert np.array_equal(g.values, tp.grid_optimum(e, b, vals, chunk=3).values)
    _, refined = tp.grid_refined_optimum(e, b, vals, top=2)
    assert refined.value >= g.value
    assert refined.value == pytest.approx(float(tp.schedule_objective(e, b, refined.rates[None])[0][0]), rel=1e-12)


def test_saez_top_rate():
    assert saez_top_rate(2.0, 0.5) == pytest.approx(0.5)
    assert saez_top_rate(1.0, 0.0) == 1.0                      # no behavioural response: tax everything
    e0 = TaxEconomy(np.ones(2), 1.0, 0.0, 0.7, 1.0)
    assert saez_parameters(e0, 2.1) == pytest.approx((2.1 / 1.7, 0.7))    # η = 0: e = ε, a = a_s/(1 + ε)


def test_income_elasticity_used_by_saez_is_the_models():
    """Under a flat tax with no lump sum, d log z / d log(1 − τ) is the e of saez_parameters."""
    e = TaxEconomy(np.array([1.0, 3.0]), 100.0, 0.5, 1.0, 4.0)
    _, elasticity = saez_parameters(e)
    z = [e.skills * tp.best_response(e, [0.0], np.array([t]), 0.0) for t in (0.3, 0.31)]
    measured = np.log(z[1] / z[0]) / np.log(0.69 / 0.70)
    assert np.allclose(measured, elasticity, rtol=1e-9)


def test_checks_fail_on_planted_bugs(monkeypatch):
    case = TT.TaxCase(TaxEconomy(np.array([1.0, 2.5]), 1.0, 0.5, 1.0, 2.0), np.array([0.0, 0.5, 1.5]),
                      np.array([0.1, 0.3, 0.6]), 0.2, np.array([0.3, 0.6]))
    for check in (TT.check_budget_balance, TT.check_closed_form, TT.check_best_response_optimal,
                  TT.check_cvxpy_agrees, TT.check_equilibrium_unique):
        assert check(case).passed
    real_br = TT.best_response
    monkeypatch.setattr(TT, "best_response", lambda *a: real_br(*a) * (1 - 1e-4))
    assert not TT.check_best_response_optimal(case).passed
    monkeypatch.setattr(TT, "best_response", real_br)
    monkeypatch.setattr(TT, "tax", lambda z, b, r: tax(z, b, r) * 1.001)
    assert not TT.check_closed_form(case).passed
    monkeypatch.setattr(TT, "gini", lambda x: gini(x) * 0.99)
    assert not TT.check_equality_extremes((np.array([1.0, 2.0, 3.0]), 1.0)).passed


def test_kkt_check_at_a_kink_reached_by_round_off():
    """l* = cutoff / s sits on a kink, and s * l* is one ulp below the cutoff: the one-sided
    derivatives must still be taken on the sides asked for (found by `verify` from an installed copy)."""
    from contractlab.proofs_checks.theorems_tax import TaxCase, check_best_response_optimal
    e = TaxEconomy(skills=np.array([1.9]), l_max=1.0, eta=0.0, elasticity=1.0, labour_coefficient=1.0)
    # 1.9 * (1 / 1.9) rounds to one ulp below 1.0: the round-off this case is about
    ev = check_best_response_optimal(TaxCase(e, np.array([0.0, 1.0]), np.array([0.0, 1.0]), 0.0, np.array([0.0])))
    assert ev.passed, ev
