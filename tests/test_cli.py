"""The command line, run as a user would: exit codes, JSON fields, one-line errors, atomic output."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "contractlab", *args], capture_output=True, text=True, cwd=cwd,
                           timeout=300)


def test_solve_json_has_the_documented_fields():
    out = run("solve", str(EXAMPLES / "effort.json"), "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert set(doc["optimal"]) >= {"action", "contract", "principal_utility", "agent_utility"}
    assert set(doc["linear"]) >= {"alpha", "action", "principal_utility"}
    assert "welfare" in doc["first_best"]
    assert len(doc["min_pay"]) == 3
    for row in doc["min_pay"]:
        assert set(row) >= {"action", "implementable", "expected_payment", "contract"}
    # LIN <= OPT <= FB on the shipped example
    assert doc["linear"]["principal_utility"] <= doc["optimal"]["principal_utility"] <= doc["first_best"]["welfare"]


def test_solve_both_backends_agree_on_the_example():
    a = json.loads(run("solve", str(EXAMPLES / "effort.json"), "--json").stdout)
    b = json.loads(run("solve", str(EXAMPLES / "effort.json"), "--json", "--backend", "cvxpy").stdout)
    assert a["optimal"]["action"] == b["optimal"]["action"]
    assert abs(a["optimal"]["principal_utility"] - b["optimal"]["principal_utility"]) < 1e-8


def test_solve_prints_a_readable_summary():
    out = run("solve", str(EXAMPLES / "success_failure.json"))
    assert out.returncode == 0
    assert "Optimal contract" in out.stdout and "First best" in out.stdout


@pytest.mark.parametrize("content, field", [
    ("{oops", "document"),
    (json.dumps({"kind": "contract_problem", "version": 9}), "version"),
    (json.dumps({"kind": "nope", "version": 1}), "kind"),
    (json.dumps({"kind": "contract_problem", "version": 1, "outcome_probs": [[0.5, 0.6]], "costs": [0],
                 "rewards": [0, 1]}), "outcome_probs[0]"),
    (json.dumps({"kind": "contract_problem", "version": 1, "outcome_probs": [[1.5, -0.5]], "costs": [0],
                 "rewards": [0, 1]}), "outcome_probs[0][1]"),
    (json.dumps({"kind": "contract_problem", "version": 1, "outcome_probs": [[1.0]], "costs": [0, 1],
                 "rewards": [1]}), "costs"),
    (json.dumps({"kind": "contract_problem", "version": 1, "outcome_probs": [], "costs": [],
                 "rewards": []}), "outcome_probs"),
])
def test_bad_files_exit_2_with_one_line(tmp_path, content, field):
    f = tmp_path / "bad.json"
    f.write_text(content)
    out = run("solve", str(f), "--json")
    assert out.returncode == 2
    assert out.stdout == ""
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr
    assert field in out.stderr


def test_non_utf8_and_missing_files_exit_2(tmp_path):
    f = tmp_path / "bin.json"
    f.write_bytes(b"\x80\x81\x82")
    for path in (f, tmp_path / "missing.json"):
        out = run("solve", str(path))
        assert out.returncode == 2 and "Traceback" not in out.stderr


def test_verify_writes_results_and_passes(tmp_path):
    res = tmp_path / "results.json"
    out = run("verify", "--count", "5", "--seed", "3", "--theorem", "linear.", "--theorem", "backends.agree",
              "--out", str(res), "--no-progress")
    assert out.returncode == 0, out.stdout + out.stderr
    doc = json.loads(res.read_text())
    assert doc["kind"] == "verify_results" and doc["passed"] is True
    ids = {t["id"] for t in doc["theorems"]}
    assert "backends.agree" in ids and "linear.n_approximation" in ids
    assert all(t["instances"] == 5 for t in doc["theorems"])
    assert "passed, 0 failed" in out.stdout
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]


def test_verify_out_in_a_missing_folder_exits_2(tmp_path):
    out = run("verify", "--count", "2", "--theorem", "minpay.cost_lower_bound", "--no-progress",
              "--out", str(tmp_path / "no" / "such" / "dir.json"))
    assert out.returncode == 2 and "Traceback" not in out.stderr and out.stderr.count("\n") == 1


def test_verify_unknown_theorem_and_bad_count_exit_2():
    assert run("verify", "--theorem", "no.such").returncode == 2
    assert run("verify", "--count", "0").returncode == 2
    assert run("verify", "--count", "many").returncode == 2


def test_theorems_lists_the_registry():
    out = run("theorems", "--json")
    assert out.returncode == 0
    doc = json.loads(out.stdout)
    assert doc["kind"] == "theorem_list"
    ids = [t["id"] for t in doc["theorems"]]
    assert "minpay.strong_duality" in ids and len(ids) == len(set(ids))


def test_solve_pamdp_json_reports_the_spe(tmp_path):
    from contractlab.solvers.spe import solve_spe
    from contractlab.theory import fileio

    out = run("solve", str(EXAMPLES / "binary_tree_depth3.json"), "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    res = solve_spe(fileio.load(EXAMPLES / "binary_tree_depth3.json"))
    assert doc["principal_value"] == res.principal_value_initial
    assert doc["agent_value"] == res.agent_value_initial
    assert doc["action"] == res.policy.action.tolist()
    assert doc["contract"] == res.policy.contract.tolist()
    assert doc["expected_payment"] == res.expected_payment.tolist()
    assert min(min(row) for row in doc["contract"]) >= 0.0


def test_solve_discounted_cyclic_pamdp_reports_convergence_and_spe_gap(tmp_path):
    f = tmp_path / "cyc.json"
    assert run("generate", "random_discounted", "--states", "4", "--discount", "0.8", "-o", str(f)).returncode == 0
    out = run("solve", str(f), "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["method"] == "meta_algorithm" and doc["converged"] is True
    assert doc["spe_gap"] <= 1e-9 and len(doc["action"]) == 4 and len(doc["contract"]) == 4


def test_solve_certify_reports_exact_verdicts():
    out = run("solve", str(EXAMPLES / "success_failure.json"), "--json", "--certify")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    cert = doc["optimal"]["certificate"]
    assert cert["verdict"] == "certified" and cert["exact_value"] == "3/2"
    assert [r["certificate"]["verdict"] for r in doc["min_pay"]] == ["certified", "certified"]
    assert doc["linear"]["certificate"]["verdict"] == "certified"
