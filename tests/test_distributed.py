"""``--workers N`` and ``--scheduler ADDRESS`` (contractlab/cli/executors.py): against a Dask
``LocalCluster`` on loopback started here, ``bench generate``, ``verify``, ``regret`` and ``design`` give
the same output as the local run (bench: the canonical index bytes; verify: the results JSON apart
from ``seconds``; regret and design: the whole JSON document), ``--workers 2`` gives that of ``--workers 1``; an
unreachable scheduler, both options together, a missing ``[dist]`` extra and workers of another
contractlab version are one line, exit 2.
"""

from __future__ import annotations

import json
import socket
import sys

import numpy as np
import pytest

from contractlab.bench import dataset as ds
from contractlab.cli import main

distributed = pytest.importorskip("dask.distributed", reason="needs the extra contractlab[dist] (dask[distributed])")

# Quick theorems of different kinds (LP, one-shot, sampled instances).
THEOREMS = ("--theorem", "minpay.strong_duality", "--theorem", "minpay.ic_and_limited_liability",
            "--theorem", "implementability.characterisation")
REGRET = ("regret", "--learner", "exp3", "--adversary", "random", "--seeds", "5", "--actions", "4",
          "--horizons", "50,100,200", "--no-progress", "--json")


@pytest.fixture(scope="module")
def scheduler():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                       dashboard_address=None)
    try:
        yield cluster.scheduler_address
    finally:
        cluster.close()


def cli(capsys, *argv) -> tuple[int, str, str]:
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def ok(capsys, *argv) -> str:
    code, out, err = cli(capsys, *argv)
    assert code == 0, err
    return out


def one_line_exit_2(capsys, *argv) -> str:
    code, out, err = cli(capsys, *argv)
    assert code == 2, (code, err)
    assert out == "" and len(err.strip().splitlines()) == 1, err
    return err


# --------------------------------------------------------------------------- same results


def test_bench_on_the_cluster_equals_the_local_run(tmp_path, capsys, scheduler):
    extra = ("contract", "--count", 30, "--batch", 10, "--seed", 4)
    local, remote, two = tmp_path / "local", tmp_path / "remote", tmp_path / "two"
    ok(capsys, "bench", "generate", *extra, "--out", local)
    ok(capsys, "bench", "generate", *extra, "--out", remote, "--scheduler", scheduler)
    ok(capsys, "bench", "generate", *extra, "--out", two, "--workers", 2)
    assert ds.canonical_index_bytes(remote) == ds.canonical_index_bytes(local)
    assert ds.canonical_index_bytes(two) == ds.canonical_index_bytes(local)
    # resuming on the cluster: a lost result is recomputed, the index is unchanged
    lost = sorted((remote / "results").glob("*.json"))[7]
    lost.unlink()
    summary = json.loads(ok(capsys, "bench", "generate", *extra, "--out", remote, "--scheduler", scheduler, "--json"))
    assert summary["done"] >= 1 and summary["skipped"] <= 29
    assert ds.canonical_index_bytes(remote) == ds.canonical_index_bytes(local)


def _verify_doc(path) -> dict:
    doc = json.loads(path.read_text())
    for th in doc["theorems"]:
        assert "seconds" in th  # the timing field this comparison leaves out
        th.pop("seconds")
    return doc


def test_verify_on_the_cluster_equals_the_sequential_run(tmp_path, capsys, scheduler):
    runs = {"seq": (), "remote": ("--scheduler", scheduler), "two": ("--workers", 2)}
    for name, opts in runs.items():
        ok(capsys, "verify", *THEOREMS, "--count", 6, "--seed", 11, "--no-progress", "--out",
           tmp_path / f"{name}.json", *opts)
    seq = _verify_doc(tmp_path / "seq.json")
    assert [t["id"] for t in seq["theorems"]] == list(THEOREMS[1::2])
    assert _verify_doc(tmp_path / "remote.json") == seq
    assert _verify_doc(tmp_path / "two.json") == seq


def test_regret_on_the_cluster_equals_the_local_run(capsys, scheduler):
    local = json.loads(ok(capsys, *REGRET))
    remote = json.loads(ok(capsys, *REGRET, "--scheduler", scheduler))
    two = json.loads(ok(capsys, *REGRET, "--workers", 2))
    assert np.asarray(local["regret"]).shape == (5, 3)
    for other in (remote, two):
        assert other == local  # the whole document: the arrays, means, intervals and verdict


def test_design_on_the_cluster_equals_the_local_run(tmp_path, capsys, scheduler):
    args = ("design", "stag-hunt", "--designer", "metagrad", "none", "--seeds", 2, "--iterations", 8,
            "--no-progress", "--json")
    local = json.loads(ok(capsys, *args))
    assert len(local["seeds"]) == 2
    assert json.loads(ok(capsys, *args, "--scheduler", scheduler)) == local
    assert json.loads(ok(capsys, *args, "--workers", 2)) == local
    # a checkpoint written by the cluster run resumes locally to the same document
    ok(capsys, *args, "--scheduler", scheduler, "--checkpoint", tmp_path / "ck")
    assert json.loads(ok(capsys, *args, "--checkpoint", tmp_path / "ck")) == local


def test_a_seeds_row_does_not_depend_on_its_companions():
    """The property that lets regret split seeds over tasks."""
    from contractlab.cli import regret as r
    from contractlab.cli.common import Parser
    parser = Parser()
    r.add_parser(parser.add_subparsers())
    for learner, adversary in (("hedge", "punish-weighted"), ("exp3", "random"), ("ucb1", "bernoulli")):
        setup = r.parse_setup(parser.parse_args(["regret", "--learner", learner, "--adversary", adversary,
                                                 "--seeds", "6"]))
        whole = r.regret_task(setup, "regret", 300, [100, 300], range(0, 6))
        split = np.concatenate([r.regret_task(setup, "regret", 300, [100, 300], range(k, k + 2)) for k in (0, 2, 4)])
        assert np.array_equal(whole, split), learner


# --------------------------------------------------------------------------- one-line errors


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("argv", [("verify", *THEOREMS[:2], "--count", 2, "--no-progress"),
                                  ("bench", "generate", "contract", "--count", 3, "--out", "OUT"),
                                  REGRET, ("design", "stag-hunt", "--seeds", 2, "--iterations", 2, "--no-progress")])
def test_errors_are_one_line(tmp_path, capsys, monkeypatch, scheduler, argv):
    argv = [tmp_path / "o" if a == "OUT" else a for a in argv]
    err = one_line_exit_2(capsys, *argv, "--scheduler", f"tcp://127.0.0.1:{_free_port()}", "--scheduler-timeout", 1)
    assert "cannot reach" in err
    err = one_line_exit_2(capsys, *argv, "--scheduler", scheduler, "--workers", 2)
    assert "not both" in err
    monkeypatch.setitem(sys.modules, "dask.distributed", None)  # the extra not installed
    err = one_line_exit_2(capsys, *argv, "--scheduler", scheduler)
    assert "contractlab[dist]" in err
    monkeypatch.undo()
    monkeypatch.setattr("contractlab.__version__", "0.0.0+other")  # this client only; workers import their own
    err = one_line_exit_2(capsys, *argv, "--scheduler", scheduler)
    assert "must run contractlab 0.0.0+other" in err
    assert not (tmp_path / "o").exists()  # refused before any work
