"""Budgets of the meta-algorithm (arXiv 2407.18074, Algorithm 1) on discounted cyclic instances.

With ``γ`` close to 1 the principal's fixed point and the agent's value iteration need about
``log(1/tol)/(1−γ)`` iterations; every loop stops at an iteration budget and at the call's
wall-time budget and returns ``converged=False`` with the bound reached, the reason and the loop
that was cut — never raising, never running on. Ordinary instances are unaffected.

No assertion here is on elapsed time: the budgets are chosen so that the reason is the same on
any machine (e.g. ``time_limit=0`` expires at once; ``γ = 1 − 1e-12`` never converges).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import contractlab.solvers.meta_algorithm as meta_module
from contractlab.proofs_checks.policy_check import check_policy
from contractlab.proofs_checks.spe_checks import spe_gap
from contractlab.solvers.meta_algorithm import (FIXED_POINT_TOL, REASONS, STAGES, TIME_LIMIT, meta_algorithm,
                                                principal_fixed_point)
from contractlab.solvers.pamdp_policy import VI_TOL, agent_best_response, evaluate
from contractlab.theory import InvalidInstanceError
from contractlab.theory.contract_policy import ContractPolicy
from contractlab.theory.pamdp_families import binary_game_tree, random_discounted

#: A discount so close to 1 that nothing converges: ~10¹³ iterations would be needed.
NEAR_ONE = 1.0 - 1e-12


def _near_one(seed=0):
    return random_discounted(5, 2, 2, NEAR_ONE, seed=seed)


def _paying_policy(mdp, pay=0.5):
    """Recommend action 1 everywhere and pay ``pay`` on every outcome: the agent's value
    iteration then never reaches its tolerance at ``γ = 1 − 1e-12``."""
    return ContractPolicy(np.ones(mdp.n_states, dtype=np.int64), np.full((mdp.n_states, mdp.n_outcomes), pay))


def _assert_stopped(res, reason, stage):
    assert not res.converged and res.reason == reason and res.stage == stage
    assert res.reason in REASONS and res.stage in STAGES
    assert not math.isnan(res.bound) and res.bound > FIXED_POINT_TOL
    assert res.iterations == len(res.iterates) >= 1
    assert np.all(np.isfinite(res.principal_value)) and np.all(np.isfinite(res.agent_value))


def test_default_time_limit_is_documented():
    assert TIME_LIMIT == 60.0
    import inspect
    params = inspect.signature(meta_algorithm).parameters
    assert params["time_limit"].default == TIME_LIMIT
    assert {"max_iter", "fixed_point_max_iter", "agent_max_iter"} <= params.keys()


def test_near_one_discount_stops_at_the_time_budget():
    """γ = 1 − 1e-12 with a small time limit: returns with converged=False and the bound of the
    principal's fixed point, which was cut (finite: γ/(1−γ)·||q_{k+1} − q_k||_∞)."""
    mdp = _near_one()
    res = meta_algorithm(mdp, time_limit=0.5)
    _assert_stopped(res, "time budget", "principal fixed point")
    fp = res.iterates[-1].step.fixed_point
    assert not fp.converged and fp.reason == "time budget" and res.bound == fp.error_bound
    assert math.isfinite(res.bound)
    res.policy.check_fits(mdp)


def test_zero_time_limit_still_does_one_iteration():
    res = meta_algorithm(_near_one(seed=1), time_limit=0.0)
    _assert_stopped(res, "time budget", "principal fixed point")
    assert res.iterations == 1 and res.iterates[0].step.fixed_point.iterations == 1


def test_fixed_point_iteration_budget():
    res = meta_algorithm(_near_one(), time_limit=None, fixed_point_max_iter=50)
    _assert_stopped(res, "iteration budget", "principal fixed point")
    fp = res.iterates[-1].step.fixed_point
    assert fp.iterations == 50 and fp.reason == "iteration budget" and res.bound == fp.error_bound


def test_agent_best_response_iteration_budget():
    mdp = _near_one()
    res = meta_algorithm(mdp, _paying_policy(mdp), time_limit=None, agent_max_iter=20, fixed_point_max_iter=20)
    _assert_stopped(res, "iteration budget", "agent best response")
    assert math.isfinite(res.bound)


