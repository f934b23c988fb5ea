"""``contractlab theorems``: list the registered theorems."""

from __future__ import annotations

from .common import EXIT_OK, print_json, stdout_console


def add_parser(sub) -> None:
    t = sub.add_parser("theorems", help="list the registered theorems")
    fmt = t.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="as JSON on stdout")
    fmt.add_argument("--markdown", action="store_true", help="as the Markdown page docs/theorems.md")
    t.set_defaults(run=run)


def run(args) -> int:
    import sys

    from ..proofs_checks.registry import all_theorems, theorems_markdown

    theorems = all_theorems()
    if args.json:
        print_json({"kind": "theorem_list", "version": 1,
                    "theorems": [{"id": t.id, "statement": t.statement, "source": t.source,
                                  "expression": None if t.expression is None else str(t.expression)}
                                 for t in theorems.values()]})
        return EXIT_OK
    if args.markdown:
        sys.stdout.write(theorems_markdown(theorems))
        return EXIT_OK
    from rich.markup import escape
    from rich.table import Table
    table = Table(title=f"{len(theorems)} registered theorems", show_lines=True)
    table.add_column("id", no_wrap=True)
    table.add_column("statement")
    table.add_column("source")
    for t in theorems.values():
        table.add_row(escape(t.id), escape(t.statement), escape(t.source))
    stdout_console().print(table)
    return EXIT_OK
