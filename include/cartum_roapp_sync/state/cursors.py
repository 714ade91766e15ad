"""Cursors: how far a store's entity has been read, one row of ``cursors`` each.

A cursor's life in a run (``entities.CursorSpec`` says which entity has one and which
Cartum field it follows):

1. **start**: the plan reads from the committed value minus the store's overlap, so equal
   timestamps and clock skew lose nothing (``start``);
2. **observe**: the extract step notes the highest value it read (``observe``), kept with
   the run's data;
3. **commit**: only after RO App confirmed the entity's writes does the load step move the
   cursor there (``advance``). It never moves back.

Values are Cartum times in the store's local time, ``YYYY-MM-DD HH:MM:SS``: they compare
as strings.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Iterable

from sqlalchemy import Engine, select, update
from sqlalchemy import insert as sql_insert

from .tables import cursors

CARTUM_TIME = "%Y-%m-%d %H:%M:%S"


def shift(cartum_time: str, minutes: int) -> str:
    """A Cartum time moved by ``minutes`` (negative: earlier)."""
    return (datetime.strptime(cartum_time, CARTUM_TIME) + timedelta(minutes=minutes)).strftime(CARTUM_TIME)


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

    def start(self, overlap_minutes: int) -> str | None:
        """Where the next read begins: the committed value minus the overlap (None: from the
        beginning)."""
        value = self.value
        return shift(value, -overlap_minutes) if value else None

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

    def __repr__(self) -> str:
        return f"Cursor({self.store_id}/{self.entity}.{self.name})"
