"""Small helpers shared by the benchmark scripts that print tables over seeds."""

from __future__ import annotations

import argparse
import math
import sys

import numpy as np
from scipy import stats

from contractlab.theory.errors import InvalidInstanceError

#: Confidence level of the intervals the tables print.
LEVEL = 0.95

#: The most seeds a table script accepts (each seed trains for seconds at least).
MAX_SEEDS = 10_000


def ci(values, level: float = LEVEL) -> str:
    """``"mean ± half-width"`` of a Student-t interval over seeds (3 decimals); the mean alone for
    one value; ``—`` for none or for a non-finite value."""
    v = np.asarray(values, dtype=float)
    if v.size == 0 or not np.all(np.isfinite(v)):
        return "—"
    if v.size < 2:
        return f"{v.mean():.3f}"
    half = float(stats.t.ppf((1 + level) / 2, v.size - 1) * v.std(ddof=1) / math.sqrt(v.size))
    return f"{v.mean():.3f} ± {half:.3f}"


def log(msg: str) -> None:
    """A progress line on stderr (stdout holds only the table)."""
    print(msg, file=sys.stderr, flush=True)


def seed_list(count: int, minimum: int = 2) -> list[int]:
    """``[0, ..., count - 1]`` for ``--seeds count``, refused (naming the flag) outside
    ``[minimum, MAX_SEEDS]`` before anything is allocated; ``minimum`` 2 because an interval needs two."""
    if not minimum <= count <= MAX_SEEDS:
        raise InvalidInstanceError("--seeds", f"must be in [{minimum}, {MAX_SEEDS}], got {count}")
    return list(range(count))


def with_flags(make, flags: dict):
    """``make()`` (a learner config), with an invalid field renamed to the command-line flag that
    set it (``flags``: field -> flag), so the error line names what the user typed."""
    try:
        return make()
    except InvalidInstanceError as exc:
        if exc.field in flags:
            raise InvalidInstanceError(flags[exc.field], exc.reason, exc.index) from None
        raise


def parse_args_quick(ap: argparse.ArgumentParser, argv, **quick) -> argparse.Namespace:
    """``ap.parse_args(argv)`` where ``--quick`` changes the defaults to ``quick`` (field -> value):
    a flag the user typed still wins, so ``--quick --seeds 0`` is refused, not silently replaced."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--quick", action="store_true")
    if pre.parse_known_args(argv)[0].quick:
        ap.set_defaults(**quick)
    return ap.parse_args(argv)