def test_agent_best_response_time_budget():
    """The agent's best response gets the call's remaining time as its own ``time_limit``, so
    its value iteration stops at the call's time limit too; the bound is the response's."""
    mdp = _near_one()
    res = meta_algorithm(mdp, _paying_policy(mdp), time_limit=0.3)
    _assert_stopped(res, "time budget", "agent best response")
    assert math.isfinite(res.bound)


# --- the agent's best response on its own: its clock ---------------------------------------

def test_near_one_agent_best_response_stops_at_its_time_limit():
    """γ = 1 − 1e-12: value iteration would need ~10¹³ sweeps (it used to run its 10⁶-sweep cap,
    ~20 s); with ``time_limit=0.5`` it returns, unconverged and saying so, with the bound reached."""
    mdp = _near_one()
    br = agent_best_response(mdp, _paying_policy(mdp), time_limit=0.5)
    assert not br.converged and br.reason == "time budget" and br.reason in REASONS
    assert br.iterations >= 1 and math.isfinite(br.error_bound) and br.error_bound > VI_TOL
    assert br.bound == max(br.error_bound, br.value_error_bound)
    assert br.policy.shape == (mdp.n_states,)
    assert np.all(np.isfinite(br.agent_value)) and np.all(np.isfinite(br.principal_value))
    zero = agent_best_response(mdp, _paying_policy(mdp), time_limit=0.0)      # at least one sweep
    assert (zero.converged, zero.reason, zero.iterations) == (False, "time budget", 1)
    capped = agent_best_response(mdp, _paying_policy(mdp), max_iter=10)
    assert (capped.converged, capped.reason, capped.iterations) == (False, "iteration budget", 10)


@pytest.mark.parametrize("discount", [0.9, 0.99])
def test_agent_best_response_default_is_unchanged(discount):
    """No limit by default; a generous one gives the same answer on ordinary instances."""
    for seed in range(3):
        mdp = random_discounted(6, 2, 2, discount, seed=seed)
        policy = _paying_policy(mdp, pay=0.3 * (seed + 1))
        a = agent_best_response(mdp, policy)
        b = agent_best_response(mdp, policy, time_limit=TIME_LIMIT)
        assert a.converged and b.converged and a.reason == b.reason == "converged"
        assert a.iterations == b.iterations and a.error_bound == b.error_bound <= VI_TOL
        assert np.array_equal(a.policy, b.policy) and np.array_equal(a.agent_value, b.agent_value)
        assert np.array_equal(a.principal_value, b.principal_value)


def test_near_one_meta_algorithm_with_a_one_second_limit():
    res = meta_algorithm(_near_one(), time_limit=1)
    assert not res.converged and res.reason == "time budget" and res.stage in STAGES
    assert res.iterations == len(res.iterates) >= 1 and not math.isnan(res.bound)


def test_meta_algorithm_passes_the_remaining_time_to_the_agent(monkeypatch):
    """No sweep-pacing workaround: every agent best response on a cyclic instance gets
    ``time_limit`` = the time left (``None`` without a limit) and the sweep cap unchanged."""
    calls = []
    real = meta_module.agent_best_response

    def spy(mdp, policy, *args, **kwargs):
        calls.append(kwargs)
        return real(mdp, policy, *args, **kwargs)

    monkeypatch.setattr(meta_module, "agent_best_response", spy)
    mdp = random_discounted(4, 2, 2, 0.9, seed=0)
    meta_algorithm(mdp, time_limit=None, agent_max_iter=12345)
    assert calls and all(c.get("time_limit") is None and c.get("max_iter") == 12345 for c in calls)
    calls.clear()
    meta_algorithm(mdp, time_limit=100.0)
    assert calls and all(0.0 <= c["time_limit"] <= 100.0 for c in calls)
    assert all(a["time_limit"] >= b["time_limit"] for a, b in zip(calls, calls[1:]))


