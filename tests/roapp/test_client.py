"""RoAppClient against the RO App sandbox over real HTTP."""

from __future__ import annotations

import logging

import pytest

from cartum_roapp_sandbox.server import SandboxServer
from cartum_roapp_sync.roapp.client import RoAppClient
from cartum_roapp_sync.transport import (
    AccessDeniedError,
    AmbiguousWriteError,
    CredentialsError,
    NotAnApiError,
    RetriableApiError,
    ValidationError,
)
from tests.conftest import FAST_RETRY, ROAPP_KEY
from tests.fakes import HtmlApp, StatusApp


def make_client(url: str, key: str = ROAPP_KEY, **options) -> RoAppClient:
    return RoAppClient(key, url, **{"retry": FAST_RETRY, "timeout": 5.0, **options})


def test_reference_data(roapp_sandbox):
    client = make_client(roapp_sandbox.url)
    state = roapp_sandbox.admin.state()
    assert [b["id"] for b in client.branches()] == [b["id"] for b in state["branches"]]
    assert {s["id"] for s in client.order_statuses()} == {s["id"] for s in state["statuses"]}
    assert {t["id"] for t in client.order_types()} == {t["id"] for t in state["order_types"]}
    assert {f["title"] for f in client.custom_fields()} >= {"Store", "External ID", "Created", "Last update"}
    assert any(e["role"] == "Manager" for e in client.employees())


@pytest.mark.parametrize("list_format", ["count", "paging"])
def test_lists_paginate_across_50_row_pages(roapp_sandbox, list_format):
    roapp_sandbox.admin.action("set_list_format", {"format": list_format})
    client = make_client(roapp_sandbox.url)
    created = [client.create_person({"first_name": f"Person {i}", "phones": [{"phone": f"+38050{i:07d}"}]})
               for i in range(121)]
    roapp_sandbox.admin.clear_requests()

    people = client.find_people()

    assert [p["id"] for p in people] == [p["id"] for p in created]
    pages = [r["query"]["page"] for r in roapp_sandbox.admin.requests()]
    assert pages == [["1"], ["2"], ["3"]]


def test_array_filters_are_repeated_keys(roapp_sandbox):
    client = make_client(roapp_sandbox.url)
    a = client.create_person({"first_name": "Ann", "phones": [{"phone": "+380501111111"}]})
    client.create_person({"first_name": "Bob", "phones": [{"phone": "+380502222222"}]})
    c = client.create_person({"first_name": "Cid", "phones": [{"phone": "+380503333333"}]})
    roapp_sandbox.admin.clear_requests()

    found = client.find_people(phones=["+380501111111", "+380503333333"])

    assert sorted(p["id"] for p in found) == sorted([a["id"], c["id"]])
    assert roapp_sandbox.admin.requests()[0]["query"]["phones[]"] == ["+380501111111", "+380503333333"]


def test_422_carries_the_field_errors(roapp_sandbox):
    client = make_client(roapp_sandbox.url)
    with pytest.raises(ValidationError) as caught:
        client.create_order({"manager_notes": "no ids"})
    error = caught.value
    assert error.status == 422
    assert {"branch_id", "order_type_id", "client_id"} <= set(error.field_errors)
    assert "branch_id" in str(error)


def test_order_lifecycle(roapp_sandbox):
    client = make_client(roapp_sandbox.url)
    state = roapp_sandbox.admin.state()
    person = client.create_person({"first_name": "Olena"})
    product = client.create_product({"title": "Phone case", "sku": "SKU-1", "barcodes": ["4820000000001"],
                                     "not_a_field": 1})
    order = client.create_order({"branch_id": state["branches"][0]["id"],
                                 "order_type_id": state["order_types"][0]["id"], "client_id": person["id"]})
    assert order["status"] is None
    client.add_order_item(order["id"], {"entity_id": product["id"], "quantity": 2, "price": 150})
    client.set_order_status(order["id"], state["statuses"][0]["id"])
    client.add_order_comment(order["id"], "Delivery: Nova Poshta")

    fetched = client.get_order(order["id"])
    assert fetched["status"]["id"] == state["statuses"][0]["id"]
    assert [(i["entity_id"], i["quantity"]) for i in client.order_items(order["id"])] == [(product["id"], 2)]
    assert client.find_products(skus=["SKU-1"])[0]["id"] == product["id"]
    assert client.find_products(barcodes=["4820000000001"])[0]["id"] == product["id"]


