"""RoAppClient on both sandbox profiles: the same answers read the same, writes go out the
documented way, legacy paths are a logged fallback, and undocumented filters are checked
before they are trusted (``roapp/client.py``)."""

from __future__ import annotations

import logging
from datetime import datetime, timezone

import pytest

from cartum_roapp_sandbox.roapp import RoAppSandbox
from cartum_roapp_sync.roapp import shapes
from cartum_roapp_sync.roapp.client import RoAppClient
from cartum_roapp_sync.transport import NotFoundError, ValidationError
from tests.conftest import FAST_RETRY, ROAPP_KEY, serving

PROFILES = ["documented", "alternative"]


@pytest.fixture(params=PROFILES)
def sandbox(request):
    with serving(RoAppSandbox.seeded(api_keys=[ROAPP_KEY], profile=request.param), rate_limit=0) as running:
        yield running


def client(url: str) -> RoAppClient:
    return RoAppClient(ROAPP_KEY, url, retry=FAST_RETRY, timeout=5.0)


def paths(sandbox) -> list[str]:
    return [r["path"] for r in sandbox.admin.requests()]


def test_reference_data_reads_the_same_on_both_profiles(sandbox):
    roapp, state = client(sandbox.url), sandbox.admin.state()
    assert [b["id"] for b in roapp.branches()] == [b["id"] for b in state["branches"]]
    assert [e["id"] for e in roapp.employees()] == [e["id"] for e in state["employees"]]
    assert [f["title"] for f in roapp.custom_fields()] == [f["title"] for f in state["custom_fields"]]
    # the documented paths, and no legacy one, on both
    assert sorted(set(paths(sandbox))) == ["/v2/company/employees", "/v2/company/locations",
                                           "/v2/orders/custom-fields"]
    facts = [shapes.employee_facts(e) for e in roapp.employees()]
    readable = state["profile"]["employee_facts"]
    assert all(f.readable == readable for f in facts)
    assert all((f.active is None, f.locations is None) == (not readable, not readable) for f in facts)


def test_people_read_the_same_on_both_profiles(sandbox):
    roapp = client(sandbox.url)
    made = roapp.create_person({"first_name": "Ann", "email": "ann@example.com",
                                "phones": [{"phone": "+380501111111"}]})
    assert made["phones"] == [{"phone": "+380501111111", "title": None}] and made["first_name"] == "Ann"
    assert roapp.get_person(made["id"])["phones"][0]["phone"] == "+380501111111"
    assert [p["id"] for p in roapp.find_people(phones=["+380501111111"])] == [made["id"]]
    updated = roapp.update_person(made["id"], {"last_name": "Lee"})
    assert updated["id"] == made["id"] and updated["last_name"] == "Lee"


def test_products_write_prices_and_read_barcodes_as_strings(sandbox):
    roapp = client(sandbox.url)
    made = roapp.create_product({"title": "Case", "sku": "ART-1", "barcodes": ["4820000000017"],
                                 "description": "", "price": 120.5})
    assert made["barcodes"] == ["4820000000017"] and made["price"] == 120.5
    body = sandbox.admin.requests()[-1]["body"]
    assert "price" not in body and body["prices"] == [{"price": 120.5}]
    held = sandbox.admin.state()["products"][0]
    assert held["prices"] == [{"id": 701, "price": 120.5}] and "price" not in held
    roapp.update_product(made["id"], {"title": "Case", "price": 99})
    assert [p["price"] for p in roapp.find_products(skus=["ART-1"])] == [99.0]


def test_single_objects_come_back_bare(sandbox):
    """Orders, statuses, items and comments read as the object, wrapped or not."""
    roapp, state = client(sandbox.url), sandbox.admin.state()
    person = roapp.create_person({"first_name": "Ann"})
    product = roapp.create_product({"title": "Case", "sku": "A", "price": 1})
    order = roapp.create_order({"branch_id": state["branches"][0]["id"], "client_id": person["id"],
                                "order_type_id": state["order_types"][0]["id"]})
    assert order["client_id"] == person["id"] and roapp.get_order(order["id"])["id"] == order["id"]
    assert roapp.set_order_status(order["id"], state["statuses"][0]["id"])["status"]["id"] == state["statuses"][0]["id"]
    assert roapp.add_order_item(order["id"], {"entity_id": product["id"], "price": 1})["entity_id"] == product["id"]
    assert roapp.add_order_comment(order["id"], "Nova Poshta #1")["comment"] == "Nova Poshta #1"


def test_comments_are_private_whichever_field_counts(sandbox):
    roapp, state = client(sandbox.url), sandbox.admin.state()
    person = roapp.create_person({"first_name": "Ann"})
    order = roapp.create_order({"branch_id": state["branches"][0]["id"], "client_id": person["id"],
                                "order_type_id": state["order_types"][0]["id"]})
    roapp.add_order_comment(order["id"], "Kyiv, Khreshchatyk 1, +380501111111")
    assert sandbox.admin.requests()[-1]["body"] == {"comment": "Kyiv, Khreshchatyk 1, +380501111111",
                                                    "is_private": True, "visibility": "private"}
    assert [c["is_private"] for c in sandbox.admin.state()["orders"][0]["comments"]] == [True]


