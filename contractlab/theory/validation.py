"""Turning user input into validated float arrays, with errors that name field and index."""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from .errors import InvalidInstanceError

#: Default tolerance for "each row of a probability matrix sums to one".
PROB_SUM_TOL = 1e-9

#: Longest piece of user data (a name, a value, a field name from a file) echoed in a message.
ECHO_CHARS = 40


def echo(value: Any, limit: int = ECHO_CHARS) -> str:
    """``value`` as it may appear in a one-line error message: repr-like, at most about ``limit``
    characters (cut with ``…``), with control characters, terminal escapes and lone surrogates
    escaped (``\\x1b``, ``\\udcff``), and without building a huge repr of a huge object."""
    if isinstance(value, str):
        cut = len(value) > limit
        return repr(value[:limit]) + ("…" if cut else "")
    if isinstance(value, (bytes, bytearray)):
        cut = len(value) > limit
        return repr(bytes(value[:limit])) + ("…" if cut else "")
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, numbers.Integral) and not isinstance(value, np.integer):
        if int(value).bit_length() > 3 * limit:
            return f"an integer of about {int(int(value).bit_length() * 0.30103)} digits"
    if isinstance(value, (list, tuple, dict, set, frozenset)):
        return f"a {type(value).__name__} of {len(value)} item{'' if len(value) == 1 else 's'}"
    if isinstance(value, np.ndarray) and value.size > 4:
        return f"an array of shape {value.shape}"
    try:
        text = repr(value)
    except Exception:  # e.g. an object whose repr fails
        text = f"<{type(value).__name__}>"
    text = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text[: limit + 1])
    return text if len(text) <= limit else text[: limit - 1] + "…"


class UnreadNumber:
    """Stands for a JSON number literal that was not read because reading it exactly could not
    be done in bounded time and memory (say a million digits, or the exponent of ``1e999999999``).
    Validation refuses it with :attr:`reason`, naming the field and index where it sits."""

    __slots__ = ("reason",)

    def __init__(self, reason: str):
        self.reason = reason

    def __repr__(self) -> str:
        return f"<{self.reason}>"


def field_name(name: Any, limit: int = 60) -> str:
    """A field name that came from a file, as it can go into a one-line message: unchanged when
    it is short and printable, else escaped and cut like :func:`echo`."""
    if isinstance(name, str) and name.isprintable() and len(name) <= limit:
        return name
    return echo(name, limit)


def _shape_of(field: str, value: Any, ndim: int, index: tuple[int, ...] = ()) -> None:
    """Walk nested lists and raise at the first entry that breaks a rectangular shape."""
    if len(index) == ndim:
        if type(value) is UnreadNumber:
            raise InvalidInstanceError(field, value.reason, index)
        # numbers.Real covers numpy's integer and floating scalars, but not complex ones.
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
            raise InvalidInstanceError(field, f"expected a real number, got {type(value).__name__}", index)
        if isinstance(value, int):
            try:
                float(value)
            except OverflowError:
                raise InvalidInstanceError(field, "integer too large for a float", index) from None
        return
    if (isinstance(value, (str, bytes, dict)) or not hasattr(value, "__len__")
            or (isinstance(value, np.ndarray) and value.ndim == 0)):
        raise InvalidInstanceError(
            field, f"expected a list at depth {len(index)} of a {ndim}-d array, got {type(value).__name__}",
            index or None)
    for k, item in enumerate(value):
        _shape_of(field, item, ndim, index + (k,))


def as_float_array(field: str, value: Any, ndim: int) -> np.ndarray:
    """Return ``value`` as a read-only float64 array with ``ndim`` dimensions.

    Raises :class:`InvalidInstanceError` naming ``field`` and the index of the first entry
    that is not a finite real number, or the axis whose length is ragged or zero.
    """
    if isinstance(value, np.ndarray) and value.dtype == np.float64 and value.flags.c_contiguous and _frozen(value):
        arr = value  # immutable already (a validated array, or one just read from a .npz): no copy
        if arr.ndim != ndim:
            raise InvalidInstanceError(field, f"expected a {ndim}-d array, got {arr.ndim}-d with shape {arr.shape}")
    elif isinstance(value, np.ndarray) and value.dtype.kind in "iuf":
        with np.errstate(over="ignore", invalid="ignore"):  # e.g. float128 beyond float64: inf, refused below
            arr = np.array(value, dtype=np.float64)
        if arr.ndim != ndim:
            raise InvalidInstanceError(field, f"expected a {ndim}-d array, got {arr.ndim}-d with shape {arr.shape}")
    else:
        _shape_of(field, value, ndim)
        try:
            arr = np.array(value, dtype=np.float64)
        except ValueError:
            arr = None
        if arr is None or arr.ndim != ndim:
            # ragged: find the first row whose length differs from the first row's
            _raise_ragged(field, value, ndim)
    for axis, size in enumerate(arr.shape):
        if size == 0:
            raise InvalidInstanceError(field, f"axis {axis} is empty (length 0)")
    if not np.isfinite(arr).all():
        idx = tuple(int(i) for i in np.argwhere(~np.isfinite(arr))[0])
        raise InvalidInstanceError(field, f"value {float(arr[idx])!r} is not finite", idx)
    arr.setflags(write=False)
    return arr


