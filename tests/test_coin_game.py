"""The Coin Game core (theory/coin_game.py) and its PettingZoo wrapper (envs/coin_game.py):
validation, moves on the torus, pick-ups and payoff conventions by hand-made cases, respawns,
determinism by seed, observations, the PettingZoo API test."""

from __future__ import annotations

import importlib
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from contractlab.theory.coin_game import CoinGame, CoinState
from contractlab.theory.errors import InvalidInstanceError

UP, DOWN, LEFT, RIGHT, STAY = range(5)


def one(game, p0, p1, coin, colour):
    return CoinState(pos=np.array([[p0, p1]]), coin=np.array([coin]), colour=np.array([colour]))


def step1(game, state, a0, a1, u=0.0):
    nxt, rew, picked = game.step(state, np.array([[a0, a1]]), u=np.array([u]))
    return nxt, rew[0], picked[0]


# ---- validation ------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, field", [
    (dict(grid=1), "grid"), (dict(grid=2.5), "grid"), (dict(grid=True), "grid"),
    (dict(horizon=0), "horizon"), (dict(horizon=1.5), "horizon"),
    (dict(payoff="lola"), "payoff"),
    (dict(payoff="paper", payoff_matrix=[[1, 1, 1], [1, 1, 1]]), "payoff_matrix"),
    (dict(payoff="jaxmarl", payoff_matrix=[[1, 1], [1, 1]]), "payoff_matrix"),
    (dict(payoff="jaxmarl", payoff_matrix=[[1, np.nan, 1], [1, 1, 1]]), "payoff_matrix"),
    (dict(simultaneous="first"), "simultaneous"),
])
def test_invalid_games_name_the_field(kwargs, field):
    with pytest.raises(InvalidInstanceError) as err:
        CoinGame(**kwargs)
    assert err.value.field == field


def test_invalid_steps_name_the_field():
    g = CoinGame()
    rng = np.random.default_rng(0)
    s = g.reset(3, rng)
    with pytest.raises(InvalidInstanceError, match="actions"):
        g.step(s, np.zeros((3, 3), dtype=int), rng)
    with pytest.raises(InvalidInstanceError, match=r"actions\[1\]\[0\]"):
        g.step(s, np.array([[0, 0], [5, 0], [0, 0]]), rng)
    with pytest.raises(InvalidInstanceError, match="actions"):
        g.step(s, np.zeros((3, 2)), rng)
    with pytest.raises(InvalidInstanceError, match="rng"):
        g.step(s, np.zeros((3, 2), dtype=int))
    with pytest.raises(InvalidInstanceError, match="batch"):
        g.reset(0, rng)
    with pytest.raises(InvalidInstanceError, match="actions"):   # no stay action without stay
        CoinGame(stay=False).step(s, np.full((3, 2), 4), rng)


def test_default_horizons_follow_the_paper():
    assert CoinGame(grid=3).horizon == 20
    assert CoinGame(grid=7).horizon == 50
    assert CoinGame(grid=3, horizon=7).horizon == 7


# ---- moves -----------------------------------------------------------------------------------

def test_moves_by_hand_on_3x3_wrap_around():
    g = CoinGame()
    # cell = row * 3 + col; corner 0 = (0, 0)
    assert g.move_table[0].tolist() == [6, 3, 2, 1, 0]          # up wraps to row 2, left to col 2
    assert g.move_table[4].tolist() == [1, 7, 3, 5, 4]          # the centre
    assert g.move_table[8].tolist() == [5, 2, 7, 6, 8]          # down wraps to row 0, right to col 0
    assert CoinGame(stay=False).move_table.shape == (9, 4)


@given(grid=st.integers(2, 7), cell=st.integers(0, 48))
def test_opposite_moves_cancel_and_moves_change_one_coordinate(grid, cell):
    g = CoinGame(grid=grid)
    c = cell % g.n_cells
    m = g.move_table
    assert m[m[c, UP], DOWN] == c and m[m[c, LEFT], RIGHT] == c and m[c, STAY] == c
    for a in (UP, DOWN):
        assert m[c, a] % grid == c % grid                       # column unchanged
    for a in (LEFT, RIGHT):
        assert m[c, a] // grid == c // grid                     # row unchanged
    # grid steps in one direction come back (a torus)
    x = c
    for _ in range(grid):
        x = m[x, RIGHT]
    assert x == c


