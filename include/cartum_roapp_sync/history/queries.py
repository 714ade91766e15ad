"""What the run history says, read from the state database: every store at a glance, one
store's runs, the open quarantine, and one order's story. The CLI (``cartum-roapp
history``, ``order``, ``quarantine``) and the Airflow page (``history.plugin``) both show
these, so the two always agree. Read only; every query is SQLAlchemy Core.

Times are UTC ``datetime``s (aware); ages are seconds. ``zones`` maps a store to its
``timezone`` setting (the store's clock: Cartum's order times, and what "today" means);
a store missing from it counts in ``assumptions.CARTUM_STORE_TIMEZONE``.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, func, or_, select

from .. import assumptions
from ..state.cursors import CARTUM_TIME
from ..state.events import EVENTS
from ..state.store import as_utc
from ..state.tables import cursors, id_map, quarantine, record_events, run_entities, runs, store_state, \
    validation_results
from .words import event_text, quality_words

COUNTS = ("extracted", "created", "updated", "unchanged", "quarantined", "failed")
#: What puts an order in RO App, for "orders synced today / this week".
WRITTEN = ("created", "linked", "updated")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _zone(zones: dict[str, str] | None, store_id: str) -> ZoneInfo:
    return ZoneInfo((zones or {}).get(store_id) or assumptions.CARTUM_STORE_TIMEZONE)


def _age(now: datetime, then: datetime | None) -> float | None:
    return None if then is None else max(0.0, (now - as_utc(then)).total_seconds())


def store_ids(engine: Engine) -> list[str]:
    """Every store the state database knows (it ran, or has facts)."""
    with engine.connect() as c:
        known = set(c.execute(select(runs.c.store_id).distinct()).scalars())
        known |= set(c.execute(select(store_state.c.store_id)).scalars())
    return sorted(known)


def _run_row(row: Any) -> dict[str, Any]:
    run = dict(row)
    for name in ("started_at", "finished_at"):
        run[name] = as_utc(run.get(name))
    run["warnings"] = list(run.get("warnings") or [])
    return run


def stores_overview(engine: Engine, *, zones: dict[str, str] | None = None, names: dict[str, str] | None = None,
                    only: Iterable[str] | None = None, now: datetime | None = None) -> list[dict[str, Any]]:
    """One row per store: its last run (outcome, time, mode), freshness (the age of the
    newest Cartum order RO App holds every order up to: the orders cursor; and the age of
    the oldest change read from Cartum not yet in RO App: the oldest unsettled read or open
    quarantine row), orders written to RO App today and this week (distinct orders, store
    time), open quarantine, and warnings (the last run's: degraded setup, reconcile findings;
    its error when it failed)."""
    now = now or utcnow()
    wanted = sorted(only) if only is not None else store_ids(engine)
    rows = []
    with engine.connect() as c:
        for store in wanted:
            zone = _zone(zones, store)
            last = c.execute(select(runs).where(runs.c.store_id == store).order_by(
                runs.c.started_at.desc()).limit(1)).mappings().first()
            last_ok = c.execute(select(func.max(runs.c.started_at)).where(
                runs.c.store_id == store, runs.c.status == "success")).scalar()
            cursor = c.execute(select(cursors.c.value).where(
                cursors.c.store_id == store, cursors.c.entity == "orders", cursors.c.name == "created")).scalar()
            newest = _store_time_utc(cursor, zone)
            pending_read = c.execute(select(func.min(record_events.c.at)).where(
                record_events.c.store_id == store, record_events.c.event == "read",
                record_events.c.settled_at.is_(None))).scalar()
            pending_quarantine = c.execute(select(func.min(quarantine.c.first_seen_at)).where(
                quarantine.c.store_id == store, quarantine.c.resolved_at.is_(None))).scalar()
            oldest = min((as_utc(t) for t in (pending_read, pending_quarantine) if t is not None), default=None)
            today = _local_midnight(now, zone)
            week = today - timedelta(days=today.astimezone(zone).weekday())
            synced = {}
            for label, since in (("today", today), ("week", week)):
                synced[label] = int(c.execute(select(func.count(func.distinct(record_events.c.source_key))).where(
                    record_events.c.store_id == store, record_events.c.entity == "orders",
                    record_events.c.event.in_(WRITTEN), record_events.c.at >= since)).scalar_one())
            open_count = int(c.execute(select(func.count()).select_from(quarantine).where(
                quarantine.c.store_id == store, quarantine.c.resolved_at.is_(None))).scalar_one())
            last_run = _run_row(last) if last else None
            warnings = list(last_run["warnings"]) if last_run else []
            if last_run and last_run["status"] == "failed" and last_run.get("error"):
                warnings.insert(0, f"last run failed: {last_run['error']}")
            rows.append({
                "store_id": store, "name": (names or {}).get(store, store),
                "last_run": None if last_run is None else {
                    k: last_run.get(k) for k in ("run_id", "status", "mode", "started_at", "finished_at",
                                                 "duration_s")},
                "last_success_at": as_utc(last_ok),
                "newest_in_roapp": newest, "newest_in_roapp_age_s": _age(now, newest),
                "oldest_pending": oldest, "oldest_pending_age_s": _age(now, oldest),
                "orders_synced_today": synced["today"], "orders_synced_week": synced["week"],
                "open_quarantine": open_count, "warnings": warnings})
    return rows


def _store_time_utc(value: str | None, zone: ZoneInfo) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.strptime(value, CARTUM_TIME).replace(tzinfo=zone).astimezone(timezone.utc)
    except ValueError:
        return None


def _local_midnight(now: datetime, zone: ZoneInfo) -> datetime:
    local = now.astimezone(zone)
    return local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(timezone.utc)


def store_runs(engine: Engine, store_id: str, *, last: int | None = 50, status: str | None = None,
               since: datetime | None = None) -> list[dict[str, Any]]:
    """The store's runs, newest first (at most ``last``; ``status``: success, failed or
    running; ``since``: started at or after): each with its counts summed over the entities
    (``totals``) and per entity (``entities``), its duration, calls and warnings."""
    query = select(runs).where(runs.c.store_id == store_id)
    if status:
        query = query.where(runs.c.status == status)
    if since is not None:
        query = query.where(runs.c.started_at >= since)
    query = query.order_by(runs.c.started_at.desc())
    if last:
        query = query.limit(last)
    with engine.connect() as c:
        found = [_run_row(r) for r in c.execute(query).mappings()]
        ids = [r["run_id"] for r in found]
        per_run: dict[str, dict[str, dict[str, int]]] = {}
        for start in range(0, len(ids), 500):
            for row in c.execute(select(run_entities).where(run_entities.c.store_id == store_id,
                                                            run_entities.c.run_id.in_(ids[start:start + 500]))
                                 ).mappings():
                per_run.setdefault(row["run_id"], {})[row["entity"]] = {k: int(row[k] or 0) for k in COUNTS}
    for run in found:
        entities = per_run.get(run["run_id"], {})
        run["entities"] = entities
        run["totals"] = {k: sum(e[k] for e in entities.values()) for k in COUNTS}
    return found


def run_quality(engine: Engine, store_id: str, run_id: str) -> list[dict[str, Any]]:
    """The data quality results of one run, per entity, with a sentence each (``words``)."""
    with engine.connect() as c:
        rows = c.execute(select(validation_results).where(
            validation_results.c.store_id == store_id, validation_results.c.run_id == run_id).order_by(
            validation_results.c.entity)).mappings().all()
    return [{"entity": r["entity"], "success": bool(r["success"]), "summary": r["summary"],
             "text": quality_words(r["entity"], r["summary"] or {})} for r in rows]


def open_quarantine(engine: Engine, store_id: str | None = None, *, entity: str | None = None,
                    stage: str | None = None) -> list[dict[str, Any]]:
    """The records held back now, oldest first: what, why, since when, how many runs."""
    query = select(quarantine.c.id, quarantine.c.store_id, quarantine.c.entity, quarantine.c.source_key,
                   quarantine.c.stage, quarantine.c.reason, quarantine.c.attempts, quarantine.c.first_seen_at,
                   quarantine.c.last_seen_at, quarantine.c.run_id).where(quarantine.c.resolved_at.is_(None))
    if store_id:
        query = query.where(quarantine.c.store_id == store_id)
    if entity:
        query = query.where(quarantine.c.entity == entity)
    if stage:
        query = query.where(quarantine.c.stage == stage)
    with engine.connect() as c:
        rows = [dict(r) for r in c.execute(query.order_by(quarantine.c.id)).mappings()]
    for row in rows:
        row["first_seen_at"], row["last_seen_at"] = as_utc(row["first_seen_at"]), as_utc(row["last_seen_at"])
    return rows


# --- an order's story ---------------------------------------------------------------------

def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def find_orders(engine: Engine, text: str, store_id: str | None = None, *, limit: int = 20) -> list[tuple[str, str]]:
    """(store, Cartum order number) of the orders a search names: a Cartum order number, an
    RO App order id, a buyer's phone (any format: its last 9 digits) or e-mail."""
    text = text.strip()
    if not text:
        return []
    scope = [record_events.c.entity == "orders"] + ([record_events.c.store_id == store_id] if store_id else [])
    conditions = []
    if "@" in text:
        conditions.append(record_events.c.email == text.lower())
    digits = _digits(text)
    if digits and digits == text.lstrip("#").strip():
        conditions.append(record_events.c.source_key == digits)
        conditions.append(record_events.c.roapp_id == int(digits))
    if len(digits) >= 9:
        conditions.append(record_events.c.phone_tail == digits[-9:])
    found: list[tuple[str, str]] = []
    with engine.connect() as c:
        for condition in conditions:  # one query each: each can use its own index, an OR of them none
            found += [tuple(r) for r in c.execute(select(record_events.c.store_id, record_events.c.source_key).where(
                *scope, condition).distinct().limit(limit)) if tuple(r) not in found]
        if digits and digits == text.lstrip("#").strip():
            # orders the log no longer (or never) tells, still in the id map
            mapped = select(id_map.c.store_id, id_map.c.source_key).where(
                id_map.c.entity == "orders", or_(id_map.c.source_key == digits, id_map.c.roapp_id == int(digits)))
            if store_id:
                mapped = mapped.where(id_map.c.store_id == store_id)
            found += [tuple(r) for r in c.execute(mapped) if tuple(r) not in found]
    return sorted(set(found))[:limit]


