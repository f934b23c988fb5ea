"""Hypothesis strategies that draw *hostile* contract problems (issue 4).

:mod:`.strategies` draws well-conditioned instances for the theorem registry. The strategies
here aim at the cases that break careless solvers and careless validation:

- duplicated actions (identical rows, equal or different costs);
- actions that are exact convex combinations of other actions, with cost equal to the
  combination's cost, lower (the action is the cheap one) or higher (it cannot be
  implemented), by a margin that ranges from ``0`` and ``1e-12`` to ``O(1)``;
- probabilities of exactly ``0`` and of ``1e-12``;
- costs and rewards whose magnitudes span ``1e-9`` to ``1e9``;
- a single action, a single outcome, all-zero rewards, and ties everywhere (all costs equal,
  all rewards equal, all rows equal).

Every row of ``F`` is renormalised after it is built, so it sums to one within ``1e-9``
(the :class:`~contractlab.theory.ContractProblem` tolerance): the instances are *valid*, just
nasty. Sizes stay small (``n, m <= 5`` by default) so that every solver answers quickly.

``hostile_cases()`` draws ``(label, problem)`` pairs; the label names the constructions that
were applied, so that a failing example says what kind of instance it is.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from ..theory.contract_problem import ContractProblem

MAX_ACTIONS = 5
MAX_OUTCOMES = 5

#: Magnitudes used for costs and rewards (the brief: 1e-9 .. 1e9).
MAGNITUDES = (0.0, 1e-9, 1e-6, 1e-3, 1.0, 1e3, 1e6, 1e9)

#: Tiny probabilities (besides exact zeros).
TINY_PROBS = (1e-12, 1e-9)

#: Cost margins for convex-combination actions: the action costs ``combination cost + margin``.
COST_MARGINS = (0.0, 1e-12, -1e-12, 1e-6, -1e-6, 0.5, -0.5)


def _renormalise(F: np.ndarray) -> np.ndarray:
    """Rows that sum to one (an all-zero row becomes a point mass on outcome 0)."""
    F = np.array(F, dtype=float)
    zero = F.sum(axis=1) <= 0
    F[zero, 0] = 1.0
    F = F / F.sum(axis=1, keepdims=True)
    return F


def _magnitude_values(k: int) -> st.SearchStrategy[np.ndarray]:
    """``k`` non-negative values spanning 0 and 1e-9 .. 1e9 (grid or log-uniform)."""
    grid = st.lists(st.tuples(st.sampled_from(MAGNITUDES), st.integers(0, 3)), min_size=k, max_size=k).map(
        lambda v: np.array([mag * mult for mag, mult in v], dtype=float))
    logu = st.lists(st.floats(-9.0, 9.0), min_size=k, max_size=k).map(lambda e: 10.0 ** np.array(e))
    small = st.lists(st.integers(0, 4), min_size=k, max_size=k).map(lambda v: np.array(v, dtype=float) / 2)
    return st.one_of(small, grid, logu)


def _prob_matrix(n: int, m: int) -> st.SearchStrategy[np.ndarray]:
    """Rows with small integer weights (many exact zeros and ties) or tiny entries."""
    weights = st.lists(st.lists(st.sampled_from((0.0, 0.0, 1.0, 1.0, 2.0, 3.0) + TINY_PROBS),
                                min_size=m, max_size=m), min_size=n, max_size=n)
    cont = st.lists(st.lists(st.floats(0.0, 1.0), min_size=m, max_size=m), min_size=n, max_size=n)
    return st.one_of(weights, cont).map(_renormalise)


@st.composite
def _convex_combination_action(draw, F: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, float, str]:
    """A new row that is a convex combination of existing rows, with a cost near the combination's."""
    n = F.shape[0]
    w = np.array(draw(st.lists(st.sampled_from((0.0, 1.0, 1.0, 2.0, 3.0)), min_size=n, max_size=n)), dtype=float)
    if w.sum() == 0:
        w[draw(st.integers(0, n - 1))] = 1.0
    lam = w / w.sum()
    row = lam @ F
    row = row / row.sum()
    margin = draw(st.sampled_from(COST_MARGINS))
    scale = max(1.0, float(np.abs(c).max()))
    cost = max(0.0, float(lam @ c) + margin * (scale if abs(margin) >= 0.5 else 1.0))
    kind = "equal" if margin == 0 else ("higher" if margin > 0 else "lower")
    return row, cost, f"convex_combination({kind} cost, margin {margin:g})"


