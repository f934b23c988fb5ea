"""The MIN-PAY theorems of contractlab.proofs_checks.theorems_minpay: each holds on a hand-made
instance, and each fails when the solver it checks returns a corrupted answer."""

from dataclasses import replace
from fractions import Fraction as Fr

import numpy as np
import pytest

from contractlab.proofs_checks import theorems_minpay as tm
from contractlab.proofs_checks.registry import all_theorems
from contractlab.proofs_checks.runner import run_theorem
from contractlab.solvers import min_pay_vertex as mpv
from contractlab.theory.contract_problem import ContractProblem

IDS = ("minpay.options_exact", "minpay.evidence_recomputed", "minpay_vertex.exact_optimum",
       "minpay_vertex.evidence_recomputed", "minpay_vertex.two_action_closed_form", "minpay_vertex.tie_rule")


def exact(F, c) -> ContractProblem:
    return ContractProblem.from_exact(F, c, [0] * len(F[0]))


# two actions: IC of action 1 with margin 1/8 needs t_1/2 - t_0/2 >= 1/2 + 1/8, so t = (0, 5/4) and
# MINPAY = 3/4 * 5/4 = 15/16; the agent then gets 15/16 - 1/2 = 7/16 >= U_0 = 1/4
TWO = exact([[Fr(3, 4), Fr(1, 4)], [Fr(1, 4), Fr(3, 4)]], [0, Fr(1, 2)])
OPTIONS = tm.OptionsInstance(TWO, Fr(1, 8), Fr(1, 4), "highs", (1, 0, 1))

# outcomes 1 and 2 are identical; the vertex method pays on outcome 1 only
TIES = exact([[Fr(3, 5), Fr(1, 5), Fr(1, 5)], [Fr(1, 5), Fr(2, 5), Fr(2, 5)], [Fr(2, 5), Fr(3, 10), Fr(3, 10)]],
             [0, Fr(1, 2), Fr(1, 5)])

# likelihood ratios F_1/F_0 of 2/5 : 1/2, 3/10 : 2/5, 1/2 : 1/10 -> outcome 2, t_2 = 1 / (1/2 - 1/10) = 5/2
RATIOS = exact([[Fr(1, 2), Fr(2, 5), Fr(1, 10)], [Fr(1, 5), Fr(3, 10), Fr(1, 2)]], [0, 1])


def batch() -> tm.BatchInstance:
    return tm.BatchInstance((TIES, exact(TIES.exact[0], [Fr(1, 4), 0, Fr(1, 2)])), ((1, 2), (0, 1), (1, 0), (0, 1)))


def test_registered_with_statement_and_source():
    theorems = all_theorems()
    for tid in IDS:
        assert theorems[tid].statement and theorems[tid].source


def test_exact_reference_by_hand():
    F, c = tm._exact_data(TWO)
    assert tm.exact_min_pay(F, c, 1, Fr(1, 8), Fr(1, 4)).value == Fr(15, 16)
    assert tm.exact_min_pay(F, c, 1).value == Fr(3, 4)                      # no margin: t = (0, 1)
    # U_0 = 1 binds: the cheapest contract paying 3/2 on average keeps IC (t = (0, 2))
    assert tm.exact_min_pay(F, c, 1, participation=Fr(1)).value == Fr(3, 2)
    assert tm.exact_min_pay(F, c, 0).optimal == ((0, 0),)
    # a duplicate action of the same cost cannot be beaten by a margin
    G = [[Fr(1, 2), Fr(1, 2)], [Fr(1, 2), Fr(1, 2)]]
    assert not tm.exact_min_pay(G, [0, 0], 0, Fr(1, 8)).feasible
    assert tm.exact_min_pay(G, [0, 0], 0).value == 0
    # the action never produces outcome 2: paying 2 there costs nothing, as does the zero contract
    H = [[Fr(1, 2), Fr(1, 2), 0], [Fr(1, 4), Fr(1, 4), Fr(1, 2)]]
    ref = tm.exact_min_pay(H, [0, 1], 0)
    assert ref.value == 0 and set(ref.optimal) == {(0, 0, 0), (0, 0, 2)} and ref.min_support == 0


def test_bareiss_determinant():
    assert tm._det([[2, 0, 1], [1, 3, 2], [1, 1, 1]]) == round(np.linalg.det([[2, 0, 1], [1, 3, 2], [1, 1, 1]]))
    assert tm._det([[0, 1], [1, 0]]) == -1 and tm._det([[1, 2], [2, 4]]) == 0 and tm._det([]) == 1


