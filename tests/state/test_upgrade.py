"""A state database written by the version that kept watermarks as ``store_state``
columns: opening it turns them into cursors, once, so an upgraded store resumes where it
was instead of importing again."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import create_engine, insert, select

from cartum_roapp_sync.config import parse_store
from cartum_roapp_sync.entities import CLIENTS, ORDERS
from cartum_roapp_sync.pipeline.context import RunContext
from cartum_roapp_sync.pipeline.extract import make_plan
from cartum_roapp_sync.state.cursors import shift
from cartum_roapp_sync.state.db import ensure_schema, get_engine
from cartum_roapp_sync.state.store import StateStore, utcnow
from cartum_roapp_sync.state.tables import cursors

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
