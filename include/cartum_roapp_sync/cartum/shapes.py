"""Cartum answers read the same whichever way the live API shapes them. Where the public
sources disagree (``shared/contracts/cartum-api.md``) both shapes are accepted here, in one
place, and turned into one:

- an order's ``user`` (the registered buyer): a plain number, the user id (the API docs
  and the webhook sample, ``"user": 99``), a numeric string, or an object ``{id, ...}``
  (what this project's first contract said) → the id; ``null``, ``0``, ``""`` or anything
  without a positive id → ``None`` (a guest);
- an HTML answer is a JS challenge of a bot filter when it carries one of
  ``assumptions.CARTUM_CHALLENGE_MARKERS`` (a plain error page of a web server does not).

Pure functions, no I/O.
"""

from __future__ import annotations

from typing import Any

from .. import assumptions

#: The one key of the object ``object_rows`` wraps a non-object record in.
RAW_ROW = "_cartum_raw_row"

#: How much of an HTML page is searched for a challenge marker (such pages are small).
CHALLENGE_SNIFF_BYTES = 8192


def user_id(value: Any) -> int | None:
    """The registered buyer's id from an order's ``user``, whatever its shape; None for a guest."""
    if isinstance(value, dict):
        value = value.get("id")
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and value.strip().isdigit():
        number = int(value.strip())
    else:
        return None
    return number if number > 0 else None


def order_user_id(order: dict[str, Any]) -> int | None:
    """The registered buyer's id of a Cartum order (``assumptions.CARTUM_ORDER_USER_FIELD``)."""
    return user_id(order.get(assumptions.CARTUM_ORDER_USER_FIELD))


def object_rows(rows: Any) -> list[dict[str, Any]]:
    """A page's records, each an object: a non-object one (``null``, a text, a list) is
    carried as ``{RAW_ROW: value}`` so that paging code can look at every row, and the
    boundary (``records.parse``) quarantines it as it came."""
    return [row if isinstance(row, dict) else {RAW_ROW: row} for row in rows]


def row_identity(row: dict[str, Any], key: str) -> Any:
    """What tells a page's record from the others: its ``key`` when usable, else its content
    (two records without an id are two records, not one)."""
    value = row.get(key)
    if value is not None and not isinstance(value, (bool, float)):
        try:
            hash(value)
            return value
        except TypeError:
            pass
    return ("content", repr(sorted(row.items(), key=lambda item: str(item[0]))))


def value_shape(value: Any) -> str:
    """A value's shape for a report, never the value: ``null``, ``bool``, ``number``,
    ``string``, ``list`` or ``object{keys}``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "object{" + ",".join(sorted(map(str, value))) + "}"
    return "list" if isinstance(value, list) else type(value).__name__


def user_shape(value: Any) -> str:
    """How an order's ``user`` is shaped (``value_shape``, telling a numeric string and an
    empty one from other strings), for the probe's evidence."""
    if isinstance(value, str):
        return "numeric string" if value.strip().isdigit() else ("empty string" if not value.strip() else "string")
    return value_shape(value)


def is_challenge_page(body: bytes) -> bool:
    """True for an HTML page that asks the client to run JavaScript (a bot filter's
    challenge), False for an ordinary error page."""
    head = body[:CHALLENGE_SNIFF_BYTES].lower()
    return any(marker.encode() in head for marker in assumptions.CARTUM_CHALLENGE_MARKERS)
