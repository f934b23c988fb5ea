"""The JSON file format: exact round trips, atomic writes, clear errors for bad files."""

import json
import os

import pytest
from hypothesis import given

from contractlab import ContractProblem, InvalidInstanceError, load, load_problem, save
from contractlab.proofs_checks.strategies import contract_problems
from contractlab.theory.fileio import dumps, loads, write_text_atomic


@given(contract_problems())
def test_round_trip_is_exact(problem):
    again = loads(dumps(problem))
    assert again == problem
    # bit-for-bit, not just close
    assert again.outcome_probs.tobytes() == problem.outcome_probs.tobytes()
    assert again.costs.tobytes() == problem.costs.tobytes()


def test_round_trip_through_a_file_keeps_names(tmp_path):
    p = ContractProblem([[0.3, 0.7], [0.1, 0.9]], [0.0, 0.1], [0.0, 1.0], action_names=["a", "b"],
                        outcome_names=["lo", "hi"])
    save(p, tmp_path / "p.json")
    assert load_problem(tmp_path / "p.json") == p
    data = json.loads((tmp_path / "p.json").read_text())
    assert data["kind"] == "contract_problem" and data["version"] == 1


def test_examples_load():
    here = os.path.join(os.path.dirname(__file__), "..", "examples")
    names = [f for f in os.listdir(here) if f.endswith(".json")]
    assert names
    for name in names:
        load(os.path.join(here, name))


GOOD = {"kind": "contract_problem", "version": 1, "outcome_probs": [[1.0]], "costs": [0.0], "rewards": [1.0]}


@pytest.mark.parametrize("text, field", [
    ("{not json", "document"),
    ("[1, 2]", "document"),
    ('{"version": 1}', "kind"),
    (json.dumps({**GOOD, "kind": "no_such_kind"}), "kind"),
    (json.dumps({**GOOD, "version": 2}), "version"),
    (json.dumps({**GOOD, "version": True}), "version"),
    (json.dumps({k: v for k, v in GOOD.items() if k != "version"}), "version"),
    (json.dumps({k: v for k, v in GOOD.items() if k != "costs"}), "costs"),
    (json.dumps({**GOOD, "extra": 1}), "extra"),
    (json.dumps({**GOOD, "costs": ["a"]}), "costs"),
    (json.dumps({**GOOD, "costs": {"a": 1}}), "costs"),
    ('{"kind": "contract_problem", "version": 1, "outcome_probs": [[NaN]], "costs": [0], "rewards": [1]}',
     "document"),
    (b"\xff\xfe garbage", "document"),
    ("[" * 100000 + "]" * 100000, "document"),
])
def test_bad_documents_raise_one_line_errors(text, field):
    with pytest.raises(InvalidInstanceError) as info:
        loads(text)
    assert info.value.field == field
    assert "\n" not in str(info.value)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(InvalidInstanceError, match="cannot read"):
        load(tmp_path / "nope.json")


def test_atomic_write_leaves_old_file_on_failure(tmp_path):
    target = tmp_path / "out.json"
    target.write_text("old")

    with pytest.raises(TypeError):
        write_text_atomic(target, 12345)  # not text: the write fails midway
    assert target.read_text() == "old"
    assert sorted(os.listdir(tmp_path)) == ["out.json"]  # no temporary file left behind


def test_save_refuses_non_finite_values_instead_of_writing_nan(tmp_path):
    with pytest.raises(ValueError):
        save({"kind": "contract_problem", "version": 1, "costs": [float("nan")]}, tmp_path / "x.json")
    assert not (tmp_path / "x.json").exists()
