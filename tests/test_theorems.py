"""Every registered theorem holds on drawn instances, and the checks are able to fail."""

import math

import numpy as np
import pytest
from hypothesis import given

from contractlab.proofs_checks import theorems_contracts
from contractlab.proofs_checks.registry import Evidence, all_theorems
from contractlab.proofs_checks.runner import run_theorem, select
from contractlab.solvers.min_pay import min_pay_all as real_min_pay_all
from contractlab.theory.contract_problem import ContractProblem

THEOREMS = all_theorems()


def test_registry_covers_the_required_claims():
    required = {"minpay.strong_duality", "minpay.ic_and_limited_liability", "implementability.characterisation",
                "minpay.basic_support", "minpay.cost_lower_bound", "contracts.lin_opt_fb", "linear.n_approximation",
                "linear.n_approximation_tight", "linear.optimal_two_outcomes", "garbling.monotone",
                "minpay.cost_scaling", "contracts.relabelling_invariance", "mlrp.top_outcome",
                "linear.monotone_reward", "backends.agree", "stackelberg.beats_pure_nash"}
    assert required <= set(THEOREMS)
    assert any(t.startswith("closed_forms.") for t in THEOREMS)
    for t in THEOREMS.values():
        assert t.statement and t.source, t.id


@pytest.mark.parametrize("theorem_id", list(THEOREMS))
def test_theorem_holds_on_drawn_instances(theorem_id):
    theorem = THEOREMS[theorem_id]
    seen = []

    @given(theorem.strategy())
    def check(instance):
        evidence = theorem.checker(instance)
        seen.append(evidence)
        assert evidence.passed, evidence

    check()
    # the premise must hold on most draws, otherwise the theorem is checked on nothing
    real = [e for e in seen if e.margin != math.inf]
    assert len(real) >= 0.5 * len(seen), f"{theorem_id}: premise held on {len(real)} of {len(seen)} draws"


def test_evidence_constructors_fail_when_violated():
    assert not Evidence.at_most(1.1, 1.0, 1e-3).passed
    assert Evidence.at_most(1.0005, 1.0, 1e-3).passed
    assert not Evidence.at_least(0.9, 1.0).passed
    assert not Evidence.equal(float("nan"), 1.0).passed
    assert Evidence.combine([Evidence.at_most(0, 1), Evidence.at_most(2, 1)]).margin == -1


def test_a_wrong_solver_is_caught(monkeypatch):
    """Inflate every MIN-PAY answer by 1%: the strong-duality check must notice."""
    real = real_min_pay_all

    def inflated(problem, **kw):
        from dataclasses import replace
        return tuple(replace(r, expected_payment=r.expected_payment * 1.01 + 0.01) if r.implementable else r
                     for r in real(problem, **kw))

    monkeypatch.setattr(theorems_contracts, "min_pay_all", inflated)
    p = ContractProblem([[0.75, 0.25], [0.25, 0.75]], [0.0, 1.0], [0.0, 4.0])
    assert not theorems_contracts.check_strong_duality(p).passed
    report = run_theorem(THEOREMS["minpay.strong_duality"], count=5, seed=1)
    # the exact certificate of the inflated answer refutes it before the float checks are compared
    assert not report.passed and "refuted by its exact certificate" in report.failure


def test_runner_is_reproducible_and_counts_instances():
    th = THEOREMS["minpay.cost_lower_bound"]
    a = run_theorem(th, count=12, seed=7)
    b = run_theorem(th, count=12, seed=7)
    assert a.passed and a.instances == 12
    assert a.worst_margin == b.worst_margin and a.worst_detail == b.worst_detail


def test_select_by_prefix_and_unknown_id():
    assert {t.id for t in select(["linear."])} >= {"linear.n_approximation", "linear.monotone_reward"}
    with pytest.raises(KeyError):
        select(["no.such.theorem"])


def test_tight_family_ratio_approaches_n():
    from contractlab.solvers import best_linear_contract, optimal_contract
    from contractlab.theory.families import linear_gap_family
    ratios = []
    for eps in (0.3, 0.1, 0.03, 0.01):
        p = linear_gap_family(5, eps)
        ratios.append(optimal_contract(p).principal_utility / best_linear_contract(p).principal_utility)
    assert np.all(np.diff(ratios) > 0) and 4.95 < ratios[-1] <= 5.0


def test_docs_list_every_registered_theorem():
    from pathlib import Path

    from contractlab.proofs_checks.registry import theorems_markdown
    doc = (Path(__file__).resolve().parent.parent / "docs" / "theorems.md").read_text()
    assert doc == theorems_markdown(THEOREMS), "regenerate: contractlab theorems --markdown > docs/theorems.md"


def test_verify_counts_exactly_certified_lp_answers():
    report = run_theorem(THEOREMS["minpay.strong_duality"], count=10, seed=3)
    assert report.passed and report.lp_answers >= 10
    # grid-drawn instances have exactly representable data: nearly every answer is certified exactly
    assert 0.8 * report.lp_answers <= report.certified <= report.lp_answers
    assert report.to_json()["certified"] == report.certified
