"""StateStore: step outcomes, the id map's life (intent → created → progress → synced),
open orders, the quarantine, run history, and purging one store."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from cartum_roapp_sync.entities import CLIENTS, ORDERS
from cartum_roapp_sync.pipeline.errors import FatalStepError
from cartum_roapp_sync.pipeline.rundata import RunData, RunPlan
from cartum_roapp_sync.state import tables
from cartum_roapp_sync.state.store import as_utc, count_rows


def test_step_outcomes_keep_the_last_try(new_store):
    state = new_store()
    data = RunData(state, "run_1")
    assert data.outcomes() == {}

    data.step_done("extract_orders")
    data.step_failed("load_orders", "RetriableApiError: RO App answered 503")
    assert data.outcomes() == {"extract_orders": ("done", None),
                               "load_orders": ("failed", "RetriableApiError: RO App answered 503")}
    assert state.step_outcomes("run_1") == data.outcomes()

    data.step_done("load_orders")   # the retry succeeded
    assert data.outcomes()["load_orders"] == ("done", None)
    state.record_step("run_1", "finish_run", "RuntimeError: boom")
    assert data.outcomes() == {"extract_orders": ("done", None), "load_orders": ("done", None),
                               "finish_run": ("failed", "RuntimeError: boom")}
    assert RunData(state, "run_2").outcomes() == {}
    assert new_store().step_outcomes("run_1") == {}


def test_the_run_plan_is_kept_for_the_run_and_dropped_for_others(new_store):
    state = new_store()
    plan = RunPlan(first_import=False, starts={"orders": "2025-03-01 09:50:00", "clients": None},
                   import_cutoff="2025-01-01 00:00:00", catalog_full=True, open_order_ids=[501, 502])
    RunData(state, "run_1").save_plan(plan)
    assert RunData(state, "run_1").plan() == plan
    assert RunData(state, "run_1").plan().start(ORDERS) == "2025-03-01 09:50:00"
    with pytest.raises(FatalStepError, match="validate_setup must run first"):
        RunData(state, "run_2").plan()

    # A run starts (its first step, again on a retry): every run's data goes, this run's
    # earlier attempt's too, and the new plan is saved after it.
    RunData(state, "run_2").save_plan(plan)
    RunData(state, "run_2").step_done("extract_orders")
    RunData(state, "run_1").step_done("extract_orders")
    RunData(state, "run_2").drop_all_runs()
    for run in ("run_1", "run_2"):
        with pytest.raises(FatalStepError):
            RunData(state, run).plan()
    assert RunData(state, "run_2").outcomes() == {}
    assert RunData(state, "run_1").outcomes() == {"extract_orders": ("done", None)}


def test_the_id_map_from_intent_to_synced(new_store):
    state = new_store()
    assert state.id_rows("orders") == {}

    state.record_intent("orders", "501", "[cartum:shop:501]", {"steps": []})
    row = state.id_rows("orders")["501"]
    assert (row.status, row.roapp_id, row.content_hash, row.marker) == ("intent", None, None, "[cartum:shop:501]")
    assert row.details == {"steps": []} and row.intent_at is not None

    state.record_created_id("orders", "501", 3001, {"steps": []})
    row = state.id_rows("orders")["501"]
    assert (row.status, row.roapp_id) == ("intent", 3001)    # created, later steps still pending

    state.record_progress("orders", "501", {"steps": ["items"], "items": {"P1@100": 4001}})
    row = state.id_rows("orders")["501"]
    assert (row.status, row.roapp_id, row.details) == ("intent", 3001, {"steps": ["items"], "items": {"P1@100": 4001}})

    state.record_synced("orders", "501", 3001, "hash-1", {"steps": ["items", "status", "comment"], "cartum_status": 1})
    row = state.id_rows("orders")["501"]
    assert (row.status, row.roapp_id, row.content_hash, row.marker) == ("synced", 3001, "hash-1", "[cartum:shop:501]")
    assert row.details == {"steps": ["items", "status", "comment"], "cartum_status": 1}

    state.record_synced("orders", "501", 3001, "hash-2")   # no details: the recorded ones stay
    row = state.id_rows("orders")["501"]
    assert (row.content_hash, row.details["cartum_status"]) == ("hash-2", 1)

    # entities are kept apart; keys filter
    state.record_synced("clients", "phone:+380501234567", 1001, "c")
    assert set(state.id_rows("clients")) == {"phone:+380501234567"}
    assert set(state.id_rows("orders")) == {"501"}
    assert set(state.id_rows("orders", ["501", "502"])) == {"501"}
    assert state.id_rows("orders", []) == {}
    assert new_store().id_rows("orders") == {}


def test_open_order_ids_are_the_synced_orders_not_in_a_final_status(new_store):
    state, other = new_store(), new_store()
    for key, status in [("501", 1), ("502", 3), ("503", 4), ("504", 2), ("1000", 6)]:
        state.record_synced("orders", key, 3000 + int(key), "h", {"cartum_status": status})
    state.record_synced("clients", "7", 1001, "h", {"cartum_status": 1})   # not an order
    other.record_synced("orders", "505", 3505, "h", {"cartum_status": 1})

    assert state.open_order_ids([3, 4]) == [501, 504, 1000]   # numeric order, not text order
    assert state.open_order_ids([]) == [501, 502, 503, 504, 1000]
    assert state.open_order_ids([1, 2, 3, 4, 6]) == []
    assert other.open_order_ids([3, 4]) == [505]


def test_the_quarantine_counts_each_record_once_per_run(new_store):
    state, other = new_store(), new_store()
    state.quarantine("run_1", "orders", "501", "quality", "order_items.quantity must be > 0", {"order_id": 501})
    state.quarantine("run_1", "orders", "501", "load", "RO App rejected POST /v2/orders")   # the same record again
    state.quarantine("run_1", "orders", "502", "load", "order 502 waits for client phone:+380671112233")
    state.quarantine("run_1", "clients", "phone:+380671112233", "load", "RO App rejected")
    state.quarantine("run_2", "orders", "503", "quality", "status not mapped")
    other.quarantine("run_1", "orders", "501", "quality", "another store")

    assert state.quarantined_count("run_1", "orders") == 2
    assert state.quarantined_count("run_1", "clients") == 1
    assert state.quarantined_count("run_2", "orders") == 1
    assert state.quarantined_count("run_3", "orders") == 0
    assert other.quarantined_count("run_1", "orders") == 1

    rows = state.open_quarantine("orders")
    assert [(r["run_id"], r["source_key"], r["stage"]) for r in rows] == [
        ("run_1", "501", "quality"), ("run_1", "501", "load"), ("run_1", "502", "load"), ("run_2", "503", "quality")]
    assert rows[0]["record"] == {"order_id": 501} and rows[1]["record"] is None
    assert len(state.open_quarantine()) == 5


def test_resolve_quarantine_closes_every_open_row_of_those_keys(new_store):
    state, other = new_store(), new_store()
    state.quarantine("run_1", "orders", "501", "quality", "bad")
    state.quarantine("run_2", "orders", "501", "load", "rejected")
    state.quarantine("run_2", "orders", "502", "load", "rejected")
    state.quarantine("run_2", "clients", "501", "load", "same key, other entity")
    other.quarantine("run_2", "orders", "501", "load", "other store")

    state.resolve_quarantine("orders", [])
    assert len(state.open_quarantine("orders")) == 3
    state.resolve_quarantine("orders", ["501"])

    assert [r["source_key"] for r in state.open_quarantine("orders")] == ["502"]
    assert [r["source_key"] for r in state.open_quarantine("clients")] == ["501"]
    assert [r["source_key"] for r in other.open_quarantine("orders")] == ["501"]
    with state.engine.connect() as c:
        resolved = c.execute(select(tables.quarantine.c.resolved_at).where(
            tables.quarantine.c.store_id == state.store_id, tables.quarantine.c.source_key == "501",
            tables.quarantine.c.entity == "orders")).scalars().all()
    assert len(resolved) == 2 and all(resolved)
    assert state.quarantined_count("run_2", "orders") == 2   # history keeps what the run quarantined


def test_run_summary(new_store):
    state = new_store()
    assert state.run_summary("run_1") == {"run": None, "entities": {}}

    state.start_run("run_1", first_import=True)
    state.add_calls("run_1", cartum=3, roapp=4)
    state.add_calls("run_1", cartum=2, roapp=6, roapp_writes=5)
    state.set_counts("run_1", "orders", extracted=10, created=7, unchanged=1)
    state.set_counts("run_1", "orders", quarantined=2)                  # the others keep their value
    state.set_counts("run_1", "clients", extracted=4, created=4)
    with pytest.raises(ValueError, match="unknown counters"):
        state.set_counts("run_1", "orders", deleted=1)

    summary = state.finish_run("run_1", "success")
    run = summary["run"]
    assert (run["status"], run["first_import"], run["cartum_calls"], run["roapp_calls"], run["roapp_writes"],
            run["error"]) == ("success", True, 5, 10, 5, None)
    assert run["finished_at"] is not None and run["duration_s"] >= 0
    assert summary["entities"] == {
        "orders": {"extracted": 10, "created": 7, "updated": 0, "unchanged": 1, "quarantined": 2, "failed": 0},
        "clients": {"extracted": 4, "created": 4, "updated": 0, "unchanged": 0, "quarantined": 0, "failed": 0}}
    assert state.run_summary("run_1") == summary

    # the same run started again begins from nothing
    state.start_run("run_1", first_import=False)
    summary = state.run_summary("run_1")
    assert (summary["run"]["status"], summary["run"]["roapp_calls"], summary["entities"]) == ("running", 0, {})
    failed = state.finish_run("run_1", "failed", "load_orders: RetriableApiError")
    assert (failed["run"]["status"], failed["run"]["error"]) == ("failed", "load_orders: RetriableApiError")


def fill(state, run_id: str) -> None:
    """A row in every table that holds a store's data."""
    state.set_store_state(import_cutoff="2025-01-01 00:00:00")
    state.cursor(ORDERS).advance("2025-03-01 10:00:00")
    state.cursor(CLIENTS).advance("2025-02-01 10:00:00")
    state.record_synced("orders", "501", 3001, "h", {"cartum_status": 1})
    state.save_articles({"ART-1": "ART-1"}, {"ART-1": "Товар"})
    state.stage(run_id, "plan", {"first_import": False})
    state.start_run(run_id, first_import=False)
    state.set_counts(run_id, "orders", extracted=1)
    state.record_step(run_id, "validate_setup")
    state.save_validation(run_id, "orders", True, {"evaluated": 1})
    state.quarantine(run_id, "orders", "502", "quality", "bad")


