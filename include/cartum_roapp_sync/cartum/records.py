"""The boundary: every record Cartum returns is parsed here, once, before any other code
of the sync touches it. It parses, it does not trust.

One schema per source (``ORDER``, ``PRODUCT``, ``CUSTOMER``), derived from the entity
declarations (``entities``): the key the entity follows, the cursor field and, for orders,
the lines (``ORDERS.lines``). A record passes when

- it is an object;
- its key is an exact integer (order ``order_id``, customer ``id``: an int, or a text of
  digits, 1 … 2^63-1; ``"A-9104"``, ``1069.5``, ``2**63``, a missing one are refused, never
  truncated) or, for a product, a non-blank article of at most ``CARTUM_ARTICLE_MAX``
  characters;
- its cursor time (``stat_created``, ``registered``) parses as ``YYYY-MM-DD HH:MM:SS`` and
  lies no more than ``CARTUM_FUTURE_TOLERANCE_MINUTES`` in the future of the store's
  clock (required for orders, checked when present for customers);
- its amounts and quantities are numbers, or texts read unambiguously
  (``transform.values.number_text``: ``"1,299"`` is refused);
- an order has at least one line, and every line is an object with an article: an order
  is loaded whole or held whole.

A record that passes comes out with its texts cleaned (NUL, other control characters and
lone surrogates removed, lengths cut to ``ROAPP_TEXT_CAPS``) and its key as an int;
nothing else changes. One that does not becomes a ``Held`` record: its key (or
``sha256:…`` of its content when it has no usable key), a reason a person can act on,
and the record (cut when huge) for the quarantine. Nothing here raises on input.
Pure functions, no I/O.
"""

from __future__ import annotations

import hashlib
import json
import math
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Iterable

from .. import assumptions
from ..entities import CLIENTS, ORDERS, PRODUCTS
from ..transform.values import is_ambiguous_number, number_text
from .shapes import RAW_ROW, value_shape

CARTUM_TIME = "%Y-%m-%d %H:%M:%S"
MAX_ID = 2**63 - 1
#: A held record larger than this (as JSON) is kept in the quarantine only as its start.
HELD_RECORD_MAX_CHARS = 20_000
_KEPT_CONTROLS = {"\n", "\t"}


@dataclass(frozen=True)
class Schema:
    """What a Cartum record of one source must look like."""

    source: str                  # "orders", "products", "customers" (the extract's name)
    entity: str                  # the entity its quarantine rows belong to
    key: str                     # the Cartum field that identifies it
    key_kind: str                # "int" (exact integer id) or "article"
    time: str | None = None      # the cursor field it carries
    time_required: bool = False
    numbers: tuple[str, ...] = ()
    lines: str | None = None     # the field holding the order's lines
    line_numbers: tuple[str, ...] = ()


ORDER = Schema("orders", ORDERS.name, ORDERS.key, "int", time=ORDERS.cursor.field, time_required=True,
               numbers=("total_sum", "delivery_price"), lines="products",
               line_numbers=tuple(f for f in ORDERS.lines.fields if f in ("quantity", "price", "discount")))
PRODUCT = Schema("products", PRODUCTS.name, "article", "article", numbers=("price",))
CUSTOMER = Schema("customers", CLIENTS.name, "id", "int", time=CLIENTS.cursor.field)
SCHEMAS = {s.source: s for s in (ORDER, PRODUCT, CUSTOMER)}


@dataclass
class Held:
    """A record the boundary refused: quarantined under ``entity``/``key`` with ``reason``."""

    entity: str
    key: str
    reason: str
    record: Any
    time: str | None = None      # its sane cursor time, when it has one and a usable key


@dataclass
class Parsed:
    good: list[dict[str, Any]] = field(default_factory=list)
    held: list[Held] = field(default_factory=list)

    @property
    def held_keys(self) -> set[str]:
        return {h.key for h in self.held}


class Refused(Exception):
    """Why a record does not pass (only inside this module)."""


