"""Exact rational optima of contract problems: ``solve(problem, exact=True)``.

The floating-point solvers find the optimal basis; the exact answer is then recomputed from
that basis in rational arithmetic on the problem's exact data (:attr:`ContractProblem.exact`:
the numbers as written in its JSON file, ``0.7 = 7/10``, or the exact binary values of its
floats) and proved optimal by :mod:`contractlab.solvers.certify`: an exact primal vertex, exact
dual multipliers, both feasible, equal objectives (Dütting, Roughgarden and Talgam-Cohen,
EC 2019, LP (1) and its dual); a non-implementable action gets an exact Farkas witness
(Proposition 2 there). If the float basis is not optimal for the exact data (rounding can
move a degenerate optimum), small problems fall back to an exact search over bases. When no
exact proof is found, :class:`~contractlab.theory.errors.SolverFailure` says so; no float is
ever passed off as exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from ..theory.contract_problem import ContractProblem
from ..theory.errors import InvalidInstanceError, SolverFailure
from .certify import Certificate, certify_min_pay, exact_data
from .min_pay import min_pay_all
from .optimal import OptimalContract, optimal_contract


@dataclass(frozen=True)
class ExactMinPay:
    """MIN-PAY of one action in exact arithmetic.

    ``contract`` and ``expected_payment`` (``F_i·t``) for an implementable action; ``witness``
    (a convex combination ``λ`` of the other actions with ``λ·F >= F_i`` and ``λ·c < c_i``) for
    one that is not. ``certificate`` is the exact proof.
    """

    action: int
    implementable: bool
    contract: tuple[Fraction, ...] | None
    expected_payment: Fraction | None
    witness: tuple[Fraction, ...] | None
    certificate: Certificate


@dataclass(frozen=True)
class ExactOptimalContract:
    """The principal's optimal contract in exact arithmetic.

    ``action`` maximises ``R_a − MINPAY(a)`` exactly (``R_a = F_a·r``; ties to the lowest
    index); ``principal_utilities[a]`` is ``None`` for actions that cannot be implemented.
    """

    action: int
    contract: tuple[Fraction, ...]
    expected_payment: Fraction
    principal_utility: Fraction
    agent_utility: Fraction
    table: tuple[ExactMinPay, ...]
    principal_utilities: tuple[Fraction | None, ...]


def check_exact_distributions(problem: ContractProblem) -> None:
    """Refuse exact solving unless every row of the exact ``F`` is a distribution exactly.

    The float model accepts rows that sum to 1 within ``prob_tol``; an exact answer for a row
    that sums to ``0.999999`` would be exact for a model nobody meant.
    """
    F, _, _ = exact_data(problem)
    for i, row in enumerate(F):
        for j, p in enumerate(row):
            if p < 0:
                raise InvalidInstanceError("outcome_probs", f"probability {p} is negative", (i, j))
        total = sum(row, Fraction(0))
        if total != 1:
            raise InvalidInstanceError("outcome_probs", f"row sums to {total} exactly, not 1 (exact solving needs "
                                       "exact distributions; write the row as decimals or fractions that add up "
                                       "to 1, e.g. \"1/3\")", (i,))


def _exact_row(res, problem: ContractProblem) -> ExactMinPay:
    cert = certify_min_pay(res, problem)
    if res.implementable:
        if cert.exact_point is None or cert.exact_value is None:
            raise SolverFailure(f"exact MIN-PAY of action {res.action}: no exact optimal vertex found "
                                f"({cert.verdict}: {cert.reason})")
        return ExactMinPay(res.action, True, tuple(cert.exact_point), cert.exact_value, None, cert)
    if res.status != "infeasible":
        raise SolverFailure(f"exact MIN-PAY of action {res.action}: the float solve ended {res.status!r}")
    if cert.verdict != "certified" or cert.exact_point is None:
        raise SolverFailure(f"exact MIN-PAY of action {res.action}: infeasibility not proved exactly "
                            f"({cert.verdict}: {cert.reason})")
    return ExactMinPay(res.action, False, None, None, tuple(cert.exact_point), cert)


def min_pay_all_exact(problem: ContractProblem, *, backend: str = "highs") -> tuple[ExactMinPay, ...]:
    """Exact MIN-PAY of every action (see the module docstring)."""
    check_exact_distributions(problem)
    return tuple(_exact_row(res, problem) for res in min_pay_all(problem, backend=backend))


def optimal_contract_exact(problem: ContractProblem, *, backend: str = "highs") -> ExactOptimalContract:
    """The exact optimal contract: exact MIN-PAY of every action, then the exact best action."""
    table = min_pay_all_exact(problem, backend=backend)
    F, c, r = exact_data(problem)
    R = [sum((p * x for p, x in zip(row, r)), Fraction(0)) for row in F]
    utilities = tuple(R[k] - row.expected_payment if row.implementable else None for k, row in enumerate(table))
    candidates = [k for k, u in enumerate(utilities) if u is not None]
    if not candidates:  # a cheapest action is always implementable; only a bug gets here
        raise SolverFailure("exact optimal contract: no action is implementable")
    a = max(candidates, key=lambda k: (utilities[k], -k))
    best = table[a]
    return ExactOptimalContract(a, best.contract, best.expected_payment, utilities[a],
                                best.expected_payment - c[a], table, utilities)


def solve(problem: ContractProblem, *, exact: bool = False,
          backend: str = "highs") -> OptimalContract | ExactOptimalContract:
    """The principal's optimal contract: in floats (:func:`~contractlab.solvers.optimal_contract`),
    or with ``exact=True`` as exact fractions proved optimal (:func:`optimal_contract_exact`)."""
    if exact:
        return optimal_contract_exact(problem, backend=backend)
    return optimal_contract(problem, backend=backend)
