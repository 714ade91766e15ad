"""A store's first import and the runs after it, every step in order as the DAG runs them,
against the Cartum and RO App sandboxes over real HTTP, with a real state database (SQLite
in ``tmp_path``; one PostgreSQL variant): the first import, runs with nothing new, and
changes made in Cartum. What RO App ends up holding is read back from its sandbox and
checked against the Cartum sandbox's own data (``checks``, ``e2e``).
"""

from __future__ import annotations

import os
import uuid
from collections import Counter
from datetime import datetime, timedelta

import pytest

from cartum_roapp_sync.state.db import get_engine
from tests.pipeline import checks
from tests.pipeline.e2e import check_no_change_run, first_import, make_sync

PG_URL = os.environ.get("CARTUM_ROAPP_TEST_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")


# --- first import, then a run with nothing new ----------------------------------------------

def test_first_import(sync):
    first_import(sync)


@pytest.mark.both_profiles
def test_no_change_run_writes_nothing(sync):
    expected = first_import(sync)
    check_no_change_run(sync, expected, "again")
    check_no_change_run(sync, expected, "and_again")


@pytest.mark.both_profiles
def test_no_change_run_when_a_later_batch_keys_buyers_differently(sync):
    """A later run reads only new and open orders, and customers registered since the last
    run: the contact that tied a buyer to a phone can be missing from its batch. Nothing
    may be written for that: not a second client, not a re-pointed order, not a client
    update with less data than RO App already has."""
    cartum = sync.cartum.admin.state()
    first_id = max(o["order_id"] for o in cartum["orders"]) + 1
    ago = lambda days: (datetime.now() - timedelta(days=days)).strftime("%Y-%m-%d %H:%M:%S")  # noqa: E731
    sync.cartum.admin.action("upsert_users", [
        {"id": 901, "title": "Ганна Тестова", "email": "hanna.test@example.com", "phone": "+380 67 111 22 33",
         "city": "Київ", "address": "вул. Січових Стрільців, 1", "registered": "2024-05-01 10:00:00"},
        {"id": 902, "title": "Петро Тестовий", "email": "", "phone": "+380 67 444 55 66",
         "city": "Львів", "address": "пл. Ринок, 2", "registered": "2024-06-01 10:00:00"},
    ])
    article = cartum["products"][0]["article"]
    common = {"stat_status": 1, "lang": "ua", "products": [{"article": article, "quantity": 1}],
              "delivery_city": "Одеса", "delivery_address": "Відділення №5"}
    sync.cartum.admin.action("upsert_orders", [
        # a registered buyer: an unusable phone on the order, the profile's e-mail
        {**common, "order_id": first_id, "stat_created": ago(2), "delivery_name": "Ганна Тестова",
         "delivery_phone": "050-12", "delivery_email": "hanna.test@example.com",
         "user": {"id": 901, "title": "Ганна Тестова", "email": "hanna.test@example.com",
                  "phone": "+380 67 111 22 33"}},
        # a registered buyer: neither phone nor e-mail on the order
        {**common, "order_id": first_id + 1, "stat_created": ago(2), "delivery_name": "Петро Тестовий",
         "delivery_phone": "12345", "delivery_email": "",
         "user": {"id": 902, "title": "Петро Тестовий", "email": "", "phone": "+380 67 444 55 66"}},
        # a guest: the e-mail only on an older, canceled order; the open one has none
        {**common, "order_id": first_id + 2, "stat_created": ago(5), "stat_status": 4, "delivery_name": "Ольга Гість",
         "delivery_phone": "+380 93 777 88 99", "delivery_email": "olha.guest@example.com", "user": None},
        {**common, "order_id": first_id + 3, "stat_created": ago(1), "delivery_name": "Ольга Гість",
         "delivery_phone": "0937778899", "delivery_email": "", "user": None},
    ])
    expected = first_import(sync)
    assert set(range(first_id, first_id + 4)) <= set(expected)
    view = sync.view()
    tails = view.people_by_phone()
    assert view.order(first_id)["client_id"] == tails["671112233"][0]["id"]
    assert view.order(first_id + 1)["client_id"] == tails["674445566"][0]["id"]
    guest = tails["937778899"][0]
    assert view.order(first_id + 3)["client_id"] == guest["id"] and guest["email"] == "olha.guest@example.com"

    check_no_change_run(sync, expected, "again")
    check_no_change_run(sync, expected, "and_again")


def test_first_import_and_no_change_run_on_postgresql(cartum_sandbox, roapp_sandbox):
    from sqlalchemy.exc import OperationalError

    try:
        engine = get_engine(PG_URL)
    except OperationalError as exc:  # pragma: no cover - depends on the machine
        pytest.skip(f"no PostgreSQL at {PG_URL}: {exc}")
    store_id = f"e2e_{uuid.uuid4().hex[:12]}"
    sync = make_sync(cartum_sandbox, roapp_sandbox, engine, store_id=store_id, name="PG shop")
    try:
        expected = first_import(sync)
        check_no_change_run(sync, expected, "again")
    finally:
        sync.state.purge()


# --- changes in Cartum ---------------------------------------------------------------------

def retyped(phone: str) -> str:
    """The same Ukrainian mobile number in another format than typed."""
    tail = checks.phone_tail(phone)
    op, a, b, c = tail[:2], tail[2:5], tail[5:7], tail[7:]
    for candidate in (f"0{tail}", f"+38 (0{op}) {a} {b} {c}", f"380-{op}-{a}-{b}{c}"):
        if candidate != phone:
            return candidate
    raise AssertionError("unreachable")


