"""The theorems of ``theorems_ties``: each holds on a hand-made instance where ties are certain,
and each fails when the solver it checks is replaced by one that answers wrongly."""

from dataclasses import replace
from fractions import Fraction

import numpy as np

from contractlab import ContractProblem
from contractlab.proofs_checks import theorems_ties as T
from contractlab.solvers.best_response import agent_best_response
from contractlab.solvers.exact import optimal_contract_exact
from contractlab.solvers.grossman_hart import grossman_hart_optimal
from contractlab.solvers.linear import best_linear_contract
from contractlab.solvers.stackelberg import stackelberg
from contractlab.theory.bimatrix import BimatrixGame, follower_best_responses

Q = Fraction


def effort_with_twin() -> ContractProblem:
    """Low effort (0) and high effort (1), high effort duplicated as action 2: the optimal
    contract pays 2 on success, MINPAY = 3/2, principal utility 3/2 for both copies."""
    return ContractProblem.from_exact([[Q(3, 4), Q(1, 4)], [Q(1, 4), Q(3, 4)], [Q(1, 4), Q(3, 4)]],
                                      [0, 1, 1], [0, 4])


def envelope_with_kink_and_one() -> ContractProblem:
    """Lines 4pα − c: 0, α − 1/2 and 2α − 1 meet at α = 1/2 (the middle one is never chosen),
    3α − 2 overtakes 2α − 1 exactly at α = 1."""
    F = [[1, 0], [Q(3, 4), Q(1, 4)], [Q(1, 2), Q(1, 2)], [Q(1, 4), Q(3, 4)]]
    return ContractProblem.from_exact(F, [0, Q(1, 2), 1, 2], [0, 4])


def commitment_game() -> BimatrixGame:
    """Column 1 is duplicated as column 2. Committing to (1/2, 1/2) makes the follower indifferent
    between column 0 (leader gets 1/2) and columns 1, 2 (leader gets 5/2): the Stackelberg value."""
    A = np.array([[1.0, 3.0, 3.0], [0.0, 2.0, 2.0]])
    B = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]])
    return BimatrixGame(A, B)


# --- exact.optimum_recomputed ----------------------------------------------------------------

def test_exact_optimum_holds_and_ties_go_to_the_first_twin():
    p = effort_with_twin()
    res = optimal_contract_exact(p)
    assert res.action == 1 and res.principal_utility == Q(3, 2) and res.agent_utility == Q(1, 2)
    assert T.check_exact_optimum_recomputed(p).passed


def test_exact_optimum_fails_on_a_wrong_tie_or_a_wrong_agent_utility(monkeypatch):
    p = effort_with_twin()
    real = optimal_contract_exact(p)
    twin = replace(real, action=2, contract=real.table[2].contract)   # the later copy, otherwise consistent
    monkeypatch.setattr(T, "optimal_contract_exact", lambda problem: twin)
    assert not T.check_exact_optimum_recomputed(p).passed
    wrong = replace(real, agent_utility=real.expected_payment + 1)   # payment + cost
    monkeypatch.setattr(T, "optimal_contract_exact", lambda problem: wrong)
    assert not T.check_exact_optimum_recomputed(p).passed


def test_exact_optimum_fails_on_a_refusal_without_proof(monkeypatch):
    p = effort_with_twin()
    real = optimal_contract_exact(p)
    row = replace(real.table[0], implementable=False, contract=None, expected_payment=None,
                  witness=(Q(0), Q(1), Q(0)))   # "high effort reproduces low effort": it does not
    bad = replace(real, table=(row,) + real.table[1:], principal_utilities=(None,) + real.principal_utilities[1:])
    monkeypatch.setattr(T, "optimal_contract_exact", lambda problem: bad)
    assert not T.check_exact_optimum_recomputed(p).passed


# --- linear.envelope_brute_force -------------------------------------------------------------

def test_brute_force_envelope_by_hand():
    F, c, r = T._exact_problem(envelope_with_kink_and_one())
    R = [T._dot(row, r) for row in F]
    assert T._brute_force_envelope(R, c) == ([0, Q(1, 2), 1], [0, 2, 3])


def test_envelope_theorem_holds_on_the_hand_made_instance():
    p = envelope_with_kink_and_one()
    lin = best_linear_contract(p)
    assert lin.critical_values.tolist() == [0.0, 0.5, 1.0] and lin.induced_actions.tolist() == [0, 2, 3]
    assert lin.alpha == 0.5 and lin.action == 2 and lin.principal_utility == 1.0
    assert T.check_envelope_brute_force(p).passed


def _linear_result(lin, values, actions, R):
    values, actions = np.array(values, dtype=float), np.array(actions)
    return replace(lin, critical_values=values, induced_actions=actions,
                   principal_utilities=(1 - values) * R[actions])


