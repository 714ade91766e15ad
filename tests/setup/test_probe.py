"""The read-only live probe against the sandboxes: for each Cartum profile (and each of its
flags alone) it reports as contradicted exactly the facts that profile serves the other
side of, and no other; the RO App facts likewise from what the RO App sandbox serves; it
sends only reads (the sandboxes' request logs); what it records names no one and still
works as a fixture; and ``cartum-roapp probe`` runs from Airflow connections."""

from __future__ import annotations

import json
import re
from itertools import product

import pytest
import requests

from cartum_roapp_sandbox.cartum import CartumSandbox
from cartum_roapp_sandbox.roapp import RoAppSandbox
from cartum_roapp_sync import assumptions
from cartum_roapp_sync.probe import CONFIRMED, CONTRADICTED, NOT_CHECKABLE, registered_facts
from cartum_roapp_sync.probe.core import CARTUM_READS, ReadOnlySession, WriteRefused
from cartum_roapp_sync.probe.redact import redact
from cartum_roapp_sync.probe.run import CartumAccount, RoAppAccount, run_probe
from cartum_roapp_sync.transform.clients import build_clients
from tests.conftest import CARTUM_LOGIN, CARTUM_PASSWORD, FAST_RETRY, ROAPP_KEY, serving

#: Facts no sandbox profile can show either way from a handful of reads.
NEVER_CHECKABLE = {"cartum.store_timezone", "cartum.rate_limit", "cartum.no_api_access_markers",
                   "cartum.ids_per_call"}
#: Cartum profile flag → the fact its non-documented side contradicts.
CARTUM_FLAG_FACTS = {("user_as_number", False): "cartum.order_user", ("bot_filter", True): "cartum.plain_user_agent"}
#: RO App profile flag (its non-documented value) → the facts it contradicts.
ROAPP_FLAG_FACTS = {
    ("wrapped_objects", True): {"roapp.single_object"}, ("phones_as_strings", True): {"roapp.phones_shape"},
    ("barcodes_as_objects", True): {"roapp.barcodes_shape"}, ("list_format", "paging"): {"roapp.list_shape"},
    ("undocumented_filters", False): {"roapp.people_email_filter", "roapp.product_sku_filter",
                                      "roapp.product_barcode_filter"},
    ("employee_facts", False): {"roapp.employee_fields"}, ("legacy_paths", False): {"roapp.legacy_paths"},
    ("documented_paths", False): {"roapp.employees_path", "roapp.locations_path"},
    ("custom_field_name", "name"): {"roapp.custom_field_name"},
}
#: The RO App sandbox written from the first contract, before it had profiles: no documented
#: /v2/company paths, and products with a flat price.
FIRST_CONTRACT_ROAPP = {"roapp.employees_path", "roapp.locations_path", "roapp.product_prices"}


def expected_roapp(state: dict) -> set[str]:
    profile = state.get("profile")
    if profile is None:
        return FIRST_CONTRACT_ROAPP | ({"roapp.list_shape"} if state.get("list_format") == "paging" else set())
    flags = {**profile, "list_format": state.get("list_format", profile.get("list_format"))}
    return {fact for (flag, value), facts in ROAPP_FLAG_FACTS.items() if flags.get(flag) == value for fact in facts}


def fill_roapp(url: str) -> None:
    """Two people and two products, created through the API as the sync would."""
    headers = {"Authorization": f"Bearer {ROAPP_KEY}"}
    for n in range(2):
        for path, body in (("/v2/contacts/people", {"first_name": f"Olena{n}", "email": f"olena{n}@example.com",
                                                    "phones": [{"phone": f"+38050123456{n}"}]}),
                           (assumptions.ROAPP_PRODUCTS_PATH, {"title": f"Probe {n}", "sku": f"PRB-{n}",
                                                              "barcodes": [f"482000000000{n}"], "price": 10})):
            assert requests.post(url + path, json=body, headers=headers, timeout=5).status_code == 201


def probe(cartum, roapp, **options):
    return run_probe(CartumAccount(cartum.url, CARTUM_LOGIN, CARTUM_PASSWORD, requests_per_second=0),
                     RoAppAccount(roapp.url, ROAPP_KEY) if roapp is not None else None, retry=FAST_RETRY, **options)


@pytest.fixture(scope="module")
def filled_roapp():
    with serving(RoAppSandbox.seeded(api_keys=[ROAPP_KEY]), rate_limit=0) as roapp:
        fill_roapp(roapp.url)
        yield roapp


def test_every_cartum_fact_of_assumptions_has_a_check():
    assert set(registered_facts("cartum")) == set(assumptions.CARTUM_FACTS)
    assert all(fact.startswith("roapp.") for fact in registered_facts("roapp"))