def order_story(engine: Engine, store_id: str, number: str) -> dict[str, Any]:
    """Everything known of one order: its RO App id and state in the id map, every event
    (read, created, items, status, comments, quarantine) in order with the run it happened
    in and a sentence, and its quarantine rows (open and resolved) with their reasons."""
    number = str(number).strip().lstrip("#")
    with engine.connect() as c:
        mapped = c.execute(select(id_map).where(id_map.c.store_id == store_id, id_map.c.entity == "orders",
                                                id_map.c.source_key == number)).mappings().first()
        # sorted here: an ORDER BY tempts SQLite to walk the time index instead of the record's
        events = sorted(c.execute(select(record_events).where(
            record_events.c.store_id == store_id, record_events.c.entity == "orders",
            record_events.c.source_key == number)).mappings().all(), key=lambda e: (as_utc(e["at"]), e["id"]))
        held = c.execute(select(quarantine).where(
            quarantine.c.store_id == store_id, quarantine.c.entity == "orders",
            quarantine.c.source_key == number).order_by(quarantine.c.id)).mappings().all()
        client_key = next((e["detail"] or {}).get("client_key") for e in reversed(events)
                          if e["event"] == "read") if any(e["event"] == "read" for e in events) else None
        if client_key is None and mapped is not None:
            client_key = (mapped["details"] or {}).get("client_key")
        client = c.execute(select(id_map.c.roapp_id).where(
            id_map.c.store_id == store_id, id_map.c.entity == "clients", id_map.c.source_key == str(client_key))
        ).scalar() if client_key else None
    details = dict(mapped["details"] or {}) if mapped else {}
    roapp_id = mapped["roapp_id"] if mapped else next((e["roapp_id"] for e in events if e["roapp_id"]), None)
    return {
        "store_id": store_id, "order": number, "found": bool(mapped or events or held),
        "roapp_id": roapp_id, "state": mapped["status"] if mapped else None,
        "synced_at": as_utc(mapped["synced_at"]) if mapped else None,
        "cartum_status": details.get("cartum_status"), "roapp_status_id": details.get("roapp_status_id"),
        "client_key": client_key, "client_roapp_id": client,
        "events": [{"at": as_utc(e["at"]), "run_id": e["run_id"], "event": e["event"], "roapp_id": e["roapp_id"],
                    "detail": e["detail"] or {}, "settled_at": as_utc(e["settled_at"]),
                    "text": event_text(e["event"], e["detail"] or {})} for e in events],
        "quarantine": [{"id": q["id"], "stage": q["stage"], "reason": q["reason"], "attempts": q["attempts"],
                        "first_seen_at": as_utc(q["first_seen_at"]), "last_seen_at": as_utc(q["last_seen_at"]),
                        "resolved_at": as_utc(q["resolved_at"]), "resolution": q["resolution"], "run_id": q["run_id"]}
                       for q in held],
    }


def event_counts(engine: Engine, store_id: str | None = None) -> dict[str, int]:
    """Events by kind (every kind of ``EVENTS``, 0 when none)."""
    query = select(record_events.c.event, func.count()).group_by(record_events.c.event)
    if store_id:
        query = query.where(record_events.c.store_id == store_id)
    with engine.connect() as c:
        found = dict(c.execute(query).all())
    return {kind: int(found.get(kind, 0)) for kind in EVENTS}
