"""Running the instances of a dataset over local worker processes, resumably.

The unit of persistence is the instance (one atomic ``results/<id>.json`` each,
:mod:`.dataset`); the unit of work is a *task*, a list of instance indices one process handles.
For a family with a batched solver (one-shot contract problems: every MIN-PAY LP of the task in
one block-diagonal HiGHS model, :func:`contractlab.solvers.lp.solve_lp_batch`) the tasks are the
fixed chunks ``[k·B, (k+1)·B)`` of indices (``B`` = ``--batch``, part of the dataset's identity):
HiGHS' floats depend on which LPs share the model, so every instance is always solved in the same
company. A chunk whose results all exist is skipped; one left half-written by a killed process is
solved again as a whole (so that its floats are those of an uninterrupted run) and only its
missing results are written. Other families are solved one instance at a time, in tasks of a few
instances to keep the traffic between processes low.

Failures are rows: anything an instance raises (generation, solve, certificate) becomes a
``failed`` row with the reason, and the other instances go on. For tests of that path the
environment variable :data:`FAIL_ENV` lists instance indices (``"3,17"``) whose solve raises a
planted error.
"""

from __future__ import annotations

import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from . import dataset as ds
from .families import family as get_family

#: Environment variable: comma-separated instance indices whose solve fails on purpose (tests).
FAIL_ENV = "CONTRACTLAB_BENCH_FAIL"
#: Instances in a task of a family solved one at a time.
SINGLE_TASK = 8


class PlantedFailure(RuntimeError):
    """The failure :data:`FAIL_ENV` asks for."""


def _planted() -> frozenset[int]:
    text = os.environ.get(FAIL_ENV, "")
    return frozenset(int(x) for x in text.split(",") if x.strip().isdigit())


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:300]


def run_task(folder: str, manifest: dict, members: list[int], todo: list[int], npz_threshold: int) -> list[dict]:
    """Generate and solve ``members`` (all of a fixed chunk for a batched family), write the results
    of ``todo``; returns the rows written."""
    folder_p = Path(folder)
    fam = get_family(manifest["family"])
    params, certify = manifest["params"], manifest["certify"]
    pjson = ds.params_json(params)
    planted = _planted()
    write = set(todo)
    objs, hashes, errors = {}, {}, {}
    seeds = {i: ds.instance_seed(manifest["seed"], i) for i in members}
    for i in members:
        seed = seeds[i]
        try:
            obj = fam.make(params, seed)
            data = ds.json_form(obj, npz_threshold)
            if i in write:
                hashes[i] = ds.save_instance(folder_p, i, obj, data, npz_threshold)
            objs[i] = ds.as_stored(obj, data)  # the ground truth is about the instance file
        except Exception as exc:  # a failing instance must not lose the others
            errors[i] = _reason(exc)
    fields, seconds = {}, {}
    alive = [i for i in members if i in objs]
    if fam.solve_batch is not None and alive:
        t0 = time.perf_counter()
        try:
            answers = fam.solve_batch([objs[i] for i in alive], params, certify)
        except Exception:  # the batch as a whole failed: solve its instances one by one
            answers = None
        per = (time.perf_counter() - t0) / len(alive)
        if answers is not None:
            for i, a in zip(alive, answers):
                seconds[i] = per
                if isinstance(a, BaseException):
                    errors[i] = _reason(a)
                else:
                    fields[i] = a
    for i in alive:
        if i not in write or i in fields or i in errors:
            continue
        t0 = time.perf_counter()
        try:
            fields[i] = fam.solve(objs[i], params, certify)
        except Exception as exc:
            errors[i] = _reason(exc)
        seconds[i] = time.perf_counter() - t0
    out = []
    for i in todo:
        if i in planted:
            fields.pop(i, None)
            errors[i] = _reason(PlantedFailure(f"planted failure of instance {i} ({FAIL_ENV})"))
        row = ds.result_record(i, manifest["family"], pjson, seeds[i], fields.get(i), errors.get(i, ""),
                               seconds.get(i, 0.0), hashes.get(i, ""))
        ds.write_result(folder_p, row)
        out.append(row)
    return out


