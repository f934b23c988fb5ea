"""Gambit ``.efg`` export of a PA-MDP under a fixed contract policy, checked against an
independent evaluator: OpenSpiel (``pyspiel.load_efg_game``).

NOTE: this test needs ``open_spiel`` (wheel ``open_spiel>=2.0.2``); the ``test`` extra in
pyproject.toml must include it. It is imported unconditionally on purpose (no importorskip):
the feature is checked in CI, not skipped.
"""

from __future__ import annotations

import numpy as np
import pyspiel
import pytest
from hypothesis import given
from hypothesis import strategies as st
from open_spiel.python import policy as os_policy
from open_spiel.python.algorithms.best_response import BestResponsePolicy

from contractlab.proofs_checks.efg_export import (EFGExport, agent_action_label, export_efg,
                                                  principal_action_label)
from contractlab.solvers.pamdp_policy import agent_best_response, evaluate
from contractlab.theory.contract_policy import ContractPolicy
from contractlab.theory.errors import InvalidInstanceError
from contractlab.theory.pamdp import PrincipalAgentMDP
from contractlab.theory.pamdp_families import (binary_game_tree, contractual_rl, random_dag, random_discounted,
                                               random_tree)

#: OpenSpiel's expected returns and contractlab's backward induction agree to this (the payoffs are
#: written with the shortest round-trip decimals, so only float64 summation order differs).
VALUE_TOL = 1e-9


def with_horizon(m: PrincipalAgentMDP, horizon: int, discount: float) -> PrincipalAgentMDP:
    return PrincipalAgentMDP(m.outcome_probs, m.agent_rewards, m.principal_rewards, next_state=m.next_state,
                             discount=discount, horizon=horizon, initial_state=m.initial_state)


def random_contract_policy(m: PrincipalAgentMDP, rng, time_indexed: bool = False) -> ContractPolicy:
    lead = (m.horizon, m.n_states) if time_indexed else (m.n_states,)
    pay = rng.uniform(0, 1.5, lead + (m.n_outcomes,)) * (rng.uniform(size=lead + (m.n_outcomes,)) < 0.7)
    return ContractPolicy(rng.integers(0, m.n_actions, lead), pay)


# --- the independent evaluator: walk OpenSpiel's game ------------------------------------

def infoset_number(state) -> int:
    """OpenSpiel's EFG information-state string is ``owner-observer-number-name``."""
    return int(state.information_state_string().split("-")[2])


def pick(state, label: str) -> int:
    player = state.current_player()
    matches = [a for a in state.legal_actions() if state.action_to_string(player, a) == label]
    assert len(matches) == 1, (label, [state.action_to_string(player, a) for a in state.legal_actions()])
    return matches[0]


def expected_returns(game, principal_choice, agent_choice) -> np.ndarray:
    """Both players' expected returns under pure strategies given per information set number:
    ``principal_choice(n) -> label``, ``agent_choice(n) -> label``."""
    def value(state) -> np.ndarray:
        if state.is_terminal():
            return np.array(state.returns())
        if state.is_chance_node():
            return sum(p * value(state.child(a)) for a, p in state.chance_outcomes() if p > 0)
        n = infoset_number(state)
        label = principal_choice(n) if state.current_player() == 0 else agent_choice(n)
        return value(state.child(pick(state, label)))
    return value(game.new_initial_state())


def strategies(export: EFGExport, cp: ContractPolicy, agent_policy: np.ndarray, off_menu=None):
    """The contract policy's recommendation per principal infoset and the agent policy per agent
    infoset (``off_menu(t, s, contract)`` for contracts other than the policy's)."""
    def at(arr, t, s):
        return arr[t, s] if arr.ndim == 2 else arr[s]

    def principal(n):
        t, s = export.principal_infosets[n - 1]
        return principal_action_label(at(cp.action, t or 0, s))

    def agent(n):
        t, s, contract = export.agent_infosets[n - 1]
        own = cp.at_step(t or 0)[1][s]
        if off_menu is not None and not np.array_equal(np.array(contract), own):
            return agent_action_label(off_menu(t, s, contract))
        return agent_action_label(at(agent_policy, t or 0, s))
    return principal, agent


def game_census(game):
    """Node counts by type and distinct information states per player, from OpenSpiel's tree."""
    counts = {"chance": 0, "terminal": 0, "decision": 0}
    infosets = {0: set(), 1: set()}

    def walk(state):
        if state.is_terminal():
            counts["terminal"] += 1
            return
        if state.is_chance_node():
            counts["chance"] += 1
        else:
            counts["decision"] += 1
            infosets[state.current_player()].add(state.information_state_string())
        for a in state.legal_actions():
            walk(state.child(a))
    walk(game.new_initial_state())
    return counts, {p: len(v) for p, v in infosets.items()}


