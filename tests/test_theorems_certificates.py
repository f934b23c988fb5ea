"""The theorems of contractlab.proofs_checks.theorems_certificates: each holds on hand-made instances with
known exact answers, and each check fails when the solver or certifier it relies on is replaced by a
wrong one (monkeypatched into the theorem module)."""

from dataclasses import replace
from fractions import Fraction

import numpy as np
import pytest

from contractlab import ContractProblem
from contractlab.proofs_checks import theorems_certificates as tc
from contractlab.solvers.certify import CERTIFIED, NUMERICALLY_VERIFIED, REFUTED, certify
from contractlab.solvers.exact_lp import ExactLP, exact_lp
from contractlab.solvers.min_pay import min_pay_all

EMPTY = np.zeros((0, 2))


@pytest.fixture
def effort():
    """F = [[3/4, 1/4], [1/4, 3/4]], c = [0, 1]: MINPAY(1) = 3/2 with t = (0, 2), multiplier 3/2."""
    return ContractProblem.from_exact([["3/4", "1/4"], ["1/4", "3/4"]], [0, 1], [0, 4])


@pytest.fixture
def tie():
    """Action 2 = (1/2, 1/2) is the even mix of actions 0 and 1 at exactly their mixed cost 1/2: it is
    implementable (t = (0, 1) leaves the agent indifferent between all three), an exact tie."""
    return ContractProblem.from_exact([[1, 0], [0, 1], ["1/2", "1/2"]], [0, 1, "1/2"], [0, 2])


@pytest.fixture
def dominated():
    """Action 2 = (1/2, 1/2) is the even mix of actions 0 and 1 at cost 1/2 > 1/10: not implementable."""
    return ContractProblem.from_exact([[1, 0], [0, 1], ["1/2", "1/2"]], [0, "1/5", "1/2"], [0, 1])


def _never_refutes(res, problem):
    """A certifier that never refutes: what the soundness theorems must catch."""
    cert = certify(res, problem)
    return replace(cert, verdict=NUMERICALLY_VERIFIED) if cert.verdict == REFUTED else cert


# ----------------------------------------------------------------------------- independent exact helpers

def test_brute_force_lp_hand_examples():
    # min x + y s.t. x + 2y >= 2, 3x + y >= 3: the vertex (4/5, 3/5), value 7/5
    assert tc.brute_force_lp([1, 1], [[1, 2], [3, 1]], [2, 3], [], []) == ("optimal", Fraction(7, 5))
    assert tc.brute_force_lp([1], [[1], [-1]], [1, 0], [], []) == ("infeasible", None)      # x >= 1, x <= 0
    assert tc.brute_force_lp([-1, 0], [[1, -1]], [0], [], []) == ("unbounded", None)       # x >= y, min −x
    assert tc.brute_force_lp([1, 2], [], [], [[1, 1]], [1]) == ("optimal", 1)               # x + y = 1
    assert tc.exact_min_pay(ContractProblem.from_exact([["3/4", "1/4"], ["1/4", "3/4"]], [0, 1], [0, 4]), 1) \
        == Fraction(3, 2)


# ----------------------------------------------------------------------------- certify.certified_evidence_is_valid

def test_certified_evidence_holds_on_hand_instances(effort, dominated):
    for p in (effort, dominated):
        for options in ((None, 0.0), (0.25, 0.0), (None, 0.5)):
            assert tc.check_certified_evidence((p, options)).passed


def test_forged_duality_evidence_is_caught(effort, monkeypatch):
    def forged(res, problem):                           # right verdict, multipliers doubled
        cert = certify(res, problem)
        return replace(cert, exact_dual=tuple(2 * y for y in cert.exact_dual)) if res.implementable else cert

    monkeypatch.setattr(tc, "certify", forged)
    ev = tc.check_certified_evidence((effort, (None, 0.0)))
    assert not ev.passed and "Σ y_r a_r <= F_i" in ev.detail


def test_forged_farkas_witness_is_caught(tie, monkeypatch):
    # a certifier that 'proves' action 2 of the tie instance infeasible with λ·c = c_i (not <)
    def forged(res, problem):
        if not res.implementable:
            return replace(certify(res, problem), verdict=CERTIFIED,
                           exact_point=(Fraction(1, 2), Fraction(1, 2), Fraction(0)))
        return certify(res, problem)

    monkeypatch.setattr(tc, "min_pay_all", lambda p, **kw: tuple(
        replace(r, implementable=False, contract=None) if r.action == 2 else r for r in min_pay_all(p, **kw)))
    monkeypatch.setattr(tc, "certify", forged)
    ev = tc.check_certified_evidence((tie, (None, 0.0)))
    assert not ev.passed and "λ·c < c_i + ε" in ev.detail


# ----------------------------------------------------------------------------- certify.refutes_corrupted_answers

@pytest.mark.parametrize("size", [tc.LARGE, tc.TINY])
def test_corrupted_answers_refuted_on_hand_instance(effort, size):
    ev = tc.check_refutes_corrupted((effort, 1, (None, 0.0), size))
    assert ev.passed and ev.margin != float("inf")


