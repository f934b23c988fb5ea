"""Steering no-regret learners with payments (contractlab/learning/steering.py) and the game
families it is tried on (contractlab/theory/game_families.py)."""

from dataclasses import dataclass, field, replace

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from contractlab.learning.no_regret import Exp3, Hedge, RegretMatching, RegretMatchingPlus, self_play
from contractlab.learning.steering import (margin_schedule, payment_tables, steer_game, steered_game,
                                           target_margins)
from contractlab.proofs_checks import theorems_steering_games as tsg
from contractlab.proofs_checks.sublinearity import sublinearity_test
from contractlab.proofs_checks.theorems_regret import payoff_games
from contractlab.theory.bimatrix import BimatrixGame, pure_nash_equilibria
from contractlab.theory.errors import InvalidInstanceError
from contractlab.theory.game_families import prisoners_dilemma, random_bimatrix, stag_hunt

#: Seeds of the statistical verdicts (the sublinearity test needs at least 20).
SEEDS = list(range(20))
#: Horizons of the verdicts: 5 points over 2 decades.
HORIZONS = [30, 95, 300, 949, 3000]


# ------------------------------------------------------------------------------ families

def test_prisoners_dilemma_defection_dominates_and_cooperation_is_not_an_equilibrium():
    g = prisoners_dilemma()
    A, B = g.leader_payoffs, g.follower_payoffs
    assert np.array_equal(B, A.T)
    assert np.all(A[1] > A[0]) and np.all(B[:, 1] > B[:, 0])         # defect strictly dominates
    assert pure_nash_equilibria(g) == [(1, 1)]
    assert g.leader_action_names == ("cooperate", "defect")
    # both players would be better off cooperating
    assert A[0, 0] > A[1, 1] and B[0, 0] > B[1, 1]


def test_stag_hunt_has_a_payoff_dominant_and_a_risk_dominant_equilibrium():
    g = stag_hunt()
    A = g.leader_payoffs
    assert pure_nash_equilibria(g) == [(0, 0), (1, 1)]
    assert A[0, 0] > A[1, 1]                                           # (stag, stag) payoff-dominant
    loss_at_stag = A[0, 0] - A[1, 0]                                   # deviation losses (Harsanyi-Selten)
    loss_at_hare = A[1, 1] - A[0, 1]
    assert loss_at_hare ** 2 > loss_at_stag ** 2                       # (hare, hare) risk-dominant
    assert A[1] @ [0.5, 0.5] > A[0] @ [0.5, 0.5]                        # hare answers a 50/50 opponent


@pytest.mark.parametrize("make, kwargs, field", [
    (prisoners_dilemma, {"temptation": 3.0}, "temptation"),
    (prisoners_dilemma, {"punishment": -1.0}, "punishment"),
    (prisoners_dilemma, {"reward": float("nan")}, "reward"),
    (stag_hunt, {"stag": 2.0}, "stag"),
    (stag_hunt, {"stag_alone": 3.5}, "hare_both"),
    (stag_hunt, {"stag": 10.0}, "hare_both"),                            # (stag, stag) would be risk-dominant
    (stag_hunt, {"hare_both": 5.0}, "stag"),
    (random_bimatrix, {"seed": -1}, "seed"),
    (random_bimatrix, {"seed": 0, "n_rows": 0}, "n_rows"),
    (random_bimatrix, {"seed": 0, "n_columns": 2.5}, "n_columns"),
    (random_bimatrix, {"seed": 0, "high": 0.0}, "high"),
    (random_bimatrix, {"seed": 0, "levels": 1}, "levels"),
])
def test_families_refuse_bad_parameters(make, kwargs, field):
    with pytest.raises(InvalidInstanceError) as err:
        make(**kwargs)
    assert err.value.field == field


def test_random_bimatrix_is_reproducible_and_in_range():
    g = random_bimatrix(7, 3, 4, low=-2.0, high=5.0)
    assert g == random_bimatrix(7, 3, 4, low=-2.0, high=5.0)
    assert g != random_bimatrix(8, 3, 4, low=-2.0, high=5.0)
    assert g.shape == (3, 4)
    for M in (g.leader_payoffs, g.follower_payoffs):
        assert M.min() >= -2.0 and M.max() < 5.0
    grid = random_bimatrix(1, 5, 5, low=0.0, high=4.0, levels=5)
    values = np.unique(np.concatenate([grid.leader_payoffs.ravel(), grid.follower_payoffs.ravel()]))
    assert set(values) <= {0.0, 1.0, 2.0, 3.0, 4.0} and values.size > 1


