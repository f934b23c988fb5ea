"""``contractlab generate`` for the externality families (pollution, insurance and the random
families) and ``contractlab solve`` on the ``externality_mdp`` files it writes: files round-trip,
seeds reproduce bit for bit, bad options exit 2 with one line naming the option, and ``solve``
prints the welfare benchmarks of ``solvers/welfare.py``."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from contractlab.cli import main
from contractlab.solvers.welfare import welfare_benchmarks
from contractlab.theory import fileio
from contractlab.theory.externality_families import (insurance, pollution_control, random_externality,
                                                     random_insurance, random_pollution)


def cli(capsys, *argv) -> tuple[int, str, str]:
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:  # argparse errors
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def bad_input(code, out, err, option: str) -> None:
    assert code == 2, (code, err)
    assert err.endswith("\n") and err.count("\n") == 1, repr(err)
    assert err.startswith("contractlab: error: ") and "Traceback" not in err
    assert option in err, err
    assert out == ""


@pytest.mark.parametrize("argv, expected", [
    (["pollution"], lambda: pollution_control()),
    (["pollution", "--levels", "3", "--horizon", "4"], lambda: pollution_control(n_levels=3, horizon=4)),
    (["insurance", "--levels", "2", "--horizon", "5"], lambda: insurance(n_levels=2, horizon=5)),
    (["random_pollution", "--seed", "5", "--levels", "3"], lambda: random_pollution(5, n_levels=3)),
    (["random_insurance", "--horizon", "2"], lambda: random_insurance(0, horizon=2)),
    (["random_externality", "--states", "4", "--actions", "3", "--outcomes", "2", "--horizon", "3", "--seed", "9"],
     lambda: random_externality(9, 4, 3, 2, 3)),
    (["random_externality", "--deterministic", "--seed", "2"], lambda: random_externality(2, stochastic=False)),
])
def test_generate_writes_the_instance_and_it_loads_back(tmp_path, capsys, argv, expected):
    out = tmp_path / "m.json"
    code, stdout, err = cli(capsys, "generate", *argv, "-o", out)
    assert code == 0, err
    assert stdout == "" and err.startswith(f"wrote {out}: {argv[0]}")
    model = fileio.load(out)
    assert fileio.kind_of(model) == "externality_mdp"
    assert model == expected()


def test_seeds_reproduce_bit_for_bit_and_differ(tmp_path, capsys):
    paths = {name: tmp_path / f"{name}.json" for name in ("a", "b", "c", "default")}
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        assert cli(capsys, "generate", "random_insurance", "--seed", seed, "-o", paths[name])[0] == 0
    assert cli(capsys, "generate", "random_insurance", "-o", paths["default"])[0] == 0
    assert paths["a"].read_bytes() == paths["b"].read_bytes()
    assert paths["a"].read_bytes() != paths["c"].read_bytes()
    assert fileio.load(paths["default"]) == random_insurance(0)


def test_large_arrays_go_to_the_npz_sibling(tmp_path, capsys):
    out = tmp_path / "p.json"
    assert cli(capsys, "generate", "pollution", "--levels", "40", "--npz-threshold", "1000", "-o", out)[0] == 0
    assert json.loads(out.read_text())["transitions"] == {"npz": "transitions"}
    assert fileio.load(out) == pollution_control(n_levels=40)


@pytest.mark.parametrize("argv, option", [
    (["pollution", "--seed", "1"], "--seed"),
    (["insurance", "--seed", "0"], "--seed"),
    (["pollution", "--levels", "0"], "--levels"),
    (["insurance", "--levels", "2001"], "--levels"),
    (["random_pollution", "--horizon", "0"], "--horizon"),
    (["random_insurance", "--seed", "-1"], "--seed"),
    (["random_externality", "--states", "0"], "--states"),
    (["random_externality", "--actions", "65"], "--actions"),
    (["random_externality", "--levels", "3"], "--levels"),
    (["pollution", "--states", "3"], "--states"),
    (["pollution", "--deterministic"], "--deterministic"),
    (["insurance", "--discount", "0.9"], "--discount"),
    (["binary_tree", "--depth", "3", "--horizon", "4"], "--horizon"),
    (["pollution", "--levels", "x"], "--levels"),
    (["pollution", "--levels", "1000", "--max-memory", "1MiB"], "--levels"),
])
def test_bad_options_exit_2_with_one_line_and_write_nothing(tmp_path, capsys, argv, option):
    bad_input(*cli(capsys, "generate", *argv, "-o", tmp_path / "m.json"), option)
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- solve on the files

@pytest.fixture(scope="module")
def pollution_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("ext") / "p.json"
    assert main(["generate", "pollution", "--horizon", "4", "-o", str(path)]) == 0
    return path


def test_solve_json_is_the_welfare_benchmarks_of_the_file(pollution_file, capsys):
    code, out, err = cli(capsys, "solve", pollution_file, "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["kind"] == "welfare_benchmarks" and doc["environment"] == "pollution"
    b = welfare_benchmarks(fileio.load(pollution_file))
    for key, value in b.summary().items():
        assert doc[key] == value, key                       # floats written so that they read back exactly
    assert doc["gap"] == doc["benchmark_welfare"] - doc["selfish_welfare"]
    assert np.array_equal(doc["optimal_policy"], b.optimum.policy)
    assert np.array_equal(doc["transfers"], b.implementation.contract)
    assert np.array(doc["transfers"]).shape == (4, 5, 3)


def test_solve_prints_the_table_and_writes_the_document(pollution_file, tmp_path, capsys):
    code, out, err = cli(capsys, "solve", pollution_file)
    assert code == 0, err
    for text in ("Welfare benchmarks", "optimal welfare W*", "selfish welfare", "gap", "total minimal transfer",
                 "first best implementable", "abate", "produce"):
        assert text in out, text
    b = welfare_benchmarks(fileio.load(pollution_file))
    assert f"{b.optimal_welfare:.6g}" in out and f"{b.total_transfer:.6g}" in out
    written = tmp_path / "sol.json"
    code, out, err = cli(capsys, "solve", pollution_file, "-o", written)
    assert code == 0 and out == "" and "wrote" in err
    assert json.loads(written.read_text())["optimal_welfare"] == b.optimal_welfare


def test_solve_refuses_contract_only_options_and_check_refuses_the_kind(pollution_file, tmp_path, capsys):
    bad_input(*cli(capsys, "solve", pollution_file, "--exact"), "--exact")
    assert cli(capsys, "solve", pollution_file, "-o", tmp_path / "sol.json")[0] == 0
    bad_input(*cli(capsys, "check", pollution_file, tmp_path / "sol.json"), "kind")


def test_what_a_user_sees(tmp_path):
    """One real subprocess: generate then solve; a bad option is one line on stderr, exit 2."""
    path = tmp_path / "i.json"
    run = [sys.executable, "-m", "contractlab"]
    res = subprocess.run(run + ["generate", "insurance", "-o", str(path)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and res.stdout == "", res.stderr
    res = subprocess.run(run + ["solve", str(path), "--json"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and res.stderr == ""
    assert json.loads(res.stdout)["first_best_implementable"] is True
    res = subprocess.run(run + ["generate", "insurance", "--seed", "3", "-o", str(tmp_path / "x.json")],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and res.stdout == "" and res.stderr.count("\n") == 1 and "--seed" in res.stderr
    assert not (tmp_path / "x.json").exists()
