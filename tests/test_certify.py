"""Exact certificates (contractlab.solvers.certify): hand examples with known exact answers,
corrupted answers that must be refuted, and drawn instances that must never be refuted.

Tolerance: exact values are compared with the float answers within 1e-9 relative
(``|exact - float| <= 1e-9 * max(1, |float|)``), the certifier's default ``TOL``.
"""

from dataclasses import replace
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings

from contractlab import ContractProblem, best_linear_contract, min_pay, optimal_contract
from contractlab.proofs_checks.strategies import contract_problems
from contractlab.solvers.certify import (CERTIFIED, NUMERICALLY_VERIFIED, REFUTED, Certificate, certify,
                                         exact_linear_envelope, independent_rows, solve_square)
from contractlab.solvers.min_pay import min_pay_all

REL_TOL = 1e-9


def _agree(exact: Fraction, x: float) -> bool:
    return abs(float(exact) - x) <= REL_TOL * max(1.0, abs(x))


@pytest.fixture
def effort():
    """F = [[3/4, 1/4], [1/4, 3/4]], c = [0, 1], r = [0, 4]: MINPAY(1) = 3/2 with t = (0, 2)."""
    return ContractProblem([[0.75, 0.25], [0.25, 0.75]], [0.0, 1.0], [0.0, 4.0])


@pytest.fixture
def dominated():
    """Action 2 = (1/2, 1/2) is replicated by mixing actions 0 and 1 at cost 0.1 < 0.5."""
    return ContractProblem([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]], [0.0, 0.2, 0.5], [0.0, 1.0])


# ----------------------------------------------------------------------------- exact answers

def test_min_pay_hand_example_is_certified_exactly(effort):
    cert = certify(min_pay(effort, 1), effort)
    assert isinstance(cert, Certificate)
    assert cert.verdict == CERTIFIED
    assert cert.exact_value == Fraction(3, 2)
    assert cert.exact_point == (Fraction(0), Fraction(2))
    assert cert.exact_dual == (Fraction(3, 2),)     # λ_0 = 3/2: dual objective 3/2 · (1 − 0)
    assert all(ch.passed for ch in cert.checks)
    assert {ch.name for ch in cert.checks if ch.exact} >= {"t >= 0", "dual y >= 0", "F_i·t == Σ y_r b_r"}


def test_zero_contract_is_certified(effort):
    cert = certify(min_pay(effort, 0), effort)
    assert cert.verdict == CERTIFIED and cert.exact_value == 0


def test_participation_and_margin_are_certified(effort):
    # U0 = 1/4: IC needs t_2 >= 2 (pay 3/2, agent utility 1/2 >= 1/4), participation slack: 3/2.
    cert = certify(min_pay(effort, 1, participation=0.25), effort)
    assert cert.verdict == CERTIFIED and cert.exact_value == Fraction(3, 2)
    # U0 = 1: F_1·t >= 2 binds: t = (0, 8/3), value 2.
    cert = certify(min_pay(effort, 1, participation=1.0), effort)
    assert cert.verdict == CERTIFIED and cert.exact_value == 2
    # IC margin ε = 1/2: 0.5 t_2 >= 3/2, t_2 = 3, value 9/4.
    cert = certify(min_pay(effort, 1, ic_margin=0.5), effort)
    assert cert.verdict == CERTIFIED and cert.exact_value == Fraction(9, 4)


def test_interior_point_answer_is_certified_by_enumeration(effort):
    cert = certify(min_pay(effort, 1, backend="cvxpy"), effort)
    assert cert.verdict == CERTIFIED and cert.exact_value == Fraction(3, 2)


def test_infeasibility_certified_with_exact_farkas_witness(dominated):
    res = min_pay(dominated, 2)
    assert not res.implementable
    cert = certify(res, dominated)
    assert cert.verdict == CERTIFIED, cert.reason
    assert cert.exact_point == (Fraction(1, 2), Fraction(1, 2), Fraction(0))
    lam_c = Fraction(1, 2) * Fraction(0.2)                   # the float 0.2, exactly
    assert lam_c < Fraction(1, 2) and str(lam_c) in cert.reason
    # Without a reported witness one is recomputed.
    assert certify(replace(res, witness=None), dominated).verdict == CERTIFIED


