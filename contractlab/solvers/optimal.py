"""The optimal contract and the first-best benchmark of a one-shot contract problem.

OPT = max over implementable actions ``i`` of ``R_i − MINPAY(i)`` (Dütting, Roughgarden and
Talgam-Cohen, EC 2019, Section 2): the principal picks the action to implement and pays its
min-pay contract. FB = max ``R_i − c_i`` is what the principal could get if she saw the action
and paid exactly its cost. ``OPT <= FB`` when the agent's outside option is at least the
utility of a free, zero-cost action; in general the min-pay contract pays at least
``c_i − min_k c_k`` (see :mod:`contractlab.proofs_checks.theorems_contracts`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..theory.contract_problem import ContractProblem
from ..theory.errors import SolverFailure
from .min_pay import MinPayResult, min_pay_all

#: Principal utilities within this (absolute) distance are ties, broken to the lowest index.
OPTIMALITY_TOL = 1e-9


@dataclass(frozen=True, eq=False)
class OptimalContract:
    """The principal's optimal contract with the per-action table that proves it optimal.

    Attributes
    ----------
    action:
        The action implemented (ties in principal utility within ``tol`` go to the lowest index).
    contract:
        Its min-pay contract.
    principal_utility:
        ``R_a − MINPAY(a)`` (this is OPT).
    agent_utility:
        ``F_a · t − c_a``.
    table:
        :class:`MinPayResult` for every action.
    principal_utilities:
        ``R_i − MINPAY(i)`` for every action (``−inf`` where not implementable).
    """

    action: int
    contract: np.ndarray
    expected_payment: float
    principal_utility: float
    agent_utility: float
    table: tuple[MinPayResult, ...]
    principal_utilities: np.ndarray
    backend: str


@dataclass(frozen=True)
class FirstBest:
    """The first-best benchmark: the welfare-maximising action paid exactly its cost."""

    action: int
    welfare: float
    expected_payment: float


def optimal_contract(problem: ContractProblem, *, backend: str = "highs", participation: float | None = None,
                     ic_margin: float = 0.0, tol: float = OPTIMALITY_TOL) -> OptimalContract:
    """The principal's optimal contract: best implementable action and its min-pay contract.

    All ``n`` MIN-PAY LPs are solved in one batched call. Options are passed on to
    :func:`~contractlab.solvers.min_pay.min_pay`. At least one action (a cheapest one) is
    always implementable without a participation constraint or margin; if none is
    implementable under the options, ``action`` is ``-1`` and the utilities are ``-inf``.

    Raises :class:`~contractlab.theory.errors.SolverFailure` when some MIN-PAY LP ends neither
    ``optimal`` nor ``infeasible`` (``inaccurate``, ``error``, or ``disagreement`` with
    ``backend="both"``): the best action cannot be chosen from an incomplete table.
    """
    table = min_pay_all(problem, backend=backend, participation=participation, ic_margin=ic_margin)
    unclean = [(r.action, r.status) for r in table if r.status not in ("optimal", "infeasible")]
    if unclean:
        raise SolverFailure(f"optimal_contract: MIN-PAY of action {unclean[0][0]} has status {unclean[0][1]!r} "
                            f"({len(unclean)} of {len(table)} actions unresolved, backend {backend!r}); "
                            "no action is chosen from an incomplete table")
    pay = np.array([res.expected_payment for res in table])
    utilities = np.where(np.isfinite(pay), problem.expected_rewards - np.where(np.isfinite(pay), pay, 0.0), -np.inf)
    utilities.setflags(write=False)
    if not np.isfinite(utilities).any():
        empty = np.zeros(problem.n_outcomes)
        empty.setflags(write=False)
        return OptimalContract(-1, empty, float("inf"), -np.inf, -np.inf, table, utilities, backend)
    best = float(utilities.max())
    a = int(np.flatnonzero(utilities >= best - tol)[0])
    res = table[a]
    return OptimalContract(a, res.contract, res.expected_payment, float(utilities[a]), float(res.agent_utility),
                           table, utilities, backend)


def first_best(problem: ContractProblem) -> FirstBest:
    """FB: ``max_i R_i − c_i`` (ties to the lowest index), the benchmark for every contract."""
    w = problem.welfare
    a = int(np.argmax(w))
    return FirstBest(a, float(w[a]), float(problem.costs[a]))
