"""Instance families: generators of contract problems with known structure."""

from __future__ import annotations

import math

import numpy as np

from .budget import check_memory
from .contract_problem import ContractProblem
from .errors import InvalidInstanceError


def linear_gap_family(n: int, eps: float) -> ContractProblem:
    """``n`` actions on which the best linear contract gets only ``1/(n − (n−1)ε)`` of OPT = FB.

    A version of the lower-bound construction of Dütting, Roughgarden and Talgam-Cohen,
    *Simple versus Optimal Contracts* (EC 2019, Section 4). Action ``i = 1..n`` leads to its
    own outcome for sure (``F = I``), worth ``R_i = ε^{-(i-1)}``; costs are chosen so that the
    agent's switch from ``i−1`` to ``i`` happens at ``α_i = 1 − 1/R_i``, where the principal
    keeps exactly ``(1 − α_i) R_i = 1``: ``c_1 = 0``, ``c_i = c_{i−1} + α_i (R_i − R_{i−1})``.
    Then LIN = 1 while the welfare of action ``i`` is ``i − (i−1)ε``; with ``F = I`` the
    min-pay contract pays exactly the cost, so OPT = FB = ``n − (n−1)ε`` and
    ``OPT/LIN → n`` as ``ε → 0``.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise InvalidInstanceError("n", f"must be an integer >= 1, got {n!r}")
    if not 0 < eps < 1:
        raise InvalidInstanceError("eps", f"must lie in (0, 1), got {eps!r}")
    if (n - 1) * -math.log10(eps) > 300:  # R_n = eps^-(n-1) would overflow (inf, and a RuntimeWarning)
        raise InvalidInstanceError("n", f"eps^-(n-1) = {eps!r}^-{n - 1} is beyond the float range; take a smaller "
                                        "n or a larger eps")
    check_memory("n", 3 * 8.0 * n * n, f"the {n} x {n} outcome matrix of linear_gap_family")
    R = eps ** -np.arange(n, dtype=float)
    alpha = 1.0 - 1.0 / R
    c = np.concatenate([[0.0], np.cumsum(alpha[1:] * np.diff(R))])
    return ContractProblem(np.eye(n), c, R)


def linear_gap_ratio(n: int, eps: float) -> float:
    """The exact ratio OPT/LIN = FB/LIN of :func:`linear_gap_family`: ``n − (n−1)ε``."""
    return n - (n - 1) * eps
