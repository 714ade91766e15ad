"""Reading the creation window through a page cap, newest first, while the store changes.

Cartum caps ``orders/get`` pages at 50 (the client asks 100) and answers newest first.
A first import then loads every order of its window; a later run whose window holds 230
new orders, read while orders are deleted and inserted, brings every order that existed
throughout the read, its cursor passes no order it did not read, and the next run brings
the orders inserted meanwhile. Expected states come from Cartum's data."""

from __future__ import annotations

from datetime import timedelta

import pytest

from cartum_roapp_sandbox.cartum.seed import DATE_FORMAT, store_now
from cartum_roapp_sync.entities import ORDERS
from cartum_roapp_sync.state.cursors import shift
from tests.conftest import seeded_cartum
from tests.pipeline import checks
from tests.pipeline.e2e import make_sync


@pytest.fixture
def capped_cartum():
    """A store whose orders stop a day ago, capped at 50 a page, newest first."""
    yield from _capped(seed=5, orders=130, products=30, customers=15, days=40,
                       now=store_now().replace(microsecond=0) - timedelta(days=1))


def _capped(**sizes):
    for running in seeded_cartum(**sizes):
        running.admin.action("set_orders_paging", {"page_cap": 50, "sort": "newest_first"})
        yield running


@pytest.fixture
def capped_sync(capped_cartum, roapp_sandbox, engine):
    return make_sync(capped_cartum, roapp_sandbox, engine)


def one_each(sync) -> None:
    """One RO App order per Cartum order. (Not ``checks.assert_no_duplicates``: this seed
    has an order with one product on two lines at two prices, rightly two items.)"""
    assert all(len(v) == 1 for v in sync.view().orders_by_cartum_id.values())


def synced_ids(sync) -> set[int]:
    return set(sync.view().orders_by_cartum_id)


def test_a_first_import_through_a_page_cap_loads_every_order(capped_sync):
    sync = capped_sync
    sync.harness.run(run_id="import")

    cartum = sync.cartum.admin.state()
    orders_from = sync.orders_from("import")
    expected = checks.expected_import(cartum, orders_from)
    window = [o["stat_created"] for o in cartum["orders"] if o["stat_created"] >= orders_from]
    assert len(window) > 2 * 50 and expected, "the window must not fit one capped page"
    checks.check_orders(cartum, sync.view(), sync.config, expected)
    one_each(sync)
    assert sync.state.cursor(ORDERS).value == max(window)
    gets = [r for r in sync.cartum.admin.requests() if r["path"] == "/api/orders/get/"]
    assert all(len(r["body"].get("ids") or []) or r["body"]["limit"] == 100 for r in gets)


def new_orders(count: int, start: str, end: str, first_id: int) -> list[dict]:
    """``count`` orders created evenly between two store-local times, one product line each."""
    lo, hi = (store_now().strptime(t, DATE_FORMAT) for t in (start, end))
    step = (hi - lo) / count
    return [{"order_id": first_id + i, "stat_created": (lo + step * i).strftime(DATE_FORMAT),
             "delivery_name": f"Buyer {i}", "delivery_phone": f"+38050{first_id + i:07d}",
             "products": [{"article": "PAGING-1", "quantity": 1 + i % 3}]}
            for i in range(count)]


def test_a_window_read_while_orders_are_deleted_and_inserted_skips_nothing(capped_sync):
    sync = capped_sync
    sync.cartum.admin.action("upsert_products", [{"article": "PAGING-1", "title": {"ua": "Товар"}, "price": 100}])
    sync.harness.run(run_id="import")
    imported = synced_ids(sync)
    cursor = sync.state.cursor(ORDERS).value
    now = store_now().replace(microsecond=0)
    window = new_orders(230, shift(cursor, 1), (now - timedelta(minutes=1)).strftime(DATE_FORMAT), 70000)
    sync.cartum.admin.action("upsert_orders", window)
    # during the read: after the 2nd and the 5th orders/get answer, orders go and come
    deleted = [o["order_id"] for o in window[::23]]
    inserted = [{**o, "order_id": 80000 + i, "stat_created": now.strftime(DATE_FORMAT)}
                for i, o in enumerate(window[:4])]
    sync.cartum.admin.action("schedule_order_changes", {"after_calls": 2, "delete": deleted[:5],
                                                        "upsert": inserted[:2]})
    sync.cartum.admin.action("schedule_order_changes", {"after_calls": 5, "delete": deleted[5:],
                                                        "upsert": inserted[2:]})

    sync.harness.run(run_id="churn")

    assert sync.cartum.admin.state()["scheduled_order_changes"] == [], "the changes must land during the read"
    throughout = {o["order_id"] for o in window} - set(deleted)
    synced = synced_ids(sync)
    assert throughout <= synced
    assert synced - throughout <= set(deleted) | {o["order_id"] for o in inserted} | imported
    one_each(sync)
    # the next run starts where nothing unread lies behind it
    next_from = shift(sync.state.cursor(ORDERS).value, -sync.config.overlap_minutes)
    unread = [o for o in sync.cartum.admin.state()["orders"] if o["order_id"] not in synced
              and o["stat_created"] > cursor]
    assert all(o["stat_created"] >= next_from for o in unread), unread

    sync.harness.run(run_id="after")

    cartum = sync.cartum.admin.state()
    later = {o["order_id"]: o for o in cartum["orders"] if o["stat_created"] > cursor}
    assert set(later) == throughout | {o["order_id"] for o in inserted}
    # everything that exists is there once; of the rest only orders deleted after they were read
    assert synced_ids(sync) - set(later) - imported <= set(deleted)
    assert set(later) <= synced_ids(sync)
    one_each(sync)
