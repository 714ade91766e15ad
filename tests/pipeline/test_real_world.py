"""The real-world sequences of issue 8, each run against the sandboxes over real HTTP, each
asserting what RO App holds afterwards (worked out from the Cartum sandbox's data):

1. a write applied with its answer lost: ``test_lost_answers``;
2. a manager adds a part to a synced order, then the buyer changes a quantity;
3. a client deleted, another merged, in RO App, then their buyers order again;
4. an order update that fails at its last step for several runs;
5. the state database lost (rebuilt without a duplicate; refused without its connection);
6. two stores of one RO App account sharing a product and a buyer; phones a manager added;
7. a worker killed right after the status change of an update.
"""

from __future__ import annotations

import copy
import re
import signal
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from cartum_roapp_sandbox.cartum import CartumSandbox
from cartum_roapp_sandbox.cartum.seed import CartumSeedConfig, generate
from cartum_roapp_sync.roapp.client import RoAppClient
from cartum_roapp_sync.state.db import get_engine
from cartum_roapp_sync.state.store import quarantine
from tests.conftest import FAST_RETRY, ROAPP_KEY, serving
from tests.pipeline import checks
from tests.pipeline.checks import RoAppView
from tests.pipeline.e2e import Sync, check_first_import, check_no_change_run, first_import, make_sync
from tests.pipeline.harness import Harness
from tests.pipeline.injection import OnRequest, kill
from tests.pipeline.test_crash_recovery import start_worker, wait_until_quiet, worker_log

UPDATED = "Updated from Cartum:\n"
#: Cartum statuses an order keeps being re-read in (not final), each mapped to its own RO App status.
OPEN_STATUSES = (1, 2, 6, 7)


# --- helpers ---------------------------------------------------------------------------------

def now_text(minutes_ago: int = 0) -> str:
    return (datetime.now() - timedelta(minutes=minutes_ago)).strftime("%Y-%m-%d %H:%M:%S")


@contextmanager
def manager(sync: Sync) -> Iterator[RoAppClient]:
    """RO App's public API as a manager's tools use it (the same key; nothing of the sync)."""
    client = RoAppClient(ROAPP_KEY, sync.roapp.url, retry=FAST_RETRY)
    try:
        yield client
    finally:
        client.close()


def cartum_orders(sync: Sync) -> dict[int, dict[str, Any]]:
    return {o["order_id"]: o for o in sync.cartum.admin.state()["orders"]}


def now_expected(sync: Sync, order_ids) -> dict[int, dict[str, Any]]:
    """The given Cartum orders as Cartum holds them now."""
    orders = cartum_orders(sync)
    return {i: orders[i] for i in order_ids}


def lines(order: dict[str, Any]) -> list[dict[str, Any]]:
    """An order's lines as the Cartum admin takes them back."""
    return [{k: line[k] for k in ("article", "quantity", "price", "type")} for line in order["products"]]


def other_status(config, status: int) -> int:
    """An open Cartum status that RO App shows differently from ``status``."""
    return next(s for s in OPEN_STATUSES if config.mapped_status(s) != config.mapped_status(status))


def filtered_view(sync: Sync, *, drop_orders=(), drop_items=()) -> RoAppView:
    """What RO App holds, leaving out some orders and items (those a manager owns, or that
    point at a client a manager deleted), for the whole-store checks."""
    state = copy.deepcopy(sync.roapp.admin.state())
    state["orders"] = [o for o in state["orders"] if o["id"] not in set(drop_orders)]
    for order in state["orders"]:
        order["items"] = [i for i in order["items"] if i["id"] not in set(drop_items)]
    return RoAppView(state, sync.config.store_id)


def latest_comment_view(view: RoAppView) -> RoAppView:
    """The view with "Updated from Cartum" comments read as delivery comments, so that
    ``check_orders`` checks the latest delivery details (counts are checked apart)."""
    state = copy.deepcopy(view.state)
    for order in state["orders"]:
        for comment in order["comments"]:
            comment["comment"] = comment["comment"].removeprefix(UPDATED)
    return RoAppView(state, view.store_id)


