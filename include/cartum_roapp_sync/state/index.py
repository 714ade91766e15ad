"""The local look-up index (tables ``roapp_index``, ``roapp_index_cursors``): what RO App
holds, by the values RO App has no documented filter for, per RO App account and kind of
record. ``roapp.index`` keeps it filled from RO App; this module only stores it.

Rules:
- One account's rows never mix with another's: every query names ``account`` (a hash of
  the API's base URL and key, never the key) and ``kind`` (``person``, ``product``).
- A record's rows are replaced as a whole (``put``): a value it no longer has leaves the
  index with it. A whole read of the list replaces every row of the kind (``full=True``).
- The cursor only moves forward (the newest ``modified_at`` RO App gave, in its own clock).
- Each method is one short transaction; two processes writing the same rows at once (two
  stores of one account) retry on the key collision, so neither fails.

Every query is built with SQLAlchemy Core; nothing is string-formatted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Mapping, TypeVar

from sqlalchemy import Engine, and_, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from .store import as_utc
from .tables import roapp_index, roapp_index_cursors

T = TypeVar("T")
WRITE_TRIES = 3  # a key collision with a concurrent writer of the same rows: try again


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class IndexCursor:
    modified_at: str | None       # RO App's clock
    full_at: datetime | None      # ours
    refreshed_at: datetime        # ours


class LookupIndex:
    """One kind of record of one RO App account."""

    def __init__(self, engine: Engine, account: str, kind: str, clock: Callable[[], datetime] = utcnow):
        self.engine = engine
        self.account = account
        self.kind = kind
        self.clock = clock

    def _mine(self, table: Any) -> Any:
        return and_(table.c.account == self.account, table.c.kind == self.kind)

    def cursor(self) -> IndexCursor | None:
        with self.engine.connect() as c:
            row = c.execute(select(roapp_index_cursors).where(self._mine(roapp_index_cursors))).mappings().first()
        if row is None:
            return None
        return IndexCursor(row["modified_at"], as_utc(row["full_at"]), as_utc(row["refreshed_at"]))

    def find(self, field: str, values: Iterable[str]) -> dict[str, list[int]]:
        """``value → RO App ids`` (ascending) for the values the index holds."""
        values = sorted(set(values))
        found: dict[str, list[int]] = {}
        for start in range(0, len(values), 500):
            query = select(roapp_index.c.value, roapp_index.c.roapp_id).where(
                self._mine(roapp_index), roapp_index.c.field == field,
                roapp_index.c.value.in_(values[start:start + 500])).order_by(roapp_index.c.roapp_id)
            with self.engine.connect() as c:
                for value, roapp_id in c.execute(query):
                    found.setdefault(value, []).append(roapp_id)
        return found

    def records(self) -> dict[int, list[tuple[str, str]]]:
        """Every record of the kind: ``RO App id → [(field, value)]``."""
        query = select(roapp_index.c.roapp_id, roapp_index.c.field, roapp_index.c.value).where(
            self._mine(roapp_index)).order_by(roapp_index.c.roapp_id)
        out: dict[int, list[tuple[str, str]]] = {}
        with self.engine.connect() as c:
            for roapp_id, field, value in c.execute(query):
                out.setdefault(roapp_id, []).append((field, value))
        return out

    def put(self, records: Mapping[int, Iterable[tuple[str, str]]], *, full: bool = False,
            modified_at: str | None = None, newer: Callable[[str, str], bool] | None = None) -> None:
        """Replace the rows of ``records`` (every row of the kind when ``full``) and note the
        read on the cursor: ``modified_at`` becomes the cursor when ``newer(it, cursor)``
        (or there is none); ``full`` sets ``full_at``."""
        rows = {(roapp_id, field, value) for roapp_id, pairs in records.items() for field, value in pairs if value}

        def write() -> None:
            now = self.clock()
            with self.engine.begin() as c:
                where = self._mine(roapp_index)
                if not full:
                    where = and_(where, roapp_index.c.roapp_id.in_(list(records)))
                c.execute(delete(roapp_index).where(where))
                if rows:
                    c.execute(insert(roapp_index), [
                        {"account": self.account, "kind": self.kind, "field": field, "value": value[:320],
                         "roapp_id": roapp_id, "updated_at": now} for roapp_id, field, value in sorted(rows)])
                self._note(c, now, full, modified_at, newer)

        _retrying(write)

    def _note(self, c: Any, now: datetime, full: bool, modified_at: str | None,
              newer: Callable[[str, str], bool] | None) -> None:
        held = c.execute(select(roapp_index_cursors.c.modified_at).where(
            self._mine(roapp_index_cursors))).first()
        values: dict[str, Any] = {"refreshed_at": now}
        if full:
            values["full_at"] = now
        if modified_at and (held is None or held[0] is None or newer is None or newer(modified_at, held[0])):
            values["modified_at"] = modified_at
        if held is None:
            c.execute(insert(roapp_index_cursors).values(account=self.account, kind=self.kind, **values))
        else:
            c.execute(update(roapp_index_cursors).where(self._mine(roapp_index_cursors)).values(**values))

    def drop(self, roapp_id: int) -> None:
        """The record is gone from RO App (deleted, or merged into another)."""
        with self.engine.begin() as c:
            c.execute(delete(roapp_index).where(self._mine(roapp_index), roapp_index.c.roapp_id == roapp_id))


def _retrying(write: Callable[[], T]) -> T:
    for attempt in range(1, WRITE_TRIES + 1):
        try:
            return write()
        except IntegrityError:
            if attempt == WRITE_TRIES:
                raise
    raise AssertionError("unreachable")
