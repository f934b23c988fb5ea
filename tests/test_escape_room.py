"""Escape Room ER(N, M): the numpy core against a plain-Python reference of the rules, the Markov
game against the core on every (state, joint action) pair, the optimal welfare against a brute
force over all deterministic action sequences, and the PettingZoo wrapper against PettingZoo's
own API test (the ``envs`` extra is part of the ``test`` extra, so it is imported unconditionally
in the wrapper tests).

The reference below is written from the rules as the issue states them (Yang et al., arXiv
2112.10859, Section 5.1; the authors' ``incentive_design/env/escape_room.py``), one agent at a time,
without numpy, so that it shares no code with the vectorised core.
"""

from __future__ import annotations

import itertools
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from contractlab.theory.errors import InvalidInstanceError
from contractlab.theory.escape_room import (
    DEFAULT_MAX_STEPS,
    MAX_AGENTS,
    EscapeRoom,
    escape_room_game,
    optimal_welfare,
)
from contractlab.theory.markov_game import evaluate

ROOT = Path(__file__).resolve().parent.parent


def reference_step(positions, actions, steps_before, n, m, max_steps):
    """The rules one agent at a time: (rewards, new positions, done)."""
    door_open = sum(1 for a in actions if a == 0) >= m
    rewards = []
    for i in range(n):
        if door_open and actions[i] == 2:
            rewards.append(10.0)
        elif actions[i] == positions[i]:
            rewards.append(0.0)
        else:
            rewards.append(-1.0)
    new = list(actions)
    done = (door_open and 2 in new) or steps_before + 1 == max_steps
    return rewards, new, done


def reference_episode(actions_seq, n, m, max_steps):
    """Play one episode of a list of joint actions; returns (rewards per step, number of steps played)."""
    pos, out = [1] * n, []
    for t, acts in enumerate(actions_seq):
        r, pos, done = reference_step(pos, list(acts), t, n, m, max_steps)
        out.append(r)
        if done:
            break
    return out


SMALL = [(1, 1), (2, 1), (2, 2), (3, 1), (3, 2), (3, 3)]


def all_pairs(n):
    """Every (positions, actions) pair of N agents, as two (9^N, N) arrays."""
    grid = np.array(list(itertools.product(range(3), repeat=2 * n)), dtype=np.int64)
    return grid[:, :n], grid[:, n:]


# --------------------------------------------------------------------------- the core

@pytest.mark.parametrize("n,m", SMALL)
def test_core_step_equals_reference_on_every_pair(n, m):
    room = EscapeRoom(n, m)
    pos, act = all_pairs(n)
    for steps in (0, DEFAULT_MAX_STEPS - 1):
        rewards, new, done = room.step(pos.astype(np.int8), act, steps)
        assert new.dtype == np.int8 and rewards.shape == (len(pos), n) and done.shape == (len(pos),)
        for k in range(len(pos)):
            r, p, d = reference_step(pos[k].tolist(), act[k].tolist(), steps, n, m, DEFAULT_MAX_STEPS)
            assert rewards[k].tolist() == r and new[k].tolist() == p and bool(done[k]) == d, (pos[k], act[k])


@given(n=st.integers(1, 6), data=st.data())
def test_core_play_equals_reference_on_drawn_episodes(n, data):
    m = data.draw(st.integers(1, n))
    max_steps = data.draw(st.integers(1, 6))
    seed = data.draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    B = 40
    # mostly-lever/door actions so that doors open often
    actions = rng.choice(3, size=(B, max_steps, n), p=[0.45, 0.2, 0.35])
    room = EscapeRoom(n, m, max_steps)
    ep = room.play(actions)
    for b in range(B):
        ref = reference_episode(actions[b].tolist(), n, m, max_steps)
        T = len(ref)
        assert ep.alive[b].tolist() == [True] * T + [False] * (max_steps - T)
        assert ep.rewards[b, :T].tolist() == ref
        assert not ep.rewards[b, T:].any()
    assert np.array_equal(ep.welfare, ep.returns.sum(axis=1))


