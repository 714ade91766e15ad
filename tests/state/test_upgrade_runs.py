"""A state database from before the reconcile pass: ``runs`` gains ``mode``, ``warnings``
and ``found_by_reconcile``, ``store_state`` gains ``reconciled_at`` and
``reconcile_requested_at``; old rows read as a run with no mode and nothing found."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, inspect, text

from cartum_roapp_sync.state.db import ensure_schema, get_engine
from cartum_roapp_sync.state.store import StateStore

OLD_TABLES = ["""
CREATE TABLE runs (
    store_id VARCHAR(48) NOT NULL, run_id VARCHAR(250) NOT NULL, started_at DATETIME NOT NULL,
    finished_at DATETIME, status VARCHAR(16) NOT NULL, first_import BOOLEAN NOT NULL, cartum_calls INTEGER NOT NULL,
    roapp_calls INTEGER NOT NULL, roapp_writes INTEGER NOT NULL, duration_s FLOAT, error TEXT,
    PRIMARY KEY (store_id, run_id))""", """
CREATE TABLE store_state (
    store_id VARCHAR(48) NOT NULL PRIMARY KEY, import_cutoff VARCHAR(19), catalog_refreshed_at DATETIME,
    first_import_at DATETIME, updated_at DATETIME NOT NULL)""",
    "INSERT INTO runs VALUES ('kyiv', 'old_run', '2026-11-01 10:00:00.000000', '2026-11-01 10:01:00.000000', "
    "'success', 0, 7, 4, 0, 60.0, NULL)",
    "INSERT INTO store_state VALUES ('kyiv', '2026-10-01 00:00:00', NULL, '2026-10-01 00:00:00.000000', "
    "'2026-11-01 10:00:00.000000')"]


@pytest.fixture
def old_database(tmp_path) -> str:
    url = f"sqlite:///{tmp_path}/old_runs.db"
    plain = create_engine(url)
    with plain.begin() as c:
        for statement in OLD_TABLES:
            c.execute(text(statement))
    plain.dispose()
    return url


def test_an_old_runs_table_gains_the_reconcile_columns(old_database):
    engine = get_engine(old_database)
    ensure_schema(engine)   # a second time changes nothing
    with engine.connect() as c:
        runs = {col["name"] for col in inspect(c).get_columns("runs")}
        facts = {col["name"] for col in inspect(c).get_columns("store_state")}
    assert {"mode", "warnings", "found_by_reconcile"} <= runs
    assert {"reconciled_at", "reconcile_requested_at"} <= facts

    kyiv = StateStore(engine, "kyiv")
    old = kyiv.run_summary("old_run")["run"]
    assert (old["status"], old["mode"], old["warnings"], old["found_by_reconcile"]) == ("success", None, None, 0)
    assert kyiv.get_store_state()["reconciled_at"] is None   # the store's first run reconciles

    kyiv.start_run("new_run", False, "reconcile")
    kyiv.add_run_warnings("new_run", ["a", "b"])
    kyiv.add_run_warnings("new_run", ["b", "c"])   # a retried step warns again: kept once
    kyiv.set_found_by_reconcile("new_run", 2)
    new = kyiv.finish_run("new_run", "success")["run"]
    assert (new["mode"], new["warnings"], new["found_by_reconcile"]) == ("reconcile", ["a", "b", "c"], 2)
    asked = kyiv.request_reconcile()
    assert kyiv.get_store_state()["reconcile_requested_at"] is not None and asked is not None
