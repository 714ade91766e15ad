"""Faults where the app applies a write and its answer is lost (``apply_*``), targeted
fault rules, the random ``apply_error_rate`` and the fault recorded in the request log,
over real HTTP against the RO App sandbox (and Cartum's notion of a write)."""

from __future__ import annotations

import argparse
import threading
import time

import pytest
import requests

from cartum_roapp_sandbox.admin import SandboxAdmin
from cartum_roapp_sandbox.cartum import CartumSandbox
from cartum_roapp_sandbox.roapp import DEFAULT_API_KEY
from cartum_roapp_sandbox.server import (APPLY_FAULTS, FaultSettings, SandboxServer, add_common_arguments,
                                         faults_from_arguments)

AUTH = {"Authorization": f"Bearer {DEFAULT_API_KEY}"}


def call(server, method: str, path: str, body: dict | None = None, timeout: float = 5) -> requests.Response:
    """A fresh connection per call, so a dropped one never spoils the next."""
    return requests.request(method, server.url + path, json=body, headers=AUTH, timeout=timeout)


def create_person(server, name: str = "Olha", **kwargs) -> requests.Response:
    return call(server, "POST", "/v2/contacts/people", {"first_name": name}, **kwargs)


def people(admin) -> list[str]:
    return [p["first_name"] for p in admin.state()["people"]]


def new_order(server) -> int:
    client = create_person(server).json()["id"]
    answer = call(server, "POST", "/v2/orders", {"branch_id": 101, "order_type_id": 301, "client_id": client})
    assert answer.status_code == 201, answer.text
    return answer.json()["id"]


def new_product(server) -> int:
    answer = call(server, "POST", "/v2/catalog/products", {"title": "Case", "prices": [{"price": 100}]})
    assert answer.status_code == 201, answer.text
    return answer.json()["id"]


def faulted(admin) -> list[tuple[str, str, int, str | None, int | None]]:
    return [(r["method"], r["path"], r["status"], r["fault"], r["applied_status"])
            for r in admin.requests() if r["fault"]]


# --- each applied fault kind ------------------------------------------------------------

def test_apply_drop_applies_the_write_and_closes_the_connection(server, admin):
    admin.faults(script=["apply_drop"])
    with pytest.raises(requests.ConnectionError):
        create_person(server, "Dropped")
    assert people(admin) == ["Dropped"]  # applied exactly once
    assert faulted(admin) == [("POST", "/v2/contacts/people", 0, "apply_drop", 201)]
    assert create_person(server, "Next").status_code == 201  # the fault was used up
    assert people(admin) == ["Dropped", "Next"]


@pytest.mark.parametrize("fault, html_errors, status, html", [
    ("apply_502", False, 502, False),
    ("apply_502", True, 502, True),
    ("apply_html502", False, 502, True),
    ("apply_504", False, 504, False),
    ("apply_504", True, 504, True),
    ("apply_html504", False, 504, True),
])
def test_apply_5xx_applies_the_write_and_answers_an_error(server, admin, fault, html_errors, status, html):
    admin.faults(script=[fault], html_errors=html_errors)
    answer = create_person(server, "Applied")
    assert answer.status_code == status
    if html:
        assert answer.headers["Content-Type"].startswith("text/html") and "<html" in answer.text
        assert ("Bad Gateway" if status == 502 else "Gateway Time-out") in answer.text
    else:
        assert answer.json() == {"message": f"sandbox fault {status}"}
    assert people(admin) == ["Applied"]
    assert faulted(admin) == [("POST", "/v2/contacts/people", status, fault, 201)]


