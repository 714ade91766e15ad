"""E-mail addresses as buyers type them → trimmed, lower-case, checked."""

from __future__ import annotations

import re
from typing import Any

from .values import clean_text

# Deliberately simple: one "@", something before it, a dotted domain, no whitespace.
# Full RFC 5322 would accept addresses no mail server or CRM user would recognise.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s.]+(\.[^@\s.]+)+$")


def clean_email(raw: Any) -> tuple[str | None, bool]:
    """``(email, True)`` with the address trimmed and lower-cased when it looks valid;
    ``(None, False)`` when it is empty or invalid (``ivan@``, ``name at mail``), so an
    invalid address is never loaded or used to match buyers."""
    text = clean_text(raw)
    if text is None:
        return None, False
    email = text.lower()
    if not _EMAIL.match(email):
        return None, False
    return email, True