def test_purge_empties_every_table_of_that_store_only(new_store):
    gone, kept = new_store(), new_store()
    engine = gone.engine
    holding = {t.name for t in tables.metadata.sorted_tables if "store_id" in t.c}
    assert holding == {t.name for t in tables.STORE_TABLES}, "every table with a store_id is purged"

    fill(gone, "run_1")
    fill(kept, "run_1")
    before = {t.name: count_rows(engine, t, store_id=kept.store_id) for t in tables.STORE_TABLES}
    for table in tables.STORE_TABLES:
        assert count_rows(engine, table, store_id=gone.store_id) > 0, f"the test puts nothing in {table.name}"
        assert before[table.name] > 0, table.name

    gone.purge()

    assert {t.name: count_rows(engine, t, store_id=gone.store_id) for t in tables.STORE_TABLES} == {
        t.name: 0 for t in tables.STORE_TABLES}
    assert {t.name: count_rows(engine, t, store_id=kept.store_id) for t in tables.STORE_TABLES} == before
    assert gone.get_store_state() is None and gone.cursor(ORDERS).value is None
    assert kept.cursor(ORDERS).value == "2025-03-01 10:00:00"
    assert kept.id_rows("orders")["501"].roapp_id == 3001


def test_one_open_quarantine_row_per_record_and_reason_with_attempts(new_store):
    state = new_store()
    record = {"order_id": 501, "content_hash": "v1"}
    for run_id in ("run_1", "run_2", "run_3"):
        state.quarantine(run_id, "orders", "501", "load", "RO App rejected POST /v2/orders", record)
    state.quarantine("run_3", "orders", "501", "load", "RO App rejected POST /v2/orders", record)  # a step retry

    rows = state.open_quarantine("orders")
    assert len(rows) == 1
    row = rows[0]
    assert (row["run_id"], row["attempts"], row["reason"]) == ("run_3", 3, "RO App rejected POST /v2/orders")
    first, last = as_utc(row["first_seen_at"]), as_utc(row["last_seen_at"])
    assert first < last and as_utc(row["created_at"]) == first
    assert [state.quarantined_count(r, "orders") for r in ("run_1", "run_2", "run_3")] == [0, 0, 1]

    # another reason, or another version of the record: a row of its own
    state.quarantine("run_4", "orders", "501", "load", "order 501 waits for product ART-1 to be loaded", record)
    state.quarantine("run_4", "orders", "501", "load", "RO App rejected POST /v2/orders",
                     {"order_id": 501, "content_hash": "v2"})
    state.quarantine("run_4", "orders", "501", "quality", "RO App rejected POST /v2/orders", record)
    rows = state.open_quarantine("orders")
    assert [(r["stage"], r["reason"][:14], r["record"]["content_hash"], r["attempts"]) for r in rows] == [
        ("load", "RO App rejecte", "v1", 3), ("load", "order 501 wait", "v1", 1),
        ("load", "RO App rejecte", "v2", 1), ("quality", "RO App rejecte", "v1", 1)]
    assert all(r["first_seen_at"] == r["last_seen_at"] == r["created_at"] for r in rows[1:])

    # once resolved, the same failure opens a new row
    state.resolve_quarantine("orders", ["501"])
    state.quarantine("run_5", "orders", "501", "load", "RO App rejected POST /v2/orders", record)
    assert [(r["run_id"], r["attempts"]) for r in state.open_quarantine("orders")] == [("run_5", 1)]