@pytest.mark.parametrize("user_as_number, bot_filter", list(product([True, False], [False, True])))
def test_the_probe_finds_exactly_the_differences_of_each_cartum_profile(user_as_number, bot_filter, filled_roapp):
    flags = {"user_as_number": user_as_number, "bot_filter": bot_filter}
    app = CartumSandbox.seeded(seed=3, orders=40, products=10, customers=6, profile_flags=flags)
    with serving(app) as cartum:
        filled_roapp.admin.clear_requests()
        report = probe(cartum, filled_roapp)
        cartum_log, roapp_log = cartum.admin.requests(), filled_roapp.admin.requests()

    expected = {fact for (flag, value), fact in CARTUM_FLAG_FACTS.items() if flags[flag] == value}
    findings = {f.fact: f for f in report.findings}
    assert {f for f in report.verdicts(CONTRADICTED) if f.startswith("cartum.")} == expected
    checkable = set(assumptions.CARTUM_FACTS) - NEVER_CHECKABLE
    assert {f for f in report.verdicts(CONFIRMED) if f.startswith("cartum.")} == checkable - expected
    assert {f for f in report.verdicts(NOT_CHECKABLE) if f.startswith("cartum.")} == NEVER_CHECKABLE
    assert set(report.verdicts(CONTRADICTED)) - expected == expected_roapp(filled_roapp.admin.state())
    # the evidence names shapes, the numbers are there
    user = findings["cartum.order_user"].evidence[0]
    assert ("number in" if user_as_number else "object{email,id,phone,title} in") in user
    cartum_report = next(s for s in report.systems if s.system == "cartum")
    assert cartum_report.reachable and cartum_report.calls == 6 == len(cartum_log)
    assert cartum_report.figures["orders_page"]["asked"] == 100 and cartum_report.latency["max_ms"] > 0
    # reads only: Cartum's read functions (all POSTs), RO App GETs
    assert {(e["method"], e["path"].removeprefix("/api/").strip("/")) for e in cartum_log} <= {
        ("POST", function) for function in CARTUM_READS}
    assert {e["method"] for e in roapp_log} == {"GET"} and len(roapp_log) == 11


def test_the_probe_reads_what_the_roapp_sandbox_serves(filled_roapp):
    """Every RO App fact contradicted is one the sandbox serves the other side of."""
    state = filled_roapp.admin.state()
    report = run_probe(None, RoAppAccount(filled_roapp.url, ROAPP_KEY), retry=FAST_RETRY)
    assert set(report.verdicts(CONTRADICTED)) == expected_roapp(state)
    assert not report.verdicts(NOT_CHECKABLE)
    action = "set_profile" if "profile" in state else "set_list_format"
    payload = {"name": "alternative"} if "profile" in state else {"format": "paging"}
    filled_roapp.admin.action(action, payload)
    try:
        changed = filled_roapp.admin.state()
        report = run_probe(None, RoAppAccount(filled_roapp.url, ROAPP_KEY), retry=FAST_RETRY)
        assert set(report.verdicts(CONTRADICTED)) == expected_roapp(changed) != expected_roapp(state)
    finally:
        filled_roapp.admin.action(action, {"name": "documented"} if "profile" in state else {"format": "count"})


def test_a_store_refusing_our_user_agent_is_reported_with_the_hint(filled_roapp):
    app = CartumSandbox.seeded(seed=3, orders=5, products=3, customers=2, profile="alternative")
    with serving(app) as cartum:
        report = run_probe(CartumAccount(cartum.url, CARTUM_LOGIN, CARTUM_PASSWORD, user_agent="curl/8.5.0",
                                         requests_per_second=0), None, retry=FAST_RETRY)
    [system] = report.systems
    assert not system.reachable and "JavaScript challenge" in system.error and "user_agent" in system.error
    assert report.verdicts(CONFIRMED) == []  # nothing confirmed from an unread store
    plain = next(f for f in report.findings if f.fact == "cartum.plain_user_agent")
    assert plain.verdict == CONTRADICTED and "is refused too" in plain.evidence[1]


def test_the_session_refuses_writes_before_sending():
    cartum, roapp = ReadOnlySession("cartum"), ReadOnlySession("roapp")
    for session, method, url in ((cartum, "POST", "http://127.0.0.1:9/api/orders/update/"),
                                 (cartum, "GET", "http://127.0.0.1:9/api/orders/get/"),
                                 (roapp, "POST", "http://127.0.0.1:9/v2/contacts/people"),
                                 (roapp, "PATCH", "http://127.0.0.1:9/v2/orders/1")):
        with pytest.raises(WriteRefused):
            session.request(method, url)
    assert cartum.exchanges == roapp.exchanges == []  # refused before anything was sent


