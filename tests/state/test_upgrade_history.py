"""A state database from before the run history: it gains ``record_events`` and the index
on a store's latest runs, and its old runs are listed by the history."""

from __future__ import annotations

from sqlalchemy import inspect

from cartum_roapp_sync.history import queries
from cartum_roapp_sync.state.db import get_engine
from tests.state.test_upgrade_runs import old_database

__all__ = ["old_database"]  # the fixture: a database from before the reconcile pass


def test_an_old_database_gains_the_event_log_and_the_runs_index(old_database):
    engine = get_engine(old_database)
    inspector = inspect(engine)
    assert "record_events" in inspector.get_table_names()
    assert "ix_runs_started" in {i["name"] for i in inspector.get_indexes("runs")}
    assert [r["run_id"] for r in queries.store_runs(engine, "kyiv")] == ["old_run"]
    overview = queries.stores_overview(engine)
    assert [(s["store_id"], s["last_run"]["status"], s["orders_synced_week"]) for s in overview] == [
        ("kyiv", "success", 0)]