def test_wrong_key_is_a_credentials_error(roapp_sandbox):
    with pytest.raises(CredentialsError, match="Settings → API") as caught:
        make_client(roapp_sandbox.url, key="not-the-key-0000").branches()
    assert "not-the-key-0000" not in str(caught.value)


def test_empty_key_is_refused_before_any_call():
    with pytest.raises(CredentialsError, match="empty"):
        RoAppClient("", "http://127.0.0.1:9")


@pytest.mark.parametrize("fault", ["429", "500", "502", "503", "html502", "drop"])
def test_transient_faults_are_retried(roapp_sandbox, fault):
    client = make_client(roapp_sandbox.url)
    roapp_sandbox.admin.faults(script=[fault, fault])
    assert client.branches()
    assert client.stats.retries == 2


def test_persistent_5xx_gives_up_with_a_retriable_error(roapp_sandbox):
    roapp_sandbox.admin.faults(error_rate=1.0, error_codes=["503"])
    with pytest.raises(RetriableApiError, match="after 5 attempts"):
        make_client(roapp_sandbox.url).branches()


def test_html_instead_of_json_says_check_the_base_url():
    with SandboxServer(HtmlApp(), port=0) as server:
        with pytest.raises(NotAnApiError, match="instead of JSON: check the API base URL"):
            make_client(server.url).branches()


def test_the_key_never_reaches_logs_or_repr(roapp_sandbox, caplog):
    caplog.set_level(logging.DEBUG)
    client = make_client(roapp_sandbox.url)
    client.branches()
    roapp_sandbox.admin.faults(script=["429", "500"])
    client.branches()
    assert ROAPP_KEY not in caplog.text and ROAPP_KEY not in repr(client)
    assert all(ROAPP_KEY not in str(r) for r in roapp_sandbox.admin.requests())


def test_403_says_the_key_lacks_permission():
    with SandboxServer(StatusApp(403, "Forbidden: no access to orders"), port=0) as server:
        with pytest.raises(AccessDeniedError, match="no access to orders.*lacks the permission") as caught:
            make_client(server.url).find_orders()
    assert caught.value.status == 403


# --- writes: a POST whose outcome is unknown is sent once; PATCH and DELETE are retried ---

def _order_fixture(client, state):
    person = client.create_person({"first_name": "Olena"})
    product = client.create_product({"title": "Phone case", "sku": "SKU-W"})
    order = client.create_order({"branch_id": state["branches"][0]["id"],
                                 "order_type_id": state["order_types"][0]["id"], "client_id": person["id"]})
    item = client.add_order_item(order["id"], {"entity_id": product["id"], "quantity": 1, "price": 10})
    return person, product, order, item


def _posts(state, person, product, order):
    return {
        "create_person": (lambda c: c.create_person({"first_name": "Ivan"}), "/v2/contacts/people"),
        "create_product": (lambda c: c.create_product({"title": "Cable", "sku": "SKU-X"}),
                           "/v2/catalog/products"),
        "create_order": (lambda c: c.create_order({"branch_id": state["branches"][0]["id"],
                                                   "order_type_id": state["order_types"][0]["id"],
                                                   "client_id": person["id"]}), "/v2/orders"),
        "add_order_item": (lambda c: c.add_order_item(order["id"], {"entity_id": product["id"], "quantity": 1}),
                           f"/v2/orders/{order['id']}/items"),
        "set_order_status": (lambda c: c.set_order_status(order["id"], state["statuses"][0]["id"]),
                             f"/v2/orders/{order['id']}/status"),
        "add_order_comment": (lambda c: c.add_order_comment(order["id"], "Delivery: Nova Poshta"),
                              f"/v2/orders/{order['id']}/comments"),
    }


