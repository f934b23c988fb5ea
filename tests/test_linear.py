"""Best linear contract: envelope against a brute-force grid, tie-breaking, the tight family."""

import numpy as np
import pytest
from hypothesis import given

from contractlab import ContractProblem, InvalidInstanceError, agent_best_response, best_linear_contract
from contractlab.proofs_checks.strategies import contract_problems
from contractlab.solvers.linear import upper_envelope
from contractlab.theory.families import linear_gap_family


def grid_best_linear(p: ContractProblem, k: int = 4001):
    """Brute force over α on a grid, agent ties to the principal, vectorised over the grid."""
    alphas = np.linspace(0.0, 1.0, k)
    R, c = p.expected_rewards, p.costs
    U = alphas[:, None] * R - c
    tied = U >= U.max(axis=1, keepdims=True) - 1e-12
    principal = np.where(tied, (1 - alphas[:, None]) * R, -np.inf).max(axis=1)
    return principal.max()


@given(contract_problems())
def test_envelope_beats_every_grid_point_and_is_attained(p):
    lin = best_linear_contract(p)
    # no grid point does better (the optimum sits at a critical value) ...
    assert grid_best_linear(p) <= lin.principal_utility + 1e-9
    # ... and the reported α really induces the reported action with the reported utility
    br = agent_best_response(p, lin.contract)
    assert br.action == lin.action
    assert br.principal_utility == pytest.approx(lin.principal_utility, abs=1e-9)
    assert lin.critical_values[0] == 0.0 and (np.diff(lin.critical_values) > 0).all()


@given(contract_problems())
def test_grid_converges_to_the_envelope_value(p):
    # the grid value approaches LIN from below as the grid refines: the gap is at most R_max * step
    lin = best_linear_contract(p).principal_utility
    step = 1 / 4000
    assert grid_best_linear(p) >= lin - p.expected_rewards.max() * step - 1e-9


def test_upper_envelope_drops_lines_never_strictly_on_top():
    slopes = np.array([0.0, 1.0, 2.0, 1.0])
    intercepts = np.array([0.0, -0.5, -1.0, -2.0])  # line 1 only touches the envelope at α = 0.5
    assert upper_envelope(slopes, intercepts).tolist() == [0, 2]


def test_critical_values_of_the_tight_family():
    p = linear_gap_family(4, 0.1)
    lin = best_linear_contract(p)
    np.testing.assert_allclose(lin.critical_values, [0.0, 0.9, 0.99, 0.999], atol=1e-12)
    assert lin.induced_actions.tolist() == [0, 1, 2, 3]
    np.testing.assert_allclose(lin.principal_utilities, 1.0, atol=1e-9)


def test_negative_rewards_are_refused_with_the_index():
    p = ContractProblem([[0.5, 0.5]], [0.0], [1.0, -1.0])
    with pytest.raises(InvalidInstanceError) as info:
        best_linear_contract(p)
    assert info.value.field == "rewards" and info.value.index == (1,)


def test_tie_break_adversarial_versus_principal():
    # Under t = 0 both actions cost 0: the principal prefers action 1 (reward 2), the adversary action 0.
    p = ContractProblem([[1.0, 0.0], [0.0, 1.0]], [0.0, 0.0], [0.0, 2.0])
    assert agent_best_response(p, [0.0, 0.0]).action == 1
    assert agent_best_response(p, [0.0, 0.0], tie_break="adversarial").action == 0
    with pytest.raises(InvalidInstanceError):
        agent_best_response(p, [0.0, 0.0], tie_break="random")
    with pytest.raises(InvalidInstanceError):
        agent_best_response(p, [0.0])
