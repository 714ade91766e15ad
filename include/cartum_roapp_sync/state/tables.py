"""Every table of the state database, declared on one ``metadata``. Nothing here talks to a
database; ``db.ensure_schema`` creates what is missing. Analysts read these tables directly
(README, "The state database")."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON, Boolean, Column, DateTime, Float, Index, Integer, MetaData, String, Table, Text, and_, func, insert, inspect,
    select, text, update,
)

metadata = MetaData()

#: Facts about a store that are not cursors: set once by the first import, or refreshed.
store_state = Table(
    "store_state", metadata,
    Column("store_id", String(48), primary_key=True),
    Column("import_cutoff", String(19)),          # orders created up to here were judged by the first import
    Column("catalog_refreshed_at", DateTime(timezone=True)),
    Column("first_import_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    # The reconcile pass (``pipeline.reconcile``): when the last one that succeeded started, and
    # when one was last asked for (``cartum-roapp stores reconcile``, the DAG's ``reconcile`` param).
    Column("reconciled_at", DateTime(timezone=True)),
    Column("reconcile_requested_at", DateTime(timezone=True)),
    # The Cartum statuses found final by the last setup check (``setup_checks.final_statuses``),
    # and when the orders in them were last re-read (hourly, for ``final_days``).
    Column("final_statuses", JSON),
    Column("final_reread_at", DateTime(timezone=True)),
    # What the last run that loaded read (a digest of its raw records and the store's
    # settings, ``steps.nothing_changed``); None after a run that did not finish.
    Column("read_digest", String(64)),
)

#: How far each entity has been read, per store: one row per (entity, cursor name). The
#: value is the highest Cartum value RO App confirmed (store local time, "YYYY-MM-DD HH:MM:SS").
cursors = Table(
    "cursors", metadata,
    Column("store_id", String(48), primary_key=True),
    Column("entity", String(16), primary_key=True),
    Column("name", String(32), primary_key=True),
    Column("value", String(64), nullable=False),
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
    Column("payload", Text, nullable=False),     # JSON (see pipeline.rundata)
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
    Column("mode", String(16)),                     # first_import, incremental, reconcile
    Column("warnings", JSON),                       # list of texts: degraded setup, reconcile findings
    Column("found_by_reconcile", Integer, nullable=False, default=0, server_default=text("0")),
    # The run read what the last run had loaded, nothing changed: it skipped the transform,
    # data quality and the loads (``steps.nothing_changed``). None: a run from before.
    Column("no_change", Boolean),
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
    Column("created_at", DateTime(timezone=True), nullable=False),   # when it first failed: = first_seen_at
    Column("resolved_at", DateTime(timezone=True)),  # set when a later run loads the record, or finds it unchanged
    # One open row per record, stage, reason and version (the record's content_hash): a
    # record failing again the same way updates its row rather than adding one.
    Column("attempts", Integer, nullable=False, default=1, server_default=text("1")),  # runs it failed in
    Column("first_seen_at", DateTime(timezone=True)),
    Column("last_seen_at", DateTime(timezone=True)),
    # Why a row was resolved when not by loading: e.g. its order was deleted in Cartum.
    Column("resolution", Text),
)

#: What became of each step of a run: done, or failed with its error (the last try counts).
run_steps = Table(
    "run_steps", metadata,
    Column("store_id", String(48), primary_key=True),
    Column("run_id", String(250), primary_key=True),
    Column("step", String(32), primary_key=True),
    Column("status", String(8), nullable=False),   # done, failed, skipped (nothing changed)
    Column("error", Text),
    Column("finished_at", DateTime(timezone=True), nullable=False),
)

#: What happened to each record, run by run (``state.events``; read by ``history``): a new
#: version read from Cartum, a client or product linked or created, an order created, its
#: items added, changed or removed, its status changed, a comment posted, a quarantine and
#: its resolution. Never a credential; an order's buyer phone and e-mail only, to find it.
#: Bounded: rows older than the store's ``history_keep_days`` are deleted at a run's end.
record_events = Table(
    "record_events", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("store_id", String(48), nullable=False),
    Column("run_id", String(250)),                # None: done by a person (``quarantine resolve``)
    Column("entity", String(16), nullable=False),
    Column("source_key", String(200), nullable=False),  # the Cartum key: an order's number
    Column("event", String(24), nullable=False),  # state.events.EVENTS
    Column("roapp_id", Integer),
    Column("version", String(64)),                # a read's content_hash
    Column("phone_tail", String(9)),              # an order's buyer: the phone's last 9 digits, for the search
    Column("email", String(320)),                 # lower-cased (as the transform cleans it)
    Column("detail", JSON),                       # small, per event (state.events)
    Column("settled_at", DateTime(timezone=True)),  # a read: when RO App held that version (or newer)
    Column("at", DateTime(timezone=True), nullable=False),
    Index("ix_record_events_record", "store_id", "entity", "source_key"),
    Index("ix_record_events_at", "store_id", "at"),
    Index("ix_record_events_run", "store_id", "run_id"),
    # the order search (``history.queries.find_orders``): by number or RO App id, in any store
    Index("ix_record_events_source_key", "source_key"),
    Index("ix_record_events_roapp_id", "roapp_id"),
    Index("ix_record_events_phone_tail", "phone_tail"),
    Index("ix_record_events_email", "email"),
    # the oldest change not yet in RO App: the few unsettled reads, without reading the rest
    Index("ix_record_events_pending", "store_id", "event", "settled_at", "at"),
)

#: The shared rate limiter's slots (``ratelimit.SharedRateLimiter``): one row per budget.
rate_limit_buckets = Table(
    "rate_limit_buckets", metadata,
    Column("bucket", String(80), primary_key=True),
    Column("slots", Text, nullable=False),          # JSON list of the last slot times (epoch seconds)
    Column("window", Float, nullable=False),
    Column("updated_at", DateTime(timezone=True), server_default=func.now(), nullable=False),
)

#: What RO App holds, per RO App account, for look-ups that have no documented filter
#: (``state.index``, ``roapp.index``): people by e-mail, products by SKU and barcode. It is
#: a cache of RO App, not a store's data: shared by every store of the account, kept by
#: ``stores remove --purge``, rebuilt from RO App when lost. ``account`` is a hash of the
#: API's base URL and key (``ratelimit.bucket_name``), never the key.
roapp_index = Table(
    "roapp_index", metadata,
    Column("account", String(80), primary_key=True),
    Column("kind", String(8), primary_key=True),     # person, product
    Column("field", String(8), primary_key=True),    # email; sku, barcode
    Column("value", String(320), primary_key=True),  # e-mails trimmed and lower-cased
    Column("roapp_id", Integer, primary_key=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

#: How far each kind of ``roapp_index`` has been read, per account.
roapp_index_cursors = Table(
    "roapp_index_cursors", metadata,
    Column("account", String(80), primary_key=True),
    Column("kind", String(8), primary_key=True),
    Column("modified_at", String(40)),                      # the newest RO App ``modified_at`` read (its clock)
    Column("full_at", DateTime(timezone=True)),            # the last whole read of the list (our clock)
    Column("refreshed_at", DateTime(timezone=True), nullable=False),  # the last read of any kind
)

#: Answers of the APIs kept between a run's tasks and runs (``state.cache``): RO App's and
#: Cartum's reference data (locations, order types, employees, statuses) for a short time,
#: and a Cartum session token, encrypted (``cartum.tokens``: never in clear). ``account``
#: is a hash of the API's address and credential (``ratelimit.bucket_name``), never the
#: credential. A cache, not a store's data: lost, it is read again.
api_cache = Table(
    "api_cache", metadata,
    Column("account", String(80), primary_key=True),
    Column("kind", String(32), primary_key=True),    # e.g. roapp_branches, cartum_statuses, cartum_token
    Column("value", Text, nullable=False),           # JSON; the token's: a Fernet ciphertext
    Column("read_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)

#: Every table that holds a store's data (``StateStore.purge`` empties them for one store).
STORE_TABLES = (store_state, cursors, id_map, product_articles, staged, runs, run_entities, run_steps,
                validation_results, quarantine, record_events)

#: Cursors that earlier versions kept as ``store_state`` columns: (column, entity, cursor name).
_OLD_CURSOR_COLUMNS = (("orders_watermark", "orders", "created"), ("customers_watermark", "clients", "registered"))


#: Columns later versions added to a table that already existed: ``upgrade`` adds them.
_ADDED_COLUMNS = ((quarantine, ("attempts", "first_seen_at", "last_seen_at", "resolution")),
                  (runs, ("mode", "warnings", "found_by_reconcile", "no_change")),
                  (store_state, ("reconciled_at", "reconcile_requested_at", "final_statuses", "final_reread_at",
                                 "read_digest")))


def _add_missing_columns(connection: Any) -> None:
    """``ALTER TABLE … ADD COLUMN`` for each column of ``_ADDED_COLUMNS`` the database lacks
    (SQLite and PostgreSQL). A quarantine row from before is seen once: first and last seen
    at its ``created_at``, 1 attempt. A run from before has no mode and no warnings, and
    found nothing by reconcile (0)."""
    for table, names in _ADDED_COLUMNS:
        present = {c["name"] for c in inspect(connection).get_columns(table.name)}
        missing = [table.c[name] for name in names if name not in present]
        for column in missing:
            ddl = f"ALTER TABLE {table.name} ADD COLUMN {column.name} {column.type.compile(connection.dialect)}"
            if column.server_default is not None:
                ddl += f" NOT NULL DEFAULT {column.server_default.arg.text}"
            connection.execute(text(ddl))
        if table is quarantine and {"first_seen_at", "last_seen_at"} & {c.name for c in missing}:
            connection.execute(update(quarantine).where(quarantine.c.first_seen_at.is_(None)).values(
                first_seen_at=quarantine.c.created_at))
            connection.execute(update(quarantine).where(quarantine.c.last_seen_at.is_(None)).values(
                last_seen_at=quarantine.c.created_at))


#: Indexes later versions added to a table that already existed: ``upgrade`` creates them.
_ADDED_INDEXES = (Index("ix_runs_started", runs.c.store_id, runs.c.started_at),)   # the latest runs of a store


def upgrade(connection: Any, store_state_columns: set[str]) -> None:
    """Carry a state database written by an earlier version forward: its watermark columns
    of ``store_state`` become ``cursors`` rows (once; the old columns are left unread), so
    an upgraded store resumes instead of importing again; the columns added since to the
    tables it has are added (``_ADDED_COLUMNS``), and the indexes (``_ADDED_INDEXES``)."""
    _add_missing_columns(connection)
    for index in _ADDED_INDEXES:
        index.create(connection, checkfirst=True)
    for column, entity, name in _OLD_CURSOR_COLUMNS:
        if column not in store_state_columns:
            continue
        old = Table("store_state", MetaData(), Column("store_id", String(48)), Column(column, String(19)))
        present = select(cursors.c.store_id).where(and_(cursors.c.store_id == old.c.store_id,
                                                        cursors.c.entity == entity, cursors.c.name == name))
        rows = connection.execute(select(old.c.store_id, old.c[column]).where(
            old.c[column].is_not(None), ~present.exists())).all()
        now = datetime.now(timezone.utc)
        for store_id, value in rows:
            connection.execute(insert(cursors).values(store_id=store_id, entity=entity, name=name, value=value,
                                                      updated_at=now))
