"""Item discounts against the fake RO App: an order's share of a promo goes with its items,
RO App's order amount is then Cartum's total; a discount changed later patches the items
in place; an add whose answer was lost is found by product, price and discount; a manager's
item stays untouched; orders synced before item discounts get one update, no duplicates."""

from __future__ import annotations

from typing import Any

import pytest

from cartum_roapp_sync.transport import AmbiguousWriteError

from .fake_roapp import FakeRoApp
from .records import line, order
from .test_orders import Shop


@pytest.fixture
def shop(engine, fake) -> Shop:
    return Shop(engine, fake)


def value(amount: float) -> dict[str, Any]:
    return {"type": "value", "amount": amount, "percentage": 0}


def promo(order_id: int, p1: float, p2: float, *, comment: str = "Cartum total: 1012.5 UAH (discount 37.5 UAH)"):
    """P1 ×2 at 300 and P2 at 450 (1050), with discounts p1 and p2."""
    return order(order_id, [line("P1", 2, 300.0, discount=p1), line("P2", 1, 450.0, discount=p2)], comment=comment)


def test_a_new_order_sends_each_items_discount_and_its_amount_is_the_total(shop, fake):
    record = promo(501, 30.0, 22.5)

    shop.load([record], "run_1")

    held = shop.roapp_order(501)
    pid = shop.product_ids
    assert fake.calls_of("add_order_item") == [
        (held["id"], {"entity_id": pid["P1"], "price": 300.0, "quantity": 2.0, "discount": value(30.0)}),
        (held["id"], {"entity_id": pid["P2"], "price": 450.0, "quantity": 1.0, "discount": value(22.5)})]
    assert fake.order(held["id"])["price"] == record.total == 997.5


def test_an_order_without_discount_sends_no_discount_field(shop, fake):
    shop.load([order(502, [line("P1", 1, 100.0, discount=0)])], "run_1")
    assert [body for _, body in fake.calls_of("add_order_item")] == [
        {"entity_id": shop.product_ids["P1"], "price": 100.0, "quantity": 1.0}]


def test_a_discount_changed_in_cartum_patches_the_items_in_place(shop, fake):
    shop.load([promo(503, 30.0, 22.5)], "run_1")
    held = shop.roapp_order(503)
    ids = {i["entity_id"]: i["id"] for i in held["items"]}

    changed = promo(503, 60.0, 45.0, comment="Cartum total: 945 UAH (discount 105 UAH)")
    shop.load([changed], "run_2")

    pid = shop.product_ids
    assert sorted(fake.calls_of("update_order_item"), key=lambda c: c[1]) == sorted([
        (held["id"], ids[pid["P1"]], {"discount": value(60.0)}),
        (held["id"], ids[pid["P2"]], {"discount": value(45.0)})], key=lambda c: c[1])
    assert not {"add_order_item", "delete_order_item"} & set(fake.names())
    assert len(fake.calls_of("add_order_comment")) == 1
    after = fake.order(held["id"])
    assert sorted(i["id"] for i in after["items"]) == sorted(ids.values())
    assert after["price"] == changed.total == 945.0

    shop.load([changed], "run_3")
    assert fake.calls == []


def test_a_manager_item_of_the_same_product_stays_untouched(shop, fake):
    shop.load([promo(504, 30.0, 22.5)], "run_1")
    held = shop.roapp_order(504)
    manager = fake.add_order_item(held["id"], {"entity_id": shop.product_ids["P1"], "price": 300.0, "quantity": 1})

    shop.load([promo(504, 0.0, 0.0, comment="Cartum total: 1050 UAH")], "run_2")

    items = {i["id"]: i for i in fake.order(held["id"])["items"]}
    assert items[manager["id"]] == manager
    assert manager["id"] not in {c[1] for c in fake.calls_of("update_order_item")}
    assert len(items) == 3


def test_an_add_whose_answer_was_lost_is_found_by_product_price_and_discount(shop, fake, monkeypatch):
    record = promo(505, 30.0, 22.5)
    real_add = FakeRoApp.add_order_item
    lost = []

    def add_then_lose(self, order_id, body):
        added = real_add(self, order_id, body)
        if not lost:
            lost.append(added)
            raise AmbiguousWriteError("RO App POST items: the outcome is unknown", method="POST",
                                      path=f"/v2/orders/{order_id}/items", status=None)
        return added

    monkeypatch.setattr(FakeRoApp, "add_order_item", add_then_lose)
    shop.load([record], "run_1")

    held = fake.order(shop.roapp_order(505)["id"])
    assert len(held["items"]) == 2 and len(fake.calls_of("add_order_item")) == 2
    assert shop.row(505).details["items"] == {"P1@300": lost[0]["id"], "P2@450": held["items"][1]["id"]}
    assert held["price"] == 997.5


def test_an_order_synced_before_item_discounts_gets_one_update_and_no_duplicate(shop, fake):
    old = order(506, [line("P1", 2, 300.0), line("P2", 1, 450.0)], comment="Delivery: Нова Пошта")
    shop.load([old], "run_1")
    held = shop.roapp_order(506)
    ids = sorted(i["id"] for i in held["items"])

    upgraded = order(506, [line("P1", 2, 300.0, discount=30.0), line("P2", 1, 450.0, discount=22.5)],
                     comment="Delivery: Нова Пошта\nCartum total: 997.5 UAH (discount 52.5 UAH)")
    shop.load([upgraded], "run_2")

    assert fake.calls_of("order_items") == [(held["id"],)]
    assert len(fake.calls_of("update_order_item")) == 2
    assert len(fake.calls_of("add_order_comment")) == 1
    assert not {"add_order_item", "delete_order_item", "create_order"} & set(fake.names())
    after = fake.order(held["id"])
    assert sorted(i["id"] for i in after["items"]) == ids and after["price"] == 997.5

    shop.load([upgraded], "run_3")
    assert fake.calls == []


def test_an_undiscounted_order_synced_before_item_discounts_needs_no_item_write(shop, fake):
    shop.load([order(507, [line("P1", 1, 100.0)], comment="Delivery: Самовивіз")], "run_1")
    upgraded = order(507, [line("P1", 1, 100.0, discount=0)], comment="Delivery: Самовивіз\nCartum total: 100 UAH")
    shop.load([upgraded], "run_2")
    assert not {"add_order_item", "update_order_item", "delete_order_item"} & set(fake.names())
    assert len(fake.calls_of("add_order_comment")) == 1


def test_a_lost_state_adopts_items_added_before_their_discount_and_patches_it(shop, fake):
    shop.load([order(508, [line("P1", 2, 300.0), line("P2", 1, 450.0)])], "run_1")
    held = shop.roapp_order(508)
    ids = sorted(i["id"] for i in held["items"])
    shop.state.forget("orders", "508")  # the state database lost the order; RO App holds it

    shop.load([promo(508, 30.0, 22.5)], "run_2")

    after = fake.order(held["id"])
    assert sorted(i["id"] for i in after["items"]) == ids
    assert after["price"] == 997.5
    assert not {"add_order_item", "create_order"} & set(fake.names())