def test_step_accepts_per_episode_step_counts_and_needs_no_loop_over_batch():
    room = EscapeRoom(3, 2, max_steps=3)
    pos = room.reset(4)
    act = np.ones((4, 3), dtype=np.int64)  # everyone stays: only the step limit can end it
    _, _, done = room.step(pos, act, np.array([0, 1, 2, 5]))
    assert done.tolist() == [False, False, True, True]
    assert room.step(pos[:0], act[:0], 0)[2].shape == (0,)


def test_seeded_actions_give_bit_identical_episodes():
    room = EscapeRoom(3, 2)

    def run(seed):
        rng = np.random.default_rng(seed)
        start = room.reset(256, rng)                    # the authors' random start
        acts = rng.integers(0, 3, size=(256, room.max_steps, 3), dtype=np.int8)
        return room.play(acts, start)

    a, b, c = run(7), run(7), run(8)
    for f in ("positions", "actions", "rewards", "alive"):
        assert np.array_equal(getattr(a, f), getattr(b, f))
    assert a.rewards.tobytes() == b.rewards.tobytes()
    assert not np.array_equal(a.positions, c.positions)
    assert (room.reset(5) == 1).all()


def test_random_start_is_uniform_within_slack():
    room = EscapeRoom(4, 2)
    pos = room.reset(30_000, np.random.default_rng(3))
    freq = np.bincount(pos.ravel(), minlength=3) / pos.size
    # each frequency has sd sqrt(2/9 / 120000) ~ 0.0014; 0.01 is 7 sd
    assert np.abs(freq - 1 / 3).max() < 0.01


def test_observations_follow_the_authors_layout():
    room = EscapeRoom(4, 2)
    pos = np.random.default_rng(0).integers(0, 3, size=(50, 4))
    obs = room.observations(pos)
    central = room.central_observation(pos)
    assert obs.shape == (50, 4, 12) and obs.dtype == np.float32 and central.shape == (50, 12)
    for b in range(50):
        for i in range(4):
            want = np.zeros(12)
            want[pos[b, i]] = 1
            for k, j in enumerate(j for j in range(4) if j != i):
                want[3 * (k + 1) + pos[b, j]] = 1
            assert obs[b, i].tolist() == want.tolist()
        assert central[b].tolist() == [float(pos[b, j] == p) for j in range(4) for p in range(3)]


def test_state_index_round_trip():
    room = EscapeRoom(3, 1)
    idx = np.arange(27)
    assert np.array_equal(room.state_index(room.joint_positions(idx)), idx)
    assert room.state_index([2, 0, 1]) == 2 * 9 + 0 * 3 + 1


# --------------------------------------------------------------------------- the Markov game

@pytest.mark.parametrize("n,m", SMALL + [(4, 2)])
def test_markov_game_agrees_with_core_on_every_pair(n, m):
    room = EscapeRoom(n, m)
    game = escape_room_game(n, m)
    S = 3 ** n
    assert game.n_states == S and game.n_joint_actions == S and game.horizon == DEFAULT_MAX_STEPS
    assert game.n_actions == (3,) * n
    assert room.joint_positions(game.initial_state).tolist() == [1] * n
    s, a = np.meshgrid(np.arange(S), np.arange(S), indexing="ij")
    s, a = s.ravel(), a.ravel()
    pos, act = room.joint_positions(s), game.joint_actions()[a]
    assert np.array_equal(act, room.joint_positions(a))     # joint actions = joint positions
    rewards, new, done = room.step(pos, act, 0)             # steps=0: only the door can end it
    assert np.array_equal(game.rewards[s, a], rewards)
    want_next = np.where(done, -1, room.state_index(new))
    assert np.array_equal(game.next_state[s, a], want_next)