def update_comments(order: dict[str, Any]) -> list[str]:
    return [c["comment"] for c in order["comments"] if c["comment"].startswith(UPDATED)]


def status_ids(order: dict[str, Any]) -> list[int]:
    return [h["status_id"] for h in order["status_history"]]


def no_repeated_status(order: dict[str, Any]) -> bool:
    ids = status_ids(order)
    return all(a != b for a, b in zip(ids, ids[1:]))


def quarantine_rows(sync: Sync, key: str | None = None) -> list[dict[str, Any]]:
    with sync.harness.engine.connect() as c:
        query = select(quarantine).where(quarantine.c.store_id == sync.config.store_id)
        if key is not None:
            query = query.where(quarantine.c.source_key == key)
        return [dict(r) for r in c.execute(query.order_by(quarantine.c.id)).mappings()]


def catalogue_due(sync: Sync) -> None:
    """Time passes: the store's next run reads the whole catalogue again."""
    sync.state.set_store_state(catalog_refreshed_at=datetime.now(timezone.utc) - timedelta(days=1))


def open_order(expected: dict[int, dict]) -> dict[str, Any]:
    """The first imported order that is still open (re-read by every run)."""
    return next(o for o in sorted(expected.values(), key=lambda o: o["order_id"]) if o["stat_status"] in OPEN_STATUSES)


# --- 2. a part a manager added ----------------------------------------------------------------

def test_a_part_a_manager_added_stays_when_the_buyer_changes_a_quantity(small_sync):
    sync = small_sync
    expected = first_import(sync)
    view = sync.view()
    order = open_order(expected)
    rid = view.order(order["order_id"])["id"]
    ours = {i["id"] for i in view.order(order["order_id"])["items"]}
    on_order = {i["entity_id"] for i in view.order(order["order_id"])["items"]}
    part = next(p for p in view.state["products"] if p["id"] not in on_order)
    with manager(sync) as api:
        added = api.add_order_item(rid, {"entity_id": part["id"], "quantity": 2, "price": 345.0,
                                         "comment": "the screen's frame, fitted in the workshop"})

    changed = lines(order)
    changed[0]["quantity"] += 2
    sync.cartum.admin.action("upsert_orders", [{"order_id": order["order_id"], "products": changed}])
    summary, calls = checks.run_counting(sync.harness, "quantity", sync.cartum.admin, sync.roapp.admin)
    assert summary["run"]["status"] == "success" and summary["entities"]["orders"]["updated"] == 1

    after = sync.view().order(order["order_id"])
    managers = [i for i in after["items"] if i["id"] == added["id"]]
    assert managers == [added], "the manager's item is still there, untouched"
    assert {i["id"] for i in after["items"]} == ours | {added["id"]}, "no item of ours added or removed"
    item_writes = [(r["method"], r["path"]) for r in checks.writes(calls.total("roapp")) if "/items" in r["path"]]
    assert len(item_writes) == 1 and item_writes[0][0] == "PATCH", item_writes
    assert int(item_writes[0][1].rsplit("/", 1)[1]) in ours

    # everything else as Cartum says, this order's items too once the manager's is set aside
    expected = now_expected(sync, expected)
    checks.check_orders(sync.cartum.admin.state(), filtered_view(sync, drop_items=[added["id"]]), sync.config,
                        expected)
    checks.assert_no_duplicates(sync.view())
    # and the manager's item is no reason to write anything on the next runs
    check_no_change_run(sync, expected, "quiet")
    assert [i for i in sync.view().order(order["order_id"])["items"] if i["id"] == added["id"]] == [added]


# --- 3. clients deleted or merged in RO App --------------------------------------------------

