"""What a manager does in RO App's interface (delete, merge duplicates), a PATCH of
phones, the order list filters the sync relies on, and the read-back a test needs to
count "exactly one of each" (items, comments, status history), over real HTTP."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from urllib.parse import quote

import pytest

from cartum_roapp_sandbox.admin import SandboxAdmin
from cartum_roapp_sandbox.roapp import RoAppSandbox, RoAppSeedConfig, generate
from tests.sandbox.conftest import Api


@pytest.fixture
def admin(server) -> SandboxAdmin:
    return SandboxAdmin(server.url)


def person(api: Api, **fields) -> dict:
    return api.created("/v2/contacts/people", {"first_name": "Olha", **fields})


def order(api: Api, client_id: int, **fields) -> dict:
    return api.created("/v2/orders", {"branch_id": 101, "order_type_id": 301, "client_id": client_id, **fields})


def product(api: Api, **fields) -> dict:
    return api.created("/v2/catalog/products", {"title": "Case", "price": 120, **fields})


# --- deleting ------------------------------------------------------------------------------

def test_a_deleted_person_answers_404_and_new_orders_naming_it_422(api, admin):
    kept, gone = person(api, first_name="Kept"), person(api, first_name="Gone")
    earlier = order(api, gone["id"])
    removed = admin.delete_person(gone["id"])
    assert removed["id"] == gone["id"] and removed["first_name"] == "Gone"
    assert api.call("GET", f"/v2/contacts/people/{gone['id']}").status_code == 404
    assert api.call("PATCH", f"/v2/contacts/people/{gone['id']}", {"first_name": "Back"}).status_code == 404
    refused = api.call("POST", "/v2/orders", {"branch_id": 101, "order_type_id": 301, "client_id": gone["id"]})
    assert refused.status_code == 422
    assert refused.json()["message"] and list(refused.json()["errors"]) == ["client_id"]
    assert str(gone["id"]) in refused.json()["errors"]["client_id"][0]
    assert api.ids("/v2/contacts/people") == [kept["id"]]
    # the order made before stays, still naming the deleted client
    assert api.call("GET", f"/v2/orders/{earlier['id']}").json()["client_id"] == gone["id"]
    assert admin.state()["deleted"] == {"people": [gone["id"]], "orders": [], "products": []}
    assert person(api)["id"] == gone["id"] + 1  # ids are never reused
    with pytest.raises(RuntimeError, match="400"):
        admin.delete_person(gone["id"])


def test_a_deleted_order_answers_404_everywhere(api, admin):
    client = person(api)
    first, second = order(api, client["id"]), order(api, client["id"])
    api.created(f"/v2/orders/{first['id']}/comments", {"comment": "note"})
    assert admin.delete_order(first["id"])["id"] == first["id"]
    base = f"/v2/orders/{first['id']}"
    for method, path, body in [("GET", base, None), ("PATCH", base, {"urgent": True}),
                               ("POST", base + "/status", {"status_id": 202}), ("GET", base + "/items", None),
                               ("POST", base + "/items", {"entity_id": product(api)["id"]}),
                               ("POST", base + "/comments", {"comment": "x"})]:
        assert api.call(method, path, body).status_code == 404, (method, path)
    assert api.ids("/v2/orders") == [second["id"]]
    assert [o["id"] for o in admin.state()["orders"]] == [second["id"]]
    assert admin.state()["deleted"]["orders"] == [first["id"]]
    assert order(api, client["id"])["number"] == 3  # numbers are not reused either


def test_a_deleted_product_answers_404_and_new_items_naming_it_422(api, admin):
    on_order = order(api, person(api)["id"])
    case, cable = product(api), product(api, title="Cable")
    item = api.created(f"/v2/orders/{on_order['id']}/items", {"entity_id": case["id"]})
    admin.delete_product(case["id"])
    assert api.call("PATCH", f"/v2/catalog/products/{case['id']}", {"title": "X"}).status_code == 404
    assert api.ids("/v2/catalog/products") == [cable["id"]]
    refused = api.call("POST", f"/v2/orders/{on_order['id']}/items", {"entity_id": case["id"]})
    assert refused.status_code == 422 and list(refused.json()["errors"]) == ["entity_id"]
    assert api.call("PATCH", f"/v2/orders/{on_order['id']}/items/{item['id']}",
                    {"entity_id": case["id"]}).status_code == 422
    # the item already on the order stays
    assert api.ids(f"/v2/orders/{on_order['id']}/items") == [item["id"]]
    assert admin.state()["deleted"]["products"] == [case["id"]]


@pytest.mark.parametrize("action, payload", [
    ("delete_person", {"id": 999999}), ("delete_order", {"id": "3001"}), ("delete_product", {}),
    ("merge_people", {"keep": 1001}), ("merge_people", {"keep": 1001, "drop": 1001}),
    ("merge_people", {"keep": 1001, "drop": 999999}),
])
def test_manager_actions_refuse_unknown_ids(api, admin, action, payload):
    person(api)
    with pytest.raises(RuntimeError, match="400"):
        admin.action(action, payload)
    assert len(admin.state()["people"]) == 1


def test_manager_actions_take_a_bare_id_too(api, admin):
    gone = person(api)
    admin.action("delete_person", gone["id"])
    assert admin.state()["people"] == []


# --- merging duplicates -----------------------------------------------------------------------

def test_merge_people_moves_orders_adds_phones_and_email_and_deletes_the_duplicate(api, admin):
    keep = person(api, first_name="Olha", phones=[{"phone": "+380671112233"}])
    drop = person(api, first_name="Olga", email="olha@example.com",
                  phones=[{"phone": "067 111 22 33"}, {"phone": "+380509998877"}])
    own = order(api, keep["id"])
    moved = [order(api, drop["id"]), order(api, drop["id"])]
    other = order(api, person(api, first_name="Other")["id"])

    merge = admin.merge_people(keep["id"], drop["id"])
    assert (merge["keep"], merge["drop"]) == (keep["id"], drop["id"])
    assert merge["orders"] == [o["id"] for o in moved]
    assert merge["person"]["phones"] == [{"phone": "+380671112233"}, {"phone": "+380509998877"}]

    assert api.call("GET", f"/v2/contacts/people/{drop['id']}").status_code == 404
    kept = api.call("GET", f"/v2/contacts/people/{keep['id']}").json()
    assert kept["phones"] == [{"phone": "+380671112233"}, {"phone": "+380509998877"}]  # no duplicate of 067..
    assert kept["email"] == "olha@example.com" and kept["first_name"] == "Olha"
    assert kept["modified_at"] > keep["modified_at"]
    assert api.ids(f"/v2/orders?clients_ids[]={keep['id']}") == [own["id"], *(o["id"] for o in moved)]
    assert api.ids(f"/v2/orders?clients_ids[]={drop['id']}") == []
    for before in moved:
        assert api.call("GET", f"/v2/orders/{before['id']}").json()["modified_at"] > before["modified_at"]
    assert api.call("GET", f"/v2/orders/{other['id']}").json()["modified_at"] == other["modified_at"]
    assert api.ids("/v2/contacts/people?phones[]=0509998877") == [keep["id"]]
    # a new order naming the merged-away person is refused
    assert api.call("POST", "/v2/orders", {"branch_id": 101, "order_type_id": 301,
                                           "client_id": drop["id"]}).status_code == 422
    state = admin.state()
    assert state["deleted"]["people"] == [drop["id"]]
    assert [(m["keep"], m["drop"], m["orders"]) for m in state["merged_people"]] == [
        (keep["id"], drop["id"], [o["id"] for o in moved])]


def test_merge_keeps_the_kept_email(api, admin):
    keep = person(api, email="keep@example.com")
    drop = person(api, email="drop@example.com")
    assert admin.merge_people(keep["id"], drop["id"])["person"]["email"] == "keep@example.com"


def test_patch_of_phones_replaces_the_list(api):
    client = person(api, phones=[{"phone": "+380671112233"}, {"phone": "+380445556677"}])
    changed = api.call("PATCH", f"/v2/contacts/people/{client['id']}", {"phones": [{"phone": "+380671112233"}]})
    assert changed.status_code == 200
    assert api.call("GET", f"/v2/contacts/people/{client['id']}").json()["phones"] == [{"phone": "+380671112233"}]
    # a PATCH without phones leaves them alone
    api.call("PATCH", f"/v2/contacts/people/{client['id']}", {"last_name": "Koval"})
    assert api.call("GET", f"/v2/contacts/people/{client['id']}").json()["phones"] == [{"phone": "+380671112233"}]


# --- the order list as the sync reads it -------------------------------------------------------

def seeded_orders() -> RoAppSandbox:
    """Six orders at known times, an hour apart from 2025-03-01 08:00 UTC, alternating
    between branches 101 and 102, plus 54 more on branch 103 a day later."""
    data = generate(RoAppSeedConfig())
    start = datetime(2025, 3, 1, 8, tzinfo=timezone.utc)
    data["people"] = [{"id": 1001, "first_name": "Olha", "last_name": None, "email": None, "phones": [],
                       "address": None, "notes": None, "custom_fields": {},
                       "created_at": "2025-03-01T00:00:00.000Z", "modified_at": "2025-03-01T00:00:00.000Z"}]

    def stamp(moment: datetime) -> str:
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    data["orders"] = [
        {"id": 3001 + i, "number": 1 + i, "branch_id": 101 if i < 6 and i % 2 == 0 else 102 if i < 6 else 103,
         "order_type_id": 301, "client_id": 1001, "manager_id": None, "assignee_id": None, "status": None,
         "malfunction": None, "manager_notes": None, "engineer_notes": None, "estimated_price": None,
         "due_date": None, "urgent": False, "custom_fields": {},
         "created_at": stamp(start + timedelta(hours=i) if i < 6 else start + timedelta(days=1, minutes=i)),
         "modified_at": stamp(start + timedelta(hours=i) if i < 6 else start + timedelta(days=1, minutes=i))}
        for i in range(60)]
    return RoAppSandbox(data)


def test_created_at_from_and_to_compare_in_utc(server, api):
    server.app = seeded_orders()

    def ids(*bounds: str) -> list[int]:
        return api.ids("/v2/orders?" + "&".join(f"created_at[]={quote(b)}" for b in bounds) + "&branches[]=101"
                       "&branches[]=102")

    assert ids("2025-03-01T10:00:00Z") == [3003, 3004, 3005, 3006]  # from, inclusive
    assert ids("2025-03-01T12:00:00+02:00") == [3003, 3004, 3005, 3006]  # the same moment in +02:00
    assert ids("2025-03-01T10:00:00.001Z") == [3004, 3005, 3006]
    assert ids("2025-03-01T09:00:00Z", "2025-03-01T11:00:00Z") == [3002, 3003, 3004]  # from-to, inclusive
    assert ids("2025-03-01T04:00:00-05:00", "2025-03-01T12:59:59.999+02:00") == [3002, 3003]
    assert ids("2025-03-01T10:00:00") == [3003, 3004, 3005, 3006]  # no zone: UTC
    assert ids("2025-03-01", "2025-03-01T08:00:00Z") == [3001]  # a date alone: its midnight
    assert api.call("GET", "/v2/orders?created_at[]=2025-03-01&created_at[]=2025-03-02&"
                           "created_at[]=2025-03-03").status_code == 422


def test_sort_branches_ids_and_50_row_pages_with_a_count(server, api):
    server.app = seeded_orders()
    assert api.ids("/v2/orders?branches[]=101&sort=-created_at") == [3005, 3003, 3001]
    assert api.ids("/v2/orders?branches[]=102&sort=created_at") == [3002, 3004, 3006]
    assert api.ids("/v2/orders?ids[]=3006&ids[]=3002&ids[]=3999") == [3002, 3006]
    newest = api.call("GET", "/v2/orders?sort=-created_at").json()
    assert newest["count"] == 60 and len(newest["data"]) == 50 and newest["data"][0]["id"] == 3060
    last = api.call("GET", "/v2/orders?sort=-created_at&page=2").json()
    assert last["count"] == 60 and [o["id"] for o in last["data"]] == [3010, 3009, 3008, 3007] + [
        3006, 3005, 3004, 3003, 3002, 3001]
    assert api.call("GET", "/v2/orders?branches[]=103&page=2").json()["count"] == 54


def test_modified_at_moves_on_every_write_to_an_order(server, api):
    server.app = seeded_orders()
    case = product(api)
    stamps = [api.call("GET", "/v2/orders/3001").json()["modified_at"]]
    writes = [("PATCH", "/v2/orders/3001", {"urgent": True}), ("POST", "/v2/orders/3001/status", {"status_id": 202}),
              ("POST", "/v2/orders/3001/items", {"entity_id": case["id"]}),
              ("POST", "/v2/orders/3001/comments", {"comment": "hi"})]
    for method, path, body in writes:
        assert api.call(method, path, body).status_code in (200, 201)
        stamps.append(api.call("GET", "/v2/orders/3001").json()["modified_at"])
    item = api.ids("/v2/orders/3001/items")[0]
    for method, body in [("PATCH", {"quantity": 2}), ("DELETE", None)]:
        assert api.call(method, f"/v2/orders/3001/items/{item}", body).status_code == 200
        stamps.append(api.call("GET", "/v2/orders/3001").json()["modified_at"])
    assert stamps == sorted(set(stamps)), stamps  # strictly later after each write
    assert api.ids(f"/v2/orders?modified_at[]={quote(stamps[1])}") == [3001]


# --- read-back for "exactly one of each" -------------------------------------------------------

def test_state_holds_items_comments_and_every_status_change(api, admin):
    client = person(api, phones=[{"phone": "+380671112233"}])
    case = product(api, sku="CASE-1")
    held = order(api, client["id"])
    path = f"/v2/orders/{held['id']}"
    api.created(path + "/items", {"entity_id": case["id"], "quantity": 2, "price": 99.5})
    api.created(path + "/comments", {"comment": "Nova Poshta #1", "is_private": True})
    for status in (202, 202, 205):  # the same status twice: two entries
        assert api.call("POST", path + "/status", {"status_id": status}).status_code == 200

    state = admin.state()
    [row] = state["orders"]
    assert [(i["entity_id"], i["quantity"], i["price"]) for i in row["items"]] == [(case["id"], 2, 99.5)]
    assert isinstance(row["items"][0]["id"], int)
    assert [(c["comment"], c["is_private"]) for c in row["comments"]] == [("Nova Poshta #1", True)]
    history = row["status_history"]
    assert [h["status_id"] for h in history] == [202, 202, 205]
    assert [h["name"] for h in history] == ["In work", "In work", "Ready"]
    assert [h["changed_at"] for h in history] == sorted({h["changed_at"] for h in history})
    assert row["status"] == {"id": 205, "name": "Ready"}
    assert [p["phones"] for p in state["people"]] == [[{"phone": "+380671112233"}]]
    assert [p["sku"] for p in state["products"]] == ["CASE-1"]
    assert state["deleted"] == {"people": [], "orders": [], "products": []} and state["merged_people"] == []


def test_a_state_with_deletions_loads_back_and_keeps_ids_retired(api, admin):
    gone = person(api)
    admin.delete_person(gone["id"])
    again = RoAppSandbox(admin.state())
    assert again.state()["deleted"]["people"] == [gone["id"]]
    assert again.store.create_person(None, {"first_name": "New"}).body["id"] == gone["id"] + 1
