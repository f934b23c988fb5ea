"""Degenerate and hostile contract problems (issue 4).

On the instances of :mod:`contractlab.proofs_checks.strategies_hostile` (duplicated actions,
exact convex combinations, probabilities of 0 and 1e-12, costs and rewards from 1e-9 to 1e9,
one action, one outcome, zero rewards, ties), ``min_pay_all``, ``optimal_contract``,
``best_linear_contract`` and ``is_implementable`` must either return a sound answer or raise
:class:`InvalidInstanceError`:

- never a NaN / inf in the contract or payment of an action reported implementable;
- contracts are >= 0 (limited liability) and incentive compatible, recomputed here from the
  data, within ``REL_TOL`` times the magnitude of the data and the contract;
- the HiGHS and cvxpy backends agree on implementability and payment, or a result's
  ``status`` says that something went wrong (anything but ``optimal`` / ``infeasible``);
- the same call twice gives bit-identical arrays;
- no exception of any other type, no numpy warning (RuntimeWarning is an error here).

Solver bugs found by this file are kept as regression tests with the exact instance (the last
section); each names what went wrong before the fix.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, example, given, settings

from contractlab import ContractProblem
from contractlab.proofs_checks.strategies_hostile import hostile_cases, problem_repr
from contractlab.solvers import best_linear_contract, is_implementable, min_pay_all, optimal_contract
from contractlab.theory.errors import InvalidInstanceError, SolverFailure

pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")

#: Relative tolerance for IC / payment checks, times ``_scale`` (the magnitude of data and contract).
REL_TOL = 1e-6
#: Statuses that are a clean verdict; any other status makes a disagreement "visible".
CLEAN = ("optimal", "infeasible")
BACKENDS = ("highs", "cvxpy")

HOSTILE = settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
#: For the cross-backend property: fixed draws (the same instances in every run, including the
#: shapes that once failed) and no shrinking (shrinking a failure through the cvxpy backend costs minutes).
PINNED = settings(HOSTILE, derandomize=True, database=None, phases=(Phase.explicit, Phase.generate))


def _scale(p: ContractProblem, t: np.ndarray | None = None) -> float:
    parts = [1.0, float(np.abs(p.costs).max()), float(np.abs(p.rewards).max())]
    if t is not None:
        parts.append(float(np.abs(t).max()))
    return max(parts)


def _or_invalid(fn, *args, **kwargs):
    """``fn(...)``, or ``None`` if it refused the instance with InvalidInstanceError, or failed
    with SolverFailure naming an LP whose answer could not be vouched for (both allowed: clear
    errors, not silent answers)."""
    try:
        return fn(*args, **kwargs)
    except (InvalidInstanceError, SolverFailure):
        return None


def _check_ic(p: ContractProblem, action: int, t: np.ndarray, what: str) -> None:
    assert t.shape == (p.n_outcomes,), what
    assert np.isfinite(t).all(), f"{what}: non-finite contract {t}"
    assert (t >= 0).all(), f"{what}: negative payment {t}"
    u = p.outcome_probs @ t - p.costs
    tol = REL_TOL * _scale(p, t)
    worst = float((u - u[action]).max())
    assert worst <= tol, f"{what}: action {action} is beaten by {worst:g} > {tol:g} under {t}"


def _check_min_pay_table(p: ContractProblem, table, backend: str) -> None:
    assert len(table) == p.n_actions
    for res in table:
        what = f"min_pay_all[{res.action}] ({backend}, status {res.status})"
        if res.implementable:
            assert res.status == "optimal", what
            assert res.contract is not None, what
            _check_ic(p, res.action, res.contract, what)
            assert math.isfinite(res.expected_payment), what
            pay = float(p.outcome_probs[res.action] @ res.contract)
            assert abs(res.expected_payment - pay) <= REL_TOL * _scale(p, res.contract), what
            assert res.ic_slacks is not None and np.isfinite(res.ic_slacks).all(), what
        else:
            assert res.contract is None and res.expected_payment == math.inf, what


def _check_witness(p: ContractProblem, imp, backend: str) -> None:
    what = f"is_implementable({imp.action}) ({backend}, status {imp.status})"
    if imp.implementable or imp.status != "optimal":
        return
    w = imp.witness
    assert w is not None and np.isfinite(w).all(), what
    assert (w >= 0).all() and abs(w.sum() - 1.0) <= 1e-9 and w[imp.action] == 0, f"{what}: witness {w}"
    assert np.abs(w @ p.outcome_probs - p.outcome_probs[imp.action]).max() <= REL_TOL, f"{what}: witness {w}"
    assert imp.witness_cost < p.costs[imp.action], what


# --------------------------------------------------------------------------------------------
# Soundness of every returned answer (these hold today)
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("backend", BACKENDS)
@HOSTILE
@given(case=hostile_cases())
def test_min_pay_all_is_sound(case, backend):
    label, p = case
    table = _or_invalid(min_pay_all, p, backend=backend)
    if table is not None:
        _check_min_pay_table(p, table, backend)


@pytest.mark.parametrize("backend", BACKENDS)
@HOSTILE
@given(case=hostile_cases())
def test_is_implementable_witness_is_sound(case, backend):
    label, p = case
    for i in range(p.n_actions):
        imp = _or_invalid(is_implementable, p, i, backend=backend)
        if imp is not None:
            assert imp.implementable in (True, False)
            _check_witness(p, imp, backend)


@pytest.mark.parametrize("backend", BACKENDS)
@HOSTILE
@given(case=hostile_cases())
def test_optimal_contract_is_sound(case, backend):
    label, p = case
    opt = _or_invalid(optimal_contract, p, backend=backend)
    if opt is None:
        return
    _check_min_pay_table(p, opt.table, backend)
    implementable = [r.action for r in opt.table if r.implementable]
    if not implementable:
        # Only a solver failure can leave no action (a cheapest action is always implementable):
        # then the statuses must say so.
        assert opt.action == -1
        assert any(r.status not in CLEAN for r in opt.table), [r.status for r in opt.table]
        return
    assert 0 <= opt.action < p.n_actions and opt.action in implementable
    _check_ic(p, opt.action, opt.contract, f"optimal_contract ({backend})")
    tol = REL_TOL * _scale(p, opt.contract)
    assert math.isfinite(opt.principal_utility)
    assert abs(opt.principal_utility - (p.expected_rewards[opt.action] - opt.expected_payment)) <= tol
    for i in implementable:
        assert opt.principal_utility >= opt.principal_utilities[i] - tol


@HOSTILE
@given(case=hostile_cases())
def test_best_linear_contract_is_sound(case):
    label, p = case
    lin = _or_invalid(best_linear_contract, p)
    if lin is None:
        assert (p.rewards < 0).any()
        return
    assert math.isfinite(lin.alpha) and 0.0 <= lin.alpha <= 1.0
    assert np.array_equal(lin.contract, lin.alpha * p.rewards)
    _check_ic(p, lin.action, lin.contract, f"best_linear_contract (alpha {lin.alpha!r})")
    tol = REL_TOL * _scale(p, lin.contract)
    assert abs(lin.principal_utility - (1 - lin.alpha) * p.expected_rewards[lin.action]) <= tol
    # alpha = 0: the agent takes a cheapest action, the best of those for the principal.
    cheapest = np.flatnonzero(p.costs == p.costs.min())
    assert lin.principal_utility >= p.expected_rewards[cheapest].max() - tol


@pytest.mark.parametrize("backend", BACKENDS)
@HOSTILE
@given(case=hostile_cases())
def test_same_instance_gives_bit_identical_results(case, backend):
    label, p = case

    def run():
        out = []
        table = _or_invalid(min_pay_all, p, backend=backend)
        for r in table or ():
            out += [r.status, r.implementable, np.float64(r.expected_payment).tobytes(),
                    None if r.contract is None else r.contract.tobytes()]
        opt = _or_invalid(optimal_contract, p, backend=backend)
        if opt is not None:
            out += [opt.action, opt.contract.tobytes(), opt.principal_utilities.tobytes()]
        for i in range(p.n_actions):
            imp = _or_invalid(is_implementable, p, i, backend=backend)
            if imp is not None:
                out += [imp.implementable, imp.status, np.float64(imp.cheapest_replica_cost).tobytes(),
                        None if imp.witness is None else imp.witness.tobytes()]
        lin = _or_invalid(best_linear_contract, p)
        if lin is not None:
            out += [lin.action, np.float64(lin.alpha).tobytes(), lin.contract.tobytes(),
                    lin.critical_values.tobytes()]
        return out

    assert run() == run(), problem_repr(p)


# Fixed corner cases, each checked for soundness with both backends.
CORNERS = {
    "single action, single outcome": ([[1.0]], [5.0], [3.0]),
    "single action": ([[0.25, 0.75]], [1e9], [1e-9, 1e9]),
    "single outcome": ([[1.0], [1.0], [1.0]], [0.0, 1.0, 1.0], [2.0]),
    "all rewards zero": ([[0.5, 0.5], [0.1, 0.9]], [0.0, 1.0], [0.0, 0.0]),
    "all equal": ([[0.5, 0.5]] * 3, [1.0] * 3, [1.0, 1.0]),
    "duplicate, equal cost": ([[0.2, 0.8], [0.2, 0.8], [0.9, 0.1]], [1.0, 1.0, 0.0], [0.0, 4.0]),
    "midpoint, equal cost": ([[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]], [0.0, 0.5, 1.0], [0.0, 4.0]),
    "midpoint, lower cost": ([[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]], [0.0, 0.4, 1.0], [0.0, 4.0]),
    "midpoint, higher cost": ([[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]], [0.0, 0.6, 1.0], [0.0, 4.0]),
    "zero-probability outcome": ([[1.0, 0.0], [0.0, 1.0]], [0.0, 1e9], [0.0, 1e9]),
    "1e-12 success probability": ([[1.0, 0.0], [1 - 1e-12, 1e-12]], [0.0, 1e-9], [0.0, 1.0]),
    "huge costs": ([[0.75, 0.25], [0.25, 0.75]], [1e9, 2e9], [0.0, 1e9]),
    "tiny costs": ([[0.75, 0.25], [0.25, 0.75]], [1e-9, 2e-9], [1e-9, 0.0]),
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", sorted(CORNERS))
def test_corner_cases_are_sound(name, backend):
    p = ContractProblem(*CORNERS[name])
    _check_min_pay_table(p, min_pay_all(p, backend=backend), backend)
    opt = optimal_contract(p, backend=backend)
    assert opt.action >= 0
    _check_ic(p, opt.action, opt.contract, name)
    for i in range(p.n_actions):
        _check_witness(p, is_implementable(p, i, backend=backend), backend)
    lin = best_linear_contract(p)
    _check_ic(p, lin.action, lin.contract, name)


def test_corner_case_verdicts():
    """The exact verdicts on the convex-combination corners (no tolerance involved)."""
    eq = ContractProblem(*CORNERS["midpoint, equal cost"])
    lower = ContractProblem(*CORNERS["midpoint, lower cost"])
    higher = ContractProblem(*CORNERS["midpoint, higher cost"])
    for backend in BACKENDS:
        assert is_implementable(eq, 1, backend=backend).implementable
        assert is_implementable(lower, 1, backend=backend).implementable
        imp = is_implementable(higher, 1, backend=backend)
        assert not imp.implementable
        np.testing.assert_allclose(imp.witness, [0.5, 0.0, 0.5], atol=1e-7)
        assert not min_pay_all(higher, backend=backend)[1].implementable
        dup = ContractProblem(*CORNERS["duplicate, equal cost"])
        assert [r.implementable for r in min_pay_all(dup, backend=backend)] == [True, True, True]


# --------------------------------------------------------------------------------------------
# Cross-checks between the backends (regressions of solver bugs found by the hostile draws)
# --------------------------------------------------------------------------------------------

def _agree_or_visible(p: ContractProblem) -> None:
    tables = {b: min_pay_all(p, backend=b) for b in BACKENDS}
    for a in range(p.n_actions):
        h, c = tables["highs"][a], tables["cvxpy"][a]
        if h.status not in CLEAN or c.status not in CLEAN:
            continue  # the disagreement (if any) is visible in the status
        assert h.implementable == c.implementable, (
            f"action {a}: highs says {h.status}, cvxpy says {c.status} on {problem_repr(p)}")
        if h.implementable:
            tol = REL_TOL * max(_scale(p, h.contract), _scale(p, c.contract))
            assert abs(h.expected_payment - c.expected_payment) <= tol, (
                f"action {a}: highs pays {h.expected_payment!r}, cvxpy {c.expected_payment!r} on {problem_repr(p)}")


def test_backends_agree_or_status_says_so():
    # The draws are collected rather than asserted inside hypothesis, so that every disagreement
    # among the pinned draws is reported at once and hypothesis writes no patch file for them.
    found: list[str] = []

    @PINNED
    @given(case=hostile_cases())
    # Disagreements found by earlier (300-example) runs; the 30 pinned draws may or may not hit one.
    @example(case=("shrunk: cvxpy says infeasible", ContractProblem(
        [[0.0, 0.0, 8 / 9, 1 / 9], [0.0, 0.0, 0.8, 0.2]], [0.0, 1e9], [0.0] * 4)))
    @example(case=("duplicate(of 0), column 0 tiny", ContractProblem(
        [[9.999999999990001e-13, 0.4999999999995, 0.4999999999995],
         [1.4999999999977502e-12, 0.49999999999925004, 0.49999999999925004],
         [9.999999999990001e-13, 0.4999999999995, 0.4999999999995]], [0.002, 0.003, 0.002], [2.0, 0.0, 1.0])))
    def collect(case):
        try:
            _agree_or_visible(case[1])
        except AssertionError as exc:
            found.append(f"[{case[0]}] {exc}")

    collect()
    assert not found, f"{len(found)} disagreements, first: {found[0]}"


# Minimal reproducers of bugs the hostile draws found (fixed by equilibrating every LP in powers
# of two, verifying every reported optimum on the equilibrated data, polishing Clarabel's
# interior point to a vertex, and measuring implementability relative to cost differences).
# Each test names what went wrong before the fix.

def test_highs_is_implementable_duplicate_with_1e9_entries():
    p = ContractProblem([[1e-9, 1 - 1e-9], [1e-9, 1 - 1e-9]], [1.0, 0.0], [0.0, 1.0])
    imp = is_implementable(p, 0, backend="highs")
    assert imp.status == "optimal"
    assert not imp.implementable


def test_min_pay_non_implementable_has_witness_at_1e9_costs():
    p = ContractProblem([[0.25, 0.75], [0.25, 0.75]], [1e9, 1e9 - 0.5], [0.0, 1.0])
    res = min_pay_all(p)[0]
    imp = is_implementable(p, 0)
    assert res.implementable == imp.implementable
    assert res.implementable or res.witness is not None


def test_highs_min_pay_tiny_probability_difference():
    p = ContractProblem([[1e-12, 0.5 - 5e-13, 0.5 - 5e-13], [1.5e-12, 0.5 - 7.5e-13, 0.5 - 7.5e-13]],
                        [0.002, 0.003], [0.0, 0.0, 0.0])
    res = min_pay_all(p, backend="highs")[1]
    assert res.implementable and res.status == "optimal"
    assert res.expected_payment == pytest.approx(0.003, rel=1e-3)


def test_cvxpy_min_pay_tiny_probability_difference():
    p = ContractProblem([[1e-12, 0.5 - 5e-13, 0.5 - 5e-13], [1.5e-12, 0.5 - 7.5e-13, 0.5 - 7.5e-13]],
                        [0.002, 0.003], [0.0, 0.0, 0.0])
    res = min_pay_all(p, backend="cvxpy")[1]
    assert res.status == "optimal" and res.expected_payment == pytest.approx(0.003, rel=1e-9)


def test_cvxpy_min_pay_suboptimal_at_1e9_costs():
    F = [[0.09512467442984159, 0.2525571391856352, 0.31991491616641654, 0.3324032702181067],
         [0.6055973496580423, 0.0, 0.09776515366012697, 0.29663749668183065],
         [0.6055973496580423, 0.0, 0.09776515366012697, 0.29663749668183065]]
    p = ContractProblem(F, [3e9, 2e6, 2e6], [1.5, 0.5, 1.5, 1.0])
    assert min_pay_all(p, backend="highs")[0].expected_payment == pytest.approx(2.998e9, rel=1e-9)
    res = min_pay_all(p, backend="cvxpy")[0]
    assert res.status == "optimal" and res.expected_payment == pytest.approx(2.998e9, rel=1e-9)


def test_cvxpy_min_pay_false_infeasible_at_1e9_cost():
    p = ContractProblem([[0.0, 0.0, 8 / 9, 1 / 9], [0.0, 0.0, 0.8, 0.2]], [0.0, 1e9], [0.0, 0.0, 0.0, 0.0])
    assert min_pay_all(p, backend="highs")[1].expected_payment == pytest.approx(2.25e9, rel=1e-9)
    res = min_pay_all(p, backend="cvxpy")[1]
    assert res.status == "optimal" and res.expected_payment == pytest.approx(2.25e9, rel=1e-9)


def test_cvxpy_polish_on_a_subnormal_probability():
    # The walk to the vertex in backend_cvxpy._polish divided by a step direction of order
    # 5e-324: "overflow encountered in scalar divide" (an error here) instead of dropping that guess.
    p = ContractProblem([[1.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 5e-324, 0.0, 1.0]],
                        [0.0, 0.5, 0.5], [0.0] * 5)
    table = min_pay_all(p, backend="cvxpy")
    assert [r.status for r in table] == ["optimal"] * 3
    assert [r.expected_payment for r in table] == pytest.approx([0.0, 0.5, 0.5], abs=1e-9)
