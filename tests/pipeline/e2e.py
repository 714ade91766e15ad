"""What several end-to-end test files share: ``Sync``, one store wired to the Cartum and
RO App sandboxes and a state database, and the whole-run checks of a first import and of a
run with nothing new (``checks`` holds the smaller oracles they are made of). The
fixtures that build a ``Sync`` are in ``conftest.py``.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from cartum_roapp_sync.config import StoreConfig
from cartum_roapp_sync.entities import ORDERS
from cartum_roapp_sync.pipeline.rundata import RunData
from cartum_roapp_sync.state.store import StateStore
from tests.conftest import RunningSandbox
from tests.pipeline import checks
from tests.pipeline.checks import RoAppView
from tests.pipeline.harness import Harness, store_config


@dataclass
class Sync:
    """One store wired to the two sandboxes and a state database."""

    cartum: RunningSandbox
    roapp: RunningSandbox
    harness: Harness

    @property
    def config(self) -> StoreConfig:
        return self.harness.config

    @property
    def state(self) -> StateStore:
        return StateStore(self.harness.engine, self.config.store_id)

    def data(self, run_id: str) -> RunData:
        """What the run's steps handed each other."""
        return RunData(self.state, run_id)

    def orders_from(self, run_id: str) -> str:
        """The start of the run's order creation window."""
        return self.data(run_id).plan().start(ORDERS)

    def view(self) -> RoAppView:
        return RoAppView(self.roapp.admin.state(), self.config.store_id)

    def with_config(self, **overrides: Any) -> "Sync":
        """The same store and state with changed settings."""
        config = store_config(self.roapp.admin.state(), **{**self.config.to_dict(), **overrides})
        return Sync(self.cartum, self.roapp, Harness(config, self.harness.engine, self.cartum.url, self.roapp.url))

    def clear_logs(self) -> None:
        self.cartum.admin.clear_requests()
        self.roapp.admin.clear_requests()


def make_sync(cartum: RunningSandbox, roapp: RunningSandbox, engine, **overrides: Any) -> Sync:
    config = store_config(roapp.admin.state(), **overrides)
    return Sync(cartum, roapp, Harness(config, engine, cartum.url, roapp.url))


def check_first_import(sync: Sync, run_id: str, summary: dict[str, Any], calls: checks.StepCalls) -> dict:
    """RO App holds exactly the orders of the import window but Delivered ones, each right;
    the catalogue and the buyers once each; the run summary says so. Returns the expected
    orders."""
    state, config = sync.state, sync.config
    assert sync.data(run_id).plan().first_import is True
    cartum = sync.cartum.admin.state()
    orders_from = sync.orders_from(run_id)
    expected = checks.expected_import(cartum, orders_from)
    delivered = [o for o in cartum["orders"] if o["stat_created"] >= orders_from and o["stat_status"] == 3]
    assert len(expected) >= 10 and delivered, "the sandbox should give a window with orders to import and to skip"

    # where the next run starts: the newest creation time of the window (Delivered ones
    # included, they were read too), and the first import's own facts
    window = [o["stat_created"] for o in cartum["orders"] if o["stat_created"] >= orders_from]
    facts = state.get_store_state()
    assert state.cursor(ORDERS).value == max(window) == facts["import_cutoff"]
    assert facts["first_import_at"] is not None and facts["catalog_refreshed_at"] is not None

    view = sync.view()
    # what the order checks rely on: the custom fields exist, and there are managers to assign
    assert {"Store", "External ID", "Created", "Last update"} <= set(view.custom_field_ids)
    assert len(checks.active_managers(view.state, config.location_id)) >= 2
    checks.check_orders(cartum, view, config, expected)
    checks.assert_no_duplicates(view)

    # the catalogue, in the store's language, and a fallback language where it is missing
    fallbacks = checks.check_products(cartum, view, config, expected.values())
    assert fallbacks, "the seeded catalogue always has a product without a title in the first language"
    report = sync.data(run_id).transform_report()
    reported = {p.get("article") for p in report if p["entity"] == "products"
                and p.get("problem") in ("language_fallback", "missing_title")}
    assert set(fallbacks) <= reported
    ordered = {line["article"] for order in expected.values() for line in order["products"]}
    fallback_ordered = sorted(set(fallbacks) & ordered)
    assert fallback_ordered, "no imported order has a product missing the store's language"
    catalogue = {p["article"]: p for p in cartum["products"]}
    for article in fallback_ordered:  # on the orders too, the item is titled in the fallback language
        title, _ = checks.expected_title(catalogue[article], config.language)
        assert config.language not in catalogue[article]["title"] and title in catalogue[article]["title"].values()
        on_orders = {i["title"] for o in view.state["orders"] for i in o["items"]
                     if view.products[i["entity_id"]]["sku"] == article}
        assert on_orders == {title}

    # every registered customer and every buyer is one client
    by_phone = view.people_by_phone()
    for user in cartum["users"]:
        tail = checks.phone_tail(user["phone"])
        if tail:
            assert len(by_phone.get(tail, [])) == 1, f"customer {user['id']} ({user['phone']}): {by_phone.get(tail)}"
    for order in expected.values():
        tail = checks.phone_tail(order["delivery_phone"])
        if tail:
            assert len(by_phone.get(tail, [])) == 1, f"buyer of order {order['order_id']}"

    # the writes: one create per record, nothing else
    roapp_log, cartum_log = calls.total("roapp"), calls.total("cartum")
    made = Counter((r["method"], re.sub(r"/\d+", "/{id}", r["path"])) for r in checks.writes(roapp_log))
    items = sum(len(o["items"]) for o in view.state["orders"])
    assert made == Counter({
        ("POST", "/v2/contacts/people"): len(view.people), ("POST", "/v2/catalog/products"): len(view.products),
        ("POST", "/v2/orders"): len(expected), ("POST", "/v2/orders/{id}/items"): items,
        ("POST", "/v2/orders/{id}/status"): len(expected), ("POST", "/v2/orders/{id}/comments"): len(expected)})
    assert all(r["status"] in (200, 201) for r in roapp_log)
    data_calls = checks.function_calls(calls.data_path("cartum"))
    # orders/get: the window (fewer orders than a page), then one read at its last row's
    # offset that tells a complete answer from a silently capped one (cartum.window); no
    # login: the extracts use the token validate_setup got (``cartum.tokens``; was 3 logins)
    assert data_calls == {"orders/get": 2, "catalog/export": 1, "users/export": 1}
    assert checks.function_calls(calls.total("cartum", checks.SETUP_STEPS)) == {
        "auth": 1, "orders/get_available_statuses": 1}
    assert sorted(r["path"] for r in calls.total("roapp", checks.SETUP_STEPS)) == checks.SETUP_ROAPP_READS

    # the run summary, as stored in the state database
    run = summary["run"]
    assert run["status"] == "success" and run["first_import"] is True and run["error"] is None
    assert run["finished_at"] is not None and run["duration_s"] > 0
    assert run["cartum_calls"] == len(cartum_log)
    assert run["roapp_calls"] == len(roapp_log) and run["roapp_writes"] == sum(made.values())
    zero = {"updated": 0, "unchanged": 0, "quarantined": 0, "failed": 0}
    assert summary["entities"] == {
        "orders": {"extracted": len(expected), "created": len(expected), **zero},
        "products": {"extracted": len(cartum["products"]), "created": len(view.products), **zero},
        "clients": {"extracted": len(view.people), "created": len(view.people), **zero},
    }
    assert summary == state.run_summary(run_id)
    assert state.open_quarantine() == []
    return expected