def _frozen(arr: np.ndarray) -> bool:
    """``True`` when nobody can write to ``arr``'s memory without first turning a flag back on:
    ``arr`` and every array it is a view of are read-only, down to the one that owns the data."""
    while isinstance(arr, np.ndarray):
        if arr.flags.writeable:
            return False
        if arr.base is None:
            return True
        arr = arr.base
    return False


def _raise_ragged(field: str, value: Any, ndim: int, index: tuple[int, ...] = ()) -> None:
    if len(index) == ndim - 1:
        return
    lengths = [len(v) for v in value]
    for k, length in enumerate(lengths):
        if length != lengths[0]:
            raise InvalidInstanceError(
                field, f"ragged array: length {length} where index {index + (0,)} has {lengths[0]}", index + (k,))
    for k, item in enumerate(value):
        _raise_ragged(field, item, ndim, index + (k,))
    raise InvalidInstanceError(field, "not a rectangular array")


def check_probability_rows(field: str, probs: np.ndarray, tol: float = PROB_SUM_TOL) -> None:
    """Check that every entry is >= 0 and every row (last axis) sums to one within ``tol``."""
    neg = np.argwhere(probs < 0)
    if neg.size:
        idx = tuple(int(i) for i in neg[0])
        raise InvalidInstanceError(field, f"probability {float(probs[idx])!r} is negative", idx)
    sums = probs.sum(axis=-1)
    off = np.argwhere(np.abs(sums - 1.0) > tol)
    if off.size:
        idx = tuple(int(i) for i in off[0])
        raise InvalidInstanceError(field, f"row sums to {float(sums[idx])!r}, not 1 (tolerance {tol:g})", idx)


def check_names(field: str, names: Any, expected: int) -> tuple[str, ...] | None:
    """Validate optional labels: ``expected`` distinct strings, or ``None``.

    Names are printed in tables and messages, so each must be printable (``str.isprintable``):
    no control characters, no terminal escape sequences (``\\x1b[31m``), no lone surrogates,
    no line or paragraph separators.
    """
    if names is None:
        return None
    if (isinstance(names, (str, bytes, dict)) or not hasattr(names, "__len__")
            or (isinstance(names, np.ndarray) and names.ndim == 0)):
        raise InvalidInstanceError(field, "expected a list of strings")
    names = tuple(names)
    if len(names) != expected:
        raise InvalidInstanceError(field, f"has {len(names)} names, expected {expected}")
    seen: dict[str, int] = {}
    for k, name in enumerate(names):
        if not isinstance(name, str):
            raise InvalidInstanceError(field, f"expected a string, got {type(name).__name__}", k)
        if not name.isprintable():
            raise InvalidInstanceError(field, f"name {echo(name)} is not printable (control characters, terminal "
                                              "escapes or lone surrogates are refused)", k)
        if name in seen:
            raise InvalidInstanceError(field, f"duplicate name {echo(name)} (also at index {seen[name]})", k)
        seen[name] = k
    return names


def check_real(name: str, value: Any, low: float, high: float | None = None, low_open: bool = False,
               allow_none: bool = False) -> float | None:
    """``value`` as a finite ``float`` in ``[low, high]`` (``(low, high]`` with ``low_open``; ``None``
    passes through with ``allow_none``); otherwise :class:`InvalidInstanceError` naming ``name``."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
        raise InvalidInstanceError(name, f"must be a finite number, got {value!r}")
    v = float(value)
    if (v <= low if low_open else v < low) or (high is not None and v > high):
        lo = f"> {low:g}" if low_open else f">= {low:g}"
        raise InvalidInstanceError(name, f"must be {lo}" + ("" if high is None else f" and <= {high:g}")
                                   + f", got {value!r}")
    return v
