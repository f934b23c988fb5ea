"""The externality model (``theory/externality.py``) and its environments
(``theory/externality_families.py``): it is the principal-agent MDP it claims to be, the
environments have the structure their docstrings state, generators are reproducible, files round
trip, and bad input is refused naming the field."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contractlab.theory import fileio
from contractlab.theory.errors import InvalidFileError, InvalidInstanceError
from contractlab.theory.externality import ExternalityMDP
from contractlab.theory.externality_families import (INSURANCE_DEFAULTS, POLLUTION_DEFAULTS, insurance,
                                                     pollution_control, random_externality, random_insurance,
                                                     random_pollution)
from contractlab.theory.pamdp import PrincipalAgentMDP

#: Sums of a handful of float64 numbers of order 1 agree to this.
FLOAT_TOL = 1e-12

seeds = st.integers(0, 2**32 - 1)


def family(name: str, seed: int) -> ExternalityMDP:
    if name == "pollution":
        return random_pollution(seed)
    if name == "insurance":
        return random_insurance(seed)
    return random_externality(seed, n_states=3, n_actions=3, n_outcomes=2, horizon=4, stochastic=seed % 2 == 0)


families = st.sampled_from(["pollution", "insurance", "random"])


# --- the model is a principal-agent MDP ---------------------------------------------------

@settings(max_examples=20)
@given(families, seeds)
def test_model_is_the_principal_agent_mdp_with_externality_as_principal_reward(name, seed):
    m = family(name, seed)
    p = m.to_pamdp()
    assert isinstance(p, PrincipalAgentMDP)
    assert np.array_equal(p.outcome_probs, m.outcome_probs)
    assert np.array_equal(p.agent_rewards, m.private_rewards)
    assert np.array_equal(p.principal_rewards, m.externality)
    assert p.horizon == m.horizon and p.discount == m.discount and p.initial_state == m.initial_state
    assert np.array_equal(p.successor_matrix(), m.to_pamdp().successor_matrix())
    # one-step welfare = private reward + expected externality
    expected = m.private_rewards + np.einsum("sak,sk->sa", m.outcome_probs, m.externality)
    assert np.allclose(m.welfare_rewards(), expected, rtol=0, atol=FLOAT_TOL)


def test_defaults_are_the_documented_constants():
    assert pollution_control() == pollution_control(**POLLUTION_DEFAULTS)
    assert insurance() == insurance(**INSURANCE_DEFAULTS)
    assert pollution_control().environment == "pollution" and insurance().environment == "insurance"


# --- the environments have the structure their docstrings state ----------------------------

@settings(max_examples=20)
@given(seeds)
def test_pollution_damage_is_increasing_and_convex_in_the_stock(seed):
    m = random_pollution(seed, n_levels=6)
    damage = -m.externality                                   # (stock x, emission o) -> D(x + o)
    # D depends on x + o only: D(x, o + 1) = D(x + 1, o)
    assert np.allclose(damage[1:, :-1], damage[:-1, 1:], rtol=0, atol=FLOAT_TOL)
    along = np.concatenate([damage[:, 0], damage[-1, 1:]])    # D(0), D(1), …, D(L − 1 + 2)
    assert (np.diff(along) >= -FLOAT_TOL).all()
    assert (np.diff(along, 2) >= -FLOAT_TOL).all()


@settings(max_examples=20)
@given(seeds)
def test_pollution_more_emissions_never_lower_the_next_stock(seed):
    """First-order stochastic dominance: P(x' >= z | x, o) is nondecreasing in o and in x."""
    m = random_pollution(seed)
    tail = np.cumsum(m.transitions[:, :, ::-1], axis=2)[:, :, ::-1]        # P(x' >= z)
    assert (np.diff(tail, axis=1) >= -FLOAT_TOL).all()
    assert (np.diff(tail, axis=0) >= -FLOAT_TOL).all()


@settings(max_examples=20)
@given(seeds)
def test_pollution_selfish_ranking_produce_is_the_most_profitable_and_the_dirtiest(seed):
    m = random_pollution(seed)
    mean_emission = m.outcome_probs[0] @ np.arange(3)
    assert (np.diff(mean_emission) <= FLOAT_TOL).all()                     # produce >= abate >= curtail
    assert (m.private_rewards[:, 0] >= m.private_rewards[:, 1:].max(axis=1)).all()


@settings(max_examples=20)
@given(seeds)
def test_insurance_claims_fall_with_effort_and_rise_with_risk(seed):
    m = random_insurance(seed)
    p_claim = 1.0 - m.outcome_probs[:, :, 0]
    assert (np.diff(p_claim, axis=1) <= FLOAT_TOL).all()
    assert (np.diff(p_claim, axis=0) >= -FLOAT_TOL).all()
    # the agent's private reward does not depend on the outcome: a full insurance
    assert (np.diff(m.private_rewards, axis=1) <= 0).all()


@settings(max_examples=20)
@given(st.floats(0.0, 5.0), st.floats(0.0, 5.0))
def test_insurance_premium_cancels_in_the_welfare(premium_a, premium_b):
    a, b = insurance(premium=premium_a), insurance(premium=premium_b)
    assert np.allclose(a.welfare_rewards(), b.welfare_rewards(), rtol=0, atol=1e-12 * (1 + premium_a + premium_b))


# --- seeds ---------------------------------------------------------------------------------

@pytest.mark.parametrize("generator", [random_pollution, random_insurance, random_externality])
def test_same_seed_same_instance_bit_for_bit(generator):
    assert generator(7) == generator(7)
    assert generator(7) == generator(np.random.default_rng(7))
    assert generator(7) != generator(8)


@settings(max_examples=20)
@given(families, seeds)
def test_every_drawn_instance_is_valid_and_round_trips_through_json(name, seed):
    m = family(name, seed)
    back = fileio.loads(fileio.dumps(m))
    assert isinstance(back, ExternalityMDP) and back == m


# --- files ---------------------------------------------------------------------------------

def test_save_and_load_with_npz_sibling(tmp_path):
    m = pollution_control()
    path = tmp_path / "pollution.json"
    fileio.save(m, path, npz_threshold=10)
    assert (tmp_path / "pollution.npz").exists()
    assert fileio.read_kind(path) == "externality_mdp"
    assert fileio.load(path, expect="externality_mdp") == m
    data = json.loads(path.read_text())
    assert data["version"] == 1 and data["transitions"] == {"npz": "transitions"}


def test_document_lists_its_fields():
    data = fileio.to_dict(insurance())
    assert data["kind"] == "externality_mdp" and data["horizon"] == INSURANCE_DEFAULTS["horizon"]
    assert data["action_names"] == ["none", "some", "full"]
    assert data["parameters"]["premium"] == INSURANCE_DEFAULTS["premium"]
    assert "next_state" not in data


def small() -> ExternalityMDP:
    return ExternalityMDP(outcome_probs=[[[0.5, 0.5], [0.9, 0.1]], [[1.0, 0.0], [0.2, 0.8]]],
                          private_rewards=[[1.0, 0.0], [0.5, 0.2]], externality=[[0.0, -1.0], [-0.5, -2.0]],
                          next_state=[[0, 1], [1, -1]], horizon=3)


def document(**changes) -> str:
    data = fileio.to_dict(small())
    data.update(changes)
    return json.dumps({k: v for k, v in data.items() if v is not ...})


@pytest.mark.parametrize("changes, field", [
    (dict(horizon=...), "horizon"),
    (dict(horizon=0), "horizon"),
    (dict(horizon=None), "horizon"),
    (dict(horizon=2.0), "horizon"),
    (dict(externality=...), "externality"),
    (dict(externality=[[0.0, -1.0]]), "externality"),
    (dict(private_rewards=[[1.0, 0.0, 3.0], [0.5, 0.2, 1.0]]), "private_rewards"),
    (dict(private_rewards=[[1.0, "x"], [0.5, 0.2]]), "private_rewards"),
    (dict(outcome_probs=[[[0.5, 0.6], [0.9, 0.1]], [[1.0, 0.0], [0.2, 0.8]]]), "outcome_probs"),
    (dict(next_state=[[0, 2], [1, -1]]), "next_state"),
    (dict(transitions=[[[1, 0], [0, 1]], [[0, 1], [0, 0]]]), "next_state"),     # both given
    (dict(discount=1.5), "discount"),
    (dict(initial_state=2), "initial_state"),
    (dict(stock=[0.0, 1.0, 2.0]), "stock"),
    (dict(action_names=["a", "a"]), "action_names"),
    (dict(outcome_names=["x"]), "outcome_names"),
    (dict(environment=""), "environment"),
    (dict(environment=7), "environment"),
    (dict(parameters=[1, 2]), "parameters"),
    (dict(parameters={"decay": "fast"}), "parameters.decay"),
    (dict(parameters={"decay": True}), "parameters.decay"),
    (dict(colour="red"), "colour"),
    (dict(version=2), "version"),
])
def test_bad_documents_are_refused_naming_the_field(changes, field):
    with pytest.raises(InvalidInstanceError) as info:
        fileio.loads(document(**changes))
    assert info.value.field == field
    assert len(str(info.value)) <= fileio.MAX_MESSAGE_CHARS


def test_bad_index_is_named_with_the_model_field_names():
    with pytest.raises(InvalidInstanceError) as info:
        small().replace(externality=[[0.0, -1.0], [float("nan"), 0.0]])
    assert info.value.field == "externality" and info.value.index == (1, 0)


def test_a_reference_to_the_npz_outside_the_array_fields_is_refused():
    with pytest.raises(InvalidFileError) as info:
        fileio.loads(document(environment={"npz": "environment"}))
    assert info.value.field == "environment"


def test_model_is_immutable():
    m = small()
    with pytest.raises(ValueError):
        m.private_rewards[0, 0] = 5.0
    with pytest.raises(TypeError):
        pollution_control().parameters["decay"] = 0.0


# --- generator arguments -------------------------------------------------------------------

@pytest.mark.parametrize("call, field", [
    (lambda: pollution_control(decay=1.5), "decay"),
    (lambda: pollution_control(damage_power=0.5), "damage_power"),
    (lambda: pollution_control(emissions=[[0.5, 0.5, 0.5]] * 3), "emissions"),
    (lambda: pollution_control(emissions=[[1.0, 0.0, 0.0]] * 2), "emissions"),
    (lambda: pollution_control(n_levels=0), "n_levels"),
    (lambda: pollution_control(horizon=0), "horizon"),
    (lambda: pollution_control(initial_stock=5), "initial_stock"),
    (lambda: insurance(effort_costs=(0.0, 0.1)), "effort_costs"),
    (lambda: insurance(effort_effect=(0.0, 0.5, 1.5)), "effort_effect"),
    (lambda: insurance(recovery=True), "recovery"),
    (lambda: insurance(initial_risk=-1), "initial_risk"),
    (lambda: random_pollution(-1), "seed"),
    (lambda: random_externality(0, n_states=0), "n_states"),
])
def test_bad_generator_arguments_are_refused_naming_the_parameter(call, field):
    with pytest.raises(InvalidInstanceError) as info:
        call()
    assert info.value.field == field
