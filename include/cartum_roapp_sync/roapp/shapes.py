"""RO App answers read the same whichever way the live API shapes them. Where the public
sources disagree (``shared/contracts/roapp-api.md``) both shapes are accepted and turned into
one, so the loaders and the setup checks read a single shape:

- a single object, bare or wrapped ``{"data": {...}}`` → the object;
- a person's ``phones``: objects ``{phone, title}`` or plain strings → ``{phone, title}`` objects;
- a product's ``barcodes``: strings or objects ``{code}`` / ``{barcode}`` → strings; its price:
  ``prices[]`` per price type (documented) or a flat ``price`` → ``product_price``;
- a custom field's name: ``title`` or ``name`` → ``title``;
- an employee's role, active flag and location access: read from whichever field carries
  them (``assumptions.ROAPP_EMPLOYEE_*_FIELDS``), or ``None`` when the answer does not say.

Pure functions, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from .. import assumptions


def unwrap(payload: Any) -> Any:
    """A single object, bare or wrapped in ``{"data": {...}}``."""
    wrapper = assumptions.ROAPP_SINGLE_OBJECT_WRAPPER
    if isinstance(payload, dict) and set(payload) == {wrapper} and isinstance(payload[wrapper], dict):
        return payload[wrapper]
    return payload


def phone_numbers(entries: Any) -> list[str]:
    """A person's phones as numbers, from ``{phone, title}`` objects or plain strings."""
    numbers = []
    for entry in entries or []:
        number = entry.get("phone") if isinstance(entry, dict) else entry
        if number:
            numbers.append(str(number))
    return numbers


def person(raw: Any) -> dict[str, Any]:
    """A person with ``phones`` as ``{phone, title}`` objects."""
    row = dict(unwrap(raw) or {})
    if "phones" in row:
        titles = [e.get("title") if isinstance(e, dict) else None for e in row.get("phones") or []]
        row["phones"] = [{"phone": n, "title": t} for n, t in zip(phone_numbers(row.get("phones")), titles)]
    return row


def barcodes(entries: Any) -> list[str]:
    """Barcodes as strings, from strings or objects ``{code}`` / ``{barcode}``."""
    values = []
    for entry in entries or []:
        value = (entry.get("code") or entry.get("barcode")) if isinstance(entry, dict) else entry
        if value not in (None, ""):
            values.append(str(value))
    return values


def product_price(row: dict[str, Any]) -> float | None:
    """The product's price: the configured price type's entry of ``prices[]`` (the first one
    when none is configured), or a flat ``price`` when that is what the answer has."""
    prices = [p for p in row.get("prices") or [] if isinstance(p, dict) and p.get("price") is not None]
    wanted = assumptions.ROAPP_PRODUCT_PRICE_TYPE_ID
    chosen = next((p for p in prices if wanted is None or p.get("id") == wanted), None)
    if chosen is not None:
        return float(chosen["price"])
    return float(row["price"]) if row.get("price") is not None else None


def product(raw: Any) -> dict[str, Any]:
    """A product with ``barcodes`` as strings and its price readable as ``price``."""
    row = dict(unwrap(raw) or {})
    row["barcodes"] = barcodes(row.get("barcodes"))
    row["price"] = product_price(row)
    return row


def product_write(body: dict[str, Any]) -> dict[str, Any]:
    """A product body with its price written as ``prices[]`` (no flat ``price``)."""
    out = {k: v for k, v in body.items() if k in assumptions.ROAPP_PRODUCT_WRITE_FIELDS}
    if body.get("price") is not None:
        entry: dict[str, Any] = {"price": body["price"]}
        if assumptions.ROAPP_PRODUCT_PRICE_TYPE_ID is not None:
            entry["id"] = assumptions.ROAPP_PRODUCT_PRICE_TYPE_ID
        out["prices"] = [entry]
    return out


def custom_field(raw: dict[str, Any]) -> dict[str, Any]:
    """A custom field with its name as ``title`` (RO App may call it ``name``)."""
    return {**raw, "title": raw.get("title") if raw.get("title") is not None else raw.get("name")}


def iso_utc(moment: datetime) -> str:
    """A date-time custom field value: ISO-8601 in UTC, ``2025-03-01T09:30:00Z``. A naive
    ``moment`` is taken as UTC."""
    moment = moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class EmployeeFacts:
    """What the employees answer says of one employee; ``None``: the answer does not say."""

    roles: frozenset[str] | None
    active: bool | None
    locations: frozenset[int] | None

    @property
    def readable(self) -> bool:
        return self.roles is not None


def _first(row: dict[str, Any], names: tuple[str, ...]) -> Any:
    return next((row[n] for n in names if n in row and row[n] is not None), None)


def _label(value: Any) -> str | None:
    if isinstance(value, dict):
        value = value.get("name") or value.get("title")
    return str(value).strip() if value not in (None, "") else None


def _id(value: Any) -> int | None:
    if isinstance(value, dict):
        value = value.get("id")
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def employee_facts(row: dict[str, Any]) -> EmployeeFacts:
    """Role names, the active flag and location ids, from wherever the answer has them."""
    role = _first(row, assumptions.ROAPP_EMPLOYEE_ROLE_FIELDS)
    roles = None
    if role is not None:
        labels = [_label(r) for r in (role if isinstance(role, list) else [role])]
        roles = frozenset(label for label in labels if label)
    active = _first(row, assumptions.ROAPP_EMPLOYEE_ACTIVE_FIELDS)
    places = _first(row, assumptions.ROAPP_EMPLOYEE_BRANCHES_FIELDS)
    locations = None
    if isinstance(places, list):
        locations = frozenset(i for i in map(_id, places) if i is not None)
    return EmployeeFacts(roles, bool(active) if active is not None else None, locations)
