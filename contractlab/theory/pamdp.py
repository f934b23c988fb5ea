"""Principal-agent MDPs (Ivanov, Dütting, Talgam-Cohen, Wang, Parkes, *Principal-Agent
Reinforcement Learning*, arXiv 2407.18074, Section 3).

At state ``s`` the principal offers a contract ``b: outcomes -> R>=0``; the agent, who sees
the contract, takes a hidden action ``a`` and gets ``r(s, a)`` (an effort cost is a negative
reward); an outcome ``o ~ O(s, a)`` is drawn, the principal gets ``r_p(s, o)`` and pays
``b(o)``; the state moves to ``next_state[s][o]`` (``-1``: the episode ends) or is drawn
from ``transitions[s][o]`` (a row of zeros: the episode ends). Both discount by ``γ``.

Validation and the state graph are built to stay cheap on millions of states: rows are checked
in blocks, an instance whose successors all come after their states (trees in breadth-first
order, DAGs in topological order) is proven acyclic by one pass, and the levels for backward
induction are computed when first asked for (:meth:`PrincipalAgentMDP.level_rows`), as ranges
of states where they are ranges.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field

import numpy as np

from .budget import check_memory
from .errors import InvalidInstanceError
from .validation import PROB_SUM_TOL, _frozen, as_float_array, check_probability_rows

#: The validation of probability rows and the check that successors come after their states
#: go over blocks of rows holding about this many entries, so that their temporaries stay small
#: next to the instance (64 Ki entries: 512 KiB of float64).
_BLOCK_ENTRIES = 1 << 16


def _as_int_array(name: str, value, ndim: int) -> np.ndarray:
    """A read-only int64 array; every entry must be an integer (floats like ``2.0`` are refused).

    An int64 array that is immutable already (read-only down to the array owning its data, as
    :func:`~contractlab.theory.validation.as_float_array` takes float64 arrays) is used as is."""
    if isinstance(value, np.ndarray) and value.dtype == np.int64 and value.flags.c_contiguous and _frozen(value):
        arr = value
    elif isinstance(value, np.ndarray) and value.dtype.kind in "iu":
        arr = value.astype(np.int64)
    else:
        floats = as_float_array(name, value, ndim)
        huge = np.argwhere(np.abs(floats) > 2.0**62)
        if huge.size:
            idx = tuple(int(i) for i in huge[0])
            raise InvalidInstanceError(name, f"state index {float(floats[idx]):g} is out of range", idx)
        bad = np.argwhere(floats != np.round(floats))
        if bad.size:
            idx = tuple(int(i) for i in bad[0])
            raise InvalidInstanceError(name, f"expected an integer state index, got {float(floats[idx])!r}", idx)
        if not isinstance(value, np.ndarray) and not _all_ints(value, ndim):
            raise InvalidInstanceError(name, "expected integer state indices (not floats)")
        arr = floats.astype(np.int64)
    if arr.ndim != ndim:
        raise InvalidInstanceError(name, f"expected a {ndim}-d array, got shape {arr.shape}")
    arr.setflags(write=False)
    return arr


def _all_ints(value, ndim: int) -> bool:
    if ndim == 0:
        return isinstance(value, (numbers.Integral, np.integer)) and not isinstance(value, bool)
    return all(_all_ints(v, ndim - 1) for v in value)


@dataclass(frozen=True, eq=False)
class PrincipalAgentMDP:
    """A validated, immutable principal-agent MDP.

    Parameters
    ----------
    outcome_probs:
        ``O``, shape ``(S, A, K)``: the outcome distribution of action ``a`` at state ``s``.
    agent_rewards:
        ``r``, shape ``(S, A)``.
    principal_rewards:
        ``r_p``, shape ``(S, K)``.
    next_state:
        Shape ``(S, K)`` of ints in ``[-1, S)``; ``-1`` ends the episode. Give this or
        ``transitions``.
    transitions:
        Shape ``(S, K, S)``; each row is a distribution over next states, or all zeros (end).
    discount:
        ``γ`` in ``[0, 1]``; ``γ = 1`` needs a finite ``horizon`` or an acyclic graph.
    horizon:
        ``H >= 1`` steps, or ``None`` (the episode ends only at terminal transitions).
    initial_state:
        ``s_0``.
    acyclic:
        ``True`` declares the graph acyclic (a cycle is then an error); ``None`` infers it.
    """

    outcome_probs: np.ndarray
    agent_rewards: np.ndarray
    principal_rewards: np.ndarray
    next_state: np.ndarray | None = None
    transitions: np.ndarray | None = None
    discount: float = 1.0
    horizon: int | None = None
    initial_state: int = 0
    acyclic: bool | None = None
    prob_tol: float = field(default=PROB_SUM_TOL, repr=False)

    def __post_init__(self) -> None:
        O = as_float_array("outcome_probs", self.outcome_probs, 3)
        S, A, K = O.shape
        _check_distributions("outcome_probs", O, self.prob_tol)
        r = as_float_array("agent_rewards", self.agent_rewards, 2)
        if r.shape != (S, A):
            raise InvalidInstanceError("agent_rewards", f"has shape {r.shape}, expected (states, actions) = {(S, A)}")
        rp = as_float_array("principal_rewards", self.principal_rewards, 2)
        if rp.shape != (S, K):
            raise InvalidInstanceError("principal_rewards",
                                       f"has shape {rp.shape}, expected (states, outcomes) = {(S, K)}")
        if (self.next_state is None) == (self.transitions is None):
            raise InvalidInstanceError("next_state", "give exactly one of next_state and transitions")
        ns, T = None, None
        if self.next_state is not None:
            ns = _as_int_array("next_state", self.next_state, 2)
            if ns.shape != (S, K):
                raise InvalidInstanceError("next_state", f"has shape {ns.shape}, expected (states, outcomes) = {(S, K)}")
            if ns.min() < -1 or ns.max() >= S:
                idx = tuple(int(i) for i in np.argwhere((ns < -1) | (ns >= S))[0])
                raise InvalidInstanceError("next_state", f"state {int(ns[idx])} is out of range [-1, {S})", idx)
        else:
            T = as_float_array("transitions", self.transitions, 3)
            if T.shape != (S, K, S):
                raise InvalidInstanceError("transitions", f"has shape {T.shape}, expected {(S, K, S)}")
            _check_distributions("transitions", T, self.prob_tol, may_end=True)
        gamma = self.discount
        if isinstance(gamma, bool) or not isinstance(gamma, (numbers.Real, np.floating)) or not 0.0 <= gamma <= 1.0:
            raise InvalidInstanceError("discount", f"must be a number in [0, 1], got {gamma!r}")
        H = self.horizon
        if H is not None and (isinstance(H, bool) or not isinstance(H, (numbers.Integral, np.integer)) or H < 1):
            raise InvalidInstanceError("horizon", f"must be an integer >= 1 or null, got {H!r}")
        s0 = self.initial_state
        if isinstance(s0, bool) or not isinstance(s0, (numbers.Integral, np.integer)) or not 0 <= s0 < S:
            raise InvalidInstanceError("initial_state", f"must be a state in [0, {S}), got {s0!r}")
        if self.acyclic not in (None, True, False):
            raise InvalidInstanceError("acyclic", f"must be true, false or null, got {self.acyclic!r}")
        for name, value in (("outcome_probs", O), ("agent_rewards", r), ("principal_rewards", rp),
                            ("next_state", ns), ("transitions", T), ("discount", float(gamma)),
                            ("horizon", None if H is None else int(H)), ("initial_state", int(s0))):
            object.__setattr__(self, name, value)
        object.__setattr__(self, "_cache", {})
        needs_dag = self.acyclic is True or (float(gamma) == 1.0 and H is None)
        if needs_dag and not self._forward_only():
            levels, cycle_state = self._levels_or_cycle()
            if levels is None:
                name = "next_state" if ns is not None else "transitions"
                why = ("declared acyclic" if self.acyclic is True
                       else "discount 1 without a horizon needs an acyclic graph")
                raise InvalidInstanceError(name, f"has a cycle through state {cycle_state} ({why})", cycle_state)

    # --- shape -----------------------------------------------------------------------

    @property
    def n_states(self) -> int:
        return self.outcome_probs.shape[0]

    @property
    def n_actions(self) -> int:
        return self.outcome_probs.shape[1]

    @property
    def n_outcomes(self) -> int:
        return self.outcome_probs.shape[2]

    @property
    def deterministic(self) -> bool:
        """``True`` when the next state is a function of (state, outcome)."""
        return self.next_state is not None

    # --- graph ------------------------------------------------------------------------

    def successor_matrix(self) -> np.ndarray:
        """``P[s, k, s']``: probability of moving to ``s'`` after outcome ``k`` at ``s`` (dense)."""
        if self.transitions is not None:
            return self.transitions
        S, K = self.n_states, self.n_outcomes
        check_memory("next_state", 8.0 * S * K * S, "the dense successor matrix of this instance")
        P = np.zeros((S, K, S))
        s, k = np.nonzero(self.next_state >= 0)
        P[s, k, self.next_state[s, k]] = 1.0
        return P

    def _edges(self) -> tuple[np.ndarray, np.ndarray]:
        """Arrays ``(src, dst)`` of the state graph's edges (with multiplicity over outcomes)."""
        if self.next_state is not None:
            s, k = np.nonzero(self.next_state >= 0)
            return s, self.next_state[s, k]
        s, k, d = np.nonzero(self.transitions > 0)
        return s, d

    def _forward_only(self) -> bool:
        """``True`` when every deterministic successor has a larger index than its state (as in
        the trees and DAGs of :mod:`~contractlab.theory.pamdp_families`, stored in breadth-first
        or topological order): such a graph is acyclic, which one pass over ``next_state``
        proves without peeling its levels. ``False`` for stochastic ``transitions``."""
        cache = self._cache
        if "forward" not in cache:
            cache["forward"] = self.next_state is not None and _successors_after(self.next_state)
        return cache["forward"]

    def _levels_or_cycle(self) -> tuple[list | None, int | None]:
        cache = self._cache
        if "levels" not in cache:
            levels = _forward_levels(self.next_state) if self._forward_only() else None
            if levels is not None:
                cache["levels"] = levels, None
            elif self.next_state is not None:
                cache["levels"] = _peel_levels(*_deterministic_predecessors(self.next_state),
                                               successors=lambda s: _live(self.next_state[s]))
            else:
                T = self.transitions
                cache["levels"] = _peel_levels(*_stochastic_predecessors(T),
                                               successors=lambda s: np.nonzero(T[s] > 0)[1])
        return cache["levels"]

    @property
    def is_acyclic(self) -> bool:
        return self._forward_only() or self._levels_or_cycle()[0] is not None

    def level_rows(self) -> list:
        """:meth:`levels` with every level that is a contiguous range of states given as a
        ``slice`` (indexing with it copies nothing): all levels of a tree stored in breadth-first
        order. The other levels are read-only index arrays. Raises if the graph has a cycle."""
        levels, cycle_state = self._levels_or_cycle()
        if levels is None:
            raise InvalidInstanceError("next_state" if self.deterministic else "transitions",
                                       f"has a cycle through state {cycle_state}", cycle_state)
        return list(levels)

    def levels(self) -> list[np.ndarray]:
        """States grouped for backward induction: level 0 has only terminal successors, level
        ``k`` only successors in levels ``< k`` (each level in increasing state index). Raises if
        the graph has a cycle."""
        return [np.arange(lv.start, lv.stop) if isinstance(lv, slice) else lv for lv in self.level_rows()]

    def reachable(self) -> np.ndarray:
        """Boolean mask of the states reachable from ``initial_state``."""
        src, dst = self._edges()
        order = np.argsort(src, kind="stable")
        starts = np.searchsorted(src[order], np.arange(self.n_states + 1))
        seen = np.zeros(self.n_states, dtype=bool)
        frontier = np.array([self.initial_state])
        seen[frontier] = True
        while frontier.size:
            nxt = np.unique(dst[order][_ranges(starts[frontier], starts[frontier + 1])])
            frontier = nxt[~seen[nxt]]
            seen[frontier] = True
        return seen

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PrincipalAgentMDP):
            return NotImplemented

        def same(a, b):
            return (a is None and b is None) or (a is not None and b is not None and np.array_equal(a, b))

        return (same(self.outcome_probs, other.outcome_probs) and same(self.agent_rewards, other.agent_rewards)
                and same(self.principal_rewards, other.principal_rewards)
                and same(self.next_state, other.next_state) and same(self.transitions, other.transitions)
                and self.discount == other.discount and self.horizon == other.horizon
                and self.initial_state == other.initial_state and self.acyclic == other.acyclic)

    __hash__ = None


