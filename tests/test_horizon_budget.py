"""A finite horizon is refused before anything of size ``H × S`` is allocated when the
time-indexed arrays would exceed the memory budget (:func:`contractlab.theory.budget.check_memory`):
``solve_spe``, policy evaluation and the agent's best response, for horizons of 10^9, 10^30 and
beyond the float range (no ``OverflowError``, no ``MemoryError``, no allocation attempt)."""

import numpy as np
import pytest

from contractlab.solvers.pamdp_policy import agent_best_response, evaluate
from contractlab.solvers.spe import solve_spe
from contractlab.theory.budget import MEMORY_ENV
from contractlab.theory.contract_policy import ContractPolicy
from contractlab.theory.errors import InvalidInstanceError
from contractlab.theory.pamdp import PrincipalAgentMDP, horizon_bytes

HUGE = [10**9, 10**30, 10**400]


def two_states(horizon: int) -> PrincipalAgentMDP:
    """A cyclic 2-state instance (state 0 <-> state 1 on outcome 0, the end on outcome 1)."""
    return PrincipalAgentMDP(outcome_probs=[[[0.75, 0.25], [0.25, 0.75]], [[0.5, 0.5], [0.2, 0.8]]],
                             agent_rewards=[[0.0, -0.3], [0.0, -0.1]], principal_rewards=[[0.0, 1.0], [1.0, 0.0]],
                             next_state=[[1, -1], [0, -1]], discount=1.0, horizon=horizon)


def stationary_policy() -> ContractPolicy:
    return ContractPolicy(np.array([1, 0]), np.array([[0.0, 1.5], [0.0, 0.0]]))


CALLS = {
    "solve_spe": lambda m: solve_spe(m),
    "solve_spe lp": lambda m: solve_spe(m, method="lp"),
    "evaluate": lambda m: evaluate(m, stationary_policy(), np.array([1, 0])),
    "agent_best_response": lambda m: agent_best_response(m, stationary_policy()),
}


@pytest.mark.parametrize("horizon", HUGE, ids=["1e9", "1e30", "1e400"])
@pytest.mark.parametrize("call", sorted(CALLS))
def test_huge_horizon_is_refused_naming_the_horizon(call, horizon):
    with pytest.raises(InvalidInstanceError) as err:
        CALLS[call](two_states(horizon))
    assert err.value.field == "horizon"
    assert "memory budget" in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("call", sorted(CALLS))
def test_the_budget_decides(call, monkeypatch):
    """A horizon of 500 fits the default budget and is solved; under a 4 KiB budget it is refused."""
    CALLS[call](two_states(500))
    monkeypatch.setenv(MEMORY_ENV, "4KiB")
    with pytest.raises(InvalidInstanceError) as err:
        CALLS[call](two_states(500))
    assert err.value.field == "horizon"


def test_a_refused_horizon_is_solved_once_the_budget_allows_it(monkeypatch):
    monkeypatch.setenv(MEMORY_ENV, "4KiB")
    with pytest.raises(InvalidInstanceError):
        solve_spe(two_states(300))
    monkeypatch.setenv(MEMORY_ENV, "1GiB")
    res = solve_spe(two_states(300))
    assert res.principal_value.shape == (300, 2) and res.time_indexed


def test_horizon_bytes_never_overflows():
    assert horizon_bytes(10, 3, 8) == 240.0
    assert horizon_bytes(10**30, 2, 100) == pytest.approx(2e32)
    assert horizon_bytes(10**400, 2, 100) > 1e300          # counted as 2^1000 steps
    assert horizon_bytes(10**400, 10**9, 10**9) == np.inf   # refused all the same


def test_dense_successor_matrix_is_refused_beyond_the_budget():
    """``successor_matrix`` of a deterministic instance is ``S × K × S`` floats: 100,000 states
    would need 160 GB."""
    S = 100_000
    m = PrincipalAgentMDP(np.full((S, 1, 2), 0.5), np.zeros((S, 1)), np.zeros((S, 2)),
                          next_state=np.full((S, 2), -1), discount=1.0)
    with pytest.raises(InvalidInstanceError) as err:
        m.successor_matrix()
    assert err.value.field == "next_state" and "memory budget" in str(err.value)
