"""Order details the loader must keep straight across runs: a product on two lines at two
prices, and a Cartum status change that RO App does not see."""

from __future__ import annotations

import pytest

from cartum_roapp_sync.state.db import get_engine
from cartum_roapp_sync.state.store import StateStore
from tests.pipeline.harness import Harness, store_config


@pytest.fixture
def harness(cartum_sandbox, roapp_sandbox, tmp_path):
    config = store_config(roapp_sandbox.admin.state())
    return Harness(config, get_engine(f"sqlite:///{tmp_path}/state.db"), cartum_sandbox.url, roapp_sandbox.url)


def roapp_order(roapp_sandbox, order_id: int) -> dict:
    marker = f"[cartum:demo:{order_id}]"
    return next(o for o in roapp_sandbox.admin.state()["orders"] if marker in (o.get("manager_notes") or ""))


@pytest.mark.both_profiles
def test_a_gift_of_a_product_also_bought_is_a_line_of_its_own(harness, cartum_sandbox, roapp_sandbox):
    harness.run()
    article = cartum_sandbox.admin.state()["products"][0]["article"]
    cartum_sandbox.admin.action("upsert_orders", [{
        "order_id": 99001, "stat_status": 1, "delivery_name": "Ірина Гриценко", "delivery_phone": "+380671112233",
        "products": [{"article": article, "quantity": 2, "price": 100.0, "type": "product"},
                     {"article": article, "quantity": 1, "price": 0, "type": "gift"}]}])
    harness.run()
    items = sorted((i["quantity"], i["price"]) for i in roapp_order(roapp_sandbox, 99001)["items"])
    assert items == [(1, 0), (2, 100.0)]

    # the buyer drops the paid units to one: one item changes, the gift stays, nothing is duplicated
    cartum_sandbox.admin.action("upsert_orders", [{
        "order_id": 99001, "products": [{"article": article, "quantity": 1, "price": 100.0, "type": "product"},
                                        {"article": article, "quantity": 1, "price": 0, "type": "gift"}]}])
    roapp_sandbox.admin.clear_requests()
    harness.run()
    items = sorted((i["quantity"], i["price"]) for i in roapp_order(roapp_sandbox, 99001)["items"])
    assert items == [(1, 0), (1, 100.0)]
    item_writes = [r for r in roapp_sandbox.admin.requests() if r["method"] != "GET" and "/items" in r["path"]]
    assert [r["method"] for r in item_writes] == ["PATCH"]


def test_a_status_change_invisible_to_roapp_still_makes_the_order_final(harness, cartum_sandbox, roapp_sandbox):
    status_map = dict(harness.config.status_map)
    status_map["4"] = status_map["2"]  # Processing and Canceled both land on one RO App status
    harness.config = store_config(roapp_sandbox.admin.state(), status_map=status_map)
    cartum_sandbox.admin.action("upsert_orders", [{"order_id": 99002, "stat_status": 2, "delivery_name": "Олег",
                                                   "delivery_phone": "+380501234000",
                                                   "products": [{"article": cartum_sandbox.admin.state()["products"][1]["article"],
                                                                 "quantity": 1}]}])
    harness.run()
    state = StateStore(harness.engine, "demo")
    assert 99002 in state.open_order_ids(harness.config.final_statuses)

    cartum_sandbox.admin.action("upsert_orders", [{"order_id": 99002, "stat_status": 4}])
    roapp_sandbox.admin.clear_requests()
    harness.run()
    assert [r for r in roapp_sandbox.admin.requests() if r["method"] != "GET"] == []  # nothing to tell RO App
    assert 99002 not in state.open_order_ids(harness.config.final_statuses)  # but no longer re-read
