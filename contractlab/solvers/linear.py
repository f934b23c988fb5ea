"""Linear contracts ``t = α r`` and the best one, via the upper envelope of the agent's utilities.

Under ``t = α r`` the agent's utility from action ``i`` is the line ``α R_i − c_i`` in ``α``
(``R_i = F_i · r``) and the principal keeps ``(1 − α) R_i``. The agent's best response is
the upper envelope of the ``n`` lines; it changes at finitely many *critical values* of
``α``, and the principal's utility is decreasing in ``α`` between them, so the best linear
contract sits at a critical value (Dütting, Roughgarden and Talgam-Cohen, *Simple versus
Optimal Contracts*, EC 2019, Section 3 and Lemma 3.1). The envelope is built in
``O(n log n)`` by sorting the lines by slope and one monotone-stack pass.

Limited liability requires ``α >= 0`` and rewards ``r >= 0``; the principal never gains from
``α > 1``, so critical values are reported on ``[0, 1]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..theory.contract_problem import ContractProblem
from ..theory.errors import InvalidInstanceError


@dataclass(frozen=True, eq=False)
class LinearContractResult:
    """The best linear contract and the envelope that produced it.

    Attributes
    ----------
    alpha:
        The optimal share ``α*``.
    action:
        The action induced at ``α*`` (agent ties broken in the principal's favour).
    principal_utility, agent_utility:
        ``(1 − α*) R_a`` and ``α* R_a − c_a``.
    critical_values:
        Increasing, starting at ``0``: the ``α`` in ``[0, 1]`` at which the best response changes.
    induced_actions:
        The action induced at each critical value.
    principal_utilities:
        The principal's utility at each critical value.
    contract:
        The payment vector ``α* r``.
    """

    alpha: float
    action: int
    principal_utility: float
    agent_utility: float
    critical_values: np.ndarray
    induced_actions: np.ndarray
    principal_utilities: np.ndarray
    contract: np.ndarray


def upper_envelope(slopes: np.ndarray, intercepts: np.ndarray) -> np.ndarray:
    """Indices of the lines on the upper envelope of ``slope·α + intercept`` over ``α >= 0``.

    Returned in increasing order of slope, which is the order in which they are the maximum
    as ``α`` grows. Among lines with equal slope and intercept the lowest index is kept.
    """
    order = np.lexsort((np.arange(len(slopes)), -intercepts, slopes))  # slope asc, intercept desc, index asc
    # For equal slopes only the first (highest intercept) can be on the envelope.
    keep = np.ones(len(order), dtype=bool)
    keep[1:] = slopes[order[1:]] != slopes[order[:-1]]
    order = order[keep]
    # Start at α = 0 with the line of highest intercept (highest slope among those tied).
    top = intercepts[order].max()
    start = np.flatnonzero(intercepts[order] == top)[-1]
    hull: list[int] = []
    for k in order[start:]:
        while hull:
            a = hull[-1]
            x_ak = _crossing(slopes, intercepts, a, k)
            if len(hull) >= 2 and x_ak <= _crossing(slopes, intercepts, hull[-2], a):
                hull.pop()  # ``a`` is never strictly on top
            elif len(hull) == 1 and x_ak <= 0.0:
                hull.pop()  # ``k`` already beats ``a`` at α = 0 — only possible if ``a`` ties there
            else:
                break
        hull.append(int(k))
    return np.array(hull, dtype=int)


def _crossing(slopes, intercepts, a, b) -> float:
    """The ``α`` at which line ``b`` (larger slope) overtakes line ``a`` (``inf`` if beyond floats)."""
    with np.errstate(over="ignore", divide="ignore"):
        return float((intercepts[a] - intercepts[b]) / (slopes[b] - slopes[a]))


def best_linear_contract(problem: ContractProblem) -> LinearContractResult:
    """The principal's best linear contract ``t = α* r`` (EC 2019, Section 3).

    Raises
    ------
    InvalidInstanceError
        If some reward is negative (then ``α r`` violates limited liability).
    """
    neg = np.flatnonzero(problem.rewards < 0)
    if neg.size:
        raise InvalidInstanceError("rewards", "linear contracts need non-negative rewards (limited liability)",
                                   int(neg[0]))
    R, c = problem.expected_rewards, problem.costs
    hull = upper_envelope(R, -c)
    alphas = np.array([0.0] + [_crossing(R, -c, a, b) for a, b in zip(hull[:-1], hull[1:])])
    inside = alphas <= 1.0
    alphas, actions = alphas[inside], hull[inside]
    # At a critical value the agent is indifferent between the segments on either side (and any
    # line through that point); the tie goes to the principal, who for α <= 1 prefers the largest
    # R, i.e. the highest slope among the tied lines: the segment on the right, which is the
    # envelope line listed at that critical value. At α = 0 the envelope starts with the
    # highest-R line among the cheapest actions. So the envelope order already breaks ties.
    utilities = (1.0 - alphas) * R[actions]
    best = int(np.argmax(utilities))
    a = int(actions[best])
    alpha = float(alphas[best])
    contract = alpha * problem.rewards
    for arr in (alphas, actions, utilities, contract):
        arr.setflags(write=False)
    return LinearContractResult(alpha, a, float(utilities[best]), float(alpha * R[a] - c[a]), alphas, actions,
                                utilities, contract)


def linear_contract(problem: ContractProblem, alpha: float) -> np.ndarray:
    """The payment vector ``α r`` of the linear contract with share ``alpha >= 0``."""
    if not np.isfinite(alpha) or alpha < 0:
        raise InvalidInstanceError("alpha", f"must be finite and >= 0, got {alpha!r}")
    return alpha * problem.rewards