def test_checks_pass_the_time_limit_on():
    """``spe_gap`` and ``check_policy`` (default: no limit of their own) hand ``time_limit`` to the
    agent's best response and say when it ran out."""
    mdp = _near_one()
    policy = _paying_policy(mdp)
    gap = spe_gap(mdp, policy, time_limit=0.0)
    assert not gap.converged and gap.reason == "time budget" and np.isfinite(gap.gap)
    ordinary = random_discounted(4, 2, 2, 0.9, seed=0)
    ok = spe_gap(ordinary, _paying_policy(ordinary))
    assert ok.converged and ok.reason == "converged"
    assert ok.gap == spe_gap(ordinary, _paying_policy(ordinary), time_limit=TIME_LIMIT).gap
    ev = evaluate(ordinary, _paying_policy(ordinary), np.ones(4, dtype=np.int64), time_limit=0.0)
    assert ev.converged                                      # a direct solve: nothing to cut
    reference = meta_algorithm(mdp, time_limit=0.0)
    report = check_policy(mdp, policy, spe=reference, time_limit=0.0)
    assert not report.agent_response.converged and report.agent_response.reason == "time budget"


def test_outer_alternation_budgets_give_an_infinite_bound():
    mdp = binary_game_tree(6, seed=1)
    res = meta_algorithm(mdp, max_iter=2)
    assert not res.converged and res.iterations == 2
    assert (res.reason, res.stage, res.bound) == ("iteration budget", "alternation", math.inf)
    res = meta_algorithm(mdp, time_limit=0.0)
    assert not res.converged and res.iterations == 1
    assert (res.reason, res.stage, res.bound) == ("time budget", "alternation", math.inf)


@pytest.mark.parametrize("discount", [0.9, 0.99])
def test_ordinary_instances_are_unchanged(discount):
    """With the default time budget the result is the one without any budget, array for array
    (from a paying initial policy 0.99 needs thousands of agent sweeps, all within the budget)."""
    for seed in range(3):
        mdp = random_discounted(6, 2, 2, discount, seed=seed)
        initial = None if seed == 0 else _paying_policy(mdp, pay=0.3 * seed)
        a = meta_algorithm(mdp, initial)
        b = meta_algorithm(mdp, initial, time_limit=None)
        assert a.converged == b.converged and a.iterations == b.iterations and a.reason == b.reason
        assert np.array_equal(a.policy.action, b.policy.action)
        assert np.array_equal(a.policy.contract, b.policy.contract)
        assert np.array_equal(a.principal_value, b.principal_value)
        if a.converged:
            assert a.reason == "converged" and a.stage is None and 0.0 <= a.bound <= 1e-9


def test_converged_tree_has_zero_bound():
    res = meta_algorithm(binary_game_tree(4, seed=0))
    assert res.converged and (res.reason, res.stage, res.bound) == ("converged", None, 0.0)


def test_principal_fixed_point_budgets():
    mdp = _near_one()
    va = np.zeros(mdp.n_states)
    fp = principal_fixed_point(mdp, va, time_limit=0.0)
    assert (fp.iterations, fp.converged, fp.reason) == (1, False, "time budget") and fp.bound == fp.error_bound
    fp = principal_fixed_point(mdp, va, max_iter=7)
    assert (fp.iterations, fp.converged, fp.reason) == (7, False, "iteration budget")
    assert math.isfinite(fp.error_bound) and fp.error_bound > FIXED_POINT_TOL
    ok = principal_fixed_point(random_discounted(4, 2, 3, 0.8, seed=5), np.zeros(4), time_limit=None)
    assert ok.converged and ok.reason == "converged"


@pytest.mark.parametrize("kwargs, field", [
    ({"time_limit": -1.0}, "time_limit"), ({"time_limit": float("nan")}, "time_limit"),
    ({"time_limit": "60"}, "time_limit"), ({"fixed_point_max_iter": 0}, "fixed_point_max_iter"),
    ({"agent_max_iter": 1.5}, "agent_max_iter"), ({"max_iter": True}, "max_iter"),
])
def test_bad_budgets_name_the_field(kwargs, field):
    with pytest.raises(InvalidInstanceError) as info:
        meta_algorithm(random_discounted(3, 2, 2, 0.9, seed=0), **kwargs)
    assert info.value.field == field
