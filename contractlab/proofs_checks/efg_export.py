"""Export a principal-agent MDP with a fixed contract policy as a Gambit extensive-form game
(``.efg``, format ``EFG 2 R``), so that an independent game solver or evaluator (Gambit,
OpenSpiel's ``pyspiel.load_efg_game``) can check contractlab's values.

The game unrolls the PA-MDP of arXiv 2407.18074 (Section 3) from ``initial_state``. At each
visited state ``s`` (and step ``t``):

1. the **principal** (player 1) picks a menu entry "recommend a" — the recommendation ``a``
   together with its contract ``b``. The default menu holds one entry, the contract policy's
   ``(action(s), contract(s))``; ``other_contracts`` (shape ``(S, A, K)``) adds an entry for
   every other action ``a`` with contract ``other_contracts[s, a]``;
2. the **agent** (player 2) picks its action ``a' ∈ {a0, …}`` having seen the state and the
   contract (not the recommendation: entries with equal contracts share an information set);
3. **chance** draws the outcome ``o ~ O(s, a')``; the game moves to ``next_state[s][o]`` or ends
   (``−1``, or step ``H`` with a finite horizon).

Terminal payoffs are the discounted sums along the path:
``Σ_t γ^t (r_p(s_t, o_t) − b_t(o_t))`` for the principal and ``Σ_t γ^t (r(s_t, a_t) + b_t(o_t))``
for the agent.

Information sets: the principal has one per state (one per ``(t, s)`` with a horizon): she
sees states and outcomes, never the agent's hidden action. The agent has one per
``(state, contract)`` (``(t, state, contract)`` with a horizon). Both are therefore Markov: a
player does not remember its own earlier moves (imperfect recall) — the exported game is
exactly the set of stationary (per-step with a horizon) pure policies of the PA-MDP, which is
what the values of :func:`contractlab.solvers.pamdp_policy.evaluate` are about.

Only MDPs with a deterministic ``next_state`` that are acyclic or have a finite horizon can be
unrolled; others are refused, as are trees with more than ``max_nodes`` game nodes.

Format notes (Gambit "Game representation formats"; OpenSpiel's ``efg_game`` reader):
numbers are written in positional notation with the shortest digits that round-trip a
float64 exactly; only spaces and newlines separate tokens; every action label is written in
the same order at every node (OpenSpiel numbers labels globally, in order of appearance).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..theory.contract_policy import ContractPolicy
from ..theory.errors import InvalidInstanceError
from ..solvers.pamdp_policy import check_profile_inputs
from ..theory.pamdp import PrincipalAgentMDP
from ..theory.validation import as_float_array

#: Largest game tree (number of nodes) :func:`export_efg` writes.
MAX_NODES = 2_000_000
PLAYER_NAMES = ("Principal", "Agent")


def principal_action_label(action: int) -> str:
    """Label of the principal's move "recommend ``action``" (with that entry's contract)."""
    return f"recommend a{int(action)}"


def agent_action_label(action: int) -> str:
    """Label of the agent's action ``action``."""
    return f"a{int(action)}"


def outcome_label(outcome: int) -> str:
    """Label of chance's outcome ``outcome``."""
    return f"o{int(outcome)}"


@dataclass(frozen=True, eq=False)
class EFGExport:
    """An exported game and the maps from its information sets back to the PA-MDP.

    Attributes
    ----------
    text:
        The ``.efg`` file contents.
    principal_infosets:
        Entry ``n − 1`` is the ``(step, state)`` of the principal's information set number ``n``
        (``step`` is ``None`` without a horizon).
    agent_infosets:
        Entry ``n − 1`` is the ``(step, state, contract)`` of the agent's information set ``n``
        (``contract`` a tuple of floats).
    principal_menus:
        ``(step, state) -> ((recommended action, contract), ...)`` for every visited state.
    n_nodes, n_terminals:
        Game-tree size.
    """

    text: str
    principal_infosets: tuple
    agent_infosets: tuple
    principal_menus: dict
    n_nodes: int
    n_terminals: int

    def save(self, path) -> Path:
        """Write :attr:`text` to ``path`` (conventionally ``*.efg``)."""
        path = Path(path)
        path.write_text(self.text, encoding="utf-8")
        return path


