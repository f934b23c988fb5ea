"""`contractlab generate` and large arrays in a sibling .npz: exact, atomic, no pickle."""

import json
import subprocess
import sys

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
