"""Implementability of an action, decided by the convex-combination LP.

Action ``i`` can be implemented by some limited-liability contract iff there is no convex
combination ``λ`` of the *other* actions with ``λ·F = F_i`` and ``λ·c < c_i`` (Dütting,
Roughgarden and Talgam-Cohen, EC 2019, Proposition 2; by LP duality from MIN-PAY).

We solve the LP over *all* actions, ``i`` included:

    minimise λ·c  subject to  λ·F = F_i,  Σλ = 1,  λ >= 0.

It is always feasible (``λ = e_i``) and bounded, so its status never has to be read off a
dual. Its optimum is at most ``c_i``; it is strictly below ``c_i`` exactly when a
cheaper combination exists, and then ``λ`` with the weight on ``i`` removed and the rest
renormalised is a combination of the other actions that witnesses it (if ``λ_i < 1`` and
``λ·c < c_i`` then ``λ_{-i}/(1-λ_i)`` reproduces ``F_i`` at cost below ``c_i``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..theory.contract_problem import ContractProblem
from .lp import LPBatch, solve_lp_batch

#: An action is called non-implementable when a combination is cheaper by more than this, times
#: the largest cost difference ``max_k |c_k − c_i|`` (so the verdict is invariant under adding a
#: constant to every cost and under scaling the costs, as the MIN-PAY LP's own feasibility is).
IMPLEMENTABILITY_TOL = 1e-9


@dataclass(frozen=True, eq=False)
class Implementability:
    """Whether ``action`` is implementable, with the witness combination when it is not.

    ``witness`` (shape ``(n,)``, zero at ``action``) is a convex combination of the other
    actions with ``witness @ F == F[action]`` and ``witness @ c == witness_cost < c[action]``.
    """

    action: int
    implementable: bool
    cheapest_replica_cost: float
    witness: np.ndarray | None
    witness_cost: float | None
    status: str
    backend: str


def implementability_lps(F: np.ndarray, c: np.ndarray, actions: np.ndarray) -> LPBatch:
    """The convex-combination LPs for ``actions`` of problems ``F`` (B, n, m), ``c`` (B, n).

    The objective is ``λ·(c − c_i)`` (the cost *advantage* of the combination; ``Σλ = 1`` makes
    it differ from ``λ·c`` by the constant ``c_i``), so that costs of ``1e9`` that differ by
    ``0.5`` give an LP of scale ``0.5``, not ``1e9``.
    """
    B, n, m = F.shape
    A_eq = np.concatenate([np.swapaxes(F, 1, 2), np.ones((B, 1, n))], axis=1)  # (B, m+1, n)
    b_eq = np.concatenate([F[np.arange(B), actions], np.ones((B, 1))], axis=1)
    advantage = c - c[np.arange(B), actions][:, None]
    return LPBatch(c=advantage, A_ge=np.zeros((B, 0, n)), b_ge=np.zeros((B, 0)), A_eq=A_eq, b_eq=b_eq)


def implementability_all(problem: ContractProblem, backend: str = "highs",
                         tol: float = IMPLEMENTABILITY_TOL) -> tuple[Implementability, ...]:
    """:func:`is_implementable` for every action, in one batched solve."""
    n = problem.n_actions
    F = np.broadcast_to(problem.outcome_probs, (n, n, problem.n_outcomes))
    c = np.broadcast_to(problem.costs, (n, n))
    sol = solve_lp_batch(implementability_lps(F, c, np.arange(n)), backend=backend)
    return tuple(_result(problem, i, sol.status[i], sol.x[i], sol.objective[i], sol.backend, tol)
                 for i in range(n))


def is_implementable(problem: ContractProblem, action: int, backend: str = "highs",
                     tol: float = IMPLEMENTABILITY_TOL) -> Implementability:
    """Decide whether ``action`` is implementable (see the module docstring).

    Parameters
    ----------
    tol:
        A combination must be cheaper than ``c_i`` by more than ``tol * max_k |c_k − c_i|`` to
        count (:data:`IMPLEMENTABILITY_TOL`).
    """
    action = _check_action(problem, action)
    F = problem.outcome_probs[None]
    sol = solve_lp_batch(implementability_lps(F, problem.costs[None], np.array([action])), backend=backend)
    return _result(problem, action, sol.status[0], sol.x[0], sol.objective[0], sol.backend, tol)


def _result(problem, action, status, lam, advantage, backend, tol) -> Implementability:
    c_i = float(problem.costs[action])
    if status != "optimal":
        # The LP is feasible and bounded by construction; anything else is a solver failure
        # (the status says so; ``implementable`` is then not a verdict).
        return Implementability(action, True, float("nan"), None, None, str(status), backend)
    spread = float(np.abs(problem.costs - c_i).max())
    value = c_i + float(advantage)
    if advantage < -tol * spread and lam[action] < 1.0 - 1e-12:
        w = np.clip(lam, 0.0, None)
        w[action] = 0.0
        w = w / w.sum()
        w.setflags(write=False)
        return Implementability(action, False, float(value), w, float(w @ problem.costs), status, backend)
    return Implementability(action, True, float(value), None, None, status, backend)


def _check_action(problem: ContractProblem, action) -> int:
    from ..theory.errors import InvalidInstanceError
    if isinstance(action, bool) or not isinstance(action, (int, np.integer)) or not 0 <= action < problem.n_actions:
        raise InvalidInstanceError("action", f"must be an integer in [0, {problem.n_actions}), got {action!r}")
    return int(action)
