"""``contractlab report RESULTS... --out report.html``: one self-contained HTML page (issue 15).

Reads ``verify --out``, ``regret --out``, ``design --out``, ``check --json`` / ``learn --json`` (a contract
policy or a Coin Game principal),
``learn --curve`` and ``solve -o`` (``pamdp_solution``) files and benchmark dataset folders (see :mod:`contractlab.report`); the
page embeds its figures as inline SVG and needs no network to be viewed.
"""

from __future__ import annotations

from pathlib import Path

from ..theory.errors import InvalidInstanceError
from .common import EXIT_OK, add_budget_options, apply_budget_options, check_output, note, writing


def add_parser(sub) -> None:
    p = sub.add_parser("report", help="one self-contained HTML page from verify, regret, design, check/learn "
                                      "and solve results and benchmark datasets")
    p.add_argument("results", nargs="+", metavar="RESULTS",
                   help="JSON files of kind verify_results, regret_run, design_run, policy_check, coin_policy_check, "
                        "learning_curve or pamdp_solution, or dataset folders holding index.parquet; one "
                        "section each, in order")
    p.add_argument("--out", required=True, metavar="FILE", help="the HTML file to write")
    p.add_argument("--title", default="contractlab report", help="title of the page (default: %(default)s)")
    add_budget_options(p)
    p.set_defaults(run=run)


def run(args) -> int:
    from ..report import build_report
    from ..theory.fileio import write_text_atomic

    apply_budget_options(args)
    check_output("--out", args.out)
    out = Path(args.out).resolve()
    for path in args.results:
        try:
            same = Path(path).resolve() == out
        except (OSError, ValueError):
            same = False
        if same:
            raise InvalidInstanceError("--out", f"names the input {path!r}: it would be overwritten")
    page = build_report(args.results, args.title)
    writing("--out", args.out, lambda: write_text_atomic(args.out, page))
    note(f"wrote {args.out}")
    return EXIT_OK