def check_no_change_run(sync: Sync, expected: dict[int, dict], run_id: str) -> None:
    """A second run with nothing new in Cartum writes nothing to RO App; its extract and
    load steps make no RO App request at all and exactly the lower bound of Cartum calls."""
    before = sync.roapp.admin.state()
    cartum = sync.cartum.admin.state()
    final = checks.final_statuses(cartum, before, sync.config)
    open_orders = checks.open_order_count(cartum, expected, final)
    assert open_orders > 0

    summary, calls = checks.run_counting(sync.harness, run_id, sync.cartum.admin, sync.roapp.admin)

    roapp_log, cartum_log = calls.total("roapp"), calls.total("cartum")
    assert checks.writes(roapp_log) == []
    assert calls.data_path("roapp") == [], "extract/transform/load steps called RO App in a run with no change"
    # the setup check (when the run has one) only reads
    assert all(r["method"] == "GET" for r in roapp_log)
    assert sync.roapp.admin.state() == before

    data = calls.data_path("cartum")
    assert len(data) == checks.no_change_cartum_calls(open_orders)
    # no login: the token of the run before is kept (``cartum.tokens``; was 2 logins here)
    assert checks.function_calls(data) == {"orders/get": 2 + -(-open_orders // 200), "users/export": 1}
    # the setup check reads nothing: the token and the reference lists are kept (``reference``;
    # it was a login, the status list and 4 RO App reads)
    assert calls.setup("cartum") == [] and calls.setup("roapp") == []

    run = summary["run"]
    assert run["status"] == "success" and run["first_import"] is False
    assert run["cartum_calls"] == len(cartum_log)
    setup_calls = len(calls.setup("cartum"))
    assert run["cartum_calls"] - setup_calls == checks.no_change_cartum_calls(open_orders)
    assert run["roapp_calls"] == len(roapp_log) and run["roapp_writes"] == 0
    # the README's figures for the whole run
    assert run["cartum_calls"] == checks.no_change_run_cartum_calls(open_orders)
    assert roapp_log == []
    entities = summary["entities"]
    assert entities["orders"]["extracted"] >= open_orders
    for name, counts in entities.items():
        assert counts["created"] == counts["updated"] == counts["quarantined"] == counts["failed"] == 0, name
        assert counts["unchanged"] == (counts["extracted"] if name != "products" else 0), name
    assert entities["products"]["extracted"] == 0  # the catalogue refresh is not due


def first_import(sync: Sync, run_id: str = "import") -> dict[int, dict]:
    summary, calls = checks.run_counting(sync.harness, run_id, sync.cartum.admin, sync.roapp.admin)
    return check_first_import(sync, run_id, summary, calls)
