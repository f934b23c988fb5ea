"""``contractlab bench generate FAMILY --count N --seed S --out DIR`` (a resumable ground-truth
dataset of exactly solved instances, over local worker processes) and ``contractlab bench check
DIR`` (re-verify one). The folder layout, the index columns and what is reproducible are in
:mod:`contractlab.bench.dataset`; the families and their columns in
:mod:`contractlab.bench.families`."""

from __future__ import annotations

import contextlib
from pathlib import Path

from ..theory.errors import InvalidInstanceError
from .common import EXIT_FAILED, EXIT_OK, note, print_json, safe_text, stdout_console
from .executors import add_options as add_executor_options
from .executors import executor

#: Default instances per batched solve (one-shot contract problems).
DEFAULT_BATCH = 250
MAX_COUNT = 10_000_000
MAX_WORKERS = 256


def _family_options() -> dict:
    """Every family option once: name -> (type, help naming the families that take it)."""
    from ..bench.families import FAMILIES
    options: dict[str, tuple[type, list[str], str]] = {}
    for fam in FAMILIES.values():
        for opt in fam.options:
            typ, names, text = options.get(opt.name, (opt.type, [], opt.help))
            names.append(f"{fam.name} (default {opt.default})")
            options[opt.name] = (typ, names, text or opt.help)
    return options


def add_parser(sub) -> None:
    from ..bench.families import FAMILIES
    b = sub.add_parser("bench", help="generate or check a resumable benchmark dataset of exactly solved instances")
    bsub = b.add_subparsers(dest="bench_command", required=True, parser_class=type(b))
    g = bsub.add_parser("generate", help="generate and solve COUNT instances of a family into a dataset folder",
                        description="Families: " + "; ".join(f"{n}: {f.description}" for n, f in FAMILIES.items()))
    g.add_argument("family", help=" | ".join(FAMILIES))
    g.add_argument("--count", type=int, required=True, help="number of instances")
    g.add_argument("--seed", type=int, default=0, help="dataset seed; instance i's seed is spawned from it (default 0)")
    g.add_argument("--out", required=True, metavar="DIR", help="dataset folder (created; an existing dataset with the "
                                                               "same parameters is resumed)")
    add_executor_options(g)
    g.add_argument("--batch", type=int, default=DEFAULT_BATCH,
                   help=f"instances per batched LP solve of the contract family (default {DEFAULT_BATCH}; part of the "
                        "dataset's parameters)")
    g.add_argument("--no-certify", dest="certify", action="store_false",
                   help="skip the exact certificates (certificate column 'skipped')")
    g.add_argument("--retry-failed", action="store_true", help="solve the failed rows of an existing dataset again")
    g.add_argument("--npz-threshold", type=int, default=100_000,
                   help="instance arrays with at least this many entries go to a sibling .npz (default 100000)")
    g.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    for name, (typ, fams, text) in _family_options().items():
        g.add_argument("--" + name.replace("_", "-"), dest="opt_" + name, type=typ, default=None, metavar=name.upper(),
                       help=f"{text + '; ' if text else ''}{', '.join(fams)}")
    g.set_defaults(run=run_generate)
    c = bsub.add_parser("check", help="re-verify a dataset: hashes, result files, re-solved values, certificates")
    c.add_argument("dir", metavar="DIR", help="dataset folder")
    c.add_argument("--all", action="store_true", help="re-solve every row (default: a sample)")
    c.add_argument("--sample", type=int, default=32, help="rows re-solved without --all (default 32)")
    c.add_argument("--tol", type=float, default=1e-9, help="relative tolerance of re-solved values (default 1e-9)")
    c.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    c.set_defaults(run=run_check)


def _bounded(option: str, value: int, low: int, high: int) -> int:
    if not low <= value <= high:
        raise InvalidInstanceError(option, f"must lie in [{low}, {high}], got {value}")
    return value


def run_generate(args) -> int:
    from ..bench import dataset as ds
    from ..bench.families import family
    from ..bench.sweep import print_progress, sweep

    fam = family(args.family)
    if args.workers is not None and args.scheduler is not None:
        raise InvalidInstanceError("--scheduler", "give either --workers or --scheduler, not both")
    _bounded("--count", args.count, 1, MAX_COUNT)
    if args.workers is not None:
        _bounded("--workers", args.workers, 1, MAX_WORKERS)
    _bounded("--batch", args.batch, 1, 100_000)
    _bounded("--npz-threshold", args.npz_threshold, 1, 2**62)
    if args.seed < 0:
        raise InvalidInstanceError("--seed", f"must be >= 0, got {args.seed}")
    given = {k[4:]: v for k, v in vars(args).items() if k.startswith("opt_") and v is not None}
    params = fam.params(given)
    if args.out == "" or "\x00" in args.out:
        raise InvalidInstanceError("--out", "expected a folder path")
    folder = Path(args.out)
    fam.make(params, ds.instance_seed(args.seed, 0))  # parameters a generator refuses: one line, before any work
    ident = ds.identity(fam.name, params, args.seed, args.count, args.batch if fam.solve_batch else 1, args.certify)
    # connect (and check the workers) before the folder is created
    remote = executor(None, args.scheduler, args.scheduler_timeout) if args.scheduler else contextlib.nullcontext()
    with remote as client:
        manifest = ds.prepare(folder, ident)
        summary = sweep(folder, manifest, args.workers or 1, args.retry_failed, args.npz_threshold, print_progress,
                        pool=client)
    note(f"bench: {summary['family']} x {summary['count']} in {safe_text(str(folder), 120)}: "
         f"{summary['done']} solved now, {summary['skipped']} already done, "
         f"{len(summary['failed'])} failed ({summary['seconds']:.1f} s, "
         f"{summary['instances_per_second']:.1f} instances/s)")
    for f in summary["failed"][:50]:
        note(f"  failed {f['id']}: {f['error']}")
    if len(summary["failed"]) > 50:
        note(f"  ... and {len(summary['failed']) - 50} more failed rows (status 'failed' in the index)")
    if args.json:
        print_json(summary)
    return EXIT_OK


def run_check(args) -> int:
    from ..bench.check import check_dataset

    if args.sample < 0:
        raise InvalidInstanceError("--sample", f"must be >= 0, got {args.sample}")
    if not args.tol >= 0:
        raise InvalidInstanceError("--tol", f"must be >= 0, got {args.tol}")
    folder = Path(args.dir)
    if not folder.is_dir():
        raise InvalidInstanceError("DIR", f"{safe_text(args.dir, 120)!r} is not a folder")
    report = check_dataset(folder, all_rows=args.all, sample=args.sample, tol=args.tol)
    if args.json:
        print_json(report)
    else:
        _print_report(report)
    note(f"bench check: {report['rows']} rows, {report['resolved']} re-solved, "
         f"{len(report['differences'])} differences")
    return EXIT_OK if report["ok"] else EXIT_FAILED


def _print_report(report: dict) -> None:
    from rich.markup import escape
    from rich.table import Table

    console = stdout_console()
    if report["ok"]:
        console.print(f"dataset {escape(report['dataset'])}: {report['rows']} rows ({report['failed_rows']} failed "
                      f"rows), {report['resolved']} re-solved: no difference")
        return
    table = Table(title=f"differences in {escape(report['dataset'])}")
    for col in ("id", "column", "index", "expected", "check"):
        table.add_column(col)
    for d in report["differences"]:
        table.add_row(escape(str(d["id"])), escape(d["column"]), escape(repr(d["index"])),
                      escape(repr(d["expected"])), escape(d["what"]))
    console.print(table)

