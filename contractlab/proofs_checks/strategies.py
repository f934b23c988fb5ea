"""Hypothesis strategies that draw contract problems for the theorem registry.

Entries are drawn on a grid (probability weights are small integers, costs and rewards
are multiples of 1/8) half of the time and from continuous ranges the other half: the grid
produces the ties, duplicated actions and zero probabilities that break careless solvers,
the continuous draws produce generic instances.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from ..theory.contract_problem import ContractProblem

MAX_ACTIONS = 5
MAX_OUTCOMES = 5


def _prob_rows(n: int, m: int) -> st.SearchStrategy[np.ndarray]:
    grid = st.lists(st.lists(st.integers(0, 6), min_size=m, max_size=m).filter(lambda w: sum(w) > 0),
                    min_size=n, max_size=n).map(lambda w: np.array(w, dtype=float))
    cont = st.lists(st.lists(st.floats(0.01, 1.0), min_size=m, max_size=m), min_size=n, max_size=n).map(np.array)
    return st.one_of(grid, cont).map(lambda w: w / w.sum(axis=1, keepdims=True))


def _values(k: int, low: float, high: float) -> st.SearchStrategy[np.ndarray]:
    grid = st.lists(st.integers(int(low * 8), int(high * 8)), min_size=k, max_size=k).map(lambda v: np.array(v) / 8.0)
    # Continuous values are rounded to 1e-6 so that distinct values differ by far more than the
    # solvers' tolerances; sub-tolerance differences are the degenerate suite's job, not this one's.
    cont = st.lists(st.floats(low, high), min_size=k, max_size=k).map(lambda v: np.round(np.array(v), 6))
    return st.one_of(grid, cont)


@st.composite
def contract_problems(draw, min_actions: int = 1, max_actions: int = MAX_ACTIONS, min_outcomes: int = 1,
                      max_outcomes: int = MAX_OUTCOMES, max_cost: float = 4.0, max_reward: float = 8.0,
                      ) -> ContractProblem:
    """Valid :class:`ContractProblem` instances with costs in [0, max_cost] and rewards in [0, max_reward]."""
    n = draw(st.integers(min_actions, max_actions))
    m = draw(st.integers(min_outcomes, max_outcomes))
    F = draw(_prob_rows(n, m))
    c = draw(_values(n, 0.0, max_cost))
    r = draw(_values(m, 0.0, max_reward))
    return ContractProblem(F, c, r)


@st.composite
def mlrp_problems(draw, min_actions: int = 2, max_actions: int = MAX_ACTIONS, min_outcomes: int = 2,
                  max_outcomes: int = MAX_OUTCOMES) -> ContractProblem:
    """Problems whose actions satisfy the monotone likelihood ratio property in index order.

    ``F_ij ∝ exp(θ_i s_j)`` with increasing ``θ`` and ``s`` (an exponential family, so
    ``F_{i'j} / F_{ij}`` is non-decreasing in ``j`` for ``i' > i``); costs increase with ``i``.
    """
    n = draw(st.integers(min_actions, max_actions))
    m = draw(st.integers(min_outcomes, max_outcomes))
    theta = np.cumsum(draw(st.lists(st.floats(0.05, 1.5), min_size=n, max_size=n)))
    s = np.cumsum(draw(st.lists(st.floats(0.05, 1.5), min_size=m, max_size=m)))
    base = np.array(draw(st.lists(st.floats(0.2, 1.0), min_size=m, max_size=m)))
    logits = theta[:, None] * s[None, :] + np.log(base)[None, :]
    F = np.exp(logits - logits.max(axis=1, keepdims=True))
    F /= F.sum(axis=1, keepdims=True)
    c = np.cumsum(draw(st.lists(st.floats(0.0, 1.0), min_size=n, max_size=n)))
    r = np.sort(np.array(draw(st.lists(st.floats(0.0, 8.0), min_size=m, max_size=m))))
    return ContractProblem(F, c, r)


def random_problem(rng: np.random.Generator, n: int, m: int, max_cost: float = 1.0,
                   max_reward: float = 3.0) -> ContractProblem:
    """A generic random problem from a numpy ``Generator`` (Dirichlet rows, uniform costs/rewards)."""
    F = rng.dirichlet(np.ones(m), size=n)
    return ContractProblem(F, rng.uniform(0, max_cost, n), rng.uniform(0, max_reward, m))
