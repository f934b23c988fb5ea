"""Normal-form games with incentives (``theory/incentive_games.py``): validation, the file kind,
the families' defining properties (checked from the payoffs, by the game's own equilibrium and
dominance helpers and by the welfare DP of ``solvers/incentive_optimum.py``), and the Markov-game view."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from contractlab.solvers.incentive_optimum import welfare_optimum
from contractlab.theory import dumps, load, loads, save
from contractlab.theory.errors import InvalidInstanceError
from contractlab.theory.incentive_games import (MAX_ABS_PAYOFF, MAX_JOINT_ACTIONS, NormalFormGame,
                                                prisoners_dilemma, public_goods, stag_hunt)
from contractlab.theory.markov_game import evaluate


def _profiles(game: NormalFormGame):
    return itertools.product(*[range(k) for k in game.n_actions])


def _optimum_profile(game: NormalFormGame) -> tuple[int, ...]:
    opt = welfare_optimum(game.as_markov_game())
    return tuple(int(a) for a in np.unravel_index(int(opt.policy[0, 0]), game.n_actions))


# --------------------------------------------------------------------------- validation

@pytest.mark.parametrize("payoffs, field, fragment", [
    ([[[1.0, float("nan")], [0.0, 1.0]], [[1.0, 0.0], [0.0, 1.0]]], "payoffs", "not finite"),
    ([[[1.0, float("inf")], [0.0, 1.0]], [[1.0, 0.0], [0.0, 1.0]]], "payoffs", "not finite"),
    ([[[1.0, 2.0], [0.0]], [[1.0, 0.0], [0.0, 1.0]]], "payoffs", ""),                     # ragged
    ([[1.0, 2.0], [3.0, 4.0]], "payoffs", ""),                                             # 2 players, 1 action axis
    ([[[1.0, 2.0], [3.0, 4.0]]], "payoffs", ""),                                           # 1 player, 2 action axes
    ([], "payoffs", "players"),
    ([[[1e200, 0.0], [0.0, 0.0]], [[0.0, 0.0], [0.0, 0.0]]], "payoffs", "beyond"),
    ([[["a", 0.0], [0.0, 0.0]], [[0.0, 0.0], [0.0, 0.0]]], "payoffs", "real number"),
    ([[[True, 0.0], [0.0, 0.0]], [[0.0, 0.0], [0.0, 0.0]]], "payoffs", "real number"),
    ("12", "payoffs", "nested list"),
    (3.0, "payoffs", "nested list"),
])
def test_bad_payoffs_are_refused_naming_the_field(payoffs, field, fragment):
    with pytest.raises(InvalidInstanceError) as err:
        NormalFormGame(payoffs)
    assert err.value.field == field
    assert fragment in str(err.value)


def test_bad_entries_are_located():
    p = np.zeros((2, 2, 3))
    p[1, 0, 2] = np.nan
    with pytest.raises(InvalidInstanceError) as err:
        NormalFormGame(p)
    assert err.value.index == (1, 0, 2)
    p[1, 0, 2] = -2 * MAX_ABS_PAYOFF
    with pytest.raises(InvalidInstanceError) as err:
        NormalFormGame(p)
    assert err.value.index == (1, 0, 2)


def test_ndarray_whose_first_axis_is_not_the_players_is_refused():
    with pytest.raises(InvalidInstanceError, match="players"):
        NormalFormGame(np.zeros((3, 2, 2)))          # 3 payoff tables but only 2 action axes
    with pytest.raises(InvalidInstanceError):
        NormalFormGame(np.zeros(4))


def test_too_many_joint_actions_are_refused_before_copying():
    # a broadcast view: 2^21 joint actions without allocating them
    big = np.broadcast_to(np.zeros(1), (1, 2**21))
    with pytest.raises(InvalidInstanceError, match="joint actions"):
        NormalFormGame(big)
    assert MAX_JOINT_ACTIONS < 2**21


def test_names_are_validated():
    p = np.zeros((2, 2, 3))
    assert NormalFormGame(p, (("a", "b"), ("x", "y", "z"))).label(1, 2) == "z"
    for names in [(("a", "b"),), (("a", "a"), ("x", "y", "z")), (("a", "b"), ("x", "y")), "ab",
                  (("a", "b"), ("x", "y", "\x1b[31m"))]:
        with pytest.raises(InvalidInstanceError) as err:
            NormalFormGame(p, names)
        assert err.value.field.startswith("action_names")


def test_the_game_is_immutable():
    g = prisoners_dilemma()
    with pytest.raises(ValueError):
        g.payoffs[0, 0, 0] = 10.0
    with pytest.raises(AttributeError):
        g.payoffs = np.zeros((2, 2, 2))


# --------------------------------------------------------------------------- file kind

@given(st.integers(1, 3).flatmap(lambda n: st.tuples(st.just(n), st.lists(st.integers(1, 3), min_size=n, max_size=n))),
       st.integers(0, 2**32 - 1), st.booleans())
def test_file_round_trip(shape, seed, named):
    n, ks = shape
    rng = np.random.default_rng(seed)
    payoffs = rng.normal(size=(n,) + tuple(ks)) * 10.0 ** rng.integers(-3, 4)
    names = tuple(tuple(f"p{i}a{k}" for k in range(K)) for i, K in enumerate(ks)) if named else None
    g = NormalFormGame(payoffs, names)
    text = dumps(g)
    assert json.loads(text)["kind"] == "normal_form_game" and json.loads(text)["version"] == 1
    back = loads(text)
    assert isinstance(back, NormalFormGame) and back == g          # floats written exactly (repr)


def test_save_and_load(tmp_path):
    g = public_goods(4, 2.5)
    path = tmp_path / "pg.json"
    save(g, path)
    assert load(path) == g
    assert load(path).action_names[3] == ("keep", "contribute")


@pytest.mark.parametrize("doc, fragment", [
    ({"kind": "normal_form_game", "version": 1}, "payoffs"),
    ({"kind": "normal_form_game", "version": 1, "payoffs": [[[1, 2]], [[3, 4]]], "extra": 1}, "extra"),
    ({"kind": "normal_form_game", "version": 2, "payoffs": [[[1, 2]], [[3, 4]]]}, "version"),
    ({"kind": "normal_form_game", "version": 1, "payoffs": [[[1, 2]], [[3, "x"]]]}, "payoffs"),
    ({"kind": "normal_form_game", "version": 1, "payoffs": [[[1, 2]], [[3]]]}, "payoffs"),
    ({"kind": "normal_form_game", "version": 1, "payoffs": [[[1, 2]], [[3, 4]]], "action_names": [["a"], ["b"]]},
     "action_names"),
])
def test_hostile_files_are_refused(doc, fragment):
    with pytest.raises(InvalidInstanceError) as err:
        loads(json.dumps(doc))
    assert fragment in str(err.value)


def test_nan_in_a_file_is_refused():
    text = '{"kind": "normal_form_game", "version": 1, "payoffs": [[[1, NaN]], [[3, 4]]]}'
    with pytest.raises(InvalidInstanceError):
        loads(text)


# --------------------------------------------------------------------------- families

def test_prisoners_dilemma():
    g = prisoners_dilemma()
    assert g.n_actions == (2, 2) and g.action_names[0] == ("cooperate", "defect")
    assert g.pure_nash_equilibria() == [(1, 1)]                      # (D, D) unique
    assert g.dominant_actions(0) == [1] and g.dominant_actions(1) == [1]
    assert _optimum_profile(g) == (0, 0)                              # (C, C) welfare-optimal
    # the payoffs as documented: R, S, T, P = 3, 0, 4, 1 for the row player, symmetric game
    assert g.payoff((0, 0)).tolist() == [3, 3] and g.payoff((0, 1)).tolist() == [0, 4]
    assert g.payoff((1, 0)).tolist() == [4, 0] and g.payoff((1, 1)).tolist() == [1, 1]


@given(st.lists(st.integers(-20, 20), min_size=4, max_size=4, unique=True))
def test_prisoners_dilemma_for_any_ordered_payoffs(values):
    p, s_, r, t = sorted(values)[1], sorted(values)[0], sorted(values)[2], sorted(values)[3]
    g = prisoners_dilemma(reward=r, sucker=s_, temptation=t, punishment=p)
    assert g.pure_nash_equilibria() == [(1, 1)]
    assert g.dominant_actions(0) == [1]
    if 2 * r > t + s_:
        assert _optimum_profile(g) == (0, 0)


@pytest.mark.parametrize("kwargs, field", [
    (dict(temptation=3.0), "temptation"), (dict(reward=1.0), "reward"), (dict(punishment=0.0), "punishment"),
    (dict(sucker=float("nan")), "sucker"), (dict(reward="3"), "reward"), (dict(temptation=1e200), "temptation"),
])
def test_prisoners_dilemma_order_is_checked(kwargs, field):
    with pytest.raises(InvalidInstanceError) as err:
        prisoners_dilemma(**kwargs)
    assert err.value.field == field


def test_stag_hunt():
    g = stag_hunt()
    assert g.pure_nash_equilibria() == [(0, 0), (1, 1)]              # both strict equilibria
    assert g.pure_nash_equilibria(tol=0.0) == g.pure_nash_equilibria()
    w = g.welfare()
    assert w[0, 0] > w[1, 1]                                          # stag payoff-dominant
    assert _optimum_profile(g) == (0, 0)
    assert g.dominant_actions(0) == [] and g.dominant_actions(0, strict=False) == []
    for kwargs, field in [(dict(stag=2.0), "stag"), (dict(stag_alone=3.0), "hare_both"), (dict(hare_both=5.0), "stag")]:
        with pytest.raises(InvalidInstanceError) as err:
            stag_hunt(**kwargs)
        assert err.value.field == field


@given(st.integers(2, 6), st.floats(0.01, 0.99), st.floats(0.01, 100.0))
def test_public_goods_is_a_social_dilemma(n, fraction, endowment):
    multiplier = 1.0 + fraction * (n - 1.0)
    g = public_goods(n, multiplier, endowment)
    assert g.n_actions == (2,) * n
    for i in range(n):
        assert g.dominant_actions(i) == [0]                          # free-riding (keep) strictly dominant
    assert g.pure_nash_equilibria() == [(0,) * n]
    assert _optimum_profile(g) == (1,) * n                            # everyone contributes
    # the payoff formula, entry by entry
    for c in _profiles(g):
        want = endowment * (1 - np.array(c)) + multiplier * endowment * sum(c) / n
        assert np.allclose(g.payoff(c), want, rtol=1e-12, atol=0)


@pytest.mark.parametrize("args, field", [
    ((1, 1.5), "n"), ((17, 2.0), "n"), ((True, 1.5), "n"), ((2.0, 1.5), "n"),
    ((3, 1.0), "multiplier"), ((3, 3.0), "multiplier"), ((3, 0.5), "multiplier"), ((3, float("inf")), "multiplier"),
    ((3, 2.0, 0.0), "endowment"), ((3, 2.0, -1.0), "endowment"),
])
def test_public_goods_parameters_are_checked(args, field):
    with pytest.raises(InvalidInstanceError) as err:
        public_goods(*args)
    assert err.value.field == field


# --------------------------------------------------------------------------- the Markov-game view

@given(st.integers(1, 3).flatmap(lambda n: st.lists(st.integers(1, 3), min_size=n, max_size=n)), st.integers(0, 2**32 - 1))
def test_as_markov_game_has_the_payoffs_at_every_profile(ks, seed):
    rng = np.random.default_rng(seed)
    g = NormalFormGame(rng.integers(-3, 4, size=(len(ks),) + tuple(ks)).astype(float))
    m = g.as_markov_game()
    assert (m.n_states, m.horizon, m.n_actions) == (1, 1, g.n_actions)
    assert (m.next_state == -1).all()
    for prof in _profiles(g):
        a = g.joint_index(prof)
        assert int(m.joint_index(np.array(prof))) == a
        assert np.array_equal(m.rewards[0, a], g.payoff(prof))
        # the base evaluation of the one-hot policies playing the profile gives the payoffs
        pols = [np.eye(k)[[prof[i]]] for i, k in enumerate(g.n_actions)]
        assert np.array_equal(evaluate(m, pols), g.payoff(prof))