def horizon_bytes(horizon: int, n_states: int, per_entry: int) -> float:
    """``horizon · n_states · per_entry``: the bytes of time-indexed ``(H, S, …)`` arrays with
    ``per_entry`` bytes per step and state, as a float, for
    :func:`~contractlab.theory.budget.check_memory` before such arrays are allocated. Converting
    an integer horizon beyond the float range would raise ``OverflowError``: such a horizon
    counts as ``2^1000`` (the estimate may then be ``inf``, which is refused all the same)."""
    return float(min(horizon, 2**1000)) * n_states * per_entry


def _ranges(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Concatenation of ``arange(starts[i], ends[i])`` without a Python loop."""
    lengths = ends - starts
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offsets = np.repeat(starts - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
    return np.arange(total) + offsets


def _blocks(n_rows: int, row_entries: int):
    """``(lo, hi)`` bounds of consecutive blocks of rows with about :data:`_BLOCK_ENTRIES` entries."""
    step = max(1, _BLOCK_ENTRIES // max(1, row_entries))
    return ((lo, min(n_rows, lo + step)) for lo in range(0, n_rows, step))


def _check_distributions(field: str, probs: np.ndarray, tol: float, may_end: bool = False) -> None:
    """Every entry ``>= 0`` and every row (last axis) sums to 1 within ``tol`` (or, with
    ``may_end``, to exactly 0: the episode ends). Blocks of rows are checked so that no
    temporary is larger than a block; at the first bad entry the whole-array check runs and
    raises the same error (naming the first bad index) as it always did."""
    rows = probs.reshape(-1, probs.shape[-1])
    ok = not rows.size or rows.min() >= 0
    for lo, hi in _blocks(len(rows), rows.shape[1]) if ok else ():
        sums = rows[lo:hi].sum(axis=1)
        off = np.abs(sums - 1.0) > tol
        if may_end:
            off &= sums != 0.0
        if off.any():
            ok = False
            break
    if ok:
        return
    if not may_end:
        check_probability_rows(field, probs, tol)
        return
    neg = np.argwhere(probs < 0)
    if neg.size:
        idx = tuple(int(i) for i in neg[0])
        raise InvalidInstanceError(field, f"probability {float(probs[idx])!r} is negative", idx)
    sums = probs.sum(axis=-1)
    off = np.argwhere((np.abs(sums - 1.0) > tol) & (sums != 0.0))
    idx = tuple(int(i) for i in off[0])
    raise InvalidInstanceError(field, f"row sums to {float(sums[idx])!r}, not 1 (or 0 to end)", idx)


def _successors_after(ns: np.ndarray) -> bool:
    """Whether ``ns[s, k] > s`` for every outcome that does not end the episode (``-1``)."""
    S, K = ns.shape
    for lo, hi in _blocks(S, K):
        block = ns[lo:hi]
        if not ((block > np.arange(lo, hi)[:, None]) | (block < 0)).all():
            return False
    return True


def _live(successors: np.ndarray) -> np.ndarray:
    return successors[successors >= 0]


def _forward_levels(ns: np.ndarray) -> list | None:
    """The levels of a graph whose successors all have larger indices (:func:`_successors_after`)
    from its heights, without predecessor lists: going down from the last state, a block of
    states ``[lo, hi)`` whose successors all lie at ``>= hi`` (or end the episode) gets its
    heights ``1 + max height(successor)`` (0 without successors) in one vectorised step, ``lo``
    being one past the last state below ``hi`` with a successor below ``hi``. On a tree in
    breadth-first order these blocks are its levels. ``None`` when the blocks get small (many
    states have a successor close above them): peeling (:func:`_peel_levels`) is faster there.

    Returns the same levels as :func:`_peel_levels` (the height of a state is the step at which
    peeling removes it), in increasing state index, as slices where they are ranges.
    """
    S, K = ns.shape
    as_unsigned = ns.view(np.uint64)                          # an end (-1) becomes 2^64 - 1: above all states
    first_successor = as_unsigned[:, 0].copy()
    for k in range(1, K):
        np.minimum(first_successor, as_unsigned[:, k], out=first_successor)
    height = np.empty(S, dtype=np.int64)
    hi, blocks = S, 0
    while hi > 0:
        lo = _block_start(first_successor, hi)
        blocks += 1
        if blocks > 64 and S - lo < 256 * blocks:
            return None
        best = np.full(hi - lo, -1, dtype=np.int64)
        for k in range(K):
            succ = ns[lo:hi, k]
            if succ.max() < 0:                                 # all end the episode
                continue
            reached = np.take(height, succ)                    # height[-1] is read for ends ...
            if succ.min() < 0:
                reached[succ < 0] = -1                         # ... and replaced
            np.maximum(best, reached, out=best)
        np.add(best, 1, out=height[lo:hi])
        hi = lo
    counts = np.bincount(height)
    if S == 1 or bool((height[:-1] >= height[1:]).all()):   # level h is one range, below level h - 1
        ends = S - np.concatenate(([0], np.cumsum(counts)))
        return [slice(int(ends[h + 1]), int(ends[h])) for h in range(len(counts))]
    order = np.argsort(height, kind="stable")
    bounds = np.concatenate(([0], np.cumsum(counts)))
    return [_contiguous(order[bounds[h]:bounds[h + 1]]) for h in range(len(counts))]


def _block_start(first_successor: np.ndarray, hi: int) -> int:
    """One past the last state below ``hi`` whose first successor (``uint64``) is below ``hi`` (0 if none),
    searched in windows growing from ``hi`` downwards (so the work is about the block's size)."""
    width = 64
    while True:
        lo = max(0, hi - width)
        below = np.flatnonzero(first_successor[lo:hi] < np.uint64(hi))
        if below.size:
            return lo + int(below[-1]) + 1
        if lo == 0:
            return 0
        width *= 4


def _deterministic_predecessors(ns: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(out_degree, pred, starts)`` of the graph of ``next_state``: the predecessors of ``s``
    (one per edge, increasing) are ``pred[starts[s]:starts[s + 1]]``. Edge ``e`` of the flat
    ``next_state`` leaves state ``e // K``, so the edges need not be listed first."""
    S, K = ns.shape
    flat = ns.reshape(-1)
    if K <= 8:                                      # a sum of columns beats a reduction over short rows
        out_deg = np.zeros(S, dtype=np.int64)
        for k in range(K):
            out_deg += ns[:, k] >= 0
    else:
        out_deg = np.count_nonzero(ns >= 0, axis=1)
    pred = np.argsort(flat, kind="stable")          # grouped by destination, ends (-1) first
    n_end = flat.size - int(out_deg.sum())
    edges = pred[n_end:]                            # the ends are never read (starts[0] = n_end)
    in_deg = np.bincount(flat[edges], minlength=S)
    np.floor_divide(edges, K, out=edges)
    return out_deg, pred, _starts(in_deg, n_end)


def _stochastic_predecessors(T: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """As :func:`_deterministic_predecessors`, for the edges ``T[s, k, d] > 0``."""
    S = T.shape[0]
    src, _, dst = np.nonzero(T > 0)
    order = np.argsort(dst, kind="stable")
    return np.bincount(src, minlength=S), src[order], _starts(np.bincount(dst, minlength=S), 0)


def _starts(in_deg: np.ndarray, first: int) -> np.ndarray:
    starts = np.empty(len(in_deg) + 1, dtype=np.int64)
    starts[0] = first
    np.cumsum(in_deg, out=starts[1:])
    starts[1:] += first
    return starts


def _contiguous(level: np.ndarray):
    """``slice(lo, hi)`` for an increasing level of distinct states that is a range, else the
    level itself (read-only)."""
    if level[-1] - level[0] == level.size - 1:
        return slice(int(level[0]), int(level[-1]) + 1)
    level.setflags(write=False)
    return level


def _peel_levels(out_deg: np.ndarray, pred: np.ndarray, starts: np.ndarray, successors
                 ) -> tuple[list | None, int | None]:
    """Kahn's algorithm, one vectorised step per level (topological order by height).

    ``out_deg``, ``pred`` and ``starts`` are the out-degrees and the predecessor lists (see
    :func:`_deterministic_predecessors`); ``successors(s)`` lists the successors of ``s`` in a
    fixed order (for the cycle walk). Returns ``(levels, None)`` for an acyclic graph, every level
    in increasing state index as a ``slice`` when it is a range of states (see
    :func:`_contiguous`), and ``(None, state_on_a_cycle)`` otherwise. Work is ``O(S + E)`` plus
    a sort of each level's predecessors (already in order for a breadth-first tree).
    """
    n = len(out_deg)
    remaining = out_deg.copy()
    frontier = np.flatnonzero(out_deg == 0)
    levels: list = []
    done = 0
    while frontier.size:
        level = _contiguous(frontier)
        levels.append(level)
        done += frontier.size
        if isinstance(level, slice):                   # its predecessors are one run of `pred`
            preds = pred[starts[level.start]:starts[level.stop]]
        else:
            preds = pred[_ranges(starts[frontier], starts[frontier + 1])]
        if preds.size == 0:
            break
        np.subtract.at(remaining, preds, 1)
        ready = preds[remaining[preds] == 0]           # a state with several edges into the level repeats
        ready.sort(kind="stable")
        first = np.ones(ready.size, dtype=bool)
        np.not_equal(ready[1:], ready[:-1], out=first[1:])
        frontier = ready[first]
    if done == n:
        return levels, None
    # Every state left has a successor that is left too: walk until a state repeats.
    left = np.ones(n, dtype=bool)
    for level in levels:
        left[level] = False
    s = int(np.flatnonzero(left)[0])
    seen: dict[int, int] = {}
    while s not in seen:
        seen[s] = len(seen)
        succ = successors(s)
        s = int(succ[left[succ]][0])
    return None, s


# --- file format ------------------------------------------------------------------------

def _pamdp_from_dict(data: dict) -> PrincipalAgentMDP:
    from .fileio import require_fields
    allowed = {"kind", "version", "outcome_probs", "next_state", "transitions", "agent_rewards",
               "principal_rewards", "discount", "horizon", "initial_state", "acyclic"}
    require_fields(data, ("outcome_probs", "agent_rewards", "principal_rewards", "discount"), allowed)
    return PrincipalAgentMDP(outcome_probs=data["outcome_probs"], agent_rewards=data["agent_rewards"],
                             principal_rewards=data["principal_rewards"], next_state=data.get("next_state"),
                             transitions=data.get("transitions"), discount=data["discount"],
                             horizon=data.get("horizon"), initial_state=data.get("initial_state", 0),
                             acyclic=data.get("acyclic"))


#: Fields of a ``pamdp`` file that are arrays (and may sit in the ``.npz`` sibling).
ARRAY_FIELDS = ("outcome_probs", "agent_rewards", "principal_rewards", "next_state", "transitions")


def _pamdp_to_dict(m: PrincipalAgentMDP) -> dict:
    """The ``pamdp`` document with the arrays as they are (``fileio`` lists or ``.npz``-es them)."""
    data = {"kind": "pamdp", "version": 1, "outcome_probs": m.outcome_probs, "agent_rewards": m.agent_rewards,
            "principal_rewards": m.principal_rewards, "discount": m.discount, "horizon": m.horizon,
            "initial_state": m.initial_state}
    if m.next_state is not None:
        data["next_state"] = m.next_state
    else:
        data["transitions"] = m.transitions
    if m.acyclic is not None:
        data["acyclic"] = m.acyclic
    return data


def _register() -> None:
    from .fileio import FileKind, register_kind
    register_kind(FileKind("pamdp", 1, PrincipalAgentMDP, _pamdp_from_dict, _pamdp_to_dict,
                           array_fields=ARRAY_FIELDS))


_register()