def test_envelope_theorem_fails_on_a_wrong_envelope(monkeypatch):
    p = envelope_with_kink_and_one()
    lin, R = best_linear_contract(p), p.expected_rewards
    wrong = [([0, 0.5], [0, 2]),                 # the crossing at alpha = 1 left out
             ([0, 0.5, 0.5, 1], [0, 1, 2, 3]),   # the line through the common point kept
             ([0, 0.5, 1], [0, 1, 3])]           # the middle line chosen at the kink
    for values, actions in wrong:
        bad = _linear_result(lin, values, actions, R)
        monkeypatch.setattr(T, "best_linear_contract", lambda problem, bad=bad: bad)
        assert not T.check_envelope_brute_force(p).passed, (values, actions)


# --- best_response.tie_rule ------------------------------------------------------------------

def _indifferent() -> tuple[ContractProblem, tuple]:
    """Two free actions under the zero contract; the principal prefers action 1 (R = 1)."""
    return ContractProblem.from_exact([[1, 0], [0, 1], [0, 1]], [0, 0, 0], [0, 1]), (Q(0), Q(0))


def test_best_response_tie_rule_by_hand():
    p, t = _indifferent()
    assert agent_best_response(p, [0, 0], "principal").action == 1
    assert agent_best_response(p, [0, 0], "adversarial").action == 0
    assert T.check_best_response_tie_rule((p, t)).passed


def test_best_response_tie_rule_fails_when_the_rules_are_swapped(monkeypatch):
    p, t = _indifferent()

    def swapped(problem, contract, tie_break="principal", **kw):
        other = "adversarial" if tie_break == "principal" else "principal"
        return agent_best_response(problem, contract, other, **kw)

    monkeypatch.setattr(T, "agent_best_response", swapped)
    assert not T.check_best_response_tie_rule((p, t)).passed


def test_best_response_tie_rule_fails_on_the_later_twin(monkeypatch):
    p, t = _indifferent()   # actions 1 and 2 are twins: the principal's choice is 1, not 2
    monkeypatch.setattr(T, "agent_best_response",
                        lambda problem, contract, tie_break="principal", **kw:
                        replace(agent_best_response(problem, contract, tie_break), action=2)
                        if tie_break == "principal" else agent_best_response(problem, contract, tie_break))
    assert not T.check_best_response_tie_rule((p, t)).passed


# --- Stackelberg -----------------------------------------------------------------------------

def test_commitment_values_by_hand():
    g = commitment_game()
    A, B = T._exact_game(g)
    assert T._commitment_values(A, B) == [Q(1), Q(5, 2), Q(5, 2)]
    res = stackelberg(g)
    assert res.follower_action == 1 and abs(res.leader_value - 2.5) < 1e-9
    assert T.check_commitment_values_exact(g).passed


def test_commitment_values_fail_on_the_later_twin_or_a_wrong_value(monkeypatch):
    g = commitment_game()
    real = stackelberg(g)
    for bad in (replace(real, follower_action=2),
                replace(real, action_values=np.array([1.0, 2.5, 2.0]))):
        monkeypatch.setattr(T, "stackelberg", lambda game, bad=bad: bad)
        assert not T.check_commitment_values_exact(g).passed


def test_leader_favourable_evaluation_by_hand():
    g = commitment_game()
    assert T.check_leader_favourable_evaluation(g).passed


def test_leader_favourable_evaluation_fails_when_ties_go_against_the_leader(monkeypatch):
    g = commitment_game()

    def adversarial(game, x, tol=1e-9):
        br = follower_best_responses(game, x, tol)
        leader = np.asarray(x) @ game.leader_payoffs[:, br]
        return float(leader.min()), int(br[np.argmin(leader)])

    monkeypatch.setattr(T, "leader_payoff_with_best_response", adversarial)
    assert not T.check_leader_favourable_evaluation(g).passed


# --- grossman_hart.optimum_ties_to_lowest_index ----------------------------------------------

def _gh_instance():
    p = ContractProblem([[0.75, 0.25], [0.25, 0.75], [0.25, 0.75]], [0.0, 0.25, 0.25], [0.0, 4.0])
    return p, "sqrt", 0.25, 0.0


def test_gh_twins_cost_the_same_and_the_first_wins():
    args = _gh_instance()
    opt = grossman_hart_optimal(*args)
    assert opt.action == 1
    assert opt.results[1].expected_payment == opt.results[2].expected_payment
    assert T.check_gh_ties_to_lowest_index(args).passed


def test_gh_tie_rule_fails_on_the_later_twin(monkeypatch):
    args = _gh_instance()
    real = grossman_hart_optimal(*args)
    bad = replace(real, action=2, result=real.results[2])
    monkeypatch.setattr(T, "grossman_hart_optimal", lambda *a, **kw: bad)
    assert not T.check_gh_ties_to_lowest_index(args).passed