# --- drawn small trees ----------------------------------------------------------------------

@st.composite
def small_trees(draw):
    """Trees of depth 1-4 with 2-3 actions and 2-3 outcomes (the unrolled game stays < ~20k nodes)."""
    depth = draw(st.integers(1, 4))
    A = draw(st.integers(2, 3))
    K = draw(st.integers(2, 3))
    if depth == 4 and A * K > 6:
        K = 2
    seed = draw(st.integers(0, 10_000))
    family = draw(st.sampled_from(["random_tree", "binary_tree", "random_dag"]))
    if family == "binary_tree":
        m = binary_game_tree(depth, seed=seed)
    elif family == "random_dag":
        m = random_dag(2 + depth, A, K, seed=seed)
    else:
        m = random_tree(depth, A, K, seed=seed)
    discount = draw(st.sampled_from([1.0, 0.9]))
    if discount != 1.0:
        m = PrincipalAgentMDP(m.outcome_probs, m.agent_rewards, m.principal_rewards, next_state=m.next_state,
                              discount=discount)
    return m, seed


@given(small_trees())
def test_openspiel_values_match_evaluate(case):
    m, seed = case
    rng = np.random.default_rng(seed)
    cp = random_contract_policy(m, rng)
    pol = rng.integers(0, m.n_actions, m.n_states)
    export = export_efg(m, cp)
    game = pyspiel.load_efg_game(export.text)
    assert game.num_players() == 2
    values = expected_returns(game, *strategies(export, cp, pol))
    ev = evaluate(m, cp, pol)
    assert abs(values[0] - ev.principal_start) <= VALUE_TOL
    assert abs(values[1] - ev.agent_start) <= VALUE_TOL


@given(small_trees())
def test_file_parses_and_counts_are_right(case):
    m, seed = case
    cp = random_contract_policy(m, np.random.default_rng(seed))
    export = export_efg(m, cp)
    text = export.text
    assert text.startswith('EFG 2 R "') and '{ "Principal" "Agent" }' in text.splitlines()[0]
    assert "\t" not in text and "e-" not in text.split("\n", 2)[2]        # no tabs, no exponents
    game = pyspiel.load_efg_game(text)
    counts, infosets = game_census(game)
    reachable = int(m.reachable().sum())
    # One principal infoset per reachable state; the default menu has one contract per state, so
    # the agent also has one infoset per reachable state.
    assert infosets == {0: reachable, 1: reachable}
    assert len(export.principal_infosets) == len(export.agent_infosets) == reachable
    assert sum(counts.values()) == export.n_nodes and counts["terminal"] == export.n_terminals
    assert counts["chance"] == counts["decision"] // 2 * m.n_actions
    # The size guard counts exactly the nodes written.
    export_efg(m, cp, max_nodes=export.n_nodes)
    with pytest.raises(InvalidInstanceError):
        export_efg(m, cp, max_nodes=export.n_nodes - 1) if export.n_nodes > 1 else export_efg(m, cp, max_nodes=0)
    kinds = [line[0] for line in text.splitlines()[2:]]
    assert kinds.count("p") == counts["decision"] and kinds.count("c") == counts["chance"]