def test_final_orders_stay_in_the_reread_set_for_a_while_and_gone_orders_leave_it(new_store):
    from datetime import datetime, timedelta, timezone

    state = new_store()
    now = datetime(2026, 11, 1, 12, 0, tzinfo=timezone.utc)
    state.clock = lambda: now
    day = timedelta(days=1)
    for key, status, since in [("601", 1, None), ("602", 3, now - 2 * day), ("603", 9, now - 20 * day),
                               ("604", 4, None), ("605", 2, None)]:
        details = {"cartum_status": status, **({"final_since": since.isoformat()} if since else {})}
        state.record_synced("orders", key, 3000 + int(key), "h", details)
    state.record_intent("orders", "606", "[cartum:x:606]")
    final = [3, 4, 9]
    assert state.open_order_ids(final) == [601, 605, 606]
    # with the hourly re-read: final since 14 days at most (one recorded before final_since was kept counts as old)
    assert state.open_order_ids(final, now - 14 * day) == [601, 602, 605, 606]
    assert state.open_order_ids(final, now - 30 * day) == [601, 602, 603, 605, 606]

    assert state.mark_orders_gone(["601", "602", "999"]) == 2    # 999 is not in the id map
    assert state.mark_orders_gone(["601"]) == 0                  # already marked
    assert state.id_rows("orders")["601"].details == {"cartum_status": 1, "gone_at": now.isoformat()}
    assert state.open_order_ids(final, now - 30 * day) == [603, 605, 606]
    assert state.mark_orders_gone(["601"], gone=False) == 1      # seen in Cartum again
    assert state.open_order_ids(final) == [601, 605, 606]


def test_final_statuses_are_the_derived_ones_once_a_check_stored_them(new_store):
    state = new_store()
    assert state.final_statuses((3, 4)) == {3, 4}
    state.set_store_state(final_statuses=[3, 4, 8])
    assert state.final_statuses((3, 4)) == {3, 4, 8}


def test_resolved_quarantine_rows_are_purged_after_the_keep_days(new_store):
    from datetime import datetime, timedelta, timezone

    state = new_store()
    now = datetime.now(timezone.utc)
    state.clock = lambda: now
    for key in ("1", "2", "3"):
        state.quarantine("run_1", "orders", key, "quality", "currency 'USD'")
    assert state.resolve_quarantine("orders", ["1"]) == 1
    assert state.resolve_quarantine("orders", ["2"], resolution="gone from Cartum (deleted there)") == 1
    assert state.resolve_quarantine("orders", ["2"]) == 0        # no open row left
    assert state.purge_resolved_quarantine(30) == 0
    now += timedelta(days=31)
    assert state.purge_resolved_quarantine(30) == 2
    assert [q["source_key"] for q in state.open_quarantine()] == ["3"]   # open rows are never purged
