"""The LP-layer theorems (contractlab/proofs_checks/theorems_lp.py): they hold on hand-made LPs,
their instances are what they claim to be, and each check fails on a corrupted answer."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import find, given, settings

from contractlab.proofs_checks import theorems_lp as T
from contractlab.proofs_checks.registry import all_theorems
from contractlab.proofs_checks.runner import run_theorem
from contractlab.solvers import backend_cvxpy, backend_highs
from contractlab.solvers.backend_highs import FEASIBILITY_FIRST_MIN
from contractlab.solvers.lp import EXACT_MAX_ENTRIES, LPBatch, solve_lp_batch

REAL_SOLVE = solve_lp_batch
IDS = ("lp.highs_answers_certified", "lp.cvxpy_answers_certified", "lp.large_batch_answers_certified",
       "lp.both_agree_when_they_say_so", "lp.highs_backend_contract", "lp.cvxpy_backend_contract")


def _case(*lps) -> T.LPCase:
    """A batch of hand-made LPs of one shape: each ``(kind, value, c, A_ge, b_ge, A_eq, b_eq)``."""
    kinds = tuple(lp[0] for lp in lps)
    arrays = [np.array([lp[i] for lp in lps], dtype=float) for i in range(2, 7)]
    return T.LPCase(LPBatch(*arrays), kinds, np.array([lp[1] for lp in lps], dtype=float))


# min x1 + 2 x2  s.t.  x1 + x2 >= 1,  x1 - x2 = 0: the optimum 1.5 at (1/2, 1/2), y = (3/2, -1/2)
FEASIBLE = ("feasible", 1.5, [1, 2], [[1, 1]], [1], [[1, -1]], [0])
# 0 x1 + 0 x2 = 1: a trivially infeasible = row
TRIVIAL_EQ = ("trivial_eq", np.nan, [1, 2], [[1, 1]], [1], [[0, 0]], [1])
# x1 + x2 >= 1 and x1 + x2 = 1/2 ... made infeasible only by combining the two rows
COMBINATION = ("combination", np.nan, [1, 2], [[1, 1]], [1], [[1, 1]], [0.5])
# -x1 - x2 >= 1: a trivially infeasible >= row
TRIVIAL_GE = ("trivial_ge", np.nan, [1, 2], [[-1, -1]], [1], [[1, -1]], [0])
HAND = _case(FEASIBLE, TRIVIAL_EQ, COMBINATION, TRIVIAL_GE)


def _tall_case(size: int) -> T.LPCase:
    """``size`` tall LPs in two variables (rows ``x1 + k x2 >= 1``, k = 1..R, with R the fewest rows
    beyond the exact fallback), alternately feasible (min 2 x1 + x2 = 1 at (0, 1)) and infeasible
    (the extra row ``-x1 - x2 >= -1/2`` contradicts the first one only in combination)."""
    rows = next(r for r in range(2, 200) if T.exact_tableau_entries(2, r, 0) > EXACT_MAX_ENTRIES)
    A = np.array([[1.0, k] for k in range(1, rows)] + [[0.0, 0.0]])
    b = np.ones(rows)
    b[-1] = 0.0
    infeasible_A, infeasible_b = A.copy(), b.copy()
    infeasible_A[-1], infeasible_b[-1] = [-1.0, -1.0], -0.5
    lps = [("feasible", 1.0, [2, 1], A, b, np.zeros((0, 2)), np.zeros(0)) if i % 2 == 0 else
           ("combination", np.nan, [2, 1], infeasible_A, infeasible_b, np.zeros((0, 2)), np.zeros(0))
           for i in range(size)]
    return _case(*lps)


# --------------------------------------------------------------------------- hand-made instances

def test_the_theorems_are_registered():
    theorems = all_theorems()
    for tid in IDS:
        assert tid in theorems and theorems[tid].statement and theorems[tid].source


@pytest.mark.parametrize("checker", [T.check_highs_answers, T.check_cvxpy_answers, T.check_cvxpy_backend])
def test_the_checks_hold_on_hand_made_lps(checker):
    ev = checker(HAND)
    assert ev.passed, ev


def test_both_holds_on_a_hand_made_lp():
    for lp in (FEASIBLE, TRIVIAL_EQ, COMBINATION):
        assert T.check_both(_case(lp)).passed


@pytest.mark.parametrize("size", [2, FEASIBILITY_FIRST_MIN + 2])
@pytest.mark.parametrize("scale", [True, False])
def test_large_batch_holds_on_hand_made_tall_lps(size, scale):
    ev = T.check_large_batch((_tall_case(size), scale))
    assert ev.passed, ev


def test_highs_backend_holds_on_a_hand_made_phase_one_batch():
    ev = T.check_highs_backend((HAND, _case(*[FEASIBLE, COMBINATION, TRIVIAL_EQ] * 12)))
    assert ev.passed, ev


def test_the_hand_made_evidence_is_exact():
    """The KKT pair and the Farkas rays of the hand-made LPs, written down, pass with no slack."""
    c, A_ge, b_ge, A_eq, b_eq = (np.array(v, dtype=float) for v in FEASIBLE[2:])
    kkt = T.kkt_evidence(c, A_ge, b_ge, A_eq, b_eq, np.array([0.5, 0.5]), np.array([1.5]), np.array([-0.5]), "hand")
    assert all(e.passed and e.margin >= 0 for e in kkt)
    _, _, _, A_ge, b_ge, A_eq, b_eq = COMBINATION
    ray = T.farkas_evidence(np.array(A_ge, float), np.array(b_ge, float), np.array(A_eq, float), np.array(b_eq, float),
                            np.array([1.0]), np.array([-1.0]), "hand")
    assert all(e.passed for e in ray)


# --------------------------------------------------------------------------- the instances are what they claim

@settings(max_examples=30)
@given(T.lp_batches())
def test_planted_truth_is_confirmed_by_linprog(case):
    for b, kind in enumerate(case.kinds):
        status, value = T.linprog_answer(case.lp, b)
        assert status == ("optimal" if kind == T.FEASIBLE else "infeasible"), (case, b)
        if kind == T.FEASIBLE:
            assert abs(value - case.value[b]) <= 1e-7 * max(1.0, abs(value))


def test_every_kind_is_drawn_and_trivial_rows_are_trivial():
    seen = set()
    for seed in range(40):
        case = T.make_case(seed, T.KINDS, 3, 3, 2, grid=bool(seed % 2))
        seen.update(case.kinds)
        lp = case.lp
        eq = np.flatnonzero([k == T.TRIVIAL_EQ for k in case.kinds])[0]
        rows = lp.A_eq[eq]
        one_signed = ((rows <= 0).all(axis=1) & (lp.b_eq[eq] > 0)) | ((rows >= 0).all(axis=1) & (lp.b_eq[eq] < 0))
        assert one_signed.any()
        ge = np.flatnonzero([k == T.TRIVIAL_GE for k in case.kinds])[0]
        assert ((lp.A_ge[ge] <= 0).all(axis=1) & (lp.b_ge[ge] > 0)).any()
    assert seen == set(T.KINDS)


@settings(max_examples=10)
@given(T.large_lp_batches())
def test_large_instances_bypass_the_exact_fallback(case):
    assert T.exact_tableau_entries(case.lp.n_vars, case.lp.A_ge.shape[1], case.lp.A_eq.shape[1]) > EXACT_MAX_ENTRIES


def test_large_instances_take_the_phase_one_path():
    case = find(T.large_lp_batches(), lambda c: c.lp.size > FEASIBILITY_FIRST_MIN)
    assert case.lp.size > FEASIBILITY_FIRST_MIN


def test_a_failing_case_is_reported_by_the_call_that_rebuilds_it():
    case = T.make_case(7, (T.FEASIBLE, T.COMBINATION), 2, 3, 1, False)
    again = eval("T." + repr(case))  # noqa: S307 -- the repr is a make_case call
    np.testing.assert_array_equal(again.lp.A_ge, case.lp.A_ge)


# --------------------------------------------------------------------------- the checks can fail

def _corrupt(sol, **fields):
    return replace(sol, **{k: f(getattr(sol, k)) for k, f in fields.items()})


def test_a_dual_of_the_wrong_sign_is_caught(monkeypatch):
    monkeypatch.setattr(T, "solve_lp_batch", lambda lp, **kw: _corrupt(REAL_SOLVE(lp, **kw), y_ge=lambda y: -y))
    ev = T.check_highs_answers(_case(FEASIBLE))
    assert not ev.passed and "y_ge >= 0" in ev.detail
    report = run_theorem(all_theorems()["lp.highs_answers_certified"], count=10, seed=1)
    assert not report.passed


def test_a_farkas_ray_of_the_wrong_orientation_is_caught(monkeypatch):
    monkeypatch.setattr(T, "solve_lp_batch", lambda lp, **kw: _corrupt(REAL_SOLVE(lp, **kw), farkas_eq=lambda y: -y))
    ev = T.check_cvxpy_answers(_case(TRIVIAL_EQ))
    assert not ev.passed and "Farkas" in ev.detail


def test_an_answer_the_layer_could_not_settle_is_caught(monkeypatch):
    def unsettled(lp, **kw):
        sol = REAL_SOLVE(lp, **kw)
        return _corrupt(sol, status=lambda s: np.where(s == "optimal", "inaccurate", s))
    monkeypatch.setattr(T, "solve_lp_batch", unsettled)
    ev = T.check_large_batch((_tall_case(FEASIBILITY_FIRST_MIN + 2), True))
    assert not ev.passed and "verdict" in ev.detail


def test_a_certificate_on_an_optimal_verdict_is_caught(monkeypatch):
    def stray(lp, **kw):
        sol = REAL_SOLVE(lp, **kw)
        return _corrupt(sol, farkas_ge=np.zeros_like)
    monkeypatch.setattr(T, "solve_lp_batch", stray)
    ev = T.check_large_batch((_tall_case(2), False))
    assert not ev.passed and "attached to a 'optimal' verdict" in ev.detail


def test_a_false_disagreement_is_caught(monkeypatch):
    def quarrelsome(lp, backend="highs", **kw):
        sol = REAL_SOLVE(lp, backend=backend, **kw)
        return _corrupt(sol, status=lambda s: np.full_like(s, "disagreement")) if backend == "both" else sol
    monkeypatch.setattr(T, "solve_lp_batch", quarrelsome)
    ev = T.check_both(_case(FEASIBLE))
    assert not ev.passed and "separate solves" in ev.detail


def test_a_backend_ray_of_the_wrong_orientation_is_caught(monkeypatch):
    real = backend_highs.solve
    monkeypatch.setattr(backend_highs, "solve", lambda lp, **kw: _corrupt(real(lp, **kw), farkas_ge=lambda y: -y,
                                                                          farkas_eq=lambda y: -y))
    ev = T.check_highs_backend((_case(COMBINATION), _case(*[FEASIBLE, COMBINATION] * 17)))
    assert not ev.passed and "Farkas" in ev.detail


def test_a_backend_verdict_without_its_certificate_is_caught(monkeypatch):
    def no_certificate(y):
        return np.full_like(y, np.nan)
    real = backend_highs.solve
    monkeypatch.setattr(backend_highs, "solve", lambda lp, **kw: _corrupt(real(lp, **kw), farkas_ge=no_certificate,
                                                                          farkas_eq=no_certificate))
    ev = T.check_highs_backend((_case(TRIVIAL_GE), _case(*[FEASIBLE, TRIVIAL_GE] * 17)))
    assert not ev.passed and "without a finite Farkas certificate" in ev.detail


def test_a_backend_equality_dual_of_the_wrong_sign_is_caught(monkeypatch):
    real = backend_cvxpy.solve
    monkeypatch.setattr(backend_cvxpy, "solve", lambda lp: _corrupt(real(lp), y_eq=lambda y: -y))
    ev = T.check_cvxpy_backend(_case(FEASIBLE))
    assert not ev.passed and ("complementary" in ev.detail or "strong duality" in ev.detail
                              or "dual feasibility" in ev.detail)


def test_a_wrong_backend_verdict_is_caught(monkeypatch):
    real = backend_cvxpy.solve
    monkeypatch.setattr(backend_cvxpy, "solve",
                        lambda lp: _corrupt(real(lp), status=lambda s: np.full_like(s, "unbounded")))
    ev = T.check_cvxpy_backend(_case(FEASIBLE))
    assert not ev.passed and "verdict" in ev.detail
