"""MIN-PAY by vertex enumeration agrees with the batched HiGHS LP, including degenerate problems."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contractlab import InvalidInstanceError
from contractlab.solvers.min_pay import solve_min_pay_arrays
from contractlab.solvers.min_pay_vertex import (MAX_VERTEX_CANDIDATES, PROB_DIFF_TOL, choose_method, min_pay_all_actions,
                                                min_pay_batch, n_candidates, solve_min_pay_lp,
                                                solve_min_pay_vertex)

REL = 1e-9        # agreement of optimal payments, relative to max(1, |v|)
FEAS = 1e-9       # IC / limited-liability violation allowed in a returned contract, relative to max(1, Σ|t|)


def draw_problems(seed: int, P: int, n: int, m: int, zeros: bool, duplicate: str, tie_outcomes: bool):
    """``P`` random problems with optional degeneracies: zero probabilities, a duplicated action
    (same cost, higher cost or lower cost), two identical outcome columns and tied costs."""
    rng = np.random.default_rng(seed)
    F = rng.dirichlet(np.ones(m), size=(P, n))
    c = rng.uniform(0.0, 1.0, size=(P, n))
    if zeros:
        F = F * (rng.uniform(size=F.shape) > 0.35)
        empty = F.sum(axis=2) == 0
        F[empty, 0] = 1.0
        F = F / F.sum(axis=2, keepdims=True)
    if duplicate != "none" and n >= 2:
        F[:, 1] = F[:, 0]
        c[:, 1] = c[:, 0] + {"same": 0.0, "higher": 0.25, "lower": -0.25}[duplicate]
    if tie_outcomes and m >= 3:
        # split outcome 0's mass equally into outcomes 0 and 1: identical likelihood ratios
        F[:, :, 0] = F[:, :, 1] = (F[:, :, 0] + F[:, :, 1]) / 2
        c[:, -1] = c[:, 0]
    return F, c


def pairs(P: int, n: int):
    return np.tile(np.arange(n), P), np.repeat(np.arange(P), n)


def assert_agree(F, c, actions, problems, vertex, ref_status, ref_value):
    ok = ref_status == "optimal"
    np.testing.assert_array_equal(vertex.implementable, ok)
    np.testing.assert_array_equal(vertex.status[ok], "optimal")
    np.testing.assert_array_equal(vertex.status[~ok], "infeasible")
    v, r = vertex.expected_payment[ok], ref_value[ok]
    assert np.all(np.abs(v - r) <= REL * np.maximum(1.0, np.abs(r))), np.max(np.abs(v - r))
    assert np.all(np.isinf(vertex.expected_payment[~ok]))
    assert np.all(np.isnan(vertex.contract[~ok]))
    # the contract itself is feasible and its payment is F_i · t
    t = vertex.contract[ok]
    assert np.all(t >= 0)
    Fi = F[problems[ok], actions[ok]]
    np.testing.assert_allclose(np.einsum("bm,bm->b", Fi, t), v, rtol=1e-12, atol=1e-12)
    util = np.einsum("bkm,bm->bk", F[problems[ok]], t) - c[problems[ok]]
    slack = util[np.arange(len(t)), actions[ok]][:, None] - util
    assert np.all(slack >= -FEAS * np.maximum(1.0, t.sum(axis=1))[:, None])
    np.testing.assert_allclose(vertex.ic_slacks[ok], slack, rtol=0, atol=1e-12 * max(1.0, np.abs(t).sum(initial=0)))


@settings(max_examples=30)
@given(seed=st.integers(0, 2**32 - 1), P=st.integers(1, 12), n=st.integers(1, 6), m=st.integers(1, 5),
       zeros=st.booleans(), duplicate=st.sampled_from(["none", "same", "higher", "lower"]),
       tie_outcomes=st.booleans())
def test_vertex_matches_highs_lp(seed, P, n, m, zeros, duplicate, tie_outcomes):
    F, c = draw_problems(seed, P, n, m, zeros, duplicate, tie_outcomes)
    actions, problems = pairs(P, n)
    vertex = solve_min_pay_vertex(F, c, actions, problems=problems)
    assert vertex.method == "vertex"
    _, sol = solve_min_pay_arrays(F[problems], c[problems], actions, backend="highs", prob_diff_tol=PROB_DIFF_TOL)
    assert set(np.unique(sol.status)) <= {"optimal", "infeasible"}
    assert_agree(F, c, actions, problems, vertex, sol.status, sol.objective)


def test_linalg_path_for_large_bases_matches_lp():
    """Six actions and six outcomes: bases of size 4 and 5 go through numpy.linalg.solve."""
    F, c = draw_problems(7, 40, 6, 6, zeros=True, duplicate="none", tie_outcomes=False)
    actions, problems = pairs(40, 6)
    vertex = solve_min_pay_vertex(F, c, actions, problems=problems)
    _, sol = solve_min_pay_arrays(F[problems], c[problems], actions, backend="highs")
    assert_agree(F, c, actions, problems, vertex, sol.status, sol.objective)


def test_lp_wrapper_and_all_actions_give_the_same_arrays():
    for n, m in [(2, 3), (3, 4)]:
        F, c = draw_problems(3, 25, n, m, zeros=True, duplicate="same", tie_outcomes=True)
        actions, problems = pairs(25, n)
        flat = solve_min_pay_vertex(F, c, actions, problems=problems)
        grid = min_pay_all_actions(F, c, method="vertex")
        assert grid.contract.shape == (25, n, m) and grid.ic_slacks.shape == (25, n, n)
        np.testing.assert_array_equal(grid.implementable.ravel(), flat.implementable)
        np.testing.assert_allclose(grid.expected_payment.ravel(), flat.expected_payment, rtol=1e-13, atol=1e-13)
        np.testing.assert_allclose(grid.contract.reshape(-1, m), flat.contract, rtol=1e-13, atol=1e-13)
        np.testing.assert_allclose(grid.ic_slacks.reshape(-1, n), flat.ic_slacks, rtol=1e-12, atol=1e-12)
        lp = min_pay_all_actions(F, c, method="lp")
        assert lp.method == "lp"
        np.testing.assert_array_equal(lp.implementable, grid.implementable)
        ok = grid.implementable
        np.testing.assert_allclose(lp.expected_payment[ok], grid.expected_payment[ok], rtol=REL, atol=REL)
        wrapped = solve_min_pay_lp(F, c, actions, problems=problems)
        np.testing.assert_array_equal(wrapped.status, lp.status.ravel())


def test_two_actions_textbook_example():
    # p_L = 1/4, p_H = 3/4, c_H = 1: pay (c_H - c_L)/(p_H - p_L) = 2 on success, expected payment 3/2.
    F = np.array([[[0.75, 0.25], [0.25, 0.75]]])
    c = np.array([[0.0, 1.0]])
    res = min_pay_all_actions(F, c)
    np.testing.assert_allclose(res.contract[0, 1], [0.0, 2.0], atol=1e-15)
    assert res.expected_payment[0, 1] == pytest.approx(1.5, abs=1e-15)
    np.testing.assert_array_equal(res.contract[0, 0], [0.0, 0.0])       # the free action needs no pay
    assert res.expected_payment[0, 0] == 0.0


def test_two_actions_pay_on_highest_likelihood_ratio():
    # ratios F_1/F_0: 0.2/0.5, 0.3/0.4, 0.5/0.1 -> outcome 2; t = d / (0.5 - 0.1) = 2.5, payment 1.25
    F = np.array([[[0.5, 0.4, 0.1], [0.2, 0.3, 0.5]]])
    c = np.array([[0.0, 1.0]])
    res = solve_min_pay_vertex(F, c, np.array([1]))
    np.testing.assert_allclose(res.contract[0], [0.0, 0.0, 2.5], rtol=1e-15)
    assert res.expected_payment[0] == pytest.approx(1.25, rel=1e-15)
    # a tie in the likelihood ratio goes to the lowest outcome index
    F = np.array([[[0.1, 0.1, 0.8], [0.4, 0.4, 0.2]]])
    res = solve_min_pay_vertex(F, c, np.array([1]))
    np.testing.assert_allclose(res.contract[0], [1 / 0.3, 0.0, 0.0], rtol=1e-14)


def test_not_implementable_is_a_result():
    # action 2 is the average of actions 0 and 1 but costs more than their average: never implementable
    F = np.array([[[0.8, 0.2], [0.2, 0.8], [0.5, 0.5]]])
    c = np.array([[0.0, 0.2, 0.5]])
    res = solve_min_pay_vertex(F, c, np.array([2]))
    assert not res.implementable[0] and res.status[0] == "infeasible"
    assert np.isinf(res.expected_payment[0]) and np.all(np.isnan(res.contract[0]))
    # a duplicate action that costs more is not implementable; one that costs the same is, for free
    F = np.array([[[0.3, 0.7], [0.3, 0.7]], [[0.3, 0.7], [0.3, 0.7]]])
    c = np.array([[0.0, 0.1], [0.4, 0.4]])
    res = solve_min_pay_vertex(F, c, np.array([1, 1]))
    np.testing.assert_array_equal(res.implementable, [False, True])
    assert res.expected_payment[1] == 0.0


def test_degenerate_tie_between_vertices_is_deterministic():
    # outcomes 1 and 2 are identical: paying on either is optimal; the sparsest, lowest-index one is kept
    F = np.array([[[0.6, 0.2, 0.2], [0.2, 0.4, 0.4], [0.4, 0.3, 0.3]]])
    c = np.array([[0.0, 0.5, 0.2]])
    res = solve_min_pay_vertex(F, c, np.array([1]))
    _, sol = solve_min_pay_arrays(F, c, np.array([1]))
    assert res.expected_payment[0] == pytest.approx(sol.objective[0], rel=REL)
    assert np.count_nonzero(res.contract[0]) == 1 and res.contract[0, 1] > 0


def test_candidate_count_and_auto_method():
    assert n_candidates(2, 4) == 5                     # zero contract + one outcome
    assert n_candidates(3, 4) == 1 + 4 * 2 + 6 * 1
    assert n_candidates(1, 7) == 1
    assert choose_method(3, 4) == "vertex"
    assert n_candidates(6, 6) > MAX_VERTEX_CANDIDATES and choose_method(6, 6) == "lp"
    assert choose_method(6, 6, "vertex") == "vertex"
    F, c = draw_problems(0, 3, 6, 6, False, "none", False)
    assert min_pay_batch(F, c, np.zeros(3, dtype=int)).method == "lp"
    assert min_pay_batch(F, c, np.zeros(3, dtype=int), method="vertex").method == "vertex"


def test_single_action_and_empty_batch():
    F = np.array([[[0.2, 0.8]]])
    res = solve_min_pay_vertex(F, np.array([[3.0]]), np.array([0]))
    assert res.implementable[0] and res.expected_payment[0] == 0.0
    res = solve_min_pay_vertex(F, np.array([[3.0]]), np.zeros(0, dtype=int), problems=np.zeros(0, dtype=int))
    assert res.contract.shape == (0, 2)


def test_results_are_read_only():
    F, c = draw_problems(1, 4, 3, 3, False, "none", False)
    res = min_pay_all_actions(F, c)
    for arr in (res.contract, res.expected_payment, res.implementable, res.status_code, res.ic_slacks):
        assert not arr.flags.writeable


@pytest.mark.parametrize("kwargs, field", [
    (dict(F=np.ones((2, 2)), c=np.zeros((2, 2)), actions=np.zeros(2, dtype=int)), "F"),
    (dict(F=np.full((1, 2, 2), 0.5), c=np.zeros((1, 3)), actions=np.zeros(1, dtype=int)), "c"),
    (dict(F=np.full((1, 2, 2), 0.5), c=np.array([[0.0, np.nan]]), actions=np.zeros(1, dtype=int)), "c"),
    (dict(F=np.full((1, 2, 2), 0.5), c=np.zeros((1, 2)), actions=np.array([2])), "actions"),
    (dict(F=np.full((1, 2, 2), 0.5), c=np.zeros((1, 2)), actions=np.array([0.0])), "actions"),
    (dict(F=np.full((1, 2, 2), 0.5), c=np.zeros((1, 2)), actions=np.array([0, 1])), "actions"),
    (dict(F=np.full((1, 2, 2), 0.5), c=np.zeros((1, 2)), actions=np.array([0]), problems=np.array([1])),
     "problems"),
])
def test_bad_input_is_refused(kwargs, field):
    with pytest.raises(InvalidInstanceError) as err:
        solve_min_pay_vertex(**kwargs)
    assert err.value.field == field


def test_unknown_method_is_refused():
    with pytest.raises(InvalidInstanceError) as err:
        min_pay_batch(np.full((1, 2, 2), 0.5), np.zeros((1, 2)), np.array([0]), method="simplex")
    assert err.value.field == "method"


# --------------------------------------------------------------------------- two actions: same bits

def reference_two_actions(Fi, a, d, feasibility_tol=1e-10, singular_tol=1e-9):
    """The two-action closed form written as in the general case (argmin over outcomes, fancy
    indexing, ``nan_to_num``): the arithmetic the column form must reproduce bit for bit."""
    B, m = Fi.shape
    rows = np.arange(B)
    free = d <= feasibility_tol * np.maximum(1.0, np.abs(d))
    den = np.abs(a) * (a > singular_tol)
    with np.errstate(divide="ignore", invalid="ignore"):
        unit = Fi / den
    np.nan_to_num(unit, copy=False, nan=np.inf, posinf=np.inf)
    j = np.argmin(unit, axis=1)
    ok = free | (unit[rows, j] < np.inf)
    pay_on = ok & ~free
    value = (d * pay_on) / (den[rows, j] + ~pay_on)
    t = np.zeros((B, m))
    t[rows, j] = value
    return t, value * Fi[rows, j], ok


def reference_all_actions(F, c):
    a_raw = F[:, 0] - F[:, 1]
    a = a_raw * (np.abs(a_raw) > PROB_DIFF_TOL)
    d = c[:, 0] - c[:, 1]
    t0, pay0, ok0 = reference_two_actions(F[:, 0], a, d)
    t1, pay1, ok1 = reference_two_actions(F[:, 1], -a, -d)
    t, pay, ok = np.stack([t0, t1], axis=1), np.stack([pay0, pay1], axis=1), np.stack([ok0, ok1], axis=1)
    t[~ok] = np.nan
    pay[~ok] = np.inf
    return t, pay, ok


def same_bits(x, y) -> bool:
    return x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes()


@settings(max_examples=40)
@given(seed=st.integers(0, 2**32 - 1), m=st.integers(1, 4), zeros=st.booleans(),
       duplicate=st.sampled_from(["none", "same", "higher", "lower"]), tie_outcomes=st.booleans(),
       signed_zeros=st.booleans())
def test_two_actions_in_columns_give_the_bits_of_the_general_form(seed, m, zeros, duplicate, tie_outcomes,
                                                                   signed_zeros):
    """``min_pay_all_actions``, the pair path of ``solve_min_pay_vertex`` and the SPE solver's
    ``two_action_min_pay`` reproduce the general closed form exactly: two outcomes go through
    comparisons and ``np.where`` instead of ``argmin`` and fancy indexing."""
    from contractlab.solvers.min_pay_vertex import two_action_min_pay
    F, c = draw_problems(seed, 40, 2, m, zeros, duplicate, tie_outcomes)
    if signed_zeros:
        F = np.where(F == 0.0, -0.0, F)
        c[::5] = -0.0
        c[1::5, 1] = c[1::5, 0] * (1 + 1e-12)
    t, pay, ok = reference_all_actions(F, c)
    res = min_pay_all_actions(F, c)
    assert same_bits(res.contract, t) and same_bits(res.expected_payment, pay) and same_bits(res.implementable, ok)
    for got, want in zip(two_action_min_pay(F, c), (t, pay, ok)):
        assert same_bits(got, want)
    # the pair path writes each IC row as F_i − F_k (not as −(F_k − F_i): the sign of a zero differs)
    actions, problems = pairs(40, 2)
    Fi, Fk = F[problems, actions], F[problems, 1 - actions]
    a = Fi - Fk
    a *= np.abs(a) > PROB_DIFF_TOL
    t, pay, ok = reference_two_actions(Fi, a, c[problems, actions] - c[problems, 1 - actions])
    t[~ok], pay[~ok] = np.nan, np.inf
    pairwise = solve_min_pay_vertex(F, c, actions, problems=problems)
    assert same_bits(pairwise.contract, t) and same_bits(pairwise.expected_payment, pay)
    assert same_bits(pairwise.implementable, ok)