@pytest.mark.both_profiles
def test_a_client_deleted_or_merged_in_roapp_heals_in_the_same_run(small_sync):
    sync = small_sync
    expected = first_import(sync)
    view = sync.view()
    config = sync.config
    by_order = {i: view.order(i)["client_id"] for i in expected}

    merged_order = open_order(expected)  # its buyer's client is merged away
    merged_id = by_order[merged_order["order_id"]]
    deleted_order = next(o for o in expected.values() if by_order[o["order_id"]] != merged_id)
    deleted_id = by_order[deleted_order["order_id"]]  # its buyer's client is deleted
    keep = next(p for p in view.state["people"] if p["id"] not in (merged_id, deleted_id))
    assert not {checks.phone_tail(p["phone"]) for p in keep["phones"]} & {
        checks.phone_tail(merged_order["delivery_phone"]), checks.phone_tail(deleted_order["delivery_phone"])}

    admin = sync.roapp.admin
    admin.delete_person(deleted_id)
    merge = admin.merge_people(keep["id"], merged_id)
    keep_after_merge = merge["person"]
    assert checks.phone_tail(merged_order["delivery_phone"]) in {
        checks.phone_tail(p["phone"]) for p in keep_after_merge["phones"]}

    # both buyers order again; the merged buyer's open order changes too
    article = sync.cartum.admin.state()["products"][0]["article"]
    first_new = max(cartum_orders(sync)) + 1
    buyer_fields = ("delivery_name", "delivery_phone", "delivery_email", "delivery_city", "delivery_address",
                    "delivery_type", "payment_type", "user")
    new_orders = [{**{f: source[f] for f in buyer_fields}, "order_id": first_new + n, "stat_status": 1,
                   "stat_created": now_text(), "payed": 0, "lang": "ua", "comment": "",
                   "products": [{"article": article, "quantity": 1}]}
                  for n, source in enumerate((deleted_order, merged_order))]
    sync.cartum.admin.action("upsert_orders", [
        *new_orders, {"order_id": merged_order["order_id"],
                      "stat_status": other_status(config, merged_order["stat_status"])}])

    summary = sync.harness.run(run_id="after_cleanup")

    assert summary["run"]["status"] == "success"
    orders = summary["entities"]["orders"]
    assert (orders["created"], orders["updated"], orders["quarantined"], orders["failed"]) == (2, 1, 0, 0), orders
    assert sync.state.open_quarantine() == [] and quarantine_rows(sync) == []
    view = sync.view()
    deleted_buyer = view.people[view.order(first_new)["client_id"]]
    assert deleted_buyer["id"] != deleted_id and deleted_id not in view.people
    assert view.order(first_new + 1)["client_id"] == keep["id"], "the merged buyer's order goes to the kept client"
    assert view.order(merged_order["order_id"])["client_id"] == keep["id"]
    kept = view.people[keep["id"]]
    assert {k: kept[k] for k in ("first_name", "last_name", "email", "address", "phones")} == {
        k: keep_after_merge[k] for k in ("first_name", "last_name", "email", "address", "phones")}, \
        "the kept client was found, not edited"

    # RO App as Cartum says, but for the deleted client's older orders, which RO App itself
    # leaves pointing at the client it deleted
    dead = [o["id"] for o in view.state["orders"] if o["client_id"] == deleted_id]
    assert dead
    keep_ids = [i for i in [*expected, first_new, first_new + 1] if view.order(i)["id"] not in dead]
    checks.check_orders(sync.cartum.admin.state(), filtered_view(sync, drop_orders=dead), config,
                        now_expected(sync, keep_ids))
    checks.assert_no_duplicates(view)
    check_no_change_run(sync, now_expected(sync, [*expected, first_new, first_new + 1]), "quiet")


# --- 4. an update failing at its last step ------------------------------------------------------

