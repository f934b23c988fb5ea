"""The Coin Game theorems (contractlab/proofs_checks/theorems_coin.py): the checker's own model of
the game agrees with the solver's tables, every theorem holds on fixed instances (grid 3 among them),
and each check refutes a corrupted answer (monkeypatched into the theorem module)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import scipy.sparse as sp

from contractlab.proofs_checks import theorems_coin as T
from contractlab.proofs_checks.registry import all_theorems
from contractlab.solvers import coin_game_exact as X
from contractlab.solvers import coin_game_lp as L
from contractlab.theory.coin_game import CoinGame

IDS = ("coin.payments_follow_optimal", "coin.dp_value_evaluated", "coin.welfare_payment_split",
       "coin.lp_between_paper_and_greedy")
DILEMMA = T.CoinCase(CoinGame(grid=2, horizon=3, payoff="classic", simultaneous="random"), seed=5)
CHECKS = {"coin.payments_follow_optimal": T.check_payments_follow_optimal,
          "coin.dp_value_evaluated": T.check_dp_value_evaluated,
          "coin.welfare_payment_split": T.check_welfare_payment_split,
          "coin.lp_between_paper_and_greedy": T.check_lp_between_paper_and_greedy}


def test_the_theorems_are_registered_with_source_and_assumption():
    theorems = all_theorems()
    for tid in IDS:
        assert theorems[tid].source and "Assumes:" in theorems[tid].statement


@pytest.mark.parametrize("game", [CoinGame(grid=2, horizon=1, simultaneous="random"),
                                  CoinGame(grid=3, horizon=1, payoff="classic", stay=False),
                                  CoinGame(grid=2, horizon=1, payoff="jaxmarl", payoff_matrix=[[1, 0, -1], [2, 1, 0]])])
def test_the_checkers_model_agrees_with_the_solvers_tables(game):
    """Expected rewards and successor distributions of every (state, joint action): the checker's
    enumeration of the core's step vs solvers/coin_game_exact.tables."""
    m = T.raw_model(game)
    tb = X.tables(game)
    S, A = tb.rewards.shape[:2]
    assert np.allclose(m.w.sum(axis=2), 1.0)
    assert np.allclose(m.reward, tb.rewards, atol=1e-12)
    def distribution(succ, w):                     # (S·A, S) sparse: duplicates summed
        rows = np.repeat(np.arange(S * A), succ.shape[2])
        return sp.csr_matrix((w.ravel(), (rows, succ.ravel())), shape=(S * A, S))

    diff = distribution(m.succ, m.w) - distribution(tb.next_state, tb.next_prob)
    assert abs(diff).max() <= 1e-12


@pytest.mark.parametrize("tid", IDS)
@pytest.mark.parametrize("case", [DILEMMA, T.CoinCase(CoinGame(grid=2, horizon=2, stay=False), seed=1),
                                  T.CoinCase(CoinGame(grid=2, horizon=2, payoff="jaxmarl",
                                                      payoff_matrix=[[1, 0, -1], [2, 1, 0]]), seed=2)],
                         ids=["dilemma", "paper-nostay", "asymmetric"])
def test_theorems_hold_on_fixed_instances(tid, case):
    ev = CHECKS[tid](case)
    assert ev.passed, ev


def test_dp_theorem_on_grid_3_with_the_tree():
    ev = T.check_dp_value_evaluated(T.CoinCase(CoinGame(grid=3, horizon=1, simultaneous="random"), seed=0))
    assert ev.passed, ev


def test_tree_is_above_every_markov_policy_it_contains():
    """The expectimax over the tree is at least the welfare of π* from each start state (a sanity
    check of the checker's own tool, independent of the DP)."""
    game = CoinGame(grid=2, horizon=2, payoff="classic")
    m = T.raw_model(game)
    opt = X.welfare_optimum(game)
    start = np.flatnonzero(m.initial > 0)
    tree = T.tree_value(m, start, 2)
    assert np.all(tree >= opt.welfare[0, start] - 1e-12)