# ---- pick-ups and payoffs --------------------------------------------------------------------

@pytest.mark.parametrize("payoff, own, other, penalty", [("paper", 1.0, 0.2, 0.0), ("classic", 1.0, 1.0, -2.0)])
def test_pickups_by_hand(payoff, own, other, penalty):
    g = CoinGame(payoff=payoff)
    # agent 0 at 0 moves right onto a red coin at 1: its own colour
    nxt, rew, picked = step1(g, one(g, 0, 8, 1, 0), RIGHT, STAY)
    assert picked.tolist() == [True, False] and rew.tolist() == [own, 0.0]
    assert nxt.colour[0] == 1 and nxt.coin[0] not in (1, 8)     # colour alternates, coin off the agents
    # agent 0 picks a blue coin: the other's colour; agent 1 (the owner) gets the penalty
    _, rew, _ = step1(g, one(g, 0, 8, 1, 1), RIGHT, STAY)
    assert rew.tolist() == [other, penalty]
    # agent 1 at 8 moves up onto a red coin at 5: agent 1 gets "other", agent 0 the penalty
    _, rew, picked = step1(g, one(g, 0, 8, 5, 0), STAY, UP)
    assert picked.tolist() == [False, True] and rew.tolist() == [penalty, other]
    # both arrive at the red coin at 4 at once: both pick it up, all terms apply
    _, rew, picked = step1(g, one(g, 3, 5, 4, 0), RIGHT, LEFT)
    assert picked.tolist() == [True, True] and rew.tolist() == [own + penalty, other]
    # nobody reaches it: nothing changes but the positions
    nxt, rew, picked = step1(g, one(g, 0, 8, 4, 1), LEFT, RIGHT)
    assert not picked.any() and rew.tolist() == [0.0, 0.0]
    assert nxt.pos[0].tolist() == [2, 6] and nxt.coin[0] == 4 and nxt.colour[0] == 1


@pytest.mark.parametrize("payoff, to0, to1", [("paper", [1.0, 0.0], [0.0, 0.2]), ("classic", [1.0, 0.0], [-2.0, 1.0])])
def test_simultaneous_random_gives_the_coin_to_one_agent(payoff, to0, to1):
    """Both reach a red coin at 4: u < 1/2 gives it to agent 0, else to agent 1; the respawn
    cell is chosen by 2u mod 1 (so u and u + 1/2 respawn at the same cell)."""
    g = CoinGame(payoff=payoff, simultaneous="random")
    s = one(g, 3, 5, 4, 0)
    for u in (0.0, 0.2, 0.49):
        n0, rew0, picked0 = step1(g, s, RIGHT, LEFT, u)
        n1, rew1, picked1 = step1(g, s, RIGHT, LEFT, u + 0.5)
        assert picked0.tolist() == [True, False] and rew0.tolist() == to0
        assert picked1.tolist() == [False, True] and rew1.tolist() == to1
        assert n0.coin[0] == n1.coin[0] == g.free_cell(np.array([4]), np.array([4]), np.array([2 * u]))[0]
        assert n0.colour[0] == n1.colour[0] == 1
    # a coin reached by one agent only is unaffected by the rule
    _, rew, picked = step1(g, one(g, 0, 8, 1, 0), RIGHT, STAY, 0.9)
    assert picked.tolist() == [True, False] and rew.tolist() == [1.0, 0.0]


def test_simultaneous_random_is_a_fair_coin_and_respawns_uniformly():
    """80 000 ties (both agents step onto the coin at 4 from 3 and 5): agent 0 wins in half of
    them and the respawn is uniform over the 8 free cells, each count within 5 standard
    deviations of its expectation (about ±700 and ±470)."""
    g = CoinGame(simultaneous="random")
    B = 80_000
    s = CoinState(pos=np.tile([3, 5], (B, 1)), coin=np.full(B, 4), colour=np.zeros(B, dtype=np.int64))
    nxt, _, picked = g.step(s, np.tile([RIGHT, LEFT], (B, 1)), np.random.default_rng(4))
    assert np.all(picked.sum(axis=1) == 1)
    assert abs(picked[:, 0].sum() - B / 2) < 5 * np.sqrt(B / 4)
    counts = np.bincount(nxt.coin, minlength=9)
    assert counts[4] == 0
    assert np.all(np.abs(np.delete(counts, 4) - B / 8) < 5 * np.sqrt(B * (1 / 8) * (7 / 8)))