def test_optimal_and_linear_hand_example(effort):
    cert = certify(optimal_contract(effort), effort)
    assert cert.verdict == CERTIFIED and cert.exact_value == Fraction(3, 2)   # R_1 − 3/2 = 3 − 3/2
    assert len(cert.parts) == 2 and all(p.verdict == CERTIFIED for p in cert.parts)
    lin = certify(best_linear_contract(effort), effort)
    assert lin.verdict == CERTIFIED
    assert lin.exact_point == (Fraction(1, 2),) and lin.exact_value == Fraction(3, 2)   # α* = 1/2


def test_optimal_with_a_non_implementable_row(dominated):
    cert = certify(optimal_contract(dominated), dominated)
    assert cert.verdict == CERTIFIED, cert.reason
    assert cert.parts[2].verdict == CERTIFIED and cert.parts[2].exact_value is None


# ----------------------------------------------------------------------------- refutations

def test_contract_nudged_below_minimum_is_refuted(effort):
    res = min_pay(effort, 1)
    t = res.contract * (1 - 1e-3)
    bad = replace(res, contract=t, expected_payment=float(effort.outcome_probs[1] @ t))
    cert = certify(bad, effort)
    assert cert.verdict == REFUTED and "IC[0]" in cert.reason


def test_wrong_dual_is_refuted(effort):
    res = min_pay(effort, 1)
    bad = replace(res, ic_duals=res.ic_duals * 0.5)     # still dual feasible, objective 3/4 != 3/2
    cert = certify(bad, effort)
    assert cert.verdict == REFUTED and "dual objective" in cert.reason


def test_payment_reported_too_low_is_refuted(effort):
    res = min_pay(effort, 1)
    cert = certify(replace(res, expected_payment=1.4), effort)
    assert cert.verdict == REFUTED and "reported payment" in cert.reason


def test_suboptimal_contract_without_duals_is_refuted_by_the_exact_optimum(effort):
    res = min_pay(effort, 1)
    t = np.array([0.0, 3.0])                            # feasible, pays 9/4 > 3/2
    bad = replace(res, contract=t, expected_payment=2.25, ic_duals=None, dual_value=None)
    cert = certify(bad, effort)
    assert cert.verdict == REFUTED and cert.exact_value == Fraction(3, 2)


def test_false_infeasibility_claim_is_refuted(effort):
    res = min_pay(effort, 1)
    bad = replace(res, implementable=False, contract=None, witness=np.array([1.0, 0.0]))
    assert certify(bad, effort).verdict == REFUTED


def test_suboptimal_action_choice_is_refuted(effort):
    opt = optimal_contract(effort)
    bad = replace(opt, action=0, principal_utility=1.0)     # R_0 − 0 = 1 < 3/2
    cert = certify(bad, effort)
    assert cert.verdict == REFUTED and "not optimal" in cert.reason


def test_wrong_linear_utility_is_refuted(effort):
    lin = best_linear_contract(effort)
    assert certify(replace(lin, principal_utility=1.6), effort).verdict == REFUTED


def test_unsupported_type():
    with pytest.raises(TypeError):
        certify(object(), None)


# ----------------------------------------------------------------------------- exact helpers

def test_exact_helpers():
    A = [[Fraction(1), Fraction(2)], [Fraction(2), Fraction(4)]]
    assert solve_square(A, [Fraction(1), Fraction(2)]) is None
    assert solve_square([[Fraction(2), 0], [0, Fraction(4)]], [Fraction(1), Fraction(1)]) == [Fraction(1, 2),
                                                                                                Fraction(1, 4)]
    assert independent_rows(A + [[Fraction(0), Fraction(1)]], range(3)) == [0, 2]
    # Lines α R − c: R = (0, 1, 2), c = (0, 1/4, 1): switches at α = 1/4 (to 1) and 3/4 (to 2).
    alphas, acts = exact_linear_envelope([Fraction(0), Fraction(1), Fraction(2)],
                                         [Fraction(0), Fraction(1, 4), Fraction(1)])
    assert alphas == [0, Fraction(1, 4), Fraction(3, 4)] and acts == [0, 1, 2]


# ----------------------------------------------------------------------------- drawn instances

