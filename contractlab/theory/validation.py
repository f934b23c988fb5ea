"""Turning user input into validated float arrays, with errors that name field and index."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from .errors import InvalidInstanceError

#: Default tolerance for "each row of a probability matrix sums to one".
PROB_SUM_TOL = 1e-9


def _shape_of(field: str, value: Any, ndim: int, index: tuple[int, ...] = ()) -> None:
    """Walk nested lists and raise at the first entry that breaks a rectangular shape."""
    if len(index) == ndim:
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
    if isinstance(value, np.ndarray) and value.dtype.kind in "iuf":
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
    bad = np.argwhere(~np.isfinite(arr))
    if bad.size:
        idx = tuple(int(i) for i in bad[0])
        raise InvalidInstanceError(field, f"value {float(arr[idx])!r} is not finite", idx)
    arr.setflags(write=False)
    return arr


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
    """Validate optional labels: ``expected`` distinct strings, or ``None``."""
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
        if name in seen:
            raise InvalidInstanceError(field, f"duplicate name {name!r} (also at index {seen[name]})", k)
        seen[name] = k
    return names
