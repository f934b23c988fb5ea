"""``contractlab verify``: check the registered theorems on drawn instances."""

from __future__ import annotations

import math

from ..proofs_checks.registry import DEFAULT_COUNT, DEFAULT_SEED
from ..theory.errors import InvalidInstanceError
from .common import EXIT_FAILED, EXIT_OK, check_output, print_json, stderr_console, stdout_console, writing
from .executors import add_options as add_executor_options
from .executors import executor, map_ordered


def add_parser(sub) -> None:
    v = sub.add_parser("verify", help="check the registered theorems on drawn instances")
    v.add_argument("--count", type=int, default=DEFAULT_COUNT, help=f"instances per theorem (default {DEFAULT_COUNT})")
    v.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"seed of the instance draws (default {DEFAULT_SEED})")
    v.add_argument("--theorem", action="append", metavar="ID",
                   help="only this theorem (repeatable; 'prefix.' selects a family)")
    v.add_argument("--out", metavar="FILE", help="write machine-readable results (JSON) here")
    v.add_argument("--json", action="store_true", help="print the results as JSON on stdout instead of the table")
    v.add_argument("--no-progress", action="store_true", help="no progress bar (it is drawn on stderr)")
    add_executor_options(v)
    v.set_defaults(run=run)


def verify_task(theorem_id: str, count: int, seed: int):
    """One theorem's report (a task of ``--workers``/``--scheduler``: the theorem goes by id, as its
    checks need not pickle; its instances are drawn from ``seed`` alone, so where it runs does not matter)."""
    from ..proofs_checks.runner import run_theorem, select
    return run_theorem(select([theorem_id])[0], count, seed)


def run(args) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from ..proofs_checks.runner import run_theorem, select

    if args.count < 1:
        raise InvalidInstanceError("--count", f"must be >= 1, got {args.count}")
    if args.seed < 0:
        raise InvalidInstanceError("--seed", f"must be >= 0, got {args.seed}")
    check_output("--out", args.out)
    try:
        theorems = select(args.theorem)
    except KeyError as exc:
        raise InvalidInstanceError("--theorem", f"unknown theorem id {exc.args[0]!r} (see 'contractlab theorems')")
    if args.workers is not None and args.scheduler is not None:
        raise InvalidInstanceError("--scheduler", "give either --workers or --scheduler, not both")
    if args.workers not in (None, 1) or args.scheduler is not None:
        with executor(args.workers, args.scheduler, args.scheduler_timeout, len(theorems)) as pool:
            reports = map_ordered(pool, verify_task, [(th.id, args.count, args.seed) for th in theorems])
        return _finish(args, theorems, reports)
    reports = []
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=stderr_console(), disable=args.no_progress, transient=True) as progress:
        task = progress.add_task("verifying", total=args.count * len(theorems))
        for th in theorems:
            progress.update(task, description=th.id)
            done_before = progress.tasks[0].completed
            reports.append(run_theorem(th, args.count, args.seed, on_example=lambda: progress.advance(task)))
            progress.update(task, completed=done_before + args.count)
    return _finish(args, theorems, reports)


def _finish(args, theorems, reports) -> int:
    from rich.markup import escape
    from rich.table import Table

    from .. import __version__
    from ..theory.documents import verify_results_document
    from ..theory.fileio import save

    doc = verify_results_document(__version__, args.seed, args.count, reports)
    if args.out:
        writing("--out", args.out, lambda: save(doc, args.out))
    failed = [r for r in reports if not r.passed]
    if args.json:
        print_json(doc)
        return EXIT_FAILED if failed else EXIT_OK
    console = stdout_console()
    table = Table(title=f"contractlab verify — {len(theorems)} theorems, seed {args.seed}")
    for col, kw in (("theorem", {"no_wrap": True, "min_width": max(len(t.id) for t in theorems)}),
                    ("instances", {"justify": "right"}), ("vacuous", {"justify": "right"}),
                    ("worst margin", {"justify": "right"}), ("LP answers certified", {"justify": "right"}),
                    ("verdict", {})):
        table.add_column(col, **kw)
    for r in reports:
        margin = "—" if not math.isfinite(r.worst_margin) else f"{r.worst_margin:.3g}"
        verdict = "[green]pass[/green]" if r.passed else "[bold red]FAIL[/bold red]"
        certified = f"{r.certified}/{r.lp_answers}" if r.lp_answers else "—"
        table.add_row(r.id, str(r.instances), str(r.vacuous), margin, certified, verdict)
    console.print(table)
    for r in failed:
        console.print(f"[bold red]{r.id}[/bold red] failed: {escape(str(r.failure))}", highlight=False)
    console.print(f"{len(reports) - len(failed)} passed, {len(failed)} failed", highlight=False)
    return EXIT_FAILED if failed else EXIT_OK
