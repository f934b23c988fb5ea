"""`contractlab generate` and large arrays in a sibling .npz: exact, atomic, no pickle."""

import json
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from contractlab.theory import InvalidInstanceError, fileio
from contractlab.theory.pamdp_families import binary_game_tree, random_dag


def run(*args):
    return subprocess.run([sys.executable, "-m", "contractlab", *args], capture_output=True, text=True, timeout=300)


def test_generate_writes_the_seeded_instance(tmp_path):
    out = tmp_path / "tree.json"
    res = run("generate", "binary_tree", "--depth", "6", "--seed", "4", "-o", str(out))
    assert res.returncode == 0, res.stderr
    assert fileio.load(out) == binary_game_tree(6, seed=4)


def test_generate_large_arrays_go_to_npz(tmp_path):
    out = tmp_path / "dag.json"
    res = run("generate", "random_dag", "--states", "300", "--actions", "3", "--outcomes", "2", "--seed", "2",
              "--npz-threshold", "500", "-o", str(out))
    assert res.returncode == 0, res.stderr
    doc = json.loads(out.read_text())
    assert doc["outcome_probs"] == {"npz": "outcome_probs"}
    assert (tmp_path / "dag.npz").exists()
    assert fileio.load(out) == random_dag(300, 3, 2, seed=2)


@pytest.mark.parametrize("args, field", [
    (["binary_tree"], "--depth"),
    (["binary_tree", "--depth", "3", "--states", "9"], "--states"),
    (["no_family", "--depth", "3"], "family"),
    (["binary_tree", "--depth", "0"], "depth"),
    (["random_discounted", "--states", "3", "--discount", "1.0"], "discount"),
])
def test_generate_bad_arguments_exit_2(tmp_path, args, field):
    res = run("generate", *args, "-o", str(tmp_path / "x.json"))
    assert res.returncode == 2 and field in res.stderr and "Traceback" not in res.stderr
    assert list(tmp_path.iterdir()) == []


def test_missing_or_bad_npz_sibling_is_a_clear_error(tmp_path):
    m = random_dag(50, 2, 2, seed=1)
    path = tmp_path / "m.json"
    fileio.save(m, path, npz_threshold=10)
    assert fileio.load(path) == m
    (tmp_path / "m.npz").unlink()
    with pytest.raises(InvalidInstanceError, match="does not exist"):
        fileio.load(path)
    (tmp_path / "m.npz").write_bytes(b"not a zip")
    with pytest.raises(InvalidInstanceError, match="cannot read"):
        fileio.load(path)


def test_npz_with_pickled_object_is_refused(tmp_path):
    path = tmp_path / "m.json"
    np.savez(tmp_path / "m.npz", outcome_probs=np.array([{"evil": 1}], dtype=object))
    path.write_text(json.dumps({"kind": "pamdp", "version": 1, "outcome_probs": {"npz": "outcome_probs"},
                                "agent_rewards": [[0.0]], "principal_rewards": [[0.0]], "next_state": [[-1]],
                                "discount": 1.0}))
    with pytest.raises(InvalidInstanceError):
        fileio.load(path)


# --------------------------------------------------------------------------------------------
# Arrays go from numpy to the .npz without lists (issue 10, part 2)
# --------------------------------------------------------------------------------------------

def _legacy_text(obj) -> str:
    """What ``dumps`` wrote before the kinds' ``to_dict`` returned arrays: lists, ``indent=1``."""
    return json.dumps(fileio.to_dict(obj), indent=1, allow_nan=False) + "\n"


def _small_objects():
    from contractlab.theory import BimatrixGame, ContractProblem
    from contractlab.theory.contract_policy import ContractPolicy
    return [ContractProblem([[0.3, 0.7], [0.1, 0.9]], [0.0, 0.1], [0.0, 1.0], action_names=["a", "b"]),
            BimatrixGame([[1.0, 3.0], [0.0, 2.0]], [[1.0, 0.0], [0.0, 1.0]]),
            binary_game_tree(3, seed=1), random_dag(6, 2, 3, seed=2),
            ContractPolicy([0, 1, 0], [[0.0, 0.0], [0.5, 0.25], [0.0, 0.0]])]


@pytest.mark.parametrize("obj", _small_objects(), ids=lambda o: type(o).__name__)
def test_dumps_text_is_unchanged_and_to_dict_gives_lists(obj):
    data = fileio.to_dict(obj)
    assert not any(isinstance(v, np.ndarray) for v in data.values())
    assert fileio.dumps(obj) == _legacy_text(obj)
    assert fileio.dumps(fileio.to_dict(obj, arrays=True)) == fileio.dumps(obj)
    raw = fileio.to_dict(obj, arrays=True)
    assert any(isinstance(v, np.ndarray) for v in raw.values())
    assert fileio.kind_of(obj) == data["kind"] == fileio.kind_of(data)


