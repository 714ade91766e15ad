"""Every setup validation against the sandboxes over real HTTP: each problem names its field
and says what is wrong and what to do."""

from __future__ import annotations

import pytest

from cartum_roapp_sandbox.server import SandboxServer
from cartum_roapp_sync.cartum.client import CartumClient
from cartum_roapp_sync.config import parse_store
from cartum_roapp_sync.roapp.client import RoAppClient
from cartum_roapp_sync.setup_checks import (
    Problem,
    check_cartum_login,
    check_cartum_status_ids,
    check_catalogue,
    check_entry,
    check_managers,
    check_roapp_references,
    check_status_matching,
    check_store_url,
    validate_store,
)
from tests.conftest import CARTUM_LOGIN, CARTUM_PASSWORD, FAST_RETRY, ROAPP_KEY
from tests.fakes import HtmlApp

#: Cartum status → RO App status for the seeded sandboxes.
STATUS_MAP = {"1": 201, "2": 202, "3": 207, "4": 209, "6": 206, "7": 204, "8": 210}


def entry(**changes):
    return {"store_id": "kyiv", "name": "Kyiv shop", "cartum_conn_id": "cartum_kyiv", "location_id": 101,
            "order_type_id": 301, "language": "ua", "product_key": "sku", "managers": "all",
            "status_map": dict(STATUS_MAP), **changes}


def cartum_client(url: str, login: str = CARTUM_LOGIN, password: str = CARTUM_PASSWORD) -> CartumClient:
    return CartumClient(url, login, password, retry=FAST_RETRY, requests_per_second=0, timeout=5.0)


@pytest.fixture
def cartum(cartum_sandbox):
    return cartum_client(cartum_sandbox.url)


@pytest.fixture
def roapp(roapp_sandbox):
    return RoAppClient(ROAPP_KEY, roapp_sandbox.url, retry=FAST_RETRY)


def one(problems: list[Problem], field: str, *words: str) -> Problem:
    """The only problem, for ``field``, holding every word."""
    assert len(problems) == 1, problems
    problem = problems[0]
    assert problem.field == field, problem
    for word in words:
        assert word in problem.message, (word, problem.message)
    return problem


# --- offline --------------------------------------------------------------------------------

def test_empty_required_fields_are_named():
    problems = check_entry(entry(store_id="", name="  ", cartum_conn_id=""))
    assert [(p.field, p.message) for p in problems] == [
        ("store_id", "is required and empty"), ("name", "is required and empty"),
        ("cartum_conn_id", "is required and empty")]


def test_a_name_over_64_characters():
    one(check_entry(entry(name="x" * 65)), "name", "65 characters long", "at most 64", "shorten it")
    assert check_entry(entry(name="x" * 64)) == []


def test_a_store_id_with_other_characters():
    one(check_entry(entry(store_id="Kyiv-Shop")), "store_id", "'Kyiv-Shop'", "only a-z, 0-9 and _")


def test_language_product_key_and_import_days_formats():
    one(check_entry(entry(language="UA")), "language", "'UA' is not a language code", "lower case")
    one(check_entry(entry(product_key="ean")), "product_key", "'ean' is not a product key", "sku", "barcode")
    one(check_entry(entry(import_days=0)), "import_days", "0 is not a number of days from 1 to 3650")
    assert check_entry(entry(import_days=3650)) == []


def test_a_duplicate_store_id_or_a_shared_cartum_connection():
    other = parse_store(entry(name="Kyiv old"))
    one(check_entry(entry(cartum_conn_id="cartum_new"), [other]), "store_id",
        "'kyiv' is already used by the store 'Kyiv old'", "choose another id or edit that store")
    one(check_entry(entry(store_id="lviv"), [other]), "cartum_conn_id",
        "connection 'cartum_kyiv' is already used by the store 'kyiv'", "one Cartum store syncs once")


@pytest.mark.parametrize("url, words", [
    ("", ["the store URL is required", "https://shop.example.com"]),
    ("shop.example.com", ["is not a web address", "write it with https://"]),
    ("ftp://shop.example.com", ["is not a web address"]),
    ("http://shop.example.com", ["uses plain http", "use https://", "only for localhost"]),
])
def test_store_urls_that_are_refused(url, words):
    one(check_store_url(url), "url", *words)


@pytest.mark.parametrize("url", ["https://shop.example.com", "http://127.0.0.1:8701", "http://localhost:8701",
                                 "http://[::1]:8701"])
def test_store_urls_that_are_accepted(url):
    assert check_store_url(url) == []


# --- Cartum ---------------------------------------------------------------------------------

def test_a_wrong_password_makes_one_auth_call(cartum_sandbox):
    problem = one(check_cartum_login(cartum_client(cartum_sandbox.url, password="wrong-pass-123")), "login",
                  "Cartum rejected login 'sandbox_admin'", "check the user name", "and the password")
    assert "wrong-pass-123" not in problem.message
    assert [r["path"] for r in cartum_sandbox.admin.requests()] == ["/api/auth/"]


def test_an_email_typed_as_the_login_gets_the_hint(cartum_sandbox):
    one(check_cartum_login(cartum_client(cartum_sandbox.url, login="admin@shop.example.com")), "login",
        "rejected login 'admin@shop.example.com'", "not the e-mail", "Settings → Administrators")


def test_a_plan_without_api_access(cartum_sandbox):
    cartum_sandbox.admin.action("set_api_access", {"enabled": False})
    one(check_cartum_login(cartum_client(cartum_sandbox.url)), "url", "has no API access", "tariff plan",
        "upgrade the plan")


