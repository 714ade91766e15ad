"""Nothing waits forever (issue 9, rows 5 and 6): a product that exists only in order lines
and that RO App rejects once is fetched again and loaded by the next run, with its order;
a record failing run after run keeps one quarantine row counting its attempts; a record
quarantined by data quality loads and resolves once Cartum fixes it, also when the fix
brings it back to exactly what was synced.

What RO App should hold is worked out from the Cartum sandbox's data only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cartum_roapp_sync.state.store import as_utc
from tests.pipeline import checks
from tests.pipeline.e2e import Sync

BUYER_FIELDS = ("delivery_name", "delivery_email", "delivery_phone", "delivery_city", "delivery_address",
                "delivery_type", "delivery_price", "payment_type", "lang")


def import_store(sync: Sync) -> dict[int, dict[str, Any]]:
    summary = sync.harness.run(run_id="import")
    assert summary["run"]["status"] == "success"
    expected = checks.expected_import(sync.cartum.admin.state(), sync.orders_from("import"))
    checks.check_orders(sync.cartum.admin.state(), sync.view(), sync.config, expected)
    return expected


def new_order_with(sync: Sync, expected: dict[int, dict[str, Any]], lines: list[dict[str, Any]],
                   **fields: Any) -> int:
    """A new order in Cartum, by the buyer of an imported order, created now."""
    cartum = sync.cartum.admin.state()
    buyer = next(o for o in expected.values() if o["delivery_phone"])
    order_id = max(o["order_id"] for o in cartum["orders"]) + 1
    order = {"order_id": order_id, "stat_status": 1, "stat_created": datetime.now().strftime("%Y-%m-%d %H:%M:%S"),
             "payed": 0, "comment": "", "user": None, "products": lines,
             **{f: buyer[f] for f in BUYER_FIELDS}, **fields}
    sync.cartum.admin.action("upsert_orders", [order])
    return order_id


def now_in_cartum(sync: Sync, expected: dict[int, dict[str, Any]], *order_ids: int) -> dict[int, dict[str, Any]]:
    """``expected`` with these orders as Cartum holds them now."""
    orders = {o["order_id"]: o for o in sync.cartum.admin.state()["orders"]}
    return {**{k: orders[k] for k in expected}, **{k: orders[k] for k in order_ids}}


def open_rows(sync: Sync, entity: str, key: Any) -> list[dict[str, Any]]:
    return [r for r in sync.state.open_quarantine(entity) if r["source_key"] == str(key)]


def test_a_product_only_in_order_lines_rejected_once_loads_with_its_order_on_the_next_run(small_sync):
    sync = small_sync
    expected = import_store(sync)
    cartum = sync.cartum.admin.state()

    # after the catalogue was read: a new product, known only through the order that has it
    product = {"article": "SKU-88001", "parent_article": "SKU-88001", "price": 321, "gtin": "4820000880011",
               "title": {"ua": "Чохол Pixel 9", "ru": "Чехол Pixel 9", "en": "Case Pixel 9"}}
    sync.cartum.admin.action("upsert_products", [product])
    known = cartum["products"][0]
    order_id = new_order_with(sync, expected, [{"article": product["article"], "quantity": 1},
                                               {"article": known["article"], "quantity": 2}])
    message = "Product is being moderated"
    sync.roapp.admin.action("reject", {"method": "POST", "path": "/v2/catalog/products", "field": "sku",
                                       "contains": product["article"], "message": message})

    summary, calls = checks.run_counting(sync.harness, "rejected", sync.cartum.admin, sync.roapp.admin)
    assert summary["run"]["status"] == "success"
    exports = [r["body"]["expr"]["article"] for r in calls.total("cartum") if r["path"] == "/api/catalog/export/"]
    assert exports == [[product["article"]]]
    assert (summary["entities"]["products"]["quarantined"], summary["entities"]["orders"]["quarantined"]) == (1, 1)
    [rejected] = sync.state.open_quarantine("products")
    assert message in rejected["reason"] and rejected["record"]["sku"] == product["article"]
    [waiting] = open_rows(sync, "orders", order_id)
    assert f"waits for product {rejected['source_key']}" in waiting["reason"]
    view = sync.view()
    assert product["article"] not in view.products_by_sku()
    checks.check_orders(sync.cartum.admin.state(), view, sync.config, now_in_cartum(sync, expected))

    # RO App accepts it now: the next run fetches the article again (no catalogue refresh is
    # due), creates the product and loads the order
    sync.roapp.admin.action("clear_rejects")
    summary, calls = checks.run_counting(sync.harness, "accepted", sync.cartum.admin, sync.roapp.admin)
    assert summary["run"]["status"] == "success"
    exports = [r["body"]["expr"]["article"] for r in calls.total("cartum") if r["path"] == "/api/catalog/export/"]
    assert exports == [[product["article"]]]
    counts = summary["entities"]
    assert (counts["products"]["created"], counts["orders"]["created"]) == (1, 1)
    assert counts["products"]["quarantined"] == counts["orders"]["quarantined"] == 0
    expected = now_in_cartum(sync, expected, order_id)
    cartum, view = sync.cartum.admin.state(), sync.view()
    checks.check_orders(cartum, view, sync.config, expected)
    checks.check_products(cartum, view, sync.config, expected.values())
    checks.assert_no_duplicates(view)
    assert sync.state.open_quarantine() == []

    # and a run with nothing new fetches no article again
    summary, calls = checks.run_counting(sync.harness, "quiet", sync.cartum.admin, sync.roapp.admin)
    assert summary["run"]["status"] == "success"
    assert [r for r in calls.total("cartum") if r["path"] == "/api/catalog/export/"] == []
    assert checks.writes(calls.total("roapp")) == []


def test_a_record_failing_three_runs_in_a_row_has_one_row_with_three_attempts(small_sync):
    sync = small_sync
    expected = import_store(sync)
    order_id = new_order_with(sync, expected, [{"article": sync.cartum.admin.state()["products"][1]["article"],
                                                "quantity": 1}])
    message = "Client is on the stop list for online orders"
    sync.roapp.admin.action("reject", {"method": "POST", "path": "/v2/orders", "field": "manager_notes",
                                       "contains": checks.marker(sync.config.store_id, order_id), "message": message})

    for run_id in ("fail_1", "fail_2", "fail_3"):
        summary = sync.harness.run(run_id=run_id)
        assert summary["run"]["status"] == "success"
        assert summary["entities"]["orders"]["quarantined"] == 1
    [row] = open_rows(sync, "orders", order_id)
    assert (row["attempts"], row["run_id"], row["stage"]) == (3, "fail_3", "load") and message in row["reason"]
    assert as_utc(row["first_seen_at"]) < as_utc(row["last_seen_at"])
    assert as_utc(row["created_at"]) == as_utc(row["first_seen_at"])
    assert len([r for r in sync.state.open_quarantine() if r["source_key"] == str(order_id)]) == 1
    checks.check_orders(sync.cartum.admin.state(), sync.view(), sync.config, now_in_cartum(sync, expected))

    sync.roapp.admin.action("clear_rejects")
    summary = sync.harness.run(run_id="accepted")
    assert summary["run"]["status"] == "success" and summary["entities"]["orders"]["created"] == 1
    checks.check_orders(sync.cartum.admin.state(), sync.view(), sync.config,
                        now_in_cartum(sync, expected, order_id))
    assert sync.state.open_quarantine() == []
    assert open_rows(sync, "orders", order_id) == []


def test_orders_quarantined_by_data_quality_load_and_resolve_once_cartum_fixes_them(small_sync):
    sync = small_sync
    expected = import_store(sync)
    # a synced open order turns to a foreign currency; a new order comes in one
    synced = next(o for o in expected.values() if o["stat_status"] in (1, 2))
    new_id = new_order_with(sync, expected, [{"article": sync.cartum.admin.state()["products"][2]["article"],
                                              "quantity": 1}], currency="USD")
    sync.cartum.admin.action("upsert_orders", [{"order_id": synced["order_id"], "currency": "USD"}])

    for run_id in ("usd_1", "usd_2"):
        summary = sync.harness.run(run_id=run_id)
        assert summary["run"]["status"] == "success"
        assert summary["entities"]["orders"]["quarantined"] == 2
    for key in (synced["order_id"], new_id):
        [row] = open_rows(sync, "orders", key)
        assert (row["stage"], row["attempts"], row["run_id"]) == ("quality", 2, "usd_2")
    # RO App still holds the order as Cartum had it before, and not the new one
    checks.check_orders(sync.cartum.admin.state(), sync.view(), sync.config, expected)

    # Cartum fixes both: the synced one back to exactly what was synced
    sync.cartum.admin.action("upsert_orders", [{"order_id": synced["order_id"], "currency": "UAH"},
                                               {"order_id": new_id, "currency": "UAH"}])
    summary, calls = checks.run_counting(sync.harness, "fixed", sync.cartum.admin, sync.roapp.admin)
    assert summary["run"]["status"] == "success"
    orders = summary["entities"]["orders"]
    assert (orders["created"], orders["updated"], orders["quarantined"]) == (1, 0, 0)
    rid = sync.view().order(synced["order_id"])["id"]
    assert not [r for r in checks.writes(calls.total("roapp")) if f"/v2/orders/{rid}" in r["path"]]
    expected = now_in_cartum(sync, expected, new_id)
    checks.check_orders(sync.cartum.admin.state(), sync.view(), sync.config, expected)
    assert sync.state.open_quarantine() == []
