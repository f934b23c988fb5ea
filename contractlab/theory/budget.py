"""Resource budgets: refuse work that cannot fit before allocating anything.

A hostile or mistaken input (a horizon of 10^9, a tree of depth 10^10, a ``.npz`` header that
declares 10^12 entries) must be refused with one line naming the field, not answered by a
``MemoryError`` or the kernel's OOM killer after minutes of swapping. Every place that is
about to allocate an amount that depends on user input estimates it first and calls
:func:`check_memory`.

The budget is :data:`DEFAULT_MAX_MEMORY` bytes unless raised (or lowered) by the environment
variable ``CONTRACTLAB_MAX_MEMORY`` or, on the command line, ``--max-memory`` (which sets that
variable for the process). Sizes are written like ``8GiB``, ``512MiB``, ``2e9`` or ``1000000``.
The limit on instance files read from disk is :data:`DEFAULT_MAX_FILE_BYTES`, likewise
``CONTRACTLAB_MAX_FILE_SIZE`` / ``--max-file-size``.
"""

from __future__ import annotations

import os
import re

from .errors import InvalidInstanceError

#: Default memory budget of one command or API call: 8 GiB (a third of the 24 GiB machines
#: the project is measured on; the depth-22 tree, 4.2 M states, needs about 2.5 GiB).
DEFAULT_MAX_MEMORY = 8 * 2**30

#: Default largest instance file (JSON, or one ``.npz`` sibling) that is read: 2 GiB.
DEFAULT_MAX_FILE_BYTES = 2 * 2**30

MEMORY_ENV = "CONTRACTLAB_MAX_MEMORY"
FILE_SIZE_ENV = "CONTRACTLAB_MAX_FILE_SIZE"

_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "kib": 2**10, "m": 10**6, "mb": 10**6, "mib": 2**20,
          "g": 10**9, "gb": 10**9, "gib": 2**30, "t": 10**12, "tb": 10**12, "tib": 2**40}


def parse_size(text: str, field: str = "size") -> int:
    """``"8GiB"`` -> 8589934592; ``"2e9"`` -> 2000000000. Raises :class:`InvalidInstanceError`."""
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]*)?(?:[eE][0-9]{1,2})?)\s*([A-Za-z]{0,3})\s*", str(text)[:64])
    if m is None or m.group(2).lower() not in _UNITS:
        raise InvalidInstanceError(field, f"expected a size such as 8GiB, 512MiB or 2e9, got {str(text)[:40]!r}")
    value = float(m.group(1)) * _UNITS[m.group(2).lower()]
    if not 1 <= value <= 2**62:
        raise InvalidInstanceError(field, f"must be between 1 byte and 2^62 bytes, got {str(text)[:40]!r}")
    return int(value)


def _from_env(name: str, default: int) -> int:
    text = os.environ.get(name)
    return default if not text else parse_size(text, name)


def max_memory() -> int:
    """The memory budget in bytes now in force."""
    return _from_env(MEMORY_ENV, DEFAULT_MAX_MEMORY)


def max_file_bytes() -> int:
    """The largest instance file (in bytes) that is read."""
    return _from_env(FILE_SIZE_ENV, DEFAULT_MAX_FILE_BYTES)


def format_bytes(n: float) -> str:
    """``1536`` -> ``"1.5 KiB"``; sizes beyond 1024 PiB in powers of two (``"2^70.0 B"``), so an
    absurd estimate still gives a short message."""
    if n >= 1024.0**6:
        import math
        return f"2^{math.log2(n):.1f} B" if math.isfinite(n) else "an unbounded amount of memory"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} PiB"  # pragma: no cover


def check_memory(field: str, nbytes: float, what: str = "this", budget: int | None = None) -> None:
    """Raise :class:`InvalidInstanceError` naming ``field`` if ``nbytes`` exceeds the budget.

    ``nbytes`` may be a float (an estimate computed from huge integers does not overflow).
    """
    limit = max_memory() if budget is None else budget
    if nbytes > limit:
        raise InvalidInstanceError(field, f"{what} would need about {format_bytes(nbytes)}, more than the memory "
                                          f"budget of {format_bytes(limit)} (raise it with --max-memory or "
                                          f"{MEMORY_ENV})")
