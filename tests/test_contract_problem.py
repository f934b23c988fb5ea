"""ContractProblem validation: every violation names the field and the index."""

import math

import numpy as np
import pytest

from contractlab import ContractProblem, InvalidInstanceError

F = [[0.5, 0.5], [0.2, 0.8]]


def make(**kw):
    data = dict(outcome_probs=F, costs=[0.0, 1.0], rewards=[0.0, 3.0])
    data.update(kw)
    return ContractProblem(**data)


def test_valid_problem_exposes_derived_quantities():
    p = make()
    assert (p.n_actions, p.n_outcomes) == (2, 2)
    np.testing.assert_allclose(p.expected_rewards, [1.5, 2.4])
    np.testing.assert_allclose(p.welfare, [1.5, 1.4])


def test_arrays_are_read_only_copies():
    probs = np.array(F)
    p = make(outcome_probs=probs)
    probs[0, 0] = 0.9  # the caller's array is not shared
    assert p.outcome_probs[0, 0] == 0.5
    with pytest.raises(ValueError):
        p.outcome_probs[0, 0] = 1.0


@pytest.mark.parametrize("kw, field, index", [
    (dict(outcome_probs=[[0.5, math.nan], [0.2, 0.8]]), "outcome_probs", (0, 1)),
    (dict(outcome_probs=[[0.5, 0.5], [math.inf, 0.8]]), "outcome_probs", (1, 0)),
    (dict(outcome_probs=[[0.5, 0.5], [-0.2, 1.2]]), "outcome_probs", (1, 0)),
    (dict(outcome_probs=[[0.5, 0.5], [0.3, 0.8]]), "outcome_probs", (1,)),
    (dict(outcome_probs=[[0.5, 0.5], [0.2]]), "outcome_probs", (1,)),
    (dict(outcome_probs=[[0.5, 0.5], [0.2, "x"]]), "outcome_probs", (1, 1)),
    (dict(costs=[0.0, math.nan]), "costs", (1,)),
    (dict(costs=[0.0, 1.0, 2.0]), "costs", None),
    (dict(rewards=[0.0]), "rewards", None),
    (dict(rewards=[0.0, -math.inf]), "rewards", (1,)),
    (dict(outcome_probs=[], costs=[], rewards=[]), "outcome_probs", None),
    (dict(outcome_probs=[[], []], costs=[0.0, 1.0], rewards=[]), "outcome_probs", None),
    (dict(action_names=["a", "a"]), "action_names", (1,)),
    (dict(outcome_names=["x"]), "outcome_names", None),
    (dict(costs=[[0.0], [1.0]]), "costs", (0,)),
    (dict(costs=[True, 1.0]), "costs", (0,)),
])
def test_invalid_input_names_field_and_index(kw, field, index):
    with pytest.raises(InvalidInstanceError) as info:
        make(**kw)
    assert info.value.field == field
    assert info.value.index == index
    assert str(info.value).startswith(field)
    assert "\n" not in str(info.value)


def test_rows_within_tolerance_are_accepted_and_tolerance_is_named():
    make(outcome_probs=[[0.5, 0.5 + 1e-12], [0.2, 0.8]])
    with pytest.raises(InvalidInstanceError):
        make(outcome_probs=[[0.5, 0.5 + 1e-6], [0.2, 0.8]])
    ContractProblem([[0.5, 0.5 + 1e-6], [0.2, 0.8]], [0, 1], [0, 3], prob_tol=1e-5)


def test_relabelling_permutes_every_field():
    p = make(action_names=["lo", "hi"], outcome_names=["f", "s"])
    q = p.permuted([1, 0], [1, 0])
    assert q.action_names == ("hi", "lo") and q.outcome_names == ("s", "f")
    np.testing.assert_array_equal(q.outcome_probs, [[0.8, 0.2], [0.5, 0.5]])
    np.testing.assert_array_equal(q.rewards, [3.0, 0.0])
    assert q.permuted([1, 0], [1, 0]) == p
