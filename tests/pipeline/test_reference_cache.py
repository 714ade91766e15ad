"""Reference data kept between runs (``reference``): a run minutes after another reads
none of RO App's reference lists nor Cartum's statuses; they are read again when they
expire, when the setup check finds a problem on kept lists (fresh answers decide), and
after RO App rejects a write naming them. Against the sandboxes and a real state database."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select, update

from cartum_roapp_sync.pipeline.errors import FatalStepError
from cartum_roapp_sync.reference import ROAPP_KINDS, ReferenceCache, points_at_reference
from cartum_roapp_sync.state.tables import api_cache
from cartum_roapp_sync.transport import NotFoundError, ValidationError
from tests.pipeline import checks
from tests.pipeline.e2e import make_sync
from tests.pipeline.test_degrade import add_orders, setup_warnings

SETUP_CARTUM = {"auth", "orders/get_available_statuses"}


def setup_reads(calls) -> tuple[list[str], set[str]]:
    """The setup check's RO App paths (sorted) and Cartum functions (validate_setup's own
    reads, not those of a small tick it reads itself)."""
    return sorted(r["path"] for r in calls.setup("roapp")), set(checks.function_calls(calls.setup("cartum")))


def kept_kinds(engine) -> set[str]:
    with engine.connect() as c:
        return set(c.execute(select(api_cache.c.kind)).scalars())


def test_kept_lists_serve_the_next_runs_until_they_expire(small_cartum, roapp_sandbox, engine):
    sync = make_sync(small_cartum, roapp_sandbox, engine)
    summary, calls = checks.run_counting(sync.harness, "import", small_cartum.admin, roapp_sandbox.admin)
    assert summary["run"]["status"] == "success"
    assert setup_reads(calls) == (checks.SETUP_ROAPP_READS, SETUP_CARTUM)
    assert kept_kinds(engine) == {*ROAPP_KINDS, "cartum_statuses", "cartum_token"}

    _, calls = checks.run_counting(sync.harness, "next", small_cartum.admin, roapp_sandbox.admin)
    assert setup_reads(calls) == ([], set())

    # reference_cache_minutes later: read again (the token still lives: no login)
    with engine.begin() as c:
        c.execute(update(api_cache).where(api_cache.c.kind != "cartum_token").values(
            expires_at=datetime.now(timezone.utc) - timedelta(seconds=1)))
    _, calls = checks.run_counting(sync.harness, "later", small_cartum.admin, roapp_sandbox.admin)
    assert setup_reads(calls) == (checks.SETUP_ROAPP_READS, {"orders/get_available_statuses"})


def test_no_cache_when_the_store_says_0(small_cartum, roapp_sandbox, engine):
    sync = make_sync(small_cartum, roapp_sandbox, engine, reference_cache_minutes=0)
    sync.harness.run(run_id="import")
    _, calls = checks.run_counting(sync.harness, "next", small_cartum.admin, roapp_sandbox.admin)
    assert setup_reads(calls) == (checks.SETUP_ROAPP_READS, {"orders/get_available_statuses"})
    assert kept_kinds(engine) == {"cartum_token"}


def test_a_problem_on_kept_lists_is_judged_on_fresh_ones(small_cartum, roapp_sandbox, engine, caplog):
    """A manager made active again in RO App after the lists were kept: the kept employees
    say inactive, the fresh ones decide, and the run has no warning."""
    roapp = roapp_sandbox.admin.state()
    kept, dropped = checks.active_managers(roapp, roapp["branches"][0]["id"])[:2]
    sync = make_sync(small_cartum, roapp_sandbox, engine, managers=[kept, dropped])
    roapp_sandbox.admin.action("upsert_employees", [{"id": dropped, "is_active": False}])
    with caplog.at_level(logging.WARNING):
        assert sync.harness.run(run_id="import")["run"]["status"] == "success"
    assert len(setup_warnings(caplog)) == 1

    roapp_sandbox.admin.action("upsert_employees", [{"id": dropped, "is_active": True}])
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        summary, calls = checks.run_counting(sync.harness, "next", small_cartum.admin, roapp_sandbox.admin)
    assert summary["run"]["status"] == "success" and setup_warnings(caplog) == []
    assert summary["run"]["warnings"] in (None, [])
    # read once more, all four (and Cartum's statuses), then kept again
    assert setup_reads(calls) == (checks.SETUP_ROAPP_READS, {"orders/get_available_statuses"})
    _, calls = checks.run_counting(sync.harness, "after", small_cartum.admin, roapp_sandbox.admin)
    assert setup_reads(calls) == ([], set())


def test_a_problem_that_fresh_lists_confirm_still_stops_the_run(small_cartum, roapp_sandbox, engine):
    sync = make_sync(small_cartum, roapp_sandbox, engine)
    assert sync.harness.run(run_id="import")["run"]["status"] == "success"
    # the store is edited to a location RO App does not have: the kept list lacks it, the
    # fresh one too, and the run stops before anything is read or written
    edited = make_sync(small_cartum, roapp_sandbox, engine, location_id=987654)
    roapp_sandbox.admin.clear_requests()
    small_cartum.admin.clear_requests()
    with pytest.raises(FatalStepError, match="RO App has no location 987654"):
        edited.harness.run(run_id="edited")
    requests = roapp_sandbox.admin.requests()
    assert sorted(r["path"] for r in requests) == checks.SETUP_ROAPP_READS   # read fresh once, nothing else
    assert set(checks.function_calls(small_cartum.admin.requests())) == {"orders/get_available_statuses"}


def test_a_rejected_write_naming_reference_data_drops_the_kept_lists(engine):
    cache = ReferenceCache(engine, "roapp:account", ROAPP_KINDS, 15)
    reads = []
    for kind in ROAPP_KINDS:
        assert cache.get(kind, lambda: reads.append(1) or [{"id": 1}]) == [{"id": 1}]
    assert cache.get("roapp_branches", lambda: reads.append(1) or []) == [{"id": 1}] and len(reads) == 4

    assert points_at_reference(ValidationError("RO App rejected POST /v2/orders: invalid (branch_id: not found)",
                                               status=422, field_errors={"branch_id": ["not found"]}))
    assert points_at_reference(ValidationError("RO App rejected POST /v2/orders/7/status: bad",
                                               status=422, field_errors={"status_id": ["unknown"]}))
    assert points_at_reference(ValidationError("rejected: manager_id is not an employee", status=422))
    assert not points_at_reference(ValidationError("RO App rejected POST /v2/contacts/people: bad phone",
                                                   status=422, field_errors={"phones": ["invalid"]}))
    assert not points_at_reference(NotFoundError("RO App GET /v2/orders/7: not found"))

    cache.drop("a test")
    assert cache.kept("roapp_branches") is None
    assert cache.get("roapp_branches", lambda: [{"id": 2}]) == [{"id": 2}]
    # another account's lists are its own
    other = ReferenceCache(engine, "roapp:other", ROAPP_KINDS, 15)
    assert other.kept("roapp_branches") is None


def test_a_write_rejected_for_a_kept_status_refreshes_the_lists(small_cartum, roapp_sandbox, engine):
    """An RO App status deleted after the lists were kept: the next run's setup check passes
    on the kept list, RO App rejects the order's status (422 naming it), the order waits in
    the quarantine and the lists are dropped; the run after reads them fresh and stops with
    what to fix."""
    sync = make_sync(small_cartum, roapp_sandbox, engine)
    assert sync.harness.run(run_id="import")["run"]["status"] == "success"
    gone = sync.config.status_map["1"]   # where a new Cartum order (status 1, New) goes
    statuses = roapp_sandbox.admin.state()["statuses"]
    roapp_sandbox.admin.action("set_reference", {"statuses": [s for s in statuses if s["id"] != gone]})
    [new] = add_orders(sync, 1)

    summary = sync.harness.run(run_id="next")
    assert summary["entities"]["orders"]["quarantined"] == 1
    [held] = [q for q in sync.state.open_quarantine("orders") if q["source_key"] == str(new)]
    assert held["stage"] == "load" and "status" in held["reason"]
    assert "roapp_order_statuses" not in kept_kinds(engine)   # dropped

    with pytest.raises(FatalStepError, match=f"RO App has no status {gone}"):
        sync.harness.run(run_id="after")
