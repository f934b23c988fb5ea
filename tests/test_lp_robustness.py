"""The LP layer's defences: exact equilibration, verification of every reported optimum, and
``backend="both"`` making a disagreement between HiGHS and cvxpy visible (issue 4)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from contractlab import ContractProblem, min_pay_all, optimal_contract
from contractlab.proofs_checks.strategies_hostile import hostile_cases
from contractlab.solvers import backend_highs
from contractlab.solvers.lp import LPSolution, accurate, solve_lp_batch, verify_solution
from contractlab.solvers.lp_scaling import equilibrate, unscale
from contractlab.solvers.min_pay import min_pay_lps


def _lps(p: ContractProblem):
    n = p.n_actions
    return min_pay_lps(np.broadcast_to(p.outcome_probs, (n, n, p.n_outcomes)),
                       np.broadcast_to(p.costs, (n, n)), np.arange(n))


def _is_pow2(a: np.ndarray) -> bool:
    mant, _ = np.frexp(a)
    return bool((mant == 0.5).all())


@given(case=hostile_cases())
def test_equilibration_is_exact(case):
    """Every factor is a power of two, so the scaled data are the original data exactly
    (checked in rational arithmetic), and unscaling a scaled point gives it back bit for bit."""
    lp = _lps(case[1])
    scaled, sc = equilibrate(lp)
    for f in (sc.rows, sc.cols, sc.beta, sc.gamma):
        assert _is_pow2(f)
    b, r, j = 0, 0, 0
    for b in range(lp.size):
        for r in range(lp.A_ge.shape[1]):
            for j in range(lp.n_vars):
                assert Fraction(scaled.A_ge[b, r, j]) == (Fraction(lp.A_ge[b, r, j]) * Fraction(sc.rows[b, r])
                                                          * Fraction(sc.cols[b, j]))
    x = np.abs(np.random.default_rng(0).normal(size=lp.c.shape))
    fake = LPSolution(np.full(lp.size, "optimal", dtype=object), x / (sc.cols * sc.beta[:, None]),
                      np.zeros(lp.size), np.zeros(lp.b_ge.shape), np.zeros(lp.b_eq.shape), "test")
    np.testing.assert_array_equal(unscale(lp, fake, sc).x, x)


def test_equilibration_brings_tiny_rows_to_order_one():
    """An IC row of probability differences of 5e-13 (which HiGHS would drop) is scaled to
    entries of order 1."""
    p = ContractProblem([[1e-12, 0.5 - 5e-13, 0.5 - 5e-13], [1.5e-12, 0.5 - 7.5e-13, 0.5 - 7.5e-13]],
                        [0.002, 0.003], [0.0, 0.0, 0.0])
    scaled, _ = equilibrate(_lps(p))
    assert np.abs(scaled.A_ge).max(axis=2).min() >= 0.25


def test_verification_demotes_a_wrong_optimum():
    """A solution nudged off the optimum (a payment lowered by 1%, or a wrong dual) is
    reported ``inaccurate`` with a NaN point, never as ``optimal``."""
    p = ContractProblem([[0.7, 0.3], [0.2, 0.8]], [0.0, 1.0], [0.0, 3.0])
    lp = _lps(p)
    scaled, _ = equilibrate(lp)
    sol = backend_highs.solve(scaled)
    assert accurate(scaled, sol).all()
    for name, factor in (("x", 0.99), ("y_ge", 1.5)):
        arrays = {"x": sol.x.copy(), "y_ge": sol.y_ge.copy()}
        arrays[name][1] *= factor
        bad = LPSolution(sol.status.copy(), arrays["x"], sol.objective, arrays["y_ge"], sol.y_eq, "test")
        out = verify_solution(scaled, bad)
        assert list(out.status) == ["optimal", "inaccurate"]
        assert np.isnan(out.x[1]).all() and not np.isnan(out.x[0]).any()


def test_both_backends_report_a_disagreement(monkeypatch):
    """When one backend's answer differs from the other's, ``backend="both"`` says so in the
    status instead of returning either answer."""
    from contractlab.solvers import lp as lp_module
    p = ContractProblem([[0.7, 0.3], [0.2, 0.8], [0.1, 0.9]], [0.0, 1.0, 1.5], [0.0, 3.0])
    agreed = min_pay_all(p, backend="both")
    assert [r.status for r in agreed] == ["optimal"] * 3
    assert {r.backend for r in agreed} == {"highs+cvxpy"}
    real = lp_module._solve_one_backend

    def infeasible_for_last(lp, backend, batched, scale):
        # the verdict as it leaves the LP layer (a wrong claim from inside a backend would be
        # caught there: see test_an_infeasibility_claim_without_certificate_is_not_believed)
        out = real(lp, backend, batched, scale)
        if backend == "cvxpy":
            out.status[-1] = "infeasible"
        return out

    monkeypatch.setattr(lp_module, "_solve_one_backend", infeasible_for_last)
    table = min_pay_all(p, backend="both")
    assert [r.status for r in table] == ["optimal", "optimal", "disagreement"]
    assert table[2].contract is None
    with pytest.raises(RuntimeError, match="disagreement"):
        optimal_contract(p, backend="both")


@pytest.mark.parametrize("backend", ["highs", "cvxpy"])
def test_an_infeasibility_claim_without_certificate_is_not_believed(monkeypatch, backend):
    """A backend that calls a feasible LP infeasible (with no Farkas certificate, or a wrong one)
    is overruled: the claim fails :func:`farkas_certified`, and the LP layer settles the LP itself
    (phase 1 finds no certificate; the exact simplex finds the optimum)."""
    from contractlab.solvers import backend_cvxpy
    module = {"highs": backend_highs, "cvxpy": backend_cvxpy}[backend]
    p = ContractProblem([[0.7, 0.3], [0.2, 0.8], [0.1, 0.9]], [0.0, 1.0, 1.5], [0.0, 3.0])
    honest = min_pay_all(p, backend=backend)
    real = module.solve

    def infeasible_for_last(lp, **kwargs):
        out = real(lp, **kwargs)
        out.status[-1] = "infeasible"
        out.farkas_ge[-1] = 1.0                  # not a certificate: b·y > 0 but A^T y is not <= 0
        return out

    monkeypatch.setattr(module, "solve", infeasible_for_last)
    table = min_pay_all(p, backend=backend)
    assert [r.status for r in table] == ["optimal"] * 3
    assert table[2].expected_payment == pytest.approx(honest[2].expected_payment, rel=1e-12)


@given(case=hostile_cases(), data=st.data())
def test_agreement_check_is_deterministic(case, data):
    """``backend="both"`` on the same instance twice: identical statuses and bit-identical
    contracts (HiGHS' vertex is returned where the backends agree)."""
    p = case[1]
    first = min_pay_all(p, backend="both")
    second = min_pay_all(p, backend="both")
    for a, b in zip(first, second):
        assert a.status == b.status
        if a.contract is not None:
            np.testing.assert_array_equal(a.contract, b.contract)
            assert a.expected_payment == b.expected_payment


@given(case=hostile_cases())
def test_both_agrees_with_highs_where_it_is_clean(case):
    """Where ``backend="both"`` reports an optimum it is HiGHS' own answer, bit for bit."""
    p = case[1]
    for r_both, r_h in zip(min_pay_all(p, backend="both"), min_pay_all(p, backend="highs")):
        if r_both.status == "optimal":
            np.testing.assert_array_equal(r_both.contract, r_h.contract)


def test_solve_lp_batch_names_an_unknown_backend():
    with pytest.raises(ValueError, match="backend"):
        solve_lp_batch(_lps(ContractProblem([[1.0]], [0.0], [0.0])), backend="glpk")


def test_a_rejected_highs_option_raises_naming_it(monkeypatch):
    """highspy reports an unknown option name or an illegal value only by the status it returns,
    and HiGHS then keeps the option's previous value; the backend checks that status, so a
    misspelt option is an error instead of a silent run with the default. The normal path sets
    every option (read back here) and still solves."""
    h = backend_highs._highs()
    with pytest.raises(RuntimeError, match="primal_feasibility_tolerence"):
        backend_highs._set_option(h, "primal_feasibility_tolerence", 1e-10)      # misspelt name
    with pytest.raises(RuntimeError, match="presolve"):
        backend_highs._set_option(h, "presolve", "of")                           # illegal value
    with pytest.raises(RuntimeError, match="dual_feasibility_tolerance"):
        backend_highs._set_option(h, "dual_feasibility_tolerance", "tight")      # wrong type
    # a fresh instance (as in a new thread) built with an option HiGHS refuses: the error names it
    monkeypatch.setattr(backend_highs._local, "highs", None)
    monkeypatch.setattr(backend_highs, "SMALL_MATRIX_VALUE", -1.0)
    with pytest.raises(RuntimeError, match="small_matrix_value"):
        backend_highs._highs()
    monkeypatch.undo()
    # the normal path, on a fresh instance too: the options are the ones asked for, and a batch solves
    monkeypatch.setattr(backend_highs._local, "highs", None)
    h = backend_highs._highs()

    def value(name):
        v = h.getOptionValue(name)
        return v[1] if isinstance(v, tuple) else v               # highspy 1.16 returns (status, value)

    assert value("primal_feasibility_tolerance") == value("dual_feasibility_tolerance") == backend_highs.SOLVER_TOL
    assert value("small_matrix_value") == backend_highs.SMALL_MATRIX_VALUE
    assert value("solver") == "simplex" and value("output_flag") is False
    p = ContractProblem([[0.7, 0.3], [0.2, 0.8]], [0.0, 1.0], [0.0, 3.0])
    for batched in (True, False):
        sol = solve_lp_batch(_lps(p), backend="highs", batched=batched)
        assert list(sol.status) == ["optimal", "optimal"]
        assert sol.objective[1] == pytest.approx(1.6, rel=1e-12)     # t = (0, 2), IC vs action 0 binds: 0.8 * 2
