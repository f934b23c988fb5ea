"""Exact rational data and ``solve(..., exact=True)`` (issue 4).

The exact optimum is checked against an independent brute force written here: every basic
solution of MIN-PAY (a support ``J`` of outcomes and as many IC rows, solved by sympy's exact
linear algebra), the cheapest feasible one; and against the float solver within tolerance.
"""

from __future__ import annotations

import json
from fractions import Fraction
from itertools import combinations

import pytest
import sympy
from hypothesis import given
from hypothesis import strategies as st

from contractlab import ContractProblem, InvalidInstanceError, solve
from contractlab.cli import main
from contractlab.solvers.exact import min_pay_all_exact
from contractlab.theory import fileio

REL_TOL = 1e-9  # float optimum vs exact optimum, relative to max(1, |exact|) (docs/tolerances.md)


@st.composite
def rational_problems(draw):
    """Problems given as exact fractions: integer weights normalised exactly, small-denominator costs."""
    n, m = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    rows = []
    for _ in range(n):
        w = draw(st.lists(st.integers(0, 9), min_size=m, max_size=m).filter(lambda v: sum(v) > 0))
        rows.append([Fraction(x, sum(w)) for x in w])
    costs = [Fraction(draw(st.integers(0, 40)), draw(st.integers(1, 12))) for _ in range(n)]
    rewards = [Fraction(draw(st.integers(0, 30)), draw(st.integers(1, 5))) for _ in range(m)]
    return ContractProblem.from_exact(rows, costs, rewards)


def brute_force_min_pay(F, c, i):
    """The exact MIN-PAY of action ``i`` by enumerating every basis (None if infeasible)."""
    n, m = len(F), len(F[0])
    rows = [([F[i][j] - F[k][j] for j in range(m)], c[i] - c[k]) for k in range(n) if k != i]
    best = None
    for size in range(0, min(len(rows), m) + 1):
        for J in combinations(range(m), size):
            for R in combinations(range(len(rows)), size):
                t = [Fraction(0)] * m
                if size:
                    M = sympy.Matrix([[rows[r][0][j] for j in J] for r in R])
                    if M.det() == 0:
                        continue
                    sol = M.LUsolve(sympy.Matrix([rows[r][1] for r in R]))
                    for j, v in zip(J, sol):
                        t[j] = Fraction(int(v.p), int(v.q))
                if any(x < 0 for x in t):
                    continue
                if all(sum(a * x for a, x in zip(row, t)) >= b for row, b in rows):
                    pay = sum(p * x for p, x in zip(F[i], t))
                    best = pay if best is None else min(best, pay)
    return best


@given(rational_problems())
def test_exact_min_pay_matches_brute_force(p):
    F, c, _ = p.exact
    for row in min_pay_all_exact(p):
        expected = brute_force_min_pay(F, c, row.action)
        if expected is None:
            assert not row.implementable
            lam = row.witness
            assert lam[row.action] == 0 and sum(lam) == 1 and min(lam) >= 0
            assert sum(lam[k] * c[k] for k in range(len(c))) < c[row.action]
        else:
            assert row.implementable and row.expected_payment == expected
            t = row.contract
            util = [sum(a * x for a, x in zip(F[k], t)) - c[k] for k in range(len(c))]
            assert min(t) >= 0 and all(util[row.action] >= u for u in util)


@given(rational_problems())
def test_exact_and_float_optima_agree(p):
    ex = solve(p, exact=True)
    fl = solve(p)
    assert abs(float(ex.principal_utility) - fl.principal_utility) <= REL_TOL * max(1.0, abs(float(ex.principal_utility)))
    for u in ex.principal_utilities:
        if u is not None:
            assert ex.principal_utility >= u


def test_json_decimals_and_fraction_strings_are_read_exactly(tmp_path):
    doc = {"kind": "contract_problem", "version": 1,
           "outcome_probs": [[0.7, 0.25, 0.05], ["1/3", "1/3", "1/3"], [0.1, 0.2, 0.7]],
           "costs": [0, 0.1, "3/10"], "rewards": [0, 1, 3]}
    path = tmp_path / "p.json"
    path.write_text(json.dumps(doc))
    p = fileio.load(path)
    assert p.exact[0][0] == (Fraction(7, 10), Fraction(1, 4), Fraction(1, 20))
    assert p.exact[1] == (Fraction(0), Fraction(1, 10), Fraction(3, 10))
    assert p.costs[1] == 0.1  # the float view is the nearest float, as before
    ex = solve(p, exact=True)
    assert (ex.action, ex.contract, ex.expected_payment) == (2, (0, 0, Fraction(6, 11)), Fraction(21, 55))
    assert ex.principal_utility == Fraction(211, 110)


def test_rows_must_sum_to_one_exactly_for_exact_solving():
    p = ContractProblem.from_exact([["0.3333333333", "0.3333333333", "0.3333333333"]], [0], [0, 0, 1])
    with pytest.raises(InvalidInstanceError, match=r"outcome_probs\[0\]: row sums to"):
        solve(p, exact=True)
    assert solve(p).action == 0  # the float model accepts it within prob_tol


@pytest.mark.parametrize("value, where", [("seven", "costs[1]"), (True, "costs[1]"), ("1/0", "costs[1]"),
                                          ("nan", "costs[1]"), ([1, 2], "costs[1]"), (None, "costs[1]")])
def test_bad_exact_numbers_name_field_and_index(value, where):
    with pytest.raises(InvalidInstanceError) as err:
        ContractProblem.from_exact([[1.0], [1.0]], [0, value], [1])
    assert str(err.value).startswith(where)


def test_ill_conditioned_instance_is_exact():
    """Differences of 5e-13 between probabilities (the hostile case): the exact optimum pays
    exactly 2e9 on outcome 0, for an expected payment of exactly 3/1000."""
    p = ContractProblem.from_exact([["1e-12", "0.4999999999995", "0.4999999999995"],
                                    ["1.5e-12", "0.49999999999925", "0.49999999999925"]], ["0.002", "0.003"],
                                   [0, 0, 0])
    row = min_pay_all_exact(p)[1]
    assert row.expected_payment == Fraction(3, 1000) and row.contract == (2 * 10**9, 0, 0)


def test_cli_solve_exact_prints_fractions(tmp_path, capsys):
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"kind": "contract_problem", "version": 1,
                                "outcome_probs": [[0.9, 0.1], [0.2, 0.8]], "costs": [0, 0.5], "rewards": [0, 4]}))
    assert main(["solve", str(path), "--exact", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    # action 1 needs t_1 (0.8 - 0.1) >= 0.5: t_1 = 5/7, payment 0.8 * 5/7 = 4/7
    assert doc["exact"]["contract"] == ["0", "5/7"] and doc["exact"]["expected_payment"] == "4/7"
    assert Fraction(doc["exact"]["principal_utility"]) == Fraction(16, 5) - Fraction(4, 7)