# ------------------------------------------------------------------------------ the payment rule

def test_margin_schedule():
    d = margin_schedule(np.arange(1, 1001), 0.5, 1 / 3)
    assert d[0] == 0.5 and np.all(np.diff(d) < 0)
    assert d[-1] == pytest.approx(0.5 / 10.0)                          # 1000^(-1/3) = 1/10
    assert np.all(margin_schedule([1, 5, 50], 0.3, 0.0) == 0.3)


def test_stag_hunt_payments_at_and_off_the_target():
    g = stag_hunt()                                                    # A = [[4, 0], [3, 3]]
    m1, m2 = target_margins(g, (0, 0))
    assert np.array_equal(m1, [1.0, -3.0]) and np.array_equal(m2, [1.0, -3.0])
    pay1, pay2 = payment_tables(g, ("stag", "stag"), 0.5)
    # at (stag, stag) the game already makes stag better by 1 > δ: nothing to pay
    assert pay1[0] == 0 and pay2[0] == 0
    # a stag hunter facing a hare hunter is paid the 3 it loses plus δ
    assert pay1[1] == 3.5 and pay2[1] == 3.5
    # margins above the game's own one are topped up only by the difference
    assert payment_tables(g, (0, 0), 1.75)[0][0] == 0.75


def test_prisoners_dilemma_cooperation_costs_the_temptation_gain_plus_the_margin():
    g = prisoners_dilemma()                                            # T, R, P, S = 5, 3, 1, 0
    pay1, pay2 = payment_tables(g, ("cooperate", "cooperate"), 0.25)
    assert np.array_equal(pay1, [2.25, 1.25]) and np.array_equal(pay2, [2.25, 1.25])
    # defection is already dominant: steering to (defect, defect) with a small margin is free
    assert not np.any(np.concatenate(payment_tables(g, (1, 1), 0.5)))


@given(payoff_games(1, 4), st.data(), st.floats(0.0, 6.0, allow_subnormal=False))
def test_steered_target_is_dominant_by_the_margin_and_payments_are_minimal(game, data, delta):
    """Brute force over every pair of own actions and every opponent action."""
    k, l = game.shape
    d1, d2 = data.draw(st.integers(0, k - 1)), data.draw(st.integers(0, l - 1))
    S = steered_game(game, (d1, d2), delta)
    P1, P2 = S.leader_payoffs - game.leader_payoffs, S.follower_payoffs - game.follower_payoffs
    scale = 1e-12 * max(1.0, np.abs(game.leader_payoffs).max(), np.abs(game.follower_payoffs).max(), delta)
    assert np.all(P1 >= 0) and np.all(P2 >= 0)
    assert not np.any(np.delete(P1, d1, axis=0)) and not np.any(np.delete(P2, d2, axis=1))
    for b in range(l):
        others = [S.leader_payoffs[a, b] for a in range(k) if a != d1]
        if others:
            assert S.leader_payoffs[d1, b] - max(others) >= delta - scale
            if P1[d1, b] > 0:            # paying any less would break dominance by δ
                assert S.leader_payoffs[d1, b] - max(others) <= delta + scale
    for a in range(k):
        others = [S.follower_payoffs[a, b] for b in range(l) if b != d2]
        if others:
            assert S.follower_payoffs[a, d2] - max(others) >= delta - scale
            if P2[a, d2] > 0:
                assert S.follower_payoffs[a, d2] - max(others) <= delta + scale
    if (d1, d2) in pure_nash_equilibria(game):
        assert P1[d1, d2] <= delta + scale and P2[d1, d2] <= delta + scale


def test_weak_equilibrium_target_costs_exactly_the_margin():
    g = BimatrixGame([[1.0, 0.0], [1.0, 0.0]], [[1.0, 1.0], [0.0, 0.0]])   # (0, 0) a weak equilibrium
    assert (0, 0) in pure_nash_equilibria(g)
    pay1, pay2 = payment_tables(g, (0, 0), [0.5, 0.1])
    assert np.array_equal(pay1[:, 0], [0.5, 0.1]) and np.array_equal(pay2[:, 0], [0.5, 0.1])


# ------------------------------------------------------------------------------ the runs

@dataclass(frozen=True)
class RecordingRM(RegretMatching):
    """Regret matching that appends every loss array it is shown to ``log``."""

    log: list = field(default_factory=list, compare=False)

    def observe(self, state, actions, losses):
        self.log.append(np.array(losses))
        super().observe(state, actions, losses)