def test_apply_timeout_applies_the_write_and_holds_the_answer_without_blocking_others(server, admin):
    admin.faults(script=["apply_timeout"], timeout_s=1.5)
    started = time.monotonic()
    with pytest.raises(requests.ReadTimeout):
        create_person(server, "Slow", timeout=0.3)
    assert people(admin) == ["Slow"]  # applied before the client gave up
    # the held answer does not block other requests
    other = time.monotonic()
    assert call(server, "GET", "/v2/contacts/people").json()["count"] == 1
    assert time.monotonic() - other < 0.5 and time.monotonic() - started < 1.2
    assert faulted(admin) == [("POST", "/v2/contacts/people", 201, "apply_timeout", 201)]


def test_apply_timeout_answer_arrives_after_timeout_s(server, admin):
    admin.faults(script=["apply_timeout"], timeout_s=0.4)
    started = time.monotonic()
    answer = create_person(server, "Late", timeout=5)
    assert answer.status_code == 201 and answer.json()["first_name"] == "Late"
    assert time.monotonic() - started >= 0.4
    assert admin.faults()["timeout_s"] == 0.4 and FaultSettings().timeout_s == 35.0


def test_timeout_and_drop_before_the_app_change_nothing(server, admin):
    admin.faults(script=["timeout", "drop", "504"], timeout_s=0.3)
    with pytest.raises(requests.ConnectionError):
        create_person(server, "Never", timeout=5)  # held 0.3 s, then closed unanswered
    with pytest.raises(requests.ConnectionError):
        create_person(server, "Never")
    assert create_person(server, "Never").status_code == 504
    assert people(admin) == []
    assert [(r["status"], r["fault"], r["applied_status"]) for r in admin.requests()] == [
        (0, "timeout", None), (0, "drop", None), (504, "504", None)]


def test_an_applied_item_with_its_answer_lost_is_on_the_order_once(server, admin):
    order, product = new_order(server), new_product(server)
    admin.fault_rules([{"method": "POST", "path": "/v2/orders/*/items", "fault": "apply_502"}])
    answer = call(server, "POST", f"/v2/orders/{order}/items", {"entity_id": product, "quantity": 2})
    assert answer.status_code == 502
    held = admin.state()["orders"][0]["items"]
    assert [(i["entity_id"], i["quantity"], i["price"]) for i in held] == [(product, 2, 100)]
    assert isinstance(held[0]["id"], int)
    assert len([r for r in faulted(admin) if r[3].startswith("apply_")]) == 1


# --- targeted rules -----------------------------------------------------------------------

def test_rules_match_by_method_and_path_glob_and_fire_times_times(server, admin):
    order, product = new_order(server), new_product(server)
    rules = admin.fault_rules([{"method": "post", "path": "/v2/orders/*/items", "fault": "apply_drop", "times": 2}])
    assert rules == [{"method": "POST", "path": "/v2/orders/*/items", "fault": "apply_drop", "times": 2}]
    items = f"/v2/orders/{order}/items"
    assert call(server, "GET", items).status_code == 200  # another method
    assert call(server, "POST", f"/v2/orders/{order}/comments", {"comment": "hi"}).status_code == 201  # path
    assert new_order(server)  # POST /v2/orders does not match /v2/orders/*/items
    with pytest.raises(requests.ConnectionError):
        call(server, "POST", items, {"entity_id": product})
    assert admin.fault_rules()[0]["times"] == 1  # what is left shows
    with pytest.raises(requests.ConnectionError):
        call(server, "POST", items + "/", {"entity_id": product})  # a trailing slash matches too
    assert admin.fault_rules() == [] and admin.faults()["rules"] == []
    assert call(server, "POST", items, {"entity_id": product}).status_code == 201
    assert len(admin.state()["orders"][0]["items"]) == 3  # 2 applied with the answer lost, 1 answered
    assert [r[3] for r in faulted(admin)] == ["apply_drop", "apply_drop"]


