"""A state database written by the version that kept watermarks as ``store_state``
columns: opening it turns them into cursors, once, so an upgraded store resumes where it
was instead of importing again."""

from __future__ import annotations

import sqlite3
import uuid
from datetime import datetime, timezone

import pytest
from sqlalchemy import create_engine, insert, inspect, select, text

from cartum_roapp_sync.config import parse_store
from cartum_roapp_sync.entities import CLIENTS, ORDERS
from cartum_roapp_sync.pipeline.context import RunContext
from cartum_roapp_sync.pipeline.extract import make_plan
from cartum_roapp_sync.state.cursors import shift
from cartum_roapp_sync.state.db import ensure_schema, get_engine
from cartum_roapp_sync.state.store import StateStore, as_utc, utcnow
from cartum_roapp_sync.state.tables import cursors
from tests.state.conftest import POSTGRES_URL, postgres_answers

OLD_STORE_STATE = """
CREATE TABLE store_state (
    store_id VARCHAR(48) NOT NULL PRIMARY KEY,
    orders_watermark VARCHAR(19),
    customers_watermark VARCHAR(19),
    import_cutoff VARCHAR(19),
    catalog_refreshed_at DATETIME,
    first_import_at DATETIME,
    updated_at DATETIME NOT NULL
)"""

#: store_id, orders_watermark, customers_watermark, import_cutoff
OLD_ROWS = [("kyiv", "2025-03-01 12:00:00", "2025-02-01 08:00:00", "2025-01-01 00:00:00"),
            ("lviv", "2025-03-02 09:00:00", None, "2025-01-02 00:00:00"),
            ("odesa", None, None, None)]   # added, never imported


@pytest.fixture
def old_database(tmp_path) -> str:
    path = tmp_path / "old_state.db"
    with sqlite3.connect(path) as db:
        db.execute(OLD_STORE_STATE)
        db.executemany("INSERT INTO store_state (store_id, orders_watermark, customers_watermark, import_cutoff, "
                       "first_import_at, updated_at) VALUES (?, ?, ?, ?, '2025-01-01 00:00:00.000000', "
                       "'2025-03-02 09:00:00.000000')", OLD_ROWS)
    db.close()
    return f"sqlite:///{path}"


def cursor_rows(engine) -> dict[tuple[str, str, str], tuple[str, object]]:
    with engine.connect() as c:
        return {(r.store_id, r.entity, r.name): (r.value, r.updated_at) for r in c.execute(select(cursors))}


def values(engine) -> dict[tuple[str, str, str], str]:
    return {key: value for key, (value, _) in cursor_rows(engine).items()}


def test_old_watermarks_become_cursors(old_database):
    engine = get_engine(old_database)

    assert values(engine) == {("kyiv", "orders", "created"): "2025-03-01 12:00:00",
                              ("kyiv", "clients", "registered"): "2025-02-01 08:00:00",
                              ("lviv", "orders", "created"): "2025-03-02 09:00:00"}
    kyiv = StateStore(engine, "kyiv")
    assert kyiv.cursor(ORDERS).value == "2025-03-01 12:00:00"
    assert kyiv.cursor(CLIENTS).value == "2025-02-01 08:00:00"
    assert StateStore(engine, "odesa").cursor(ORDERS).value is None
    assert kyiv.get_store_state()["import_cutoff"] == "2025-01-01 00:00:00"   # the other facts are read as before


def test_an_upgraded_store_resumes_instead_of_importing_again(old_database):
    engine = get_engine(old_database)
    config = parse_store({"store_id": "kyiv", "name": "Kyiv", "cartum_conn_id": "cartum_kyiv", "location_id": 1,
                          "order_type_id": 2, "language": "ua", "product_key": "sku", "managers": "all",
                          "status_map": {"1": 101}, "overlap_minutes": 10})

    def no_api():
        raise AssertionError("planning needs no API")

    plan = make_plan(RunContext(config, "run_1", StateStore(engine, "kyiv"), no_api, no_api))

    assert plan.first_import is False
    assert plan.starts == {"clients": shift("2025-02-01 08:00:00", -10), "orders": shift("2025-03-01 12:00:00", -10)}
    assert plan.import_cutoff == "2025-01-01 00:00:00"


def test_upgrading_again_changes_nothing(old_database):
    engine = get_engine(old_database)
    first = cursor_rows(engine)

    ensure_schema(engine)
    ensure_schema(engine)

    assert cursor_rows(engine) == first


def test_a_cursor_that_moved_on_is_not_set_back_by_the_old_column(old_database):
    engine = get_engine(old_database)
    StateStore(engine, "kyiv").cursor(ORDERS).advance("2025-03-05 18:00:00")

    ensure_schema(engine)

    assert StateStore(engine, "kyiv").cursor(ORDERS).value == "2025-03-05 18:00:00"
    assert StateStore(engine, "kyiv").cursor(CLIENTS).value == "2025-02-01 08:00:00"


def test_an_existing_cursor_row_is_not_overwritten(old_database):
    # a cursors table already holds one of kyiv's cursors, behind the old column's value
    plain = create_engine(old_database)
    cursors.create(plain)
    with plain.begin() as c:
        c.execute(insert(cursors).values(store_id="kyiv", entity="orders", name="created",
                                         value="2025-02-20 00:00:00", updated_at=utcnow()))
    plain.dispose()

    engine = get_engine(old_database)

    assert values(engine) == {("kyiv", "orders", "created"): "2025-02-20 00:00:00",
                              ("kyiv", "clients", "registered"): "2025-02-01 08:00:00",
                              ("lviv", "orders", "created"): "2025-03-02 09:00:00"}


