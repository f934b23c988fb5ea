"""Min-pay contracts on a learned truncated ``Q̄`` with a nudging margin ``ξ``.

At a state ``s`` with the agent's truncated values ``Q̄(s, ·)`` (Ivanov et al., arXiv
2407.18074, Section 3: the agent's Q-value without this step's payment), the contract that
implements the recommended action ``a`` at least cost is MIN-PAY with costs ``c = −Q̄(s, ·)``.
The nudged version (Section 5 / Appendix D of the paper) asks every IC constraint to hold with
margin ``ξ >= 0``:

    O(s, a)·b + Q̄(s, a) >= O(s, a')·b + Q̄(s, a') + ξ     for all a' != a,   b >= 0,

which is MIN-PAY with ``c_a`` raised by ``ξ``. If the true ``Q̄`` differs from the learned one
by at most ``E`` in sup-norm, ``ξ = 2E`` makes ``a`` a strict best response of the true agent.
"""

from __future__ import annotations

import numpy as np

from ..solvers.min_pay_vertex import MinPayArrays, min_pay_batch
from ..theory.errors import InvalidInstanceError


def nudged_min_pay(outcome_probs, agent_q, actions, margin: float = 0.0, method: str = "auto",
                   backend: str = "highs") -> MinPayArrays:
    """MIN-PAY of ``actions[i]`` at problem ``i`` with IC margin ``margin`` (one batched call).

    Parameters
    ----------
    outcome_probs:
        ``(B, A, K)``: ``O(s_i, ·)`` of each problem.
    agent_q:
        ``(B, A)``: the (learned) truncated ``Q̄(s_i, ·)``.
    actions:
        ``(B,)`` recommended actions.
    margin:
        ``ξ >= 0``.
    method, backend:
        As :func:`contractlab.solvers.min_pay_vertex.min_pay_batch`.

    Returns
    -------
    MinPayArrays
        ``ic_slacks`` are measured against the raised cost, so they are ``>= 0`` when every IC
        constraint holds with margin ``ξ``.
    """
    margin = float(margin)
    if not np.isfinite(margin) or margin < 0:
        raise InvalidInstanceError("margin", f"must be a finite number >= 0, got {margin!r}")
    q = np.asarray(agent_q, dtype=np.float64)
    if q.ndim != 2:
        raise InvalidInstanceError("agent_q", f"expected shape (problems, actions), got {q.shape}")
    bad = np.argwhere(~np.isfinite(q))
    if bad.size:
        raise InvalidInstanceError("agent_q", "value is not finite", tuple(int(i) for i in bad[0]))
    actions = np.asarray(actions, dtype=np.int64)
    c = -q
    if margin and actions.shape == (len(c),) and ((actions >= 0) & (actions < c.shape[1])).all():
        c = c.copy()
        c[np.arange(len(c)), actions] += margin
    return min_pay_batch(outcome_probs, c, actions, method=method, backend=backend)
