"""Small helpers that turn loosely typed API values into plain Python values."""

from __future__ import annotations

import math
from typing import Any


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
    if is_missing(value):
        return None
    text = str(value).strip()
    return text or None


def to_float(value: Any) -> float | None:
    """A finite float, or None when the value is missing or not a number."""
    if is_missing(value) or isinstance(value, bool):
        return None
    try:
        number = float(str(value).strip().replace(",", ".")) if isinstance(value, str) else float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def to_int(value: Any) -> int | None:
    """An integer, or None when the value is missing or not a whole number."""
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
