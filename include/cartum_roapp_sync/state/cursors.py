"""Cursors: how far a store's entity has been read, one row of ``cursors`` each.

A cursor's life in a run (``entities.CursorSpec`` says which entity has one and which
Cartum field it follows):

1. **start**: the plan reads from the committed value minus the store's overlap, so equal
   timestamps and clock skew lose nothing (``start``, ``read_start``). The overlap is real
   time in the store's timezone: across the spring-forward gap the start lands on a time
   that exists, and when the last hour before the cursor touches a repeated local hour (the
   autumn fall-back, e.g. 03:00–04:00 twice in Europe/Kyiv) the start moves back one more
   hour, so that orders stamped in the second pass, earlier than the cursor of the first,
   are read;
2. **observe**: the extract step notes the highest value it read (``observe``), kept with
   the run's data;
3. **commit**: only after RO App confirmed the entity's writes does the load step move the
   cursor there (``advance``). It never moves back, and never onto a value that is not a
   sane time (``sane``: a Cartum time no more than ``CARTUM_FUTURE_TOLERANCE_MINUTES``
   ahead of the store's clock).

A stored value that is not sane (written before the boundary refused such times, or by
hand) is repaired when a run starts (``start``): to the moment it was last committed, in
the store's time, the last value known good (every order created before that commit was
read by that run), or to now when that too lies ahead. A WARNING says so; the run goes on.

Values are Cartum times in the store's local time, ``YYYY-MM-DD HH:MM:SS``: they compare
as strings. (Within a repeated hour that order is not the order of creation: the wider
start above is what makes up for it.)
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, select, update
from sqlalchemy import insert as sql_insert

from .. import assumptions
from .tables import cursors

log = logging.getLogger(__name__)

CARTUM_TIME = "%Y-%m-%d %H:%M:%S"
FURTHEST_ZONE = "Etc/GMT-14"   # UTC+14: no store's clock is ahead of it


def shift(cartum_time: str, minutes: int) -> str:
    """A Cartum time moved by ``minutes`` (negative: earlier)."""
    return (datetime.strptime(cartum_time, CARTUM_TIME) + timedelta(minutes=minutes)).strftime(CARTUM_TIME)


def read_start(cartum_time: str, overlap_minutes: int, timezone_name: str) -> str:
    """Where a read from the cursor ``cartum_time`` begins (pure): ``overlap_minutes`` of
    real time earlier in the store's timezone, one more hour earlier when the span from
    (cursor - overlap - 1 h) to the cursor touches a repeated local hour. A cursor inside a
    repeated hour is taken at its first pass, one inside a spring-forward gap (Cartum never
    writes one) at the real time just before the gap: both are the earlier reading."""
    zone = ZoneInfo(timezone_name)
    cursor = datetime.strptime(cartum_time, CARTUM_TIME)
    start = _local(_earliest_instant(cursor, zone) - timedelta(minutes=overlap_minutes), zone)
    if _touches_repeated_hour(_local(_earliest_instant(start, zone) - timedelta(hours=1), zone), cursor, zone):
        start = _local(_earliest_instant(start, zone) - timedelta(hours=1), zone)
    return start.strftime(CARTUM_TIME)


def _earliest_instant(local: datetime, zone: ZoneInfo) -> datetime:
    """The earliest UTC instant a naive local time can stand for (first pass of a repeated
    hour; for a time in a gap, the reading with the offset after the gap)."""
    return min(local.replace(tzinfo=zone, fold=fold).astimezone(timezone.utc) for fold in (0, 1))


def _local(instant: datetime, zone: ZoneInfo) -> datetime:
    return instant.astimezone(zone).replace(tzinfo=None)


def _touches_repeated_hour(first: datetime, last: datetime, zone: ZoneInfo) -> bool:
    """Whether local times from ``first`` to ``last`` include a repeated (ambiguous) one: the
    UTC offset falls between them, read at the first pass of ``first`` and the second pass
    of ``last`` (one transition at most in such a short span)."""
    before = first.replace(tzinfo=zone, fold=0).utcoffset()
    after = last.replace(tzinfo=zone, fold=1).utcoffset()
    return before is not None and after is not None and after < before


def sane(value: str | None, timezone_name: str = assumptions.CARTUM_STORE_TIMEZONE,
         now: datetime | None = None) -> bool:
    """Whether ``value`` is a Cartum time no more than the tolerance ahead of the store's
    clock (``now``, UTC; default the real clock)."""
    try:
        at = datetime.strptime(str(value), CARTUM_TIME)
    except ValueError:
        return False
    store_now = _local(now or datetime.now(timezone.utc), ZoneInfo(timezone_name))
    return at <= store_now + timedelta(minutes=assumptions.CARTUM_FUTURE_TOLERANCE_MINUTES)


def observe(records: Iterable[dict[str, Any]], field: str) -> str | None:
    """The highest non-empty ``field`` among raw records, or None."""
    values = [str(r.get(field)) for r in records if r.get(field)]
    return max(values) if values else None


class Cursor:
    """One cursor of one store's entity."""

    def __init__(self, engine: Engine, store_id: str, entity: str, name: str):
        self.engine = engine
        self.store_id = store_id
        self.entity = entity
        self.name = name

    def _where(self) -> Any:
        return (cursors.c.store_id == self.store_id, cursors.c.entity == self.entity, cursors.c.name == self.name)

    @property
    def value(self) -> str | None:
        """The committed value, or None before the entity was ever loaded."""
        with self.engine.connect() as c:
            return c.execute(select(cursors.c.value).where(*self._where())).scalar()

    def start(self, overlap_minutes: int, timezone_name: str = assumptions.CARTUM_STORE_TIMEZONE) -> str | None:
        """Where the next read begins (``read_start`` of the committed value; None: from the
        beginning)."""
        value = self.value
        if value and not sane(value, timezone_name):
            value = self.repair(timezone_name)
        return read_start(value, overlap_minutes, timezone_name) if value else None

    def repair(self, timezone_name: str = assumptions.CARTUM_STORE_TIMEZONE) -> str:
        """Replace an unreadable or future value by the last good one: the moment it was
        last committed, in the store's time (never later than now)."""
        zone, now = ZoneInfo(timezone_name), datetime.now(timezone.utc)
        with self.engine.begin() as c:
            row = c.execute(select(cursors.c.value, cursors.c.updated_at).where(*self._where())).first()
            committed = row.updated_at if row.updated_at.tzinfo else row.updated_at.replace(tzinfo=timezone.utc)
            good = _local(min(committed, now), zone).replace(microsecond=0).strftime(CARTUM_TIME)
            c.execute(update(cursors).where(*self._where()).values(value=good, updated_at=now))
        log.warning("cursor %s/%s.%s held %r, not a sane Cartum time: repaired to %s (when it was last "
                    "committed); the run reads from there", self.store_id, self.entity, self.name, row.value, good)
        return good

    def advance(self, value: str | None) -> str | None:
        """Move the cursor to ``value`` unless it already stands there or later; returns
        the value it stands at afterwards."""
        if not value:
            return self.value
        now = datetime.now(timezone.utc)
        with self.engine.begin() as c:
            current = c.execute(select(cursors.c.value).where(*self._where())).scalar()
            if current is None:
                c.execute(sql_insert(cursors).values(store_id=self.store_id, entity=self.entity, name=self.name,
                                                     value=value, updated_at=now))
                return value
            if value > current:
                c.execute(update(cursors).where(*self._where()).values(value=value, updated_at=now))
                return value
            return current

    def advance_time(self, value: str | None) -> str | None:
        """``advance`` for a cursor of Cartum times: a value that is not a time, or lies
        ahead of the furthest timezone's clock, is refused (the boundary checks each record
        against its store's clock; this is the last guard)."""
        if value and not sane(value, FURTHEST_ZONE):
            log.warning("cursor %s/%s.%s not moved to %r: not a sane Cartum time", self.store_id, self.entity,
                        self.name, value)
            return self.value
        return self.advance(value)

    def __repr__(self) -> str:
        return f"Cursor({self.store_id}/{self.entity}.{self.name})"