def plan(manifest: dict, done: set[int], batched: bool, workers: int) -> list[tuple[list[int], list[int]]]:
    """The tasks ``(members, todo)`` still to run."""
    count, batch = manifest["count"], manifest["batch"]
    if batched:
        tasks = []
        for lo in range(0, count, batch):
            members = list(range(lo, min(lo + batch, count)))
            todo = [i for i in members if i not in done]
            if todo:
                tasks.append((members, todo))
        return tasks
    todo = [i for i in range(count) if i not in done]
    size = max(1, min(SINGLE_TASK, len(todo) // (4 * workers) or 1))
    return [(todo[k:k + size], todo[k:k + size]) for k in range(0, len(todo), size)]


def sweep(folder: Path, manifest: dict, workers: int = 1, retry_failed: bool = False,
          npz_threshold: int = 100_000, progress=None, pool=None) -> dict:
    """Run every instance of the dataset that has no result yet; write the index and the final
    manifest; return the summary (``done`` this run, ``skipped`` already there, ``failed`` rows
    with their reasons).

    ``pool``: an executor with ``submit`` returning futures (a ``dask.distributed.Client``, see
    :mod:`contractlab.cli.executors`) to run the tasks on instead of ``workers`` local processes;
    ``workers`` still sizes the tasks of unbatched families. Its workers write the instance and
    result files into ``folder``, which must therefore be on a filesystem every worker sees."""
    start = time.perf_counter()
    fam = get_family(manifest["family"])
    existing = ds.finished(folder, manifest)
    if retry_failed:
        existing = {i: r for i, r in existing.items() if r["status"] == "ok"}
    tasks = plan(manifest, set(existing), fam.solve_batch is not None, workers)
    total = sum(len(t[1]) for t in tasks)
    done = 0
    last = time.perf_counter()
    rows = dict(existing)

    def account(result):
        nonlocal done, last
        done += len(result)
        rows.update((int(r["id"]), r) for r in result)
        if progress is not None and (time.perf_counter() - last > 2.0 or done == total):
            last = time.perf_counter()
            progress(done, total)

    args = (str(folder), manifest)
    if pool is not None:
        futures = [pool.submit(run_task, *args, members, todo, npz_threshold) for members, todo in tasks]
        try:
            for fut in futures:  # task order; the rows are keyed by id, so the order is only progress
                account(fut.result())
        except BaseException:
            for fut in futures:
                fut.cancel()
            raise
    elif workers <= 1 or len(tasks) <= 1:
        for members, todo in tasks:
            account(run_task(*args, members, todo, npz_threshold))
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(run_task, *args, members, todo, npz_threshold) for members, todo in tasks]
            try:
                for fut in as_completed(futures):
                    account(fut.result())
            except BaseException:
                for fut in futures:
                    fut.cancel()
                raise
    missing = [i for i in range(manifest["count"]) if i not in rows]
    if missing:  # cannot happen: every task writes a row per instance of its todo list
        raise RuntimeError(f"{len(missing)} instances have no result (first: {ds.instance_id(missing[0])})")
    table = list(rows.values())
    ds.write_index(folder, table)
    ds.finish_manifest(folder, manifest, table)
    failed = sorted(((r["id"], r["error"]) for r in table if r["status"] == "failed"))
    seconds = time.perf_counter() - start
    return {"dataset": str(folder), "family": manifest["family"], "count": manifest["count"], "done": total,
            "skipped": manifest["count"] - total, "ok": sum(r["status"] == "ok" for r in table),
            "failed": [{"id": i, "error": e} for i, e in failed], "seconds": seconds,
            "instances_per_second": total / seconds if seconds > 0 else 0.0}


def print_progress(done: int, total: int) -> None:
    sys.stderr.write(f"bench: {done}/{total} instances solved\n")
    sys.stderr.flush()
