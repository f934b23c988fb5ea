"""Principal-agent MDPs (Ivanov, Dütting, Talgam-Cohen, Wang, Parkes, *Principal-Agent
Reinforcement Learning*, arXiv 2407.18074, Section 3).

At state ``s`` the principal offers a contract ``b: outcomes -> R>=0``; the agent, who sees
the contract, takes a hidden action ``a`` and gets ``r(s, a)`` (an effort cost is a negative
reward); an outcome ``o ~ O(s, a)`` is drawn, the principal gets ``r_p(s, o)`` and pays
``b(o)``; the state moves to ``next_state[s][o]`` (``-1``: the episode ends) or is drawn
from ``transitions[s][o]`` (a row of zeros: the episode ends). Both discount by ``γ``.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field

import numpy as np

from .errors import InvalidInstanceError
from .validation import PROB_SUM_TOL, as_float_array, check_probability_rows


def _as_int_array(name: str, value, ndim: int) -> np.ndarray:
    """A read-only int64 array; every entry must be an integer (floats like ``2.0`` are refused)."""
    if isinstance(value, np.ndarray) and value.dtype.kind in "iu":
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
        check_probability_rows("outcome_probs", O, self.prob_tol)
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
            bad = np.argwhere((ns < -1) | (ns >= S))
            if bad.size:
                idx = tuple(int(i) for i in bad[0])
                raise InvalidInstanceError("next_state", f"state {int(ns[idx])} is out of range [-1, {S})", idx)
        else:
            T = as_float_array("transitions", self.transitions, 3)
            if T.shape != (S, K, S):
                raise InvalidInstanceError("transitions", f"has shape {T.shape}, expected {(S, K, S)}")
            neg = np.argwhere(T < 0)
            if neg.size:
                idx = tuple(int(i) for i in neg[0])
                raise InvalidInstanceError("transitions", f"probability {float(T[idx])!r} is negative", idx)
            sums = T.sum(axis=2)
            off = np.argwhere((np.abs(sums - 1.0) > self.prob_tol) & (sums != 0.0))
            if off.size:
                idx = tuple(int(i) for i in off[0])
                raise InvalidInstanceError("transitions", f"row sums to {float(sums[idx])!r}, not 1 (or 0 to end)",
                                           idx)
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
        if needs_dag:
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

    def _levels_or_cycle(self) -> tuple[list[np.ndarray] | None, int | None]:
        cache = self._cache
        if "levels" not in cache:
            cache["levels"] = _peel_levels(self.n_states, *self._edges())
        return cache["levels"]

    @property
    def is_acyclic(self) -> bool:
        return self._levels_or_cycle()[0] is not None

    def levels(self) -> list[np.ndarray]:
        """States grouped for backward induction: level 0 has only terminal successors, level
        ``k`` only successors in levels ``< k``. Raises if the graph has a cycle."""
        levels, cycle_state = self._levels_or_cycle()
        if levels is None:
            raise InvalidInstanceError("next_state" if self.deterministic else "transitions",
                                       f"has a cycle through state {cycle_state}", cycle_state)
        return levels

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


def _ranges(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Concatenation of ``arange(starts[i], ends[i])`` without a Python loop."""
    lengths = ends - starts
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offsets = np.repeat(starts - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
    return np.arange(total) + offsets


def _peel_levels(n: int, src: np.ndarray, dst: np.ndarray) -> tuple[list[np.ndarray] | None, int | None]:
    """Kahn's algorithm, one vectorised step per level (topological order by height).

    Returns ``(levels, None)`` for an acyclic graph and ``(None, state_on_a_cycle)`` otherwise.
    Work is ``O(S + E)`` plus numpy overhead per level.
    """
    out_deg = np.bincount(src, minlength=n)
    order = np.argsort(dst, kind="stable")            # predecessors grouped by destination
    pred_src = src[order]
    starts = np.searchsorted(dst[order], np.arange(n + 1))
    frontier = np.flatnonzero(out_deg == 0)
    levels: list[np.ndarray] = []
    done = 0
    remaining = out_deg.copy()
    while frontier.size:
        levels.append(frontier)
        done += frontier.size
        preds = pred_src[_ranges(starts[frontier], starts[frontier + 1])]
        if preds.size == 0:
            break
        dec = np.bincount(preds, minlength=n)
        touched = np.flatnonzero(dec)
        remaining[touched] -= dec[touched]
        frontier = touched[remaining[touched] == 0]
    if done == n:
        return levels, None
    # Every state left has a successor that is left too: walk until a state repeats.
    left = np.ones(n, dtype=bool)
    left[np.concatenate(levels) if levels else np.zeros(0, dtype=np.int64)] = False
    order_src = np.argsort(src, kind="stable")
    succ_starts = np.searchsorted(src[order_src], np.arange(n + 1))
    s = int(np.flatnonzero(left)[0])
    seen: dict[int, int] = {}
    while s not in seen:
        seen[s] = len(seen)
        succ = dst[order_src][succ_starts[s]:succ_starts[s + 1]]
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


def _pamdp_to_dict(m: PrincipalAgentMDP) -> dict:
    data = {"kind": "pamdp", "version": 1, "outcome_probs": m.outcome_probs.tolist(),
            "agent_rewards": m.agent_rewards.tolist(), "principal_rewards": m.principal_rewards.tolist(),
            "discount": m.discount, "horizon": m.horizon, "initial_state": m.initial_state}
    if m.next_state is not None:
        data["next_state"] = m.next_state.tolist()
    else:
        data["transitions"] = m.transitions.tolist()
    if m.acyclic is not None:
        data["acyclic"] = m.acyclic
    return data


def _register() -> None:
    from .fileio import FileKind, register_kind
    register_kind(FileKind("pamdp", 1, PrincipalAgentMDP, _pamdp_from_dict, _pamdp_to_dict))


_register()