def test_agent_best_response_matches_openspiel_best_response():
    """OpenSpiel's best response of player 2 to the principal's fixed recommendations is worth
    what :func:`agent_best_response` says (the agent's infosets are Markov, so its per-infoset
    best response is a stationary policy)."""
    for seed in range(6):
        m = random_tree(1 + seed % 3, 2 + seed % 2, 2 + (seed // 2) % 2, seed=seed)
        cp = random_contract_policy(m, np.random.default_rng(seed))
        export = export_efg(m, cp)
        game = pyspiel.load_efg_game(export.text)
        principal, _ = strategies(export, cp, np.zeros(m.n_states, int))

        class Principal(os_policy.Policy):
            def action_probabilities(self, state, player_id=None):
                return {pick(state, principal(infoset_number(state))): 1.0}

        br = BestResponsePolicy(game, 1, Principal(game, [0]))
        value = br.value(game.new_initial_state())
        assert abs(value - agent_best_response(m, cp).agent_start) <= VALUE_TOL


def test_principal_menu_deviation_matches_evaluate():
    """With a menu of per-action contracts, the principal switching to another entry at one
    state is worth what ``evaluate`` gives for the contract policy changed at that state."""
    for seed in range(4):
        m = random_tree(2, 2 + seed % 2, 2, seed=seed)
        rng = np.random.default_rng(seed)
        cp = random_contract_policy(m, rng)
        pol = rng.integers(0, m.n_actions, m.n_states)
        other = rng.uniform(0, 1, (m.n_states, m.n_actions, m.n_outcomes))
        export = export_efg(m, cp, other_contracts=other)
        game = pyspiel.load_efg_game(export.text)
        counts, infosets = game_census(game)
        assert infosets[0] == m.n_states and infosets[1] == m.n_states * m.n_actions
        off_menu = lambda t, s, contract: (pol[s] + 1) % m.n_actions          # noqa: E731
        s_dev = int(rng.integers(0, m.n_states))
        a_dev = (int(cp.action[s_dev]) + 1) % m.n_actions
        action, contract = cp.action.copy(), cp.contract.copy()
        action[s_dev], contract[s_dev] = a_dev, other[s_dev, a_dev]
        deviated = ContractPolicy(action, contract)
        pol_dev = pol.copy()
        pol_dev[s_dev] = off_menu(None, s_dev, None)
        principal, agent = strategies(export, cp, pol, off_menu)

        def principal_dev(n):
            _, s = export.principal_infosets[n - 1]
            return principal_action_label(a_dev) if s == s_dev else principal(n)

        for p_choice, ref in ((principal, evaluate(m, cp, pol)), (principal_dev, evaluate(m, deviated, pol_dev))):
            values = expected_returns(game, p_choice, agent)
            assert abs(values[0] - ref.principal_start) <= VALUE_TOL
            assert abs(values[1] - ref.agent_start) <= VALUE_TOL


@pytest.mark.parametrize("seed", range(4))
def test_horizon_unrolls_cycles_with_time_indexed_policies(seed):
    m = with_horizon(contractual_rl(3, 2, seed=seed), horizon=2 + seed % 2, discount=0.9)
    rng = np.random.default_rng(seed)
    cp = random_contract_policy(m, rng, time_indexed=True)
    pol = rng.integers(0, m.n_actions, (m.horizon, m.n_states))
    export = export_efg(m, cp)
    game = pyspiel.load_efg_game(export.text)
    values = expected_returns(game, *strategies(export, cp, pol))
    ev = evaluate(m, cp, pol)
    assert abs(values[0] - ev.principal_start) <= VALUE_TOL and abs(values[1] - ev.agent_start) <= VALUE_TOL
    assert all(t is not None for t, _ in export.principal_infosets)
    counts, infosets = game_census(game)
    assert sum(counts.values()) == export.n_nodes
    assert infosets[0] == len(export.principal_infosets) == len({(t, s) for t, s in export.principal_infosets})
    export_efg(m, cp, max_nodes=export.n_nodes)
    with pytest.raises(InvalidInstanceError):
        export_efg(m, cp, max_nodes=export.n_nodes - 1)


def test_refuses_what_cannot_be_unrolled(tmp_path):
    stochastic = random_discounted(3, seed=0)
    with pytest.raises(InvalidInstanceError) as info:
        export_efg(stochastic, ContractPolicy(np.zeros(3, int), np.zeros((3, 2))))
    assert info.value.field == "transitions"
    cyclic = contractual_rl(3, 2, seed=0)
    with pytest.raises(InvalidInstanceError) as info:
        export_efg(cyclic, ContractPolicy(np.zeros(3, int), np.zeros((3, 3))))
    assert info.value.field == "next_state" and "cycle" in str(info.value)
    big = random_tree(6, 3, 3, seed=0)
    with pytest.raises(InvalidInstanceError) as info:
        export_efg(big, ContractPolicy(np.zeros(big.n_states, int), np.zeros((big.n_states, 3))), max_nodes=10_000)
    assert info.value.field == "max_nodes"
    m = binary_game_tree(2, seed=0)
    cp = ContractPolicy(np.zeros(3, int), np.zeros((3, 2)))
    with pytest.raises(InvalidInstanceError) as info:
        export_efg(m, cp, other_contracts=-np.ones((3, 2, 2)))
    assert info.value.field == "other_contracts" and info.value.index == (0, 0, 0)
    with pytest.raises(InvalidInstanceError) as info:
        export_efg(m, cp, other_contracts=np.ones((3, 2)))
    assert info.value.field == "other_contracts"
    path = export_efg(m, cp).save(tmp_path / "tree.efg")
    assert pyspiel.load_efg_game(path.read_text()).num_players() == 2