@pytest.mark.parametrize("failure", ["rejected", "5xx storm"])
def test_an_update_failing_at_its_last_step_posts_its_comment_and_status_once(small_sync, failure):
    sync = small_sync
    expected = first_import(sync)
    view = sync.view()
    config = sync.config
    order = next(o for o in expected.values() if o["stat_status"] in OPEN_STATUSES)
    key, rid = str(order["order_id"]), view.order(order["order_id"])["id"]
    old, new = order["stat_status"], other_status(config, order["stat_status"])
    sync.cartum.admin.action("upsert_orders", [{"order_id": order["order_id"], "stat_status": new,
                                                "payed": 0 if order["payed"] else 1}])
    message = "Custom field values are locked while the order is being invoiced"
    if failure == "rejected":
        sync.roapp.admin.action("reject", {"method": "PATCH", "path": f"/v2/orders/{rid}", "field": "custom_fields",
                                           "contains": config.name, "message": message})
    else:
        sync.roapp.admin.fault_rules([{"method": "PATCH", "path": f"/v2/orders/{rid}", "fault": "503",
                                       "times": 1000}])

    for run in range(1, 4):
        if failure == "rejected":
            summary = sync.harness.run(run_id=f"failing_{run}")
            assert summary["run"]["status"] == "success"
            assert summary["entities"]["orders"]["quarantined"] == 1
            rows = quarantine_rows(sync, key)
            assert len(rows) == 1, f"one quarantine row for the change, not one per run: {rows}"
            assert rows[0]["run_id"] == f"failing_{run}" and rows[0]["resolved_at"] is None
            assert rows[0]["stage"] == "load" and message in rows[0]["reason"]
        else:
            with pytest.raises(Exception):
                checks.run_with_retries(sync.harness, f"failing_{run}")
            assert quarantine_rows(sync) == []
        held = sync.view().order(order["order_id"])
        assert status_ids(held) == [config.mapped_status(old), config.mapped_status(new)], "the status: once"
        assert update_comments(held) == [], "no comment before the update is through"
    patches = [r for r in sync.roapp.admin.requests() if r["method"] == "PATCH" and r["path"] == f"/v2/orders/{rid}"]
    assert len(patches) >= 3

    sync.roapp.admin.action("clear_rejects")
    sync.roapp.admin.clear_fault_rules()
    summary = sync.harness.run(run_id="through")
    assert summary["run"]["status"] == "success" and summary["entities"]["orders"]["quarantined"] == 0

    held = sync.view().order(order["order_id"])
    assert status_ids(held) == [config.mapped_status(old), config.mapped_status(new)]
    assert len(update_comments(held)) == 1, held["comments"]
    assert f"Paid: {'no' if order['payed'] else 'yes'}" in update_comments(held)[0]
    rows = quarantine_rows(sync, key)
    if failure == "rejected":
        assert len(rows) == 1 and rows[0]["resolved_at"] is not None
    else:
        assert rows == []
    assert sync.state.open_quarantine() == []
    expected = now_expected(sync, expected)
    checks.check_orders(sync.cartum.admin.state(), latest_comment_view(sync.view()), config, expected,
                        exact_comments=False)
    check_no_change_run(sync, expected, "quiet")
    held = sync.view().order(order["order_id"])
    assert len(update_comments(held)) == 1 and len(held["status_history"]) == 2


# --- 5. the state database lost -------------------------------------------------------------

def request_kind(request: dict[str, Any]) -> str:
    path = re.sub(r"/\d+", "/{id}", request["path"].rstrip("/"))
    if request["method"] != "GET":
        return f"write {request['method']} {path}"
    return {"/v2/orders": "order list (look-up by marker)", "/v2/orders/{id}": "order read",
            "/v2/orders/{id}/items": "order items read", "/v2/contacts/people": "people look-up",
            "/v2/catalog/products": "product look-up"}.get(path, f"reference read {path}")


