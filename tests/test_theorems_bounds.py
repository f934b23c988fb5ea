"""The theorems of ``theorems_bounds`` hold on hand-made instances, and each check can fail.

Every failure is shown by replacing the solver call the checker makes with one whose answer is
corrupted in one reported quantity (a bound made smaller, a budget miscounted, a tie broken to
the other side, a payment that is not minimal); the checker must notice.
"""

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings

from contractlab.proofs_checks import theorems_bounds as tb
from contractlab.proofs_checks.registry import all_theorems
from contractlab.proofs_checks.theorems_pamdp import discounts, lively, pamdp_instances
from contractlab.solvers.meta_algorithm import meta_algorithm as real_meta_algorithm
from contractlab.solvers.meta_algorithm import principal_fixed_point as real_fixed_point
from contractlab.solvers.pamdp_policy import agent_best_response as real_best_response
from contractlab.solvers.pamdp_policy import evaluate as real_evaluate
from contractlab.solvers.spe import solve_spe as real_solve_spe
from contractlab.theory.contract_policy import ContractPolicy
from contractlab.theory.pamdp import PrincipalAgentMDP
from contractlab.theory.pamdp_families import binary_game_tree

IDS = ("bounds.evaluation_error_bound", "bounds.agent_response_stopped_early", "bounds.fixed_point_error_bound",
       "bounds.meta_iteration_budget", "spe.twin_actions_lowest_index", "spe.per_state_min_pay",
       "best_response.twin_ties_stable")


def ring(discount=0.9):
    """Two states, two actions, two outcomes: outcome 0 stays, outcome 1 moves to the other state."""
    O = [[[0.8, 0.2], [0.3, 0.7]], [[0.6, 0.4], [0.1, 0.9]]]
    return PrincipalAgentMDP(O, [[0.5, 0.1], [-0.3, -0.6]], [[0.0, 1.0], [0.4, 0.2]],
                             next_state=[[0, 1], [1, 0]], discount=discount)


def ring_with_twin():
    """``ring`` with a third action, a copy of action 0 at both states."""
    m = ring()
    O = np.concatenate([m.outcome_probs, m.outcome_probs[:, :1]], axis=1)
    r = np.concatenate([m.agent_rewards, m.agent_rewards[:, :1]], axis=1)
    return PrincipalAgentMDP(O, r, m.principal_rewards, next_state=m.next_state, discount=m.discount)


def tree_with_twins():
    """A depth-2 binary tree (γ = 0.8) whose root has two identical actions."""
    m = binary_game_tree(2, seed=3)
    O, r = m.outcome_probs.copy(), m.agent_rewards.copy()
    O[0, 1], r[0, 1] = O[0, 0], r[0, 0]
    return PrincipalAgentMDP(O, r + 0.25, m.principal_rewards, next_state=m.next_state, discount=0.8)


def test_the_theorems_are_registered_with_statement_and_source():
    theorems = all_theorems()
    for tid in IDS:
        assert tid in theorems and theorems[tid].statement and theorems[tid].source


# --- bounds.evaluation_error_bound --------------------------------------------------------

@pytest.mark.parametrize("mode", ["cut", "iterative", "auto"])
def test_evaluation_bound_holds(mode):
    ev = tb.check_evaluation_error_bound((ring(), 7, mode))
    assert ev.passed and np.isfinite(ev.margin), ev


def test_evaluation_bound_without_the_neumann_factor_is_caught(monkeypatch):
    """A bound that forgets the factor 1/(1 − γ) of the Neumann series is too small once the
    Krylov solve is cut after one iteration."""
    def scaled(*args, **kw):
        ev = real_evaluate(*args, **kw)
        return replace(ev, error_bound=ev.error_bound * (1.0 - args[0].discount))

    monkeypatch.setattr(tb, "evaluate", scaled)
    assert not tb.check_evaluation_error_bound((ring(0.9), 7, "cut")).passed


# --- bounds.agent_response_stopped_early --------------------------------------------------

@pytest.mark.parametrize("budget", [("sweeps", 1), ("sweeps", 4), ("time", 0)])
def test_agent_response_certificates_hold(budget):
    ev = tb.check_agent_response_stopped_early((ring(), 3, budget))
    assert ev.passed, ev


