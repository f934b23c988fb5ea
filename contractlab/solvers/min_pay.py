"""The MIN-PAY linear program: the cheapest limited-liability contract implementing an action.

For action ``i`` of a :class:`~contractlab.theory.ContractProblem` (Dütting, Roughgarden and
Talgam-Cohen, *Simple versus Optimal Contracts*, EC 2019, Section 2, LP (1)):

    minimise    F_i · t
    subject to  F_i·t - c_i >= F_k·t - c_k + ε     for every k != i    (IC, margin ε >= 0)
                F_i·t - c_i >= U_0                  (participation, optional)
                t >= 0                              (limited liability)

The agent breaks ties in the principal's favour, so weak IC (``ε = 0``) is the default.
Its dual, in the sign convention of :mod:`contractlab.solvers.lp`, is

    maximise Σ_k λ_k (c_i - c_k + ε) + μ (c_i + U_0)
    subject to Σ_k λ_k (F_i - F_k) + μ F_i <= F_i,   λ, μ >= 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..theory.contract_problem import ContractProblem
from ..theory.errors import InvalidInstanceError
from .implementability import _check_action, is_implementable
from .lp import LPBatch, LPSolution, dual_objective, solve_lp_batch


@dataclass(frozen=True, eq=False)
class MinPayResult:
    """The solution of MIN-PAY for one action, with its evidence.

    Attributes
    ----------
    contract:
        Payment per outcome ``t`` (``None`` if the action cannot be implemented).
    expected_payment:
        ``F_i · t``; ``inf`` if the action cannot be implemented.
    ic_slacks:
        ``(F_i·t - c_i) - (F_k·t - c_k)`` for every action ``k`` (0 at ``k = i``).
    ic_duals:
        The IC multipliers ``λ_k`` (0 at ``k = i``).
    participation_dual:
        ``μ`` when a participation constraint was imposed, else ``None``.
    dual_value:
        The dual objective at the multipliers (equals ``expected_payment`` by strong duality).
    witness:
        For a non-implementable action, the convex combination of other actions that
        reproduces ``F_i`` more cheaply (see :mod:`.implementability`).
    """

    action: int
    implementable: bool
    contract: np.ndarray | None
    expected_payment: float
    agent_utility: float | None
    ic_slacks: np.ndarray | None
    ic_duals: np.ndarray | None
    participation_dual: float | None
    dual_value: float | None
    witness: np.ndarray | None
    status: str
    backend: str
    ic_margin: float = 0.0
    participation: float | None = None


def _others(n: int, actions: np.ndarray) -> np.ndarray:
    """``others[b]`` lists the actions other than ``actions[b]``, in increasing order."""
    mask = np.arange(n)[None, :] != actions[:, None]
    return np.nonzero(mask)[1].reshape(len(actions), n - 1)


def min_pay_lps(F: np.ndarray, c: np.ndarray, actions: np.ndarray, participation: float | None = None,
                ic_margin: float = 0.0, prob_diff_tol: float = 0.0) -> LPBatch:
    """The MIN-PAY LPs for ``actions[b]`` of problem ``b`` (``F``: (B, n, m), ``c``: (B, n)).

    Row ``r`` of block ``b`` is the IC constraint against ``_others(n, actions)[b, r]``; with
    ``participation`` set, a last row is the participation constraint. Entries of the IC rows
    ``F_i − F_k`` of magnitude at most ``prob_diff_tol`` are set to 0 (default 0: the data are
    solved exactly as given; the SPE solver passes
    :data:`~contractlab.solvers.min_pay_vertex.PROB_DIFF_TOL` so that its LP and vertex methods
    read the same rows).
    """
    B, n, m = F.shape
    rows = np.arange(B)
    others = _others(n, actions)
    Fi = F[rows, actions]                                     # (B, m)
    ci = c[rows, actions]
    Fk = F[rows[:, None], others]                             # (B, n-1, m)
    A_ge = Fi[:, None, :] - Fk
    # The probabilities an IC entry is the difference of: it is known only to their precision
    # (their last digits), which can be far coarser than the difference itself. The LP layer
    # judges infeasibility relative to this (lp.farkas_certified, lp.DATA_TOL).
    A_scale = np.abs(Fi)[:, None, :] + np.abs(Fk)
    if prob_diff_tol > 0:
        A_ge = A_ge * (np.abs(A_ge) > prob_diff_tol)
    b_ge = ci[:, None] - c[rows[:, None], others] + ic_margin
    if participation is not None:
        A_ge = np.concatenate([A_ge, Fi[:, None, :]], axis=1)
        A_scale = np.concatenate([A_scale, np.abs(Fi)[:, None, :]], axis=1)
        b_ge = np.concatenate([b_ge, (ci + participation)[:, None]], axis=1)
    return LPBatch(c=Fi.copy(), A_ge=A_ge, b_ge=b_ge, A_eq=np.zeros((B, 0, m)), b_eq=np.zeros((B, 0)),
                   A_scale=A_scale)


def solve_min_pay_arrays(F: np.ndarray, c: np.ndarray, actions: np.ndarray, backend: str = "highs",
                         batched: bool = True, participation: float | None = None,
                         ic_margin: float = 0.0, prob_diff_tol: float = 0.0) -> tuple[LPBatch, LPSolution]:
    """Solve MIN-PAY for many (problem, action) pairs at once; the array-level fast path."""
    lp = min_pay_lps(F, c, actions, participation, ic_margin, prob_diff_tol)
    return lp, solve_lp_batch(lp, backend=backend, batched=batched)


def _check_options(participation, ic_margin) -> None:
    if participation is not None and not np.isfinite(participation):
        raise InvalidInstanceError("participation", f"must be a finite outside option, got {participation!r}")
    if not np.isfinite(ic_margin) or ic_margin < 0:
        raise InvalidInstanceError("ic_margin", f"must be finite and >= 0, got {ic_margin!r}")


def _result(problem: ContractProblem, action: int, lp: LPBatch, sol: LPSolution, b: int,
            participation, ic_margin, backend: str) -> MinPayResult:
    n = problem.n_actions
    status = str(sol.status[b])
    if status != "optimal":
        witness = None
        if status == "infeasible":
            imp = is_implementable(problem, action, backend=backend)
            witness = imp.witness
        return MinPayResult(action, False, None, float("inf"), None, None, None, None, None, witness,
                            status, sol.backend, ic_margin, participation)
    t = np.clip(sol.x[b], 0.0, None) + 0.0  # no round-off below zero (limited liability), no -0.0
    t.setflags(write=False)
    F, c = problem.outcome_probs, problem.costs
    utilities = F @ t - c
    slacks = utilities[action] - utilities
    slacks.setflags(write=False)
    duals = np.zeros(n)
    duals[_others(n, np.array([action]))[0]] = sol.y_ge[b, : n - 1]
    duals.setflags(write=False)
    mu = float(sol.y_ge[b, n - 1]) if participation is not None else None
    pay = float(F[action] @ t)
    return MinPayResult(action, True, t, pay, pay - float(c[action]), slacks, duals, mu,
                        float(dual_objective(lp.take([b]), sol_take(sol, b))[0]), None, status, sol.backend,
                        ic_margin, participation)


def sol_take(sol: LPSolution, b: int) -> LPSolution:
    return LPSolution(sol.status[[b]], sol.x[[b]], sol.objective[[b]], sol.y_ge[[b]], sol.y_eq[[b]], sol.backend)


def min_pay(problem: ContractProblem, action: int, *, backend: str = "highs",
            participation: float | None = None, ic_margin: float = 0.0) -> MinPayResult:
    """Solve MIN-PAY for one action.

    Parameters
    ----------
    problem:
        The contract problem.
    action:
        The action to implement, ``0 <= action < n``.
    backend:
        ``"highs"`` (default, simplex: the contract is a basic solution) or ``"cvxpy"``.
    participation:
        Outside option ``U_0``; ``None`` (default) imposes no participation constraint
        (limited liability already gives the agent at least ``-c_i``).
    ic_margin:
        ``ε >= 0``: require the recommended action to beat every other by at least ``ε``.

    Returns
    -------
    MinPayResult
        ``implementable=False`` (with the witness combination) when no contract works.
    """
    action = _check_action(problem, action)
    _check_options(participation, ic_margin)
    lp, sol = solve_min_pay_arrays(problem.outcome_probs[None], problem.costs[None], np.array([action]),
                                   backend, True, participation, ic_margin)
    return _result(problem, action, lp, sol, 0, participation, ic_margin, backend)


def min_pay_all(problem: ContractProblem, *, backend: str = "highs", participation: float | None = None,
                ic_margin: float = 0.0, actions: Sequence[int] | None = None) -> tuple[MinPayResult, ...]:
    """:func:`min_pay` for every action (or the given ones), in one batched solve."""
    n = problem.n_actions
    acts = np.arange(n) if actions is None else np.array([_check_action(problem, a) for a in actions], dtype=int)
    _check_options(participation, ic_margin)
    F = np.broadcast_to(problem.outcome_probs, (len(acts), n, problem.n_outcomes))
    c = np.broadcast_to(problem.costs, (len(acts), n))
    lp, sol = solve_min_pay_arrays(F, c, acts, backend, True, participation, ic_margin)
    return tuple(_result(problem, int(a), lp, sol, b, participation, ic_margin, backend) for b, a in enumerate(acts))