#: The quarantine table as versions before attempts / first and last seen wrote it.
OLD_QUARANTINE = """
CREATE TABLE quarantine (
    id INTEGER NOT NULL PRIMARY KEY {autoincrement},
    store_id VARCHAR(48) NOT NULL,
    run_id VARCHAR(250) NOT NULL,
    entity VARCHAR(16) NOT NULL,
    source_key VARCHAR(200) NOT NULL,
    stage VARCHAR(16) NOT NULL,
    reason TEXT NOT NULL,
    record {json},
    created_at {timestamp} NOT NULL,
    resolved_at {timestamp}
)"""


def old_quarantine_engine(dialect: str, tmp_path):
    """(engine over a database whose quarantine table is the old one, cleanup)."""
    if dialect == "sqlite":
        url = f"sqlite:///{tmp_path}/old_quarantine.db"
        ddl = OLD_QUARANTINE.format(autoincrement="AUTOINCREMENT", json="JSON", timestamp="DATETIME")
        plain = create_engine(url)
        with plain.begin() as c:
            c.execute(text(ddl))
            c.execute(text("INSERT INTO quarantine (store_id, run_id, entity, source_key, stage, reason, created_at) "
                           "VALUES ('kyiv', 'run_1', 'orders', '501', 'load', 'rejected', "
                           "'2025-03-01 10:00:00.000000')"))
        plain.dispose()
        return get_engine(url), lambda: None
    if not postgres_answers():
        pytest.skip(f"PostgreSQL does not answer at {POSTGRES_URL}")
    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as c:
        c.execute(text(f"CREATE SCHEMA {schema}"))
        c.execute(text(f"SET LOCAL search_path TO {schema}"))
        c.execute(text(OLD_QUARANTINE.format(autoincrement="GENERATED BY DEFAULT AS IDENTITY", json="JSON",
                                             timestamp="TIMESTAMP WITH TIME ZONE")))
        c.execute(text("INSERT INTO quarantine (store_id, run_id, entity, source_key, stage, reason, created_at) "
                       "VALUES ('kyiv', 'run_1', 'orders', '501', 'load', 'rejected', "
                       "'2025-03-01 10:00:00+00')"))
    engine = create_engine(POSTGRES_URL, connect_args={"options": f"-csearch_path={schema}"})

    def cleanup() -> None:
        engine.dispose()
        with admin.begin() as c:
            c.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()
    return engine, cleanup


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_an_old_quarantine_table_gets_attempts_and_first_and_last_seen(dialect, tmp_path):
    engine, cleanup = old_quarantine_engine(dialect, tmp_path)
    try:
        ensure_schema(engine)
        ensure_schema(engine)   # a second time changes nothing
        with engine.connect() as c:
            names = {col["name"] for col in inspect(c).get_columns("quarantine")}
        assert {"attempts", "first_seen_at", "last_seen_at"} <= names

        kyiv = StateStore(engine, "kyiv")
        [old] = kyiv.open_quarantine()
        assert old["attempts"] == 1
        assert as_utc(old["first_seen_at"]) == as_utc(old["last_seen_at"]) == as_utc(old["created_at"]) \
            == datetime(2025, 3, 1, 10, tzinfo=timezone.utc)

        # the old row is the record's row: the same failure again counts on it
        kyiv.quarantine("run_2", "orders", "501", "load", "rejected")
        kyiv.quarantine("run_2", "orders", "502", "load", "rejected")
        rows = {r["source_key"]: r for r in kyiv.open_quarantine()}
        assert (rows["501"]["attempts"], rows["501"]["run_id"]) == (2, "run_2")
        assert as_utc(rows["501"]["last_seen_at"]) > as_utc(rows["501"]["first_seen_at"])
        assert (rows["502"]["attempts"], rows["502"]["id"] > rows["501"]["id"]) == (1, True)
    finally:
        cleanup()


def test_the_columns_of_the_reread_policy_are_added_to_an_older_database(tmp_path):
    from sqlalchemy import create_engine, inspect, text

    from cartum_roapp_sync.state.db import get_engine

    url = f"sqlite:///{tmp_path}/old.db"
    old = create_engine(url)
    with old.begin() as c:
        c.execute(text("CREATE TABLE store_state (store_id VARCHAR(48) PRIMARY KEY, import_cutoff VARCHAR(19), "
                       "catalog_refreshed_at DATETIME, first_import_at DATETIME, updated_at DATETIME NOT NULL)"))
        c.execute(text("INSERT INTO store_state VALUES ('kyiv', '2025-01-01 00:00:00', NULL, NULL, "
                       "'2025-01-01 00:00:00')"))
    old.dispose()
    engine = get_engine(url)
    columns = {c["name"] for c in inspect(engine).get_columns("store_state")}
    assert {"final_statuses", "final_reread_at"} <= columns
    assert "resolution" in {c["name"] for c in inspect(engine).get_columns("quarantine")}
    from cartum_roapp_sync.state.store import StateStore
    state = StateStore(engine, "kyiv")
    assert state.final_statuses((3, 4)) == {3, 4}        # nothing derived yet: the setting
    assert state.get_store_state()["final_reread_at"] is None