@pytest.mark.both_profiles
def test_a_lost_state_is_rebuilt_without_a_duplicate(sync, tmp_path):
    summary, calls = checks.run_counting(sync.harness, "import", sync.cartum.admin, sync.roapp.admin)
    expected = check_first_import(sync, "import", summary, calls)
    import_cost = Counter(map(request_kind, calls.total("roapp")))
    before = sync.roapp.admin.state()

    # the state database is gone; the connection names a new, empty one
    rebuilt = Sync(sync.cartum, sync.roapp, Harness(
        sync.config, get_engine(f"sqlite:///{tmp_path}/rebuilt.db"), sync.cartum.url, sync.roapp.url,
        synced_before=datetime.now(timezone.utc) - timedelta(minutes=5), state_configured=True))
    summary, calls = checks.run_counting(rebuilt.harness, "rebuild", sync.cartum.admin, sync.roapp.admin)
    assert summary["run"]["status"] == "success" and summary["run"]["first_import"] is True

    roapp_log = calls.total("roapp")
    cost = Counter(map(request_kind, roapp_log))
    view = rebuilt.view()
    sizes = (f"{len(expected)} orders ({sum(len(o['items']) for o in view.state['orders'])} items), "
             f"{len(view.people)} clients, {len(view.products)} products")
    print(f"\nlost-state rebuild of {sizes}: RO App requests {len(roapp_log)}")
    for kind, n in sorted(cost.items()):
        print(f"  {kind:45s} {n:4d}   (first import: {import_cost.get(kind, 0)})")
    print(f"  first import: {sum(import_cost.values())} requests")

    assert checks.writes(roapp_log) == [], "the rebuild writes nothing: every record is found again"
    assert cost["order list (look-up by marker)"] <= 1 + len(expected) // 50
    assert sync.roapp.admin.state()["orders"] == before["orders"]
    assert checks.snapshot(sync.roapp.admin.state(), "demo") == checks.snapshot(before, "demo")
    cartum = sync.cartum.admin.state()
    checks.check_orders(cartum, view, rebuilt.config, expected)
    checks.check_products(cartum, view, rebuilt.config, expected.values())
    checks.assert_no_duplicates(view)
    assert rebuilt.state.open_quarantine() == []
    for entity in ("clients", "products", "orders"):
        rows = rebuilt.state.id_rows(entity)
        assert rows and all(r.status == "synced" and r.roapp_id for r in rows.values()), entity
    assert {r.roapp_id for r in rebuilt.state.id_rows("orders").values()} == {
        view.order(i)["id"] for i in expected}
    # and the rebuilt state runs on as the old one would have
    check_no_change_run(rebuilt, expected, "after_rebuild")

    # the run summary says what happened: records found again, none created
    counts = summary["entities"]
    assert counts["clients"]["created"] == counts["products"]["created"] == 0
    assert (counts["clients"]["unchanged"], counts["products"]["unchanged"]) == (len(view.people), len(view.products))
    assert (counts["orders"]["created"], counts["orders"]["unchanged"]) == (0, len(expected)), \
        f"orders found again by their marker, nothing created: {counts['orders']}"


def test_a_lost_state_without_the_state_connection_stops_loudly(sync, tmp_path):
    first_import(sync)
    before = sync.roapp.admin.state()
    sync.clear_logs()
    lost = Harness(sync.config, get_engine(f"sqlite:///{tmp_path}/fresh.db"), sync.cartum.url, sync.roapp.url,
                   synced_before=datetime.now(timezone.utc) - timedelta(minutes=5), state_configured=False)
    with pytest.raises(Exception, match="cartum_roapp_state") as failed:
        lost.run(run_id="no_connection")
    assert "has synced before" in str(failed.value)
    assert sync.roapp.admin.requests() == [], "nothing was asked of RO App, let alone written"
    assert sync.roapp.admin.state() == before


# --- 6. two stores of one RO App account -------------------------------------------------------