def test_corruption_rules_are_wrong_by_more_than_the_tolerance(effort):
    res = min_pay_all(effort)[1]
    optimum = tc.exact_min_pay(effort, 1)
    assert tc._discrepancy(res, effort, optimum) < 1e-12          # the true answer
    for name, bad in tc._min_pay_corruptions(res, effort, min_pay_all(effort), tc.LARGE):
        assert tc._discrepancy(bad, effort, optimum) > tc.GROSS, name
        assert certify(bad, effort).verdict == REFUTED, name


def test_a_certifier_that_never_refutes_is_caught(effort, monkeypatch):
    monkeypatch.setattr(tc, "certify", _never_refutes)
    ev = tc.check_refutes_corrupted((effort, 1, (None, 0.0), tc.LARGE))
    assert not ev.passed and "wrong beyond 1000·TOL" in ev.detail


# ----------------------------------------------------------------------------- certify.no_false_infeasibility

def test_false_infeasibility_claims_on_an_exact_tie(tie, dominated):
    assert tc.exact_min_pay(tie, 2) == 1 / Fraction(2)           # t = (0, 1) pays 1/2
    ev = tc.check_no_false_infeasibility(tie)
    assert ev.passed and ev.margin != float("inf")
    assert tc.check_no_false_infeasibility(dominated).passed


def test_a_weak_farkas_cost_check_is_caught(tie, monkeypatch):
    # a certifier that accepts λ·c <= c_i: it certifies the tie's false infeasibility claim
    def weak(res, problem):
        if not res.implementable and res.action == 2:
            return replace(certify(res, problem), verdict=CERTIFIED,
                           exact_point=(Fraction(1, 2), Fraction(1, 2), Fraction(0)))
        return certify(res, problem)

    monkeypatch.setattr(tc, "certify", weak)
    ev = tc.check_no_false_infeasibility(tie)
    assert not ev.passed and "action 2" in ev.detail


def test_a_certifier_that_never_refutes_false_claims_is_caught(dominated, monkeypatch):
    # action 2 of `dominated` is not implementable: action 0's contract (pays nothing) claimed for it
    monkeypatch.setattr(tc, "certify", _never_refutes)
    ev = tc.check_no_false_infeasibility(dominated)
    assert not ev.passed and "wrong beyond 1000·TOL" in ev.detail


# ----------------------------------------------------------------------------- certify.complete_on_rational_instances

def test_complete_on_hand_instances(effort, tie, dominated):
    for p in (effort, tie, dominated):
        for options in ((None, 0.0), (0.25, 0.0), (None, 0.5)):
            ev = tc.check_complete((p, options))
            assert ev.passed, ev


def test_an_incomplete_certifier_is_caught(effort, monkeypatch):
    monkeypatch.setattr(tc, "certify", lambda res, p: replace(certify(res, p), verdict=NUMERICALLY_VERIFIED))
    assert not tc.check_complete((effort, (0.25, 0.0))).passed


def test_a_wrong_exact_solver_is_caught(effort, monkeypatch):
    real = tc.optimal_contract_exact
    monkeypatch.setattr(tc, "optimal_contract_exact",
                        lambda p: replace(real(p), agent_utility=real(p).expected_payment + 1))
    ev = tc.check_complete((effort, (None, 0.0)))
    assert not ev.passed and "agent utility" in ev.detail


# ----------------------------------------------------------------------------- exact_lp.agrees_with_vertex_enumeration

LPS = {
    "optimal": (np.array([1.0, 1.0]), np.array([[1.0, 2.0], [3.0, 1.0]]), np.array([2.0, 3.0]), EMPTY, np.zeros(0)),
    "infeasible": (np.array([1.0, 0.0]), np.array([[1.0, 0.0], [-1.0, 0.0]]), np.array([1.0, 0.0]), EMPTY,
                   np.zeros(0)),
    "unbounded": (np.array([-1.0, 0.0]), np.array([[1.0, -1.0]]), np.array([0.0]), EMPTY, np.zeros(0)),
    "equality": (np.array([1.0, 2.0]), np.zeros((0, 2)), np.zeros(0), np.array([[1.0, 1.0]]), np.array([1.0])),
}


@pytest.mark.parametrize("status", list(LPS))
def test_exact_lp_hand_examples(status):
    lp = LPS[status]
    assert exact_lp(*lp).status == ("optimal" if status == "equality" else status)
    assert tc.check_exact_lp(lp).passed


def test_a_wrong_exact_lp_is_caught(monkeypatch):
    lp = LPS["optimal"]
    right = exact_lp(*lp)
    assert right.x == (Fraction(4, 5), Fraction(3, 5))
    monkeypatch.setattr(tc, "exact_lp", lambda *a: None)            # gives up on a solvable LP
    assert not tc.check_exact_lp(lp).passed
    monkeypatch.setattr(tc, "exact_lp", lambda *a: replace(right, x=(Fraction(2), Fraction(0))))  # a worse vertex
    ev = tc.check_exact_lp(lp)
    assert not ev.passed and "c·x = b·y" in ev.detail
    fake = ExactLP("infeasible", farkas_ge=(Fraction(1), Fraction(0)))
    monkeypatch.setattr(tc, "exact_lp", lambda *a: fake)              # a false infeasibility claim
    assert not tc.check_exact_lp(lp).passed