def test_a_rule_without_method_matches_any_and_rules_come_before_script_and_random(server, admin):
    admin.faults(script=["500"], error_rate=1.0, error_codes=["503"])
    admin.fault_rules([{"path": "/branches", "fault": "429"}, {"path": "/v2/orders/statuses", "fault": "502"}])
    assert call(server, "GET", "/v2/orders/types").status_code == 500  # no rule: the script
    assert call(server, "GET", "/v2/orders/statuses").status_code == 502  # the rule, before random
    assert call(server, "GET", "/branches/").status_code == 429
    assert call(server, "GET", "/branches/").status_code == 503  # rule spent, script empty: random
    assert [r["fault"] for r in admin.requests()] == ["500", "502", "429", "503"]


def test_rules_are_replaced_and_cleared(server, admin):
    admin.fault_rules([{"path": "/v2/*", "fault": "500", "times": 5}, {"path": "/branches", "fault": "drop"}])
    assert [r["times"] for r in admin.fault_rules()] == [5, 1]
    admin.fault_rules([{"path": "/employees", "fault": "503"}])
    assert [r["path"] for r in admin.fault_rules()] == ["/employees"]
    admin.clear_fault_rules()
    assert admin.fault_rules() == []
    assert call(server, "GET", "/employees/").status_code == 200
    admin.faults(rules=[{"path": "/employees", "fault": "503"}])  # the generic call takes them too
    assert call(server, "GET", "/employees/").status_code == 503


@pytest.mark.parametrize("rule", [
    {"path": "/v2/orders", "fault": "explode"},
    {"path": "/v2/orders", "fault": "drop", "times": 0},
    {"path": "/v2/orders", "fault": "drop", "times": "2"},
    {"fault": "drop"},
    {"path": "v2/orders", "fault": "drop"},
    {"path": "/v2/orders", "fault": "drop", "when": "now"},
    "drop",
])
def test_a_bad_rule_is_refused_and_changes_nothing(server, admin, rule):
    admin.fault_rules([{"path": "/branches", "fault": "drop"}])
    with pytest.raises(RuntimeError, match="400"):
        admin.fault_rules([{"path": "/employees", "fault": "503"}, rule])
    assert [r["path"] for r in admin.fault_rules()] == ["/branches"]


def test_an_applied_fault_refused_by_the_rate_limit_waits_for_a_request_the_app_handles(server, admin):
    admin.faults(rate_limit=1, rate_window=0.5)
    admin.fault_rules([{"method": "POST", "path": "/v2/contacts/people", "fault": "apply_502"}])
    started = time.monotonic()
    assert call(server, "GET", "/branches/").status_code == 200
    assert create_person(server, "Refused").status_code == 429  # never reached the app
    assert time.monotonic() - started < 0.5, "too slow to test a half-second window"
    assert admin.fault_rules()[0]["times"] == 1 and people(admin) == []
    time.sleep(0.55)
    assert create_person(server, "Applied").status_code == 502
    assert people(admin) == ["Applied"] and admin.fault_rules() == []
    assert [(r["status"], r["fault"]) for r in admin.requests()] == [(200, None), (429, None), (502, "apply_502")]


# --- random applied faults -----------------------------------------------------------------

def test_apply_error_rate_hits_only_writes(server, admin):
    admin.faults(apply_error_rate=1.0, apply_error_kinds=["apply_504"])
    assert call(server, "GET", "/branches/").status_code == 200
    assert create_person(server, "A").status_code == 504
    assert call(server, "GET", "/v2/contacts/people").json()["count"] == 1
    assert [(r["method"], r["fault"]) for r in admin.requests()] == [("GET", None), ("POST", "apply_504"),
                                                                   ("GET", None)]


def test_apply_error_rate_is_a_share_of_writes_each_applied_once(server, admin):
    admin.faults(apply_error_rate=0.5, apply_error_kinds=["apply_drop", "apply_502"])
    answered = 0
    for i in range(40):
        try:
            answered += create_person(server, f"P{i}").status_code == 201
        except requests.ConnectionError:
            pass
    assert len(people(admin)) == 40  # every write applied, exactly once
    lost = [r for r in admin.requests() if r["fault"]]
    assert answered + len(lost) == 40 and 5 <= len(lost) <= 35
    assert {r["fault"] for r in lost} <= {"apply_drop", "apply_502"}
    assert all(r["applied_status"] == 201 for r in lost)
    assert FaultSettings().apply_error_kinds == ["apply_drop", "apply_502", "apply_timeout"]


