"""The agent's best response to a contract, with explicit tie-breaking."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..theory.contract_problem import ContractProblem
from ..theory.errors import InvalidInstanceError
from ..theory.validation import as_float_array

#: Two agent utilities within this distance count as a tie.
TIE_TOL = 1e-9
TIE_BREAKS = ("principal", "adversarial")


@dataclass(frozen=True, eq=False)
class BestResponse:
    """The action the agent takes under ``contract`` and what it gives both parties.

    ``best_set`` lists every action within ``tol`` of the agent's best utility; ``action``
    is the one picked from it by ``tie_break``.
    """

    action: int
    agent_utility: float
    principal_utility: float
    expected_payment: float
    best_set: tuple[int, ...]
    tie_break: str


def agent_best_response(problem: ContractProblem, contract, tie_break: str = "principal",
                        tol: float = TIE_TOL) -> BestResponse:
    """The agent's utility-maximising action under payment vector ``contract``.

    Parameters
    ----------
    contract:
        Payment per outcome, shape ``(m,)``, finite.
    tie_break:
        ``"principal"`` (default, as in ``DESIGN.md``): among the agent's best actions pick the
        one best for the principal; ``"adversarial"``: the one worst for the principal.
        Remaining ties go to the lowest index.
    tol:
        Agent utilities within ``tol`` of the maximum count as tied.
    """
    if tie_break not in TIE_BREAKS:
        raise InvalidInstanceError("tie_break", f"must be one of {TIE_BREAKS}, got {tie_break!r}")
    t = as_float_array("contract", contract, 1)
    if t.shape[0] != problem.n_outcomes:
        raise InvalidInstanceError("contract", f"has length {t.shape[0]}, expected {problem.n_outcomes} (outcomes)")
    pay = problem.outcome_probs @ t
    agent = pay - problem.costs
    principal = problem.expected_rewards - pay
    best = np.flatnonzero(agent >= agent.max() - tol)
    scores = principal[best] if tie_break == "principal" else -principal[best]
    a = int(best[np.argmax(scores)])
    return BestResponse(a, float(agent[a]), float(principal[a]), float(pay[a]), tuple(int(k) for k in best), tie_break)
