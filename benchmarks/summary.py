"""Small helpers shared by the benchmark scripts that print tables over seeds."""

from __future__ import annotations

import math
import sys

import numpy as np
from scipy import stats

#: Confidence level of the intervals the tables print.
LEVEL = 0.95


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