@pytest.mark.parametrize("changes", [{"apply_error_kinds": ["drop"]}, {"apply_error_kinds": []},
                                     {"apply_error_rate": "often"}, {"timeout_s": -1},
                                     {"script": ["apply_sometimes"]}])
def test_bad_applied_fault_settings_are_refused(admin, changes):
    with pytest.raises(RuntimeError, match="400"):
        admin.faults(**changes)


def test_the_request_log_names_no_fault_when_there_was_none(server, admin):
    create_person(server)
    admin.faults(script=["slow"], slow_ms=10)
    call(server, "GET", "/branches/")
    assert [(r["status"], r["fault"], r["applied_status"]) for r in admin.requests()] == [
        (201, None, None), (200, "slow", None)]


def test_scripted_apply_kinds_and_the_command_line_flags():
    assert set(APPLY_FAULTS) == {"apply_drop", "apply_502", "apply_504", "apply_html502", "apply_html504",
                                 "apply_timeout"}
    parser = argparse.ArgumentParser()
    add_common_arguments(parser, default_port=0)
    faults = faults_from_arguments(parser.parse_args(
        ["--apply-error-rate", "0.05", "--apply-error-kinds", "apply_drop,apply_504", "--timeout-s", "2"]))
    assert (faults.apply_error_rate, faults.apply_error_kinds, faults.timeout_s) == (0.05, ["apply_drop",
                                                                                          "apply_504"], 2.0)
    defaults = faults_from_arguments(parser.parse_args([]))
    assert (defaults.apply_error_rate, defaults.timeout_s, defaults.rules) == (0.0, 35.0, [])


def test_many_held_answers_at_once_block_nobody(server, admin):
    admin.faults(script=["apply_timeout"] * 6, timeout_s=1.0)
    errors: list[type] = []

    def slow_write(i: int) -> None:
        try:
            create_person(server, f"Held {i}", timeout=0.2)
        except requests.RequestException as exc:
            errors.append(type(exc))

    threads = [threading.Thread(target=slow_write, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert errors == [requests.ReadTimeout] * 6
    started = time.monotonic()
    assert call(server, "GET", "/v2/contacts/people").json()["count"] == 6
    assert time.monotonic() - started < 0.5


# --- Cartum: only orders/update is a write ---------------------------------------------------

def test_cartum_apply_error_rate_hits_orders_update_only():
    app = CartumSandbox.seeded(seed=7, orders=10, products=5, customers=3, days=30)
    with SandboxServer(app, port=0) as server:
        admin = SandboxAdmin(server.url)
        admin.faults(apply_error_rate=1.0, apply_error_kinds=["apply_drop"])
        auth = requests.post(f"{server.url}/api/auth/", json={"login": "sandbox_admin",
                                                              "password": "sandbox-password"}, timeout=5)
        token = auth.json()["response"]["token"]
        got = requests.post(f"{server.url}/api/orders/get/", json={"token": token, "limit": 1}, timeout=5)
        order = got.json()["response"]["orders"][0]
        status = next(s["id"] for s in admin.state()["statuses"] if s["id"] != order["stat_status"])
        with pytest.raises(requests.ConnectionError):
            requests.post(f"{server.url}/api/orders/update/",
                          json={"token": token, "orders": [{"order_id": order["order_id"], "status": status}]},
                          timeout=5)
        held = {o["order_id"]: o for o in admin.state()["orders"]}
        assert held[order["order_id"]]["stat_status"] == status  # applied
        assert [(r["path"], r["fault"]) for r in admin.requests()] == [
            ("/api/auth/", None), ("/api/orders/get/", None), ("/api/orders/update/", "apply_drop")]
