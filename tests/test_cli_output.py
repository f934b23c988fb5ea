"""What the commands print, run as a user runs them: stdout holds only the answer (JSON that
parses with ``--json``), everything else goes to stderr, and no third-party text reaches
either; results written by one command are read by the next."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from contractlab.theory import fileio
from contractlab.theory.pamdp_families import binary_game_tree, random_discounted

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "contractlab", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    tree = d / "tree.json"
    fileio.save(binary_game_tree(4, seed=3), tree)
    cyc = d / "cyc.json"
    fileio.save(random_discounted(4, 2, 2, discount=0.8, seed=1), cyc)
    return {"dir": d, "tree": tree, "cyc": cyc}


def _json_commands(files):
    d = files["dir"]
    return {
        "solve contract": ["solve", EXAMPLES / "effort.json", "--json"],
        "solve contract exact certify": ["solve", EXAMPLES / "success_failure.json", "--json", "--exact", "--certify"],
        "solve contract both": ["solve", EXAMPLES / "effort.json", "--json", "--backend", "both"],
        "solve pamdp": ["solve", files["tree"], "--json"],
        "solve discounted": ["solve", files["cyc"], "--json"],
        "solve bimatrix": ["solve", EXAMPLES / "commitment_game.json", "--json"],
        "check": ["check", files["tree"], d / "spe_for_check.json", "--json"],
        "learn": ["learn", files["tree"], "-o", d / "learned.json", "--iterations", "200", "--json"],
        "theorems": ["theorems", "--json"],
        "verify": ["verify", "--json", "--count", "3", "--theorem", "minpay.strong_duality", "--no-progress"],
    }


def test_every_json_output_parses_and_stderr_is_clean(files):
    assert run("solve", files["tree"], "-o", files["dir"] / "spe_for_check.json").returncode == 0
    for name, argv in _json_commands(files).items():
        out = run(*argv)
        assert out.returncode == 0, (name, out.stderr)
        doc = json.loads(out.stdout)  # the whole of stdout is one JSON document
        assert isinstance(doc, dict) and isinstance(doc.get("kind"), str), name
        assert out.stderr == "", (name, out.stderr)  # no banner, warning or progress line either


def test_importing_and_solving_prints_nothing():
    code = """