def test_date_time_custom_fields_go_as_iso_utc(sandbox):
    roapp, state = client(sandbox.url), sandbox.admin.state()
    created = next(f["id"] for f in roapp.custom_fields() if f["title"] == "Created")
    person = roapp.create_person({"first_name": "Ann"})
    base = {"branch_id": state["branches"][0]["id"], "client_id": person["id"],
            "order_type_id": state["order_types"][0]["id"]}
    with pytest.raises(ValidationError, match="ISO-8601 with a zone"):
        roapp.create_order({**base, "custom_fields": {f"f{created}": "2025-03-01 11:30:00"}})
    value = shapes.iso_utc(datetime(2025, 3, 1, 9, 30, tzinfo=timezone.utc))
    assert value == "2025-03-01T09:30:00Z"
    assert roapp.create_order({**base, "custom_fields": {f"f{created}": value}})["custom_fields"] == {
        f"f{created}": value}


def test_ignored_product_filters_cost_one_scan(sandbox):
    roapp = client(sandbox.url)
    for i in range(75):
        roapp.create_product({"title": f"T{i}", "sku": f"ART-{i}", "barcodes": [f"48200000{i:05d}"], "price": i})
    sandbox.admin.clear_requests()
    honoured = sandbox.admin.state()["profile"]["undocumented_filters"]

    by_barcode = roapp.find_products(barcodes=["4820000000070", "4829999999999"])
    by_sku = roapp.find_products(skus=["ART-3", "ART-74", "ART-999"])

    assert [p["sku"] for p in by_barcode] == ["ART-70"]
    assert sorted(p["sku"] for p in by_sku) == ["ART-3", "ART-74"]
    # honoured: one request each; ignored: the 2 pages of the catalogue, read once
    assert len(paths(sandbox)) == 2
    roapp.create_product({"title": "New", "sku": "ART-NEW", "price": 1})
    sandbox.admin.clear_requests()
    assert [p["sku"] for p in roapp.find_products(skus=["ART-NEW"])] == ["ART-NEW"]
    assert len(paths(sandbox)) == (1 if honoured else 2)  # a write makes the scan stale


def test_the_legacy_paths_are_a_fallback_logged_once(caplog):
    app = RoAppSandbox.seeded(api_keys=[ROAPP_KEY], profile_flags={"documented_paths": False})
    with serving(app, rate_limit=0) as sandbox:
        roapp = client(sandbox.url)
        with caplog.at_level(logging.WARNING, logger="cartum_roapp_sync.roapp.client"):
            for _ in range(2):
                assert [b["id"] for b in roapp.branches()] == [b["id"] for b in sandbox.admin.state()["branches"]]
                employees = roapp.employees()
        assert paths(sandbox) == ["/v2/company/locations", "/branches/", "/v2/company/employees", "/employees/",
                                  "/branches/", "/employees/"]
        assert len([r for r in caplog.records if "legacy" in r.getMessage()]) == 2
        # the legacy answer says nothing of roles
        assert employees and not any(shapes.employee_facts(e).readable for e in employees)


def test_the_alternative_profile_has_no_legacy_paths():
    with serving(RoAppSandbox.seeded(api_keys=[ROAPP_KEY], profile="alternative"), rate_limit=0) as sandbox:
        raw = client(sandbox.url)
        for path in ("/branches/", "/employees/"):
            with pytest.raises(NotFoundError):
                raw.get(path)


@pytest.mark.parametrize("raw, expected", [
    ({"data": {"id": 1}}, {"id": 1}), ({"id": 1}, {"id": 1}), ({"data": [1], "count": 1}, {"data": [1], "count": 1}),
])
def test_unwrap(raw, expected):
    assert shapes.unwrap(raw) == expected


def test_shapes_read_both_sides():
    assert shapes.person({"phones": ["+380501111111", {"phone": "+380502222222", "title": "work"}]})["phones"] == [
        {"phone": "+380501111111", "title": None}, {"phone": "+380502222222", "title": "work"}]
    assert shapes.barcodes(["1", {"code": "2"}, {"barcode": "3"}, {"code": ""}]) == ["1", "2", "3"]
    assert shapes.product_price({"price": 5}) == 5.0
    assert shapes.product_price({"prices": [{"id": 1, "price": 7}], "cost": 2}) == 7.0
    assert shapes.custom_field({"id": 1, "name": "Created"})["title"] == "Created"
    facts = shapes.employee_facts({"id": 1, "role": {"name": "Менеджер"}, "active": False,
                                   "locations": [{"id": 101}, 102]})
    assert facts.roles == {"Менеджер"} and facts.active is False and facts.locations == {101, 102}
    none = shapes.employee_facts({"id": 1, "first_name": "A", "position": "Manager"})
    assert none.roles is None and none.active is None and none.locations is None and not none.readable
