"""API answers kept in the state database between a run's tasks and runs (table
``api_cache``): the reference data of RO App and Cartum (``reference``) and Cartum's
session token (``cartum.tokens``, encrypted before it gets here). This module only stores:
one value per (account, kind), with when it was read and until when it may be used.

Rules:
- ``account`` is a hash of the API's address and credential (``ratelimit.bucket_name``),
  never the credential; one account's values never serve another.
- A value past its ``expires_at`` is never returned (``get`` answers None: read it again).
- Each method is one short transaction; two processes writing the same value at once
  (two stores of one account, parallel tasks) retry on the key collision, the last wins.

Every query is built with SQLAlchemy Core; nothing is string-formatted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable, Iterable

from sqlalchemy import Engine, and_, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from .store import as_utc
from .tables import api_cache

WRITE_TRIES = 3  # a key collision with a concurrent writer of the same value: try again


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class Cached:
    value: str
    read_at: datetime
    expires_at: datetime


class ApiCache:
    """The cached values of one account."""

    def __init__(self, engine: Engine, account: str, clock: Callable[[], datetime] = utcnow):
        self.engine = engine
        self.account = account
        self.clock = clock

    def _key(self, kind: str):  # type: ignore[no-untyped-def]
        return and_(api_cache.c.account == self.account, api_cache.c.kind == kind)

    def get(self, kind: str) -> Cached | None:
        """The value of ``kind`` while it may be used, else None."""
        with self.engine.connect() as c:
            row = c.execute(select(api_cache.c.value, api_cache.c.read_at, api_cache.c.expires_at)
                            .where(self._key(kind))).first()
        if row is None:
            return None
        cached = Cached(row[0], as_utc(row[1]), as_utc(row[2]))
        return cached if cached.expires_at > self.clock() else None

    def put(self, kind: str, value: str, lifetime: timedelta) -> None:
        """Keep ``value`` for ``lifetime`` from now, replacing what was kept."""
        def write() -> None:
            now = self.clock()
            values = {"value": value, "read_at": now, "expires_at": now + lifetime}
            with self.engine.begin() as c:
                done = c.execute(update(api_cache).where(self._key(kind)).values(**values)).rowcount
                if not done:
                    c.execute(insert(api_cache).values(account=self.account, kind=kind, **values))

        for attempt in range(1, WRITE_TRIES + 1):
            try:
                write()
                return
            except IntegrityError:
                if attempt == WRITE_TRIES:
                    raise

    def drop(self, kinds: Iterable[str]) -> int:
        """Forget the values of ``kinds``; returns how many were kept."""
        kinds = list(kinds)
        with self.engine.begin() as c:
            return c.execute(delete(api_cache).where(api_cache.c.account == self.account,
                                                     api_cache.c.kind.in_(kinds))).rowcount
