"""Answers with nothing that identifies a person, the same shape kept, for ``--record``.

Replaced, by a stable placeholder of the same kind (the same value always gives the same
placeholder, so two orders of one buyer still share it): e-mails (``person-<h>@example.com``),
phones (the subscriber's 7 digits from a hash, the country, operator and typing kept), names, addresses
and free text. What counts as personal: the keys in ``PERSONAL_KEYS``; a ``title`` or
``name`` beside an e-mail or a phone (a person's full name); and any string that looks like
an e-mail or a phone wherever it is. Numbers, dates, statuses, articles and product titles
are kept: fixtures need them and they name no one.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

PERSONAL_KEYS = frozenset({
    "delivery_name", "delivery_email", "delivery_phone", "delivery_address", "comment", "email", "phone",
    "phones", "first_name", "last_name", "address", "notes", "manager_notes", "engineer_notes", "emails",
})
TEXT_KEYS = frozenset({"comment", "notes", "manager_notes", "engineer_notes"})
#: Keys whose long digit strings are product codes, not phones.
CODE_KEYS = frozenset({"gtin", "article", "parent_article", "mpn", "sku", "code", "barcode", "barcodes", "id"})
PERSON_SIBLINGS = frozenset({"email", "phone", "phones", "first_name", "emails"})
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
PHONE = re.compile(r"^[+()\d\s.\-]{7,}$")


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def fake_phone(text: str) -> str:
    """The same typing with the last 7 digits (the subscriber number) replaced from a hash
    of the last 9: the country and operator stay, so the fake is as valid as the original,
    and two typings of one number get the same fake."""
    digits = [c for c in text if c.isdigit()]
    fake = [str(int(c, 16) % 10) for c in _hash("".join(digits[-9:]))[:7]]
    first_replaced = len(digits) - len(fake)
    out, seen = [], 0
    for char in text:
        if char.isdigit():
            out.append(char if seen < first_replaced else fake[seen - first_replaced])
            seen += 1
        else:
            out.append(char)
    return "".join(out)


def _string(text: str, key: str | None) -> str:
    if not text.strip():
        return text
    if EMAIL.match(text.strip()):
        return f"person-{_hash(text.strip().lower())[:8]}@example.com"
    if PHONE.match(text) and sum(c.isdigit() for c in text) >= 7:
        return fake_phone(text)
    if key in TEXT_KEYS:
        return f"text-{_hash(text)[:8]} ({len(text)} characters)"
    if key in ("delivery_address", "address"):
        return f"Address {_hash(text)[:6]}"
    return f"Person {_hash(text)[:6]}"


def redact(value: Any, key: str | None = None, personal: bool = False) -> Any:
    """``value`` with every personal string replaced (see the module docstring)."""
    if isinstance(value, dict):
        person = bool(PERSON_SIBLINGS & set(value))
        return {k: redact(v, k, personal or k in PERSONAL_KEYS or (person and k in ("title", "name")))
                for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v, key, personal) for v in value]
    if isinstance(value, str):
        stripped = value.strip()
        looks_personal = EMAIL.match(stripped) or (key not in CODE_KEYS and PHONE.match(value)
                                                   and sum(c.isdigit() for c in value) >= 9)
        if personal or looks_personal:
            return _string(value, key)
    return value