def test_recorded_answers_name_no_one_and_still_work_as_fixtures(tmp_path, filled_roapp):
    app = CartumSandbox.seeded(seed=4, orders=60, products=8, customers=10)
    with serving(app) as cartum:
        state = cartum.admin.state()
        probe(cartum, filled_roapp, record=tmp_path)
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.json"))
    assert "cartum/orders__get.json" in files and "roapp/people.json" in files and "cartum/auth.json" not in files
    text = "\n".join(p.read_text(encoding="utf-8") for p in tmp_path.rglob("*.json"))
    secrets = [CARTUM_PASSWORD, ROAPP_KEY]
    people = [v for o in state["orders"] for v in (o["delivery_name"], o["delivery_email"], o["delivery_phone"],
                                                    o["delivery_address"], o["comment"]) if v and len(v) > 3]
    people += [v for u in state["users"] for v in (u["title"], u["email"], u["phone"], u["address"]) if v]
    people += ["olena0@example.com", "+380501234560", "Olena0"]
    leaked = sorted({v for v in people + secrets if v in text})
    assert leaked == []
    assert not re.search(r'"token"', text)
    recorded = json.loads((tmp_path / "cartum/orders__get.json").read_text(encoding="utf-8"))
    assert recorded["status"] == "OK"
    orders = recorded["response"]["orders"]
    original = {o["order_id"]: o for o in state["orders"]}
    assert [set(o) for o in orders] == [set(original[o["order_id"]]) - {"lang"} for o in orders]
    # the same buyers are the same clients in the redacted answer
    real = [{**original[o["order_id"]], "user": o["user"]} for o in orders]
    assert _groups(build_clients(orders, [], country="UA")) == _groups(build_clients(real, [], country="UA"))


def _groups(result) -> list[list[int]]:
    """The orders grouped by client, whatever the clients' keys."""
    groups: dict[str, list[int]] = {}
    for order_id, key in result.order_client.items():
        groups.setdefault(key, []).append(order_id)
    return sorted(sorted(ids) for ids in groups.values())


def test_redact_keeps_shapes_codes_and_links():
    order = {"order_id": 5, "user": {"id": 7, "title": "Іван Петренко", "email": "ivan@example.com",
                                     "phone": "+380 50 123 45 67"},
             "delivery_phone": "0501234567", "delivery_email": "Ivan@Example.com", "comment": "Дзвонити після 18",
             "products": [{"article": "SKU-1", "title": "Кабель USB-C", "gtin": "4820000000012", "price": 10}],
             "stat_created": "2025-06-01 10:00:00"}
    out = redact(order)
    assert out["order_id"] == 5 and out["user"]["id"] == 7 and out["products"] == order["products"]
    assert out["stat_created"] == order["stat_created"]
    assert out["user"]["email"] == out["delivery_email"] != order["delivery_email"]
    assert out["user"]["email"].endswith("@example.com") and "ivan" not in out["user"]["email"]
    assert out["user"]["phone"][-9:].replace(" ", "") != "1234567"
    assert re.sub(r"\D", "", out["user"]["phone"])[-9:] == re.sub(r"\D", "", out["delivery_phone"])[-9:]
    assert out["user"]["phone"].startswith("+380 50 ") and out["delivery_phone"].startswith("050")
    assert "Іван" not in json.dumps(out, ensure_ascii=False) and "18" not in out["comment"]


# --- the command ---------------------------------------------------------------------------

def test_the_command_probes_a_connection_before_stores_add(airflow_home, tmp_path):
    app = CartumSandbox.seeded(seed=3, orders=20, products=5, customers=4, profile="alternative")
    with serving(app) as cartum, serving(RoAppSandbox.seeded(api_keys=[ROAPP_KEY]), rate_limit=0) as roapp:
        fill_roapp(roapp.url)
        roapp.admin.clear_requests()
        airflow_home.db(put_connections=[
            {"conn_id": "cartum_probe_shop", "conn_type": "cartum", "host": cartum.url, "login": CARTUM_LOGIN,
             "password": CARTUM_PASSWORD, "extra": json.dumps({"user_agent": "ProbeShop/1.0"})},
            {"conn_id": "roapp_probe", "conn_type": "roapp", "host": roapp.url, "password": ROAPP_KEY}])
        as_json = airflow_home.cli("probe", "cartum_probe_shop", "--roapp-conn-id", "roapp_probe", "--json",
                                   "--record", str(tmp_path / "rec"))
        text = airflow_home.cli("probe", "--roapp-only", "--roapp-conn-id", "roapp_probe")
        missing = airflow_home.cli("probe", "no_such_store", "--roapp-conn-id", "roapp_probe")
        cartum_log, roapp_log = cartum.admin.requests(), roapp.admin.requests()
        roapp_state = roapp.admin.state()

    assert as_json.returncode == 0, as_json.stderr
    result = json.loads(as_json.stdout)
    verdicts = {f["fact"]: f["verdict"] for f in result["findings"]}
    assert {f for f, v in verdicts.items() if v == CONTRADICTED and f.startswith("cartum.")} == {
        "cartum.order_user", "cartum.plain_user_agent"}
    assert result["systems"][0]["user_agent"] == "ProbeShop/1.0"
    assert (tmp_path / "rec" / "report.json").exists() and (tmp_path / "rec" / "roapp" / "products.json").exists()
    assert text.returncode == 0, text.stderr
    assert "Facts:" in text.stdout and "roapp.employees_path" in text.stdout and "cartum." not in text.stdout
    assert missing.returncode == 2 and "no store 'no_such_store'" in missing.stderr
    assert {e["method"] for e in roapp_log} == {"GET"}
    assert {e["path"].removeprefix("/api/").strip("/") for e in cartum_log} <= CARTUM_READS
    assert len(roapp_state["people"]) == 2  # nothing created
