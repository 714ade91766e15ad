"""The orders loader against the fake RO App: a new order is created, then its items, its
status and its comment, each step recorded as RO App confirms it; a run that died anywhere
in between is resumed without a second order, item or comment; later runs add, reprice,
requantify and remove lines; rejected orders and orders whose client is missing are
quarantined while the others load."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest

from cartum_roapp_sync.pipeline.errors import FatalStepError
from cartum_roapp_sync.pipeline.load import OrderLoader
from cartum_roapp_sync.state.store import StateStore

from .fake_roapp import FakeRoApp, WorkerDied
from .records import LOCATION, ORDER_TYPE, STATUS_MAP, config, context, line, order, plan

BUYER = "phone:+380501234567"
PRODUCT_KEYS = ("P1", "P2", "P3", "P4", "P5")


class Shop:
    """The store's state database and its RO App, with one buyer and five products already
    synced (as load_clients and load_products leave them)."""

    def __init__(self, engine, fake: FakeRoApp, **settings: Any):
        self.engine, self.fake = engine, fake
        self.config = config(**settings)
        self.state = StateStore(engine, self.config.store_id)
        buyer = fake.add_person(first_name="Іван", phones=[{"phone": "+380501234567"}])
        self.state.record_synced("clients", BUYER, buyer["id"], "hash")
        self.client_id = buyer["id"]
        self.product_ids: dict[str, int] = {}
        for key in PRODUCT_KEYS:
            made = fake.add_product(title=f"Product {key}", sku=key, price=1.0)
            self.state.record_synced("products", key, made["id"], "hash")
            self.product_ids[key] = made["id"]

    def load(self, records: list[Any], run_id: str) -> Any:
        """One load_orders step of run ``run_id``; the fake forgets earlier calls."""
        ctx = context(self.config, self.engine, self.fake, run_id, plan=plan())
        self.fake.forget_calls()
        return OrderLoader(ctx).run(records)

    def row(self, order_id: int) -> Any:
        return self.state.id_rows("orders")[str(order_id)]

    def roapp_order(self, order_id: int) -> dict[str, Any]:
        """The one RO App order carrying this Cartum order's marker."""
        marker = f"[cartum:{self.config.store_id}:{order_id}]"
        found = [o for o in self.fake.orders.values() if marker in (o.get("manager_notes") or "")]
        assert len(found) == 1, f"{len(found)} RO App orders carry {marker}"
        return found[0]

    def expected_items(self, record: Any) -> list[tuple[int, float, float]]:
        """(product id, quantity, price) per line: a line is one product at one price."""
        lines: dict[tuple[int, float], float] = defaultdict(float)
        for item in record.items:
            lines[(self.product_ids[item["product_key"]], float(item["price"]))] += float(item["quantity"])
        return sorted((pid, quantity, price) for (pid, price), quantity in lines.items())


def items_of(roapp_order: dict[str, Any]) -> list[tuple[int, float, float]]:
    return sorted((i["entity_id"], float(i["quantity"]), float(i["price"])) for i in roapp_order["items"])


@pytest.fixture
def shop(engine, fake) -> Shop:
    return Shop(engine, fake)


def test_a_new_order_is_created_then_items_status_and_comment(shop, fake):
    record = order(501, [line("P1", 2, 100.0), line("P2", 1, 50.0)], status=2)

    counts = shop.load([record], "run_1")

    assert counts.created == 1
    # one look for the order by its marker first (a lost state must not create it twice)
    # and the employees once, to give the order only to a listed manager still eligible
    assert fake.names() == ["find_orders", "employees", "custom_fields", "create_order", "add_order_item",
                            "add_order_item", "set_order_status", "add_order_comment"]
    held = shop.roapp_order(501)
    assert (held["branch_id"], held["order_type_id"], held["client_id"]) == (LOCATION, ORDER_TYPE, shop.client_id)
    assert held["manager_id"] == [7, 8][501 % 2]
    assert held["custom_fields"] == {"f31": "Shop", "f32": "501"}
    assert items_of(held) == shop.expected_items(record)
    assert held["status"]["id"] == STATUS_MAP["2"]
    assert [c["comment"] for c in held["comments"]] == [record.delivery_comment]

    row = shop.row(501)
    assert (row.status, row.roapp_id, row.content_hash) == ("synced", held["id"], record.content_hash)
    assert row.details["steps"] == ["items", "status", "comment"]
    assert row.details["cartum_status"] == 2
    key_of = {pid: key for key, pid in shop.product_ids.items()}
    assert row.details["items"] == {f"{key_of[i['entity_id']]}@{i['price']:g}": i["id"] for i in held["items"]}

    counts = shop.load([record], "run_2")
    assert fake.calls == [] and counts.unchanged == 1