def second_store_data(shared_article: str, shared_buyer: dict[str, Any]) -> dict[str, Any]:
    """A small second store: the first one's statuses, three products of its own plus one
    with the first store's article (titled and priced its own way), three orders, one by
    the first store's buyer (same phone, another name and address) with the shared article."""
    statuses = generate(CartumSeedConfig(seed=5, orders=1, products=1, customers=1))["statuses"]
    products = [{"article": f"B-{n:03d}", "parent_article": f"B-{n:03d}", "price": 100 * n, "gtin": "",
                 "title": {"ua": f"Чохол другого магазину {n}"}, "description": {"ua": "<p>B</p>"},
                 "price_old": 0, "presence": "В наявності", "quantity": 5, "mpn": "", "parent": {"id": 0},
                 "display_in_showcase": 1} for n in (1, 2, 3)]
    products.append({**products[0], "article": shared_article, "parent_article": shared_article, "price": 999,
                     "title": {"ua": "Назва другого магазину"}, "description": {"ua": "<p>Другий магазин</p>"}})
    base = {"stat_status": 1, "delivery_email": "", "delivery_type": {"id": 1, "title": "Нова Пошта"},
            "delivery_price": 80, "payment_type": {"id": 1, "title": "Накладений платіж"}, "payed": 0,
            "currency": "UAH", "comment": "", "user": None, "lang": "ua", "delivery_city": "Полтава"}

    def order(order_id: int, name: str, phone: str, address: str, article: str, price: float) -> dict[str, Any]:
        line = {"article": article, "title": article, "price": price, "quantity": 1, "total_price": price,
                "type": "product"}
        return {**base, "order_id": order_id, "stat_created": now_text(60 + order_id % 10), "delivery_name": name,
                "delivery_phone": phone, "delivery_address": address, "products": [line],
                "total_default": price, "total_sum": price, "total_quantity": 1}

    return {"statuses": statuses, "products": products, "users": [], "orders": [
        order(5001, "Другий Покупець", "+380 63 100 20 01", "Відділення №1", "B-001", 100),
        order(5002, "Третій Покупець", "+380 63 100 20 02", "Відділення №2", "B-002", 200),
        order(5003, "Інше Ім'я", shared_buyer["delivery_phone"], "Відділення №9", shared_article, 999),
    ]}


@pytest.mark.both_profiles
def test_two_stores_of_one_account_link_what_the_other_created_and_never_overwrite_it(
        small_sync, roapp_sandbox, tmp_path, sandbox_profile):
    first = small_sync
    expected_a = first_import(first)
    view = first.view()
    cartum_a = first.cartum.admin.state()
    # the shared product: one store A's orders use; the shared buyer: one of store A's guests
    shared_article = next(line["article"] for o in expected_a.values() for line in o["products"]
                          if any(p["article"] == line["article"] for p in cartum_a["products"]))
    buyer = next(o for o in expected_a.values() if o["user"] is None and checks.phone_tail(o["delivery_phone"]))
    product = view.products_by_sku()[shared_article][0]
    person = view.people_by_phone()[checks.phone_tail(buyer["delivery_phone"])][0]

    data = second_store_data(shared_article, buyer)
    with serving(CartumSandbox(data, profile=sandbox_profile)) as cartum_b:
        second = make_sync(cartum_b, roapp_sandbox, get_engine(f"sqlite:///{tmp_path}/b.db"),
                           store_id="second", name="Second shop")
        summary = second.harness.run(run_id="import")
        assert summary["run"]["status"] == "success"
        view = second.view()
        expected_b = {o["order_id"]: o for o in data["orders"]}
        cartum_b = second.cartum.admin.state()
        checks.check_orders(cartum_b, view, second.config, expected_b)
        checks.assert_no_duplicates(view)
        assert view.order(5003)["client_id"] == person["id"], "B's order of the shared buyer: A's client, linked"
        assert [i["entity_id"] for i in view.order(5003)["items"]] == [product["id"]]
        assert view.products[product["id"]] == product and view.people[person["id"]] == person

        # store B changes the shared product and the shared buyer; store A changes nothing
        second.cartum.admin.action("upsert_products", [{"article": shared_article, "price": 1111,
                                                        "title": {"ua": "Нова назва другого магазину"}}])
        second.cartum.admin.action("upsert_orders", [{"order_id": 5004, "stat_status": 1, "stat_created": now_text(),
                                                      "delivery_name": "Зовсім Інше Ім'я",
                                                      "delivery_phone": buyer["delivery_phone"],
                                                      "delivery_city": "Ужгород", "delivery_address": "вул. Нова, 5",
                                                      "products": [{"article": shared_article, "quantity": 1}]}])
        catalogue_due(second)
        assert second.harness.run(run_id="changes")["run"]["status"] == "success"
        assert second.data("changes").plan().catalog_full, "store B read its changed product"
        assert first.harness.run(run_id="a_again")["run"]["status"] == "success"
        view = second.view()
        assert view.products[product["id"]] == product, "store A's product keeps A's title and price"
        assert view.people[person["id"]] == person, "store A's client keeps A's name and address"
        assert view.order(5004)["client_id"] == person["id"]
        checks.check_orders(second.cartum.admin.state(), view, second.config,
                            {**expected_b, 5004: cartum_orders(second)[5004]})
        checks.check_orders(first.cartum.admin.state(), first.view(), first.config, expected_a)
        checks.check_products(first.cartum.admin.state(), first.view(), first.config, expected_a.values())
        checks.assert_no_duplicates(view)
        written = {(r["method"], re.sub(r"/\d+", "/{id}", r["path"])) for r in checks.writes(
            second.roapp.admin.requests())}
        assert ("PATCH", "/v2/catalog/products/{id}") not in written
        assert ("PATCH", "/v2/contacts/people/{id}") not in written

        # store A, which created them, still updates them; B's next run leaves A's values
        first.cartum.admin.action("upsert_products", [{"article": shared_article, "price": 777}])
        catalogue_due(first)
        assert first.harness.run(run_id="a_price")["run"]["status"] == "success"
        assert second.harness.run(run_id="b_again")["run"]["status"] == "success"
        assert checks.price_of(second.view().products[product["id"]]) == 777


