"""PrincipalAgentMDP: validation naming field and index, graph levels, families, file round trip."""

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from contractlab.theory import ContractPolicy, InvalidInstanceError, PrincipalAgentMDP
from contractlab.theory.fileio import dumps, loads
from contractlab.theory.pamdp_families import (FAMILIES, binary_game_tree, contractual_rl, random_dag,
                                               random_discounted, random_tree)


def tiny(**kw):
    data = dict(outcome_probs=np.full((3, 2, 2), 0.5), agent_rewards=np.zeros((3, 2)),
                principal_rewards=np.zeros((3, 2)), next_state=[[1, 2], [-1, -1], [-1, -1]])
    data.update(kw)
    return PrincipalAgentMDP(**data)


@pytest.mark.parametrize("kw, field, index", [
    (dict(outcome_probs=np.full((3, 2, 2), 0.6)), "outcome_probs", (0, 0)),
    (dict(agent_rewards=np.zeros((3, 3))), "agent_rewards", None),
    (dict(principal_rewards=[[0, 0], [0, np.nan], [0, 0]]), "principal_rewards", (1, 1)),
    (dict(next_state=[[1, 3], [-1, -1], [-1, -1]]), "next_state", (0, 1)),
    (dict(next_state=[[1, -2], [-1, -1], [-1, -1]]), "next_state", (0, 1)),
    (dict(next_state=[[1, 2.5], [-1, -1], [-1, -1]]), "next_state", (0, 1)),
    (dict(next_state=[[1, 2], [0, -1], [-1, -1]]), "next_state", (0,)),       # cycle with γ = 1
    (dict(next_state=[[1, 2], [0, -1], [-1, -1]], discount=0.9, acyclic=True), "next_state", (0,)),
    (dict(next_state=None), "next_state", None),
    (dict(discount=1.5), "discount", None),
    (dict(discount=-0.1), "discount", None),
    (dict(horizon=0), "horizon", None),
    (dict(horizon=2.5), "horizon", None),
    (dict(initial_state=3), "initial_state", None),
])
def test_invalid_pamdp_names_field_and_index(kw, field, index):
    with pytest.raises(InvalidInstanceError) as info:
        tiny(**kw)
    assert info.value.field == field and info.value.index == index


def test_cycles_are_allowed_with_discount_or_horizon():
    cyc = [[1, 2], [0, -1], [-1, -1]]
    assert not tiny(next_state=cyc, discount=0.9).is_acyclic
    assert tiny(next_state=cyc, horizon=4).horizon == 4


def test_stochastic_transitions_validate_rows():
    T = np.zeros((3, 2, 3))
    T[0, 0, 1] = T[0, 1, 2] = 1.0
    m = tiny(next_state=None, transitions=T)
    assert [lv.tolist() for lv in m.levels()] == [[1, 2], [0]]
    T[0, 0, 1] = 0.7
    with pytest.raises(InvalidInstanceError) as info:
        tiny(next_state=None, transitions=T)
    assert info.value.field == "transitions" and info.value.index == (0, 0)


def _brute_levels(m):
    """Height of each state by recursion (independent of the vectorised peeling)."""
    succ = m.successor_matrix().sum(axis=1) > 0
    height = {}

    def h(s):
        if s not in height:
            kids = np.flatnonzero(succ[s])
            height[s] = 0 if kids.size == 0 else 1 + max(h(int(k)) for k in kids)
        return height[s]

    return [h(s) for s in range(m.n_states)]


@given(st.integers(1, 60), st.integers(1, 3), st.integers(1, 3), st.integers(0, 2**32 - 1))
def test_levels_match_recursive_heights(n, a, k, seed):
    m = random_dag(n, a, k, seed)
    heights = _brute_levels(m)
    for level, states in enumerate(m.levels()):
        assert all(heights[s] == level for s in states)
    assert sorted(np.concatenate(m.levels()).tolist()) == list(range(n))


def test_binary_tree_matches_the_paper_family():
    m = binary_game_tree(5, seed=3)
    assert m.n_states == 2 ** 5 - 1 and m.discount == 1.0 and m.is_acyclic
    np.testing.assert_array_equal(m.outcome_probs[:, 0], np.tile([0.9, 0.1], (31, 1)))
    np.testing.assert_array_equal(m.outcome_probs[:, 1], np.tile([0.1, 0.9], (31, 1)))
    assert (m.agent_rewards[:, 0] == 0).all() and (-1 <= m.agent_rewards[:, 1]).all() and \
        (m.agent_rewards[:, 1] <= 0).all()
    assert (m.principal_rewards[:, 0] == 0).all() and (0 <= m.principal_rewards[:, 1]).all() and \
        (m.principal_rewards[:, 1] <= 2).all()
    assert m.next_state[0].tolist() == [1, 2] and (m.next_state[15:] == -1).all()
    assert len(m.levels()) == 5 and m.reachable().all()
    assert binary_game_tree(5, seed=3) == m and binary_game_tree(5, seed=4) != m


def test_binary_tree_reward_distribution():
    # u = U * (1 - V): E[u] = 1/4 ; u' = U' * (2 - V'): E[u'] = 1/2 (means over 2^16 - 1 draws, slack 5 sd)
    m = binary_game_tree(16, seed=0)
    n = m.n_states
    assert abs(-m.agent_rewards[:, 1].mean() - 0.25) < 5 * np.sqrt(7 / 144 / n)
    assert abs(m.principal_rewards[:, 1].mean() - 0.5) < 5 * np.sqrt(7 / 36 / n)


def test_other_families_have_the_documented_shape():
    t = random_tree(3, 3, 4, seed=1)
    assert t.n_states == 21 and t.next_state[0].tolist() == [1, 2, 3, 4] and len(t.levels()) == 3
    assert not random_discounted(6, seed=1).is_acyclic
    c = contractual_rl(4, seed=1)
    assert c.n_outcomes == c.n_states and (c.next_state == np.arange(4)).all()
    assert set(FAMILIES) >= {"binary_tree", "random_tree", "random_dag", "random_discounted", "contractual_rl"}
    with pytest.raises(InvalidInstanceError):
        binary_game_tree(0)


@given(st.sampled_from(["tree", "dag", "disc", "crl"]), st.integers(0, 1000))
def test_file_round_trip_is_exact(kind, seed):
    m = {"tree": lambda: binary_game_tree(3, seed), "dag": lambda: random_dag(7, 2, 3, seed),
         "disc": lambda: random_discounted(4, 2, 2, 0.8, seed), "crl": lambda: contractual_rl(3, 2, 0.5, seed)}[kind]()
    again = loads(dumps(m))
    assert again == m
    assert json.loads(dumps(m))["kind"] == "pamdp"


def test_contract_policy_validation_and_round_trip():
    p = ContractPolicy([0, 1, 1], [[0, 0], [0, 2.5], [1, 0]])
    assert loads(dumps(p)).contract.tolist() == p.contract.tolist()
    p.check_fits(tiny())
    with pytest.raises(InvalidInstanceError) as info:
        ContractPolicy([0, 1, 1], [[0, 0], [0, -2.5], [1, 0]])
    assert info.value.field == "contract" and info.value.index == (1, 1)
    with pytest.raises(InvalidInstanceError) as info:
        ContractPolicy([0, 5, 1], [[0, 0], [0, 2.5], [1, 0]]).check_fits(tiny())
    assert info.value.field == "action" and info.value.index == (1,)
