"""Optimal (strong) Stackelberg commitment to a mixed strategy in a bimatrix game.

Conitzer and Sandholm, *Computing the Optimal Strategy to Commit to* (EC 2006), Section 3,
Theorem 2: the leader commits to a mixed strategy ``x`` in the simplex ``Δ_k``, the follower
observes it and best-responds, breaking ties in the leader's favour (the *strong*
Stackelberg equilibrium). For every follower action ``j`` solve the LP

    maximise    x · A[:, j]
    subject to  x · B[:, j] >= x · B[:, j']     for every j' != j   (j is a best response)
                Σ_i x_i = 1,  x >= 0,

and commit to the solution of the LP with the largest value. LP ``j`` is infeasible when
``j`` is a best response to no leader strategy; its value is then ``-inf``.

In the standard form of :mod:`contractlab.solvers.lp` (minimise ``c·x``, ``A_ge x >= b_ge``,
``A_eq x = b_eq``, ``x >= 0``), LP ``j`` has ``c = -A[:, j]``, one ``>=`` row
``B[:, j] - B[:, j']`` (right-hand side 0) per other column ``j'`` (in increasing order),
and the single equality row ``1·x = 1``. All ``l`` LPs are solved in one batched call.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

from ..theory.bimatrix import BimatrixGame, follower_best_responses
from ..theory.errors import InvalidInstanceError, SolverFailure
from .lp import BACKENDS, LPBatch, LPSolution, solve_lp_batch

#: Differences of follower payoffs ``B[i, j] - B[i, j']`` of size at most
#: ``PAYOFF_TOL * max(1, max |B|)`` are set to zero in the LP rows (the follower is treated as
#: indifferent). HiGHS drops matrix entries of size <= 1e-9 on its own (its ``small_matrix_value``),
#: while Clarabel would keep them; zeroing them explicitly makes both backends solve the same LP.
#: The strong Stackelberg value is discontinuous at follower ties, so without this a 1e-10
#: payoff difference could change the answer from one backend to the other.
PAYOFF_TOL = 1e-9

#: Follower actions whose LP values are within ``TIE_TOL * max(1, |best|)`` of the best
#: count as tied; among tied actions the lowest index is chosen.
TIE_TOL = 1e-9


@dataclass(frozen=True, eq=False)
class StackelbergResult:
    """The optimal mixed strategy to commit to, with the evidence of every per-column LP.

    Attributes
    ----------
    leader_strategy:
        ``x``, shape ``(k,)``: the optimal commitment (solver round-off below zero removed,
        renormalised to sum to one).
    follower_action:
        ``j*``: the follower's (leader-favourable) best response to ``x``.
    leader_value, follower_value:
        ``x · A[:, j*]`` and ``x · B[:, j*]``.
    action_values:
        Shape ``(l,)``: the optimal value of LP ``j`` (the best the leader can get while
        inducing ``j``); ``-inf`` where LP ``j`` is infeasible (or not solved to optimality).
    action_strategies:
        Shape ``(l, k)``: the optimal ``x`` of LP ``j`` (rows of NaN where not optimal).
    statuses:
        Shape ``(l,)`` of str: the solver status of LP ``j`` (``"optimal"``, ``"infeasible"``, ...).
    backend:
        The LP backend that solved the batch.
    tie_tol:
        The tolerance used to break ties between follower actions (lowest index wins).
    """

    leader_strategy: np.ndarray
    follower_action: int
    leader_value: float
    follower_value: float
    action_values: np.ndarray
    action_strategies: np.ndarray
    statuses: np.ndarray
    backend: str
    tie_tol: float = TIE_TOL


def commitment_lps(leader_payoffs: np.ndarray, follower_payoffs: np.ndarray,
                   payoff_tol: float = PAYOFF_TOL) -> LPBatch:
    """The ``l`` LPs of Conitzer and Sandholm (EC 2006, Theorem 2) in standard form.

    Block ``j`` minimises ``-A[:, j]·x`` subject to ``(B[:, j] - B[:, j'])·x >= 0`` for the
    other columns ``j'`` (in increasing order) and ``Σ x = 1``, ``x >= 0``. Entries of the
    ``>=`` rows of size at most ``payoff_tol * max(1, max |B|)`` are set to zero (see
    :data:`PAYOFF_TOL`).
    """
    A = np.asarray(leader_payoffs, dtype=np.float64)
    B = np.asarray(follower_payoffs, dtype=np.float64)
    k, l = A.shape
    cols = np.arange(l)
    others = np.nonzero(cols[None, :] != cols[:, None])[1].reshape(l, l - 1)   # (l, l-1)
    Bt = B.T                                                                      # (l, k)
    A_ge = Bt[:, None, :] - Bt[others]                                            # (l, l-1, k)
    A_ge[np.abs(A_ge) <= payoff_tol * max(1.0, float(np.abs(B).max()))] = 0.0
    return LPBatch(c=-A.T.copy(), A_ge=A_ge, b_ge=np.zeros((l, l - 1)),
                   A_eq=np.ones((l, 1, k)), b_eq=np.ones((l, 1)))


def _choose(values: np.ndarray, tie_tol: float) -> int:
    """The lowest index whose value is within ``tie_tol * max(1, |best|)`` of the best."""
    best = values.max()
    return int(np.flatnonzero(values >= best - tie_tol * max(1.0, abs(best)))[0])


def stackelberg(game: BimatrixGame, backend: str = "highs", tie_tol: float = TIE_TOL,
                payoff_tol: float = PAYOFF_TOL) -> StackelbergResult:
    """The leader's optimal mixed strategy to commit to (strong Stackelberg equilibrium).

    Parameters
    ----------
    game:
        The bimatrix game; the row player leads.
    backend:
        ``"highs"`` (default; all ``l`` LPs in one block-diagonal HiGHS call) or ``"cvxpy"``
        (the Clarabel reference model).
    tie_tol:
        Follower actions whose LP values lie within ``tie_tol * max(1, |best|)`` of the best
        are treated as tied, and the lowest index among them is chosen, so the answer does not
        depend on solver round-off (default :data:`TIE_TOL` ``= 1e-9``).
    payoff_tol:
        Follower payoff differences of size <= ``payoff_tol * max(1, max |B|)`` count as ties
        (default :data:`PAYOFF_TOL` ``= 1e-9``; ``0`` keeps every difference -- then HiGHS
        and Clarabel may disagree on games with differences near their tolerances).

    Returns
    -------
    StackelbergResult

    Raises
    ------
    InvalidInstanceError
        For an unknown backend or a negative / non-finite ``tie_tol`` or ``payoff_tol``.
    SolverFailure
        (a ``RuntimeError``) if some commitment LP ends neither optimal nor infeasible, or none
        is optimal. At least one LP is always feasible (some column is
        a best response to every ``x``) and all are bounded, so this signals a solver failure.
    """
    if backend not in BACKENDS + ("both",):
        raise InvalidInstanceError("backend", f"unknown backend {backend!r} (choose one of "
                                   f"{', '.join(BACKENDS + ('both',))})")
    if (isinstance(tie_tol, bool) or not isinstance(tie_tol, numbers.Real) or not np.isfinite(tie_tol)
            or tie_tol < 0):
        raise InvalidInstanceError("tie_tol", f"must be a finite number >= 0, got {tie_tol!r}")
    if (isinstance(payoff_tol, bool) or not isinstance(payoff_tol, numbers.Real) or not np.isfinite(payoff_tol)
            or payoff_tol < 0):
        raise InvalidInstanceError("payoff_tol", f"must be a finite number >= 0, got {payoff_tol!r}")
    A, B = game.leader_payoffs, game.follower_payoffs
    lp = commitment_lps(A, B, payoff_tol)
    sol = solve_lp_batch(lp, backend=backend, batched=True)
    return _result(game, sol, tie_tol)


def _result(game: BimatrixGame, sol: LPSolution, tie_tol: float) -> StackelbergResult:
    A, B = game.leader_payoffs, game.follower_payoffs
    ok = sol.optimal
    unclean = np.flatnonzero(~np.isin(sol.status, ("optimal", "infeasible")))
    if unclean.size:
        j = int(unclean[0])
        raise SolverFailure(f"stackelberg: the commitment LP of follower action {j} has status {sol.status[j]!r} "
                            f"({unclean.size} of {len(sol.status)} unresolved, backend {sol.backend!r}); no "
                            "commitment is chosen from an incomplete set")
    if not ok.any():
        raise SolverFailure(f"stackelberg: no commitment LP was solved to optimality (statuses {list(sol.status)}); "
                           f"this is a solver failure ({sol.backend})")
    values = np.where(ok, -sol.objective, -np.inf)
    j = _choose(values, tie_tol)
    x = np.clip(sol.x[j], 0.0, None)
    x = x / x.sum()
    strategies = np.where(ok[:, None], sol.x, np.nan)
    statuses = np.array([str(s) for s in sol.status], dtype=object)
    for arr in (x, values, strategies, statuses):
        arr.setflags(write=False)
    return StackelbergResult(leader_strategy=x, follower_action=j, leader_value=float(x @ A[:, j]),
                             follower_value=float(x @ B[:, j]), action_values=values,
                             action_strategies=strategies, statuses=statuses, backend=sol.backend,
                             tie_tol=tie_tol)


def leader_payoff_with_best_response(game: BimatrixGame, leader_strategy: np.ndarray,
                                     tol: float = 1e-9) -> tuple[float, int]:
    """The leader's payoff from committing to ``x`` when the follower best-responds in her favour.

    Returns ``(value, j)``: among the columns within ``tol * max(1, |best|)`` of the
    follower's best payoff, ``j`` maximises ``x · A[:, j]`` (lowest index on ties). Useful to
    evaluate a given commitment, e.g. a pure strategy or a learned one.
    """
    x = np.asarray(leader_strategy, dtype=np.float64)
    br = follower_best_responses(game, x, tol)
    leader = x @ game.leader_payoffs[:, br]
    pick = int(np.argmax(leader))
    return float(leader[pick]), int(br[pick])


__all__ = ["StackelbergResult", "stackelberg", "commitment_lps", "leader_payoff_with_best_response", "TIE_TOL",
           "PAYOFF_TOL"]