@pytest.mark.parametrize("corrupt", [
    lambda br: replace(br, error_bound=br.error_bound * 0.5),           # not the recomputed bound
    lambda br: replace(br, policy_gap=0.0),                             # hides the improvement left
    lambda br: replace(br, iterations=br.iterations + 1),              # miscounts the sweeps
])
def test_agent_response_corruptions_are_caught(monkeypatch, corrupt):
    monkeypatch.setattr(tb, "agent_best_response", lambda *a, **kw: corrupt(real_best_response(*a, **kw)))
    assert not tb.check_agent_response_stopped_early((ring(), 3, ("sweeps", 2))).passed


# --- bounds.fixed_point_error_bound -------------------------------------------------------

@pytest.mark.parametrize("k, tol", [(1, 0.0), (5, 0.0), (12, 1e-3)])
def test_fixed_point_bound_holds(k, tol):
    ev = tb.check_fixed_point_error_bound((ring(), 11, k, tol))
    assert ev.passed, ev


def test_fixed_point_bound_without_the_banach_factor_is_caught(monkeypatch):
    """``||q_k − q_{k−1}||`` alone (without γ/(1 − γ)) does not bound the distance to q* at γ = 0.9."""
    def dropped(mdp, *args, **kw):
        fp = real_fixed_point(mdp, *args, **kw)
        g = mdp.discount
        return replace(fp, error_bound=fp.error_bound * (1.0 - g) / g)

    monkeypatch.setattr(tb, "principal_fixed_point", dropped)
    assert not tb.check_fixed_point_error_bound((ring(0.9), 11, 3, 0.0)).passed


def test_fixed_point_miscounted_budget_is_caught(monkeypatch):
    monkeypatch.setattr(tb, "principal_fixed_point",
                        lambda *a, **kw: replace(real_fixed_point(*a, **kw), iterations=kw["max_iter"] - 1))
    assert not tb.check_fixed_point_error_bound((ring(), 11, 4, 0.0)).passed


# --- bounds.meta_iteration_budget ---------------------------------------------------------

@pytest.mark.parametrize("m", [1, 2, 4])
def test_meta_budget_holds(m):
    assert tb.check_meta_iteration_budget((binary_game_tree(3, seed=1), 5, m)).passed
    assert tb.check_meta_iteration_budget((ring(0.5), 5, m)).passed


def test_meta_ignoring_a_zero_time_budget_is_caught(monkeypatch):
    """A run that ignores its zero time budget goes on past the one iteration it must do."""
    monkeypatch.setattr(tb, "meta_algorithm", lambda mdp, init, time_limit=None, **kw:
                        real_meta_algorithm(mdp, init, **kw))
    assert not tb.check_meta_iteration_budget((binary_game_tree(3, seed=1), 5, 2)).passed


def test_meta_running_one_iteration_short_is_caught(monkeypatch):
    def short(mdp, init, max_iter=None, **kw):
        return real_meta_algorithm(mdp, init, max_iter=None if max_iter is None else max(1, max_iter - 1), **kw)

    monkeypatch.setattr(tb, "meta_algorithm", short)
    assert not tb.check_meta_iteration_budget((binary_game_tree(3, seed=1), 5, 2)).passed


# --- spe.twin_actions_lowest_index --------------------------------------------------------

def test_twins_tie_to_the_lowest_index():
    mdp = tree_with_twins()
    assert tb._twin_pairs(mdp) == [(0, 0, 1)]
    assert tb.check_twin_actions_lowest_index(mdp).passed
    assert solve_spe_action_at_root(mdp) == 0


def solve_spe_action_at_root(mdp):
    return int(real_solve_spe(mdp).policy.action[0])


def test_twins_tied_to_the_highest_index_are_caught(monkeypatch):
    def highest(mdp, **kw):
        res = real_solve_spe(mdp, **kw)
        action = np.array(res.policy.action)
        action[0] = 1                                     # the root's copy: same contract, same values
        return replace(res, policy=ContractPolicy(action, res.policy.contract))

    monkeypatch.setattr(tb, "solve_spe", highest)
    assert not tb.check_twin_actions_lowest_index(tree_with_twins()).passed