@st.composite
def hostile_cases(draw, max_actions: int = MAX_ACTIONS, max_outcomes: int = MAX_OUTCOMES
                  ) -> tuple[str, ContractProblem]:
    """``(label, problem)``: a valid but degenerate :class:`ContractProblem` and how it was built."""
    labels: list[str] = []
    shape = draw(st.sampled_from(("general", "general", "general", "single_action", "single_outcome")))
    n = 1 if shape == "single_action" else draw(st.integers(1, max(1, max_actions - 2)))
    m = 1 if shape == "single_outcome" else draw(st.integers(1, max_outcomes))
    if shape != "general":
        labels.append(shape)
    F = draw(_prob_matrix(n, m))
    c = draw(_magnitude_values(n))
    r = draw(_magnitude_values(m))

    # Add up to two derived actions (duplicates or convex combinations), unless single_action.
    extra = 0 if shape == "single_action" else draw(st.integers(0, min(2, max_actions - n)))
    for _ in range(extra):
        how = draw(st.sampled_from(("duplicate", "duplicate_cheaper", "convex")))
        if how.startswith("duplicate"):
            k = draw(st.integers(0, F.shape[0] - 1))
            row, cost = F[k].copy(), float(c[k])
            if how == "duplicate_cheaper":
                cost = cost * draw(st.sampled_from((0.0, 0.5, 1.0 - 1e-12)))
            labels.append(f"{how}(of {k})")
        else:
            row, cost, label = draw(_convex_combination_action(F, c))
            labels.append(label)
        at = draw(st.integers(0, F.shape[0]))
        F = np.insert(F, at, row, axis=0)
        c = np.insert(c, at, cost)

    # Extra degeneracies, each with some probability.
    if draw(st.booleans()) and draw(st.booleans()):
        r = np.zeros_like(r)
        labels.append("zero_rewards")
    if draw(st.booleans()) and draw(st.booleans()):
        tie = draw(st.sampled_from(("costs", "rewards", "rows", "all")))
        if tie in ("costs", "all"):
            c = np.full_like(c, c[0])
        if tie in ("rewards", "all"):
            r = np.full_like(r, r[0])
        if tie in ("rows", "all"):
            F = np.repeat(F[:1], F.shape[0], axis=0)
        labels.append(f"ties({tie})")
    if draw(st.booleans()) and draw(st.booleans()) and m > 1:
        # Put a tiny mass (1e-12) or an exact zero into one entry of every row, then renormalise.
        j = draw(st.integers(0, m - 1))
        F = F.copy()
        F[:, j] = draw(st.sampled_from((0.0,) + TINY_PROBS))
        F = _renormalise(F)
        labels.append(f"column {j} tiny")
    F = _renormalise(F)
    return ", ".join(labels) or "generic", ContractProblem(F, c, r)


def hostile_problems(max_actions: int = MAX_ACTIONS, max_outcomes: int = MAX_OUTCOMES
                     ) -> st.SearchStrategy[ContractProblem]:
    """Valid but degenerate :class:`ContractProblem` instances (see the module docstring)."""
    return hostile_cases(max_actions, max_outcomes).map(lambda case: case[1])


def problem_repr(p: ContractProblem) -> str:
    """A copy-pasteable constructor call that rebuilds ``p`` bit for bit."""
    return (f"ContractProblem(outcome_probs={p.outcome_probs.tolist()!r}, costs={p.costs.tolist()!r}, "
            f"rewards={p.rewards.tolist()!r})")


__all__ = ["hostile_cases", "hostile_problems", "problem_repr", "MAGNITUDES", "TINY_PROBS", "COST_MARGINS"]
