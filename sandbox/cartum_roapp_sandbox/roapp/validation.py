"""Request checking for the RO App sandbox: API errors, body field checks, query
filters (repeated ``key[]`` parameters), timestamps and the two list formats."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Collection, Iterable
from datetime import datetime, timedelta, timezone
from typing import Any

from ..server import Response

PAGE_SIZE = 50
LIST_FORMATS = ("count", "paging")


class ApiError(Exception):
    """An error answer: ``{"message": ..., "errors": {field: [...]}}`` (errors only when given)."""

    def __init__(self, status: int, message: str, errors: dict[str, list[str]] | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.errors, self.headers = status, message, errors, headers or {}

    def response(self) -> Response:
        body: dict[str, Any] = {"message": self.message}
        if self.errors is not None:
            body["errors"] = self.errors
        return Response(self.status, body, headers=self.headers)


def invalid(errors: dict[str, list[str]]) -> ApiError:
    return ApiError(422, "The given data was invalid.", errors)


class Invalid(ValueError):
    """One field's value is wrong; the message names what it should be."""


# --- timestamps -----------------------------------------------------------------------

def format_ts(moment: datetime) -> str:
    """ISO-8601 UTC with milliseconds, e.g. ``2025-03-01T09:30:00.123Z``."""
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_ts(text: Any) -> datetime:
    """An ISO-8601 date or date-time; one without a zone is taken as UTC."""
    if not isinstance(text, str):
        raise Invalid("must be an ISO-8601 date-time string")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise Invalid(f"{text!r} is not an ISO-8601 date-time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


class Clock:
    """Wall-clock time that never repeats a millisecond, so ``modified_at`` visibly moves
    on every change even when two changes land in the same millisecond."""

    def __init__(self) -> None:
        self._last: datetime | None = None

    def tick(self) -> str:
        now = datetime.now(timezone.utc)
        now = now.replace(microsecond=now.microsecond // 1000 * 1000)
        if self._last is not None and now <= self._last:
            now = self._last + timedelta(milliseconds=1)
        self._last = now
        return format_ts(now)


# --- body fields ------------------------------------------------------------------------

Check = Callable[[Any], Any]


def checked(body: dict[str, Any], checks: dict[str, Check], required: Iterable[str] = (),
            partial: bool = False) -> dict[str, Any]:
    """The known fields of ``body``, each passed through its check. Missing required
    fields (only on create, ``partial=False``) and bad values answer 422 naming every
    offending field. Unknown fields are ignored, as the real API does."""
    errors: dict[str, list[str]] = {}
    for name in required:
        if (name not in body and not partial) or (name in body and body[name] in (None, "")):
            errors[name] = [f"The {name} field is required."]
    clean = {}
    for name, check in checks.items():
        if name in body and name not in errors:
            try:
                clean[name] = check(body[name])
            except Invalid as exc:
                errors[name] = [f"The {name} field {exc}."]
    if errors:
        raise invalid(errors)
    return clean


def optional(check: Check) -> Check:
    return lambda value: None if value is None else check(value)


def text(value: Any) -> str:
    if not isinstance(value, str):
        raise Invalid("must be a string")
    return value


def number(value: Any) -> float | int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise Invalid("must be a number")
    return value


def positive(value: Any) -> float | int:
    if number(value) <= 0:
        raise Invalid("must be greater than 0")
    return value


def flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise Invalid("must be true or false")
    return value


def timestamp(value: Any) -> str:
    return format_ts(parse_ts(value))


def zoned_timestamp(value: Any) -> bool:
    """An ISO-8601 date-time that states its zone (``Z`` or an offset)."""
    if not isinstance(value, str) or "T" not in value:
        return False
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).tzinfo is not None
    except ValueError:
        return False


def visibility(value: Any) -> str:
    if value not in ("public", "private"):
        raise Invalid('must be "public" or "private"')
    return value


def prices(value: Any) -> list[dict[str, Any]]:
    """``[{"id"?: price type id, "price": number}]``."""
    if not isinstance(value, list) or not all(isinstance(p, dict) and "price" in p for p in value):
        raise Invalid('must be a list of {"id", "price"} objects')
    for entry in value:
        number(entry["price"])
        if "id" in entry and (isinstance(entry["id"], bool) or not isinstance(entry["id"], int)):
            raise Invalid("price type ids must be integers")
    return [dict(p) for p in value]


def reference(known: Callable[[], Collection[int]], what: str) -> Check:
    """An id that must name an existing ``what``; ``known`` is read at check time."""
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise Invalid("must be an integer id")
        if value not in known():
            raise Invalid(f"names no existing {what} (id {value})")
        return value
    return check


def strings(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise Invalid("must be a list of strings")
    return list(value)


def phones(value: Any) -> list[dict[str, str]]:
    if not isinstance(value, list) or not all(
            isinstance(p, dict) and isinstance(p.get("phone"), str) and p["phone"].strip() for p in value):
        raise Invalid('must be a list of {"phone": "..."} objects')
    return [{"phone": p["phone"]} for p in value]


DISCOUNT_TYPES = ("value", "percentage")  # [assumed]: the contract names the fields, not the types


def discount(value: Any) -> dict[str, Any]:
    """``{type, percentage, amount}``: ``type`` "value" (a fixed ``amount`` for the whole
    item) or "percentage" (``percentage`` of price × quantity, 0–100); without a type the
    amount counts when it is not 0, else the percentage. Whether it fits the item is
    :func:`item_discount`'s check."""
    if not isinstance(value, dict):
        raise Invalid("must be an object {type, percentage, amount}")
    out = {"type": value.get("type"), "percentage": value.get("percentage") or 0, "amount": value.get("amount") or 0}
    if out["type"] is not None and out["type"] not in DISCOUNT_TYPES:
        raise Invalid(f"type must be one of {', '.join(DISCOUNT_TYPES)}")
    for name in ("percentage", "amount"):
        try:
            number(out[name])
        except Invalid:
            raise Invalid(f"{name} must be a number") from None
        if out[name] < 0:
            raise Invalid(f"{name} must not be negative")
    if out["percentage"] > 100:
        raise Invalid("percentage must not be above 100")
    return out


def item_discount(item: dict[str, Any]) -> float:
    """The discount of an item as an amount (cents rounded) for its whole quantity."""
    found = item.get("discount")
    if not found:
        return 0.0
    whole = float(item.get("price") or 0) * float(item.get("quantity") or 0)
    by_percentage = found.get("type") == "percentage" or (found.get("type") is None and not found.get("amount"))
    return round(whole * found["percentage"] / 100 if by_percentage else float(found["amount"]), 2)


def check_item_discount(item: dict[str, Any]) -> None:
    """422 naming ``discount`` when the item's discount is more than its price × quantity."""
    whole = round(float(item.get("price") or 0) * float(item.get("quantity") or 0), 2)
    if item_discount(item) > whole:
        raise invalid({"discount": [f"The discount {item_discount(item):g} is more than the item's amount "
                                    f"{whole:g} (price × quantity)."]})


def order_totals(items: Iterable[dict[str, Any]]) -> dict[str, float]:
    """What RO App shows as an order's amount [assumed field names]: ``price``, the sum of
    its items' price × quantity − discount, and ``discount_sum``, their discounts."""
    items = list(items)
    discounts = round(sum(item_discount(i) for i in items), 2)
    whole = sum(float(i.get("price") or 0) * float(i.get("quantity") or 0) for i in items)
    return {"price": round(whole - discounts, 2), "discount_sum": discounts}


def custom_fields(known: Callable[[], Collection[int]] | None) -> Check:
    """``{"f<id>": value}``; with ``known``, each id must name an existing field."""
    def check(value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise Invalid('must be an object {"f<id>": value}')
        for key in value:
            match = re.fullmatch(r"f(\d+)", key)
            if not match:
                raise Invalid(f'has key {key!r}; keys look like "f<id>"')
            if known is not None and int(match[1]) not in known():
                raise Invalid(f"names no existing custom field ({key})")
        return dict(value)
    return check


def digits(value: str) -> str:
    return re.sub(r"\D", "", value)


# --- query filters ----------------------------------------------------------------------

def query_values(query: dict[str, list[str]], name: str) -> list[str] | None:
    """The values of the array filter ``name[]`` (None when absent). Only the bracket form
    counts: a client sending ``ids=1`` gets no filtering, as it would from RO App."""
    values = query.get(f"{name}[]")
    return [v for v in values if v != ""] if values else None


def query_ints(query: dict[str, list[str]], name: str) -> set[int] | None:
    values = query_values(query, name)
    if values is None:
        return None
    try:
        return {int(v) for v in values}
    except ValueError:
        raise invalid({name: [f"The {name} filter takes integers."]}) from None


def query_range(query: dict[str, list[str]], name: str) -> tuple[datetime, datetime | None] | None:
    """``name[]=from`` or ``name[]=from&name[]=to`` (both ends inclusive)."""
    values = query_values(query, name)
    if values is None:
        return None
    if len(values) > 2:
        raise invalid({name: [f"The {name} filter takes one (from) or two (from, to) dates."]})
    try:
        bounds = [parse_ts(v) for v in values]
    except Invalid as exc:
        raise invalid({name: [f"The {name} filter {exc}."]}) from None
    return bounds[0], bounds[1] if len(bounds) == 2 else None


def in_range(stamp: str, bounds: tuple[datetime, datetime | None] | None) -> bool:
    if bounds is None:
        return True
    moment = parse_ts(stamp)
    return bounds[0] <= moment and (bounds[1] is None or moment <= bounds[1])


def sort_rows(rows: list[dict[str, Any]], sort: str | None, allowed: Collection[str]) -> list[dict[str, Any]]:
    """Rows by ``sort`` (``-`` prefix: descending), ties and the default by id ascending."""
    rows = sorted(rows, key=lambda r: r["id"])
    if not sort:
        return rows
    name = sort.removeprefix("-")
    if name not in allowed:
        raise invalid({"sort": [f"Cannot sort by {name!r}; sortable: {', '.join(sorted(allowed))}."]})
    # Python's sort is stable, so ties stay in id order; rows without a value go last.
    present = [r for r in rows if r.get(name) is not None]
    missing = [r for r in rows if r.get(name) is None]
    return sorted(present, key=lambda r: r[name], reverse=sort.startswith("-")) + missing


def page_of(rows: list[Any], query: dict[str, list[str]], list_format: str) -> dict[str, Any]:
    """One page of at most ``PAGE_SIZE`` rows in the chosen list format."""
    raw = (query.get("page") or ["1"])[-1]
    try:
        page = int(raw)
    except ValueError:
        page = 0
    if page < 1:
        raise invalid({"page": ["The page must be an integer of at least 1."]})
    data = rows[(page - 1) * PAGE_SIZE: page * PAGE_SIZE]
    if list_format == "paging":
        return {"data": data, "paging": {"page": page, "limit": PAGE_SIZE,
                                         "total_pages": math.ceil(len(rows) / PAGE_SIZE), "count": len(rows)}}
    return {"data": data, "count": len(rows)}