def test_no_twins_is_vacuous():
    assert tb.check_twin_actions_lowest_index(binary_game_tree(2, seed=0)).margin == np.inf


# --- spe.per_state_min_pay ----------------------------------------------------------------

@pytest.mark.parametrize("mdp", [tree_with_twins(), binary_game_tree(3, seed=4),
                                 lively(binary_game_tree(3, seed=4), 0.7, 2)])
def test_per_state_min_pay_holds(mdp):
    assert tb.check_per_state_min_pay(mdp).passed


def test_a_payment_that_is_not_minimal_is_caught(monkeypatch):
    def overpaying(mdp, **kw):
        res = real_solve_spe(mdp, **kw)
        return replace(res, policy=ContractPolicy(res.policy.action, res.policy.contract * 1.1 + 0.01))

    monkeypatch.setattr(tb, "solve_spe", overpaying)
    assert not tb.check_per_state_min_pay(binary_game_tree(3, seed=4)).passed


# --- best_response.twin_ties_stable -------------------------------------------------------

#: With this seed the theorem's instance of ``ring_with_twin`` also has a constructed tie at state 0
#: (action 1 raised to tie with the agent's best, action 0): the principal prefers action 1 there.
TIE_SEED = 11


def test_constructed_tie_is_exact_and_matters_to_the_principal():
    mdp = ring_with_twin()
    cp = tb.random_contract_policy(mdp, TIE_SEED)
    tied = tb.with_agent_ties(mdp, cp, TIE_SEED)
    assert not np.array_equal(tied.agent_rewards, mdp.agent_rewards)
    assert list(real_best_response(tied, cp).policy) == [1, 1]
    assert list(real_best_response(tied, cp, tie_break="adversarial").policy) == [0, 1]


@pytest.mark.parametrize("tie_break", ["principal", "adversarial"])
def test_agent_ties_are_stable(tie_break):
    ev = tb.check_twin_ties_stable((ring_with_twin(), TIE_SEED, tie_break))
    assert ev.passed and np.isfinite(ev.margin), ev


def test_ties_broken_against_the_principal_are_caught(monkeypatch):
    flipped = {"principal": "adversarial", "adversarial": "principal"}
    monkeypatch.setattr(tb, "agent_best_response",
                        lambda mdp, cp, tie_break: real_best_response(mdp, cp, tie_break=flipped[tie_break]))
    assert not tb.check_twin_ties_stable((ring_with_twin(), TIE_SEED, "principal")).passed


def test_agent_switching_to_the_higher_twin_is_caught(monkeypatch):
    def higher(mdp, cp, **kw):
        br = real_best_response(mdp, cp, **kw)
        policy = np.where(np.asarray(br.policy) == 0, 2, br.policy)    # action 2 is a copy of action 0
        return replace(br, policy=policy)

    monkeypatch.setattr(tb, "agent_best_response", higher)
    assert not tb.check_twin_ties_stable((ring_with_twin(), TIE_SEED, "adversarial")).passed


def test_policy_iteration_that_never_settles_is_caught(monkeypatch):
    monkeypatch.setattr(tb, "agent_best_response",
                        lambda *a, **kw: replace(real_best_response(*a, **kw), converged=False,
                                                 reason="iteration budget"))
    assert not tb.check_twin_ties_stable((ring_with_twin(), TIE_SEED, "principal")).passed


# --- the strategies -----------------------------------------------------------------------

@settings(max_examples=40)
@given(pamdp_instances())
def test_pamdp_strategy_draws_discounts_in_the_unit_interval(mdp):
    assert 0.05 <= mdp.discount <= 1.0


@settings(max_examples=30)
@given(discounts(finite=False))
def test_cyclic_discounts_stay_below_one(g):
    assert 0.05 <= g <= 0.95


def test_lively_shifts_agent_values_but_not_incentives():
    base = binary_game_tree(3, seed=2)
    m = lively(base, 0.7, 1)
    shift = m.agent_rewards - base.agent_rewards
    assert np.allclose(shift, shift[:, :1]) and np.any(shift != 0)       # one constant per state
    assert m.discount == 0.7
    assert np.any(np.abs(real_solve_spe(m).agent_value) > 1e-3)
