"""Rate limiters: at most ``max_requests`` requests in any ``window`` seconds.

Each limiter hands out *slots*: the times at which requests may start. A new slot is
never earlier than the previous one, nor earlier than ``window`` after the slot
``max_requests`` back, so any window holds at most ``max_requests`` slots. Callers sleep
until their slot, outside any lock.

- ``LocalRateLimiter`` coordinates the threads of one process.
- ``SharedRateLimiter`` coordinates every process that reaches the same state database
  (parallel store DAGs run in separate processes and share one RO App API key). The last
  slots live in one row per key, read and written under a row lock (PostgreSQL
  ``SELECT … FOR UPDATE``; SQLite takes its write lock at ``BEGIN IMMEDIATE``). The key is
  stored as a hash: the database never sees the API key itself.

A process only ever waits for a legitimate queue. Every requester books one slot and
sleeps until it before it books another, so the latest slot is at most (requesters
waiting at once / ``max_requests``) windows ahead of now. A stored slot more than
``MAX_QUEUE_WINDOWS`` windows ahead cannot come from a queue: it was written by a clock
that was ahead of this one (the clock stepped back since, or another worker's clock is
skewed: on SQLite each process uses its own ``time.time()``). Such slots are discarded,
with a warning naming the bucket, and booking starts from now; no single wait is longer
than that bound either. ``LocalRateLimiter`` books on ``time.monotonic()``, which never
steps back, so a clock step cannot make it wait.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections import deque
from typing import Any, Callable

from sqlalchemy import Engine, func, select, text, update
from sqlalchemy.dialects import postgresql, sqlite

from .state.tables import rate_limit_buckets

log = logging.getLogger(__name__)

#: How many windows ahead of now a legitimate queue can reach. A slot further ahead is
#: treated as written by a wrong clock (see the module docstring), and no wait is longer.
#: 16 windows is 48 requests waiting at once on one RO App key at 3 per second: more than
#: this project has in flight on one key (each store's load task sends one request at a
#: time, the setup tool one; Airflow runs 32 tasks at once by default). Were a queue ever
#: that long, the cost is a burst above the limit, answered with 429, which the transport
#: retries for every method; the cost of trusting a wrong clock is minutes of waiting.
MAX_QUEUE_WINDOWS = 16


def max_wait(window: float) -> float:
    """The longest wait a limiter with this window ever asks for: ``window × MAX_QUEUE_WINDOWS``."""
    return window * MAX_QUEUE_WINDOWS


def book(recent: list[float], now: float, max_requests: int, window: float) -> tuple[float, list[float], float]:
    """Book one slot. Returns the slot, the latest slots to keep (oldest first), and how far
    ahead of ``now`` the stored slots were when they were discarded as written by a wrong
    clock (0.0 when they were kept)."""
    ahead = max(recent) - now if recent else 0.0
    discarded = ahead if ahead > max_wait(window) else 0.0
    if discarded:
        recent = []
    slot = next_slot(recent, now, max_requests, window)
    return slot, (recent + [slot])[-max_requests:], discarded


def _warn_discarded(bucket: str, ahead: float, window: float) -> None:
    log.warning("Rate limiter %s: the stored slots were %.0f s ahead of this clock, more than any queue can be "
                "(%d windows, %g s): a clock stepped back or a worker's clock is skewed. Discarded them and "
                "booked from now; check that the workers' clocks are synchronised (NTP).",
                bucket, ahead, MAX_QUEUE_WINDOWS, max_wait(window))


def next_slot(recent: list[float], now: float, max_requests: int, window: float) -> float:
    """The earliest start time for one more request, given the latest slots (oldest first)."""
    slot = now
    if recent:
        slot = max(slot, recent[-1])
    if len(recent) >= max_requests:
        slot = max(slot, recent[-max_requests] + window)
    return slot


def bucket_name(system: str, secret: str) -> str:
    """A stable name for a key's budget that does not reveal the key."""
    return f"{system}:{hashlib.sha256(secret.encode('utf-8')).hexdigest()[:32]}"


