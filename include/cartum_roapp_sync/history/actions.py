"""What a person does about a quarantined record: ask for a retry, or mark it resolved
with a note. Each leaves an event in the record's story (``state.events``). Shared by the
CLI (``cartum-roapp quarantine retry|resolve``) and the page's actions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, select, update

from ..state.store import StateStore
from ..state.tables import quarantine

NOTE_CHARS = 1000


class QuarantineActionError(ValueError):
    """The row asked for does not exist or is not open; the message says which and what to do."""


@dataclass
class Retried:
    id: int
    store_id: str
    entity: str
    source_key: str
    how: str       # what makes the next run try it again


#: Why the next run tries each entity's quarantined record again.
RETRY_HOW = {
    "orders": "the next run re-reads the order from Cartum by its number and loads it if it passes",
    "products": "the next run reads the whole catalogue again (a refresh is requested) and loads it if it passes",
    "clients": "the next run builds the client again from the orders and profiles it reads; an order waiting "
               "for it is re-read by number and brings its buyer along",
}


def _open_rows(engine: Engine, ids: list[int] | None, store_id: str | None) -> list[dict[str, Any]]:
    query = select(quarantine).where(quarantine.c.resolved_at.is_(None))
    if ids is not None:
        query = query.where(quarantine.c.id.in_(ids))
    if store_id:
        query = query.where(quarantine.c.store_id == store_id)
    with engine.connect() as c:
        return [dict(r) for r in c.execute(query.order_by(quarantine.c.id)).mappings()]


def retry(engine: Engine, ids: list[int] | None = None, *, store_id: str | None = None,
          by: str | None = None) -> list[Retried]:
    """Ask the next run to try these open rows again (``ids`` None: every open row, of
    ``store_id`` when given). An open quarantined order is re-read every run anyway; a
    product needs the catalogue read again, so a refresh is requested for its store."""
    rows = _open_rows(engine, ids, store_id)
    if ids is not None:
        missing = sorted(set(ids) - {r["id"] for r in rows})
        if missing:
            raise QuarantineActionError(
                f"quarantine row(s) {', '.join(map(str, missing))} are not open (resolved already, or no such id): "
                f"list the open ones with `cartum-roapp quarantine`")
    done = []
    refreshed: set[str] = set()
    for row in rows:
        state = StateStore(engine, row["store_id"])
        if row["entity"] == "products" and row["store_id"] not in refreshed:
            state.set_store_state(catalog_refreshed_at=None)
            refreshed.add(row["store_id"])
        state.events.add(None, row["entity"], row["source_key"], "retry_requested",
                         detail={"quarantine_id": row["id"], **({"by": by} if by else {})})
        done.append(Retried(row["id"], row["store_id"], row["entity"], row["source_key"], RETRY_HOW[row["entity"]]))
    return done


def resolve(engine: Engine, row_id: int, note: str, *, by: str | None = None) -> dict[str, Any]:
    """Mark one open row resolved with a person's note (kept as its ``resolution``). Should the
    record fail again, a new row opens. Returns the row as it was."""
    note = (note or "").strip()
    if not note:
        raise QuarantineActionError("say why in a note (--note \"…\"): it is kept with the row")
    rows = _open_rows(engine, [row_id], None)
    if not rows:
        raise QuarantineActionError(f"quarantine row {row_id} is not open (resolved already, or no such id): list the "
                                    f"open ones with `cartum-roapp quarantine`")
    row = rows[0]
    resolution = (f"resolved by {by}: " if by else "resolved by hand: ") + note[:NOTE_CHARS]
    state = StateStore(engine, row["store_id"])
    with engine.begin() as c:
        c.execute(update(quarantine).where(quarantine.c.id == row_id).values(resolved_at=state.now(),
                                                                            resolution=resolution))
    state.events.add(None, row["entity"], row["source_key"], "resolved",
                     detail={"resolution": resolution, "quarantine_id": row_id})
    with engine.connect() as c:
        still_open = c.execute(select(quarantine.c.id).where(
            quarantine.c.store_id == row["store_id"], quarantine.c.entity == row["entity"],
            quarantine.c.source_key == row["source_key"], quarantine.c.resolved_at.is_(None))).first()
    if still_open is None:  # nothing holds the record back any more: its change no longer counts as pending
        state.events.settle(row["entity"], [row["source_key"]])
    return row