def test_two_action_closed_form_by_hand():
    F, c = tm._exact_data(RATIOS)
    assert tm.two_action_closed_form(F, c, 1) == (Fr(5, 4), (2,), 1)
    assert tm.two_action_closed_form(F, c, 0) == (0, (), -1)


@pytest.mark.parametrize("check, instance", [
    (tm.check_options_exact, OPTIONS), (tm.check_evidence_recomputed, OPTIONS),
    (tm.check_options_exact, replace(OPTIONS, backend="cvxpy", participation=Fr(-1), ic_margin=Fr(0))),
    (tm.check_evidence_recomputed, replace(OPTIONS, participation=None)),
    (tm.check_vertex_exact_optimum, batch()), (tm.check_vertex_evidence, batch()),
    (tm.check_vertex_exact_optimum, tm.BatchInstance((RATIOS,), ((0, 1), (0, 0)))),
    (tm.check_two_action_closed_form, RATIOS), (tm.check_tie_rule, tm.BatchInstance((TIES,), ((0, 2), (0, 0), (0, 1)))),
    (tm.check_tie_rule, tm.BatchInstance((RATIOS, RATIOS), ((1, 1), (0, 0), (0, 1), (1, 0))))])
def test_holds_on_hand_made_instances(check, instance):
    ev = check(instance)
    assert ev.passed and ev.margin != float("inf"), ev


def test_vertex_answer_on_the_tie_instance_is_the_documented_one():
    res = mpv.min_pay_all_actions(TIES.outcome_probs[None], TIES.costs[None], method="vertex")
    assert res.contract[0, 1, 2] == 0 and res.contract[0, 1, 1] > 0


# ---- each check fails on a corrupted answer

def test_options_exact_catches_a_dropped_margin(monkeypatch):
    real = tm.min_pay_all
    monkeypatch.setattr(tm, "min_pay_all", lambda p, **kw: real(p, **{**kw, "ic_margin": 0.0}))
    assert not tm.check_options_exact(OPTIONS).passed          # too cheap and not IC with margin 1/8


def test_options_exact_catches_a_dropped_participation(monkeypatch):
    real = tm.min_pay
    monkeypatch.setattr(tm, "min_pay", lambda p, a, **kw: real(p, a, **{**kw, "participation": None}))
    assert not tm.check_options_exact(replace(OPTIONS, participation=Fr(1))).passed   # U_0 = 1 not met


def test_options_exact_catches_an_overpaying_contract(monkeypatch):
    real = tm.min_pay_all

    def overpaid(p, **kw):
        return tuple(replace(r, contract=r.contract * 1.01 + 0.01) if r.implementable else r for r in real(p, **kw))

    monkeypatch.setattr(tm, "min_pay_all", overpaid)
    ev = tm.check_options_exact(OPTIONS)
    assert not ev.passed and "exact MIN-PAY" in ev.detail


@pytest.mark.parametrize("field, corrupt", [
    ("ic_slacks", lambda r: -r.ic_slacks), ("agent_utility", lambda r: r.agent_utility + r.ic_margin),
    ("ic_duals", lambda r: r.ic_duals * 2), ("dual_value", lambda r: r.dual_value + 0.1),
    ("participation", lambda r: None)])
def test_evidence_recomputed_catches_a_wrong_field(monkeypatch, field, corrupt):
    real = tm.min_pay_all

    def corrupted(p, **kw):
        return tuple(replace(r, **{field: corrupt(r)}) if r.implementable else r for r in real(p, **kw))

    monkeypatch.setattr(tm, "min_pay_all", corrupted)
    assert not tm.check_evidence_recomputed(OPTIONS).passed


def _patch_arrays(monkeypatch, name, change):
    """Replace ``tm.<name>`` by the real function followed by ``change`` on its MinPayArrays."""
    real = getattr(tm, name)
    monkeypatch.setattr(tm, name, lambda *a, **kw: change(real(*a, **kw)))


def test_vertex_exact_optimum_catches_an_overpaying_contract(monkeypatch):
    _patch_arrays(monkeypatch, "solve_min_pay_vertex",
                  lambda r: replace(r, contract=r.contract * 1.5 + 0.5, expected_payment=r.expected_payment * 2))
    ev = tm.check_vertex_exact_optimum(batch())
    assert not ev.passed and "solve_min_pay_vertex" in ev.detail


def test_vertex_exact_optimum_catches_wrong_implementability(monkeypatch):
    _patch_arrays(monkeypatch, "min_pay_batch", lambda r: replace(r, implementable=np.zeros_like(r.implementable)))
    ev = tm.check_vertex_exact_optimum(batch())
    assert not ev.passed and "implementable=False" in ev.detail