import contractlab
from contractlab import ContractProblem, optimal_contract, min_pay, solve
from contractlab.solvers.spe import solve_spe
from contractlab.solvers.stackelberg import stackelberg
from contractlab.theory import fileio
from contractlab.theory.pamdp_families import binary_game_tree
p = ContractProblem(outcome_probs=[[0.75, 0.25], [0.25, 0.75]], costs=[0.0, 1.0], rewards=[0.0, 4.0])
optimal_contract(p); optimal_contract(p, backend="cvxpy"); optimal_contract(p, backend="both")
min_pay(p, 1); solve(p, exact=True)
solve_spe(binary_game_tree(5, seed=0)); solve_spe(binary_game_tree(5, seed=0), method="lp")
stackelberg(fileio.load(%r))
""" % str(EXAMPLES / "commitment_game.json")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "" and out.stderr == ""


def test_version_and_help():
    from contractlab import __version__
    out = run("--version")
    assert out.returncode == 0 and out.stdout.strip() == f"contractlab {__version__}"
    help_text = run("solve", "--help").stdout
    for kind in ("contract_problem", "pamdp", "bimatrix_game"):
        assert kind in help_text


@pytest.mark.parametrize("option", ["--exact", "--certify"])
def test_contract_only_options_are_refused_on_other_kinds(files, option):
    for path in (files["tree"], EXAMPLES / "commitment_game.json"):
        out = run("solve", path, option)
        assert out.returncode == 2 and out.stdout == ""
        assert option in out.stderr and out.stderr.count("\n") == 1


def test_bimatrix_prints_a_table():
    out = run("solve", EXAMPLES / "commitment_game.json")
    assert out.returncode == 0, out.stderr
    assert "Stackelberg" in out.stdout and "probability" in out.stdout and "{" not in out.stdout


def test_progress_and_wrote_lines_go_to_stderr(files, tmp_path):
    out = run("generate", "binary_tree", "--depth", "3", "-o", tmp_path / "t.json")
    assert out.returncode == 0 and out.stdout == "" and "wrote" in out.stderr
    out = run("solve", tmp_path / "t.json", "-o", tmp_path / "s.json")
    assert out.returncode == 0 and out.stdout == "" and "wrote" in out.stderr
    out = run("learn", files["tree"], "-o", tmp_path / "p.json", "--iterations", "100")
    assert out.returncode == 0 and "wrote" not in out.stdout and "wrote" in out.stderr


def test_solve_output_is_columnar_and_check_reads_it(tmp_path):
    """``solve -o`` writes a pamdp_solution with the policy as arrays (large ones in a sibling
    .npz) that ``check`` reads; the JSON on stdout has the same columns."""
    from contractlab.solvers.spe import solve_spe
    tree = tmp_path / "t17.json"
    mdp = binary_game_tree(17, seed=2)  # 131,071 states: the contract array goes to the .npz
    fileio.save(mdp, tree, npz_threshold=100_000)
    out = run("solve", tree, "-o", tmp_path / "spe.json")
    assert out.returncode == 0, out.stderr
    raw = json.loads((tmp_path / "spe.json").read_text())
    assert raw["kind"] == "pamdp_solution" and raw["contract"] == {"npz": "contract"}
    assert (tmp_path / "spe.npz").is_file()
    sol = fileio.load(tmp_path / "spe.json")
    res = solve_spe(mdp)
    np.testing.assert_array_equal(sol.action, res.policy.action)
    np.testing.assert_array_equal(sol.contract, res.policy.contract)
    np.testing.assert_array_equal(sol.expected_payment, res.expected_payment)
    assert sol.principal_value == res.principal_value_initial
    check = run("check", tree, tmp_path / "spe.json", "--json")
    assert check.returncode == 0, check.stderr
    report = json.loads(check.stdout)
    assert abs(report["value_ratio"] - 1.0) <= 1e-12 and report["spe_gap"] <= 1e-9


def test_solve_json_pamdp_columns(files):
    doc = json.loads(run("solve", files["tree"], "--json").stdout)
    assert doc["kind"] == "pamdp_solution" and doc["version"] == 2
    assert len(doc["action"]) == 15 and len(doc["contract"]) == 15 and len(doc["expected_payment"]) == 15
    assert all(len(row) == 2 and min(row) >= 0 for row in doc["contract"])


def test_outputs_are_checked_before_any_work(files, tmp_path):
    missing = tmp_path / "no" / "such" / "c.json"
    out = run("learn", files["tree"], "-o", tmp_path / "p.json", "--iterations", "50", "--curve", missing)
    assert out.returncode == 2 and "--curve" in out.stderr and out.stderr.count("\n") == 1
    assert not (tmp_path / "p.json").exists()
    (tmp_path / "adir").mkdir()
    out = run("solve", files["tree"], "-o", tmp_path / "adir")
    assert out.returncode == 2 and "--output" in out.stderr
    out = run("learn", files["tree"], "-o", tmp_path / "p.json", "--checkpoint", tmp_path / "nope" / "ck.npz")
    assert out.returncode == 2 and "--checkpoint" in out.stderr and ".tmp" not in out.stderr
    assert list(tmp_path.iterdir()) == [tmp_path / "adir"]


def test_learn_sigint_stops_at_a_boundary_and_the_same_command_resumes(files, tmp_path):
    """A real CLI run interrupted by SIGINT saves its checkpoint; rerunning the same command
    finishes with exactly the policy of an uninterrupted run."""
    argv = ["learn", files["tree"], "--iterations", "4000", "--seed", "7", "--no-progress"]
    straight = run(*argv, "-o", tmp_path / "straight.json")
    assert straight.returncode == 0, straight.stderr
    ck = tmp_path / "ck.npz"
    cmd = [sys.executable, "-m", "contractlab", *map(str, argv), "-o", str(tmp_path / "resumed.json"),
           "--checkpoint", str(ck), "--checkpoint-every", "200"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not ck.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    interrupted = proc.poll() is None
    if interrupted:
        proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    if interrupted and proc.returncode == 130:
        assert "checkpoint saved" in err and "Traceback" not in err
        assert not (tmp_path / "resumed.json").exists()
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    a, b = fileio.load(tmp_path / "straight.json"), fileio.load(tmp_path / "resumed.json")
    np.testing.assert_array_equal(a.action, b.action)
    np.testing.assert_array_equal(a.contract, b.contract)


def test_learn_accepts_the_same_settings_on_resume(files, tmp_path):
    argv = ["learn", files["tree"], "-o", tmp_path / "p.json", "--iterations", "300", "--margin", "0.01",
            "--checkpoint", tmp_path / "ck.npz", "--no-progress"]
    assert run(*argv).returncode == 0
    assert run(*argv).returncode == 0  # the checkpoint exists now: the same command is accepted
    out = run(*argv[:-4], "--margin", "0.02", "--checkpoint", tmp_path / "ck.npz", "--no-progress")
    assert out.returncode == 2 and "--margin" in out.stderr


def test_discount_near_one_stops_at_the_time_limit_with_exit_3(tmp_path):
    """γ = 1 − 1e-12 on a cyclic instance: no hours of iteration; the answer reached so far,
    'not converged' with its error bound, exit code 3."""
    f = tmp_path / "g.json"
    fileio.save(random_discounted(5, 2, 2, discount=1 - 1e-12, seed=0), f)
    out = run("solve", f, "--json", "--time-limit", "1", timeout=120)
    assert out.returncode == 3, out.stderr
    doc = json.loads(out.stdout)
    assert doc["converged"] is False and doc["reason"] in ("time budget", "iteration budget")
    assert "not converged" in out.stderr and out.stderr.count("\n") == 1
    assert run("solve", f, "--time-limit", "0").returncode == 2


def test_regret_json_parses_and_stderr_is_clean():
    """``regret --json``: the whole of stdout is one regret_run document (infinite or undefined
    numbers written as null), nothing on stderr; with a run too small for the sublinearity test too."""
    for argv in (["--horizons", "10,100,1000,3000,10000", "--seeds", "20"],
                 ["--learner", "ucb1", "--adversary", "bernoulli", "--horizons", "10", "--seeds", "1"]):
        out = run("regret", *argv, "--json", "--no-progress")
        assert out.returncode == 0, (argv, out.stderr)
        doc = json.loads(out.stdout)
        assert doc["kind"] == "regret_run" and doc["version"] == 1
        assert doc["sublinearity"]["verdict"] in ("sublinear", "linear", "inconclusive")
        assert len(doc["regret"]) == len(doc["seeds"]) and len(doc["regret"][0]) == len(doc["horizons"])
        assert out.stderr == ""