def _num(x: float) -> str:
    """Shortest positional decimal that parses back to the same float64 (``-0`` written as ``0``)."""
    x = float(x)
    if x == 0.0:
        return "0"
    return np.format_float_positional(x, unique=True, trim="-")


def _quote(label: str) -> str:
    return '"' + label.replace('"', "'") + '"'


def _check_exportable(mdp, contract_policy, other_contracts, max_nodes) -> np.ndarray | None:
    check_profile_inputs(mdp, contract_policy)
    if not mdp.deterministic:
        raise InvalidInstanceError("transitions", "EFG export needs a deterministic next_state (a game tree); "
                                                  "stochastic transitions are not supported")
    if mdp.horizon is None and not mdp.is_acyclic:
        mdp.levels()            # raises, naming a state on the cycle
    if isinstance(max_nodes, bool) or not isinstance(max_nodes, (numbers.Integral, np.integer)) or max_nodes < 1:
        raise InvalidInstanceError("max_nodes", f"must be an integer >= 1, got {max_nodes!r}")
    if other_contracts is None:
        return None
    extra = as_float_array("other_contracts", other_contracts, 3)
    expected = (mdp.n_states, mdp.n_actions, mdp.n_outcomes)
    if extra.shape != expected:
        raise InvalidInstanceError("other_contracts", f"has shape {extra.shape}, expected (S, A, K) = {expected}")
    neg = np.argwhere(extra < 0)
    if neg.size:
        idx = tuple(int(i) for i in neg[0])
        raise InvalidInstanceError("other_contracts", f"payment {float(extra[idx])!r} is negative (limited liability)",
                                   idx)
    return extra


def _menu(contract_policy: ContractPolicy, extra: np.ndarray | None, t: int, s: int) -> tuple:
    """The principal's menu at ``(t, s)``: ``((recommended action, contract), ...)``."""
    action, contract = contract_policy.at_step(t)
    own = (int(action[s]), contract[s])
    if extra is None:
        return (own,)
    return tuple(own if a == own[0] else (a, extra[s, a]) for a in range(extra.shape[1]))


def _tree_size(mdp: PrincipalAgentMDP, menu_size: int) -> float:
    """Number of game nodes reachable from the root (a float: it only has to be compared)."""
    A, ns = mdp.n_actions, mdp.next_state

    def per_state(child_count: np.ndarray | None) -> np.ndarray:
        # principal node + menu * (agent node + A * (chance node + Σ_o subtree or terminal))
        if child_count is None:                 # last step of a horizon: every child is a terminal
            below = np.full(mdp.n_states, float(mdp.n_outcomes))
        else:
            below = np.where(ns >= 0, child_count[np.maximum(ns, 0)], 1.0).sum(axis=1)
        return 1.0 + menu_size * (1.0 + A * (1.0 + below))

    if mdp.horizon is not None:
        count = None
        for _ in range(mdp.horizon):
            count = per_state(count)
        return float(count[mdp.initial_state])
    count = np.zeros(mdp.n_states)
    for level in mdp.levels():
        count[level] = per_state(count)[level]
    return float(count[mdp.initial_state])


