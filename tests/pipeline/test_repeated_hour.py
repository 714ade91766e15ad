"""The store's clock in incremental runs (issue 9, row 2, the incremental part).

Cartum stamps orders in the store's local time. When Europe/Kyiv leaves summer time on
2026-10-25, 03:00–04:00 happens twice, so an order created in the second pass can be
stamped before one created earlier in the first pass; when it enters summer time on
2026-03-29, 03:00–04:00 never happens. Orders stamped either way all load in incremental
runs (``state.cursors.read_start``). What RO App should hold is worked out from Cartum's data.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from cartum_roapp_sync.entities import ORDERS
from cartum_roapp_sync.state.cursors import shift
from tests.conftest import seeded_cartum
from tests.pipeline import checks
from tests.pipeline.e2e import Sync, make_sync


@pytest.fixture
def empty_cartum():
    yield from seeded_cartum(seed=6, orders=0, products=10, customers=3, days=30)


def store_reaching(day: date, cartum, roapp, engine) -> Sync:
    """A store whose first import reaches back to ``day`` whatever today's date is."""
    days = min(3650, max(1, (date.today() - day).days + 2))
    return make_sync(cartum, roapp, engine, import_days=days)


def place(sync: Sync, order_id: int, stamped: str) -> None:
    """An order Cartum stamped ``stamped`` (store local time), as it appears now."""
    article = sync.cartum.admin.state()["products"][order_id % 10]["article"]
    sync.cartum.admin.action("upsert_orders", [{
        "order_id": order_id, "stat_status": 1, "stat_created": stamped, "delivery_name": f"Покупець {order_id}",
        "delivery_phone": f"+38050{order_id:07d}", "products": [{"article": article, "quantity": 1}]}])


def run(sync: Sync, run_id: str) -> tuple[str, dict[str, Any]]:
    """One run; returns where its creation window started and its summary."""
    summary = sync.harness.run(run_id=run_id)
    assert summary["run"]["status"] == "success"
    return sync.orders_from(run_id), summary


def check_roapp(sync: Sync, order_ids: list[int]) -> None:
    """RO App holds exactly these Cartum orders of the store, each once and right."""
    cartum = sync.cartum.admin.state()
    expected = {o["order_id"]: o for o in cartum["orders"] if o["order_id"] in order_ids}
    assert sorted(expected) == sorted(order_ids)
    view = sync.view()
    checks.check_orders(cartum, view, sync.config, expected)
    checks.assert_no_duplicates(view)


def test_orders_stamped_in_both_passes_of_the_repeated_hour_all_load(empty_cartum, roapp_sandbox, engine):
    sync = store_reaching(date(2026, 10, 25), empty_cartum, roapp_sandbox, engine)
    assert sync.config.timezone == "Europe/Kyiv" and sync.config.overlap_minutes == 10
    place(sync, 700, "2026-10-25 02:30:00")
    place(sync, 701, "2026-10-25 03:58:00")       # first pass (EEST)
    run(sync, "import")
    assert sync.state.cursor(ORDERS).value == "2026-10-25 03:58:00"

    place(sync, 702, "2026-10-25 03:20:00")       # second pass (EET): an hour later, stamped earlier
    start, summary = run(sync, "second_pass")
    assert shift("2026-10-25 03:58:00", -10) > "2026-10-25 03:20:00"   # the plain overlap would miss it
    assert start <= "2026-10-25 03:00:00"
    assert summary["entities"]["orders"]["created"] == 1
    check_roapp(sync, [700, 701, 702])

    place(sync, 703, "2026-10-25 03:59:30")       # second pass: moves the cursor
    place(sync, 704, "2026-10-25 03:05:00")       # second pass, early in it
    start, summary = run(sync, "later_in_the_second_pass")
    assert start <= "2026-10-25 03:00:00" and summary["entities"]["orders"]["created"] == 2
    assert sync.state.cursor(ORDERS).value == "2026-10-25 03:59:30"

    place(sync, 705, "2026-10-25 04:10:00")       # after the repeated hour
    run(sync, "after")
    place(sync, 706, "2026-10-25 03:40:00")       # a second-pass order whose commit was slow
    start, summary = run(sync, "slow_commit")
    assert start == "2026-10-25 03:00:00" and summary["entities"]["orders"]["created"] == 1
    check_roapp(sync, [700, 701, 702, 703, 704, 705, 706])

    # an hour on, the plain overlap again, and nothing new is written
    place(sync, 707, "2026-10-25 05:30:00")
    run(sync, "an_hour_on")
    start, summary = run(sync, "quiet")
    assert start == "2026-10-25 05:20:00"
    assert summary["run"]["roapp_writes"] == 0 and summary["entities"]["orders"]["created"] == 0
    check_roapp(sync, [700, 701, 702, 703, 704, 705, 706, 707])


def test_the_overlap_is_real_time_across_the_spring_forward_gap(empty_cartum, roapp_sandbox, engine):
    sync = store_reaching(date(2026, 3, 29), empty_cartum, roapp_sandbox, engine)
    place(sync, 801, "2026-03-29 04:05:00")       # EEST, 10 real minutes after 02:55 EET
    run(sync, "import")
    place(sync, 802, "2026-03-29 02:58:00")       # 7 real minutes earlier; its commit was slow
    start, summary = run(sync, "slow_commit")
    assert shift("2026-03-29 04:05:00", -10) > "2026-03-29 02:58:00"   # wall-clock arithmetic would miss it
    assert start == "2026-03-29 02:55:00"          # a time that exists, ten real minutes back
    assert summary["entities"]["orders"]["created"] == 1
    check_roapp(sync, [801, 802])


def test_the_store_timezone_is_a_setting_checked_with_zoneinfo(roapp_sandbox):
    from cartum_roapp_sync.config import ConfigError
    from tests.pipeline.harness import store_config

    assert store_config(roapp_sandbox.admin.state(), timezone="America/New_York").timezone == "America/New_York"
    with pytest.raises(ConfigError, match="timezone: 'Europe/Kiev2' is not a time zone"):
        store_config(roapp_sandbox.admin.state(), timezone="Europe/Kiev2")