@pytest.mark.parametrize("n,m", [(2, 1), (3, 2), (3, 1)])
def test_markov_game_value_of_the_paper_policy(n, m):
    """Exact evaluation (markov_game.evaluate) of the stationary policy "agents 0..M-1 go to the
    lever, the others to the door" gives each agent -1 or +10 and the welfare formula."""
    game = escape_room_game(n, m)
    pols = []
    for i in range(n):
        p = np.zeros((game.n_states, 3))
        p[:, 0 if i < m else 2] = 1
        pols.append(p)
    v = evaluate(game, pols)
    assert v.tolist() == [-1.0] * m + [10.0] * (n - m)
    assert v.sum() == optimal_welfare(n, m)


# --------------------------------------------------------------------------- the optimum

def brute_force_optimum(n, m, horizon):
    """max over ALL 3^(n*horizon) deterministic joint-action sequences of the episode welfare (the
    game is deterministic, so every deterministic policy plays one of them)."""
    room = EscapeRoom(n, m, horizon)
    seqs = np.array(list(itertools.product(range(3), repeat=n * horizon)), dtype=np.int8)
    return room.play(seqs.reshape(-1, horizon, n)).welfare.max()


@pytest.mark.parametrize("n,m,horizon", [(2, 1, 5), (2, 2, 5), (3, 2, 4), (3, 1, 4), (3, 3, 4), (1, 1, 5)])
def test_optimal_welfare_formula_against_brute_force(n, m, horizon):
    best = [brute_force_optimum(n, m, h) for h in range(1, horizon + 1)]
    assert best == [optimal_welfare(n, m)] * horizon
    if m < n:
        assert optimal_welfare(n, m) == 10 * (n - m) - m          # the paper's formula
    else:
        assert optimal_welfare(n, m) == 0 > 10 * (n - m) - m       # M = N: nobody can win


def test_optimal_welfare_where_the_papers_formula_is_negative():
    assert optimal_welfare(12, 11) == 0.0 and 10 * (12 - 11) - 11 == -1
    assert optimal_welfare(11, 10) == 0.0 and 10 * (11 - 10) - 10 == 0
    assert EscapeRoom(5, 2).optimal_welfare() == 28.0 == 10 * 3 - 2


# --------------------------------------------------------------------------- validation

@pytest.mark.parametrize("args,field", [
    ((0, 1), "n_agents"), ((MAX_AGENTS + 1, 1), "n_agents"), ((3, 0), "min_at_lever"),
    ((3, 4), "min_at_lever"), ((3, 2, 0), "max_steps"), ((True, 1), "n_agents"), ((3, 1.5), "min_at_lever"),
])
def test_invalid_rooms(args, field):
    with pytest.raises(InvalidInstanceError) as e:
        EscapeRoom(*args)
    assert e.value.field == field


def test_invalid_steps_and_too_large_game():
    room = EscapeRoom(2, 1)
    pos = room.reset(3)
    with pytest.raises(InvalidInstanceError) as e:
        room.step(pos, np.array([[0, 1], [1, 3], [2, 2]]), 0)
    assert e.value.field == "actions" and e.value.index == (1, 1)
    with pytest.raises(InvalidInstanceError):
        room.step(pos, np.zeros((3, 3), dtype=int), 0)
    with pytest.raises(InvalidInstanceError):
        room.step(pos, np.zeros((3, 2)), 0)                              # float actions
    with pytest.raises(InvalidInstanceError):
        room.step(pos, np.zeros((3, 2), dtype=int), np.array([0, -1, 0]))
    with pytest.raises(InvalidInstanceError):
        room.play(np.zeros((3, 6, 2), dtype=int))                        # longer than max_steps
    with pytest.raises(InvalidInstanceError) as e:
        escape_room_game(7, 2)
    assert e.value.field == "n_agents"


# --------------------------------------------------------------------------- imports and the extra