@settings(max_examples=30)
@given(contract_problems())
def test_min_pay_answers_are_never_refuted(problem):
    for res in min_pay_all(problem):
        cert = certify(res, problem)
        if res.implementable:
            assert cert.verdict in (CERTIFIED, NUMERICALLY_VERIFIED), cert.reason
            if cert.verdict == CERTIFIED:
                assert _agree(cert.exact_value, res.expected_payment)   # within 1e-9 relative
        else:
            assert cert.verdict != REFUTED, cert.reason


@settings(max_examples=30)
@given(contract_problems())
def test_optimal_and_linear_answers_are_never_refuted(problem):
    opt = optimal_contract(problem)
    cert = certify(opt, problem)
    assert cert.verdict != REFUTED, cert.reason
    if cert.exact_value is not None:
        assert _agree(cert.exact_value, opt.principal_utility)
    lin = best_linear_contract(problem)
    cert = certify(lin, problem)
    assert cert.verdict != REFUTED, cert.reason
    assert _agree(cert.exact_value, lin.principal_utility)


# ----------------------------------------------------------------------------- Stackelberg commitment

from contractlab.proofs_checks.theorems_stackelberg import bimatrix_games   # noqa: E402
from contractlab.solvers.stackelberg import stackelberg                    # noqa: E402
from contractlab.theory.bimatrix import BimatrixGame                       # noqa: E402


@pytest.fixture
def commitment_game():
    """The textbook 2x2 commitment game: committing to (1/2, 1/2) makes column 1 a (tied) best
    response, worth 5/2 to the leader (pure Nash / pure commitment give only 1 or 2)."""
    return BimatrixGame([[1.0, 3.0], [0.0, 2.0]], [[1.0, 0.0], [0.0, 1.0]])


def test_stackelberg_textbook_game_is_certified(commitment_game):
    res = stackelberg(commitment_game)
    cert = certify(res, commitment_game)
    assert cert.verdict == CERTIFIED, cert.reason
    assert cert.exact_value == Fraction(5, 2)
    assert cert.exact_point == (Fraction(1, 2), Fraction(1, 2))
    assert cert.exact_dual == (Fraction(1, 2), Fraction(5, 2))      # y on B[:,1] − B[:,0] >= 0, then v
    assert all(ch.passed for ch in cert.checks)
    assert any(ch.exact and "LP 0" in ch.name for ch in cert.checks)
    # The cvxpy/Clarabel (interior-point) answer is certified too.
    assert certify(stackelberg(commitment_game, backend="cvxpy"), commitment_game).exact_value == Fraction(5, 2)


def test_stackelberg_infeasible_column_gets_an_exact_bound():
    # Column 0 is strictly dominated for the follower: LP 0 is infeasible (A[0, 0] = 5 unreachable);
    # the exact dual y = 4 (1 + 4·1 >= 5) bounds it by v* = 1.
    game = BimatrixGame([[5.0, 0.0], [0.0, 1.0]], [[0.0, 1.0], [0.0, 1.0]])
    res = stackelberg(game)
    assert res.statuses[0] != "optimal"
    cert = certify(res, game)
    assert cert.verdict == CERTIFIED, cert.reason
    assert cert.exact_value == 1 and cert.exact_point == (Fraction(0), Fraction(1))


def test_stackelberg_certified_against_the_zeroed_follower_payoffs():
    # B differs by 1e-12 < PAYOFF_TOL: commitment_lps treats the follower as indifferent, so
    # column 1 (worth 1 to the leader) is inducible; certified for that zeroed instance.
    game = BimatrixGame([[0.0, 1.0]], [[1e-12, 0.0]])
    res = stackelberg(game)
    cert = certify(res, game)
    assert cert.verdict == CERTIFIED, cert.reason
    assert res.follower_action == 1 and cert.exact_value == 1


