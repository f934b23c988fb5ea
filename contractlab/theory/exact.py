"""Exact rational data of an instance: numbers read as fractions, never rounded.

A contract problem read from JSON keeps, beside its float arrays, the numbers *as written*:
the decimal literal ``0.7`` is ``7/10`` (not the binary float nearest to it), and strings such
as ``"7/10"``, ``"0.7"`` or ``"1e-3"`` are accepted wherever a number is. The exact solver
(:mod:`contractlab.solvers.exact`) and the certificates (:mod:`contractlab.solvers.certify`)
read these; floats given through the API are exact rationals too (``Fraction(0.1)`` is the
binary value ``3602879701896397/36028797018963968``).

Bounds
------
Reading ``1e999999999`` exactly means computing ``10**999999999``, and a literal of a million
digits is a million-digit integer: both would hang. So a decimal number (a JSON literal, a
string, or a :class:`~decimal.Decimal`) is read exactly only with at most
:data:`MAX_EXACT_DIGITS` significant digits and its leading digit at a power of ten within
``±``:data:`MAX_EXACT_EXPONENT`; a fraction string ``"p/q"`` only with at most
:data:`MAX_FRACTION_DIGITS` digits in ``p`` and in ``q``; any number string only up to
:data:`MAX_NUMBER_CHARS` characters. Anything beyond is refused naming the field and index
(all such values are far outside what the float model, which must hold every entry, can use).
"""

from __future__ import annotations

import numbers
import re
from decimal import Decimal
from fractions import Fraction
from typing import Any

from .errors import InvalidInstanceError
from .validation import UnreadNumber, echo

#: Most significant digits of a decimal number read exactly.
MAX_EXACT_DIGITS = 100
#: Largest ``|e|`` of the leading digit ``d × 10^e`` of a decimal number read exactly.
MAX_EXACT_EXPONENT = 400
#: Most digits of ``p`` and of ``q`` in a fraction string ``"p/q"`` (``2^1074`` has 324).
MAX_FRACTION_DIGITS = 400
#: Longest number string (after stripping blanks).
MAX_NUMBER_CHARS = 1000
#: Most digits of an integer literal read as an integer (anything longer is beyond the float range).
MAX_INT_DIGITS = 400

_DECIMAL = re.compile(r"([+-]?)([0-9]*)(?:\.([0-9]*))?(?:[eE]([+-]?[0-9]+))?")
_RATIO = re.compile(r"([+-]?)([0-9]+)/([0-9]+)")
_HINT = "write it as a fraction string like '7/10'"


def decimal_problem(text: str) -> str | None:
    """Why the decimal literal ``text`` (``[+-]digits[.digits][e[+-]digits]``) is not read
    exactly, or ``None`` when it is within the bounds. Linear in ``len(text)``."""
    m = _DECIMAL.fullmatch(text)
    if m is None or not (m.group(2) or m.group(3)):
        return "not a decimal number"
    intpart, frac, exp = m.group(2), m.group(3) or "", m.group(4)
    digits = (intpart + frac).lstrip("0")
    if not digits:
        if exp is not None and len(exp.lstrip("+-").lstrip("0")) > 9:
            return f"number literal with an exponent of {len(exp)} digits (beyond ±{MAX_EXACT_EXPONENT})"
        return None
    if len(digits) > MAX_EXACT_DIGITS:
        return (f"number literal with {len(digits)} significant digits: more than {MAX_EXACT_DIGITS} are not "
                f"read exactly ({_HINT})")
    if exp is not None and len(exp.lstrip("+-").lstrip("0")) > 9:
        return f"number literal with an exponent of {len(exp)} digits (beyond ±{MAX_EXACT_EXPONENT})"
    e = int(exp) if exp is not None else 0
    lead = intpart.lstrip("0")
    adjusted = e + len(lead) - 1 if lead else e - (len(frac) - len(frac.lstrip("0"))) - 1
    if abs(adjusted) > MAX_EXACT_EXPONENT:
        return f"number literal of magnitude 1e{adjusted} (exponents beyond ±{MAX_EXACT_EXPONENT} are not read)"
    return None