def _patched(monkeypatch, name, wrap):
    real = getattr(T, name)
    monkeypatch.setattr(T, name, lambda *a, **k: wrap(real(*a, **k)))


def test_follow_optimal_refutes_lowered_payments(monkeypatch):
    _patched(monkeypatch, "paper_payments", lambda p: dataclasses.replace(p, paid=p.paid * 0.9))
    assert not T.check_payments_follow_optimal(DILEMMA).passed


def test_follow_optimal_refutes_lowered_lp_payments(monkeypatch):
    _patched(monkeypatch, "min_payments_lp",
             lambda r: dataclasses.replace(r, payments=dataclasses.replace(r.payments, paid=r.payments.paid * 0.9)))
    assert not T.check_payments_follow_optimal(DILEMMA).passed


def test_dp_theorem_refutes_a_wrong_value(monkeypatch):
    _patched(monkeypatch, "welfare_optimum", lambda o: dataclasses.replace(o, value=o.value + 1e-6))
    assert not T.check_dp_value_evaluated(DILEMMA).passed


def test_dp_theorem_refutes_a_suboptimal_policy_claimed_optimal(monkeypatch):
    """A DP whose policy and values are those of a worse policy (π* changed on the path, evaluated
    honestly): the tree and the drawn policies show it is not optimal."""
    game = CoinGame(grid=2, horizon=2, payoff="classic", simultaneous="random")

    def worse(o):
        pol = o.policy.copy()
        pol[0] = (pol[0] + 1) % (o.tables.n ** 2)
        V = X.evaluate(o.tables, pol)
        return dataclasses.replace(o, policy=pol, agent_values=V, welfare=V.sum(axis=2),
                                   value=float(o.tables.initial @ V[0].sum(axis=1)), agent_value=o.tables.initial @ V[0])

    _patched(monkeypatch, "welfare_optimum", worse)
    assert not T.check_dp_value_evaluated(T.CoinCase(game, seed=0)).passed


def test_split_theorem_refutes_wrong_reported_values(monkeypatch):
    def shifted(p):
        U = p.agent_values.copy()
        U[0, 0] += 1e-6
        return dataclasses.replace(p, agent_values=U)

    _patched(monkeypatch, "every_action_payments", shifted)
    assert not T.check_welfare_payment_split(DILEMMA).passed


def test_split_theorem_refutes_a_wrong_principal_objective(monkeypatch):
    _patched(monkeypatch, "min_payments_lp",
             lambda r: dataclasses.replace(r, principal_objective=r.principal_objective + 1e-5))
    assert not T.check_welfare_payment_split(DILEMMA).passed


def test_lp_theorem_refutes_an_answer_below_the_paper(monkeypatch):
    """Payments that only deter deviations against the other following (the paper's) claimed as the
    LP's answer: infeasible for the every-action rows."""
    def papers(r):
        p = X.paper_payments(r.payments.optimum.tables, r.payments.optimum)
        return dataclasses.replace(r, payments=p, objective=p.expected_payment)

    _patched(monkeypatch, "min_payments_lp", papers)
    res = L.min_payments_lp(DILEMMA.game)
    assert np.any(res.expected_payment > X.paper_payments(DILEMMA.game).expected_payment + 1e-6)
    assert not T.check_lp_between_paper_and_greedy(DILEMMA).passed


def test_lp_theorem_refutes_an_answer_above_the_greedy(monkeypatch):
    def inflated(r):
        paid = r.payments.paid + r.greedy.paid
        return dataclasses.replace(r, payments=dataclasses.replace(r.payments, paid=paid),
                                   objective=r.objective + r.greedy.expected_payment)

    _patched(monkeypatch, "min_payments_lp", inflated)
    assert not T.check_lp_between_paper_and_greedy(DILEMMA).passed
