"""What the sync remembers, per store, in the state database: watermarks, the id map
(Cartum key → RO App id, content hash, create intents), known product articles, data
passed between a run's tasks, run history, per-entity counts, validation results and the
quarantine. Analysts read these tables directly (see README, "The state database").

Every query is built with SQLAlchemy Core; nothing is string-formatted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterable

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Engine,
    Float,
    Integer,
    String,
    Table,
    Text,
    and_,
    delete,
    func,
    insert,
    select,
    update,
)

from .db import metadata


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


store_state = Table(
    "store_state", metadata,
    Column("store_id", String(48), primary_key=True),
    Column("orders_watermark", String(19)),       # max Cartum stat_created loaded (store local time)
    Column("customers_watermark", String(19)),    # max Cartum users.registered loaded
    Column("import_cutoff", String(19)),          # orders created up to here were judged by the first import
    Column("catalog_refreshed_at", DateTime(timezone=True)),
    Column("first_import_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

id_map = Table(
    "id_map", metadata,
    Column("store_id", String(48), primary_key=True),
    Column("entity", String(16), primary_key=True),
    Column("source_key", String(200), primary_key=True),
    Column("roapp_id", Integer),                 # null while only an intent exists
    Column("status", String(12), nullable=False),  # "intent" before the create is confirmed, then "synced"
    Column("content_hash", String(64)),          # hash of what RO App holds (null until synced)
    Column("marker", String(200)),               # what finds the record in RO App after a crash
    Column("details", JSON),                     # entity-specific: order status, steps done, item ids…
    Column("intent_at", DateTime(timezone=True)),
    Column("synced_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

product_articles = Table(
    "product_articles", metadata,
    Column("store_id", String(48), primary_key=True),
    Column("article", String(200), primary_key=True),
    Column("product_key", String(200), nullable=False),
    Column("title", Text),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

staged = Table(
    "staged", metadata,
    Column("store_id", String(48), primary_key=True),
    Column("run_id", String(250), primary_key=True),
    Column("name", String(64), primary_key=True),
    Column("payload", Text, nullable=False),     # JSON
    Column("created_at", DateTime(timezone=True), nullable=False),
)

runs = Table(
    "runs", metadata,
    Column("store_id", String(48), primary_key=True),
    Column("run_id", String(250), primary_key=True),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    Column("status", String(16), nullable=False),   # running, success, failed
    Column("first_import", Boolean, nullable=False, default=False),
    Column("cartum_calls", Integer, nullable=False, default=0),
    Column("roapp_calls", Integer, nullable=False, default=0),
    Column("roapp_writes", Integer, nullable=False, default=0),
    Column("duration_s", Float),
    Column("error", Text),
)

run_entities = Table(
    "run_entities", metadata,
    Column("store_id", String(48), primary_key=True),
    Column("run_id", String(250), primary_key=True),
    Column("entity", String(16), primary_key=True),
    Column("extracted", Integer, nullable=False, default=0),
    Column("created", Integer, nullable=False, default=0),
    Column("updated", Integer, nullable=False, default=0),
    Column("unchanged", Integer, nullable=False, default=0),
    Column("quarantined", Integer, nullable=False, default=0),
    Column("failed", Integer, nullable=False, default=0),
)

validation_results = Table(
    "validation_results", metadata,
    Column("store_id", String(48), primary_key=True),
    Column("run_id", String(250), primary_key=True),
    Column("entity", String(16), primary_key=True),
    Column("success", Boolean, nullable=False),
    Column("summary", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

quarantine = Table(
    "quarantine", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("store_id", String(48), nullable=False, index=True),
    Column("run_id", String(250), nullable=False),
    Column("entity", String(16), nullable=False),
    Column("source_key", String(200), nullable=False),
    Column("stage", String(16), nullable=False),   # quality (data quality) or load (RO App rejected it)
    Column("reason", Text, nullable=False),
    Column("record", JSON),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("resolved_at", DateTime(timezone=True)),  # set when a later run loads the record
)

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

    def __init__(self, engine: Engine, store_id: str):
        self.engine = engine
        self.store_id = store_id

    # --- store watermarks -------------------------------------------------------------

    def get_store_state(self) -> dict[str, Any] | None:
        with self.engine.connect() as c:
            row = c.execute(select(store_state).where(store_state.c.store_id == self.store_id)).mappings().first()
        return dict(row) if row else None

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

    def open_order_ids(self, final_statuses: Iterable[int]) -> list[int]:
        """Synced orders whose last known Cartum status is not final: they may still change."""
        final = set(final_statuses)
        return sorted(int(key) for key, row in self.id_rows("orders").items()
                      if row.details.get("cartum_status") not in final)

    # --- product articles -------------------------------------------------------------

    def article_index(self) -> tuple[dict[str, str], dict[str, str]]:
        """(article → product_key, product_key → title) learnt from earlier catalogue reads."""
        with self.engine.connect() as c:
            rows = c.execute(select(product_articles).where(product_articles.c.store_id == self.store_id)).all()
        return ({r.article: r.product_key for r in rows},
                {r.product_key: r.title for r in rows if r.title is not None})

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

    # --- data passed between tasks ----------------------------------------------------

    def stage(self, run_id: str, name: str, payload: Any) -> None:
        text = json.dumps(payload, ensure_ascii=False, default=str)
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

    def start_run(self, run_id: str, first_import: bool) -> None:
        with self.engine.begin() as c:
            c.execute(delete(runs).where(runs.c.store_id == self.store_id, runs.c.run_id == run_id))
            c.execute(delete(run_entities).where(run_entities.c.store_id == self.store_id,
                                                 run_entities.c.run_id == run_id))
            c.execute(insert(runs).values(store_id=self.store_id, run_id=run_id, started_at=utcnow(),
                                          status="running", first_import=first_import, cartum_calls=0,
                                          roapp_calls=0, roapp_writes=0))

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

    def finish_run(self, run_id: str, status: str, error: str | None = None) -> dict[str, Any]:
        now = utcnow()
        with self.engine.begin() as c:
            started = c.execute(select(runs.c.started_at).where(
                runs.c.store_id == self.store_id, runs.c.run_id == run_id)).scalar()
            duration = (now - as_utc(started)).total_seconds() if started else None
            c.execute(update(runs).where(runs.c.store_id == self.store_id, runs.c.run_id == run_id).values(
                finished_at=now, status=status, error=error, duration_s=duration))
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
        with self.engine.begin() as c:
            c.execute(insert(quarantine).values(
                store_id=self.store_id, run_id=run_id, entity=entity, source_key=str(key), stage=stage,
                reason=reason, record=json.loads(json.dumps(record, default=str)) if record else None,
                created_at=utcnow()))

    def resolve_quarantine(self, entity: str, keys: Iterable[str]) -> None:
        keys = [str(k) for k in keys]
        if not keys:
            return
        with self.engine.begin() as c:
            c.execute(update(quarantine).where(
                quarantine.c.store_id == self.store_id, quarantine.c.entity == entity,
                quarantine.c.source_key.in_(keys), quarantine.c.resolved_at.is_(None)).values(resolved_at=utcnow()))

    def quarantined_count(self, run_id: str, entity: str) -> int:
        """Records of the entity this run quarantined (each once, however many tries)."""
        with self.engine.connect() as c:
            return int(c.execute(select(func.count(func.distinct(quarantine.c.source_key))).where(
                quarantine.c.store_id == self.store_id, quarantine.c.run_id == run_id,
                quarantine.c.entity == entity)).scalar_one())

    def open_quarantine(self, entity: str | None = None) -> list[dict[str, Any]]:
        query = select(quarantine).where(quarantine.c.store_id == self.store_id, quarantine.c.resolved_at.is_(None))
        if entity:
            query = query.where(quarantine.c.entity == entity)
        with self.engine.connect() as c:
            return [dict(r) for r in c.execute(query.order_by(quarantine.c.id)).mappings().all()]

    def purge(self) -> None:
        """Forget everything about this store (``stores remove --purge``)."""
        with self.engine.begin() as c:
            for table in (store_state, id_map, product_articles, staged, runs, run_entities, validation_results,
                          quarantine):
                c.execute(delete(table).where(table.c.store_id == self.store_id))


def as_utc(value: datetime) -> datetime:
    # SQLite hands timestamps back without their timezone.
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def count_rows(engine: Engine, table: Table, **where: Any) -> int:
    query = select(func.count()).select_from(table)
    for name, value in where.items():
        query = query.where(table.c[name] == value)
    with engine.connect() as c:
        return int(c.execute(query).scalar_one())
