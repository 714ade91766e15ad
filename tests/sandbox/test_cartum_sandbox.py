"""The Cartum sandbox: its seeded data is deterministic and messy, and its API follows the
contract (/work/shared/contracts/cartum-api.md) over real HTTP."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import requests

from cartum_roapp_sandbox.admin import SandboxAdmin
from cartum_roapp_sandbox.cartum import CartumSandbox, CartumSeedConfig, generate
from cartum_roapp_sandbox.server import SandboxServer

NOW = datetime(2025, 6, 1, 12, 0, 0)
SMALL = {"seed": 7, "orders": 80, "products": 60, "customers": 30, "days": 120, "now": NOW}
LOGIN, PASSWORD = "sandbox_admin", "sandbox-password"
INCLUDE = Path(__file__).resolve().parents[2] / "include"


@pytest.fixture
def server():
    with SandboxServer(CartumSandbox.seeded(**SMALL), port=0) as srv:
        yield srv


@pytest.fixture
def admin(server):
    return SandboxAdmin(server.url)


@pytest.fixture
def data():
    return generate(CartumSeedConfig(**SMALL))


def call(server, function: str, body=None) -> dict:
    """One API call; every answer, error or not, must be HTTP 200 with the JSON envelope."""
    response = requests.post(f"{server.url}/api/{function}/", json=body if body is not None else {}, timeout=5)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert set(answer) == {"status", "response"} and isinstance(answer["response"], dict)
    return answer


def token_for(server, login=LOGIN, password=PASSWORD) -> str:
    answer = call(server, "auth", {"login": login, "password": password})
    assert answer["status"] == "OK", answer
    return answer["response"]["token"]


def orders(server, **body) -> dict:
    return call(server, "orders/get", {"token": token_for(server), **body})


# --- the generator ------------------------------------------------------------------------

def test_generator_is_deterministic_for_a_seed_and_now():
    first = generate(CartumSeedConfig(**SMALL))
    assert first == generate(CartumSeedConfig(**SMALL))
    assert first != generate(CartumSeedConfig(**{**SMALL, "seed": 8}))
    assert json.loads(json.dumps(first)) == first  # plain JSON-able
    assert set(first) == {"orders", "products", "users", "statuses"}
    assert (len(first["orders"]), len(first["products"]), len(first["users"])) == (80, 60, 30)


def test_default_now_is_the_current_time():
    data = generate(CartumSeedConfig(orders=20, products=10, customers=5, days=10))
    latest = max(datetime.strptime(o["stat_created"], "%Y-%m-%d %H:%M:%S") for o in data["orders"])
    assert datetime.now() - timedelta(days=10) < latest <= datetime.now()


@pytest.mark.parametrize("seed", [1, 7, 42])
def test_phones_and_emails_are_messy(seed):
    data = generate(CartumSeedConfig(**{**SMALL, "seed": seed}))
    phones = [o["delivery_phone"] for o in data["orders"]]
    for pattern in (r"\+380 \d\d \d{3} \d\d \d\d", r"0\d{9}", r"380-\d\d-\d{3}-\d{4}", r"\(0\d\d\) \d{3}-\d\d-\d\d",
                    r"\+38 \(0\d\d\) \d{3} \d\d \d\d"):
        assert any(re.fullmatch(pattern, p) for p in phones), pattern
    assert "12345" in phones and "" in phones
    emails = [o["delivery_email"] for o in data["orders"]]
    assert any(e and e != e.lower() for e in emails)
    assert any(e != e.strip() for e in emails)
    assert "" in emails and "ivan@" in emails and "name at mail" in emails
    # the same buyer (same last 9 digits) types the phone differently in different orders
    spellings = defaultdict(set)
    for phone in phones:
        digits = re.sub(r"\D", "", phone)
        if len(digits) >= 9:
            spellings[digits[-9:]].add(phone)
    assert any(len(s) >= 2 for s in spellings.values())


@pytest.mark.parametrize("seed", [1, 7, 42])
def test_catalogue_is_messy(seed):
    products = generate(CartumSeedConfig(**{**SMALL, "seed": seed}))["products"]
    articles = [p["article"] for p in products]
    assert len(set(articles)) == len(articles) and articles == sorted(articles)
    variants = [p for p in products if p["parent_article"] != p["article"]]
    assert 0.15 <= len(variants) / len(products) <= 0.25
    assert all(v["parent_article"] in articles for v in variants)
    assert any(set(p["title"]) != {"ua", "ru", "en"} for p in products)
    assert any("ua" not in p["title"] and p["title"] for p in products)
    gtins = Counter(p["gtin"] for p in products)
    assert gtins[""] >= 1
    assert any(n in (2, 3) for g, n in gtins.items() if g)
    assert sum(1 for g, n in gtins.items() if g and n == 1) > len(products) * 0.6
    assert all(re.fullmatch(r"\d{13}", g) for g in gtins if g)
    assert {p["display_in_showcase"] for p in products} == {0, 1}
    assert all(isinstance(p["parent"]["id"], int) for p in products)


def test_orders_are_realistic(data):
    statuses = {s["id"]: s for s in data["statuses"]}
    assert {1, 2, 3, 4, 6, 7, 8} == set(statuses) and statuses[3]["is_successful"] == 1
    assert statuses[1]["title"] == {"ua": "Новий", "ru": "Новый", "en": "New"}
    ordered = data["orders"]
    assert {o["stat_status"] for o in ordered} == set(statuses)
    ids = [o["order_id"] for o in ordered]
    assert ids == sorted(ids) and 1000 < ids[0] < 1010
    assert [o["stat_created"] for o in ordered] == sorted(o["stat_created"] for o in ordered)
    old = NOW - timedelta(days=60)
    assert sum(datetime.strptime(o["stat_created"], "%Y-%m-%d %H:%M:%S") < old for o in ordered) > len(ordered) * 0.3
    user_ids = {u["id"] for u in data["users"]}
    assert any(o["user"] is None for o in ordered)
    assert all(o["user"]["id"] in user_ids for o in ordered if o["user"])
    assert any(o["user"] for o in ordered)
    registered = {u["id"]: u["registered"] for u in data["users"]}
    assert all(registered[o["user"]["id"]] < o["stat_created"] for o in ordered if o["user"])
    catalogue = {p["article"]: p for p in data["products"]}
    for o in ordered:
        assert o["total_quantity"] == sum(line["quantity"] for line in o["products"])
        assert o["total_default"] == pytest.approx(sum(line["total_price"] for line in o["products"]))
        for line in o["products"]:
            assert isinstance(line["title"], str) and line["quantity"] >= 1
            product = catalogue.get(line["article"])
            if product and o["lang"] in product["title"]:
                assert line["title"] == product["title"][o["lang"]]
    assert {o["lang"] for o in ordered} == {"ua", "ru", "en"}
    dangling = [line for o in ordered for line in o["products"] if line["article"] not in catalogue]
    assert 1 <= len(dangling) <= 2 and all(line["article"].startswith("SKU-9") for line in dangling)


# --- envelope, auth and tokens ----------------------------------------------------------------

def test_auth_gives_a_32_char_token(server):
    assert len(token_for(server)) == 32


@pytest.mark.parametrize("credentials", [{"login": LOGIN, "password": "wrong"}, {"login": "", "password": ""}, {}])
def test_wrong_credentials_are_an_error_in_a_200(server, credentials):
    assert call(server, "auth", credentials) == {"status": "ERROR",
                                                 "response": {"message": "Incorrect login or password"}}


def test_errors_are_envelopes_with_http_200(server):
    assert call(server, "orders/get")["status"] == "AUTHORIZATION_ERROR"
    assert call(server, "orders/get", {"token": "x" * 32})["response"]["message"] == "Invalid token"
    unknown = call(server, "orders/frobnicate", {"token": token_for(server)})
    assert unknown["status"] == "UNDEFINED_FUNCTION" and "orders/frobnicate" in unknown["response"]["message"]
    raw = requests.post(f"{server.url}/api/orders/get/", data=b"{not json", timeout=5)
    assert raw.status_code == 200 and raw.json()["status"] == "ERROR"
    bad_date = orders(server, **{"from": "01.06.2025"})
    assert bad_date["status"] == "ERROR" and "from" in bad_date["response"]["message"]


def test_path_without_trailing_slash_is_an_html_404(server):
    response = requests.post(f"{server.url}/api/auth", json={"login": LOGIN, "password": PASSWORD}, timeout=5)
    assert response.status_code == 404 and response.headers["Content-Type"].startswith("text/html")
    assert requests.get(f"{server.url}/api/auth/", timeout=5).status_code == 405


def test_token_expires_after_ttl(server, admin):
    admin.faults(token_ttl=0.5)
    token = token_for(server)
    assert call(server, "orders/get", {"token": token, "ids": [1001]})["status"] == "OK"
    threading.Event().wait(0.7)
    assert call(server, "orders/get", {"token": token}) == {"status": "UNAUTHORIZED",
                                                            "response": {"message": "Token expired"}}


def test_expire_tokens_then_log_in_again(server, admin):
    token = token_for(server)
    assert admin.state()["active_tokens"] == 1
    assert admin.action("expire_tokens") == {"expired": 1}
    assert call(server, "catalog/export", {"token": token})["status"] == "UNAUTHORIZED"
    assert call(server, "catalog/export", {"token": token_for(server)})["status"] == "OK"


def test_set_credentials(server, admin):
    admin.action("set_credentials", {"login": "manager", "password": "s3cret"})
    assert call(server, "auth", {"login": LOGIN, "password": PASSWORD})["status"] == "ERROR"
    assert len(token_for(server, "manager", "s3cret")) == 32
    with pytest.raises(RuntimeError, match="400"):
        admin.action("set_credentials", {"login": "manager"})


def test_api_disabled_refuses_every_call(server, admin):
    token = token_for(server)
    admin.action("set_api_access", {"enabled": False})
    disabled = {"status": "ERROR", "response": {"message": "API access is not available on the current tariff plan",
                                                "code": "API_DISABLED"}}
    assert call(server, "auth", {"login": LOGIN, "password": PASSWORD}) == disabled
    assert call(server, "orders/get", {"token": token}) == disabled
    admin.action("set_api_access", {"enabled": True})
    assert call(server, "orders/get", {"token": token})["status"] == "OK"


# --- orders ------------------------------------------------------------------------------

def test_orders_get_returns_all_sorted_without_hidden_lang(server, data):
    answer = orders(server)
    assert answer["status"] == "OK"
    got = answer["response"]["orders"]
    assert [o["order_id"] for o in got] == [o["order_id"] for o in data["orders"]]
    assert all("lang" not in o for o in got)
    first = data["orders"][0]
    assert got[0] == {**{k: v for k, v in first.items() if k != "lang"},
                      "user": first["user"]["id"] if first["user"] else None}  # documented: the id


def test_orders_get_date_filter_is_inclusive(server, data):
    target = data["orders"][len(data["orders"]) // 2]
    day = target["stat_created"][:10]
    same_day = [o["order_id"] for o in data["orders"] if o["stat_created"].startswith(day)]
    answer = orders(server, **{"from": day, "to": day})
    assert [o["order_id"] for o in answer["response"]["orders"]] == same_day
    exact = orders(server, **{"from": target["stat_created"], "to": target["stat_created"]})
    assert [o["order_id"] for o in exact["response"]["orders"]] == [target["order_id"]]
    since = orders(server, **{"from": target["stat_created"]})["response"]["orders"]
    assert since[0]["order_id"] == target["order_id"] and since[-1]["order_id"] == data["orders"][-1]["order_id"]


def test_orders_get_by_ids_and_status(server, data):
    wanted = [data["orders"][5]["order_id"], data["orders"][2]["order_id"], 999999]
    got = orders(server, ids=wanted)["response"]["orders"]
    assert [o["order_id"] for o in got] == sorted(wanted[:2])
    delivered = orders(server, status=3)["response"]["orders"]
    assert delivered and {o["stat_status"] for o in delivered} == {3}
    mixed = orders(server, status=[7, 8])["response"]["orders"]
    assert {o["stat_status"] for o in mixed} == {7, 8}
    assert len(mixed) == sum(o["stat_status"] in (7, 8) for o in data["orders"])


def test_orders_get_limit_offset(server, data):
    all_ids = [o["order_id"] for o in data["orders"]]
    page = orders(server, limit=10, offset=20)["response"]["orders"]
    assert [o["order_id"] for o in page] == all_ids[20:30]
    ignored = orders(server, offset=20)["response"]["orders"]  # offset without limit: ignored
    assert [o["order_id"] for o in ignored] == all_ids


def test_orders_get_page_cap_and_newest_first(server, admin, data):
    assert admin.state()["orders_paging"] == {"page_cap": None, "sort": "id"}
    assert admin.action("set_orders_paging", {"page_cap": 30, "sort": "newest_first"}) == {
        "page_cap": 30, "sort": "newest_first"}
    newest = sorted(data["orders"], key=lambda o: (o["stat_created"], o["order_id"]), reverse=True)

    first = orders(server, limit=100, offset=0)["response"]["orders"]  # capped silently, no hint
    second = orders(server, limit=100, offset=30)["response"]["orders"]
    unlimited = orders(server)["response"]["orders"]

    assert [o["order_id"] for o in first + second] == [o["order_id"] for o in newest[:60]]
    assert len(unlimited) == 30  # no limit is the cap too
    assert admin.action("set_orders_paging", {"page_cap": None}) == {"page_cap": None, "sort": "newest_first"}
    assert len(orders(server)["response"]["orders"]) == len(data["orders"])
    for bad in ({"page_cap": 0}, {"page_cap": "50"}, {"sort": "oldest"}, {"cap": 5}, []):
        with pytest.raises(RuntimeError, match="400"):
            admin.action("set_orders_paging", bad)


def test_scheduled_order_changes_land_between_two_calls(server, admin, data):
    ids = [o["order_id"] for o in data["orders"]]
    admin.action("schedule_order_changes", {"after_calls": 2, "delete": ids[:3],
                                            "upsert": [{"order_id": 99001, "stat_created": "2025-05-30 10:00:00"}]})

    one = orders(server, limit=10, offset=0)["response"]["orders"]
    two = orders(server, limit=10, offset=0)["response"]["orders"]  # answered before the change
    three = orders(server, limit=10, offset=0)["response"]["orders"]
    everything = [o["order_id"] for o in orders(server)["response"]["orders"]]

    assert [o["order_id"] for o in one] == [o["order_id"] for o in two] == ids[:10]
    assert [o["order_id"] for o in three] == ids[3:13]
    assert everything == ids[3:] + [99001]
    assert admin.state()["scheduled_order_changes"] == []
    assert admin.action("delete_orders", [ids[3], 123456]) == {"deleted": [ids[3]], "not_found": [123456]}
    for bad in ({"after_calls": 0}, {"after_calls": 1, "delete": ["x"]}, {"after_calls": 1, "later": 1}):
        with pytest.raises(RuntimeError, match="400"):
            admin.action("schedule_order_changes", bad)


def test_nothing_matched_is_empty(server):
    assert orders(server, ids=[999999]) == {"status": "EMPTY", "response": {}}
    assert orders(server, **{"from": "2030-01-01"}) == {"status": "EMPTY", "response": {}}
    token = token_for(server)
    assert call(server, "catalog/export", {"token": token, "expr": {"article": "NOPE"}}) == {"status": "EMPTY",
                                                                                            "response": {}}


def test_orders_update_ok_and_warning(server, data):
    token = token_for(server)
    first, second = data["orders"][0]["order_id"], data["orders"][1]["order_id"]
    ok = call(server, "orders/update", {"token": token, "orders": [{"order_id": first, "status": 6, "payed": 1,
                                                                    "tracking_code": "20450000000001"}]})
    assert ok["status"] == "OK"
    warning = call(server, "orders/update", {"token": token, "orders": [
        {"order_id": second, "status": 2}, {"order_id": 999999, "status": 2}, {"order_id": first, "status": 99}]})
    assert warning["status"] == "WARNING"
    assert [(e["order_id"], e["code"]) for e in warning["response"]["log"]] == [(999999, "ORDER_NOT_FOUND"),
                                                                               (first, "INVALID_STATUS")]
    got = {o["order_id"]: o for o in orders(server, ids=[first, second])["response"]["orders"]}
    assert (got[first]["stat_status"], got[first]["payed"], got[first]["tracking_code"]) == (6, 1, "20450000000001")
    assert got[second]["stat_status"] == 2


def test_available_statuses_and_old_platform(server, admin):
    token = token_for(server)
    statuses = call(server, "orders/get_available_statuses", {"token": token})["response"]["statuses"]
    assert [s["id"] for s in statuses] == [1, 2, 3, 4, 6, 7, 8]
    assert statuses[-1]["title"]["en"] == "Returned" and statuses[2]["is_successful"] == 1
    admin.action("add_statuses", [{"id": 9, "title": "Ремонт", "is_successful": 0}])
    statuses = call(server, "orders/get_available_statuses", {"token": token})["response"]["statuses"]
    assert statuses[-1] == {"id": 9, "title": {"ua": "Ремонт", "ru": "Ремонт", "en": "Ремонт"}, "is_successful": 0}
    admin.action("set_statuses_function", {"available": False})
    old = call(server, "orders/get_available_statuses", {"token": token})
    assert old["status"] == "UNDEFINED_FUNCTION" and "orders/get_available_statuses" in old["response"]["message"]


# --- catalogue and customers -------------------------------------------------------------------

def test_catalog_export_caps_limit_at_500():
    with SandboxServer(CartumSandbox.seeded(seed=1, orders=5, products=620, customers=3, now=NOW), port=0) as srv:
        token = token_for(srv)
        export = lambda **body: call(srv, "catalog/export", {"token": token, **body})["response"]["products"]
        first = export(limit=1000)
        assert len(first) == 500 and len(export()) == 500
        articles = [p["article"] for p in first]
        assert articles == sorted(articles)
        rest = export(limit=500, offset=500)
        assert len(rest) == 120 and rest[0]["article"] > articles[-1]
        assert export(offset=500) == first  # offset without limit: ignored, the first 500 again


def test_catalog_export_filters(server, data):
    token = token_for(server)
    export = lambda **body: call(server, "catalog/export", {"token": token, **body})
    one = data["products"][3]
    assert export(expr={"article": one["article"]})["response"]["products"] == [one]
    two = [data["products"][9]["article"], data["products"][1]["article"]]
    assert [p["article"] for p in export(expr={"article": two})["response"]["products"]] == sorted(two)
    category = one["parent"]["id"]
    in_category = export(expr={"parent": category})["response"]["products"]
    assert in_category and {p["parent"]["id"] for p in in_category} == {category}
    hidden = export(expr={"display_in_showcase": 0})["response"]["products"]
    assert len(hidden) == sum(p["display_in_showcase"] == 0 for p in data["products"])
    slim = export(limit=2, includedParams=["price"])["response"]["products"]
    assert all(set(p) == {"article", "price"} for p in slim)


def test_users_export(server, data):
    token = token_for(server)
    users = sorted(data["users"], key=lambda u: u["registered"])
    day = users[len(users) // 2]["registered"][:10]
    got = call(server, "users/export", {"token": token, "from": day, "to": day})["response"]["users"]
    assert {u["id"] for u in got} == {u["id"] for u in data["users"] if u["registered"].startswith(day)}
    page = call(server, "users/export", {"token": token, "limit": 5, "offset": 5})["response"]["users"]
    assert [u["id"] for u in page] == [6, 7, 8, 9, 10]
    assert set(page[0]) == {"id", "title", "email", "phone", "country", "city", "address", "registered"}


# --- admin, log, faults, transport -----------------------------------------------------------

def test_admin_upserts_show_in_the_api(server, admin, data):
    article = data["products"][0]["article"]
    admin.action("upsert_products", [{"article": "NEW-1", "title": {"en": "Case"}, "price": 100},
                                     {"article": article, "price": 1}])
    admin.action("upsert_users", [{"id": 500, "title": "Нова Клієнтка", "registered": "2025-06-01 11:00:00"}])
    created = admin.action("upsert_orders", [{"order_id": 5000, "stat_created": "2025-06-01 11:30:00",
                                              "user": {"id": 500}, "products": [{"article": "NEW-1", "quantity": 2}]},
                                             {"order_id": 1001, "stat_status": 4}])
    assert created["orders"][0]["total_sum"] == 200
    token = token_for(server)
    products = call(server, "catalog/export", {"token": token, "expr": {"article": ["NEW-1", article]}})
    assert {p["article"]: p["price"] for p in products["response"]["products"]} == {"NEW-1": 100, article: 1}
    got = {o["order_id"]: o for o in orders(server, ids=[1001, 5000])["response"]["orders"]}
    assert got[1001]["stat_status"] == 4
    line = got[5000]["products"][0]
    assert (line["title"], line["price"], line["total_price"], got[5000]["total_quantity"]) == ("Case", 100, 200, 2)
    users = call(server, "users/export", {"token": token, "from": "2025-06-01 10:59:59"})["response"]["users"]
    assert any(u["id"] == 500 for u in users)
    assert admin.action("remove_products", ["NEW-1", "GONE"]) == {"removed": ["NEW-1"], "not_found": ["GONE"]}
    assert call(server, "catalog/export", {"token": token, "expr": {"article": "NEW-1"}})["status"] == "EMPTY"


def test_admin_rejects_bad_payloads_and_unknown_actions(admin):
    with pytest.raises(RuntimeError, match="400"):
        admin.action("upsert_orders", [{"stat_status": 1}])
    with pytest.raises(RuntimeError, match="400"):
        admin.action("upsert_orders", [{"order_id": 1001, "stat_status": 42}])
    with pytest.raises(RuntimeError, match="404"):
        admin.action("launch_rockets")
    assert admin.state()["orders"][0]["stat_status"] != 42


def test_state_has_data_but_no_secrets(server, admin):
    token = token_for(server)
    state = admin.state()
    assert len(state["orders"]) == 80 and "lang" in state["orders"][0]
    assert state["api_access"] is True and state["active_tokens"] == 1
    text = json.dumps(state)
    assert token not in text and PASSWORD not in text


def test_request_log_hides_token_and_password(server, admin):
    token = token_for(server)
    call(server, "orders/get", {"token": token, "ids": [1001]})
    logged = admin.requests()
    assert [r["path"] for r in logged] == ["/api/auth/", "/api/orders/get/"]
    assert logged[0]["body"] == {"login": LOGIN, "password": "***"}
    assert logged[1]["body"] == {"token": "***", "ids": [1001]}
    assert token not in json.dumps(logged) and PASSWORD not in json.dumps(logged)


def test_scripted_faults(server, admin):
    admin.faults(script=["html502", "429"])
    body = {"login": LOGIN, "password": PASSWORD}
    first = requests.post(f"{server.url}/api/auth/", json=body, timeout=5)
    assert first.status_code == 502 and first.headers["Content-Type"].startswith("text/html")
    assert "<html" in first.text
    assert requests.post(f"{server.url}/api/auth/", json=body, timeout=5).status_code == 429
    assert call(server, "auth", body)["status"] == "OK"


def test_large_body_drops_the_connection(server):
    token = token_for(server)
    small = {"token": token, "ids": list(range(1, 10_000))}  # about 70 KB: answered
    assert call(server, "orders/get", small)["status"] in ("OK", "EMPTY")
    with pytest.raises(requests.ConnectionError):
        requests.post(f"{server.url}/api/orders/get/", json={"token": token, "ids": list(range(1, 30_000))},
                      timeout=5)


def test_concurrent_calls(server):
    results = []

    def worker():
        token = token_for(server)
        results.append(call(server, "orders/get", {"token": token, "limit": 5})["status"])

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert results == ["OK"] * 16


def test_command_line_serves_the_api():
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(INCLUDE), os.environ.get("PYTHONPATH")]))}
    process = subprocess.Popen(
        [sys.executable, "-m", "cartum_roapp_sandbox.cartum", "--port", "0", "--orders", "12", "--products",
         "8", "--customers", "4", "--login", "cli", "--password", "pw", "--token-ttl", "5",
         "--orders-page-cap", "5", "--orders-sort", "newest_first", "--profile", "alternative"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    try:
        counts = process.stdout.readline()
        assert "12 orders, 8 products, 4 users, 7 statuses" in counts
        url = re.search(r"listening on (http://\S+)", process.stdout.readline()).group(1)
        answer = requests.post(f"{url}/api/auth/", json={"login": "cli", "password": "pw"}, timeout=5,
                               headers={"User-Agent": "cartum-roapp-sync/test"}).json()
        assert answer["status"] == "OK" and len(answer["response"]["token"]) == 32
        assert SandboxAdmin(url).state()["profile"] == {"name": "alternative", "user_as_number": False,
                                                        "bot_filter": True}
        assert SandboxAdmin(url).faults()["token_ttl"] == 5
        assert SandboxAdmin(url).state()["orders_paging"] == {"page_cap": 5, "sort": "newest_first"}
    finally:
        process.terminate()
        process.wait(10)


# --- profiles: each side of the disagreements between the public sources -------------------

def _users_in_answer(url: str, agent: str = "cartum-roapp-sync/test") -> list:
    headers = {"User-Agent": agent}
    token = requests.post(f"{url}/api/auth/", json={"login": LOGIN, "password": PASSWORD}, headers=headers,
                          timeout=5).json()["response"]["token"]
    answer = requests.post(f"{url}/api/orders/get/", json={"token": token}, headers=headers, timeout=5).json()
    return [o["user"] for o in answer["response"]["orders"]]


def test_documented_profile_answers_user_as_the_id_and_alternative_as_an_object(server, admin, data):
    expected = [o["user"] for o in data["orders"]]
    assert admin.state()["profile"]["name"] == "documented"
    assert _users_in_answer(server.url) == [u["id"] if u else None for u in expected]
    assert any(isinstance(u, int) for u in _users_in_answer(server.url))
    assert admin.action("set_profile", {"name": "alternative"})["user_as_number"] is False
    assert _users_in_answer(server.url) == expected
    assert all(u is None or set(u) == {"id", "title", "email", "phone"} for u in _users_in_answer(server.url))
    # the stored orders are the same under both profiles
    assert [o["user"] for o in admin.state()["orders"]] == expected


def test_an_upserted_user_may_be_a_number_or_an_object_and_is_stored_as_an_object(server, admin):
    admin.action("upsert_orders", [{"order_id": 7001, "user": 42}, {"order_id": 7002, "user": {"id": 43}}])
    stored = {o["order_id"]: o["user"] for o in admin.state()["orders"] if o["order_id"] > 7000}
    assert stored == {7001: {"id": 42}, 7002: {"id": 43}}
    for bad in (0, -1, "42", {"id": "42"}, True):
        with pytest.raises(RuntimeError, match="400.*user"):
            admin.action("upsert_orders", [{"order_id": 7003, "user": bad}])


def test_bot_filter_answers_script_user_agents_with_a_js_challenge(server, admin):
    plain = requests.post(f"{server.url}/api/auth/", json={"login": LOGIN, "password": PASSWORD}, timeout=5)
    assert plain.json()["status"] == "OK"  # documented: any User-Agent gets the API
    admin.action("set_profile", {"name": "documented", "bot_filter": True})
    for agent in (plain.request.headers["User-Agent"], "curl/8.5.0", ""):
        blocked = requests.post(f"{server.url}/api/orders/get/", json={}, headers={"User-Agent": agent}, timeout=5)
        assert blocked.status_code == 200 and blocked.headers["Content-Type"].startswith("text/html")
        assert "<script" in blocked.text and "enable JavaScript" in blocked.text
    assert _users_in_answer(server.url, "cartum-roapp-sync/0.1.0 (Cartum to RO App order sync)")
    assert _users_in_answer(server.url, "Mozilla/5.0 (X11; Linux x86_64)")
    log = admin.requests()
    assert [e["status"] for e in log[1:4]] == [200, 200, 200] and all(e["path"] == "/api/orders/get/"
                                                                       for e in log[1:4])


def test_set_profile_refuses_unknown_names_and_flags(admin):
    for payload in ({"name": "live"}, {"name": "documented", "phones": True}, {"bot_filter": "yes"}):
        with pytest.raises(RuntimeError, match="400"):
            admin.action("set_profile", payload)
    assert admin.state()["profile"] == {"name": "documented", "user_as_number": True, "bot_filter": False}