@pytest.mark.parametrize("mode", ["mixed", "sampled"])
@pytest.mark.parametrize("game_seed", range(4))
def test_losses_stay_in_the_unit_interval(mode, game_seed):
    game = random_bimatrix(game_seed, 3, 3, low=-10.0, high=10.0)
    row, col = RecordingRM(3), RecordingRM(3)
    run = steer_game(game, (game_seed % 3, 2), row, col, 40, [0, 1], margin=3.0, decay=0.2, mode=mode)
    seen = np.concatenate([np.ravel(x) for x in row.log + col.log])
    assert seen.size == 2 * 40 * 2 * 3 and seen.min() >= 0.0 and seen.max() <= 1.0
    assert np.all(run.payments >= 0)


def test_same_seed_same_run_alone_or_in_a_batch():
    g = stag_hunt()
    for learners in ((Exp3(2), Exp3(2)), (Hedge(2), RegretMatchingPlus(2))):
        batch = steer_game(g, (0, 0), *learners, 200, [3, 11, 5], mode="sampled", record=[10, 100])
        again = steer_game(g, (0, 0), *learners, 200, [3, 11, 5], mode="sampled", record=[10, 100])
        alone = steer_game(g, (0, 0), *learners, 200, 11, mode="sampled", record=[10, 100])
        for name in ("payments", "realised_payments", "distance", "cumulative_distance", "regret", "joint"):
            assert np.array_equal(getattr(batch, name), getattr(again, name)), name
            assert np.array_equal(getattr(batch, name)[1], getattr(alone, name)[0]), name
        assert not np.array_equal(batch.realised_payments[0], batch.realised_payments[1])


def test_budget_accessors():
    run = steer_game(prisoners_dilemma(), (0, 0), Hedge(2), Hedge(2), 50, [0, 1], mode="sampled", record=[5, 20])
    assert list(run.horizons) == [5, 20, 50]
    assert np.array_equal(run.budget(), run.payments[:, -1].sum(axis=1))
    assert np.array_equal(run.budget(20, realised=True), run.realised_payments[:, 1].sum(axis=1))
    assert np.all(np.diff(run.budget_curve(), axis=1) > 0)             # cooperation is paid in every round
    assert np.allclose(run.average_payment(), run.budget_curve() / [5, 20, 50])
    with pytest.raises(InvalidInstanceError):
        run.budget(7)
    mixed = steer_game(prisoners_dilemma(), (0, 0), Hedge(2), Hedge(2), 10)
    assert mixed.realised_payments is None and mixed.mode == "mixed"
    with pytest.raises(InvalidInstanceError):
        mixed.budget(realised=True)


def test_no_payment_when_the_target_is_already_dominant_by_the_margin():
    run = steer_game(prisoners_dilemma(), ("defect", "defect"), Exp3(2), Exp3(2), 300, SEEDS[:4], margin=0.5)
    assert not np.any(run.payments) and not np.any(run.realised_payments)


def test_realised_budget_is_unbiased_for_the_expected_one():
    """E[realised payment of round t | history] = expected payment of round t, so the two budgets
    have the same mean; checked on 200 seeds with slack 4 standard errors of the difference."""
    run = steer_game(stag_hunt(), (0, 0), Exp3(2), Exp3(2), 100, list(range(200)), mode="sampled", record=[100])
    diff = run.budget(realised=True) - run.budget()
    assert abs(diff.mean()) <= 4 * diff.std(ddof=1) / np.sqrt(diff.size)
    assert diff.std() > 0


def test_without_payments_learners_miss_the_payoff_dominant_equilibrium():
    """The control: unsteered Hedge self-play of the stag hunt from uniform play ends at (hare, hare)."""
    sp = self_play(stag_hunt(), Hedge(2), Hedge(2), 3000, SEEDS, mode="sampled")
    last = steer_game(stag_hunt(), (0, 0), Hedge(2), Hedge(2), 3000, SEEDS, mode="sampled", record=[3000])
    assert sp.joint[:, 1, 1].mean() > 0.8                    # most play at (hare, hare) without the mediator
    assert last.joint[:, 0, 0].mean() > 0.9 and last.distance[:, -1].max() < 0.01


def _verdict(game, target, learner, *, margin=0.5, decay=1 / 3, realised=False):
    run = steer_game(game, target, learner, learner, HORIZONS[-1], SEEDS, margin=margin, decay=decay,
                     mode="sampled", record=HORIZONS)
    return run, sublinearity_test(run.budget_curve(realised), run.horizons)