def test_managers_all_takes_active_managers_of_the_location_round_robin(engine, fake):
    shop = Shop(engine, fake, managers="all")
    shop.load([order(501, [line("P1")]), order(502, [line("P2")])], "run_1")

    assert fake.names().count("employees") == 1
    # 7 and 8 manage the location; 9 is inactive, 10 works elsewhere
    assert (shop.roapp_order(501)["manager_id"], shop.roapp_order(502)["manager_id"]) == (8, 7)


def test_a_listed_manager_no_longer_eligible_is_dropped_from_the_round_robin(engine, fake):
    shop = Shop(engine, fake, managers=[7, 9, 10])  # 9 is inactive, 10 works elsewhere
    shop.load([order(501, [line("P1")]), order(502, [line("P2")])], "run_1")
    assert (shop.roapp_order(501)["manager_id"], shop.roapp_order(502)["manager_id"]) == (7, 7)


def test_no_listed_manager_eligible_stops_the_load(engine, fake):
    shop = Shop(engine, fake, managers=[9, 10])
    with pytest.raises(FatalStepError, match=r"no listed manager \(9, 10\) is eligible any more"):
        shop.load([order(501, [line("P1")])], "run_1")
    assert "create_order" not in fake.names()


def test_each_step_is_recorded_as_roapp_confirms_it(shop, fake):
    record = order(501, [line("P1", 1, 100.0)])
    fake.die_before("set_order_status")

    with pytest.raises(WorkerDied):
        shop.load([record], "run_1")

    held = shop.roapp_order(501)
    row = shop.row(501)
    assert (row.status, row.roapp_id) == ("intent", held["id"])
    assert row.details["steps"] == ["items"]
    assert row.details["items"] == {"P1@100": held["items"][0]["id"]}

    # the retry resumes at the status: no second order, no second item
    counts = shop.load([record], "run_1")
    assert counts.created == 1
    # the status may have gone in unrecorded (a crash right after it): looked at first
    assert fake.names() == ["get_order", "set_order_status", "add_order_comment"]
    held = shop.roapp_order(501)
    assert items_of(held) == shop.expected_items(record)
    assert [c["comment"] for c in held["comments"]] == [record.delivery_comment]
    assert shop.row(501).status == "synced"


def test_a_create_whose_answer_never_came_back_is_found_by_its_marker(shop, fake):
    record = order(501, [line("P1", 2, 100.0), line("P2", 1, 50.0)])
    fake.die_after("create_order")

    with pytest.raises(WorkerDied):
        shop.load([record], "run_1")
    row = shop.row(501)
    assert (row.status, row.roapp_id, row.marker) == ("intent", None, "[cartum:shop:501]")

    counts = shop.load([record], "run_1")
    assert counts.created == 1
    assert "create_order" not in fake.names() and len(fake.orders) == 1
    held = shop.roapp_order(501)
    assert items_of(held) == shop.expected_items(record)
    assert [c["comment"] for c in held["comments"]] == [record.delivery_comment]
    assert shop.row(501).roapp_id == held["id"]


def test_items_a_dead_worker_added_are_read_back_not_added_again(shop, fake):
    record = order(501, [line("P1", 2, 100.0), line("P2", 1, 50.0), line("P3", 1, 30.0)])
    fake.die_after("add_order_item")     # the first line went in, its answer was lost

    with pytest.raises(WorkerDied):
        shop.load([record], "run_1")
    assert len(shop.roapp_order(501)["items"]) == 1
    assert shop.row(501).details["steps"] == []

    shop.load([record], "run_1")
    assert fake.names() == ["order_items", "add_order_item", "add_order_item", "get_order", "set_order_status",
                            "add_order_comment"]
    assert items_of(shop.roapp_order(501)) == shop.expected_items(record)


def test_a_comment_a_dead_worker_posted_is_not_posted_again(shop, fake):
    record = order(501, [line("P1", 1, 100.0)])
    fake.die_after("add_order_comment")

    with pytest.raises(WorkerDied):
        shop.load([record], "run_1")
    assert shop.row(501).details["steps"] == ["items", "status"]
    assert len(shop.roapp_order(501)["comments"]) == 1

    shop.load([record], "run_1")
    assert fake.names() == ["get_order"]          # modified_at moved since the status: the comment went in
    assert [c["comment"] for c in shop.roapp_order(501)["comments"]] == [record.delivery_comment]
    assert shop.row(501).status == "synced"


def test_a_comment_a_dead_worker_never_sent_is_posted_on_the_retry(shop, fake):
    record = order(501, [line("P1", 1, 100.0)])
    fake.die_before("add_order_comment")

    with pytest.raises(WorkerDied):
        shop.load([record], "run_1")
    assert shop.roapp_order(501)["comments"] == []

    shop.load([record], "run_1")
    assert fake.names() == ["get_order", "add_order_comment"]
    assert [c["comment"] for c in shop.roapp_order(501)["comments"]] == [record.delivery_comment]


