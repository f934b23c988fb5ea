"""Instance families of principal-agent MDPs (generators of random instances).

Every generator takes a ``seed`` (or a ``numpy.random.Generator``) and is reproducible bit
for bit. Trees are stored in breadth-first order, so the children of a state have larger
indices than the state itself.

Sizes are checked against the memory budget (:func:`contractlab.theory.budget.check_memory`,
``--max-memory`` / ``CONTRACTLAB_MAX_MEMORY``) before anything is allocated: the estimate is
:data:`PEAK_FACTOR` times the bytes of the instance's arrays (the random draws, their validated
copies and the temporaries of the draws and of the validation are alive together; measured
peaks are 2.1 to 3.6 times the arrays). The sizes are computed with Python integers (or, for
a tree deeper than any budget allows, from logarithms), so no estimate overflows or hangs.
"""

from __future__ import annotations

import math

import numpy as np

from .budget import check_memory, max_memory
from .errors import InvalidInstanceError
from .pamdp import PrincipalAgentMDP
from .validation import echo

#: Peak memory of a generator, in multiples of the bytes of the arrays it returns.
PEAK_FACTOR = 4


def _rng(seed) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InvalidInstanceError("seed", f"must be an integer >= 0 or a numpy Generator, got {echo(seed)}")
    return np.random.default_rng(seed)


def _instance_bytes(S, A: int, K: int, dense: bool) -> float:
    """Bytes of the arrays of an instance with ``S`` states (``O``, ``r``, ``r_p`` and
    ``next_state``, or dense ``transitions``): 8 bytes per entry."""
    return 8.0 * (S * A * K + S * A + S * K + (S * K * S if dense else S * K))


def _check_size(field: str, S, A: int, K: int, dense: bool = False, what: str = "this instance",
                others: dict | None = None) -> None:
    """Refuse an instance whose generation would exceed the memory budget, naming ``field`` or,
    if the instance would fit with it set to 1, the parameter of ``others`` (name -> the sizes
    ``(S, A, K)`` with that parameter set to 1)."""
    need = PEAK_FACTOR * _instance_bytes(S, A, K, dense)
    limit = max_memory()
    if need > limit:
        for name, (S1, A1, K1) in (others or {}).items():
            if PEAK_FACTOR * _instance_bytes(S1, A1, K1, dense) <= limit:
                field = name
                break
    check_memory(field, need, f"generating {what}", budget=limit)


def _tree_states(depth: int, K: int) -> int | float:
    """``(K^depth − 1)/(K − 1)`` states (``depth`` for ``K = 1``); beyond ``2^80``, that number
    as a float (capped at ``2^1000``), so that ``K ** depth`` is never computed for a huge depth
    and the message still says how much it would be."""
    if K == 1:
        return depth
    if depth * math.log2(K) > 80:
        return 2.0 ** min(depth * math.log2(K), 1000.0) / (K - 1)
    return (K ** depth - 1) // (K - 1)


def _check_int(name: str, value, low: int, high: int | None = None) -> int:
    high = 2**62 if high is None else high  # beyond: no budget could hold it (and no int64 index)
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low or value > high:
        bound = f">= {low}" if high == 2**62 else f"in [{low}, {high}]"
        raise InvalidInstanceError(name, f"must be an integer {bound} (at most 2^62), got {echo(value)}"
                                   if high == 2**62 else f"must be an integer {bound}, got {echo(value)}")
    return int(value)


def _model(*arrays, **fields) -> PrincipalAgentMDP:
    """Build the model from arrays this module made and hands over: they are made read-only
    first, so the model takes them without copying (no second copy of a large instance)."""
    for name in ("next_state", "transitions"):
        if isinstance(fields.get(name), np.ndarray):
            fields[name].setflags(write=False)
    for arr in arrays:
        arr.setflags(write=False)
    return PrincipalAgentMDP(*arrays, **fields)


def _random_stage(rng: np.random.Generator, S: int, A: int, K: int):
    """Outcome rows Dirichlet(1), agent rewards −U[0, 1] with action 0 free, principal rewards U[0, 1]."""
    O = rng.dirichlet(np.ones(K), size=(S, A))
    r = -rng.uniform(0.0, 1.0, (S, A))
    r[:, 0] = 0.0
    rp = rng.uniform(0.0, 1.0, (S, K))
    return O, r, rp


def _full_tree_next_state(depth: int, branching: int) -> np.ndarray:
    """``next_state`` of the complete ``branching``-ary tree of ``depth`` decision levels (BFS order)."""
    n = (branching ** depth - 1) // (branching - 1) if branching > 1 else depth
    s = np.arange(n)
    children = branching * s[:, None] + 1 + np.arange(branching)[None, :]
    children[children >= n] = -1
    return children