def test_jaxmarl_payoff_matrix_rows_are_own_other_penalty():
    m = [[1.5, 0.25, -3.0], [2.5, 0.75, -4.0]]
    g = CoinGame(payoff="jaxmarl", payoff_matrix=m)
    assert np.array_equal(CoinGame(payoff="jaxmarl").payoff_matrix, CoinGame(payoff="classic").payoff_matrix)
    _, rew, _ = step1(g, one(g, 0, 8, 1, 0), RIGHT, STAY)      # 0 picks red (own)
    assert rew.tolist() == [1.5, 0.0]
    _, rew, _ = step1(g, one(g, 0, 8, 1, 1), RIGHT, STAY)      # 0 picks blue (other's)
    assert rew.tolist() == [0.25, -4.0]
    _, rew, _ = step1(g, one(g, 0, 8, 5, 1), STAY, UP)         # 1 picks blue (own)
    assert rew.tolist() == [0.0, 2.5]
    _, rew, _ = step1(g, one(g, 0, 8, 5, 0), STAY, UP)         # 1 picks red (other's)
    assert rew.tolist() == [-3.0, 0.75]


@given(p0=st.integers(0, 8), p1=st.integers(0, 8))
def test_respawn_enumeration_covers_each_free_cell_once(p0, p1):
    g = CoinGame()
    free = sorted(set(range(9)) - {p0, p1})
    k = len(free)
    cells = g.free_cell(np.full(k, p0), np.full(k, p1), (np.arange(k) + 0.5) / k)
    assert cells.tolist() == free
    # the ends of [0, 1) stay inside the free cells
    ends = g.free_cell(np.array([p0, p0]), np.array([p1, p1]), np.array([0.0, np.nextafter(1.0, 0)]))
    assert ends.tolist() == [free[0], free[-1]]


def test_respawn_frequencies_are_uniform_over_free_cells():
    """Agent 0 picks its coin from cell 1 landing next to agent 1: 7 free cells, each expected
    with probability 1/7; 70 000 draws, every count within 5 standard deviations (~±470)."""
    g = CoinGame()
    B = 70_000
    s = CoinState(pos=np.tile([0, 4], (B, 1)), coin=np.ones(B, dtype=np.int64), colour=np.zeros(B, dtype=np.int64))
    nxt, _, picked = g.step(s, np.tile([RIGHT, STAY], (B, 1)), np.random.default_rng(1))
    assert picked[:, 0].all()
    counts = np.bincount(nxt.coin, minlength=9)
    assert counts[1] == 0 and counts[4] == 0
    sd = np.sqrt(B * (1 / 7) * (6 / 7))
    assert np.all(np.abs(counts[[0, 2, 3, 5, 6, 7, 8]] - B / 7) < 5 * sd)


def test_reset_start_distribution():
    """Agents on distinct cells, the coin on neither; each of the 9·8·7·2 start states has
    probability 1/1008: 100 800 draws, counts within 5 standard deviations (~±50) of 100."""
    g = CoinGame()
    s = g.reset(100_800, np.random.default_rng(2))
    assert np.all(s.pos[:, 0] != s.pos[:, 1])
    assert np.all((s.coin != s.pos[:, 0]) & (s.coin != s.pos[:, 1]))
    counts = np.bincount(g.index_of(s), minlength=g.n_states)
    support = g.initial_distribution() > 0
    assert support.sum() == 1008 and np.isclose(g.initial_distribution().sum(), 1.0)
    assert counts[~support].sum() == 0
    assert np.all(np.abs(counts[support] - 100) < 5 * np.sqrt(100))


def test_state_index_round_trips():
    g = CoinGame(grid=4)
    idx = np.arange(g.n_states)
    assert np.array_equal(g.index_of(g.from_index(idx)), idx)
    assert g.n_states == 2 * 16 ** 3