@pytest.mark.parametrize("realised", [False, True])
def test_stag_hunt_budget_is_sublinear_with_bandit_learners(realised):
    run, res = _verdict(stag_hunt(), (0, 0), Exp3(2), realised=realised)
    assert res.verdict == "sublinear", res.reason
    assert run.distance[:, -1].mean() < 0.05                           # play reached (stag, stag)


def test_prisoners_dilemma_cooperation_budget_is_linear_with_bandit_learners():
    run, res = _verdict(prisoners_dilemma(), (0, 0), Exp3(2))
    assert res.verdict == "linear", res.reason
    # per round, at least the deviation gains (2 per player) whenever play is at the target (P4)
    per_round = run.budget() / run.horizon
    assert np.all(per_round >= 4.0 * (1 - run.average_distance()[:, -1]) - 1e-9)


def test_the_margin_must_decay_at_a_weak_equilibrium():
    """(0, 0) is a weak equilibrium: a constant margin pays δ per round there forever (linear), the
    decaying margin δ_t = δ t^(−1/3) costs about 3δ/2 T^(2/3) (sublinear)."""
    g = BimatrixGame([[1.0, 0.0], [1.0, 0.0]], [[1.0, 1.0], [0.0, 0.0]])
    _, constant = _verdict(g, (0, 0), Hedge(2), decay=0.0)
    _, decaying = _verdict(g, (0, 0), Hedge(2), decay=1 / 3)
    assert constant.verdict == "linear", constant.reason
    assert decaying.verdict == "sublinear", decaying.reason


@pytest.mark.parametrize("kwargs, field", [
    ({"target": (2, 0)}, "target"),
    ({"target": (0, -1)}, "target"),
    ({"target": (0,)}, "target"),
    ({"target": 3}, "target"),
    ({"target": ("stag", "deer")}, "target"),
    ({"target": (True, 0)}, "target"),
    ({"margin": -0.1}, "margin"),
    ({"margin": float("inf")}, "margin"),
    ({"decay": -1.0}, "decay"),
    ({"horizon": 0}, "horizon"),
    ({"seeds": []}, "seeds"),
    ({"row_learner": Hedge(3)}, "row_learner"),
    ({"column_learner": "hedge"}, "column_learner"),
    ({"game": [[1, 2], [3, 4]]}, "game"),
    ({"mode": "mixed", "row_learner": Exp3(2)}, "mode"),
    ({"mode": "average"}, "mode"),
    ({"record": [0]}, "record"),
])
def test_bad_input_is_refused_naming_the_field(kwargs, field):
    args = {"game": stag_hunt(), "target": (0, 0), "row_learner": Hedge(2), "column_learner": Hedge(2),
            "horizon": 10, "seeds": [0]}
    args.update(kwargs)
    with pytest.raises(InvalidInstanceError) as err:
        steer_game(**args)
    assert err.value.field == field


# ------------------------------------------------------------------------------ the checks can fail

def test_dominance_check_catches_a_rule_without_the_margin(monkeypatch):
    case = tsg.DominanceCase(stag_hunt(), (0, 0), (0.5,))
    assert tsg.check_dominance(case).passed
    monkeypatch.setattr(tsg, "payment_tables", lambda g, t, d: payment_tables(g, t, 0.0))
    assert not tsg.check_dominance(case).passed


def test_dominance_check_catches_overpayment(monkeypatch):
    case = tsg.DominanceCase(prisoners_dilemma(), (0, 0), (0.5,))
    assert tsg.check_dominance(case).passed
    monkeypatch.setattr(tsg, "payment_tables", lambda g, t, d: tuple(x + 0.01 for x in payment_tables(g, t, d)))
    assert not tsg.check_dominance(case).passed


def test_sandwich_check_catches_inflated_payments(monkeypatch):
    case = tsg.SteeringCase(prisoners_dilemma(), (0, 0), RegretMatching(2), RegretMatching(2), 30, "mixed", (0,),
                            0.5, 1 / 3)
    assert tsg.check_budget_sandwich(case).passed
    real = tsg.steer_game
    monkeypatch.setattr(tsg, "steer_game", lambda *a, **k: (lambda r: replace(r, payments=2 * r.payments))(real(*a, **k)))
    assert not tsg.check_budget_sandwich(case).passed


def test_dichotomy_check_fails_on_the_wrong_verdict():
    runs = tsg.dichotomy_runs()
    assert tsg._verdict(runs["stag hunt"], False, "sublinear", "stag hunt").passed
    assert not tsg._verdict(runs["prisoner's dilemma"], False, "sublinear", "prisoner's dilemma").passed
