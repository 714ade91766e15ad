"""Small helpers that turn loosely typed API values into plain Python values."""

from __future__ import annotations

import math
import re
from typing import Any

# Plain "1299", "-12.5"; a decimal comma "12,5" / "12,50"; thousands commas with a decimal
# point "1,299.50" or several of them "1,299,000". "1,299" alone is ambiguous (1299 with a
# thousands comma, or 1.299 with a decimal one) and is not read at all.
_PLAIN = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?")
_DECIMAL_COMMA = re.compile(r"[+-]?[0-9]+,[0-9]+")
_THOUSANDS_POINT = re.compile(r"[+-]?[0-9]{1,3}(,[0-9]{3})+\.[0-9]+")
_THOUSANDS_ONLY = re.compile(r"[+-]?[0-9]{1,3}(,[0-9]{3}){2,}")
_WHOLE = re.compile(r"[+-]?[0-9]+")
_AMBIGUOUS = re.compile(r"[+-]?[0-9]{1,3},[0-9]{3}")


def is_missing(value: Any) -> bool:
    """True for None, NaN (float or numpy) and pandas' NA/NaT: all mean "no value"."""
    if value is None:
        return True
    try:
        return bool(value != value)  # NaN, NaT and pd.NA are the values not equal to themselves
    except (TypeError, ValueError):  # pd.NA raises on bool(); arrays are values, not missing
        return value.__class__.__name__ == "NAType"


def clean_text(value: Any) -> str | None:
    """The value as stripped text, or None when it is missing or blank."""
    if type(value) is str:   # the usual case, and never missing
        return value.strip() or None
    if is_missing(value):
        return None
    text = str(value).strip()
    return text or None


def number_text(text: str) -> float | None:
    """A number written as text, read only when unambiguous: ``"1299"``, ``"12,5"`` (a
    decimal comma), ``"1,299.50"`` and ``"1,299,000"`` (thousands commas). ``"1,299"``
    (1299 or 1.299?), letters, spaces inside and anything else give None."""
    text = text.strip()
    if _PLAIN.fullmatch(text):
        return float(text)
    if _THOUSANDS_POINT.fullmatch(text) or _THOUSANDS_ONLY.fullmatch(text):
        return float(text.replace(",", ""))
    if _DECIMAL_COMMA.fullmatch(text) and not _AMBIGUOUS.fullmatch(text):
        return float(text.replace(",", "."))
    return None


def is_ambiguous_number(value: Any) -> bool:
    """``"1,299"``: a thousands comma or a decimal one, nobody can tell."""
    return isinstance(value, str) and bool(_AMBIGUOUS.fullmatch(value.strip()))


def to_float(value: Any) -> float | None:
    """A finite float, or None when the value is missing or not a number (a text is read
    strictly, ``number_text``)."""
    kind = type(value)
    if kind is float:   # the usual cases first, with the same outcome as below
        return value if math.isfinite(value) else None
    if kind is int:
        try:
            return float(value)
        except OverflowError:
            return None
    if is_missing(value) or isinstance(value, bool):
        return None
    try:
        number = number_text(value) if isinstance(value, str) else float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if number is not None and math.isfinite(number) else None


def to_int(value: Any) -> int | None:
    """An integer, or None when the value is missing or not a whole number. An int or a
    text of digits is read exactly (no float round trip: 2^62 + 1 stays itself)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _WHOLE.fullmatch(value.strip()):
        return int(value.strip())
    number = to_float(value)
    return int(number) if number is not None and number.is_integer() else None


def to_flag(value: Any) -> bool:
    """Cartum's 0/1 flags (also "0"/"1", true/false) as a bool; missing means False."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes"}
    number = to_float(value)
    return bool(number) if number is not None else False


def plain_number(value: float | None) -> int | float | None:
    """Whole floats as ints (``100.0`` → ``100``) so equal amounts look and hash the same."""
    if value is not None and float(value).is_integer():
        return int(value)
    return value
