"""``contractlab steer``: the default run says sublinear (and linear without the mechanism), the
JSON parses and agrees with the library, the written run holds the transfers paid, and bad
arguments give one line and exit code 2 before any work."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from contractlab.learning.externality_agents import make_agent
from contractlab.learning.two_phase import steer
from contractlab.theory.externality_families import pollution_control


def run(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "contractlab", "steer", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def test_default_run_is_sublinear_and_none_is_linear(tmp_path):
    out = run("--no-progress", "--out", tmp_path / "r.json")
    assert out.returncode == 0, out.stderr
    assert "verdict: sublinear" in out.stdout
    assert out.stderr.strip() == f"wrote {tmp_path / 'r.json'}"
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["kind"] == "steering_run" and doc["mechanism"] == "two-phase"
    none = run("--no-progress", "--mechanism", "none", "--json")
    assert none.returncode == 0, none.stderr
    assert json.loads(none.stdout)["sublinearity"]["verdict"] == "linear"


def test_json_matches_the_library(tmp_path):
    out = run("--no-progress", "--json", "--horizons", "40", "120", "--seeds", "3", "--agent", "q-learning",
              "--out", tmp_path / "r.json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    model = pollution_control(n_levels=3, horizon=2, damage_scale=0.1)
    for j, T in enumerate((40, 120)):
        lib = steer(model, make_agent("q-learning"), T, seeds=range(3))
        np.testing.assert_allclose([row[j] for row in doc["welfare_regret"]], lib.welfare_regret()[:, -1], rtol=0,
                                   atol=1e-12)
    assert doc["sublinearity"]["verdict"] == "inconclusive"          # too small for the test, and says so
    written = (tmp_path / "r.json").read_text()
    assert "transfer_per_episode" in written and "contract" in written


def test_file_environment_and_families(tmp_path):
    path = tmp_path / "p.json"
    gen = subprocess.run([sys.executable, "-m", "contractlab", "generate", "pollution", "--levels", "3", "--horizon",
                          "2", "-o", str(path)], capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert gen.returncode == 0, gen.stderr
    for env in (str(path), "insurance"):
        extra = ("--steps", "2", "--levels", "2") if env == "insurance" else ()
        out = run(env, *extra, "--no-progress", "--horizons", "30", "--seeds", "2", "--json")
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)["mean_regret"][0] >= -1e-9


@pytest.mark.parametrize("args, field", [
    (("--horizons", "100", "50"), "--horizons"), (("--seeds", "0"), "--seeds"), (("--probes", "0"), "--probes"),
    (("--margin", "-1"), "--margin"), (("nonexistent.json",), "env"), (("insurance", "--damage", "0.2"), "--damage"),
    (("pollution", "--instance-seed", "3"), "--instance-seed"), (("--seeds", str(10**9), "--horizons", "10", str(10**7)), "--seeds"),
    (("--out", "/nonexistent/dir/r.json"), "--out")])
def test_bad_arguments_one_line_exit_2(args, field):
    out = run(*args, "--no-progress", timeout=60)
    assert out.returncode == 2, (out.returncode, out.stderr)
    assert out.stdout == ""
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and field in lines[0], out.stderr


def test_wrong_kind_of_file_is_refused(tmp_path):
    path = tmp_path / "tree.json"
    gen = subprocess.run([sys.executable, "-m", "contractlab", "generate", "binary_tree", "--depth", "2", "-o",
                          str(path)], capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert gen.returncode == 0, gen.stderr
    out = run(str(path), "--no-progress", timeout=60)
    assert out.returncode == 2 and "externality_mdp" in out.stderr and len(out.stderr.strip().splitlines()) == 1