def test_an_intent_left_by_a_dead_run_finds_its_order_by_the_marker(shop, fake):
    record = order(501, [line("P1", 2, 100.0), line("P2", 1, 50.0)])
    shop.state.record_intent("orders", "501", "[cartum:shop:501]", {"steps": []})
    # the dead run's create went through, and its first item; neither was recorded
    crashed = fake.add_order(
        items=[{"entity_id": shop.product_ids["P1"], "quantity": 2, "price": 100.0}], branch_id=LOCATION,
        order_type_id=ORDER_TYPE, client_id=shop.client_id,
        manager_notes="Cartum order #501 from Shop, created 2025-01-02 10:00:00 [cartum:shop:501]")
    fake.add_order(branch_id=LOCATION, manager_notes="Cartum order #5010 [cartum:shop:5010]")
    fake.add_order(branch_id=LOCATION, manager_notes="Cartum order #501 [cartum:other_shop:501]")

    counts = shop.load([record], "run_2")

    assert counts.created == 1
    assert "create_order" not in fake.names()
    assert fake.names() == ["find_orders", "order_items", "add_order_item", "get_order", "set_order_status",
                            "add_order_comment"]
    assert fake.calls_of("find_orders")[0][0]["branches"] == [LOCATION]
    assert fake.calls_of("add_order_item")[0][1]["entity_id"] == shop.product_ids["P2"]
    held = shop.roapp_order(501)
    assert held["id"] == crashed["id"] and len(fake.orders) == 3
    assert items_of(held) == shop.expected_items(record)
    assert [c["comment"] for c in held["comments"]] == [record.delivery_comment]
    row = shop.row(501)
    assert (row.status, row.roapp_id, row.content_hash) == ("synced", crashed["id"], record.content_hash)


def test_a_run_that_died_after_the_items_step_does_not_add_them_again(shop, fake):
    record = order(501, [line("P1", 2, 100.0), line("P2", 1, 50.0)], status=2)
    made = fake.add_order(items=[{"entity_id": shop.product_ids["P1"], "quantity": 2, "price": 100.0},
                                 {"entity_id": shop.product_ids["P2"], "quantity": 1, "price": 50.0}],
                          branch_id=LOCATION, order_type_id=ORDER_TYPE, client_id=shop.client_id,
                          manager_notes="[cartum:shop:501]")
    items = {"P1@100": made["items"][0]["id"], "P2@50": made["items"][1]["id"]}
    shop.state.record_intent("orders", "501", "[cartum:shop:501]", {"steps": []})
    shop.state.record_created_id("orders", "501", made["id"], {"steps": []})
    shop.state.record_progress("orders", "501", {"items": items, "steps": ["items"]})

    counts = shop.load([record], "run_2")

    assert counts.created == 1
    assert fake.names() == ["get_order", "set_order_status", "add_order_comment"]
    held = shop.roapp_order(501)
    assert items_of(held) == shop.expected_items(record)
    assert {i["id"] for i in held["items"]} == set(items.values())
    assert held["status"]["id"] == STATUS_MAP["2"]
    row = shop.row(501)
    assert (row.status, row.details["items"], row.details["steps"]) == ("synced", items,
                                                                         ["items", "status", "comment"])


def test_lines_are_added_repriced_requantified_and_removed_on_update(shop, fake):
    first = order(601, [line("P1", 1, 100.0), line("P2", 2, 50.0), line("P3", 1, 30.0), line("P4", 1, 10.0)])
    shop.load([first], "run_1")
    held = shop.roapp_order(601)
    item_of = {i["entity_id"]: i["id"] for i in held["items"]}
    pid = shop.product_ids

    second = order(601, [line("P1", 1, 100.0),     # unchanged
                         line("P2", 2, 45.0),      # same product, new price
                         line("P4", 3, 10.0),      # new quantity
                         line("P5", 1, 20.0)])     # new line; P3 is gone
    counts = shop.load([second], "run_2")

    assert counts.updated == 1
    assert fake.calls_of("add_order_item") == [(held["id"], {"entity_id": pid["P5"], "quantity": 1.0,
                                                             "price": 20.0})]
    assert sorted(fake.calls_of("update_order_item"), key=lambda c: c[1]) == sorted([
        (held["id"], item_of[pid["P2"]], {"quantity": 2.0, "price": 45.0}),
        (held["id"], item_of[pid["P4"]], {"quantity": 3.0})], key=lambda c: c[1])
    assert fake.calls_of("delete_order_item") == [(held["id"], item_of[pid["P3"]])]
    assert not {"create_order", "set_order_status", "add_order_comment"} & set(fake.names())

    held = shop.roapp_order(601)
    assert items_of(held) == shop.expected_items(second)
    now = {i["entity_id"]: i["id"] for i in held["items"]}
    assert (now[pid["P1"]], now[pid["P2"]], now[pid["P4"]]) == (item_of[pid["P1"]], item_of[pid["P2"]],
                                                               item_of[pid["P4"]])
    assert shop.row(601).details["items"] == {"P1@100": now[pid["P1"]], "P2@45": now[pid["P2"]],
                                              "P4@10": now[pid["P4"]], "P5@20": now[pid["P5"]]}
    assert shop.row(601).content_hash == second.content_hash

    shop.load([second], "run_3")
    assert fake.calls == []


