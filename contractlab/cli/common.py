"""What every command shares: exit codes, the argument parser, error lines, output checks,
and the writers of stdout.

Exit codes: 0 success, 1 a theorem or check failed, 2 bad input (one line naming the field or
option; no traceback), 3 a solver failure (an LP answer failed its check, HiGHS and cvxpy
disagree under ``--backend both``, or an iteration did not converge within its budget),
130 interrupted (Ctrl-C).

stdout holds only the answer (a table, or JSON with ``--json``); progress bars, ``wrote ...``
lines and warnings go to stderr.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import unicodedata
from pathlib import Path
from typing import Any

import numpy as np

from ..theory.errors import InvalidInstanceError, SolverFailure

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_SOLVER_FAILURE, EXIT_INTERRUPTED = 0, 1, 2, 3, 130

#: Longest error line printed (longer messages are cut, with an ellipsis).
MAX_ERROR_CHARS = 300


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors (exit code 2) instead of usage + message."""

    def error(self, message: str):
        self.exit(EXIT_BAD_INPUT, f"contractlab: error: {safe_text(message)}\n")


def safe_text(text: str, limit: int = MAX_ERROR_CHARS - 20) -> str:
    """``text`` as one printable line: control characters, escapes and lone surrogates shown
    as ``\\x..`` / ``\\u....``, newlines folded, cut to ``limit`` characters."""
    out = []
    for ch in " ".join(str(text).split()):
        if ch.isprintable() and unicodedata.category(ch) != "Cs":
            out.append(ch)
        else:
            out.append(repr(ch)[1:-1] if ord(ch) < 0xD800 or ord(ch) > 0xDFFF else f"\\u{ord(ch):04x}")
        if len(out) > limit:
            break
    line = "".join(out)
    return line if len(line) <= limit else line[: limit - 1] + "…"


def error_line(message: str, prefix: str = "error") -> None:
    """Print ``contractlab: <prefix>: <message>`` as one safe line on stderr."""
    sys.stderr.write(f"contractlab: {prefix}: {safe_text(message)}\n")
    sys.stderr.flush()


def note(message: str) -> None:
    """A ``wrote ...``-style line on stderr (never on stdout)."""
    sys.stderr.write(safe_text(message, 2000) + "\n")
    sys.stderr.flush()


def run_guarded(fn, args) -> int:
    """Run a command; map the toolkit's exceptions to exit codes and one line on stderr."""
    try:
        return fn(args)
    except InvalidInstanceError as exc:
        error_line(str(exc))
        return EXIT_BAD_INPUT
    except SolverFailure as exc:
        error_line(str(exc), "solver failure")
        return EXIT_SOLVER_FAILURE
    except MemoryError:
        error_line("out of memory (lower the instance size, or raise --max-memory only if the machine has it)")
        return EXIT_BAD_INPUT
    except OSError as exc:  # e.g. a disk that filled up while writing
        error_line(f"{exc.filename or 'file'}: {exc.strerror or exc}")
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        error_line("interrupted", "stopped")
        return EXIT_INTERRUPTED


# --------------------------------------------------------------------------- options shared by commands

#: Default of ``--time-limit`` (seconds), as :data:`contractlab.solvers.meta_algorithm.TIME_LIMIT`.
DEFAULT_TIME_LIMIT = 60.0


def add_budget_options(parser: argparse.ArgumentParser, time_limit_help: str | None = None,
                       time_limit_default: float | None = DEFAULT_TIME_LIMIT) -> None:
    """``--max-memory`` and ``--max-file-size`` (see :mod:`contractlab.theory.budget`), and
    ``--time-limit`` when the command runs iterations that may not converge (``None`` when not
    given if ``time_limit_default`` is ``None``: the command then picks a default per kind)."""
    if time_limit_help is not None:
        shown = "" if time_limit_default is None else f" (default {time_limit_default:g})"
        parser.add_argument("--time-limit", type=float, default=time_limit_default, metavar="SECONDS",
                            help=time_limit_help + shown)
    parser.add_argument("--max-memory", metavar="SIZE",
                        help="refuse work estimated to need more memory than this (default 8GiB; e.g. 16GiB)")
    parser.add_argument("--max-file-size", metavar="SIZE",
                        help="refuse instance files larger than this (default 2GiB)")