def rollout(game, seed, batch=64):
    rng = np.random.default_rng(seed)
    s = game.reset(batch, rng)
    out = []
    while not game.done(s):
        s, r, _ = game.step(s, rng.integers(0, game.n_actions, (batch, 2)), rng)
        out.append((game.index_of(s), r))
    return out


def test_seeds_give_bit_identical_episodes():
    g = CoinGame(payoff="classic")
    a, b, c = rollout(g, 7), rollout(g, 7), rollout(g, 8)
    assert len(a) == g.horizon
    assert all(np.array_equal(x[0], y[0]) and np.array_equal(x[1], y[1]) for x, y in zip(a, b))
    assert not all(np.array_equal(x[0], y[0]) for x, y in zip(a, c))


def test_batched_step_equals_one_game_at_a_time():
    g = CoinGame()
    rng = np.random.default_rng(3)
    s = g.reset(50, rng)
    acts = rng.integers(0, 5, (50, 2))
    u = rng.random(50)
    nxt, rew, picked = g.step(s, acts, u=u)
    for b in range(50):
        sb = CoinState(pos=s.pos[b:b + 1], coin=s.coin[b:b + 1], colour=s.colour[b:b + 1])
        nb, rb, pb = g.step(sb, acts[b:b + 1], u=u[b:b + 1])
        assert g.index_of(nb)[0] == g.index_of(nxt)[b]
        assert np.array_equal(rb[0], rew[b]) and np.array_equal(pb[0], picked[b])


def test_observations_are_egocentric_one_hot_planes():
    g = CoinGame()
    s = one(g, 0, 8, 4, 1)                        # a blue coin: agent 1's colour
    obs = g.observations(s)[0]
    assert obs.shape == (2, 4, 3, 3) and obs.dtype == np.uint8
    assert obs.reshape(2, 4, 9).sum(axis=2).tolist() == [[1, 1, 0, 1], [1, 1, 1, 0]]
    assert obs[0, 0, 0, 0] == 1 and obs[0, 1, 2, 2] == 1 and obs[0, 3, 1, 1] == 1
    assert obs[1, 0, 2, 2] == 1 and obs[1, 1, 0, 0] == 1 and obs[1, 2, 1, 1] == 1


# ---- the PettingZoo wrapper ------------------------------------------------------------------

pettingzoo = pytest.importorskip("pettingzoo")


@pytest.mark.parametrize("kwargs", [dict(), dict(grid=7, stay=False, payoff="classic")])
def test_parallel_api_test_passes(kwargs):
    from pettingzoo.test import parallel_api_test

    from contractlab.envs.coin_game import CoinGameEnv
    parallel_api_test(CoinGameEnv(**kwargs), num_cycles=60)


def test_env_episodes_are_seeded_truncated_and_match_the_core():
    from contractlab.envs.coin_game import parallel_env
    env = parallel_env()

    def episode(seed):
        obs, _ = env.reset(seed=seed)
        rng = np.random.default_rng(seed + 100)
        trace, n = [int(env.state()[0])], 0
        while env.agents:
            acts = {a: int(rng.integers(0, 5)) for a in env.agents}
            obs, rew, term, trunc, info = env.step(acts)
            n += 1
            trace.append((int(env.state()[0]), rew["agent_0"], rew["agent_1"]))
            assert not any(term.values())
            assert all(trunc.values()) == (n == 20)
        return trace, n

    a, n = episode(5)
    assert n == 20 and a == episode(5)[0] and a != episode(6)[0]
    with pytest.raises(InvalidInstanceError):
        env.step({"agent_0": 0, "agent_1": 0})


def test_env_import_error_names_the_extra(monkeypatch):
    importlib.import_module("contractlab.envs.coin_game")   # the package itself imports
    monkeypatch.setitem(sys.modules, "pettingzoo", None)
    monkeypatch.delitem(sys.modules, "contractlab.envs.coin_game")
    with pytest.raises(ImportError, match=r'pip install "contractlab\[envs\]"') as err:
        importlib.import_module("contractlab.envs.coin_game")
    assert "\n" not in str(err.value)
