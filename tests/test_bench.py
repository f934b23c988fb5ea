"""``contractlab bench generate`` / ``bench check``: datasets of exactly solved instances.

Properties: the rows agree with the solvers called directly on the stored instances (and the
instances with the generators); a sweep killed with SIGKILL and rerun gives the same index as an
uninterrupted one (every column but ``solve_seconds``, byte for byte, ``dataset.canonical_index_bytes``)
without touching the results finished before the kill; ``--workers 2`` gives the same index as 1;
a failing instance is a ``failed`` row while the others finish; ``bench check`` passes on a good
dataset and names the row of a corrupted value or instance file; bad arguments exit 2 with one line.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from contractlab.bench import dataset as ds
from contractlab.bench.families import first_best_welfare
from contractlab.bench.sweep import FAIL_ENV
from contractlab.cli import main
from contractlab.proofs_checks.strategies import random_problem
from contractlab.solvers.certify import certify, certify_spe_state
from contractlab.solvers.linear import best_linear_contract
from contractlab.solvers.optimal import first_best, optimal_contract
from contractlab.solvers.spe import solve_spe
from contractlab.theory import fileio
from contractlab.theory.pamdp_families import binary_game_tree, contractual_rl, random_dag, random_discounted

ROOT = Path(__file__).resolve().parents[1]


def cli(capsys, *argv) -> tuple[int, str, str]:
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:  # argparse errors
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def generate(capsys, folder, family, count, *extra) -> dict:
    code, out, err = cli(capsys, "bench", "generate", family, "--count", count, "--out", folder, "--json", *extra)
    assert code == 0, err
    return json.loads(out)


def rows(folder) -> list[dict]:
    return pq.read_table(Path(folder) / ds.INDEX).to_pylist()


def close(a, b, tol=1e-9) -> bool:
    return abs(a - b) <= tol * max(1.0, abs(a), abs(b))


# --------------------------------------------------------------------------- values


def test_contract_rows_match_the_solvers_called_directly(tmp_path, capsys):
    folder = tmp_path / "c"
    summary = generate(capsys, folder, "contract", 23, "--seed", 5, "--batch", 8)   # chunks 8, 8 and 7
    assert summary["ok"] == 23 and summary["failed"] == []
    table = rows(folder)
    assert [r["id"] for r in table] == [ds.instance_id(i) for i in range(23)]
    for r in table:
        problem = fileio.load(folder / ds.INSTANCES / f"{r['id']}.json")
        # the stored instance is the test strategies' random problem from the row's seed
        again = random_problem(np.random.default_rng(r["seed"]), 5, 4)
        for name in ("outcome_probs", "costs", "rewards"):
            assert np.array_equal(getattr(problem, name), getattr(again, name))
        opt = optimal_contract(problem)
        assert close(r["principal_value"], opt.principal_utility)
        assert close(r["agent_value"], opt.agent_utility)
        assert close(r["first_best_welfare"], first_best(problem).welfare)
        assert close(r["best_linear_utility"], best_linear_contract(problem).principal_utility)
        # certified about the file's numbers (decimal literals, read exactly), as `contractlab solve --certify`
        assert r["certificate"] == certify(opt, problem).verdict
        assert r["hash"] == ds.file_hash(folder / ds.INSTANCES / f"{r['id']}.json")
    # OPT + agent utility = R_a − c_a <= FB, and LIN <= OPT (EC 2019, Section 2)
    for r in table:
        assert r["principal_value"] + r["agent_value"] <= r["first_best_welfare"] + 1e-9
        assert r["best_linear_utility"] <= r["principal_value"] + 1e-9
    # the manifest lists every seed and hash, and instance i's seed does not depend on the count
    manifest = json.loads((folder / ds.MANIFEST).read_text())
    assert manifest["seeds"] == [r["seed"] for r in table]
    assert manifest["hashes"] == [r["hash"] for r in table]
    assert [ds.instance_seed(5, i) for i in range(23)] == [
        int(s.generate_state(1, np.uint64)[0] >> np.uint64(1)) for s in np.random.SeedSequence(5).spawn(23)]


def test_certificates_are_about_the_instance_file(tmp_path):
    """A contract_problem file holds decimal numbers, read exactly (as by `contractlab solve --certify`):
    for instances 549 and 785 of seed 7 the binary floats drawn are certified but the file's decimals
    only numerically verified (rows of F not summing to 1 exactly). The row must be about the file."""
    from contractlab.bench.families import FAMILIES
    from contractlab.bench.sweep import run_task
    folder = tmp_path / "d"
    manifest = ds.prepare(folder, ds.identity("contract", FAMILIES["contract"].params({}), 7, 1000, 1, True))
    for r in run_task(str(folder), manifest, [549, 785], [549, 785], 100_000):
        problem = fileio.load(folder / ds.INSTANCES / f"{r['id']}.json")
        assert r["certificate"] == certify(optimal_contract(problem), problem).verdict
        drawn = random_problem(np.random.default_rng(r["seed"]), 5, 4)
        assert certify(optimal_contract(drawn), drawn).verdict != r["certificate"]


def _brute_force_first_best(mdp) -> float:
    """max over every deterministic stationary policy of its exact welfare at the initial state."""
    S, A, K = mdp.n_states, mdp.n_actions, mdp.n_outcomes
    T = np.zeros((S, K, S))
    if mdp.deterministic:
        for s, o in itertools.product(range(S), range(K)):
            if mdp.next_state[s, o] >= 0:
                T[s, o, mdp.next_state[s, o]] = 1.0
    else:
        T = np.asarray(mdp.transitions)
    best = -np.inf
    for pol in itertools.product(range(A), repeat=S):
        Fp = mdp.outcome_probs[np.arange(S), pol]
        P = np.einsum("sk,skt->st", Fp, T)
        rew = mdp.agent_rewards[np.arange(S), pol] + np.einsum("sk,sk->s", Fp, mdp.principal_rewards)
        best = max(best, np.linalg.solve(np.eye(S) - mdp.discount * P, rew)[mdp.initial_state])
    return best


@pytest.mark.parametrize("seed", range(4))
def test_first_best_welfare_against_enumeration(seed):
    for mdp in (binary_game_tree(3, seed=seed), random_dag(6, 2, 3, seed=seed), random_discounted(5, 2, 2, 0.8, seed),
                contractual_rl(4, 2, 0.7, seed=seed)):
        assert close(first_best_welfare(mdp), _brute_force_first_best(mdp), 1e-10)


def test_pamdp_and_game_rows_match_the_solvers(tmp_path, capsys):
    folder = tmp_path / "t"
    generate(capsys, folder, "binary_tree", 4, "--depth", 5, "--seed", 1)
    for r in rows(folder):
        mdp = fileio.load(folder / ds.INSTANCES / f"{r['id']}.json")
        assert fileio.dumps(mdp) == fileio.dumps(binary_game_tree(5, seed=r["seed"]))
        res = solve_spe(mdp)
        assert close(r["principal_value"], res.principal_value_initial)
        assert close(r["agent_value"], res.agent_value_initial)
        assert r["certificate"] == certify_spe_state(res, mdp, mdp.initial_state).verdict
        assert r["principal_value"] + r["agent_value"] <= r["first_best_welfare"] + 1e-9
        assert np.isnan(r["best_linear_utility"])
    folder = tmp_path / "d"
    generate(capsys, folder, "random_discounted", 2, "--states", 4)
    from contractlab.solvers.meta_algorithm import meta_algorithm
    from contractlab.solvers.pamdp_policy import evaluate
    for r in rows(folder):
        mdp = fileio.load(folder / ds.INSTANCES / f"{r['id']}.json")
        res = meta_algorithm(mdp)
        ev = evaluate(mdp, res.policy, res.agent_policy)
        assert close(r["principal_value"], ev.principal_value[mdp.initial_state])
        assert close(r["agent_value"], ev.agent_value[mdp.initial_state])
        assert close(r["first_best_welfare"], _brute_force_first_best(mdp))
    folder = tmp_path / "e"
    generate(capsys, folder, "random_externality", 2)
    from contractlab.solvers.welfare import welfare_benchmarks
    for r in rows(folder):
        b = welfare_benchmarks(fileio.load(folder / ds.INSTANCES / f"{r['id']}.json"))
        assert close(r["first_best_welfare"], b.optimal_welfare)
        assert close(r["principal_value"], b.implementation.principal_start)
        assert close(r["agent_value"], b.implementation.agent_start)
        assert r["certificate"] == "none"
    folder = tmp_path / "g"
    generate(capsys, folder, "random_bimatrix", 3, "--rows", 3, "--columns", 4)
    from contractlab.solvers.stackelberg import stackelberg
    for r in rows(folder):
        game = fileio.load(folder / ds.INSTANCES / f"{r['id']}.json")
        res = stackelberg(game)
        assert close(r["principal_value"], res.leader_value) and close(r["agent_value"], res.follower_value)
        assert r["certificate"] in ("certified", "numerically_verified")


def test_large_arrays_go_to_an_npz_sibling_covered_by_the_hash(tmp_path, capsys):
    folder = tmp_path / "t"
    generate(capsys, folder, "binary_tree", 2, "--depth", 6, "--npz-threshold", 100)
    json_path = folder / ds.INSTANCES / "000001.json"
    assert json_path.with_suffix(".npz").is_file()
    assert '"npz": "outcome_probs"' in json_path.read_text()
    r = rows(folder)[1]
    mdp = fileio.load(json_path)
    assert fileio.dumps(mdp) == fileio.dumps(binary_game_tree(6, seed=r["seed"]))
    assert close(r["principal_value"], solve_spe(mdp).principal_value_initial)
    code, out, _ = cli(capsys, "bench", "check", folder, "--all", "--json")
    assert code == 0 and json.loads(out)["ok"]
    # the .npz is part of the hash: changing one of its arrays is reported
    npz = dict(np.load(json_path.with_suffix(".npz")))
    npz["agent_rewards"] = npz["agent_rewards"][::-1].copy()
    np.savez(json_path.with_suffix(".npz"), **npz)
    code, out, _ = cli(capsys, "bench", "check", folder, "--json", "--sample", 0)
    assert code == 1 and {d["id"] for d in json.loads(out)["differences"]} == {"000001"}


# --------------------------------------------------------------------------- resume, workers, failures


def _snapshot(folder: Path) -> dict:
    out = {}
    for p in (folder / ds.RESULTS).glob("*.json"):
        if ds.read_result(p) is not None:
            st = p.stat()
            out[p.name] = (st.st_ino, st.st_mtime_ns)
    return out


SWEEP = ["bench", "generate", "contract", "--count", "300", "--seed", "3", "--batch", "10"]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ref") / "ref"
    assert main([*SWEEP, "--out", str(folder)]) == 0
    return folder


@pytest.mark.parametrize("workers", ["1", "2"])
def test_sigkill_mid_sweep_then_rerun_matches_an_uninterrupted_run(tmp_path, capsys, uninterrupted, workers):
    argv = [*SWEEP, "--workers", workers]
    folder = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    # its own session, so that the kill reaches the worker processes too
    proc = subprocess.Popen([sys.executable, "-m", "contractlab", *argv, "--out", str(folder)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if len(list((folder / ds.RESULTS).glob("*.json"))) >= 25 if (folder / ds.RESULTS).is_dir() else False:
            break
        time.sleep(0.01)
    assert proc.poll() is None, "the sweep ended before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    time.sleep(0.2)  # the workers are gone too (killpg), no result is written after this point
    assert not (folder / ds.INDEX).exists()
    # as if the kill had also come while the first chunk's results were being written: its other
    # instances must then be solved in the same batch as before, so that their floats are unchanged
    for name in ("000001.json", "000004.json", "000008.json"):
        (folder / ds.RESULTS / name).unlink()
    before = _snapshot(folder)
    assert 22 <= len(before) < 297
    code, out, err = cli(capsys, *argv, "--out", folder, "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["skipped"] == len(before) and summary["done"] == 300 - len(before)
    after = _snapshot(folder)
    assert all(after[name] == stamp for name, stamp in before.items())       # not rewritten
    assert ds.canonical_index_bytes(folder) == ds.canonical_index_bytes(uninterrupted)
    assert len(rows(folder)) == 300 == len({r["id"] for r in rows(folder)})
    # a third run recomputes nothing and rewrites no result
    summary = generate(capsys, folder, "contract", 300, "--seed", 3, "--batch", 10)
    assert summary["done"] == 0 and summary["skipped"] == 300
    assert _snapshot(folder) == after


@pytest.mark.parametrize("family, count, extra", [("contract", 45, ("--batch", "10", "--no-certify")),
                                                  ("random_dag", 10, ("--states", "12"))])
def test_two_workers_give_the_same_index_as_one(tmp_path, capsys, family, count, extra):
    one, two = tmp_path / "one", tmp_path / "two"
    generate(capsys, one, family, count, *extra)
    generate(capsys, two, family, count, "--workers", 2, *extra)
    assert ds.canonical_index_bytes(one) == ds.canonical_index_bytes(two)
    assert len(rows(one)) == count


def test_a_failing_instance_is_a_failed_row(tmp_path, capsys, monkeypatch):
    folder = tmp_path / "f"
    monkeypatch.setenv(FAIL_ENV, "3,7")
    code, out, err = cli(capsys, "bench", "generate", "contract", "--count", 12, "--batch", 5, "--out", folder,
                         "--json")
    assert code == 0
    summary = json.loads(out)
    assert [f["id"] for f in summary["failed"]] == ["000003", "000007"]
    assert "planted failure of instance 3" in summary["failed"][0]["error"]
    assert "failed 000003: PlantedFailure" in err
    table = rows(folder)
    assert [r["status"] for r in table] == ["failed" if i in (3, 7) else "ok" for i in range(12)]
    assert np.isnan(table[3]["principal_value"]) and table[3]["error"] and not table[4]["error"]
    # the other rows are those of a run without failures
    monkeypatch.delenv(FAIL_ENV)
    clean = tmp_path / "clean"
    generate(capsys, clean, "contract", 12, "--batch", 5)
    good = rows(clean)
    for i in set(range(12)) - {3, 7}:
        assert table[i] | {"solve_seconds": 0} == good[i] | {"solve_seconds": 0}
    # a rerun keeps the failed rows; --retry-failed solves them
    assert generate(capsys, folder, "contract", 12, "--batch", 5)["done"] == 0
    summary = generate(capsys, folder, "contract", 12, "--batch", 5, "--retry-failed")
    assert summary["done"] == 2 and summary["failed"] == []
    assert ds.canonical_index_bytes(folder) == ds.canonical_index_bytes(clean)


# --------------------------------------------------------------------------- check


def _rewrite_index(folder: Path, row_id: str, column: str, value) -> None:
    table = rows(folder)
    for r in table:
        if r["id"] == row_id:
            r[column] = value
    pq.write_table(pa.Table.from_pylist(table, schema=ds.schema()), folder / ds.INDEX)


def test_check_passes_on_a_good_dataset_and_names_corrupted_rows(tmp_path, capsys):
    folder = tmp_path / "c"
    generate(capsys, folder, "contract", 20, "--batch", 10)
    code, out, err = cli(capsys, "bench", "check", folder, "--all", "--json")
    assert code == 0, out
    report = json.loads(out)
    assert report["ok"] and report["resolved"] == 20 and report["differences"] == []

    # a value changed in the index (its result file disagrees, and the re-solve)
    original = rows(folder)[4]["principal_value"]
    _rewrite_index(folder, "000004", "principal_value", original + 1e-3)
    code, out, _ = cli(capsys, "bench", "check", folder, "--json", "--sample", 0)
    assert code == 1
    assert {(d["id"], d["column"]) for d in json.loads(out)["differences"]} == {("000004", "principal_value")}
    _rewrite_index(folder, "000004", "principal_value", original)

    # a value changed consistently in the index and the result file: only the re-solve sees it
    result = folder / ds.RESULTS / "000011.json"
    doc = json.loads(result.read_text())
    doc["agent_value"] += 0.5
    result.write_text(json.dumps(doc))
    _rewrite_index(folder, "000011", "agent_value", doc["agent_value"])
    code, out, _ = cli(capsys, "bench", "check", folder, "--all")
    assert code == 1 and "000011" in out and "agent_value" in out and "re-solved" in out

    # an instance file changed: its hash no longer matches
    folder2 = tmp_path / "d"
    generate(capsys, folder2, "contract", 6)
    path = folder2 / ds.INSTANCES / "000002.json"
    data = json.loads(path.read_text())
    data["costs"][0] = data["costs"][0] / 2
    path.write_text(json.dumps(data))
    code, out, _ = cli(capsys, "bench", "check", folder2, "--json", "--all")
    report = json.loads(out)
    assert code == 1
    assert {d["id"] for d in report["differences"]} == {"000002"}
    assert "instance file sha256" in {d["what"] for d in report["differences"]}


# --------------------------------------------------------------------------- bad arguments


def bad_input(code, out, err, needle: str) -> None:
    assert code == 2, (code, err)
    assert err.count("\n") == 1 and err.startswith("contractlab: error: ") and "Traceback" not in err, repr(err)
    assert needle in err, err
    assert out == ""


def test_bad_arguments_exit_2_with_one_line(tmp_path, capsys):
    out = tmp_path / "o"
    bad_input(*cli(capsys, "bench", "generate", "nosuch", "--count", 2, "--out", out), "unknown family")
    bad_input(*cli(capsys, "bench", "generate", "contract", "--count", 0, "--out", out), "--count")
    bad_input(*cli(capsys, "bench", "generate", "contract", "--count", 2, "--depth", 3, "--out", out), "--depth")
    bad_input(*cli(capsys, "bench", "generate", "contract", "--count", 2, "--n", 0, "--out", out), "--n")
    bad_input(*cli(capsys, "bench", "generate", "escape_room", "--count", 2, "--agents", 2, "--lever", 3, "--out", out),
              "min_at_lever")
    bad_input(*cli(capsys, "bench", "generate", "contract", "--count", 2, "--workers", 0, "--out", out), "--workers")
    bad_input(*cli(capsys, "bench", "generate", "contract", "--count", "x", "--out", out), "--count")
    assert not out.exists()
    afile = tmp_path / "file"
    afile.write_text("x")
    bad_input(*cli(capsys, "bench", "generate", "contract", "--count", 2, "--out", afile), "--out")
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "other.txt").write_text("x")
    bad_input(*cli(capsys, "bench", "generate", "contract", "--count", 2, "--out", busy), "not empty")
    bad_input(*cli(capsys, "bench", "check", tmp_path / "none"), "DIR")
    # a different parameter into an existing dataset is refused, and the dataset is untouched
    generate(capsys, out, "contract", 3)
    before = _snapshot(out)
    for argv in (("--count", 4), ("--count", 3, "--n", 6), ("--count", 3, "--seed", 1), ("--count", 3, "--no-certify")):
        bad_input(*cli(capsys, "bench", "generate", "contract", *argv, "--out", out), "use another folder")
    bad_input(*cli(capsys, "bench", "generate", "random_dag", "--count", 3, "--out", out), "family")
    assert _snapshot(out) == before
