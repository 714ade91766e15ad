"""The event log of each record (table ``record_events``): what a run read of it and what it
wrote of it to RO App, so that a person can follow one order's story (``history``).

The steps write it with one call where something happens: ``check_quality`` logs each new
version read from Cartum (``add_reads``: a version already read, or already in RO App, is
not logged again, so re-reading the open orders every run adds nothing), the loaders log
what they create, link, update, and an order's items, status and comments, and the
quarantine logs a record set aside and its resolution. A read is *settled* once RO App
holds that version or a newer one (``settle``, by the loaders, with the quarantine's
resolution): the oldest unsettled read is the oldest change not yet in RO App.

Bounded: ``purge`` deletes the events older than the store's ``history_keep_days`` (at the
end of each run). No credential is ever written; an order's read carries its buyer's phone
and e-mail only so that the order can be found by them.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterable

from sqlalchemy import Engine, delete, func, insert, select, update

from .tables import id_map, record_events

#: Every kind of event, and how the story says it.
EVENTS: dict[str, str] = {
    "read": "read from Cartum",
    "created": "created in RO App",
    "linked": "linked to a record RO App already held",
    "updated": "updated in RO App",
    "items_added": "items added",
    "items_changed": "items changed",
    "items_removed": "items removed",
    "status_changed": "status set",
    "comment_added": "comment posted",
    "quarantined": "quarantined",
    "resolved": "quarantine resolved",
    "retry_requested": "retry requested",
}

CHUNK = 500          # keys per IN (…) list: well within SQLite's and PostgreSQL's limits
REASON_CHARS = 500   # an API message kept in an event is cut here (the quarantine row has it whole)


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _chunks(keys: list[str]) -> Iterable[list[str]]:
    for start in range(0, len(keys), CHUNK):
        yield keys[start:start + CHUNK]


def read_detail(entity: str, record: dict[str, Any]) -> dict[str, Any]:
    """What a read says of a record: an order's status, total, lines, creation time and
    buyer key; a product's title and price; nothing of a client (its key says who)."""
    if entity == "orders":
        return {"cartum_status": record.get("cartum_status"), "roapp_status_id": record.get("roapp_status_id"),
                "total": record.get("total"), "currency": record.get("currency"), "paid": record.get("paid"),
                "items": len(record.get("items") or []), "created": record.get("created"),
                "client_key": record.get("client_key")}
    if entity == "products":
        return {"title": record.get("title"), "price": record.get("price")}
    return {}


class EventLog:
    """The events of one store. ``clock``: the time events are stamped with (settable in tests)."""

    def __init__(self, engine: Engine, store_id: str, clock: Callable[[], datetime] = _utcnow):
        self.engine = engine
        self.store_id = store_id
        self.clock = clock

    def add(self, run_id: str | None, entity: str, key: Any, event: str, *, roapp_id: int | None = None,
            detail: dict[str, Any] | None = None) -> None:
        if event not in EVENTS:
            raise ValueError(f"unknown event {event!r}")
        with self.engine.begin() as c:
            c.execute(insert(record_events).values(
                store_id=self.store_id, run_id=run_id, entity=entity, source_key=str(key), event=event,
                roapp_id=roapp_id, detail=detail or None, at=self.clock()))

    def add_reads(self, run_id: str, entity: str, key_field: str, records: list[dict[str, Any]],
                  contacts: dict[str, tuple[str | None, str | None]] | None = None) -> int:
        """Log the records' versions (``content_hash``) not read before and not already in RO
        App; ``contacts``: client key → (phone, e-mail) for orders. Returns how many."""
        by_key = {str(r[key_field]): r for r in records if r.get(key_field) is not None}
        known: dict[str, set[str]] = {}
        with self.engine.connect() as c:
            for chunk in _chunks(sorted(by_key)):
                for key, version in c.execute(select(record_events.c.source_key, record_events.c.version).where(
                        record_events.c.store_id == self.store_id, record_events.c.entity == entity,
                        record_events.c.event == "read", record_events.c.source_key.in_(chunk))):
                    known.setdefault(key, set()).add(version)
                for key, version in c.execute(select(id_map.c.source_key, id_map.c.content_hash).where(
                        id_map.c.store_id == self.store_id, id_map.c.entity == entity, id_map.c.status == "synced",
                        id_map.c.source_key.in_(chunk))):
                    known.setdefault(key, set()).add(version)
        now = self.clock()
        rows = []
        for key, record in by_key.items():
            if record.get("content_hash") in known.get(key, ()):
                continue
            phone, email = (contacts or {}).get(str(record.get("client_key")), (None, None))
            digits = "".join(ch for ch in str(phone or "") if ch.isdigit())
            rows.append({"store_id": self.store_id, "run_id": run_id, "entity": entity, "source_key": key,
                         "event": "read", "version": record.get("content_hash"), "phone_tail": digits[-9:] or None,
                         "email": email.strip().lower() if email else None,
                         "detail": read_detail(entity, record), "at": now, "roapp_id": None, "settled_at": None})
        if rows:
            with self.engine.begin() as c:
                c.execute(insert(record_events), rows)
        return len(rows)

    def settle(self, entity: str, keys: Iterable[Any]) -> None:
        """RO App holds these records as read (written, or unchanged): their reads are settled."""
        keys = sorted({str(k) for k in keys})
        now = self.clock()
        with self.engine.begin() as c:
            for chunk in _chunks(keys):
                c.execute(update(record_events).where(
                    record_events.c.store_id == self.store_id, record_events.c.entity == entity,
                    record_events.c.event == "read", record_events.c.settled_at.is_(None),
                    record_events.c.source_key.in_(chunk)).values(settled_at=now))

    def purge(self, keep_days: int) -> int:
        """Delete the events older than ``keep_days``; returns how many."""
        cutoff = self.clock() - timedelta(days=keep_days)
        with self.engine.begin() as c:
            return c.execute(delete(record_events).where(record_events.c.store_id == self.store_id,
                                                         record_events.c.at < cutoff)).rowcount

    def count(self) -> int:
        with self.engine.connect() as c:
            return int(c.execute(select(func.count()).select_from(record_events).where(
                record_events.c.store_id == self.store_id)).scalar_one())


def short(text: Any) -> str:
    """An API message as an event keeps it."""
    text = str(text)
    return text if len(text) <= REASON_CHARS else text[:REASON_CHARS - 1] + "…"
