"""Reference data kept between runs: RO App's locations, order types, employees and order
statuses (per RO App account), and Cartum's order statuses (per store address), in the
state database (``state.cache``) for the store's ``reference_cache_minutes``.

Every run checks its setup against them (``steps.validate_setup``); read each time, they
were 4 of a quiet run's RO App calls and 1 of its Cartum calls. Kept, a run reads them
once per ``reference_cache_minutes`` (default 15), and at once when something points at
them:

- the setup check finds a problem while any of its answers came from the cache: the
  cache is dropped and the check runs again on fresh answers before the run fails or
  warns (a location, status or manager made in RO App a minute ago is seen);
- an order read is in a Cartum status the kept list lacks (``extract_orders``): the
  Cartum list is read again there and kept, and a status nobody matched is warned about in
  that run (the order itself is held by data quality in any case: ``status_map`` decides);
- RO App rejects a write (400/422) naming a status, location, order type or manager
  (``points_at_reference``): the account's cache is dropped, the next run reads fresh
  (that record waits in the quarantine and is retried, as any rejected record).

``reference_cache_minutes: 0`` turns the cache off (every run reads, as before). What is
kept is what the APIs answered (no credential); ``account`` is a hash.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any, Callable

from sqlalchemy import Engine

from .state.cache import ApiCache
from .transport import ValidationError

log = logging.getLogger(__name__)

ROAPP_KINDS = ("roapp_branches", "roapp_order_types", "roapp_employees", "roapp_order_statuses")
CARTUM_KINDS = ("cartum_statuses",)
#: Words in a rejected write's message or field names that point at reference data.
REFERENCE_WORDS = ("status", "branch", "location", "order_type", "order type", "manager", "employee")


class ReferenceCache:
    """The reference lists of one account (``kinds``), each kept for ``minutes``."""

    def __init__(self, engine: Engine, account: str, kinds: tuple[str, ...], minutes: int, **cache_options: Any):
        self.cache = ApiCache(engine, account, **cache_options)
        self.kinds = kinds
        self.lifetime = timedelta(minutes=minutes)
        #: the kinds this object answered from the cache (not read from the API)
        self.served: set[str] = set()

    def get(self, kind: str, read: Callable[[], list[dict[str, Any]]]) -> list[dict[str, Any]]:
        """The list ``kind``: kept while fresh, else ``read()`` and kept."""
        if self.lifetime > timedelta(0):
            cached = self.cache.get(kind)
            rows = _rows(cached.value) if cached is not None else None
            if rows is not None:
                self.served.add(kind)
                return rows
        rows = read()
        if self.lifetime > timedelta(0):
            self.cache.put(kind, json.dumps(rows, default=str), self.lifetime)
        return rows

    def kept(self, kind: str) -> list[dict[str, Any]] | None:
        """The list ``kind`` as kept, without reading the API (None: none kept or expired)."""
        cached = self.cache.get(kind) if self.lifetime > timedelta(0) else None
        return _rows(cached.value) if cached is not None else None

    def drop(self, why: str) -> None:
        """Forget the account's lists: the next read asks the API."""
        self.served.clear()
        if self.cache.drop(self.kinds):
            log.info("reference data cache dropped (%s): read again from the API", why)


def _rows(text: str) -> list[dict[str, Any]] | None:
    try:
        rows = json.loads(text)
    except ValueError:
        return None
    return rows if isinstance(rows, list) and all(isinstance(r, dict) for r in rows) else None


def points_at_reference(exc: Exception) -> bool:
    """Whether a rejected RO App write names reference data (a status, location, order
    type, manager): then what the cache holds may be out of date."""
    if not isinstance(exc, ValidationError):
        return False
    text = " ".join([str(exc), *map(str, (exc.field_errors or {}))]).lower()
    return any(word in text for word in REFERENCE_WORDS)