@pytest.mark.parametrize("helper", ["create_person", "create_product", "create_order", "add_order_item",
                                    "set_order_status", "add_order_comment"])
@pytest.mark.parametrize("fault", ["502", "html502", "drop"])
def test_every_create_helper_is_sent_once_when_its_outcome_is_unknown(roapp_sandbox, helper, fault):
    client = make_client(roapp_sandbox.url)
    state = roapp_sandbox.admin.state()
    person, product, order, _item = _order_fixture(client, state)
    call, path = _posts(state, person, product, order)[helper]
    roapp_sandbox.admin.clear_requests()
    roapp_sandbox.admin.faults(script=[fault])

    with pytest.raises(AmbiguousWriteError) as caught:
        call(client)

    assert [r["method"] for r in roapp_sandbox.admin.requests()] == ["POST"]
    assert (caught.value.method, caught.value.path) == ("POST", path)
    assert caught.value.status == (None if fault == "drop" else 502)
    assert client.stats.retries == 0


@pytest.mark.parametrize("helper", ["create_person", "add_order_item", "add_order_comment"])
def test_a_create_answered_429_is_retried_and_applied_once(roapp_sandbox, helper):
    client = make_client(roapp_sandbox.url)
    state = roapp_sandbox.admin.state()
    person, product, order, _item = _order_fixture(client, state)
    call, path = _posts(state, person, product, order)[helper]
    before = roapp_sandbox.admin.state()
    roapp_sandbox.admin.clear_requests()
    roapp_sandbox.admin.faults(script=["429", "429"])

    call(client)

    statuses = [r["status"] for r in roapp_sandbox.admin.requests()]
    assert statuses[:2] == [429, 429] and len(statuses) == 3 and 200 <= statuses[2] < 300
    after = roapp_sandbox.admin.state()
    if helper == "create_person":
        assert len(after["people"]) == len(before["people"]) + 1
    else:
        key = "items" if helper == "add_order_item" else "comments"
        got = [o for o in after["orders"] if o["id"] == order["id"]][0][key]
        was = [o for o in before["orders"] if o["id"] == order["id"]][0][key]
        assert len(got) == len(was) + 1


@pytest.mark.parametrize("fault", ["502", "drop"])
def test_updates_and_deletes_are_retried(roapp_sandbox, fault):
    client = make_client(roapp_sandbox.url)
    state = roapp_sandbox.admin.state()
    person, product, order, item = _order_fixture(client, state)
    roapp_sandbox.admin.clear_requests()
    roapp_sandbox.admin.faults(script=[fault] * 2)
    client.update_person(person["id"], {"first_name": "Olha"})
    roapp_sandbox.admin.faults(script=[fault] * 2)
    client.update_product(product["id"], {"title": "Case"})
    roapp_sandbox.admin.faults(script=[fault] * 2)
    client.update_order(order["id"], {"manager_notes": "call first"})
    roapp_sandbox.admin.faults(script=[fault] * 2)
    client.update_order_item(order["id"], item["id"], {"quantity": 3})
    roapp_sandbox.admin.faults(script=[fault] * 2)
    client.delete_order_item(order["id"], item["id"])

    log = roapp_sandbox.admin.requests()
    assert [r["method"] for r in log] == ["PATCH"] * 12 + ["DELETE"] * 3
    assert [r["status"] >= 500 or r["status"] == 0 for r in log].count(True) == 10
    assert client.stats.retries == 10 and client.stats.ambiguous == 0
    assert client.order_items(order["id"]) == []
