"""The reconcile pass (issue 9, row 2): an order that becomes visible with a creation time
older than watermark − overlap is never read by the 5-minute runs; the nightly (or
requested) reconcile re-reads the last ``reconcile_days`` days, loads it once, and counts
it. What RO App should hold is worked out from the Cartum sandbox's data only.

Also here: the reconcile schedule and window across the repeated hour of 2026-10-25 in
Europe/Kyiv, a reconcile with nothing to find, and the run's warnings kept on ``runs``.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest

from cartum_roapp_sandbox.cartum import CartumSandbox
from cartum_roapp_sandbox.cartum.seed import CartumSeedConfig, generate
from cartum_roapp_sync.entities import ORDERS
from cartum_roapp_sync.pipeline import reconcile
from cartum_roapp_sync.state.cursors import shift
from tests.conftest import serving
from tests.pipeline import checks
from tests.pipeline.e2e import Sync, first_import, make_sync

BUYER = ("delivery_name", "delivery_email", "delivery_phone", "delivery_city", "delivery_address",
         "delivery_type", "delivery_price", "payment_type", "lang")
UTC = timezone.utc


# --- helpers ---------------------------------------------------------------------------------

def add_order(sync: Sync, created: str, status: int = 1, **fields: Any) -> int:
    """A new order in Cartum, stamped ``created``, by a buyer and with products of the store."""
    cartum = sync.cartum.admin.state()
    buyer = next(o for o in cartum["orders"] if o["delivery_phone"] and o["user"] is None)
    order_id = max(o["order_id"] for o in cartum["orders"]) + 1
    articles = [p["article"] for p in cartum["products"][:2]]
    sync.cartum.admin.action("upsert_orders", [{
        "order_id": order_id, "stat_status": status, "stat_created": created, "payed": 0, "comment": "",
        "user": None, "products": [{"article": a, "quantity": 1 + n} for n, a in enumerate(articles)],
        **{f: buyer[f] for f in BUYER}, **fields}])
    return order_id


def now_in_cartum(sync: Sync, order_ids) -> dict[int, dict[str, Any]]:
    orders = {o["order_id"]: o for o in sync.cartum.admin.state()["orders"]}
    return {i: orders[i] for i in order_ids}


def nightly_due(sync: Sync) -> None:
    """Time passes: the last reconcile is more than a day old, so the next run makes one."""
    sync.state.set_store_state(reconciled_at=datetime.now(UTC) - timedelta(hours=25))


def found_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.levelno == logging.WARNING and r.getMessage().startswith("reconcile:")]


def store_text(when: datetime) -> str:
    return when.strftime("%Y-%m-%d %H:%M:%S")


# --- row 2: a back-dated order --------------------------------------------------------------

def test_a_back_dated_order_is_found_by_the_nightly_reconcile_loaded_once_and_counted(small_sync, caplog):
    sync = small_sync
    expected = first_import(sync)
    assert sync.state.get_store_state()["reconciled_at"] is not None  # a first import counts as a pass

    # An order becomes visible stamped two days ago: far behind the watermark minus the overlap.
    watermark = sync.state.cursor(ORDERS).value
    created = shift(watermark, -2 * 24 * 60)
    late = add_order(sync, created)

    summary = sync.harness.run(run_id="incremental")
    run = summary["run"]
    assert (run["status"], run["mode"], run["found_by_reconcile"], run["warnings"]) == \
        ("success", "incremental", 0, [])
    assert created < sync.orders_from("incremental")
    assert late not in sync.view().orders_by_cartum_id, "the 5-minute run is not expected to read it"

    nightly_due(sync)
    with caplog.at_level(logging.WARNING):
        summary, calls = checks.run_counting(sync.harness, "nightly", sync.cartum.admin, sync.roapp.admin)
    run = summary["run"]
    plan = sync.data("nightly").plan()
    assert (plan.mode, plan.reconcile_reason) == ("reconcile", "nightly")
    assert plan.reconcile_from <= created
    assert (run["status"], run["mode"], run["found_by_reconcile"]) == ("success", "reconcile", 1)
    [warning] = run["warnings"]
    assert f"{late} (created {created}, not in RO App)" in warning
    [logged] = found_warnings(caplog)
    assert f"order {late} created {created} was missed by the incremental runs (not in RO App)" in logged

    # RO App now holds it, right, once; nothing else was written
    view = sync.view()
    checks.check_orders(sync.cartum.admin.state(), view, sync.config, {**expected, **now_in_cartum(sync, [late])})
    checks.assert_no_duplicates(view)
    order_writes = [r for r in checks.writes(calls.total("roapp")) if r["path"].startswith("/v2/orders")]
    rid = view.order(late)["id"]
    assert all(r["path"] == "/v2/orders" or f"/{rid}" in r["path"] for r in order_writes)
    assert summary["entities"]["orders"]["created"] == 1

    # the pass is done: the next run is incremental again and finds nothing, writes nothing
    summary, calls = checks.run_counting(sync.harness, "after", sync.cartum.admin, sync.roapp.admin)
    assert (summary["run"]["mode"], summary["run"]["found_by_reconcile"]) == ("incremental", 0)
    assert checks.writes(calls.total("roapp")) == []
    checks.assert_no_duplicates(sync.view())


def test_a_reconcile_with_nothing_to_find_writes_nothing_and_counts_zero(small_sync):
    sync = small_sync
    expected = first_import(sync)
    sync.state.request_reconcile()

    summary, calls = checks.run_counting(sync.harness, "requested", sync.cartum.admin, sync.roapp.admin)

    run, plan = summary["run"], sync.data("requested").plan()
    assert (plan.mode, plan.reconcile_reason) == ("reconcile", "requested")
    assert (run["status"], run["mode"], run["found_by_reconcile"], run["warnings"]) == ("success", "reconcile", 0, [])
    assert checks.writes(calls.total("roapp")) == []
    assert calls.data_path("roapp") == [], "a reconcile that finds nothing makes no RO App call beyond the setup"
    # Cartum: the window (one short page, confirmed by one more read: ``cartum.window``), the
    # open orders it did not hold (by id, 200 a call), the customers; no login: the token of
    # the run before is kept (``cartum.tokens``; the two extracts logged in before it was)
    cartum = sync.cartum.admin.state()
    window = [o for o in cartum["orders"] if o["stat_created"] >= plan.reconcile_from]
    outside = [i for i in plan.open_order_ids if i not in {o["order_id"] for o in window}]
    assert 0 < len(window) < 100, "the seeded store has a page of orders in the last 7 days"
    assert checks.function_calls(calls.data_path("cartum")) == {
        "orders/get": 2 + -(-len(outside) // 200), "users/export": 1}
    checks.check_orders(cartum, sync.view(), sync.config, expected)
    assert sync.state.get_store_state()["reconciled_at"] is not None

    # the request is used up: the next run is incremental
    assert sync.harness.run(run_id="next")["run"]["mode"] == "incremental"


# --- the repeated hour of 2026-10-25 (Europe/Kyiv leaves summer time at 04:00 → 03:00) --------

#: The first pass of 03:00–04:00 is EEST (UTC+3), the second EET (UTC+2): both are stamped
#: "2026-10-25 03:MM:SS" in Cartum's store-local text.
FIRST_PASS = ["2026-10-25 03:05:00", "2026-10-25 03:30:00", "2026-10-25 03:58:00"]
SECOND_PASS = ["2026-10-25 03:02:00", "2026-10-25 03:20:00", "2026-10-25 03:47:59"]
LATER = "2026-10-25 05:30:00"
IN_OVERLAP = "2026-10-25 05:25:00"


@pytest.fixture
def autumn_cartum():
    """A store whose orders end in the first pass of the repeated hour (the store's clock at
    03:58 EEST): the watermark stands at 03:58:00 after its first import."""
    data = generate(CartumSeedConfig(seed=3, orders=30, products=20, customers=10, days=20,
                                     now=datetime(2026, 10, 25, 2, 50)))
    with serving(CartumSandbox(data)) as running:
        yield running


def test_orders_stamped_in_both_passes_of_the_repeated_hour_all_arrive_after_a_reconcile(
        autumn_cartum, roapp_sandbox, engine):
    """The incremental read start covers a repeated hour next to the watermark
    (tests/pipeline/test_repeated_hour.py); second-pass orders that become visible only
    once the watermark has moved past the repeated hour (a slow commit, an import) are
    older than any incremental start, and the reconcile window, from a date's midnight,
    holds both passes."""
    since = (date.today() - date(2026, 10, 25)).days + 2   # windows that reach back to that night
    sync = make_sync(autumn_cartum, roapp_sandbox, engine, import_days=since + 20, reconcile_days=since)
    first = [add_order(sync, created, status=2) for created in FIRST_PASS]
    expected = first_import(sync)
    assert set(first) <= set(expected)
    assert sync.state.cursor(ORDERS).value == FIRST_PASS[-1]

    later = add_order(sync, LATER, status=2)
    assert sync.harness.run(run_id="later")["run"]["mode"] == "incremental"
    assert sync.state.cursor(ORDERS).value == LATER
    # the second pass's orders show up now, stamped before 03:58 of the first pass
    behind = [add_order(sync, created, status=2) for created in SECOND_PASS]
    in_overlap = add_order(sync, IN_OVERLAP, status=2)
    summary = sync.harness.run(run_id="incremental")
    assert summary["run"]["mode"] == "incremental"
    held = set(sync.view().orders_by_cartum_id)
    assert {later, in_overlap} <= held and not set(behind) & held, "only the order inside the overlap is read"

    nightly_due(sync)
    summary = sync.harness.run(run_id="nightly")
    run = summary["run"]
    assert (run["status"], run["mode"], run["found_by_reconcile"]) == ("success", "reconcile", len(behind))
    assert all(str(i) in run["warnings"][0] for i in behind)
    view = sync.view()
    expected = {**expected, **now_in_cartum(sync, [later, *behind, in_overlap])}
    checks.check_orders(sync.cartum.admin.state(), view, sync.config, expected)
    checks.assert_no_duplicates(view)


def kyiv(text: str, fold: int = 0) -> datetime:
    """A Kyiv wall-clock time as an aware UTC instant (``fold`` 1: the second pass)."""
    from zoneinfo import ZoneInfo

    local = datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=ZoneInfo("Europe/Kyiv"), fold=fold)
    return local.astimezone(UTC)


def test_the_nightly_reconcile_runs_once_through_the_repeated_hour():
    first_pass, second_pass = kyiv("2026-10-25 03:00"), kyiv("2026-10-25 03:00", fold=1)
    assert second_pass - first_pass == timedelta(hours=1)
    day_before = {"reconciled_at": kyiv("2026-10-24 03:01")}

    assert reconcile.due(3, day_before, kyiv("2026-10-25 02:59")) is None
    assert reconcile.due(3, day_before, first_pass) == "nightly"
    done = {"reconciled_at": first_pass + timedelta(seconds=30)}
    for later in (kyiv("2026-10-25 03:40"), second_pass, kyiv("2026-10-25 03:30", fold=1), kyiv("2026-10-25 23:59")):
        assert reconcile.due(3, done, later) is None, later
    assert reconcile.due(3, done, kyiv("2026-10-26 03:00")) == "nightly"
    # a request after the last pass is honoured at once; one before it is used up
    assert reconcile.due(3, {**done, "reconcile_requested_at": second_pass}, second_pass) == "requested"
    assert reconcile.due(3, {**done, "reconcile_requested_at": first_pass}, second_pass) is None
    # never reconciled (a store upgraded from a version without the pass): due now
    assert reconcile.due(3, {}, second_pass) == "nightly"


def test_the_nightly_hour_in_the_spring_gap_still_comes_once():
    # 2026-03-29: Kyiv jumps from 03:00 to 04:00; "03:00" that day is the instant of 04:00 EEST
    gap = reconcile.latest_scheduled(3, kyiv("2026-03-29 05:00"))
    assert gap == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
    assert reconcile.due(3, {"reconciled_at": kyiv("2026-03-28 03:10")}, kyiv("2026-03-29 04:05")) == "nightly"
    assert reconcile.due(3, {"reconciled_at": kyiv("2026-03-29 04:05")}, kyiv("2026-03-29 23:00")) is None


def test_the_window_starts_at_store_local_midnight_and_never_before_the_import_window():
    # during the second pass of the repeated hour the store's date is still 2026-10-25
    assert reconcile.window_start(7, 60, {}, kyiv("2026-10-25 03:30", fold=1)) == "2026-10-18 00:00:00"
    # 23:30 UTC on the 24th is already the 25th in Kyiv
    assert reconcile.window_start(1, 60, {}, datetime(2026, 10, 24, 23, 30, tzinfo=UTC)) == "2026-10-24 00:00:00"
    # a store imported two days ago with import_days 1: orders older than its import window stay out
    facts = {"first_import_at": kyiv("2026-10-23 10:00")}
    assert reconcile.window_start(7, 1, facts, kyiv("2026-10-25 12:00")) == "2026-10-22 10:00:00"


# --- warnings on runs -------------------------------------------------------------------------

def test_a_degraded_setup_warning_is_kept_on_the_run(small_cartum, roapp_sandbox, engine):
    roapp = roapp_sandbox.admin.state()
    kept, dropped = checks.active_managers(roapp, roapp["branches"][0]["id"])[:2]
    sync = make_sync(small_cartum, roapp_sandbox, engine, managers=[kept, dropped])
    roapp_sandbox.admin.action("upsert_employees", [{"id": dropped, "is_active": False}])

    summary = sync.harness.run(run_id="import")

    assert summary["run"]["status"] == "success" and summary["run"]["mode"] == "first_import"
    [warning] = summary["run"]["warnings"]
    assert warning.startswith("degraded setup: managers:") and f"employee {dropped}" in warning
    assert f"manager {dropped} dropped, the orders go to {kept}" in warning
    assert sync.state.run_summary("import")["run"]["warnings"] == [warning]
