"""Exact rational data of an instance: numbers read as fractions, never rounded.

A contract problem read from JSON keeps, beside its float arrays, the numbers *as written*:
the decimal literal ``0.7`` is ``7/10`` (not the binary float nearest to it), and strings such
as ``"7/10"``, ``"0.7"`` or ``"1e-3"`` are accepted wherever a number is. The exact solver
(:mod:`contractlab.solvers.exact`) and the certificates (:mod:`contractlab.solvers.certify`)
read these; floats given through the API are exact rationals too (``Fraction(0.1)`` is the
binary value ``3602879701896397/36028797018963968``).
"""

from __future__ import annotations

import numbers
from decimal import Decimal
from fractions import Fraction
from typing import Any

from .errors import InvalidInstanceError


def to_fraction(field: str, value: Any, index: tuple[int, ...] = ()) -> Fraction:
    """``value`` as an exact :class:`~fractions.Fraction` (int, Fraction, Decimal, float, or a
    string ``"p/q"`` / decimal literal); a clear error naming ``field[index]`` otherwise."""
    if isinstance(value, bool):
        raise InvalidInstanceError(field, f"expected a number, got {value!r}", index or None)
    try:
        if isinstance(value, (Fraction, numbers.Integral, Decimal)):
            out = Fraction(value)
        elif isinstance(value, numbers.Real):
            out = Fraction(float(value))
        elif isinstance(value, str):
            out = Fraction(value.strip())
        else:
            raise TypeError
    except (ValueError, TypeError, OverflowError, ZeroDivisionError):
        raise InvalidInstanceError(field, f"expected a finite number or a fraction string like '7/10', got {value!r}",
                                   index or None) from None
    return out


def exact_array(field: str, value: Any, ndim: int) -> tuple:
    """A nested tuple of Fractions of depth ``ndim`` (shape checks are left to the float model).

    Every entry must also fit a float (``|x| < 1.8e308``): the float model is built from them.
    """
    def walk(v, depth: int, index: tuple[int, ...]):
        if depth == 0:
            if isinstance(v, (list, tuple)):
                raise InvalidInstanceError(field, f"expected a {ndim}-d array (too deeply nested)", index or None)
            x = to_fraction(field, v, index)
            try:
                float(x)
            except OverflowError:
                raise InvalidInstanceError(field, "value is not finite (beyond the float range)", index or None) from None
            return x
        if not isinstance(v, (list, tuple)):
            raise InvalidInstanceError(field, f"expected a {ndim}-d array", index or None)
        return tuple(walk(x, depth - 1, index + (i,)) for i, x in enumerate(v))
    if hasattr(value, "tolist") and not isinstance(value, (list, tuple)):
        value = value.tolist()
    return walk(value, ndim, ())


def to_floats(exact: tuple) -> list:
    """The nearest floats (``float(Fraction)`` rounds correctly), as nested lists."""
    if isinstance(exact, tuple):
        return [to_floats(x) for x in exact]
    return float(exact)


def fraction_str(x: Fraction) -> str:
    """``"p/q"`` (or ``"p"`` for an integer): the JSON form of an exact value."""
    return str(x)