def parse(source: str, rows: Iterable[Any], store_now: datetime) -> Parsed:
    """Split Cartum records of ``source`` into good (cleaned) and held ones. ``store_now``:
    the store's local wall-clock time, for the future check. Never raises on a record."""
    schema = SCHEMAS[source]
    result = Parsed()
    latest = store_now + timedelta(minutes=assumptions.CARTUM_FUTURE_TOLERANCE_MINUTES)
    for row in rows:
        key = None
        if isinstance(row, dict) and set(row) == {RAW_ROW}:
            row = row[RAW_ROW]   # a non-object the client carried through (``shapes.object_rows``)
        try:
            if not isinstance(row, dict):
                raise Refused(f"Cartum returned a{'n' if source[0] in 'aeiou' else ''} {source[:-1]} that is "
                              f"{value_shape(row)}, not an object: a broken record, check the store's data in "
                              f"Cartum (or ask Cartum support)")
            key = _key(schema, row)
            time = _time(schema, row, latest)
            _numbers(schema.numbers, row, "")
            if schema.lines:
                _lines(schema, row)
            good = clean(row)
            if schema.key_kind == "int":
                good[schema.key] = int(key)   # a text of digits becomes the number it is
            result.good.append(good)
        except Refused as refused:
            time = _sane_time(schema, row, latest) if key is not None else None
            result.held.append(Held(schema.entity, _held_key(schema, key, row), str(refused), held_record(row), time))
        except Exception as exc:  # a shape nobody foresaw: held, never raised out of a step
            result.held.append(Held(schema.entity, _held_key(schema, key, row),
                                    f"the record could not be read ({type(exc).__name__}): check it in Cartum",
                                    held_record(row)))
    return result


def _held_key(schema: Schema, key: str | None, row: Any) -> str:
    """The quarantine key: the order id or article as it is; a customer's id as
    ``cartum_user:<id>`` (client keys are phones and e-mails); ``sha256:…`` without one."""
    if key is None:
        return content_key(row)
    return f"cartum_user:{key}" if schema is CUSTOMER else key


# --- the checks ---------------------------------------------------------------------------