def binary_game_tree(depth: int, seed=0) -> PrincipalAgentMDP:
    """The random binary game tree of arXiv 2407.18074, Appendix D.1.

    ``2^depth − 1`` decision states; two actions and two outcomes; outcome 0 leads to the left
    child and outcome 1 to the right one (the last level ends the episode);
    ``P(o0|a0) = P(o1|a1) = 0.9``; ``r(s, a0) = 0``, ``r(s, a1) = −u`` with ``v ~ U[0, 1]``,
    ``u ~ U[0, 1 − v]``; ``r_p(s, o0) = 0``, ``r_p(s, o1) = u'`` with ``v' ~ U[0, 2]``,
    ``u' ~ U[0, 2 − v']``; ``γ = 1``.
    """
    depth = _check_int("depth", depth, 1)
    _check_size("depth", _tree_states(depth, 2), 2, 2, what=f"a binary tree of depth {depth}")
    rng = _rng(seed)
    S = 2 ** depth - 1
    O = np.empty((S, 2, 2))
    O[:, 0] = (0.9, 0.1)
    O[:, 1] = (0.1, 0.9)
    v = rng.uniform(0.0, 1.0, S)
    effort = rng.uniform(0.0, 1.0, S) * (1.0 - v)
    vp = rng.uniform(0.0, 2.0, S)
    bonus = rng.uniform(0.0, 1.0, S) * (2.0 - vp)
    r = np.zeros((S, 2))
    r[:, 1] = -effort
    rp = np.zeros((S, 2))
    rp[:, 1] = bonus
    del v, effort, vp, bonus
    return _model(O, r, rp, next_state=_full_tree_next_state(depth, 2), discount=1.0, acyclic=True)


def random_tree(depth: int, n_actions: int = 3, n_outcomes: int = 4, seed=0) -> PrincipalAgentMDP:
    """A complete tree in which each outcome leads to its own child: ``(K^d − 1)/(K − 1)`` states.

    Outcome rows are Dirichlet(1); agent rewards ``−U[0, 1]`` (effort costs) with action 0
    free; principal rewards ``U[0, 1]``; ``γ = 1``.
    """
    depth = _check_int("depth", depth, 1)
    n_actions = _check_int("n_actions", n_actions, 1)
    K = _check_int("n_outcomes", n_outcomes, 1)
    S = _tree_states(depth, K)
    _check_size("depth", S, n_actions, K, what=f"a tree of depth {depth}",
                others={"n_actions": (S, 1, K)})
    O, r, rp = _random_stage(_rng(seed), S, n_actions, K)
    return _model(O, r, rp, next_state=_full_tree_next_state(depth, K), discount=1.0, acyclic=True)


def random_dag(n_states: int, n_actions: int = 2, n_outcomes: int = 2, seed=0) -> PrincipalAgentMDP:
    """A random DAG: outcome ``k`` at state ``s`` leads to a uniformly drawn later state, or ends
    the episode with probability 1/4 (the last state always ends); ``γ = 1``."""
    S = _check_int("n_states", n_states, 1)
    A = _check_int("n_actions", n_actions, 1)
    K = _check_int("n_outcomes", n_outcomes, 1)
    _check_size("n_states", S, A, K, what=f"a DAG of {S} states",
                others={"n_actions": (S, 1, K), "n_outcomes": (S, A, 1)})
    rng = _rng(seed)
    O, r, rp = _random_stage(rng, S, A, K)
    s = np.arange(S)[:, None]
    later = s + 1 + np.floor(rng.uniform(0.0, 1.0, (S, K)) * (S - 1 - s)).astype(np.int64)
    ends = (rng.uniform(0.0, 1.0, (S, K)) < 0.25) | (s == S - 1)
    ns = np.where(ends, -1, later)
    return _model(O, r, rp, next_state=ns, discount=1.0, acyclic=True)


def random_discounted(n_states: int, n_actions: int = 2, n_outcomes: int = 2, discount: float = 0.9,
                      seed=0) -> PrincipalAgentMDP:
    """A random (generally cyclic) discounted PA-MDP with stochastic transitions (Dirichlet rows)."""
    S = _check_int("n_states", n_states, 1)
    A = _check_int("n_actions", n_actions, 1)
    K = _check_int("n_outcomes", n_outcomes, 1)
    if not 0.0 <= discount < 1.0:
        raise InvalidInstanceError("discount", f"must lie in [0, 1) for a cyclic instance, got {discount!r}")
    _check_size("n_states", S, A, K, dense=True, what=f"a discounted instance of {S} states",
                others={"n_actions": (S, 1, K), "n_outcomes": (S, A, 1)})
    rng = _rng(seed)
    O = rng.dirichlet(np.ones(K), size=(S, A))
    T = rng.dirichlet(np.ones(S), size=(S, K))
    r = -rng.uniform(0.0, 1.0, (S, A))
    r[:, 0] = 0.0
    rp = rng.uniform(0.0, 1.0, (S, K))
    return _model(O, r, rp, transitions=T, discount=float(discount))


def contractual_rl(n_states: int, n_actions: int = 2, discount: float = 0.9, seed=0) -> PrincipalAgentMDP:
    """The special case in which the outcome *is* the next state (``K = S``, ``next_state[s][o] = o``)."""
    S = _check_int("n_states", n_states, 1)
    A = _check_int("n_actions", n_actions, 1)
    if not 0.0 <= discount < 1.0:
        raise InvalidInstanceError("discount", f"must lie in [0, 1) for a cyclic instance, got {discount!r}")
    _check_size("n_states", S, A, S, what=f"a contractual RL instance of {S} states",
                others={"n_actions": (S, 1, S)})
    rng = _rng(seed)
    O = rng.dirichlet(np.ones(S), size=(S, A))
    r = -rng.uniform(0.0, 1.0, (S, A))
    r[:, 0] = 0.0
    rp = rng.uniform(0.0, 1.0, (S, S))
    ns = np.broadcast_to(np.arange(S), (S, S)).copy()
    return _model(O, r, rp, next_state=ns, discount=float(discount))


FAMILIES = {"binary_tree": binary_game_tree, "random_tree": random_tree, "random_dag": random_dag,
            "random_discounted": random_discounted, "contractual_rl": contractual_rl}
