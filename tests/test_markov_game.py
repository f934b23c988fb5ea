"""The common form of games with incentives (`theory/markov_game.py`): exact evaluation by
forward DP against brute-force enumeration of every action sequence, sampling against the
exact values, and validation at the boundary."""


import numpy as np
import pytest
from hypothesis import given, strategies as st

from contractlab.theory.errors import InvalidInstanceError
from contractlab.theory.markov_game import (TabularMarkovGame, evaluate, joint_policy, sample_episodes,
                                            state_distributions)


@st.composite
def games_and_policies(draw):
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    ks = tuple(draw(st.lists(st.integers(1, 3), min_size=1, max_size=3)))
    S, H = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    A = int(np.prod(ks))
    nxt = rng.integers(-1, S, size=(S, A))
    game = TabularMarkovGame(ks, nxt, rng.normal(size=(S, A, len(ks))), initial_state=int(rng.integers(S)), horizon=H)
    pols = [rng.dirichlet(np.ones(k), size=S) for k in ks]
    return game, pols


def brute_force_returns(game, pols):
    """Sum over every joint-action sequence of its probability times its rewards."""
    total = np.zeros(game.n_agents)
    acts = game.joint_actions()

    def walk(s, t, prob):
        nonlocal total
        if s < 0 or t == game.horizon:
            return
        for a in range(game.n_joint_actions):
            p = prob * np.prod([pols[i][s, acts[a, i]] for i in range(game.n_agents)])
            if p == 0:
                continue
            total += p * game.rewards[s, a]
            walk(int(game.next_state[s, a]), t + 1, p)

    walk(game.initial_state, 0, 1.0)
    return total


@given(games_and_policies())

def test_evaluate_equals_enumeration_of_action_sequences(gp):
    game, pols = gp
    np.testing.assert_allclose(evaluate(game, pols), brute_force_returns(game, pols), rtol=1e-10, atol=1e-10)


@given(games_and_policies())

def test_joint_policy_rows_and_state_mass(gp):
    game, pols = gp
    pi = joint_policy(game, pols)
    np.testing.assert_allclose(pi.sum(axis=1), 1.0, atol=1e-12)
    d = state_distributions(game, pols)
    assert d[0].sum() == pytest.approx(1.0)
    # mass can only leave (episodes end), never appear
    assert np.all(np.diff(d.sum(axis=1)) <= 1e-12)


def test_sampled_returns_match_exact_within_four_standard_errors():
    rng = np.random.default_rng(3)
    ks, S, H = (2, 3), 3, 4
    game = TabularMarkovGame(ks, rng.integers(-1, S, size=(S, 6)), rng.normal(size=(S, 6, 2)), horizon=H)
    pols = [rng.dirichlet(np.ones(k), size=S) for k in ks]
    _, _, rewards, alive = sample_episodes(game, pols, 200_000, np.random.default_rng(0))
    ret = rewards.sum(axis=1)
    se = ret.std(axis=0) / np.sqrt(len(ret))
    # slack: 4 standard errors per agent (a false alarm has probability < 1e-4 per agent)
    assert np.all(np.abs(ret.mean(axis=0) - evaluate(game, pols)) <= 4 * se)
    assert np.all(rewards[~alive] == 0)


def test_same_seed_same_episodes():
    game = TabularMarkovGame((2, 2), np.array([[0, 0, -1, 0]]), np.ones((1, 4, 2)), horizon=3)
    pols = [np.array([[0.5, 0.5]])] * 2
    a = sample_episodes(game, pols, 50, np.random.default_rng(7))
    b = sample_episodes(game, pols, 50, np.random.default_rng(7))
    for x, y in zip(a, b):
        assert np.array_equal(x, y)


@pytest.mark.parametrize("kwargs, field", [
    (dict(n_actions=(2, 0)), "n_actions"),
    (dict(next_state=np.array([[0, 0, 5, 0]])), "next_state"),
    (dict(next_state=np.array([[0.0, 0, 0, 0]])), "next_state"),
    (dict(rewards=np.ones((1, 4, 3))), "rewards"),
    (dict(rewards=np.full((1, 4, 2), np.nan)), "rewards"),
    (dict(initial_state=1), "initial_state"),
    (dict(horizon=0), "horizon"),
    (dict(observations=np.array([[0], [-1]])), "observations"),
])
def test_bad_games_name_the_field(kwargs, field):
    base = dict(n_actions=(2, 2), next_state=np.array([[0, 0, -1, 0]]), rewards=np.ones((1, 4, 2)), horizon=2)
    base.update(kwargs)
    with pytest.raises(InvalidInstanceError) as exc:
        TabularMarkovGame(**base)
    assert exc.value.field == field


def test_bad_policies_name_the_agent():
    game = TabularMarkovGame((2, 2), np.array([[0, 0, -1, 0]]), np.ones((1, 4, 2)), horizon=2)
    with pytest.raises(InvalidInstanceError, match=r"policies\[1\]"):
        evaluate(game, [np.array([[0.5, 0.5]]), np.array([[0.7, 0.7]])])