@pytest.mark.both_profiles
def test_phones_a_manager_added_stay_when_the_store_updates_the_client(small_sync):
    """A manager gives a client a second phone in RO App (a PATCH of the whole phone list, as
    RO App's interface does); the buyer's name and address then change in Cartum and the
    buyer orders with the manager's number: the client is updated with what changed only,
    and keeps both phones; the order with the second number goes to the same client."""
    sync = small_sync
    expected = first_import(sync)
    view = sync.view()
    buyer = next(o for o in sorted(expected.values(), key=lambda o: -o["order_id"])
                 if o["user"] is None and checks.phone_tail(o["delivery_phone"]))
    person = view.people_by_phone()[checks.phone_tail(buyer["delivery_phone"])][0]
    second_phone = "+380931112299"
    with manager(sync) as api:
        api.update_person(person["id"], {"phones": [*person["phones"], {"phone": second_phone}]})
    phones = sync.view().people[person["id"]]["phones"]
    assert [p["phone"] for p in phones] == [person["phones"][0]["phone"], second_phone]

    first_new = max(cartum_orders(sync)) + 1
    article = sync.cartum.admin.state()["products"][0]["article"]
    common = {"stat_status": 1, "user": None, "lang": "ua", "products": [{"article": article, "quantity": 1}],
              "delivery_email": buyer["delivery_email"]}
    sync.cartum.admin.action("upsert_orders", [
        {**common, "order_id": first_new, "stat_created": now_text(5), "delivery_name": "Марина Оновлена",
         "delivery_phone": buyer["delivery_phone"], "delivery_city": "Черкаси", "delivery_address": "вул. Нова, 1"},
        {**common, "order_id": first_new + 1, "stat_created": now_text(1), "delivery_name": "Марина Оновлена",
         "delivery_phone": "093 111 22 99", "delivery_city": "Черкаси", "delivery_address": "вул. Нова, 1"},
    ])
    sync.clear_logs()
    assert sync.harness.run(run_id="changes")["run"]["status"] == "success"

    view = sync.view()
    after = view.people[person["id"]]
    assert after["phones"] == phones, "both phones kept"
    assert (after["first_name"], after["last_name"], after["address"]) == ("Марина", "Оновлена",
                                                                           "Черкаси, вул. Нова, 1")
    patches = [r["body"] for r in sync.roapp.admin.requests() if r["method"] == "PATCH" and "/people/" in r["path"]]
    assert patches and all("phones" not in body for body in patches), patches
    assert view.order(first_new)["client_id"] == view.order(first_new + 1)["client_id"] == person["id"]
    checks.assert_no_duplicates(view)
    checks.check_orders(sync.cartum.admin.state(), view, sync.config,
                        now_expected(sync, [*expected, first_new, first_new + 1]))


