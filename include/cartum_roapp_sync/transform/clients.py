"""Cartum buyers (order contacts and registered customers) → RO App clients.

Decisions:

- **Sources.** Every order gives a contact (``delivery_name``, ``delivery_phone``,
  ``delivery_email``, ``delivery_city`` + ``delivery_address``, and the registered
  buyer's id from ``user``: a plain number or an object ``{id}``, ``cartum.shapes``);
  every registered customer (``users/export``) gives one too, so a customer without
  orders in this batch is still a client.
- **Keys and matching**, in this order:
  1. a valid phone (normalised to E.164 for the store's country) → ``phone:+380…``;
     the same number typed differently is the same client;
  2. no valid phone, a valid e-mail → the one phone client already seen with that
     e-mail, else ``email:<address>`` (when several phone clients share the e-mail it is
     ambiguous: ``email:<address>``, reported ``ambiguous_email``);
  3. neither → the one client already linked to the same Cartum user id, else
     ``user:<id>`` for a registered buyer, else ``guest:<order_id>``.
- **Which spelling wins.** A client's contacts are ranked: registered customer profiles
  first (by id, descending: the buyer's own record, where an order's address is often a
  carrier branch or the shop's pickup point), then orders latest first (order_id
  descending). Each field takes the first non-empty value in that ranking; the phone as
  typed comes from the first contact with a valid phone, the e-mail from the first with a
  valid e-mail.
- **Names.** First word → ``first_name``, the rest → ``last_name`` (None if there is
  none); an all-lower- or all-upper-case name is title-cased; no name → ``"Buyer"``.
  ``Last First`` cannot be told from ``First Last`` and is kept as typed.
- Invalid phones and e-mails are never loaded: ``phone``/``email`` are None and the
  ``*_valid`` flag False; the typed phone stays in ``phone_raw``, and each is reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..cartum.shapes import order_user_id
from ..entities import CLIENTS
from .emails import clean_email
from .frames import make_frame
from .hashing import content_hash
from .phones import normalize_phone
from .values import clean_text, to_int

DEFAULT_FIRST_NAME = "Buyer"


@dataclass
class ClientsResult:
    frame: pd.DataFrame                      # exactly CLIENTS.columns, one row per client_key
    order_client: dict[int, str]             # order_id → client_key
    report: list[dict[str, Any]] = field(default_factory=list)  # {client_key, source, problem, detail}


@dataclass
class _Contact:
    """One buyer as typed in one order or one customer profile."""
    source: str          # "order" or "customer"
    ident: int           # order_id or customer id
    name: str | None
    phone_raw: str | None
    phone: str | None
    email_raw: str | None
    email: str | None
    address: str | None
    user_id: int | None

    @property
    def label(self) -> str:
        return f"{self.source} {self.ident}"

    @property
    def rank(self) -> tuple[int, int]:
        return (0 if self.source == "customer" else 1, -self.ident)  # profile, then latest order first


def split_name(raw: Any) -> tuple[str, str | None]:
    """``(first_name, last_name)``: first word, then the rest (None when there is none).
    An all-lower- or all-upper-case name is title-cased; an empty name gives ``"Buyer"``."""
    text = " ".join((clean_text(raw) or "").split())
    if not text:
        return DEFAULT_FIRST_NAME, None
    if text.islower() or text.isupper():
        text = text.title()
    first, _, last = text.partition(" ")
    return first, last or None


def build_clients(orders: list[dict[str, Any]], customers: list[dict[str, Any]], *, country: str) -> ClientsResult:
    """One row per client (sorted by client_key) from the batch's orders and registered
    customers, the client of every order, and the problems met. Deterministic."""
    contacts = _order_contacts(orders, country) + _customer_contacts(customers, country)
    report: list[dict[str, Any]] = []
    keys = _assign_keys(contacts, report)

    groups: dict[str, list[_Contact]] = {}
    for contact in contacts:
        groups.setdefault(keys[contact.label], []).append(contact)
    rows = [_row(key, sorted(members, key=lambda c: c.rank), report) for key, members in sorted(groups.items())]
    order_client = {c.ident: keys[c.label] for c in contacts if c.source == "order"}
    for contact in contacts:
        report.extend(_contact_problems(contact, keys[contact.label]))
    return ClientsResult(make_frame(rows, CLIENTS), order_client, report)


# --- contacts ------------------------------------------------------------------------------

def _contact(source: str, ident: int, name: Any, phone_raw: Any, email_raw: Any, address_parts: list[Any],
             user_id: int | None, country: str) -> _Contact:
    phone, _ = normalize_phone(phone_raw, country)
    email, _ = clean_email(email_raw)
    address = ", ".join(part for part in map(clean_text, address_parts) if part) or None
    return _Contact(source, ident, clean_text(name), clean_text(phone_raw), phone, clean_text(email_raw), email,
                    address, user_id)


def _order_contacts(orders: list[dict[str, Any]], country: str) -> list[_Contact]:
    by_id: dict[int, dict[str, Any]] = {}
    for order in orders:  # a repeated order id: the last one read wins, as in build_orders
        order_id = to_int(order.get("order_id"))
        if order_id is not None:
            by_id[order_id] = order
    contacts = []
    for order_id, order in sorted(by_id.items()):
        user_id = order_user_id(order)
        contacts.append(_contact("order", order_id, order.get("delivery_name"), order.get("delivery_phone"),
                                 order.get("delivery_email"),
                                 [order.get("delivery_city"), order.get("delivery_address")], user_id, country))
    return contacts


def _customer_contacts(customers: list[dict[str, Any]], country: str) -> list[_Contact]:
    by_id = {to_int(c.get("id")): c for c in customers}
    by_id.pop(None, None)  # a profile without an id cannot be linked to anything
    return [_contact("customer", user_id, c.get("title"), c.get("phone"), c.get("email"),
                     [c.get("city"), c.get("address")], user_id, country)
            for user_id, c in sorted(by_id.items())]


# --- keys ------------------------------------------------------------------------------------

def _assign_keys(contacts: list[_Contact], report: list[dict[str, Any]]) -> dict[str, str]:
    """contact label → client_key, by phone, then e-mail, then user id (module docstring)."""
    keys: dict[str, str] = {}
    phone_keys_by_email: dict[str, set[str]] = {}
    for c in contacts:
        if c.phone:
            keys[c.label] = f"phone:{c.phone}"
            if c.email:
                phone_keys_by_email.setdefault(c.email, set()).add(keys[c.label])
    for c in contacts:
        if c.phone or not c.email:
            continue
        matches = phone_keys_by_email.get(c.email, set())
        keys[c.label] = next(iter(matches)) if len(matches) == 1 else f"email:{c.email}"
        if len(matches) > 1:
            report.append(_problem(keys[c.label], c, "ambiguous_email",
                                   f"{c.email} is used with several phones ({', '.join(sorted(matches))}); "
                                   "kept as a client of its own"))
    keys_by_user: dict[int, set[str]] = {}
    for c in contacts:
        if c.label in keys and c.user_id is not None:
            keys_by_user.setdefault(c.user_id, set()).add(keys[c.label])
    for c in contacts:
        if c.label in keys:
            continue
        matches = keys_by_user.get(c.user_id, set()) if c.user_id is not None else set()
        if len(matches) == 1:
            keys[c.label] = next(iter(matches))
        elif c.user_id is not None:
            keys[c.label] = f"user:{c.user_id}"
        else:
            keys[c.label] = f"guest:{c.ident}"
    return keys


# --- rows and problems -----------------------------------------------------------------------

def _first(values: Any) -> Any:
    return next((v for v in values if v is not None), None)


def _row(key: str, members: list[_Contact], report: list[dict[str, Any]]) -> dict[str, Any]:
    """The client from its contacts, in rank order (module docstring)."""
    first_name, last_name = split_name(_first(c.name for c in members))
    with_phone = _first(c for c in members if c.phone)
    phone_raw = with_phone.phone_raw if with_phone else _first(c.phone_raw for c in members)
    email = _first(c.email for c in members)
    user_ids = sorted({c.user_id for c in members if c.user_id is not None})
    if len(user_ids) > 1:
        report.append({"client_key": key, "source": None, "problem": "several_user_ids",
                       "detail": f"contacts of Cartum users {user_ids} share this client; "
                                 f"kept user {_first(c.user_id for c in members)}"})
    row = {
        "client_key": key, "first_name": first_name, "last_name": last_name,
        "phone": with_phone.phone if with_phone else None, "phone_raw": phone_raw,
        "phone_valid": with_phone is not None, "email": email, "email_valid": email is not None,
        "address": _first(c.address for c in members), "cartum_user_id": _first(c.user_id for c in members),
        "order_ids": sorted(c.ident for c in members if c.source == "order"),
    }
    row["content_hash"] = content_hash(row, CLIENTS.hashed)
    return row


def _problem(key: str, contact: _Contact, problem: str, detail: str) -> dict[str, Any]:
    return {"client_key": key, "source": contact.label, "problem": problem, "detail": detail}


def _contact_problems(c: _Contact, key: str) -> list[dict[str, Any]]:
    problems = []
    if c.phone_raw and not c.phone:
        problems.append(_problem(key, c, "invalid_phone", f"phone {c.phone_raw!r} is not a valid number"))
    if c.email_raw and not c.email:
        problems.append(_problem(key, c, "invalid_email", f"e-mail {c.email_raw!r} is not valid"))
    if not c.phone and not c.email:
        problems.append(_problem(key, c, "no_contact", f"no valid phone or e-mail; keyed {key}"))
    return problems
