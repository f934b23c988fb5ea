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


# --- levels of any numbering, validation in blocks ----------------------------------------

def relabelled(m: PrincipalAgentMDP, perm: np.ndarray, **kw) -> PrincipalAgentMDP:
    """``m`` with state ``s`` renamed ``perm[s]`` (successors may then have smaller indices)."""
    inv = np.argsort(perm)
    ns = np.where(m.next_state >= 0, perm[np.maximum(m.next_state, 0)], -1)[inv]
    return PrincipalAgentMDP(m.outcome_probs[inv], m.agent_rewards[inv], m.principal_rewards[inv], next_state=ns,
                             discount=m.discount, initial_state=int(perm[m.initial_state]), **kw)


@given(st.integers(1, 60), st.integers(1, 3), st.sampled_from([1, 2, 3, 12]), st.integers(0, 2**32 - 1),
       st.sampled_from([None, True]))
def test_levels_of_any_numbering_match_recursive_heights(n, a, k, seed, acyclic):
    """Peeling finds the heights whatever the numbering (here a random relabelling of a DAG, with
    repeated edges when outcomes share a successor), each level in increasing state index."""
    m = random_dag(n, a, k, seed)
    rng = np.random.default_rng(seed)
    ns = m.next_state.copy()
    ns[:, -1] = np.where(rng.uniform(size=n) < 0.5, ns[:, 0], ns[:, -1])        # repeated edges
    m = PrincipalAgentMDP(m.outcome_probs, m.agent_rewards, m.principal_rewards, next_state=ns, discount=1.0)
    r = relabelled(m, rng.permutation(n), acyclic=acyclic)
    heights = _brute_levels(r)
    levels = r.levels()
    for level, states in enumerate(levels):
        assert states.tolist() == sorted(s for s in range(n) if heights[s] == level)
    assert sum(len(lv) for lv in levels) == n and r.is_acyclic
    for rows, states in zip(r.level_rows(), levels):
        np.testing.assert_array_equal(np.arange(n)[rows], states)


def test_level_rows_are_ranges_on_a_breadth_first_tree():
    m = binary_game_tree(6, seed=1)
    rows = m.level_rows()
    assert rows == [slice(2 ** (5 - h) - 1, 2 ** (6 - h) - 1) for h in range(6)]
    assert [lv.tolist() for lv in m.levels()] == [list(range(r.start, r.stop)) for r in rows]
    dag = random_dag(40, 2, 2, seed=3)
    assert any(isinstance(r, np.ndarray) for r in dag.level_rows())
    for r in dag.level_rows():
        assert isinstance(r, slice) or not r.flags.writeable      # the cached levels cannot be changed


def test_cycle_is_reported_at_the_same_state_whatever_the_check():
    # a cycle 3 -> 1 -> 2 -> 3 that state 0 feeds into; successors of 3 point backwards
    ns = [[1, -1], [2, -1], [3, -1], [1, 0]]
    kw = dict(outcome_probs=np.full((4, 1, 2), 0.5), agent_rewards=np.zeros((4, 1)),
              principal_rewards=np.zeros((4, 2)), next_state=ns)
    for extra in (dict(discount=1.0), dict(discount=0.9, acyclic=True)):
        with pytest.raises(InvalidInstanceError) as info:
            PrincipalAgentMDP(**kw, **extra)
        assert info.value.field == "next_state" and info.value.index == (1,)
    m = PrincipalAgentMDP(**kw, discount=0.9)
    assert not m.is_acyclic
    with pytest.raises(InvalidInstanceError) as info:
        m.levels()
    assert info.value.index == (1,)


