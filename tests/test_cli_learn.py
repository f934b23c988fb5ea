"""``contractlab learn`` end to end: train, write the policy, check it; resume from a checkpoint."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from contractlab.learning import load_learner, make_learner
from contractlab.cli import main
from contractlab.theory import fileio
from contractlab.theory.pamdp_families import binary_game_tree


@pytest.fixture()
def tree(tmp_path):
    path = tmp_path / "tree.json"
    fileio.save(binary_game_tree(4, seed=3), path)
    return path


def test_learn_writes_a_policy_that_checks_out(tree, tmp_path, capsys):
    pol = tmp_path / "pol.json"
    curve = tmp_path / "curve.json"
    assert main(["learn", str(tree), "-o", str(pol), "--iterations", "600", "--eval-every", "100",
                 "--curve", str(curve), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    # the tabular learner on a depth-4 tree reaches the SPE value (slack 1%)
    assert report["value_ratio"] >= 0.99
    policy = fileio.load(pol, expect="contract_policy")
    assert policy.action.shape == (15,)
    c = json.loads(curve.read_text())
    assert c["iterations"] == list(range(100, 601, 100)) and len(c["principal_value"]) == 6
    assert main(["check", str(tree), str(pol), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["value_ratio"] == report["value_ratio"]


def test_resume_from_checkpoint_equals_an_uninterrupted_run(tree, tmp_path, capsys):
    mdp = fileio.load(tree)
    straight = tmp_path / "straight.json"
    assert main(["learn", str(tree), "-o", str(straight), "--iterations", "400", "--seed", "5", "--json"]) == 0
    half = make_learner("tabular", mdp, seed=5, iterations=400)
    half.train(200)
    ck = tmp_path / "ck.npz"
    half.save(ck)
    resumed = tmp_path / "resumed.json"
    assert main(["learn", str(tree), "-o", str(resumed), "--checkpoint", str(ck), "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().split("\n}\n")[-1])["resumed"] is True
    a, b = fileio.load(straight), fileio.load(resumed)
    np.testing.assert_array_equal(a.action, b.action)
    np.testing.assert_array_equal(a.contract, b.contract)
    assert load_learner("tabular", ck, mdp).iteration == 400  # the checkpoint was updated at the end


def test_resume_refuses_conflicting_settings(tree, tmp_path, capsys):
    ck = tmp_path / "ck.npz"
    make_learner("tabular", fileio.load(tree), iterations=50).save(ck)
    code = main(["learn", str(tree), "-o", str(tmp_path / "p.json"), "--checkpoint", str(ck), "--iterations", "60"])
    err = capsys.readouterr().err
    assert code == 2 and "--iterations" in err and "checkpoint" in err and err.count("\n") == 1
    assert not (tmp_path / "p.json").exists()


@pytest.mark.parametrize("extra, field", [(["--eval-every", "-1"], "--eval-every"), (["--iterations", "0"], "iterations"),
                                          (["--margin", "-0.5"], "margin")])
def test_bad_arguments_exit_2(tree, tmp_path, capsys, extra, field):
    assert main(["learn", str(tree), "-o", str(tmp_path / "p.json"), *extra]) == 2
    err = capsys.readouterr().err
    assert field in err and err.count("\n") == 1
    assert not (tmp_path / "p.json").exists()


def test_deep_learner_from_the_cli(tmp_path, capsys):
    path = tmp_path / "small.json"
    fileio.save(binary_game_tree(3, seed=0), path)
    pol = tmp_path / "pol.json"
    assert main(["learn", str(path), "--learner", "deep", "--iterations", "200", "-o", str(pol), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["learner"] == "deep" and report["iterations"] == 200
    assert fileio.load(pol, expect="contract_policy").action.shape == (7,)


def test_learn_runs_as_a_program(tree, tmp_path):
    pol = tmp_path / "pol.json"
    out = subprocess.run([sys.executable, "-m", "contractlab", "learn", str(tree), "-o", str(pol),
                          "--iterations", "300", "--no-progress"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "wrote" in out.stderr and "wrote" not in out.stdout and pol.exists()