@pytest.mark.both_profiles
def test_a_buyer_first_known_by_email_who_then_gives_a_phone_stays_one_client_with_every_phone(small_sync):
    """A buyer orders with an e-mail and a phone that is no phone (``050-12``): a client
    known by e-mail. A manager calls and puts two numbers on the client in RO App. The buyer
    then orders again, now with a valid new number: that is a phone change for the same
    client, pushed as one more phone; the manager's two numbers stay, and no second client
    with the same e-mail appears."""
    sync = small_sync
    article = sync.cartum.admin.state()["products"][0]["article"]
    first_new = max(cartum_orders(sync)) + 1
    email = "oksana.lyst@example.com"
    common = {"stat_status": 1, "user": None, "lang": "ua", "delivery_name": "Оксана Лист",
              "delivery_email": email, "delivery_city": "Львів", "delivery_address": "Відділення №3",
              "products": [{"article": article, "quantity": 1}]}
    sync.cartum.admin.action("upsert_orders", [{**common, "order_id": first_new, "stat_created": now_text(30),
                                                "delivery_phone": "050-12"}])
    expected = first_import(sync)
    view = sync.view()
    person = next(p for p in view.state["people"] if p.get("email") == email)
    with manager(sync) as api:
        api.update_person(person["id"], {"phones": [{"phone": "+380671230001"}, {"phone": "+380671230002"}]})

    sync.cartum.admin.action("upsert_orders", [{**common, "order_id": first_new + 1, "stat_created": now_text(),
                                                "delivery_phone": "+380 93 555 00 77"}])
    assert sync.harness.run(run_id="with_phone")["run"]["status"] == "success"

    view = sync.view()
    with_email = [p for p in view.state["people"] if (p.get("email") or "").lower() == email]
    assert [p["id"] for p in with_email] == [person["id"]], f"one client for the buyer: {with_email}"
    assert [p["phone"] for p in view.people[person["id"]]["phones"]][:2] == ["+380671230001", "+380671230002"]
    assert "935550077" in {checks.phone_tail(p["phone"]) for p in view.people[person["id"]]["phones"]}
    assert view.order(first_new + 1)["client_id"] == person["id"]
    checks.check_orders(sync.cartum.admin.state(), view, sync.config,
                        now_expected(sync, [*expected, first_new + 1]))


# --- 7. a crash right after the status change of an update ------------------------------------

def test_a_worker_killed_right_after_an_updates_status_change(small_sync, tmp_path: Path):
    sync = small_sync
    expected = first_import(sync)
    config = sync.config
    order = open_order(expected)
    rid = sync.view().order(order["order_id"])["id"]
    new = other_status(config, order["stat_status"])
    sync.cartum.admin.action("upsert_orders", [{"order_id": order["order_id"], "stat_status": new,
                                                "payed": 0 if order["payed"] else 1}])
    run_id = "update"
    sync.harness.run(until="load_products", run_id=run_id)

    worker = start_worker(sync, tmp_path, run_id, ["load_orders"])
    with OnRequest(sync.roapp, rf"/v2/orders/{rid}/status", kill(worker), method="POST",
                   succeeded_only=True) as switch:
        assert worker.wait(timeout=60) == -signal.SIGKILL, worker_log(tmp_path, run_id)
    assert switch.fired
    wait_until_quiet(sync.roapp.admin, 0.2)
    held = sync.view().order(order["order_id"])
    assert status_ids(held)[-1] == config.mapped_status(new) and update_comments(held) == []

    summary = checks.resume(sync.harness, run_id, "load_orders")   # Airflow's retry
    assert summary["run"]["status"] == "success"
    held = sync.view().order(order["order_id"])
    assert status_ids(held) == [config.mapped_status(order["stat_status"]), config.mapped_status(new)]
    assert no_repeated_status(held)
    assert len(update_comments(held)) == 1, held["comments"]
    expected = now_expected(sync, expected)
    checks.check_orders(sync.cartum.admin.state(), latest_comment_view(sync.view()), config, expected,
                        exact_comments=False)
    checks.assert_no_duplicates(sync.view())
    check_no_change_run(sync, expected, "quiet")
