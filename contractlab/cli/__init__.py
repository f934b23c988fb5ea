"""The ``contractlab`` command line: one module per command; :mod:`.common` holds the exit
codes, error lines, output checks and stdout writers they share.

Commands: ``verify``, ``theorems``, ``solve``, ``generate``, ``check``, ``learn``, ``regret``, ``steer``, ``design``, ``report``, ``bench``. Each module
has ``add_parser(subparsers)`` (which sets ``run``) and ``run(args) -> exit code``; it parses,
calls the library and prints. Nothing in the library imports this package.
"""

from __future__ import annotations

import sys
from typing import Sequence

from . import bench, check, design, generate, learn, regret, report, solve, steer, theorems, verify
from .common import Parser, run_guarded

COMMANDS = (verify, solve, generate, check, learn, theorems, regret, steer, design, report, bench)


def parser() -> Parser:
    from .. import __version__
    p = Parser(prog="contractlab", description="Exact contracts and numerically verified incentive theorems.")
    p.add_argument("--version", action="version", version=f"contractlab {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=Parser)
    for command in COMMANDS:
        command.add_parser(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return run_guarded(args.run, args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