def test_an_update_killed_after_its_last_write_is_finished_and_its_version_recorded(shop, fake):
    """Found by the chaos run: a line is added, the worker dies right after the order's PATCH
    (every write done, the new version not recorded); the retry must record it, so that when
    the buyer removes the line again the order is not taken for unchanged."""
    first = order(801, [line("P2")])
    shop.load([first], "run_1")
    added = order(801, [line("P1"), line("P2")])
    fake.die_after("update_order")
    with pytest.raises(WorkerDied):
        shop.load([added], "run_2")
    assert items_of(shop.roapp_order(801)) == shop.expected_items(added)

    shop.load([added], "run_2")  # Airflow's retry
    assert shop.row(801).content_hash == added.content_hash and "updating" not in shop.row(801).details
    assert not {"add_order_item", "set_order_status", "add_order_comment"} & set(fake.names())

    shop.load([first], "run_3")  # the buyer removed the line again
    assert items_of(shop.roapp_order(801)) == shop.expected_items(first)


def test_a_status_and_payment_change_are_pushed(shop, fake):
    first = order(701, [line("P1")], status=1)
    shop.load([first], "run_1")

    paid = order(701, [line("P1")], status=2, paid=True, comment="Нова Пошта, Київ, оплачено")
    shop.load([paid], "run_2")

    held = shop.roapp_order(701)
    assert fake.calls_of("set_order_status") == [(held["id"], STATUS_MAP["2"], "Cartum status changed to 2")]
    assert fake.calls_of("add_order_comment") == [(held["id"], "Updated from Cartum:\n" + paid.delivery_comment)]
    assert "order_items" not in fake.names()     # the lines did not change
    assert held["status"]["id"] == STATUS_MAP["2"]
    assert shop.row(701).details["cartum_status"] == 2


def test_a_rejected_order_is_quarantined_and_the_others_load(shop, fake):
    bad, good = order(501, [line("P1")]), order(502, [line("P2")])
    fake.reject("create_order", "The manager notes may not be greater than 255 characters.")

    counts = shop.load([bad, good], "run_1")

    assert (counts.created, counts.quarantined, counts.failed) == (1, 1, 0)
    assert len(fake.orders) == 1 and items_of(shop.roapp_order(502)) == shop.expected_items(good)
    [row] = shop.state.open_quarantine("orders")
    assert (row["source_key"], row["stage"], row["run_id"]) == ("501", "load", "run_1")
    assert "may not be greater than 255 characters" in row["reason"]
    assert row["record"]["order_id"] == 501
    assert shop.state.quarantined_count("run_1", "orders") == 1

    # a later run creates it once and resolves the quarantine; the other order stays as it is
    counts = shop.load([bad, good], "run_2")
    assert (counts.created, counts.unchanged) == (1, 1)
    assert fake.names().count("create_order") == 1
    assert items_of(shop.roapp_order(501)) == shop.expected_items(bad)
    assert len(fake.orders) == 2
    assert shop.state.open_quarantine("orders") == []


def test_an_order_whose_client_is_not_loaded_waits_in_quarantine(shop, fake):
    stranger = order(801, [line("P1")], client_key="phone:+380671112233")
    known = order(802, [line("P2")])

    counts = shop.load([stranger, known], "run_1")

    assert (counts.created, counts.quarantined) == (1, 1)
    assert "create_order" in fake.names() and len(fake.orders) == 1
    shop.roapp_order(802)
    [row] = shop.state.open_quarantine("orders")
    assert (row["source_key"], row["stage"]) == ("801", "load")
    assert "waits for client phone:+380671112233" in row["reason"]
    assert "801" not in shop.state.id_rows("orders")      # no intent: nothing was sent


def test_a_quarantined_change_that_is_undone_resolves_the_quarantine(shop, fake):
    record = order(501, [line("P1")], status=3)
    shop.load([record], "run_1")
    # run 2: Cartum's edit of the order failed data quality; run 3: the edit is undone
    shop.state.quarantine("run_2", "orders", "501", "quality", "order_items.quantity must be > 0")

    counts = shop.load([record], "run_3")

    assert counts.unchanged == 1 and fake.calls == []
    assert shop.state.open_quarantine("orders") == []
