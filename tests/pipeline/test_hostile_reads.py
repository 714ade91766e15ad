"""A misbehaving Cartum API (issue 11, the read rows): the same full page of ``orders/get``
forever, the same full page of ``catalog/export`` forever, a 50 MB answer. Each is
bounded: a few calls, then the run fails with a reason a person can act on and the orders
cursor stays where it was, or (a catalogue page repeated) the run goes on with a warning
and the catalogue does not count as read whole. Then the API behaves again, and three
more runs: the store keeps syncing good orders, the watermark is the newest order read,
and nothing grows from run to run (calls, writes, warnings, records held)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from cartum_roapp_sandbox.cartum.seed import DATE_FORMAT, store_now
from cartum_roapp_sync.entities import ORDERS
from cartum_roapp_sync.pipeline.steps import STEPS, finish_run, run_step
from cartum_roapp_sync.transport import MisbehavingApiError
from tests.pipeline import checks
from tests.pipeline.e2e import Sync


def run_failing(sync: Sync, run_id: str) -> tuple[str, Exception, dict[str, Any]]:
    """Steps in order until one fails (as Airflow skips what depends on it), then
    ``finish_run``, which fails the run; returns the failed step, its error and the summary."""
    failed: tuple[str, Exception] | None = None
    for name in STEPS:
        try:
            run_step(name, sync.harness.context(run_id))
        except Exception as exc:  # the step's error is what the test looks at
            failed = (name, exc)
            break
    assert failed is not None, "the misbehaving API should have failed a step"
    with pytest.raises(RuntimeError, match=f"run {run_id} of store demo failed"):
        finish_run(sync.harness.context(run_id))
    return failed[0], failed[1], sync.state.run_summary(run_id)


def add_orders(sync: Sync, count: int, first_id: int) -> list[int]:
    """``count`` good orders created in the last minutes, one catalogue product each."""
    article = sync.cartum.admin.state()["products"][0]["article"]
    now = store_now().replace(microsecond=0)
    orders = [{"order_id": first_id + i, "stat_created": (now - timedelta(minutes=count - i)).strftime(DATE_FORMAT),
               "delivery_name": f"Buyer {i}", "delivery_phone": f"+38067{first_id + i:07d}",
               "products": [{"article": article, "quantity": 1}]} for i in range(count)]
    sync.cartum.admin.action("upsert_orders", orders)
    return [o["order_id"] for o in orders]


def newest_created(sync: Sync) -> str:
    return max(o["stat_created"] for o in sync.cartum.admin.state()["orders"])


def three_good_runs(sync: Sync, waiting: list[int]) -> list[dict[str, Any]]:
    """Three runs once the API behaves: the first brings the orders that waited, every one
    succeeds without warnings, the cursor is the newest order read, and the last two, with
    nothing new, cost the same calls and write nothing."""
    sync.cartum.admin.stop_misbehaviour()
    runs = []
    for number in (1, 2, 3):
        summary, calls = checks.run_counting(sync.harness, f"after_{number}", sync.cartum.admin, sync.roapp.admin)
        run = summary["run"]
        assert run["status"] == "success" and run["error"] is None and run["warnings"] == []
        assert sync.state.cursor(ORDERS).value == newest_created(sync)
        runs.append({"calls": checks.function_calls(calls.total("cartum")),
                     "writes": len(checks.writes(calls.total("roapp"))), "entities": summary["entities"]})
    view = sync.view()
    assert set(waiting) <= set(view.orders_by_cartum_id)
    checks.assert_no_duplicates(view)
    assert sync.state.open_quarantine() == []
    assert runs[1]["calls"] == runs[2]["calls"] and runs[1]["writes"] == runs[2]["writes"] == 0
    assert runs[2]["entities"]["orders"]["created"] == 0
    return runs


@pytest.mark.parametrize("misbehaviour, reason, most_calls", [
    ({"page": "endless"}, "Cartum answered orders/get at offset 99 ", 20),
    ({"oversized_mb": 50}, "Cartum answered POST /api/orders/get/ with more than 32.0 MB", 1),
], ids=["same_full_page_forever", "answer_of_50_mb"])
def test_a_misbehaving_orders_read_fails_the_run_and_keeps_the_cursor(sync, misbehaviour, reason, most_calls):
    sync.harness.run(run_id="import")
    cursor = sync.state.cursor(ORDERS).value
    waiting = add_orders(sync, 3, 91000)
    sync.cartum.admin.set_misbehaviour({"orders/get": misbehaviour})
    sync.clear_logs()

    step, error, summary = run_failing(sync, "hostile")

    # An ordinary 5-minute run: validate_setup reads it (a small tick), as extract_orders.
    assert step == "validate_setup" and isinstance(error, MisbehavingApiError)
    assert sync.state.step_outcomes("hostile")["extract_orders"][0] == "failed"
    assert str(error).startswith(reason) and "misbehaving" in str(error)
    assert "the next run" in str(error) and "password" not in str(error)
    run = summary["run"]
    assert run["status"] == "failed" and f"extract_orders: MisbehavingApiError: {reason}" in run["error"]
    gets = checks.function_calls(sync.cartum.admin.requests())["orders/get"]
    assert 1 <= gets <= most_calls
    assert run["cartum_calls"] == len(sync.cartum.admin.requests())
    assert sync.state.cursor(ORDERS).value == cursor, "a failed read must not move the watermark"
    assert not set(waiting) & set(sync.view().orders_by_cartum_id)

    three_good_runs(sync, waiting)


def test_the_same_full_catalogue_page_forever_is_read_once_with_a_warning(sync):
    sync.cartum.admin.set_misbehaviour({"catalog/export": {"page": "endless"}})
    catalogue = sync.cartum.admin.state()["products"]

    summary, calls = checks.run_counting(sync.harness, "import", sync.cartum.admin, sync.roapp.admin)

    run = summary["run"]
    assert run["status"] == "success"
    [warning] = run["warnings"]
    assert "catalog/export answered page 2 (offset 500) exactly like page 1" in warning
    assert "ignores offset" in warning
    assert checks.function_calls(calls.total("cartum"))["catalog/export"] == 2
    # records held: each product once, not 500 rows a page
    assert summary["entities"]["products"]["extracted"] <= len(catalogue)
    assert sync.state.get_store_state()["catalog_refreshed_at"] is None, "a cut-short catalogue is not read whole"
    waiting = add_orders(sync, 2, 92000)

    runs = three_good_runs(sync, waiting)

    assert sync.state.get_store_state()["catalog_refreshed_at"] is not None
    assert runs[0]["calls"]["catalog/export"] == 1 and runs[2]["calls"].get("catalog/export", 0) == 0
    assert sorted(p["sku"] for p in sync.view().products.values()) == sorted(p["article"] for p in catalogue)