def test_core_does_not_import_pettingzoo_or_gymnasium():
    code = ("import sys, contractlab.theory.escape_room, contractlab.theory.markov_game\n"
            "bad = sorted(k for k in sys.modules if k.split('.')[0] in ('pettingzoo', 'gymnasium'))\n"
            "assert not bad, bad\n")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, env={"PYTHONPATH": str(ROOT)})


def test_missing_extra_gives_one_line_install_hint():
    code = ("import sys\nsys.modules['pettingzoo'] = None\n"
            "try:\n    import contractlab.envs\nexcept ImportError as e:\n    print(e)\n"
            "else:\n    raise SystemExit('no ImportError')\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True, text=True,
                         env={"PYTHONPATH": str(ROOT)}).stdout
    assert out.count("\n") == 1 and 'pip install "contractlab[envs]"' in out


# --------------------------------------------------------------------------- the PettingZoo wrapper

@pytest.mark.parametrize("n,m,randomize", [(1, 1, False), (3, 2, False), (5, 2, True), (2, 2, False)])
def test_parallel_api_test_passes_without_warnings(n, m, randomize, capsys):
    from pettingzoo.test import parallel_api_test, parallel_seed_test
    from pettingzoo.test.state_test import test_parallel_env as parallel_state_test

    from contractlab.envs import parallel_env

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        parallel_api_test(parallel_env(n_agents=n, min_at_lever=m, randomize=randomize), num_cycles=50)
        parallel_seed_test(lambda: parallel_env(n_agents=n, min_at_lever=m, randomize=randomize), num_cycles=50)
        parallel_state_test(parallel_env(n_agents=n, min_at_lever=m, randomize=randomize))
    assert "Passed Parallel API test" in capsys.readouterr().out


def test_wrapper_plays_the_core_episode():
    from contractlab.envs import EscapeRoomEnv

    rng = np.random.default_rng(11)
    room = EscapeRoom(3, 2)
    env = EscapeRoomEnv(3, 2)
    seen_term = seen_trunc = False
    for _ in range(200):
        acts = rng.choice(3, size=(room.max_steps, 3), p=[0.4, 0.4, 0.2])
        ep = room.play(acts[None])
        obs, _ = env.reset(seed=int(rng.integers(1 << 31)))
        assert obs["agent_1"].tolist() == room.observations(room.reset(1))[0, 1].tolist()
        t = 0
        while env.agents:
            obs, rew, term, trunc, info = env.step({f"agent_{i}": int(acts[t, i]) for i in range(3)})
            assert [rew[f"agent_{i}"] for i in range(3)] == ep.rewards[0, t].tolist()
            assert info["agent_0"]["door_open"] == bool((acts[t] == 0).sum() >= 2)
            assert np.array_equal(env.state(), room.central_observation(acts[t][None])[0])
            t += 1
        assert t == ep.alive[0].sum()
        door_end = info["agent_0"]["door_open"] and (acts[t - 1] == 2).any()
        assert all(term.values()) == door_end and all(trunc.values()) == (not door_end)
        assert not (door_end and t == room.max_steps and any(trunc.values()))
        seen_term |= bool(door_end)
        seen_trunc |= not door_end
    assert seen_term and seen_trunc
    with pytest.raises(InvalidInstanceError):
        env.step({f"agent_{i}": 1 for i in range(3)})                    # after the end


def test_wrapper_rejects_bad_input():
    from contractlab.envs import EscapeRoomEnv

    env = EscapeRoomEnv(2, 1)
    env.reset(seed=0)
    with pytest.raises(InvalidInstanceError):
        env.step({"agent_0": 0})
    with pytest.raises(InvalidInstanceError):
        env.step({"agent_0": 0, "agent_1": 5})
    with pytest.raises(InvalidInstanceError):
        env.step({"agent_0": 0.5, "agent_1": 1})
    with pytest.raises(InvalidInstanceError):
        EscapeRoomEnv(2, 1, render_mode="human")
    with pytest.raises(InvalidInstanceError):
        EscapeRoomEnv(2, 3)
