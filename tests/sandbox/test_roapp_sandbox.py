"""The RO App sandbox over real HTTP: auth, reference data, paging, filters, validation,
orders with their sub-resources, reject rules, the per-key rate limit and the CLI."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from cartum_roapp_sandbox.roapp import DEFAULT_API_KEY, RoAppSandbox, RoAppSeedConfig, generate
from cartum_roapp_sandbox.server import FaultSettings, SandboxServer, key_fingerprint
from tests.sandbox.conftest import Api


def new_person(api: Api, **fields) -> dict:
    return api.created("/v2/contacts/people", {"first_name": "Olha", "last_name": "Petrenko", **fields})


def new_order(api: Api, **fields) -> dict:
    client_id = fields.pop("client_id", None) or new_person(api)["id"]
    return api.created("/v2/orders", {"branch_id": 101, "order_type_id": 301, "client_id": client_id, **fields})


def ids_at(api: Api, path_and_query: str) -> list[int]:
    """The ids a list endpoint answers, in its order (the query is sent as written)."""
    response = api.call("GET", path_and_query)
    assert response.status_code == 200, response.text
    return [row["id"] for row in response.json()["data"]]


# --- auth and reference data ------------------------------------------------------------

@pytest.mark.parametrize("key", [None, "wrong-key"])
def test_requests_without_a_valid_key_get_401(server, key):
    response = Api(server.url, key).get("/branches/")
    assert response.status_code == 401
    assert response.json() == {"message": "Unauthorized: invalid or missing API key"}


def test_reference_endpoints_answer_their_shapes(api):
    branches = api.get("/branches/").json()
    assert branches["count"] == 3 and [b["id"] for b in branches["data"]] == [101, 102, 103]
    assert branches["data"][0] == {"id": 101, "name": "Online store"}

    employees = api.get("/v2/company/employees").json()["data"]
    assert set(employees[0]) == {"id", "first_name", "last_name", "email", "role", "is_active", "branch_ids"}
    managers = [e for e in employees if e["role"] == "Manager"]
    assert len([m for m in managers if m["is_active"]]) >= 3 and any(not m["is_active"] for m in managers)
    assert {e["role"] for e in employees} == {"Manager", "Engineer", "Administrator"}
    # every location has an active manager with access to it
    assert all(any(m["is_active"] and b in m["branch_ids"] for m in managers) for b in (101, 102, 103))

    statuses = api.get("/v2/orders/statuses").json()
    assert isinstance(statuses, list)
    by_name = {s["name"]: s for s in statuses}
    assert by_name["New"] == {"id": 201, "name": "New", "color": "#2196f3",
                              "group": {"type": "new", "name": "New"}}
    assert by_name["Completed"]["group"]["type"] == "closed_success"
    assert by_name["Canceled"]["group"]["type"] == "closed_failure"

    assert api.get("/v2/orders/types").json()[0] == {"id": 301, "name": "Online order"}
    titles = [f["title"] for f in api.get("/v2/orders/custom-fields").json()]
    assert titles == ["Store", "External ID", "Created", "Last update", "Device serial"]


def test_seed_is_deterministic_and_sized_by_its_config():
    assert generate(RoAppSeedConfig(seed=7)) == generate(RoAppSeedConfig(seed=7))
    data = generate(RoAppSeedConfig(seed=7, locations=5, employees=12))
    assert len(data["branches"]) == 5 and len(data["employees"]) == 12
    assert data["people"] == data["products"] == data["orders"] == []
    with pytest.raises(ValueError):
        generate(RoAppSeedConfig(employees=3))


def test_unknown_paths_ids_and_methods(api):
    assert api.get("/v2/nothing").status_code == 404
    assert api.get("/v2/orders/999999").json() == {"message": "Not found"}
    assert api.patch("/v2/contacts/people/999999", {"first_name": "X"}).status_code == 404
    assert api.call("DELETE", "/v2/orders").status_code == 405
    assert api.get("/v2/catalog/products/1").status_code == 405


# --- lists ------------------------------------------------------------------------------

def test_lists_page_50_rows_with_the_total_count(api, admin):
    # From many threads at once: the count and the ids must still come out exact.
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(lambda i: requests.post(
            f"{api.base_url}/v2/contacts/people", json={"first_name": f"Person {i}"},
            headers={"Authorization": f"Bearer {DEFAULT_API_KEY}"}, timeout=10).status_code, range(120)))
    assert answers == [201] * 120
    pages = [api.get("/v2/contacts/people", page=page).json() for page in (1, 2, 3, 4)]
    assert [len(p["data"]) for p in pages] == [50, 50, 20, 0]
    assert {p["count"] for p in pages} == {120}
    ids = [row["id"] for p in pages for row in p["data"]]
    assert len(set(ids)) == 120 and ids == sorted(ids)
    assert api.get("/v2/contacts/people", page=0).status_code == 422

    admin.action("set_list_format", {"format": "paging"})
    second = api.get("/v2/contacts/people", page=2).json()
    assert "count" not in second and len(second["data"]) == 50
    assert second["paging"] == {"page": 2, "limit": 50, "total_pages": 3, "count": 120}
    assert isinstance(api.get("/v2/orders/statuses").json(), list)  # dictionaries stay bare arrays


def test_array_filters_are_repeated_keys(api):
    a = new_person(api, first_name="Anna", email="Anna@Example.com", phones=[{"phone": "+38 (067) 123-45-67"}])
    b = new_person(api, first_name="Bohdan", phones=[{"phone": "+380501112233"}, {"phone": "0443334455"}])
    new_person(api, first_name="Chrystia")

    def people(query: str) -> list[int]:
        return ids_at(api, f"/v2/contacts/people?{query}")

    assert people(f"ids[]={a['id']}&ids[]={b['id']}") == [a["id"], b["id"]]
    assert people("names[]=anna&names[]=bohd") == [a["id"], b["id"]]
    assert people("phones[]=0671234567") == [a["id"]]
    assert people("phones[]=044 333 44 55") == [b["id"]]
    assert people("emails[]=anna@example.com") == [a["id"]]
    assert len(people(f"ids={a['id']}")) == 3  # no brackets: not a filter
    assert api.call("GET", "/v2/contacts/people?ids[]=abc").status_code == 422

    p1 = api.created("/v2/catalog/products", {"title": "Case", "sku": "CASE-1", "barcodes": ["4820000000011"]})
    p2 = api.created("/v2/catalog/products", {"title": "Cable", "sku": "CAB-2", "price": 199.0})
    api.created("/v2/catalog/products", {"title": "Charger", "sku": "CHG-3"})
    assert ids_at(api, "/v2/catalog/products?skus[]=CASE-1&skus[]=CAB-2") == [p1["id"], p2["id"]]
    assert ids_at(api, "/v2/catalog/products?barcodes[]=4820000000011") == [p1["id"]]
    assert ids_at(api, f"/v2/catalog/products?ids[]={p2['id']}") == [p2["id"]]


# --- validation -------------------------------------------------------------------------

@pytest.mark.parametrize("path, missing", [
    ("/v2/orders", {"branch_id", "order_type_id", "client_id"}),
    ("/v2/contacts/people", {"first_name"}),
    ("/v2/catalog/products", {"title"}),
    ("/v2/orders/{order}/items", {"entity_id"}),
    ("/v2/orders/{order}/status", {"status_id"}),
    ("/v2/orders/{order}/comments", {"comment"}),
])
def test_creates_answer_422_naming_each_missing_field(api, path, missing):
    order = new_order(api)
    response = api.post(path.format(order=order["id"]), {})
    assert response.status_code == 422
    assert set(response.json()["errors"]) == missing
    assert response.json()["message"]


def test_unknown_references_answer_422(api):
    client = new_person(api)
    base = {"branch_id": 101, "order_type_id": 301, "client_id": client["id"]}
    for field, value in [("branch_id", 999), ("order_type_id", 201), ("client_id", 999999),
                         ("manager_id", 9), ("custom_fields", {"f999": "x"}), ("urgent", "yes")]:
        response = api.post("/v2/orders", {**base, field: value})
        assert response.status_code == 422, field
        assert list(response.json()["errors"]) == [field]
    order = new_order(api, client_id=client["id"])
    assert api.post(f"/v2/orders/{order['id']}/status", {"status_id": 101}).status_code == 422
    assert api.post(f"/v2/orders/{order['id']}/items", {"entity_id": 1}).status_code == 422
    product = api.created("/v2/catalog/products", {"title": "Case"})
    response = api.post(f"/v2/orders/{order['id']}/items", {"entity_id": product["id"], "quantity": 0})
    assert list(response.json()["errors"]) == ["quantity"]
    assert api.call("POST", "/v2/orders", data="{not json", headers={"Content-Type": "application/json"}
                    ).status_code == 400


# --- orders -----------------------------------------------------------------------------

def test_an_order_has_no_status_until_status_is_called(api, admin):
    order = new_order(api, manager_id=501, manager_notes="call first", custom_fields={"f401": "Shop A"})
    assert order["number"] == 1 and order["status"] is None
    assert order["custom_fields"] == {"f401": "Shop A"} and order["manager_id"] == 501
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", order["created_at"])
    assert new_order(api)["number"] == 2

    answer = api.post(f"/v2/orders/{order['id']}/status", {"status_id": 202, "comment": "taken"})
    assert answer.status_code == 200
    assert answer.json()["status"] == {"id": 202, "name": "In work"}
    assert api.get(f"/v2/orders/{order['id']}").json()["status"] == {"id": 202, "name": "In work"}
    history = admin.state()["orders"][0]["status_history"]
    assert [(h["status_id"], h["comment"]) for h in history] == [(202, "taken")]

    patched = api.patch(f"/v2/orders/{order['id']}", {"custom_fields": {"f402": "77"}, "urgent": True}).json()
    assert patched["custom_fields"] == {"f401": "Shop A", "f402": "77"} and patched["urgent"] is True
    assert patched["modified_at"] > order["modified_at"]


def test_item_discounts_are_checked_and_the_order_shows_its_amount(api, admin):
    order = new_order(api)
    product = api.created("/v2/catalog/products", {"title": "Charger", "price": 450})
    items = f"/v2/orders/{order['id']}/items"
    assert (order["price"], order["discount_sum"]) == (0, 0)

    fixed = api.created(items, {"entity_id": product["id"], "quantity": 2, "price": 300,
                                "discount": {"type": "value", "amount": 30}})
    by_share = api.created(items, {"entity_id": product["id"], "quantity": 1, "price": 450,
                                   "discount": {"type": "percentage", "percentage": 5}})
    plain = api.created(items, {"entity_id": product["id"], "quantity": 1, "price": 99.99})
    shown = api.get(f"/v2/orders/{order['id']}").json()
    # 600 − 30 + 450 − 22.5 + 99.99
    assert (shown["price"], shown["discount_sum"]) == (1097.49, 52.5)
    assert admin.state()["orders"][0]["price"] == 1097.49
    assert plain["discount"] is None

    # more than the item's amount, on add and on a PATCH (of the discount or of the quantity)
    too_much = api.post(items, {"entity_id": product["id"], "quantity": 1, "price": 10,
                                "discount": {"type": "value", "amount": 10.01}})
    assert too_much.status_code == 422 and list(too_much.json()["errors"]) == ["discount"]
    assert api.patch(f"{items}/{fixed['id']}", {"discount": {"type": "value", "amount": 600.01}}).status_code == 422
    assert api.patch(f"{items}/{by_share['id']}", {"price": 450, "quantity": 1}).status_code == 200
    assert api.patch(f"{items}/{fixed['id']}", {"price": 10}).status_code == 422  # 30 off an item of 20
    for bad in ({"type": "coupon", "amount": 1}, {"type": "value", "amount": -1},
                {"type": "percentage", "percentage": 101}, {"type": "value", "amount": "5"}):
        answer = api.post(items, {"entity_id": product["id"], "quantity": 1, "price": 100, "discount": bad})
        assert answer.status_code == 422 and list(answer.json()["errors"]) == ["discount"], bad
    # a discount set back to nothing
    cleared = api.patch(f"{items}/{fixed['id']}", {"discount": {"type": "value", "amount": 0}}).json()
    assert cleared["discount"]["amount"] == 0
    assert api.get(f"/v2/orders/{order['id']}").json()["price"] == 1127.49


def test_items_and_comments_are_sub_resources_that_move_modified_at(api, admin):
    order = new_order(api)
    product = api.created("/v2/catalog/products", {"title": "Phone case", "prices": [{"price": 250}]})
    stamps = [order["modified_at"]]

    def modified() -> str:
        stamps.append(api.get(f"/v2/orders/{order['id']}").json()["modified_at"])
        return stamps[-1]

    item = api.created(f"/v2/orders/{order['id']}/items",
                       {"entity_id": product["id"], "quantity": 2,
                        "discount": {"type": "percentage", "percentage": 10, "amount": 50}})
    assert item["title"] == "Phone case" and item["price"] == 250 and item["quantity"] == 2
    assert set(item) == {"id", "entity_id", "title", "quantity", "price", "cost", "discount", "comment"}
    modified()
    changed = api.patch(f"/v2/orders/{order['id']}/items/{item['id']}", {"quantity": 3, "price": 240}).json()
    assert (changed["quantity"], changed["price"]) == (3, 240)
    modified()
    listed = api.get(f"/v2/orders/{order['id']}/items").json()
    assert listed["count"] == 1 and listed["data"][0]["quantity"] == 3
    assert "items" not in api.get(f"/v2/orders/{order['id']}").json()

    comment = api.created(f"/v2/orders/{order['id']}/comments", {"comment": "Nova Poshta #12", "is_private": True})
    assert comment["comment"] == "Nova Poshta #12" and comment["is_private"] is True
    modified()
    assert api.call("DELETE", f"/v2/orders/{order['id']}/items/{item['id']}").status_code == 200
    modified()
    api.post(f"/v2/orders/{order['id']}/status", {"status_id": 205})
    modified()
    assert stamps == sorted(set(stamps)), stamps  # strictly later after every change

    held = admin.state()["orders"][0]
    assert held["items"] == [] and [c["comment"] for c in held["comments"]] == ["Nova Poshta #12"]
    assert api.call("DELETE", f"/v2/orders/{order['id']}/items/{item['id']}").status_code == 404


def test_order_filters_and_sort(api):
    client = new_person(api, phones=[{"phone": "+380671112233"}])
    first = new_order(api, client_id=client["id"])
    second = new_order(api, branch_id=102, manager_id=502)
    third = new_order(api, order_type_id=302)
    api.post(f"/v2/orders/{third['id']}/status", {"status_id": 209})

    def orders(query: str) -> list[int]:
        return ids_at(api, f"/v2/orders?{query}")

    every = [first["id"], second["id"], third["id"]]
    assert orders("") == every
    assert orders(f"ids[]={third['id']}&ids[]={first['id']}") == [first["id"], third["id"]]
    assert orders("numbers[]=2") == [second["id"]]
    assert orders(f"created_at[]={second['created_at']}") == every[1:]
    assert orders(f"created_at[]={first['created_at']}&created_at[]={second['created_at']}") == every[:2]
    assert orders("sort=-created_at") == every[::-1]
    assert orders("sort=number") == every
    assert orders("statuses[]=209") == [third["id"]]
    assert orders("branches[]=102&managers[]=502") == [second["id"]]
    assert orders("types[]=302") == [third["id"]]
    assert orders(f"clients_ids[]={client['id']}") == [first["id"]]
    assert orders("client_phones[]=0671112233") == [first["id"]]
    assert orders(f"modified_at[]={third['created_at']}") == [third["id"]]
    assert api.call("GET", "/v2/orders?sort=colour").status_code == 422
    assert api.call("GET", "/v2/orders?created_at[]=yesterday").status_code == 422


# --- steering the sandbox ---------------------------------------------------------------

def test_a_reject_rule_refuses_one_record(api, admin):
    admin.action("reject", {"method": "POST", "path": "/v2/orders", "field": "manager_notes",
                            "contains": "#1002", "message": "Client is blacklisted"})
    refused = api.post("/v2/orders", {"branch_id": 101, "order_type_id": 301, "client_id": new_person(api)["id"],
                                      "manager_notes": "Cartum order #1002"})
    assert refused.status_code == 422
    assert refused.json() == {"message": "Client is blacklisted",
                              "errors": {"manager_notes": ["Client is blacklisted"]}}
    assert new_order(api, manager_notes="Cartum order #1003")["number"] == 1
    admin.action("clear_rejects")
    assert new_order(api, manager_notes="Cartum order #1002")["number"] == 2


def test_admin_actions_change_reference_data_and_keys(server, api, admin):
    admin.action("remove_custom_field", {"title": "Store"})
    assert "Store" not in [f["title"] for f in api.get("/v2/orders/custom-fields").json()]
    assert api.post("/v2/orders", {"branch_id": 101, "order_type_id": 301, "client_id": new_person(api)["id"],
                                   "custom_fields": {"f401": "x"}}).status_code == 422

    admin.action("upsert_employees", [{"id": 501, "is_active": False},
                                      {"first_name": "Nova", "last_name": "Manager", "branch_ids": [103]}])
    employees = {e["id"]: e for e in api.get("/v2/company/employees").json()["data"]}
    assert employees[501]["is_active"] is False and employees[509]["branch_ids"] == [103]

    admin.action("set_reference", {"branches": [{"id": 150, "name": "Only one"}],
                                   "statuses": [{"id": 290, "name": "Open", "color": "#000", "group": None}]})
    assert api.get("/branches/").json() == {"data": [{"id": 150, "name": "Only one"}], "count": 1}
    assert [s["id"] for s in api.get("/v2/orders/statuses").json()] == [290]

    admin.action("set_api_keys", ["new-key"])
    assert api.get("/branches/").status_code == 401
    assert Api(server.url, "new-key").get("/branches/").status_code == 200
    assert admin.state()["api_keys"] == [key_fingerprint("new-key")]

    with pytest.raises(RuntimeError, match="404"):
        admin.action("no_such_action")
    with pytest.raises(RuntimeError, match="400"):
        admin.action("set_list_format", {"format": "xml"})


def test_the_request_log_never_holds_the_key(api, admin):
    new_person(api, first_name="Logged")
    api.get("/v2/contacts/people")
    log = admin.requests()
    assert [(r["method"], r["status"]) for r in log] == [("POST", 201), ("GET", 200)]
    assert log[0]["body"]["first_name"] == "Logged" and log[1]["body"] is None
    assert log[0]["key"] == key_fingerprint(DEFAULT_API_KEY)
    assert DEFAULT_API_KEY not in str(log) and DEFAULT_API_KEY not in str(admin.state())


def test_three_requests_a_second_per_key():
    app = RoAppSandbox.seeded(api_keys=["key-a", "key-b"])
    with SandboxServer(app, port=0, faults=FaultSettings(rate_limit=3, rate_window=1.0)) as server:
        a, b = Api(server.url, "key-a"), Api(server.url, "key-b")
        started = time.monotonic()
        assert [a.get("/branches/").status_code for _ in range(4)] == [200, 200, 200, 429]
        assert [b.get("/branches/").status_code for _ in range(3)] == [200, 200, 200]  # its own budget
        assert b.get("/branches/").status_code == 429
        assert time.monotonic() - started < 1.0, "too slow to test a one-second window"
        time.sleep(max(0.0, 1.05 - (time.monotonic() - started)))
        assert a.get("/branches/").status_code == 200


def test_the_command_line_serves_the_sandbox():
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "include")}
    process = subprocess.Popen(
        [sys.executable, "-m", "cartum_roapp_sandbox.roapp", "--port", "0", "--api-key", "cli-key",
         "--locations", "2"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    try:
        line = process.stdout.readline()
        url = re.search(r"listening on (http://\S+)", line)
        assert url, line
        response = Api(url[1], "cli-key").get("/branches/")
        assert response.status_code == 200
        assert [b["id"] for b in response.json()["data"]] == [101, 102]
    finally:
        process.terminate()
        process.wait(timeout=10)