def test_stackelberg_corrupted_answers_are_refuted(commitment_game):
    res = stackelberg(commitment_game)
    # Strategy that no longer makes column 1 a best response.
    bad = replace(res, leader_strategy=np.array([0.6, 0.4]), leader_value=2.6)
    cert = certify(bad, commitment_game)
    assert cert.verdict == REFUTED and "best response" in cert.reason
    # Feasible but suboptimal strategy, reported consistently: the exact optimum 5/2 refutes it.
    bad = replace(res, leader_strategy=np.array([0.4, 0.6]), leader_value=2.4, follower_value=0.6)
    cert = certify(bad, commitment_game)
    assert cert.verdict == REFUTED and cert.exact_value == Fraction(5, 2)
    # Wrong value alone.
    cert = certify(replace(res, leader_value=2.6), commitment_game)
    assert cert.verdict == REFUTED and "leader value" in cert.reason
    # Wrong follower action (column 0, worth 1 at x = (1, 0)): LP 1 is worth 5/2 > 1.
    bad = replace(res, follower_action=0, leader_strategy=np.array([1.0, 0.0]), leader_value=1.0,
                  follower_value=1.0)
    cert = certify(bad, commitment_game)
    assert cert.verdict == REFUTED and "follower action 1" in cert.reason


@settings(max_examples=25, deadline=None)
@given(bimatrix_games())
def test_stackelberg_answers_are_never_refuted(game):
    res = stackelberg(game)
    cert = certify(res, game)
    assert cert.verdict in (CERTIFIED, NUMERICALLY_VERIFIED), cert.reason
    if cert.verdict == CERTIFIED:
        assert _agree(cert.exact_value, res.leader_value)


# ----------------------------------------------------------------------------- SPE contracts per state

from contractlab.solvers.certify import certify_spe_state, spe_state_problem   # noqa: E402
from contractlab.solvers.spe import solve_spe                                  # noqa: E402
from contractlab.theory import PrincipalAgentMDP                               # noqa: E402
from contractlab.theory.pamdp_families import random_dag, random_tree          # noqa: E402


@pytest.fixture
def one_state_mdp():
    """One state, the `effort` problem as an MDP: Q̄ = (0, −1), so MIN-PAY(1) = 3/2 with b = (0, 2)."""
    return PrincipalAgentMDP([[[0.75, 0.25], [0.25, 0.75]]], [[0.0, -1.0]], [[0.0, 4.0]], next_state=[[-1, -1]])


def test_spe_state_contract_is_certified(one_state_mdp):
    res = solve_spe(one_state_mdp)
    problem = spe_state_problem(res, one_state_mdp, 0)
    assert np.array_equal(problem.costs, [0.0, 1.0])
    cert = certify_spe_state(res, one_state_mdp, 0)
    assert cert.verdict == CERTIFIED, cert.reason
    assert cert.exact_value == Fraction(3, 2) and cert.exact_point == (Fraction(0), Fraction(2))


def test_spe_state_corrupted_contract_is_refuted(one_state_mdp):
    res = solve_spe(one_state_mdp)
    contract = np.array([[0.0, 2.5]])                                  # feasible, pays 15/8 > 3/2
    bad = replace(res, policy=replace(res.policy, contract=contract), expected_payment=np.array([1.875]),
                  min_pay=np.array([[0.0, 1.875]]))
    cert = certify_spe_state(bad, one_state_mdp, 0)
    assert cert.verdict == REFUTED and cert.exact_value == Fraction(3, 2)
    bad = replace(res, policy=replace(res.policy, contract=np.array([[0.0, 1.9]])), expected_payment=np.array([1.425]))
    assert certify_spe_state(bad, one_state_mdp, 0).verdict == REFUTED      # IC violated


@pytest.mark.parametrize("seed", range(3))
def test_spe_states_of_drawn_mdps_are_never_refuted(seed):
    for mdp in (random_tree(2, 3, 3, seed=seed), random_dag(6, 3, 3, seed=seed)):
        res = solve_spe(mdp)
        for s in range(mdp.n_states):
            cert = certify_spe_state(res, mdp, s)
            assert cert.verdict != REFUTED, cert.reason
            if cert.verdict == CERTIFIED:
                assert _agree(cert.exact_value, float(res.expected_payment[s]))
    mdp = random_dag(4, 2, 3, seed=seed)
    timed = PrincipalAgentMDP(mdp.outcome_probs, mdp.agent_rewards, mdp.principal_rewards,
                              next_state=mdp.next_state, horizon=2)
    res = solve_spe(timed)
    assert res.time_indexed
    for t in range(2):
        for s in range(timed.n_states):
            assert certify_spe_state(res, timed, s, step=t).verdict != REFUTED
    with pytest.raises(ValueError):
        certify_spe_state(res, timed, 0)
