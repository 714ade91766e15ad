"""Issue 9, row 4: totals match. Against both sandboxes over real HTTP: RO App's order amount
(the sum of its items after their discounts) equals Cartum's ``total_sum`` for every
imported order, promo orders included (10707 → 10171.65); the delivery comment states the
Cartum total; a discount changed later in Cartum patches the items in place, without a
duplicate, and leaves a manager's item alone. Every expected value is worked out from the
Cartum sandbox's own data."""

from __future__ import annotations

from typing import Any

from tests.pipeline import checks
from tests.pipeline.e2e import Sync, first_import
from tests.pipeline.test_real_world import UPDATED, manager, now_text

PROMO_ID = 98001


def cents(amount: float) -> int:
    return round(float(amount) * 100)


def lines_cents(order: dict[str, Any]) -> int:
    return sum(cents(float(line["price"]) * float(line["quantity"])) for line in order["products"])


def money(amount_cents: int) -> str:
    return str(amount_cents // 100) if amount_cents % 100 == 0 else f"{amount_cents / 100:.2f}"


def total_text(order: dict[str, Any]) -> str:
    """The comment's statement of the Cartum total, from Cartum's fields."""
    total, lines = cents(order["total_sum"]), lines_cents(order)
    text = f"Cartum total: {money(total)} {order['currency']}"
    if lines > total:
        text += f" (discount {money(lines - total)} {order['currency']})"
    return text


def roapp_amount(order: dict[str, Any], *, leave_out: set[int] = frozenset()) -> int:
    """RO App's order amount in cents, read back from the sandbox (leaving out some items)."""
    if not leave_out:
        return cents(order["price"])
    return sum(cents(i["price"] * i["quantity"]) - cents(_discount(i)) for i in order["items"]
               if i["id"] not in leave_out)


def _discount(item: dict[str, Any]) -> float:
    found = item.get("discount") or {}
    return float(found.get("amount") or 0)


def add_promo_order(sync: Sync) -> dict[str, Any]:
    """An open order of two lines, 8999 + 2 × 854 = 10707, with a 5% promo: 10171.65."""
    first, second = sync.cartum.admin.state()["products"][:2]
    sync.cartum.admin.action("upsert_orders", [{
        "order_id": PROMO_ID, "stat_status": 1, "stat_created": now_text(30), "delivery_name": "Олена Бондар",
        "delivery_phone": "+380671234598", "delivery_price": 80, "delivery_type": {"id": 1, "title": "Нова Пошта"},
        "products": [{"article": first["article"], "quantity": 1, "price": 8999.0, "type": "product"},
                     {"article": second["article"], "quantity": 2, "price": 854.0, "type": "product"}],
        "total_default": 10707, "total_sum": 10171.65}])
    return next(o for o in sync.cartum.admin.state()["orders"] if o["order_id"] == PROMO_ID)


def test_every_order_total_in_roapp_is_cartums_total_sum(small_sync):
    sync = small_sync
    promo = add_promo_order(sync)
    assert (lines_cents(promo), cents(promo["total_sum"])) == (1070700, 1017165)

    expected = first_import(sync)

    view = sync.view()
    promos = [i for i, o in expected.items() if cents(o["total_sum"]) < lines_cents(o)]
    assert PROMO_ID in promos and len(promos) >= 2, "the seed gives 10% of orders a promo; ours is one more"
    wrong = {}
    for order_id, cartum in expected.items():
        roapp = view.order(order_id)
        if roapp_amount(roapp) != cents(cartum["total_sum"]):
            wrong[order_id] = (roapp["price"], cartum["total_sum"], cartum["total_default"])
        delivery = [c["comment"] for c in roapp["comments"] if c["comment"].startswith("Delivery:")]
        if total_text(cartum) not in delivery[-1]:
            wrong[order_id] = (delivery[-1], total_text(cartum))
    assert wrong == {}, f"RO App amount or comment differs from Cartum's total_sum: {wrong}"
    held = view.order(PROMO_ID)
    assert held["price"] == 10171.65
    assert "Cartum total: 10171.65 UAH (discount 535.35 UAH)" in held["comments"][0]["comment"]
    assert "Delivery price: 80 UAH" in held["comments"][0]["comment"], "delivery is documented, not a line"
    assert len(held["items"]) == 2


def test_a_discount_changed_in_cartum_updates_the_items_in_place(small_sync):
    sync = small_sync
    add_promo_order(sync)
    first_import(sync)
    held = sync.view().order(PROMO_ID)
    ours = {i["id"] for i in held["items"]}
    on_order = {i["entity_id"] for i in held["items"]}
    part = next(p for p in sync.view().state["products"] if p["id"] not in on_order)
    with manager(sync) as api:
        added = api.add_order_item(held["id"], {"entity_id": part["id"], "quantity": 2, "price": 345.0})

    # the shop raises the promo to 10%: 10707 → 9636.30
    sync.cartum.admin.action("upsert_orders", [{"order_id": PROMO_ID, "total_sum": 9636.3}])
    cartum = next(o for o in sync.cartum.admin.state()["orders"] if o["order_id"] == PROMO_ID)
    summary, calls = checks.run_counting(sync.harness, "deeper_promo", sync.cartum.admin, sync.roapp.admin)
    assert summary["run"]["status"] == "success" and summary["entities"]["orders"]["updated"] == 1

    after = sync.view().order(PROMO_ID)
    assert {i["id"] for i in after["items"]} == ours | {added["id"]}, "no item of ours added or removed"
    assert [i for i in after["items"] if i["id"] == added["id"]] == [added], "the manager's item is untouched"
    item_writes = [(r["method"], r["path"]) for r in checks.writes(calls.total("roapp")) if "/items" in r["path"]]
    assert sorted(m for m, _ in item_writes) == ["PATCH", "PATCH"]
    assert {int(path.rsplit("/", 1)[1]) for _, path in item_writes} == ours
    assert roapp_amount(after, leave_out={added["id"]}) == cents(cartum["total_sum"]) == 963630
    assert cents(after["price"]) == 963630 + 2 * 34500, "RO App's amount: our items plus the manager's"
    updates = [c["comment"] for c in after["comments"] if c["comment"].startswith(UPDATED)]
    assert len(updates) == 1 and "Cartum total: 9636.30 UAH (discount 1070.70 UAH)" in updates[0]

    # nothing changed since: nothing written
    sync.roapp.admin.clear_requests()
    summary = sync.harness.run(run_id="quiet")
    assert summary["run"]["status"] == "success"
    assert checks.writes(sync.roapp.admin.requests()) == []