def exact_id(value: Any) -> int | None:
    """An id as an exact int: an int (not a bool) or a text of digits, 1 … 2^63-1; else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        number = int(value.strip())
    else:
        return None
    return number if 0 < number <= MAX_ID else None


def _key(schema: Schema, row: dict[str, Any]) -> str:
    value = row.get(schema.key)
    if schema.key_kind == "int":
        number = exact_id(value)
        if number is None:
            what = "missing" if value is None else f"{_show(value)}, not a whole number from 1 to 2^63-1"
            raise Refused(f"{schema.key} is {what}: the record cannot be told apart from others, so it is "
                          f"not synced; correct it in Cartum")
        return str(number)
    text = value if isinstance(value, str) else str(value) if isinstance(value, int) and not isinstance(
        value, bool) else None
    text = clean_text(text).strip() if text is not None else None
    if not text:
        raise Refused(f"the product has no article ({_show(value)}): give it one in Cartum's catalogue")
    if len(text) > assumptions.CARTUM_ARTICLE_MAX:
        raise Refused(f"the article is {len(text)} characters long, more than {assumptions.CARTUM_ARTICLE_MAX}: "
                      f"shorten it in Cartum's catalogue")
    return text


def parse_time(value: Any) -> datetime | None:
    """A Cartum time ``YYYY-MM-DD HH:MM:SS``, or None when it is not one."""
    if not isinstance(value, str) or len(value) != 19:
        return None
    try:
        return datetime.strptime(value, CARTUM_TIME)
    except ValueError:
        return None


def _time(schema: Schema, row: dict[str, Any], latest: datetime) -> str | None:
    if schema.time is None:
        return None
    value = row.get(schema.time)
    if value in (None, "") and not schema.time_required:
        return None
    at = parse_time(value)
    if at is None:
        raise Refused(f"{schema.time} is {_show(value)}, not a time like 2026-11-30 10:00:00: the record is "
                      f"held and its time kept out of the sync's cursor; correct it in Cartum")
    if at > latest:
        raise Refused(f"{schema.time} {value} lies in the future of the store's clock (more than "
                      f"{assumptions.CARTUM_FUTURE_TOLERANCE_MINUTES} min ahead): the record is held and its time "
                      f"kept out of the sync's cursor; correct the time in Cartum")
    return value


def _sane_time(schema: Schema, row: Any, latest: datetime) -> str | None:
    try:
        return _time(schema, row, latest)
    except Refused:
        return None


def _numbers(names: Iterable[str], row: dict[str, Any], where: str) -> None:
    for name in names:
        value = row.get(name)
        if value is None or isinstance(value, bool):
            continue
        if isinstance(value, (int, float)):
            if isinstance(value, float) and not math.isfinite(value):
                raise Refused(f"{where}{name} is {value!r}, not a number: correct it in Cartum")
            continue
        if isinstance(value, str):
            if is_ambiguous_number(value):
                raise Refused(f"{where}{name} {value!r} is ambiguous (a thousands or a decimal comma?): write it "
                              f"without a thousands separator in Cartum, e.g. 1299 or 1.299")
            if value.strip() == "" or number_text(value) is not None:
                continue
        raise Refused(f"{where}{name} is {_show(value)}, not a number: correct it in Cartum")


def _lines(schema: Schema, row: dict[str, Any]) -> None:
    lines = row.get(schema.lines)
    if lines is None or lines == []:
        raise Refused(f"the order has no lines ({schema.lines} is {_show(lines)}): an order is synced whole, "
                      f"so it is held until its goods are in Cartum")
    if not isinstance(lines, list):
        raise Refused(f"the order's {schema.lines} is {value_shape(lines)}, not a list of lines: the order is held "
                      f"whole; check it in Cartum")
    for position, line in enumerate(lines, start=1):
        where = f"line {position}: "
        if not isinstance(line, dict):
            raise Refused(f"{where}the line is {value_shape(line)}, not an object: the order is held whole; check "
                          f"it in Cartum")
        article = line.get("article")
        text = clean_text(str(article)).strip() if isinstance(article, (str, int)) and not isinstance(
            article, bool) else ""
        if not text:
            raise Refused(f"{where}the line has no article ({_show(article)}): the order is held whole (never "
                          f"loaded without it); give the product an article in Cartum")
        if len(text) > assumptions.CARTUM_ARTICLE_MAX:
            raise Refused(f"{where}the article is longer than {assumptions.CARTUM_ARTICLE_MAX} characters: the "
                          f"order is held whole; shorten it in Cartum's catalogue")
        _numbers(schema.line_numbers, line, where)


# --- cleaning --------------------------------------------------------------------------------


def clean_text(text: str, cap: int | None = None) -> str:
    """``text`` without NUL, other control characters (tab and newline kept) and lone
    surrogates (they break PostgreSQL and UTF-8), cut to ``cap`` characters."""
    if text.isprintable() and (cap is None or len(text) <= cap):
        return text
    kept = "".join(ch for ch in text if ch in _KEPT_CONTROLS or unicodedata.category(ch) not in ("Cc", "Cs"))
    return kept[:cap] if cap is not None else kept


def clean(value: Any, name: str | None = None) -> Any:
    """A record with every text cleaned (``clean_text``, capped per field name by
    ``ROAPP_TEXT_CAPS``); dict keys are cleaned too. Everything else as it is."""
    if isinstance(value, str):
        cap = assumptions.ROAPP_TEXT_CAPS.get(name or "", assumptions.ROAPP_TEXT_CAP_DEFAULT)
        return clean_text(value, cap)
    if isinstance(value, dict):
        return {clean_text(str(k)): clean(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [clean(v, name) for v in value]
    return value


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=True, default=repr)


def content_key(row: Any) -> str:
    """A stable key for a record without a usable id: ``sha256:`` and 16 hex digits of its
    canonical JSON."""
    return "sha256:" + hashlib.sha256(_json(row).encode()).hexdigest()[:16]


def held_record(row: Any) -> Any:
    """The record as the quarantine keeps it: cleaned, and only its start when huge."""
    try:
        text = _json(row)
    except (ValueError, RecursionError):
        return {"unreadable": True}
    if len(text) > HELD_RECORD_MAX_CHARS:
        return {"truncated": True, "chars": len(text), "start": clean_text(text[:2000])}
    return clean(json.loads(text))


def _show(value: Any) -> str:
    """A value for a reason: short texts and numbers as they are, the rest by shape."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return repr(value) if len(repr(value)) <= 40 else f"a number of {len(str(value))} digits"
    if isinstance(value, str):
        return repr(clean_text(value, 60)) + ("…" if len(value) > 60 else "")
    return "an empty list" if value == [] else value_shape(value)


__all__ = ["CARTUM_TIME", "CUSTOMER", "Held", "ORDER", "PRODUCT", "Parsed", "SCHEMAS", "Schema", "clean",
           "clean_text", "content_key", "exact_id", "held_record", "parse", "parse_time"]