def _decimal_fraction(text: str) -> Fraction:
    """The exact value of a decimal literal that :func:`decimal_problem` accepted."""
    m = _DECIMAL.fullmatch(text)
    sign, intpart, frac, exp = m.group(1), m.group(2), m.group(3) or "", m.group(4)
    digits = (intpart + frac).lstrip("0")
    if not digits:
        return Fraction(0)
    scale = (int(exp) if exp is not None else 0) - len(frac)
    value = Fraction(int(digits) * 10**scale) if scale >= 0 else Fraction(int(digits), 10**-scale)
    return -value if sign == "-" else value


def json_float(text: str) -> Decimal | UnreadNumber:
    """``parse_float`` hook of the exact JSON reader: a :class:`Decimal`, or an
    :class:`UnreadNumber` (refused later, naming the field and index) beyond the bounds."""
    why = decimal_problem(text)
    return Decimal(text) if why is None else UnreadNumber(why)


def json_int(text: str) -> int | UnreadNumber:
    """``parse_int`` hook of the JSON readers: an ``int``, or an :class:`UnreadNumber` for a
    literal of more than :data:`MAX_INT_DIGITS` digits (beyond the float range; never parsed)."""
    n = len(text) - (text[:1] == "-")
    if n > MAX_INT_DIGITS:
        return UnreadNumber(f"integer literal of {n} digits (beyond the float range)")
    return int(text)


def _string_fraction(field: str, value: str, index) -> Fraction:
    text = value.strip()
    if len(text) > MAX_NUMBER_CHARS:
        raise InvalidInstanceError(field, f"a string of {len(text)} characters is not a number", index)
    m = _RATIO.fullmatch(text)
    if m is not None:
        if max(len(m.group(2).lstrip("0")), len(m.group(3).lstrip("0"))) > MAX_FRACTION_DIGITS:
            raise InvalidInstanceError(field, f"fraction with more than {MAX_FRACTION_DIGITS} digits in its "
                                              "numerator or denominator", index)
        q = int(m.group(3))
        if q == 0:
            raise InvalidInstanceError(field, f"fraction {echo(value)} has denominator 0", index)
        p = int(m.group(2))
        return Fraction(-p if m.group(1) == "-" else p, q)
    why = decimal_problem(text)
    if why == "not a decimal number":
        raise InvalidInstanceError(field, f"expected a finite number or a fraction string like '7/10', got "
                                          f"{echo(value)}", index)
    if why is not None:
        raise InvalidInstanceError(field, why, index)
    return _decimal_fraction(text)


def to_fraction(field: str, value: Any, index: tuple[int, ...] = ()) -> Fraction:
    """``value`` as an exact :class:`~fractions.Fraction` (int, Fraction, Decimal, float, or a
    string ``"p/q"`` / decimal literal); a clear error naming ``field[index]`` otherwise,
    including for numbers beyond the bounds of the module docstring."""
    where = index or None
    if isinstance(value, bool):
        raise InvalidInstanceError(field, f"expected a number, got {value!r}", where)
    if type(value) is UnreadNumber:
        raise InvalidInstanceError(field, value.reason, where)
    if isinstance(value, str):
        return _string_fraction(field, value, where)
    try:
        if isinstance(value, Decimal):
            if not value.is_finite():
                raise ValueError
            sign, digits, _ = value.as_tuple()
            if len(digits) > MAX_EXACT_DIGITS or (any(digits) and abs(value.adjusted()) > MAX_EXACT_EXPONENT):
                raise InvalidInstanceError(field, f"decimal with {len(digits)} digits and magnitude "
                                                  f"1e{value.adjusted()} is beyond what is read exactly "
                                                  f"({MAX_EXACT_DIGITS} digits, exponents within "
                                                  f"±{MAX_EXACT_EXPONENT})", where)
            out = Fraction(value)
        elif isinstance(value, (Fraction, numbers.Integral)):
            out = Fraction(value)
        elif isinstance(value, numbers.Real):
            out = Fraction(float(value))
        else:
            raise TypeError
    except (ValueError, TypeError, OverflowError, ZeroDivisionError) as exc:
        if isinstance(exc, InvalidInstanceError):
            raise
        raise InvalidInstanceError(field, f"expected a finite number or a fraction string like '7/10', got "
                                          f"{echo(value)}", where) from None
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