def test_pamdp_dict_keeps_arrays_and_round_trips():
    """pamdp.py's to_dict hands the arrays to fileio as they are (no lists), declares them as its
    array fields, and the JSON text reads back to the same instance, bit for bit."""
    from contractlab.theory import pamdp
    spec = fileio._KINDS["pamdp"]
    for m in (binary_game_tree(3, seed=1), random_dag(6, 2, 3, seed=2),
              pamdp.PrincipalAgentMDP([[[1.0]]], [[0.0]], [[1.0]], transitions=[[[0.0]]], discount=0.5, horizon=3)):
        raw = spec.to_dict(m)
        assert isinstance(raw["outcome_probs"], np.ndarray)
        back = fileio.loads(fileio.dumps(m))
        for name in spec.array_fields:
            a, b = getattr(m, name), getattr(back, name)
            assert (a is None and b is None) or np.array_equal(a, b)
        assert (back.discount, back.horizon, back.initial_state) == (m.discount, m.horizon, m.initial_state)
    assert set(spec.array_fields) == {"outcome_probs", "agent_rewards", "principal_rewards", "next_state",
                                      "transitions"}


def test_kind_of_and_read_kind(tmp_path):
    m = random_dag(50, 2, 2, seed=1)
    path = tmp_path / "m.json"
    fileio.save(m, path, npz_threshold=10)
    (tmp_path / "m.npz").unlink()  # read_kind does not need the arrays
    assert fileio.read_kind(path) == "pamdp" == fileio.kind_of(m)
    with pytest.raises(TypeError):
        fileio.kind_of(object())
    path.write_text('{"kind": "nope", "version": 1}')
    with pytest.raises(InvalidInstanceError, match="unknown kind"):
        fileio.read_kind(path)


@pytest.mark.parametrize("compress", [False, True])
def test_save_writes_numpy_arrays_of_a_result_document(tmp_path, compress):
    """``save`` of a JSON-ready dict whose values are numpy arrays (as the CLI writes a
    pamdp_solution): big arrays to the .npz, small ones and nested ones as lists."""
    from contractlab.theory.documents import PAMDPSolution
    S, K = 300, 2
    doc = {"kind": "pamdp_solution", "version": 2, "solution_concept": "subgame-perfect equilibrium",
           "backend": "highs", "method": "backward induction", "n_states": S, "initial_state": 0,
           "principal_value": 1.5, "agent_value": 0.25, "time_indexed": False,
           "action": np.arange(S) % 2, "contract": np.linspace(0, 1, S * K).reshape(S, K),
           "expected_payment": np.zeros(3)[:1].repeat(S), "iterations": np.int64(7)}
    path = tmp_path / "sol.json"
    fileio.save(doc, path, npz_threshold=100, compress=compress)
    written = json.loads(path.read_text())
    assert written["action"] == {"npz": "action"} and written["contract"] == {"npz": "contract"}
    assert written["iterations"] == 7
    with zipfile.ZipFile(tmp_path / "sol.npz") as z:
        assert {i.compress_type for i in z.infolist()} == {zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED}
    sol = fileio.load(path)
    assert isinstance(sol, PAMDPSolution) and fileio.kind_of(sol) == "pamdp_solution"
    assert np.array_equal(sol.contract, doc["contract"]) and np.array_equal(sol.action, doc["action"])
    # an unregistered kind, arrays nested in lists and dicts: all written as lists
    other = {"kind": "something_else", "curve": np.arange(500.0), "parts": [{"x": np.arange(3)}], "n": np.int32(2)}
    fileio.save(other, tmp_path / "o.json", npz_threshold=100)
    back = json.loads((tmp_path / "o.json").read_text())
    assert back["curve"] == {"npz": "curve"} and back["parts"] == [{"x": [0, 1, 2]}] and back["n"] == 2


def test_save_refuses_non_finite_arrays_and_leaves_nothing(tmp_path):
    doc = {"kind": "learning_curve", "version": 1, "principal_value": np.array([0.0, np.nan] * 100)}
    for threshold in (None, 10):
        with pytest.raises(ValueError):
            fileio.save(doc, tmp_path / "c.json", npz_threshold=threshold)
        assert list(tmp_path.iterdir()) == []


def test_depth_20_tree_saves_and_loads_fast(tmp_path):
    """~9 s before (arrays through nested lists and back, then deflated); now the arrays go from
    numpy to an uncompressed .npz (~0.1-0.3 s) and are read back in place (~0.1-0.3 s)."""
    import time
    m = binary_game_tree(20)
    path = tmp_path / "t.json"
    start = time.perf_counter()
    fileio.save(m, path, npz_threshold=100_000)
    saved = time.perf_counter() - start
    start = time.perf_counter()
    again = fileio.load(path)
    loaded = time.perf_counter() - start
    assert again == m
    assert path.stat().st_size < 1000
    assert saved < 3.0 and loaded < 3.0, (saved, loaded)
