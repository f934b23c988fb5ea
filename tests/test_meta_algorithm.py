"""The meta-algorithm (arXiv 2407.18074, Algorithm 1) on trees and finite horizons."""

import numpy as np
import pytest

from contractlab.solvers.meta_algorithm import default_initial_policy, meta_algorithm, principal_step
from contractlab.solvers.pamdp_policy import agent_best_response
from contractlab.solvers.spe import solve_spe
from contractlab.theory import InvalidInstanceError
from contractlab.theory.pamdp_families import binary_game_tree, random_discounted


def test_binary_tree_fixes_one_level_per_iteration():
    mdp = binary_game_tree(6, seed=1)
    res = meta_algorithm(mdp)
    spe = solve_spe(mdp)
    assert res.converged and res.iterations <= 6 + 1
    np.testing.assert_allclose(res.principal_value, spe.principal_value, atol=1e-12)
    # the first principal step already has the SPE value at every last-level state
    last = mdp.levels()[0]
    np.testing.assert_allclose(res.iterates[0].step.principal_value[last], spe.principal_value[last], atol=1e-12)


def test_principal_step_given_the_spe_agent_values_is_the_spe():
    mdp = binary_game_tree(5, seed=2)
    spe = solve_spe(mdp)
    step = principal_step(mdp, agent_best_response(mdp, spe.policy).agent_value)
    np.testing.assert_array_equal(step.policy.action, spe.policy.action)
    np.testing.assert_allclose(step.principal_value, spe.principal_value, atol=1e-12)


def test_finite_horizon_on_a_cyclic_graph():
    base = random_discounted(4, 2, 2, 0.9, seed=3)
    from contractlab.theory import PrincipalAgentMDP
    mdp = PrincipalAgentMDP(base.outcome_probs, base.agent_rewards, base.principal_rewards,
                            transitions=base.transitions, discount=0.9, horizon=3)
    res = meta_algorithm(mdp)
    assert res.converged and res.iterations <= 4
    np.testing.assert_allclose(res.principal_value, solve_spe(mdp).principal_value, atol=1e-10)


def test_iteration_cap_is_reported_not_silent():
    mdp = binary_game_tree(6, seed=1)
    res = meta_algorithm(mdp, max_iter=2)
    assert not res.converged and res.iterations == 2


def test_discounted_instances_converge_to_a_certified_spe():
    from contractlab.proofs_checks.spe_checks import spe_gap
    converged = 0
    for seed in range(10):
        mdp = random_discounted(5, 2, 2, 0.9, seed=seed)
        res = meta_algorithm(mdp)
        fp = res.iterates[-1].step.fixed_point
        assert fp is not None and fp.converged and fp.error_bound <= 1e-11
        if res.converged:
            converged += 1
            assert spe_gap(mdp, res.policy, res.agent_policy).gap <= 1e-9
    assert converged >= 8  # the outer alternation is not guaranteed to converge; here it does on most draws


def test_principal_fixed_point_reports_its_bound():
    from contractlab.solvers.meta_algorithm import principal_fixed_point, principal_operator
    mdp = random_discounted(4, 2, 3, 0.8, seed=5)
    va = np.zeros(4)
    fp = principal_fixed_point(mdp, va)
    assert fp.converged and fp.error_bound <= 1e-11
    finite = np.isfinite(fp.q)
    np.testing.assert_allclose(principal_operator(mdp, fp.q, va)[finite], fp.q[finite], atol=1e-10)
    capped = principal_fixed_point(mdp, va, max_iter=3)
    assert not capped.converged and capped.iterations == 3 and capped.error_bound > 1e-11


def test_refusals_name_the_field():
    mdp = binary_game_tree(3, seed=0)
    with pytest.raises(InvalidInstanceError) as info:
        meta_algorithm(mdp, max_iter=0)
    assert info.value.field == "max_iter"
    with pytest.raises(InvalidInstanceError) as info:
        principal_step(mdp, np.zeros(5))
    assert info.value.field == "agent_value"
    assert default_initial_policy(mdp).action.shape == (7,)
