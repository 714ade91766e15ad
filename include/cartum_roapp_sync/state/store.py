"""What the sync remembers, per store, in the state database (tables in ``tables``): store
facts and cursors, the id map (Cartum key → RO App id, content hash, create intents),
known product articles, data passed between a run's tasks, run history, step outcomes,
per-entity counts, validation results and the quarantine.

The orders re-read by id (``reread_order_ids``) stay bounded: an order leaves that set
when it has been final for longer than the store's ``final_days`` (``final_since`` in its
id-map details, written by the orders loader) or when Cartum no longer has it
(``gone_at``, ``mark_orders_gone``); resolved quarantine rows are purged after
``quarantine_keep_days`` (``purge_resolved_quarantine``). The store's clock (``now``) is
settable, so tests move time instead of waiting.

Every query is built with SQLAlchemy Core; nothing is string-formatted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterable

from sqlalchemy import Engine, Table, and_, delete, func, insert, select, update

from ..entities import PRODUCTS, Entity
from .cursors import Cursor
from .events import EventLog, short
from .tables import (
    STORE_TABLES,
    id_map,
    product_articles,
    quarantine,
    run_entities,
    run_steps,
    runs,
    staged,
    store_state,
    validation_results,
)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


COUNTERS = ("extracted", "created", "updated", "unchanged", "quarantined", "failed")


@dataclass
class IdMapRow:
    source_key: str
    roapp_id: int | None
    status: str
    content_hash: str | None
    marker: str | None
    details: dict[str, Any]
    intent_at: datetime | None


class StateStore:
    """The state of one store. Each method is one short transaction."""

    def __init__(self, engine: Engine, store_id: str, clock: Callable[[], datetime] = utcnow):
        self.engine = engine
        self.store_id = store_id
        self.clock = clock

    @property
    def events(self) -> EventLog:
        """The store's record events (``state.events``), stamped by this store's clock."""
        return EventLog(self.engine, self.store_id, self.now)

    def now(self) -> datetime:
        """The time the re-read policy counts with (UTC; ``clock`` is settable for tests)."""
        return as_utc(self.clock())

    # --- store facts and cursors ------------------------------------------------------

    def cursor(self, entity: Entity) -> Cursor:
        """The entity's cursor (``entities.CursorSpec``); the entity must declare one."""
        if entity.cursor is None:
            raise ValueError(f"{entity.name} has no cursor")
        return Cursor(self.engine, self.store_id, entity.name, entity.cursor.name)

    def get_store_state(self) -> dict[str, Any] | None:
        """The store's facts (first import time and cutoff, last catalogue refresh), or None."""
        with self.engine.connect() as c:
            row = c.execute(select(store_state).where(store_state.c.store_id == self.store_id)).mappings().first()
        return dict(row) if row else None

    def request_reconcile(self) -> datetime:
        """Ask for a reconcile pass: the store's next run that starts after now makes one
        (``pipeline.reconcile``). Returns the time of the request."""
        now = utcnow()
        self.set_store_state(reconcile_requested_at=now)
        return now

    def set_store_state(self, **values: Any) -> None:
        values = {**values, "updated_at": utcnow()}
        with self.engine.begin() as c:
            done = c.execute(update(store_state).where(store_state.c.store_id == self.store_id).values(**values))
            if not done.rowcount:
                c.execute(insert(store_state).values(store_id=self.store_id, **values))

    # --- id map -----------------------------------------------------------------------

    def id_rows(self, entity: str, keys: Iterable[str] | None = None) -> dict[str, IdMapRow]:
        query = select(id_map).where(id_map.c.store_id == self.store_id, id_map.c.entity == entity)
        if keys is not None:
            keys = list(keys)
            if not keys:
                return {}
            query = query.where(id_map.c.source_key.in_(keys))
        with self.engine.connect() as c:
            rows = c.execute(query).mappings().all()
        return {r["source_key"]: IdMapRow(r["source_key"], r["roapp_id"], r["status"], r["content_hash"],
                                          r["marker"], dict(r["details"] or {}), r["intent_at"]) for r in rows}

    def _write_id(self, entity: str, key: str, **values: Any) -> None:
        values = {**values, "updated_at": utcnow()}
        where = and_(id_map.c.store_id == self.store_id, id_map.c.entity == entity, id_map.c.source_key == key)
        with self.engine.begin() as c:
            if not c.execute(update(id_map).where(where).values(**values)).rowcount:
                c.execute(insert(id_map).values(store_id=self.store_id, entity=entity, source_key=key, **values))

    def forget(self, entity: str, key: str) -> None:
        """Drop a record's mapping (its RO App record is gone: deleted or merged there)."""
        with self.engine.begin() as c:
            c.execute(delete(id_map).where(id_map.c.store_id == self.store_id, id_map.c.entity == entity,
                                           id_map.c.source_key == key))

    def record_intent(self, entity: str, key: str, marker: str, details: dict[str, Any] | None = None) -> None:
        """Written (and committed) before the create request is sent."""
        self._write_id(entity, key, status="intent", marker=marker, intent_at=utcnow(),
                       details=details or {}, roapp_id=None, content_hash=None)

    def record_created_id(self, entity: str, key: str, roapp_id: int, details: dict[str, Any]) -> None:
        """RO App confirmed the create; later steps of the record may still be pending."""
        self._write_id(entity, key, roapp_id=roapp_id, details=details)

    def record_progress(self, entity: str, key: str, details: dict[str, Any]) -> None:
        self._write_id(entity, key, details=details)

    def record_synced(self, entity: str, key: str, roapp_id: int, content_hash: str,
                      details: dict[str, Any] | None = None) -> None:
        values: dict[str, Any] = {"roapp_id": roapp_id, "status": "synced", "content_hash": content_hash,
                                  "synced_at": utcnow()}
        if details is not None:
            values["details"] = details
        self._write_id(entity, key, **values)

    def final_statuses(self, configured: Iterable[int]) -> set[int]:
        """The Cartum statuses in which an order counts as final: those the last setup check
        derived (they include ``configured``), or ``configured`` before any check stored them."""
        stored = (self.get_store_state() or {}).get("final_statuses")
        return {int(s) for s in stored} if stored is not None else {int(s) for s in configured}

    def open_order_ids(self, final_statuses: Iterable[int], final_since: datetime | None = None) -> list[int]:
        """The orders to re-read by id (not counting quarantine): those in the id map whose
        last known Cartum status is not final (they may still change), and, given
        ``final_since``, the final ones that became final at or after it. Intent rows count
        too (no status known yet), so a create a dead run left half done is re-read and
        finished. Orders gone from Cartum (``mark_orders_gone``) never count; an order final
        without a ``final_since`` (recorded before it was kept) counts as final for long."""
        final = set(final_statuses)

        def wanted(row: IdMapRow) -> bool:
            if row.details.get("gone_at"):
                return False
            if row.details.get("cartum_status") not in final:
                return True
            since = row.details.get("final_since")
            return final_since is not None and since is not None and as_utc(
                datetime.fromisoformat(since)) >= final_since

        return sorted(int(key) for key, row in self.id_rows("orders").items() if wanted(row))

    def mark_orders_gone(self, keys: Iterable[str], gone: bool = True) -> int:
        """Mark orders Cartum no longer has (``gone_at``: they leave the re-read set), or,
        with ``gone`` False, clear the mark of orders seen again. Returns how many changed."""
        rows = self.id_rows("orders", [str(k) for k in keys])
        changed = 0
        for key, row in rows.items():
            if bool(row.details.get("gone_at")) == gone:
                continue
            details = dict(row.details)
            if gone:
                details["gone_at"] = self.now().isoformat()
            else:
                details.pop("gone_at", None)
            self._write_id("orders", key, details=details)
            changed += 1
        return changed

    # --- product articles -------------------------------------------------------------

    def article_index(self) -> tuple[dict[str, str], dict[str, str]]:
        """(article → product_key, product_key → title) learnt from earlier catalogue reads,
        loaded or not: the transform keys order lines with it."""
        with self.engine.connect() as c:
            rows = c.execute(select(product_articles).where(product_articles.c.store_id == self.store_id)).all()
        return ({r.article: r.product_key for r in rows},
                {r.product_key: r.title for r in rows if r.title is not None})

    def loaded_articles(self) -> set[str]:
        """The articles whose product RO App holds (synced in the id map). Only these count as
        known for the on-demand fetch: an article the transform indexed but whose product was
        quarantined, rejected or never loaded is read from Cartum again by the next run."""
        with self.engine.connect() as c:
            rows = c.execute(select(product_articles.c.article).join(id_map, and_(
                id_map.c.store_id == product_articles.c.store_id, id_map.c.entity == PRODUCTS.name,
                id_map.c.source_key == product_articles.c.product_key)).where(
                product_articles.c.store_id == self.store_id, id_map.c.status == "synced")).scalars().all()
        return set(rows)

    def save_articles(self, index: dict[str, str], titles: dict[str, str]) -> None:
        if not index:
            return
        now = utcnow()
        with self.engine.begin() as c:
            c.execute(delete(product_articles).where(product_articles.c.store_id == self.store_id,
                                                     product_articles.c.article.in_(list(index))))
            c.execute(insert(product_articles), [
                {"store_id": self.store_id, "article": a, "product_key": k, "title": titles.get(k), "updated_at": now}
                for a, k in index.items()])

    def forget_product(self, product_key: str) -> None:
        """A product gone from RO App: its mapping and its articles are dropped, so the next
        run reads it from Cartum again and creates it."""
        self.forget("products", product_key)
        with self.engine.begin() as c:
            c.execute(delete(product_articles).where(product_articles.c.store_id == self.store_id,
                                                     product_articles.c.product_key == product_key))

    # --- data passed between tasks ----------------------------------------------------

    def stage(self, run_id: str, name: str, payload: Any) -> None:
        self.stage_json(run_id, name, json.dumps(payload, ensure_ascii=False, default=str))

    def stage_json(self, run_id: str, name: str, text: str) -> None:
        """``stage`` of a payload already written as JSON text (read back by ``staged``)."""
        with self.engine.begin() as c:
            c.execute(delete(staged).where(staged.c.store_id == self.store_id, staged.c.run_id == run_id,
                                           staged.c.name == name))
            c.execute(insert(staged).values(store_id=self.store_id, run_id=run_id, name=name, payload=text,
                                            created_at=utcnow()))

    def staged(self, run_id: str, name: str, default: Any = None) -> Any:
        with self.engine.connect() as c:
            text = c.execute(select(staged.c.payload).where(
                staged.c.store_id == self.store_id, staged.c.run_id == run_id, staged.c.name == name)).scalar()
        return json.loads(text) if text is not None else default

    def drop_staged(self, keep_run_id: str | None = None) -> None:
        """Forget staged data of every run but ``keep_run_id``."""
        query = delete(staged).where(staged.c.store_id == self.store_id)
        if keep_run_id is not None:
            query = query.where(staged.c.run_id != keep_run_id)
        with self.engine.begin() as c:
            c.execute(query)

    # --- run history ------------------------------------------------------------------

    def start_run(self, run_id: str, first_import: bool, mode: str | None = None) -> None:
        """A run begins (again, on a retry of ``validate_setup``, the run's first step: its history starts over).
        ``mode``: first_import, incremental or reconcile."""
        with self.engine.begin() as c:
            c.execute(delete(runs).where(runs.c.store_id == self.store_id, runs.c.run_id == run_id))
            c.execute(delete(run_entities).where(run_entities.c.store_id == self.store_id,
                                                 run_entities.c.run_id == run_id))
            c.execute(insert(runs).values(store_id=self.store_id, run_id=run_id, started_at=utcnow(),
                                          status="running", first_import=first_import, cartum_calls=0,
                                          roapp_calls=0, roapp_writes=0, mode=mode, warnings=[],
                                          found_by_reconcile=0))

    def add_run_warnings(self, run_id: str, warnings: Iterable[str]) -> None:
        """Add warnings to the run's list; one already there is not added twice (a step's
        retry warns again)."""
        where = and_(runs.c.store_id == self.store_id, runs.c.run_id == run_id)
        with self.engine.begin() as c:
            current = list(c.execute(select(runs.c.warnings).where(where)).scalar() or [])
            added = [w for w in warnings if w not in current]
            if added:
                c.execute(update(runs).where(where).values(warnings=current + added))

    def set_found_by_reconcile(self, run_id: str, count: int) -> None:
        with self.engine.begin() as c:
            c.execute(update(runs).where(runs.c.store_id == self.store_id, runs.c.run_id == run_id).values(
                found_by_reconcile=count))

    def add_calls(self, run_id: str, *, cartum: int = 0, roapp: int = 0, roapp_writes: int = 0) -> None:
        with self.engine.begin() as c:
            c.execute(update(runs).where(runs.c.store_id == self.store_id, runs.c.run_id == run_id).values(
                cartum_calls=runs.c.cartum_calls + cartum, roapp_calls=runs.c.roapp_calls + roapp,
                roapp_writes=runs.c.roapp_writes + roapp_writes))

    def set_counts(self, run_id: str, entity: str, **counts: int) -> None:
        """Set some of an entity's counters for this run (others keep their value)."""
        unknown = set(counts) - set(COUNTERS)
        if unknown:
            raise ValueError(f"unknown counters {sorted(unknown)}")
        where = and_(run_entities.c.store_id == self.store_id, run_entities.c.run_id == run_id,
                     run_entities.c.entity == entity)
        with self.engine.begin() as c:
            if not c.execute(update(run_entities).where(where).values(**counts)).rowcount:
                c.execute(insert(run_entities).values(store_id=self.store_id, run_id=run_id, entity=entity,
                                                      **{k: counts.get(k, 0) for k in COUNTERS}))

    def record_step(self, run_id: str, step: str, error: str | None = None, *, skipped: bool = False) -> None:
        """A step finished (``error`` None), failed, or was skipped (the run found nothing
        changed); a retry's outcome replaces the last."""
        where = and_(run_steps.c.store_id == self.store_id, run_steps.c.run_id == run_id, run_steps.c.step == step)
        status = "failed" if error is not None else "skipped" if skipped else "done"
        values = {"status": status, "error": error, "finished_at": utcnow()}
        with self.engine.begin() as c:
            if not c.execute(update(run_steps).where(where).values(**values)).rowcount:
                c.execute(insert(run_steps).values(store_id=self.store_id, run_id=run_id, step=step, **values))

    def drop_steps(self, run_id: str) -> None:
        """Forget the step outcomes of run ``run_id`` (its first step starts it over)."""
        with self.engine.begin() as c:
            c.execute(delete(run_steps).where(run_steps.c.store_id == self.store_id, run_steps.c.run_id == run_id))

    def step_outcomes(self, run_id: str) -> dict[str, tuple[str, str | None]]:
        """step → (status, error) for every step of the run that finished or failed."""
        with self.engine.connect() as c:
            rows = c.execute(select(run_steps.c.step, run_steps.c.status, run_steps.c.error).where(
                run_steps.c.store_id == self.store_id, run_steps.c.run_id == run_id)).all()
        return {r.step: (r.status, r.error) for r in rows}

    def finish_run(self, run_id: str, status: str, error: str | None = None, *,
                   no_change: bool = False) -> dict[str, Any]:
        now = utcnow()
        with self.engine.begin() as c:
            started = c.execute(select(runs.c.started_at).where(
                runs.c.store_id == self.store_id, runs.c.run_id == run_id)).scalar()
            duration = (now - as_utc(started)).total_seconds() if started else None
            c.execute(update(runs).where(runs.c.store_id == self.store_id, runs.c.run_id == run_id).values(
                finished_at=now, status=status, error=error, duration_s=duration, no_change=no_change))
        return self.run_summary(run_id)

    def run_summary(self, run_id: str) -> dict[str, Any]:
        with self.engine.connect() as c:
            run = c.execute(select(runs).where(runs.c.store_id == self.store_id,
                                               runs.c.run_id == run_id)).mappings().first()
            entities = c.execute(select(run_entities).where(
                run_entities.c.store_id == self.store_id, run_entities.c.run_id == run_id)).mappings().all()
        return {"run": dict(run) if run else None,
                "entities": {e["entity"]: {k: e[k] for k in COUNTERS} for e in entities}}

    # --- quality and quarantine -------------------------------------------------------

    def save_validation(self, run_id: str, entity: str, success: bool, summary: dict[str, Any]) -> None:
        with self.engine.begin() as c:
            c.execute(delete(validation_results).where(
                validation_results.c.store_id == self.store_id, validation_results.c.run_id == run_id,
                validation_results.c.entity == entity))
            c.execute(insert(validation_results).values(store_id=self.store_id, run_id=run_id, entity=entity,
                                                        success=success, summary=summary, created_at=utcnow()))

    def quarantine(self, run_id: str, entity: str, key: str, stage: str, reason: str,
                   record: dict[str, Any] | None = None) -> None:
        """Quarantine a record: one open row per record, stage, reason and version (its
        ``content_hash``). A record failing again the same way updates that row: carried
        into this run, ``last_seen_at`` now, ``attempts`` + 1 once per run (a step's retry in
        the same run is no new attempt). Another reason or version opens a row of its own."""
        record = json.loads(json.dumps(record, default=str)) if record else None
        version = (record or {}).get("content_hash")
        now = utcnow()
        with self.engine.begin() as c:
            open_rows = c.execute(select(quarantine.c.id, quarantine.c.run_id, quarantine.c.record).where(
                quarantine.c.store_id == self.store_id, quarantine.c.entity == entity,
                quarantine.c.source_key == str(key), quarantine.c.stage == stage, quarantine.c.reason == reason,
                quarantine.c.resolved_at.is_(None)).order_by(quarantine.c.id.desc())).all()
            same = next((r for r in open_rows if ((r.record or {}).get("content_hash")) == version), None)
            if same is not None:
                attempts = quarantine.c.attempts + (0 if same.run_id == run_id else 1)
                c.execute(update(quarantine).where(quarantine.c.id == same.id).values(
                    run_id=run_id, record=record, attempts=attempts, last_seen_at=now))
                return
            c.execute(insert(quarantine).values(
                store_id=self.store_id, run_id=run_id, entity=entity, source_key=str(key), stage=stage,
                reason=reason, record=record, created_at=now, first_seen_at=now, last_seen_at=now, attempts=1))
        self.events.add(run_id, entity, key, "quarantined", detail={"stage": stage, "reason": short(reason)})

    def resolve_quarantine(self, entity: str, keys: Iterable[str], resolution: str | None = None,
                           run_id: str | None = None) -> int:
        """Resolve every open row of these records (``resolution`` says why, when it is not
        that RO App now holds the record); returns how many rows. Each record resolved gets
        a ``resolved`` event (of ``run_id``; None: by a person)."""
        keys = [str(k) for k in keys]
        if not keys:
            return 0
        where = (quarantine.c.store_id == self.store_id, quarantine.c.entity == entity,
                 quarantine.c.source_key.in_(keys), quarantine.c.resolved_at.is_(None))
        with self.engine.begin() as c:
            held = sorted(set(c.execute(select(quarantine.c.source_key).where(*where)).scalars()))
            done = c.execute(update(quarantine).where(*where).values(resolved_at=self.now(),
                                                                     resolution=resolution)).rowcount
        for key in held:
            self.events.add(run_id, entity, key, "resolved", detail={"resolution": resolution} if resolution else None)
        return done

    def purge_resolved_quarantine(self, keep_days: int) -> int:
        """Delete the quarantine rows resolved more than ``keep_days`` ago; returns how many.
        Open rows are never purged."""
        cutoff = self.now() - timedelta(days=keep_days)
        with self.engine.begin() as c:
            return c.execute(delete(quarantine).where(
                quarantine.c.store_id == self.store_id, quarantine.c.resolved_at.is_not(None),
                quarantine.c.resolved_at < cutoff)).rowcount

    def quarantined_count(self, run_id: str, entity: str) -> int:
        """Records of the entity this run quarantined (each once, however many tries)."""
        with self.engine.connect() as c:
            return int(c.execute(select(func.count(func.distinct(quarantine.c.source_key))).where(
                quarantine.c.store_id == self.store_id, quarantine.c.run_id == run_id,
                quarantine.c.entity == entity)).scalar_one())

    def run_quarantine(self, run_id: str, limit: int) -> tuple[int, list[dict[str, Any]]]:
        """How many records this run quarantined (each once, any entity) and its first
        ``limit`` quarantine rows (entity, source_key, stage, reason), oldest first."""
        records = select(quarantine.c.entity, quarantine.c.source_key).distinct().where(
            quarantine.c.store_id == self.store_id, quarantine.c.run_id == run_id).subquery()
        with self.engine.connect() as c:
            count = int(c.execute(select(func.count()).select_from(records)).scalar_one())
            first = c.execute(select(quarantine.c.entity, quarantine.c.source_key, quarantine.c.stage,
                                     quarantine.c.reason).where(
                quarantine.c.store_id == self.store_id, quarantine.c.run_id == run_id)
                .order_by(quarantine.c.id).limit(limit)).mappings().all()
        return count, [dict(row) for row in first]

    def open_quarantine(self, entity: str | None = None) -> list[dict[str, Any]]:
        query = select(quarantine).where(quarantine.c.store_id == self.store_id, quarantine.c.resolved_at.is_(None))
        if entity:
            query = query.where(quarantine.c.entity == entity)
        with self.engine.connect() as c:
            return [dict(r) for r in c.execute(query.order_by(quarantine.c.id)).mappings().all()]

    def purge(self) -> None:
        """Forget everything about this store (``stores remove --purge``)."""
        with self.engine.begin() as c:
            for table in STORE_TABLES:
                c.execute(delete(table).where(table.c.store_id == self.store_id))


def as_utc(value: datetime | None) -> datetime | None:
    """A timestamp read back from the state database, aware (SQLite hands timestamps back
    without their timezone); None stays None."""
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def count_rows(engine: Engine, table: Table, **where: Any) -> int:
    query = select(func.count()).select_from(table)
    for name, value in where.items():
        query = query.where(table.c[name] == value)
    with engine.connect() as c:
        return int(c.execute(query).scalar_one())