def test_validation_names_the_first_bad_row_beyond_the_first_block():
    S = 50_000                                  # several blocks of rows
    O = np.full((S, 2, 2), 0.5)
    O[S - 2, 1] = (0.5, 0.6)
    O[S - 1, 0] = (1.5, -0.5)
    with pytest.raises(InvalidInstanceError) as info:
        tiny(outcome_probs=O, agent_rewards=np.zeros((S, 2)), principal_rewards=np.zeros((S, 2)),
             next_state=np.full((S, 2), -1))
    assert info.value.field == "outcome_probs" and info.value.index == (S - 1, 0, 1)   # negative first
    O[S - 1, 0] = (0.5, 0.5)
    with pytest.raises(InvalidInstanceError) as info:
        tiny(outcome_probs=O, agent_rewards=np.zeros((S, 2)), principal_rewards=np.zeros((S, 2)),
             next_state=np.full((S, 2), -1))
    assert info.value.field == "outcome_probs" and info.value.index == (S - 2, 1)
    ns = np.full((S, 2), -1)
    ns[S - 3, 1] = S
    with pytest.raises(InvalidInstanceError) as info:
        tiny(outcome_probs=np.full((S, 2, 2), 0.5), agent_rewards=np.zeros((S, 2)),
             principal_rewards=np.zeros((S, 2)), next_state=ns)
    assert info.value.field == "next_state" and info.value.index == (S - 3, 1)


def test_transition_rows_may_sum_to_zero_but_not_in_between():
    T = np.zeros((3, 2, 3))
    T[0, 0, 1] = T[0, 1, 2] = 1.0
    assert tiny(next_state=None, transitions=T).is_acyclic              # all-zero rows end the episode
    T[1, 1, 2] = 1e-3
    with pytest.raises(InvalidInstanceError) as info:
        tiny(next_state=None, transitions=T)
    assert info.value.field == "transitions" and info.value.index == (1, 1) and "or 0 to end" in str(info.value)
    T[1, 1, 2] = -0.0
    T[2, 0, 0] = -1e-3
    with pytest.raises(InvalidInstanceError) as info:
        tiny(next_state=None, transitions=T)
    assert info.value.field == "transitions" and info.value.index == (2, 0, 0)


def test_an_immutable_int64_next_state_is_not_copied():
    ns = np.array([[1, 2], [-1, -1], [-1, -1]])
    m = tiny(next_state=ns)
    assert m.next_state is not ns and not m.next_state.flags.writeable
    ns[0, 0] = 2                                # the caller's array may change; the model does not
    assert m.next_state[0, 0] == 1
    ns.setflags(write=False)
    assert tiny(next_state=ns).next_state is ns
    view = np.array([[1, 2], [-1, -1], [-1, -1], [0, 0]])[:3]   # read-only view of a writeable array
    view.setflags(write=False)
    assert tiny(next_state=view).next_state is not view


def _heights_in_reverse_order(ns: np.ndarray) -> np.ndarray:
    """Heights of a graph whose successors have larger indices, one state at a time from the last."""
    h = np.zeros(len(ns), dtype=int)
    for s in range(len(ns) - 1, -1, -1):
        succ = ns[s][ns[s] >= 0]
        h[s] = 1 + h[succ].max() if succ.size else 0
    return h


def _levels_from_heights(h: np.ndarray) -> list[list[int]]:
    return [np.flatnonzero(h == level).tolist() for level in range(h.max() + 1)]


@given(st.integers(2, 400), st.integers(1, 3), st.integers(0, 2**32 - 1))
def test_levels_when_successors_are_far_above(n, k, seed):
    """Successors far above their states: the blocks of states whose successors all lie above
    them are large and mix several heights."""
    rng = np.random.default_rng(seed)
    ns = np.arange(n)[:, None] + 1 + rng.integers(n // 8 + 1, n // 2 + 2, (n, k))
    ns = np.where((ns >= n) | (rng.uniform(size=(n, k)) < 0.2), -1, ns)
    m = PrincipalAgentMDP(np.full((n, 1, k), 1.0 / k), np.zeros((n, 1)), np.zeros((n, k)), next_state=ns)
    assert [lv.tolist() for lv in m.levels()] == _levels_from_heights(_heights_in_reverse_order(ns))


def test_levels_of_a_large_dag_with_successors_close_above():
    """Many tiny blocks (a successor right above most states): peeling takes over."""
    from contractlab.theory.pamdp import _forward_levels
    m = random_dag(5000, 2, 2, seed=11)
    assert _forward_levels(m.next_state) is None and _forward_levels(binary_game_tree(8).next_state) is not None
    assert [lv.tolist() for lv in m.levels()] == _levels_from_heights(_heights_in_reverse_order(m.next_state))
