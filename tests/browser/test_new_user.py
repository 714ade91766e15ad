"""What a new data engineer looks at in the demo's Airflow UI: the connection Test button
(success and failure, read from the UI's own toast) and the note of a run that
quarantined an order."""

from __future__ import annotations

import socket
import time

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.timeout(1200)]

DAG_ID = "cartum_roapp__demo"
TOAST = "[data-scope='toast'][data-part='root']"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def click_test(browser, demo, conn_id: str) -> str:
    """Clicks Test on the connection's row of the list; the toast's text (title and message)."""
    from selenium.webdriver.common.by import By

    browser.driver.get(f"{demo.url}/connections")
    row = f"//tr[.//*[normalize-space(text())='{conn_id}']]"
    button = browser.wait_for(
        lambda d: (d.find_elements(By.XPATH, f"{row}//button[@aria-label='Test Connection']") or [None])[0],
        60, f"the Test button of {conn_id}")
    button.click()
    toast = browser.wait_for(
        lambda d: next((t for t in d.find_elements(By.CSS_SELECTOR, TOAST) if "Test Connection" in t.text), None),
        120, f"the test result of {conn_id}")
    text = toast.text
    browser.screenshot(f"test-{conn_id}")
    return text


def test_the_connection_test_button_reports_success_and_failure(running_demo, browser):
    api = running_demo.api()
    roapp_url = running_demo.sandbox_url("roapp")
    port = closed_port()
    extra = [
        {"connection_id": "roapp_wrong_key", "conn_type": "roapp", "host": roapp_url, "password": "wrong-key-4711"},
        {"connection_id": "cartum_closed_port", "conn_type": "cartum", "host": f"http://127.0.0.1:{port}",
         "login": "someone", "password": "secret-4711"},
    ]
    for connection in extra:  # made as a user does: no port (the forms hide it)
        api.delete(f"{running_demo.url}/api/v2/connections/{connection['connection_id']}", timeout=30)
        answer = api.post(f"{running_demo.url}/api/v2/connections", json=connection, timeout=30)
        assert answer.status_code == 201, answer.text

    browser.login_airflow(running_demo)
    cartum = click_test(browser, running_demo, "cartum_demo")
    assert "Test Connection Successful" in cartum and "sandbox_admin" in cartum
    roapp = click_test(browser, running_demo, "roapp_default")
    assert "Test Connection Successful" in roapp

    wrong_key = click_test(browser, running_demo, "roapp_wrong_key")
    assert "Test Connection Failed" in wrong_key and "rejected the API key" in wrong_key
    assert "wrong-key-4711" not in wrong_key
    closed = click_test(browser, running_demo, "cartum_closed_port")
    assert "Test Connection Failed" in closed and f"127.0.0.1:{port}" in closed
    assert "then test again" in closed and "next run" not in closed and "secret-4711" not in closed


def test_a_run_that_quarantined_an_order_says_so_in_its_note(running_demo, browser):
    from cartum_roapp_sandbox.admin import SandboxAdmin
    from selenium.webdriver.common.by import By

    # An order moves to a status the store added later and nobody matched, on a platform
    # whose API does not list statuses (so only data quality can see it): it is quarantined.
    cartum = SandboxAdmin(running_demo.sandbox_url("cartum"))
    state = cartum.state()
    status = max(s["id"] for s in state["statuses"]) + 1
    cartum.action("add_statuses", [{"id": status, "title": "Чекає на запчастину"}])
    cartum.action("set_statuses_function", {"available": False})
    order = max((o for o in state["orders"] if o["stat_status"] in (1, 2, 6)), key=lambda o: o["stat_created"])
    cartum.action("upsert_orders", [{"order_id": order["order_id"], "stat_status": status}])

    api = running_demo.api()
    run_id = f"manual__quarantine_{int(time.time())}"
    answer = api.post(f"{running_demo.url}/api/v2/dags/{DAG_ID}/dagRuns",
                      json={"dag_run_id": run_id, "logical_date": None}, timeout=30)
    assert answer.status_code == 200, answer.text
    deadline = time.monotonic() + 900
    while True:
        run = api.get(f"{running_demo.url}/api/v2/dags/{DAG_ID}/dagRuns/{run_id}", timeout=30).json()
        if run["state"] in ("success", "failed") or time.monotonic() > deadline:
            break
        time.sleep(3)
    assert run["state"] == "success", run
    note = run["note"] or ""
    assert note.startswith("⚠ Quarantined: 1 record(s)"), note
    assert f"orders {order['order_id']} (quality): " in note and f"Cartum status {status}" in note
    assert "`quarantine` table" in note

    browser.login_airflow(running_demo)
    browser.driver.get(f"{running_demo.url}/dags/{DAG_ID}/runs/{run_id}")
    browser.wait_for(lambda d: "Quarantined: 1 record(s)" in d.find_element(By.TAG_NAME, "body").text, 60,
                     "the run's note")
    browser.screenshot("run-note")
    # the DAG's docs say where the rest is
    browser.driver.get(f"{running_demo.url}/dags/{DAG_ID}")
    docs = browser.wait_for(lambda d: (d.find_elements(By.CSS_SELECTOR, "button[aria-label='Dag Docs']") or [None])[0],
                            60, "the DAG docs button")
    docs.click()
    browser.wait_for(lambda d: "Quarantined records" in d.find_element(By.TAG_NAME, "body").text, 60, "the DAG docs")
    assert "FROM quarantine WHERE store_id = 'demo'" in browser.driver.find_element(By.TAG_NAME, "body").text
    browser.screenshot("dag-docs")
