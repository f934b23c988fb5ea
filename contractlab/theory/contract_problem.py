"""The one-shot hidden-action contract problem.

An agent chooses one of ``n`` actions; action ``i`` costs the agent ``c_i`` and induces a
distribution ``F_i`` over ``m`` outcomes; outcome ``j`` is worth ``r_j`` to the principal.
The principal sees only the outcome and commits to a contract ``t`` (a payment per outcome).
Notation follows Dütting, Roughgarden and Talgam-Cohen, *Simple versus Optimal Contracts*
(EC 2019), Section 2.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from .errors import InvalidInstanceError
from .validation import PROB_SUM_TOL, as_float_array, check_names, check_probability_rows


@dataclass(frozen=True, eq=False)
class ContractProblem:
    """A validated, immutable principal-agent contract problem.

    Parameters
    ----------
    outcome_probs:
        ``F``, shape ``(n, m)``; row ``i`` is the outcome distribution of action ``i``.
    costs:
        ``c``, shape ``(n,)``; the agent's cost of each action.
    rewards:
        ``r``, shape ``(m,)``; the principal's reward for each outcome.
    action_names, outcome_names:
        Optional distinct labels.
    prob_tol:
        Tolerance for "rows of ``F`` sum to one" (default ``1e-9``).

    Raises
    ------
    InvalidInstanceError
        Naming the field and index of the first violation.
    """

    outcome_probs: np.ndarray
    costs: np.ndarray
    rewards: np.ndarray
    action_names: tuple[str, ...] | None = None
    outcome_names: tuple[str, ...] | None = None
    prob_tol: float = field(default=PROB_SUM_TOL, repr=False)
    #: ``(F, c, r)`` as nested tuples of :class:`~fractions.Fraction`: the data exactly as given
    #: (see :meth:`from_exact`); ``None`` when the problem was built from floats, whose exact
    #: binary values are then the data.
    exact: tuple | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        F = as_float_array("outcome_probs", self.outcome_probs, 2)
        c = as_float_array("costs", self.costs, 1)
        r = as_float_array("rewards", self.rewards, 1)
        n, m = F.shape
        if c.shape[0] != n:
            raise InvalidInstanceError("costs", f"has length {c.shape[0]}, but outcome_probs has {n} rows (actions)")
        if r.shape[0] != m:
            raise InvalidInstanceError("rewards", f"has length {r.shape[0]}, but outcome_probs has {m} columns (outcomes)")
        check_probability_rows("outcome_probs", F, self.prob_tol)
        object.__setattr__(self, "outcome_probs", F)
        object.__setattr__(self, "costs", c)
        object.__setattr__(self, "rewards", r)
        object.__setattr__(self, "action_names", check_names("action_names", self.action_names, n))
        object.__setattr__(self, "outcome_names", check_names("outcome_names", self.outcome_names, m))
        if self.exact is not None:
            ok = (isinstance(self.exact, tuple) and len(self.exact) == 3 and len(self.exact[0]) == n
                  and all(len(row) == m for row in self.exact[0]) and len(self.exact[1]) == n
                  and len(self.exact[2]) == m)
            if not ok:
                raise InvalidInstanceError("exact", "must be (F, c, r) as nested tuples of Fractions of the same shapes")

    @classmethod
    def from_exact(cls, outcome_probs, costs, rewards, action_names=None, outcome_names=None,
                   prob_tol: float = PROB_SUM_TOL) -> "ContractProblem":
        """A problem from exact numbers: ints, Fractions, Decimals or strings ``"7/10"`` / ``"0.7"``.

        The float arrays are the nearest floats; the exact values are kept in :attr:`exact` for
        :func:`contractlab.solve` with ``exact=True`` and for the certificates. (Floats are
        accepted too and are taken at their exact binary value.)
        """
        from .exact import exact_array, to_floats
        F = exact_array("outcome_probs", outcome_probs, 2)
        c = exact_array("costs", costs, 1)
        r = exact_array("rewards", rewards, 1)
        return cls(to_floats(F), to_floats(c), to_floats(r), action_names, outcome_names, prob_tol, exact=(F, c, r))

    @property
    def n_actions(self) -> int:
        return self.outcome_probs.shape[0]

    @property
    def n_outcomes(self) -> int:
        return self.outcome_probs.shape[1]

    @property
    def expected_rewards(self) -> np.ndarray:
        """``R_i = F_i · r``, the principal's expected reward from each action."""
        return self.outcome_probs @ self.rewards

    @property
    def welfare(self) -> np.ndarray:
        """``R_i - c_i``, the expected welfare of each action (payments are transfers)."""
        return self.expected_rewards - self.costs

    def action_label(self, i: int) -> str:
        return self.action_names[i] if self.action_names else str(i)

    def outcome_label(self, j: int) -> str:
        return self.outcome_names[j] if self.outcome_names else str(j)

    def replace(self, **changes) -> "ContractProblem":
        """A new problem with some fields replaced (validated again; the exact data are dropped when
    a number changes)."""
        data = dict(outcome_probs=self.outcome_probs, costs=self.costs, rewards=self.rewards,
                    action_names=self.action_names, outcome_names=self.outcome_names,
                    prob_tol=self.prob_tol)
        data.update(changes)
        # exact data survive only a change of names; new numbers are taken as given
        if self.exact is not None and set(changes) <= {"action_names", "outcome_names", "prob_tol"}:
            data["exact"] = self.exact
        return ContractProblem(**data)

    def permuted(self, action_perm: Sequence[int] | None = None,
                 outcome_perm: Sequence[int] | None = None) -> "ContractProblem":
        """Relabel: new action ``k`` is old action ``action_perm[k]`` (likewise outcomes)."""
        ap = np.arange(self.n_actions) if action_perm is None else np.asarray(action_perm)
        op = np.arange(self.n_outcomes) if outcome_perm is None else np.asarray(outcome_perm)
        names_a = tuple(self.action_names[k] for k in ap) if self.action_names else None
        names_o = tuple(self.outcome_names[k] for k in op) if self.outcome_names else None
        return self.replace(outcome_probs=self.outcome_probs[np.ix_(ap, op)], costs=self.costs[ap],
                            rewards=self.rewards[op], action_names=names_a, outcome_names=names_o)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ContractProblem):
            return NotImplemented
        return (np.array_equal(self.outcome_probs, other.outcome_probs)
                and np.array_equal(self.costs, other.costs)
                and np.array_equal(self.rewards, other.rewards)
                and self.action_names == other.action_names
                and self.outcome_names == other.outcome_names)

    __hash__ = None  # mutable-looking arrays inside: not hashable by design
