"""Hostile records end to end (issue 11, the record shapes): Cartum serves every malformed
shape of the issue's table beside good orders; each run succeeds, good orders keep
syncing, the watermark stays a sane time, the bad ones wait in the quarantine with
readable reasons (one row each, however many runs), and a held order loads once Cartum
fixes it."""

from __future__ import annotations

import copy
from datetime import timedelta

from sqlalchemy import update

from cartum_roapp_sync.entities import ORDERS
from cartum_roapp_sync.pipeline.context import store_now
from cartum_roapp_sync.state.cursors import CARTUM_TIME, sane
from cartum_roapp_sync.state.tables import cursors
from tests.pipeline import checks
from tests.pipeline.e2e import Sync

BASE = 990_000


def hostile_orders(template: dict, created: str) -> dict[str, dict]:
    """Named malformed orders (each a variant of a good one), ids from BASE + 1."""
    good_line = copy.deepcopy(template["products"][0])

    def variant(n: int, **changes) -> dict:
        return {**copy.deepcopy(template), "order_id": BASE + n, "stat_created": created, **changes}

    no_article = {k: v for k, v in good_line.items() if k != "article"}
    return {
        "null": None, "string": "order 990000", "list": [BASE, created],
        "id A-9104": variant(0, order_id="A-9104"), "id 2^63": variant(0, order_id=2**63),
        "id 1069.5": variant(0, order_id=1069.5), "id missing": {**variant(0), "order_id": None},
        "created 2026-13-45": variant(1, stat_created="2026-13-45 99:99:99"),
        "created 30.11.2026": variant(2, stat_created="30.11.2026 10:00"),
        "created 2099": variant(3, stat_created="2099-01-01 00:00:00"),
        "products null": variant(4, products=None), "products string": variant(5, products="SKU"),
        "products number": variant(6, products=7), "products object": variant(7, products=good_line),
        "products []": variant(8, products=[]), "line null": variant(9, products=[good_line, None]),
        "line without article": variant(10, products=[good_line, no_article]),
        "price 1,299": variant(11, products=[{**good_line, "price": "1,299"}]),
        "quantity 1,299": variant(12, products=[{**good_line, "quantity": "1,299"}]),
    }


def good_order(sync: Sync, order_id: int, article: str, created: str) -> None:
    sync.cartum.admin.action("upsert_orders", [{
        "order_id": order_id, "stat_created": created, "delivery_name": "Олена Good", "delivery_phone": "0671234567",
        "products": [{"article": article, "quantity": 1}]}])


def test_hostile_records_are_held_and_the_store_keeps_syncing(small_sync):
    sync = small_sync
    # a null customer and product, one without a usable id, one with an ambiguous price: read
    # by the first import (the whole catalogue), held from then on
    sync.cartum.admin.action("upsert_raw_users", {"users": [None, {"id": "u-1", "registered": "2026-01-01 10:00:00"}]})
    sync.cartum.admin.action("upsert_raw_products", {"products": [None, {"article": "RAW-1", "price": "1,299"}]})
    assert sync.harness.run(run_id="import")["run"]["status"] == "success"
    assert {r["source_key"] for r in sync.state.open_quarantine("products")} >= {"RAW-1"}
    cartum = sync.cartum.admin.state()
    template = next(o for o in cartum["orders"] if o["products"])
    article = template["products"][0]["article"]
    now = store_now(sync.config.timezone)
    created = (now - timedelta(minutes=1)).strftime(CARTUM_TIME)
    bad = hostile_orders(template, created)
    sync.cartum.admin.action("upsert_raw_orders", {"orders": list(bad.values())})
    # a phone with letters: a good order, its phone is not turned into +380502224567
    sync.cartum.admin.action("upsert_raw_orders", {"orders": [{
        **copy.deepcopy(template), "order_id": BASE + 20, "stat_created": created, "delivery_phone": "050ABC4567",
        "delivery_name": "Letters Phone", "delivery_email": "letters@example.com", "user": None,
        "comment": "NUL\x00 and bell\x07 gone"}]})

    held_ids = {BASE + n for n in range(1, 13)}
    for run in ("hostile-1", "hostile-2", "hostile-3", "hostile-4"):
        new_id = BASE + 100 + int(run[-1])
        good_order(sync, new_id, article, store_now(sync.config.timezone).strftime(CARTUM_TIME))
        summary = sync.harness.run(run_id=run)
        assert summary["run"]["status"] == "success", summary["run"]["error"]

        view = sync.view()
        view.order(new_id)                      # the store keeps syncing good orders
        view.order(BASE + 20)
        assert not held_ids & set(view.orders_by_cartum_id)  # nothing of a held order reached RO App
        assert "+380502224567" not in {p.get("phone") for person in view.people.values()
                                       for p in person.get("phones") or []}
        assert all("\x00" not in (o.get("manager_notes") or "") for o in view.state["orders"])
        watermark = sync.state.cursor(ORDERS).value
        assert sane(watermark, sync.config.timezone) and watermark < "2099"

        rows = sync.state.open_quarantine()
        shape = [r for r in rows if r["stage"] == "shape"]
        by_key = {(r["entity"], r["source_key"]): r for r in shape}
        assert len(by_key) == len(shape)        # one open row per record, not one per run
        orders = {key: r for (entity, key), r in by_key.items() if entity == "orders"}
        assert {str(i) for i in held_ids} <= set(orders)
        assert sum(key.startswith("sha256:") for key in orders) == 7  # null, string, list and the four ids
        assert all(r["reason"] and "Cartum" in r["reason"] for r in shape)
        assert "stat_created is '2026-13-45 99:99:99'" in orders[str(BASE + 1)]["reason"]
        assert "future" in orders[str(BASE + 3)]["reason"]
        assert "no lines" in orders[str(BASE + 4)]["reason"] and "no lines" in orders[str(BASE + 8)]["reason"]
        assert "line 2: the line has no article" in orders[str(BASE + 10)]["reason"]
        assert "'1,299' is ambiguous" in orders[str(BASE + 11)]["reason"]
        assert {e for e, _ in by_key} == {"orders", "clients", "products"}
        assert summary["entities"]["orders"]["quarantined"] >= len(held_ids) + 7

    first = {(r["entity"], r["source_key"]): r["attempts"] for r in sync.state.open_quarantine()}
    assert first[("orders", str(BASE + 4))] == 4   # held again each run, in the same row

    # Cartum fixes an order held for its lines: the next run reads it by id and loads it
    sync.cartum.admin.action("upsert_orders", [{"order_id": BASE + 4, "stat_created": created,
                                                "products": [{"article": article, "quantity": 2}]}])
    summary = sync.harness.run(run_id="fixed")
    assert summary["run"]["status"] == "success"
    sync.view().order(BASE + 4)
    assert str(BASE + 4) not in {r["source_key"] for r in sync.state.open_quarantine("orders")}
    checks.assert_no_duplicates(sync.view())

    # a watermark an older version stored from such a record: the next run repairs it
    with sync.harness.engine.begin() as c:
        c.execute(update(cursors).where(cursors.c.store_id == sync.config.store_id, cursors.c.entity == "orders")
                  .values(value="2026-13-45 99:99:99"))
    good_order(sync, BASE + 200, article, store_now(sync.config.timezone).strftime(CARTUM_TIME))
    assert sync.harness.run(run_id="repaired")["run"]["status"] == "success"
    sync.view().order(BASE + 200)
    assert sane(sync.state.cursor(ORDERS).value, sync.config.timezone)