def apply_budget_options(args) -> None:
    """Put ``--max-memory`` / ``--max-file-size`` into force for this process and check
    ``--time-limit`` (before any work)."""
    from ..theory import budget
    limit = getattr(args, "time_limit", None)
    if limit is not None and not limit > 0:  # also refuses nan
        raise InvalidInstanceError("--time-limit", f"must be > 0 seconds, got {limit}")
    for option, env in (("max_memory", budget.MEMORY_ENV), ("max_file_size", budget.FILE_SIZE_ENV)):
        value = getattr(args, option, None)
        if value is not None:
            os.environ[env] = str(budget.parse_size(value, "--" + option.replace("_", "-")))


def check_output(option: str, path: str | None, sibling_npz: bool = False) -> None:
    """Refuse an output path before any work starts: its folder must exist and be writable,
    and the path itself must not be a folder (nor, with ``sibling_npz``, its ``.npz``)."""
    if path is None:
        return
    if path == "" or "\x00" in path:
        raise InvalidInstanceError(option, "expected a file path")
    p = Path(path)
    folder = p.resolve().parent
    if not folder.is_dir():
        raise InvalidInstanceError(option, f"folder {safe_text(str(folder), 120)!r} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InvalidInstanceError(option, f"folder {safe_text(str(folder), 120)!r} is not writable")
    targets = [p] + ([p.with_suffix(".npz")] if sibling_npz else [])
    for t in targets:
        if t.is_dir():
            raise InvalidInstanceError(option, f"{safe_text(str(t), 120)!r} is a folder")
        if t.exists() and not t.is_file():
            raise InvalidInstanceError(option, f"{safe_text(str(t), 120)!r} exists and is not a regular file")


def check_distinct_outputs(*pairs: tuple[str, str | None]) -> None:
    """Two options must not name the same file (one would overwrite the other)."""
    seen: dict[str, str] = {}
    for option, path in pairs:
        if path is None:
            continue
        key = str(Path(path).resolve())
        if key in seen:
            raise InvalidInstanceError(option, f"names the same file as {seen[key]}")
        seen[key] = option


def writing(option: str, path: str, write) -> None:
    """Call ``write()``; an ``OSError`` becomes one line naming the option and the user's path
    (never an internal temporary file)."""
    try:
        write()
    except OSError as exc:
        raise InvalidInstanceError(option, f"cannot write {safe_text(str(path), 120)!r}: "
                                           f"{exc.strerror or type(exc).__name__}") from None


# --------------------------------------------------------------------------- stdout

def _check_finite(doc: Any, where: str = "document") -> None:
    if isinstance(doc, dict):
        for k, v in doc.items():
            _check_finite(v, f"{where}.{k}")
    elif isinstance(doc, (list, tuple)):
        for i, v in enumerate(doc):
            _check_finite(v, f"{where}[{i}]")
    elif isinstance(doc, np.ndarray):
        if doc.dtype.kind == "f" and not np.isfinite(doc).all():
            raise ValueError(f"{where}: non-finite number in a result document")
    elif isinstance(doc, float) and not math.isfinite(doc):
        raise ValueError(f"{where}: non-finite number in a result document")


def json_bytes(doc: dict, indent: bool = True) -> bytes:
    """A result document as JSON bytes (numpy arrays serialised directly; floats written so
    they read back exactly; non-finite numbers refused, as JSON has none)."""
    import orjson

    _check_finite(doc)
    option = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_APPEND_NEWLINE | (orjson.OPT_INDENT_2 if indent else 0)
    return orjson.dumps(doc, option=option)


def print_json(doc: dict, indent: bool = True) -> None:
    """Write a result document to stdout (binary, so a million-state policy is one write)."""
    data = json_bytes(doc, indent)
    sys.stdout.flush()
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is not None:
        buffer.write(data)
        buffer.flush()
    else:  # a text-only stream (e.g. an embedding that replaced sys.stdout)
        sys.stdout.write(data.decode("utf-8"))
    sys.stdout.flush()


def stdout_console():
    """A rich console on stdout, wide enough in logs and pipes that no id or number is cut."""
    from rich.console import Console
    console = Console()
    return console if console.is_terminal else Console(width=120)


def stderr_console():
    """A rich console on stderr (progress bars)."""
    from rich.console import Console
    return Console(stderr=True)
