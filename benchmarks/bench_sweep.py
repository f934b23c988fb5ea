"""Speed of ``contractlab bench generate``: instances per second, local, 1 and 2 workers.

    python benchmarks/bench_sweep.py [--contracts 10000] [--trees 1000] [--workers 1,2]
                                     [--skip-certified] [--json | --markdown]

What is measured
----------------
A whole sweep into a fresh temporary folder, as the command runs it (``bench.dataset.prepare``
then ``bench.sweep.sweep``: generating every instance, writing it, solving it, writing its
result file, then the Parquet index and the final manifest), timed from the start of ``prepare``
to the return of ``sweep``; the worker pool's start-up is included, the interpreter's start and
imports are not. Rows:

1. ``contract``: ``--contracts`` one-shot problems with n = 5 actions and m = 4 outcomes, the
   MIN-PAY LPs of 250 problems (``--batch``) in one block-diagonal HiGHS model; with
   ``--no-certify`` (values only) and with the exact certificates (``certify`` of every optimal
   contract in rational arithmetic, the default of the command).
2. ``binary_tree``: ``--trees`` binary game trees of depth 10 (1,023 states each; arXiv
   2407.18074, Appendix D.1), SPE by backward induction, each certified at its initial state.

Besides the wall time, the CPU time (user + system, of this process and of the worker processes)
is printed: on a machine shared with other jobs it is the steadier number.

The target of issue 15 is the 10,000-problem dataset in under 30 s on a 2-core machine. The
machine may be shared with other jobs: the load average before and after each row is printed,
and the numbers are only comparable between rows measured under similar load.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from contractlab.bench import dataset as ds  # noqa: E402
from contractlab.bench.families import family  # noqa: E402
from contractlab.bench.sweep import sweep  # noqa: E402
from contractlab.cli.bench import MAX_COUNT, MAX_WORKERS  # noqa: E402
from contractlab.theory.errors import InvalidInstanceError  # noqa: E402

#: Largest --batch (as ``contractlab bench generate --batch``).
MAX_BATCH = 100_000


def check_args(args) -> list[int]:
    """The worker counts of ``--workers``; every count refused naming its flag (and index) outside the bounds
    of ``contractlab bench generate``."""
    for flag, value, high in (("--contracts", args.contracts, MAX_COUNT), ("--trees", args.trees, MAX_COUNT),
                              ("--batch", args.batch, MAX_BATCH)):
        if not 1 <= value <= high:
            raise InvalidInstanceError(flag, f"must lie in [1, {high}], got {value}")
    workers = []
    for i, word in enumerate(args.workers.split(",")):
        try:
            workers.append(int(word))
        except ValueError:
            raise InvalidInstanceError("--workers", f"expected an integer, got {word[:40]!r}", i) from None
        if not 1 <= workers[-1] <= MAX_WORKERS:
            raise InvalidInstanceError("--workers", f"must lie in [1, {MAX_WORKERS}], got {workers[-1]}", i)
    return workers


def run(name: str, count: int, options: dict, workers: int, certify: bool, batch: int) -> dict:
    fam = family(name)
    params = fam.params(options)
    load0 = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench_sweep_") as tmp:
        folder = Path(tmp) / "data"
        t0, c0 = time.perf_counter(), os.times()
        manifest = ds.prepare(folder, ds.identity(name, params, 0, count, batch if fam.solve_batch else 1, certify))
        summary = sweep(folder, manifest, workers)
        seconds = time.perf_counter() - t0
        c1 = os.times()  # the pool's workers are joined by now, so their times are in children_*
        cpu = sum(getattr(c1, k) - getattr(c0, k) for k in ("user", "system", "children_user", "children_system"))
        size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
        shutil.rmtree(folder)
    if summary["failed"]:
        print(f"warning: {len(summary['failed'])} failed rows in {name}: {summary['failed'][:2]}", file=sys.stderr)
    return {"family": name, "params": params, "count": count, "certify": certify, "workers": workers,
            "seconds": seconds, "instances_per_second": count / seconds, "cpu_seconds": cpu, "ok": summary["ok"],
            "dataset_bytes": size, "load_before": load0, "load_after": os.getloadavg()[0]}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--contracts", type=int, default=10_000)
    p.add_argument("--trees", type=int, default=1_000)
    p.add_argument("--workers", default="1,2")
    p.add_argument("--batch", type=int, default=250)
    p.add_argument("--skip-certified", action="store_true", help="contract rows without --no-certify only")
    p.add_argument("--json", action="store_true")
    p.add_argument("--markdown", action="store_true")
    args = p.parse_args()
    try:
        workers = check_args(args)
    except InvalidInstanceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    plan = []
    for w in workers:
        plan.append(("contract", args.contracts, {"n": 5, "m": 4}, w, False))
    if not args.skip_certified:
        for w in workers:
            plan.append(("contract", args.contracts, {"n": 5, "m": 4}, w, True))
    for w in workers:
        plan.append(("binary_tree", args.trees, {"depth": 10}, w, True))
    results = []
    for name, count, options, w, certify in plan:
        print(f"running {name} x {count}, {w} worker(s), certify={certify} ...", file=sys.stderr, flush=True)
        results.append(run(name, count, options, w, certify, args.batch))
    if args.json:
        print(json.dumps({"cpus": os.cpu_count(), "rows": results}, indent=1))
        return 0
    header = ("family", "instances", "certificates", "workers", "seconds", "instances/s", "CPU s (user+sys)",
              "load before/after")
    lines = [[r["family"] + " " + ",".join(f"{k}={v}" for k, v in r["params"].items()), f"{r['count']:,}",
              "yes" if r["certify"] else "no", str(r["workers"]), f"{r['seconds']:.1f}",
              f"{r['instances_per_second']:.0f}", f"{r['cpu_seconds']:.1f}",
              f"{r['load_before']:.1f} / {r['load_after']:.1f}"] for r in results]
    if args.markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        for line in lines:
            print("| " + " | ".join(line) + " |")
    else:
        widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]
        print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
        for line in lines:
            print("  ".join(c.ljust(w) for c, w in zip(line, widths)))
    print(f"({os.cpu_count()} CPUs; the machine may be shared: see the load averages)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
