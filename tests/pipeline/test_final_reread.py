"""Final is not forever, and the re-read set stays bounded (issue 9, rows 1 and 7).

Orders in a final status are re-read every ``final_reread_minutes`` for ``final_days``
after the sync first saw them final; which statuses are final comes from Cartum
(``is_successful``), from the RO App group of the matched status (closed) and from the
store's ``final_statuses``. Orders deleted in Cartum leave the re-read set. Time moves
on a settable clock (``StateStore.clock``), never by sleeping. What RO App should hold is
worked out from the Cartum sandbox's data.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable
from zoneinfo import ZoneInfo

import pytest

from cartum_roapp_sync.entities import ORDERS
from cartum_roapp_sync.pipeline.rundata import RunData
from cartum_roapp_sync.state.store import StateStore
from cartum_roapp_sync.state.tables import quarantine
from tests.conftest import seeded_cartum
from tests.pipeline import checks
from tests.pipeline.e2e import Sync, first_import
from tests.pipeline.harness import Harness, store_config

RO_READY, RO_COMPLETED, RO_RETURNED = 205, 208, 210   # the RO App sandbox's seeded statuses
RETURNED, REFUNDED_OK = 9, 10                         # store statuses added in Cartum below


class Clock:
    """The time the sync's re-read policy counts with; tests move it."""

    def __init__(self) -> None:
        self.now = datetime.now(timezone.utc)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class ClockHarness(Harness):
    def __init__(self, *args: Any, clock: Clock, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.clock = clock

    def context(self, run_id: str):
        ctx = super().context(run_id)
        ctx.state.clock = self.clock   # ctx.data shares this StateStore
        return ctx


def clocked_sync(cartum, roapp, engine, clock: Clock, **overrides: Any) -> Sync:
    config = store_config(roapp.admin.state(), **overrides)
    return Sync(cartum, roapp, ClockHarness(config, engine, cartum.url, roapp.url, clock=clock))


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def empty_cartum():
    """A store with a catalogue and no orders: each test places the orders it follows."""
    yield from seeded_cartum(seed=5, orders=0, products=10, customers=3, days=30)


@pytest.fixture
def shop(empty_cartum, roapp_sandbox, engine, clock) -> Sync:
    """The store, with two statuses of its own: 9 "Returned" (not successful in Cartum,
    matched to RO App's Returned, a closed group) and 10 (successful in Cartum, matched to
    RO App's Ready, an open group)."""
    empty_cartum.admin.action("add_statuses", [{"id": RETURNED, "title": "Повернено", "is_successful": 0},
                                               {"id": REFUNDED_OK, "title": "Виконано", "is_successful": 1}])
    base = store_config(roapp_sandbox.admin.state()).status_map
    return clocked_sync(empty_cartum, roapp_sandbox, engine, clock,
                        status_map={**base, str(RETURNED): RO_RETURNED, str(REFUNDED_OK): RO_READY})


def store_time(hours_ago: float = 0) -> str:
    """A Cartum time (the store's local time) some hours ago."""
    return (datetime.now(ZoneInfo("Europe/Kyiv")) - timedelta(hours=hours_ago)).strftime("%Y-%m-%d %H:%M:%S")


def place(sync: Sync, order_id: int, status: int, **fields: Any) -> None:
    """An order created two hours ago (out of the next creation window: a later run sees it
    only by id), unless ``stat_created`` says otherwise."""
    article = sync.cartum.admin.state()["products"][order_id % 10]["article"]
    sync.cartum.admin.action("upsert_orders", [{
        "order_id": order_id, "stat_status": status, "payed": 0, "stat_created": store_time(2),
        "delivery_name": f"Покупець {order_id}",
        "delivery_phone": f"+38067{order_id:07d}", "products": [{"article": article, "quantity": 1}], **fields}])


def change(sync: Sync, order_id: int, **fields: Any) -> None:
    sync.cartum.admin.action("upsert_orders", [{"order_id": order_id, **fields}])


def cartum_order(sync: Sync, order_id: int) -> dict[str, Any]:
    return next(o for o in sync.cartum.admin.state()["orders"] if o["order_id"] == order_id)


def asked_by_id(requests: Iterable[dict[str, Any]]) -> set[int]:
    """The order ids Cartum was asked for by ``ids`` in these requests."""
    return {int(i) for r in requests if r["path"].strip("/").endswith("orders/get")
            for i in (r.get("body") or {}).get("ids") or []}


def run(sync: Sync, clock: Clock, minutes: float = 5) -> tuple[dict[str, Any], set[int], str]:
    """One run ``minutes`` after the last; returns its summary, the ids it asked Cartum
    for, and its run id."""
    clock.advance(minutes=minutes)
    sync.clear_logs()
    summary = sync.harness.run()
    run_id = summary["run"]["run_id"]
    assert summary["run"]["status"] == "success"
    return summary, asked_by_id(sync.cartum.admin.requests()), run_id


def assert_roapp_shows(sync: Sync, order_id: int) -> dict[str, Any]:
    """RO App's order has the status matched to the Cartum order's status, and its latest
    comment states the Cartum order's payment and delivery facts."""
    cartum = cartum_order(sync, order_id)
    order = sync.view().order(order_id)
    assert order["status"]["id"] == sync.config.mapped_status(cartum["stat_status"])
    latest = order["comments"][-1]["comment"]
    for fact in checks.delivery_facts(cartum):
        assert fact in latest, (fact, latest)
    return order


def import_orders(sync: Sync, clock: Clock) -> None:
    """The first import, after one more order created now, so the creation window of the
    runs that follow starts after the orders the test follows."""
    place(sync, 599, 1, stat_created=store_time())
    _, _, run_id = run(sync, clock, minutes=0)
    assert plan_of(sync, run_id).first_import


def plan_of(sync: Sync, run_id: str):
    return RunData(sync.state, run_id).plan()


# --- row 1: changes after a final status reach RO App -----------------------------------------------

def test_a_payment_after_delivered_reaches_roapp_within_the_hourly_reread(shop, clock):
    place(shop, 501, 6)                      # Shipping, cash on delivery, not paid
    import_orders(shop, clock)
    change(shop, 501, stat_status=3)         # Delivered: final from now on
    _, asked, _ = run(shop, clock)
    assert 501 in asked                      # it was open: re-read every run
    assert_roapp_shows(shop, 501)
    assert shop.state.id_rows("orders")["501"].details["final_since"] == clock.now.isoformat()

    change(shop, 501, payed=1)               # the cash arrives later
    _, asked, run_id = run(shop, clock, minutes=10)
    assert 501 not in asked and not plan_of(shop, run_id).final_reread   # final: not every run
    assert "Paid: no" in shop.view().order(501)["comments"][-1]["comment"]

    summary, asked, run_id = run(shop, clock, minutes=60)   # the hourly re-read is due
    assert 501 in asked and plan_of(shop, run_id).final_reread
    order = assert_roapp_shows(shop, 501)
    assert "Paid: yes" in order["comments"][-1]["comment"]
    assert summary["entities"]["orders"]["updated"] == 1
    _, asked, _ = run(shop, clock)           # and the next hourly re-read waits an hour again
    assert 501 not in asked
    checks.assert_no_duplicates(shop.view())


def test_a_canceled_order_reopened_is_synced_and_read_every_run_again(shop, clock):
    place(shop, 502, 4)                      # Canceled: imported, final
    import_orders(shop, clock)
    assert "final_since" in shop.state.id_rows("orders")["502"].details
    change(shop, 502, stat_status=1)         # reopened as New
    _, asked, _ = run(shop, clock, minutes=20)
    assert 502 not in asked and shop.view().order(502)["status"]["id"] == shop.config.mapped_status(4)

    _, asked, _ = run(shop, clock, minutes=45)   # an hour after the import: due
    assert 502 in asked
    assert_roapp_shows(shop, 502)
    assert "final_since" not in shop.state.id_rows("orders")["502"].details
    _, asked, run_id = run(shop, clock)      # open again: re-read every run
    assert 502 in asked and not plan_of(shop, run_id).final_reread


def test_statuses_the_store_added_are_final_by_cartum_or_by_roapp_group(shop, clock):
    place(shop, 503, 6)
    place(shop, 504, 6)
    import_orders(shop, clock)
    final = checks.final_statuses(shop.cartum.admin.state(), shop.roapp.admin.state(), shop.config)
    assert {3, 4, 8, RETURNED, REFUNDED_OK} <= final and 6 not in final
    assert shop.state.final_statuses(()) == final        # what validate_setup derived and kept

    change(shop, 503, stat_status=3)
    change(shop, 504, stat_status=3)
    run(shop, clock)
    change(shop, 503, stat_status=RETURNED)   # Delivered → the store's own "Returned"
    change(shop, 504, stat_status=REFUNDED_OK)
    _, asked, _ = run(shop, clock)
    assert not {503, 504} & asked             # Delivered is final: not re-read every run
    since = shop.state.id_rows("orders")["503"].details["final_since"]

    _, asked, _ = run(shop, clock, minutes=60)
    assert {503, 504} <= asked
    assert shop.view().order(503)["status"]["id"] == RO_RETURNED
    assert shop.view().order(504)["status"]["id"] == RO_READY
    for order_id in (503, 504):
        assert_roapp_shows(shop, order_id)
    # final from one status to another: still counted from when it first became final
    assert shop.state.id_rows("orders")["503"].details["final_since"] == since
    _, asked, _ = run(shop, clock)
    assert not {503, 504} & asked             # row 7: a custom final status leaves the per-run set


def test_after_final_days_a_final_order_leaves_the_reread_set(shop, clock):
    shop = shop.with_config(final_days=2)
    shop.harness = ClockHarness(shop.config, shop.harness.engine, shop.cartum.url, shop.roapp.url, clock=clock)
    place(shop, 505, 4)
    place(shop, 506, 1)
    import_orders(shop, clock)
    _, asked, _ = run(shop, clock, minutes=60 * 47)
    assert {505, 506} <= asked                # within two days: the hourly re-read has it
    _, asked, run_id = run(shop, clock, minutes=60 * 2)
    assert plan_of(shop, run_id).final_reread and 505 not in asked and 506 in asked
    change(shop, 505, payed=1)                # beyond the bound, by design: the reconcile pass finds it
    _, asked, _ = run(shop, clock, minutes=61)
    assert 505 not in asked and "Paid: no" in shop.view().order(505)["comments"][-1]["comment"]


# --- row 7: orders deleted in Cartum ----------------------------------------------------------------

def test_an_order_deleted_in_cartum_leaves_the_set_and_its_quarantine_resolves(shop, clock, caplog):
    place(shop, 507, 1)
    place(shop, 508, 2)
    import_orders(shop, clock)
    place(shop, 509, 1, currency="USD", stat_created=store_time())   # held by data quality: quarantined, re-read every run
    run(shop, clock)
    assert [q["source_key"] for q in shop.state.open_quarantine("orders")] == ["509"]
    before = shop.view().order(507)

    shop.cartum.admin.action("delete_orders", [507, 509])
    with caplog.at_level("WARNING"):
        summary, asked, _ = run(shop, clock)
    assert {507, 508, 509} <= asked
    # (one message; other tests' logging setup may hand a record to more than one handler)
    gone = {(r.levelname, r.getMessage()) for r in caplog.records if "gone from Cartum" in r.getMessage()}
    assert len(gone) == 1 and all(level == "WARNING" and "2 order(s)" in text for level, text in gone)
    assert shop.view().order(507) == before   # RO App's order is left as it is
    assert shop.state.open_quarantine("orders") == []
    with shop.harness.engine.connect() as c:
        rows = c.execute(quarantine.select().where(quarantine.c.source_key == "509")).mappings().all()
    assert [r["resolution"] for r in rows] == ["gone from Cartum (deleted there)"]
    assert "gone_at" in shop.state.id_rows("orders")["507"].details
    assert summary["entities"]["orders"]["failed"] == 0

    _, asked, _ = run(shop, clock)
    assert not {507, 509} & asked and 508 in asked
    _, asked, _ = run(shop, clock, minutes=60)   # not in the hourly re-read either
    assert not {507, 509} & asked

    place(shop, 507, 2, stat_created=store_time())   # it comes back (same number): handled as usual
    _, asked, _ = run(shop, clock)
    assert "gone_at" not in shop.state.id_rows("orders")["507"].details
    assert_roapp_shows(shop, 507)
    checks.assert_no_duplicates(shop.view())
    _, _, run_id = run(shop, clock)
    assert 507 in plan_of(shop, run_id).open_order_ids   # back in the re-read set


def test_resolved_quarantine_rows_are_purged_after_quarantine_keep_days(shop, clock):
    place(shop, 510, 1)
    import_orders(shop, clock)
    place(shop, 511, 1, currency="USD", stat_created=store_time())
    run(shop, clock)
    change(shop, 511, currency="UAH")         # fixed: loads, its row resolves
    run(shop, clock)
    assert_roapp_shows(shop, 511)

    def count() -> int:
        with shop.harness.engine.connect() as c:
            return len(c.execute(quarantine.select()).all())

    assert count() == 1 and shop.state.open_quarantine() == []
    run(shop, clock, minutes=60 * 24 * 29)
    assert count() == 1
    run(shop, clock, minutes=60 * 24 * 2)
    assert count() == 0


# --- the cost of a run with nothing new ---------------------------------------------------------------

def test_a_no_change_run_costs_the_formula_with_and_without_the_hourly_reread(cartum_sandbox, roapp_sandbox,
                                                                               engine, clock):
    sync = clocked_sync(cartum_sandbox, roapp_sandbox, engine, clock)
    expected = first_import(sync)
    cartum = cartum_sandbox.admin.state()
    final = checks.final_statuses(cartum, roapp_sandbox.admin.state(), sync.config)
    status = {o["order_id"]: o["stat_status"] for o in cartum["orders"]}
    open_ids = {i for i in expected if status[i] not in final}
    recent_final = set(expected) - open_ids   # every final one became final at the import
    assert open_ids and recent_final

    for minutes, due in ((5, False), (60, True), (5, False)):
        clock.advance(minutes=minutes)
        summary, calls = checks.run_counting(sync.harness, f"quiet_{minutes}_{due}", cartum_sandbox.admin,
                                             roapp_sandbox.admin)
        reread = open_ids | (recent_final if due else set())
        run_id = summary["run"]["run_id"]
        assert sync.data(run_id).plan().final_reread is due
        window = {o["order_id"] for o in cartum["orders"] if o["stat_created"] >= sync.orders_from(run_id)}
        data = calls.data_path("cartum")
        assert asked_by_id(data) == reread - window     # the window's orders are not asked again
        by_id = math.ceil(len(reread) / checks.CARTUM_IDS_PER_CALL)
        assert by_id == math.ceil(len(reread - window) / checks.CARTUM_IDS_PER_CALL)
        # the creation window (two reads, ``cartum.window``), then the re-read set 200 ids a call;
        # no login and no setup read: the token and the reference lists are kept (were 2 + 4)
        assert checks.function_calls(data) == {"orders/get": 2 + by_id, "users/export": 1}
        run = summary["run"]
        assert run["cartum_calls"] == checks.no_change_run_cartum_calls(len(reread)) == 3 + by_id
        assert calls.total("roapp") == []
        assert run["roapp_writes"] == 0
        assert summary["entities"]["orders"]["unchanged"] == summary["entities"]["orders"]["extracted"]
    assert StateStore(engine, "demo").cursor(ORDERS).value is not None