def test_vertex_evidence_catches_wrong_slacks_and_status(monkeypatch):
    _patch_arrays(monkeypatch, "min_pay_all_actions", lambda r: replace(r, ic_slacks=-r.ic_slacks))
    assert "ic_slacks" in tm.check_vertex_evidence(batch()).detail
    monkeypatch.undo()
    _patch_arrays(monkeypatch, "solve_min_pay_lp", lambda r: replace(r, status_code=np.ones_like(r.status_code)))
    assert not tm.check_vertex_evidence(batch()).passed


def test_two_action_closed_form_catches_the_wrong_outcome(monkeypatch):
    def elsewhere(F, c):
        t, pay, ok = mpv.two_action_min_pay(F, c)
        return t[:, :, ::-1].copy(), pay, ok          # same amount, paid on the lowest likelihood ratio

    monkeypatch.setattr(tm, "two_action_min_pay", elsewhere)
    ev = tm.check_two_action_closed_form(RATIOS)
    assert not ev.passed and "two_action_min_pay" in ev.detail


def test_two_action_closed_form_catches_a_missing_nan_mark(monkeypatch):
    # duplicated action that costs more: action 1 is not implementable
    twin = exact([[Fr(1, 2), Fr(1, 4), Fr(1, 4)], [Fr(1, 2), Fr(1, 4), Fr(1, 4)]], [0, Fr(1, 4)])
    assert tm.check_two_action_closed_form(twin).passed

    def unmarked(F, c):
        t, pay, ok = mpv.two_action_min_pay(F, c)
        return np.nan_to_num(t), np.where(ok, pay, 0.0), ok

    monkeypatch.setattr(tm, "two_action_min_pay", unmarked)
    ev = tm.check_two_action_closed_form(twin)
    assert not ev.passed and "not implementable" in ev.detail


def test_tie_rule_catches_a_later_duplicate_and_a_denser_vertex(monkeypatch):
    # pay on the later copy of the identical outcomes 1 and 2 (same payment)
    _patch_arrays(monkeypatch, "min_pay_all_actions", lambda r: replace(r, contract=r.contract[:, :, [0, 2, 1]]))
    ev = tm.check_tie_rule(tm.BatchInstance((TIES,), ((0, 0), (0, 1), (0, 2))))
    assert not ev.passed and "documented tie rule" in ev.detail
    monkeypatch.undo()
    # action 0 never produces outcome 2: t = (0, 0, 2) is optimal too (payment 0) but not the sparsest
    H = exact([[Fr(1, 2), Fr(1, 2), 0], [Fr(1, 4), Fr(1, 4), Fr(1, 2)]], [0, 1])

    def denser(r):
        t = r.contract.copy()
        t[0, 0] = [0.0, 0.0, 2.0]
        return replace(r, contract=t)

    _patch_arrays(monkeypatch, "min_pay_all_actions", denser)
    ev = tm.check_tie_rule(tm.BatchInstance((H,), ((0, 0), (0, 1))))
    assert not ev.passed and "sparsest" in ev.detail


def test_a_wrong_vertex_solver_fails_the_registered_run(monkeypatch):
    _patch_arrays(monkeypatch, "solve_min_pay_vertex", lambda r: replace(r, contract=r.contract * 1.5 + 0.5))
    report = run_theorem(all_theorems()["minpay_vertex.exact_optimum"], count=5, seed=1)
    assert not report.passed


def test_spread_problems_need_large_bases():
    from hypothesis import given, settings

    seen = set()

    @settings(max_examples=30, database=None, deadline=None)
    @given(tm.spread_problems(5, 5))
    def draw(p):
        F, c = tm._exact_data(p)
        seen.update(r.min_support for r in (tm.exact_min_pay(F, c, i) for i in range(5)) if r.feasible)

    draw()
    assert 4 in seen


def test_documented_lowest_index_rule_on_an_exact_tie():
    # likelihood ratios 1/4 : 1/5 and 3/4 : 3/5 are both 5/4: paying 15/2 on outcome 0 or 5/2 on
    # outcome 1 costs exactly 15/8; the documentation promises outcome 0
    F = np.array([[[1 / 4, 3 / 4, 0.0], [1 / 5, 3 / 5, 1 / 5]]])
    res = mpv.min_pay_all_actions(F, np.array([[3 / 8, 0.0]]), method="vertex")
    assert res.contract[0, 0, 0] > 0