def test_an_address_that_is_not_a_cartum_api():
    with SandboxServer(HtmlApp(), port=0) as server:
        one(check_cartum_login(cartum_client(server.url)), "url", "not a reachable Cartum API", "Check the store URL")


def test_the_right_credentials_pass(cartum):
    assert check_cartum_login(cartum) == []


def test_a_language_the_store_does_not_have(cartum):
    products, statuses = list(cartum.iter_products()), cartum.get_statuses()
    one(check_catalogue(products, statuses, language="de", product_key="sku"), "language",
        "the store has no 'de' version", "it has en, ru, ua")
    assert check_catalogue(products, statuses, language="ru", product_key="sku") == []


def test_barcode_as_product_key_with_most_barcodes_empty(cartum_sandbox, cartum):
    statuses = cartum.get_statuses()
    assert check_catalogue(list(cartum.iter_products()), statuses, language="ua", product_key="barcode") == []
    products = cartum_sandbox.admin.state()["products"]
    cartum_sandbox.admin.action("upsert_products", [{"article": p["article"], "gtin": ""} for p in products[:40]])
    empty = sum(1 for p in cartum_sandbox.admin.state()["products"] if not p["gtin"])

    one(check_catalogue(list(cartum.iter_products()), statuses, language="ua", product_key="barcode"),
        "product_key", "barcode cannot identify this catalogue", f"{empty} of {len(products)} products have no "
        f"barcode (gtin)", "use sku")


def test_every_cartum_status_must_be_matched(cartum, roapp):
    statuses = cartum.get_statuses()
    partial = {k: v for k, v in STATUS_MAP.items() if k not in ("7", "8")}
    one(check_status_matching(statuses, partial, roapp.order_statuses(), language="en"), "status_map",
        "7 (Awaiting payment), 8 (Returned) are not matched to an RO App status",
        "match every status before the first import", "cartum-roapp stores statuses <store> --set ID=ROAPP_ID")
    assert check_status_matching(statuses, STATUS_MAP, roapp.order_statuses()) == []


def test_a_status_matched_to_a_missing_roapp_status(cartum, roapp):
    one(check_status_matching(cartum.get_statuses(), {**STATUS_MAP, "8": 999}, roapp.order_statuses()),
        "status_map", "RO App has no status 999", "match those Cartum statuses to existing RO App statuses")


def test_a_status_id_the_store_does_not_have(cartum):
    one(check_cartum_status_ids(cartum.get_statuses(), ["1", "99"], language="en"), "status_map",
        "Cartum has no status 99", "the store's statuses are 1 (New), 2 (Processing)")


# --- RO App ---------------------------------------------------------------------------------

def test_a_location_and_an_order_type_that_do_not_exist(roapp):
    problems = check_roapp_references(roapp, location_id=999, order_type_id=998, managers=[])
    assert [p.field for p in problems] == ["location_id", "order_type_id"]
    assert "RO App has no location 999; it has 101 (Online store), 102 (" in problems[0].message
    assert "RO App has no order type 998; it has 301 (Online order), 302 (Repair)" in problems[1].message
    assert check_roapp_references(roapp, location_id=101, order_type_id=301, managers="all") == []


def test_managers_who_cannot_take_orders(roapp_sandbox, roapp):
    roapp_sandbox.admin.action("upsert_employees", [{"id": 600, "first_name": "Ivan", "last_name": "Franko",
                                                     "role": "Manager", "is_active": True, "branch_ids": [102]}])
    employees = roapp.employees()
    problems = check_managers(employees, [501, 506, 507, 600, 9999], 101)
    assert all(p.field == "managers" for p in problems)
    messages = [p.message for p in problems]
    assert "is not active in RO App" in messages[0] and messages[0].startswith("employee 506 (")
    assert "has the role 'Engineer', not a manager role" in messages[1] and messages[1].startswith("employee 507 (")
    assert messages[2] == "employee 600 (Ivan Franko) has no access to location 101"
    assert messages[3] == "employee 9999 does not exist in RO App"
    assert check_managers(employees, [501], 101) == []


def test_managers_all_with_nobody_eligible(roapp_sandbox, roapp):
    inactive = [{**e, "is_active": False} for e in roapp_sandbox.admin.state()["employees"]]
    roapp_sandbox.admin.action("set_reference", {"employees": inactive})
    one(check_managers(roapp.employees(), "all", 101), "managers",
        "no active employee with a manager role (Gerente, Manager, Менеджер) has access to location 101", "or list managers by id")


# --- all together ---------------------------------------------------------------------------

def test_validate_store_passes_a_good_setup(cartum, roapp):
    assert validate_store(parse_store(entry()), cartum, roapp, deep=True) == []


def test_validate_store_reports_every_problem_at_once(cartum_sandbox, roapp):
    config = parse_store(entry(location_id=999, managers=[506], language="de",
                               status_map={k: v for k, v in STATUS_MAP.items() if k != "8"}))
    problems = validate_store(config, cartum_client(cartum_sandbox.url), roapp, deep=True)
    assert [p.field for p in problems] == ["language", "location_id", "managers", "status_map"]


def test_validate_store_with_a_wrong_roapp_key(cartum, roapp_sandbox):
    wrong = RoAppClient("wrong-key-0000", roapp_sandbox.url, retry=FAST_RETRY)
    problem = one(validate_store(parse_store(entry()), cartum, wrong, deep=False), "roapp_conn_id",
                  "RO App rejected the API key", "Settings → API")
    assert "wrong-key-0000" not in problem.message