class LocalRateLimiter:
    """Threads of one process; ``requests_per_second`` may be fractional. Slots are times of
    ``clock`` (``time.monotonic`` by default: a wall clock step cannot move them)."""

    def __init__(self, max_requests: int, window: float = 1.0, *, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic):
        if max_requests < 1 or window <= 0:
            raise ValueError("a rate limit needs max_requests >= 1 and window > 0")
        self.max_requests = max_requests
        self.window = window
        self._slots: deque[float] = deque(maxlen=max_requests)
        self._lock = threading.Lock()
        self._sleep = sleep
        self._clock = clock

    @classmethod
    def per_second(cls, requests_per_second: float) -> "LocalRateLimiter":
        if requests_per_second >= 1:
            return cls(int(requests_per_second), 1.0)
        return cls(1, 1.0 / requests_per_second)

    def acquire(self) -> None:
        with self._lock:
            now = self._clock()
            slot = next_slot(list(self._slots), now, self.max_requests, self.window)
            self._slots.append(slot)
        wait = slot - self._clock()
        if wait > 0:
            self._sleep(wait)


class SharedRateLimiter:
    """Processes sharing one state database; see the module docstring."""

    def __init__(self, engine: Engine, bucket: str, max_requests: int = 3, window: float = 1.0, *,
                 sleep: Callable[[float], None] = time.sleep):
        if max_requests < 1 or window <= 0:
            raise ValueError("a rate limit needs max_requests >= 1 and window > 0")
        self.engine = engine
        self.bucket = bucket
        self.max_requests = max_requests
        self.window = window
        self._sleep = sleep
        self._ensure_row()

    @classmethod
    def per_second(cls, engine: Engine, bucket: str, requests_per_second: float) -> "SharedRateLimiter":
        if requests_per_second >= 1:
            return cls(engine, bucket, int(requests_per_second), 1.0)
        return cls(engine, bucket, 1, 1.0 / requests_per_second)

    def _insert_row(self) -> Any:
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        return dialect.insert(rate_limit_buckets).values(
            bucket=self.bucket, slots="[]", window=self.window).on_conflict_do_nothing()

    def _ensure_row(self) -> None:
        with self.engine.begin() as connection:
            connection.execute(self._insert_row())

    def _now(self, connection) -> float:  # type: ignore[no-untyped-def]
        # Processes on several hosts share PostgreSQL's clock, not their own.
        if self.engine.dialect.name == "postgresql":
            return float(connection.execute(text("SELECT extract(epoch FROM clock_timestamp())")).scalar_one())
        return time.time()

    def acquire(self) -> float:
        """Book the next free slot and sleep until it; returns the slot (epoch seconds, on
        PostgreSQL's clock there). The guarantee is on slots: no more than ``max_requests``
        in any ``window``, and no caller goes before its slot (a caller the OS schedules late
        goes late)."""
        locked = select(rate_limit_buckets.c.slots).where(rate_limit_buckets.c.bucket == self.bucket).with_for_update()
        with self.engine.begin() as connection:
            row = connection.execute(locked).first()
            if row is None:  # the row is gone (the state database was cleaned or rebuilt): start afresh
                connection.execute(self._insert_row())
                row = connection.execute(locked).one()
            now = self._now(connection)
            slot, recent, discarded = book(json.loads(row.slots)[-self.max_requests:], now, self.max_requests,
                                           self.window)
            connection.execute(update(rate_limit_buckets).where(rate_limit_buckets.c.bucket == self.bucket)
                               .values(slots=json.dumps(recent), window=self.window, updated_at=func.now()))
        if discarded:
            _warn_discarded(self.bucket, discarded, self.window)
        wait = min(slot - now, max_wait(self.window))
        if wait > 0:
            self._sleep(wait)
        return slot