@pytest.mark.both_profiles
def test_changes_in_cartum_are_the_only_writes(sync):
    expected = first_import(sync)
    cartum = sync.cartum.admin.state()
    view = sync.view()
    config = sync.config

    # an old synced order changes status: New/Processing → Shipping
    changed = next(o for o in expected.values() if o["stat_status"] in (1, 2))
    assert config.mapped_status(6) != config.mapped_status(changed["stat_status"])
    sync.cartum.admin.action("upsert_orders", [{"order_id": changed["order_id"], "stat_status": 6}])

    # a brand-new product, ordered by a returning guest who types the phone differently
    tails = Counter(checks.phone_tail(o["delivery_phone"]) for o in cartum["orders"])
    tails.update(checks.phone_tail(u["phone"]) for u in cartum["users"])
    buyers = [o for o in expected.values() if o["user"] is None and o is not changed
              and checks.phone_tail(o["delivery_phone"]) and tails[checks.phone_tail(o["delivery_phone"])] == 1
              and checks.clean_email(o["delivery_email"])]
    assert buyers, "the sandbox should have a guest who ordered once, with a phone and an e-mail"
    buyer = buyers[0]
    client_id = view.order(buyer["order_id"])["client_id"]
    people_before = len(view.people)
    product = {"article": "SKU-77001", "parent_article": "SKU-77001", "price": 555, "gtin": "4820000770015",
               "title": {"ua": "Скло захисне Pixel 9", "ru": "Стекло защитное Pixel 9", "en": "Glass Pixel 9"},
               "description": {"ua": "<p>Нове</p>"}}
    sync.cartum.admin.action("upsert_products", [product])
    known = next(p for p in cartum["products"] if "ua" in p["title"])
    new_id = max(o["order_id"] for o in cartum["orders"]) + 1
    new_order = {
        "order_id": new_id, "stat_status": 1, "stat_created": datetime.now().strftime("%Y-%m-%d %H:%M:%S"),
        "delivery_name": buyer["delivery_name"], "delivery_email": buyer["delivery_email"],
        "delivery_phone": retyped(buyer["delivery_phone"]), "delivery_city": buyer["delivery_city"],
        "delivery_address": buyer["delivery_address"], "delivery_type": buyer["delivery_type"],
        "delivery_price": buyer["delivery_price"], "payment_type": buyer["payment_type"], "payed": 0,
        "comment": "Дзвонити після 18:00", "user": None, "lang": "ua",
        "products": [{"article": product["article"], "quantity": 2}, {"article": known["article"], "quantity": 1}],
    }
    assert new_order["delivery_phone"] != buyer["delivery_phone"]
    sync.cartum.admin.action("upsert_orders", [new_order])

    summary, calls = checks.run_counting(sync.harness, "changes", sync.cartum.admin, sync.roapp.admin)

    cartum = sync.cartum.admin.state()
    now_in_cartum = {o["order_id"]: o for o in cartum["orders"]}
    expected = {**expected, changed["order_id"]: now_in_cartum[changed["order_id"]], new_id: now_in_cartum[new_id]}
    view = sync.view()
    checks.check_orders(cartum, view, config, expected)
    checks.check_products(cartum, view, config, expected.values())
    checks.assert_no_duplicates(view)

    # the writes all concern the three changes
    old_rid, new_rid = view.order(changed["order_id"])["id"], view.order(new_id)["id"]
    product_rid = view.products_by_sku()[product["article"]][0]["id"]
    made = Counter((r["method"], r["path"]) for r in checks.writes(calls.total("roapp")))
    required = Counter({
        ("POST", f"/v2/orders/{old_rid}/status"): 1,
        ("POST", "/v2/catalog/products"): 1,
        ("POST", "/v2/orders"): 1, ("POST", f"/v2/orders/{new_rid}/items"): 2,
        ("POST", f"/v2/orders/{new_rid}/status"): 1, ("POST", f"/v2/orders/{new_rid}/comments"): 1,
    })
    allowed = required + Counter({("PATCH", f"/v2/orders/{old_rid}"): 1})  # its "Last update" field
    assert required <= made <= allowed, f"writes {made}"
    bodies = {(r["method"], r["path"]): r["body"] for r in checks.writes(calls.total("roapp"))}
    assert bodies[("POST", f"/v2/orders/{old_rid}/status")]["status_id"] == config.mapped_status(6)
    assert bodies[("POST", "/v2/catalog/products")]["sku"] == product["article"]
    assert bodies[("POST", "/v2/orders")]["client_id"] == client_id  # no new client for the re-typed phone
    assert checks.marker(config.store_id, new_id) in bodies[("POST", "/v2/orders")]["manager_notes"]
    assert {(i["entity_id"], i["quantity"]) for i in view.order(new_id)["items"]} == {
        (product_rid, 2), (view.products_by_sku()[known["article"]][0]["id"], 1)}
    assert view.products[product_rid]["title"] == product["title"]["ua"]
    assert len(view.people) == people_before
    assert [h["status_id"] for h in view.order(changed["order_id"])["status_history"]] == [
        config.mapped_status(changed["stat_status"]), config.mapped_status(6)]

    # Cartum: the new article was fetched on demand, not the whole catalogue
    exports = [r for r in calls.total("cartum") if r["path"] == "/api/catalog/export/"]
    assert [r["body"]["expr"]["article"] for r in exports] == [[product["article"]]]

    counts = summary["entities"]
    assert (counts["orders"]["created"], counts["orders"]["updated"]) == (1, 1)
    assert (counts["products"]["extracted"], counts["products"]["created"]) == (1, 1)
    assert counts["clients"]["created"] == counts["clients"]["updated"] == 0
    assert summary["run"]["roapp_writes"] == sum(made.values())

    # and the next run is quiet again
    check_no_change_run(sync, expected, "quiet")