def export_efg(mdp: PrincipalAgentMDP, contract_policy: ContractPolicy, other_contracts=None, *,
               title: str = "contractlab principal-agent MDP", max_nodes: int = MAX_NODES) -> EFGExport:
    """The PA-MDP under ``contract_policy`` as a Gambit ``.efg`` game (see the module docstring).

    Parameters
    ----------
    other_contracts:
        Optional ``(S, A, K)`` array: at state ``s`` the principal may also recommend any other
        action ``a`` with contract ``other_contracts[s, a]`` (the entries at the policy's own
        action are not used: that move carries the policy's contract). Default: the menu is the
        policy's single move.
    max_nodes:
        Refuse (``InvalidInstanceError``) game trees with more nodes than this.
    """
    extra = _check_exportable(mdp, contract_policy, other_contracts, max_nodes)
    menu_size = 1 if extra is None else mdp.n_actions
    size = _tree_size(mdp, menu_size)
    if size > max_nodes:
        raise InvalidInstanceError("max_nodes", f"the game tree has {size:.3g} nodes, more than max_nodes={max_nodes}")

    O, r, rp, ns, g, H = (mdp.outcome_probs, mdp.agent_rewards, mdp.principal_rewards, mdp.next_state,
                          mdp.discount, mdp.horizon)
    A, K = mdp.n_actions, mdp.n_outcomes
    agent_labels = " ".join(_quote(agent_action_label(a)) for a in range(A))
    principal_sets: dict = {}
    agent_sets: dict = {}
    menus: dict = {}
    lines = [f"EFG 2 R {_quote(title)} {{ {_quote(PLAYER_NAMES[0])} {_quote(PLAYER_NAMES[1])} }}",
             _quote("Exported by contractlab.proofs_checks.efg_export (arXiv 2407.18074, Section 3)")]
    counters = {"chance": 0, "terminal": 0}

    def step_key(t: int):
        return t if H is not None else None

    # Explicit stack (preorder) so that deep chains do not hit Python's recursion limit.
    # Frames: ("P", t, s, acc_p, acc_a) a principal node; ("A", t, s, contract, acc_p, acc_a) an
    # agent node; ("T", acc_p, acc_a) a terminal node; ("C", s, a) the chance node after action a.
    stack: list = [("P", 0, mdp.initial_state, 0.0, 0.0)]
    while stack:
        frame = stack.pop()
        kind = frame[0]
        if kind == "C":
            _, s, a = frame
            counters["chance"] += 1
            probs = np.clip(O[s, a], 0.0, 1.0)
            outs = " ".join(f"{_quote(outcome_label(k))} {_num(probs[k])}" for k in range(K))
            lines.append(f'c "" {counters["chance"]} {_quote(f"s{s} a{a}")} {{ {outs} }} 0')
        elif kind == "T":
            counters["terminal"] += 1
            n = counters["terminal"]
            lines.append(f't "" {n} "" {{ {_num(frame[1])} {_num(frame[2])} }}')
        elif kind == "P":
            _, t, s, acc_p, acc_a = frame
            key = (step_key(t), s)
            if key not in principal_sets:
                principal_sets[key] = len(principal_sets) + 1
                menus[key] = _menu(contract_policy, extra, t, s)
            menu = menus[key]
            name = f"s{s}" if H is None else f"t{t} s{s}"
            moves = " ".join(_quote(principal_action_label(a)) for a, _ in menu)
            lines.append(f'p "" 1 {principal_sets[key]} {_quote(name)} {{ {moves} }} 0')
            for _, contract in reversed(menu):
                stack.append(("A", t, s, contract, acc_p, acc_a))
        else:
            _, t, s, contract, acc_p, acc_a = frame
            ckey = tuple(float(x) for x in contract)
            key = (step_key(t), s, ckey)
            if key not in agent_sets:
                agent_sets[key] = len(agent_sets) + 1
            name = (f"s{s}" if H is None else f"t{t} s{s}") + " b=(" + ", ".join(_num(x) for x in ckey) + ")"
            lines.append(f'p "" 2 {agent_sets[key]} {_quote(name)} {{ {agent_labels} }} 0')
            # Each agent action is followed by its chance node and the subtrees below it; frames
            # are pushed in reverse so that they are written in order (preorder).
            disc = g ** t
            last = H is not None and t + 1 >= H
            for a in reversed(range(A)):
                for k in reversed(range(K)):
                    new_p = acc_p + disc * (rp[s, k] - contract[k])
                    new_a = acc_a + disc * (r[s, a] + contract[k])
                    nxt = int(ns[s, k])
                    stack.append(("T", new_p, new_a) if nxt < 0 or last else ("P", t + 1, nxt, new_p, new_a))
                stack.append(("C", s, a))
    principal_infosets = tuple(sorted(principal_sets, key=principal_sets.get))
    agent_infosets = tuple(sorted(agent_sets, key=agent_sets.get))
    n_nodes = len(lines) - 2
    return EFGExport(text="\n".join(lines) + "\n", principal_infosets=principal_infosets,
                     agent_infosets=agent_infosets, principal_menus=menus, n_nodes=n_nodes,
                     n_terminals=counters["terminal"])


__all__ = ["export_efg", "EFGExport", "principal_action_label", "agent_action_label", "outcome_label",
           "MAX_NODES", "PLAYER_NAMES"]
