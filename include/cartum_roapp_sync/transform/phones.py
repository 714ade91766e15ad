"""Phone numbers as buyers type them → E.164."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import phonenumbers

from .values import clean_text


def normalize_phone(raw: Any, country: str = "UA") -> tuple[str | None, bool]:
    """``(e164, True)`` when ``raw`` is a valid phone number, else ``(None, False)``.

    National formats are read for ``country`` (``0501234567`` with ``"UA"`` →
    ``+380501234567``). Digits without a ``+`` that start with the country's calling code
    (``380-50-123-4567``) are read as international. Empty, unparsable and invalid input
    (``12345``) all give ``(None, False)``; the caller keeps the raw text if it needs it.
    """
    text = clean_text(raw)
    if text is None:
        return None, False
    return _normalize_text(text, country)


@lru_cache(maxsize=65536)
def _normalize_text(text: str, country: str) -> tuple[str | None, bool]:
    """``normalize_phone`` of a cleaned text. Cached: one buyer's phone comes back with each
    of their orders, and parsing it is most of the transform's cost for clients."""
    if any(ch.isalpha() for ch in text):
        # "050ABC4567": phonenumbers would read the letters as a keypad's digits and make
        # another valid number of it; a phone with letters is a typo, not a number.
        return None, False
    for candidate in _candidates(text, country):
        try:
            number = phonenumbers.parse(candidate, country)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), True
    return None, False


def _candidates(text: str, country: str) -> list[str]:
    """The text as typed, then (when it has no ``+`` but starts with the calling code) the
    same digits read as international. phonenumbers usually strips the code by itself;
    the second try makes the rule explicit rather than relying on its heuristics."""
    candidates = [text]
    code = str(phonenumbers.country_code_for_region(country) or "")
    digits = "".join(ch for ch in text if ch.isdigit())
    if code and not text.startswith("+") and digits.startswith(code):
        candidates.append("+" + digits)
    return candidates
