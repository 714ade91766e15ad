"""A registered buyer who leaves neither a valid phone nor an e-mail is one RO App client
for all their orders, linked by Cartum's ``user`` id, whether the API answers ``user`` as
a plain number (the API docs: the documented profile) or as an object ``{id, ...}`` (the
alternative profile). Before ``user`` was read both ways, a number lost the id and every
such order became a client of its own. End to end against the sandboxes."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from tests.conftest import seeded_cartum
from tests.pipeline.e2e import check_no_change_run, first_import, make_sync

BUYER = 903


def _ago(days: int) -> str:
    return (datetime.now() - timedelta(days=days)).strftime("%Y-%m-%d %H:%M:%S")


@pytest.mark.parametrize("profile", ["documented", "alternative"])
def test_orders_of_a_registered_buyer_without_phone_or_email_share_one_client(profile, roapp_sandbox, engine):
    for cartum in seeded_cartum(seed=5, orders=30, products=20, customers=10, days=60, profile=profile):
        state = cartum.admin.state()
        first_id = max(o["order_id"] for o in state["orders"]) + 1
        article = state["products"][0]["article"]
        cartum.admin.action("upsert_users", [{"id": BUYER, "title": "Ірина Зареєстрована", "email": "", "phone": "",
                                              "city": "Полтава", "address": "", "registered": "2024-03-01 09:00:00"}])
        common = {"stat_status": 1, "lang": "ua", "products": [{"article": article, "quantity": 1}],
                  "delivery_city": "Полтава", "delivery_address": "Відділення №3"}
        registered = [first_id, first_id + 1, first_id + 2]
        cartum.admin.action("upsert_orders", [
            {**common, "order_id": registered[0], "stat_created": _ago(3), "delivery_name": "Ірина Зареєстрована",
             "delivery_phone": "", "delivery_email": "", "user": BUYER},
            {**common, "order_id": registered[1], "stat_created": _ago(2), "delivery_name": "ірина зареєстрована",
             "delivery_phone": "12345", "delivery_email": "not-an-email", "user": BUYER},
            {**common, "order_id": registered[2], "stat_created": _ago(1), "delivery_name": "Ірина",
             "delivery_phone": "", "delivery_email": "", "user": {"id": BUYER}},
            # a guest with the same name and no contact either: a client of their own
            {**common, "order_id": first_id + 3, "stat_created": _ago(1), "delivery_name": "Ірина Зареєстрована",
             "delivery_phone": "", "delivery_email": "", "user": None},
        ])
        answered = _answered_users(cartum, registered)
        assert answered == ([BUYER] * 3 if profile == "documented" else [{"id": BUYER}] * 3), answered

        sync = make_sync(cartum, roapp_sandbox, engine)
        expected = first_import(sync)
        assert set(registered) | {first_id + 3} <= set(expected)
        view = sync.view()
        clients = {view.order(order_id)["client_id"] for order_id in registered}
        assert len(clients) == 1, f"the registered buyer became {len(clients)} RO App clients: {clients}"
        guest = view.order(first_id + 3)["client_id"]
        assert guest not in clients
        person = view.people[clients.pop()]
        assert (person["first_name"], person["last_name"]) == ("Ірина", "Зареєстрована")
        assert sum(1 for p in view.state["people"] if p.get("last_name") == "Зареєстрована") == 2  # buyer, guest

        check_no_change_run(sync, expected, "again")


def _answered_users(cartum, order_ids: list[int]) -> list:
    """``user`` of the orders as the Cartum API answers them (not as the sandbox stores them)."""
    from cartum_roapp_sync.cartum.client import CartumClient
    from tests.conftest import CARTUM_LOGIN, CARTUM_PASSWORD

    client = CartumClient(cartum.url, CARTUM_LOGIN, CARTUM_PASSWORD, requests_per_second=0)
    answer = client.call("orders/get", {"ids": order_ids, "limit": len(order_ids), "offset": 0})
    cartum.admin.clear_requests()
    users = {o["order_id"]: o["user"] for o in answer["orders"]}
    return [users[i] for i in order_ids]
