"""The run history page's JSON endpoints, served by a real ``airflow api-server`` that
loads the package's plugin, on a state database filled by real syncs against the
sandboxes: the numbers equal the database's; anonymous and badly signed requests are
refused; only a user with edit rights acts; the page sits in Airflow's navigation."""

from __future__ import annotations

import csv
import io
import json
import socket
import subprocess
import time

import pytest
import requests
from sqlalchemy import func, select

from cartum_roapp_sync.state.db import get_engine
from cartum_roapp_sync.state.tables import quarantine, run_entities, runs
from tests.pipeline import checks
from tests.pipeline.e2e import Sync, make_sync
from tests.setup.conftest import VENV_BIN

STORE = "history_web"
USERS = {"admin": "admin-pass-1", "viewer": "viewer-pass-2"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def api_server(airflow_home):
    """``airflow api-server`` on the test's Airflow home, with an admin and a viewer."""
    passwords = airflow_home.path / "history_web_passwords.json"
    passwords.write_text(json.dumps(USERS))
    port = _free_port()
    env = {**airflow_home.env, "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin,viewer:viewer",
           "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
           "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}"}
    log = open(airflow_home.path / "history_web_api_server.log", "w")
    process = subprocess.Popen([str(VENV_BIN / "airflow"), "api-server", "--port", str(port), "--host", "127.0.0.1"],
                               env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                if requests.get(f"{url}/api/v2/monitor/health", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert process.poll() is None and time.monotonic() < deadline, (
                "the API server did not start:\n" + (airflow_home.path / "history_web_api_server.log").read_text()[-3000:])
            time.sleep(1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def token(url: str, user: str) -> str:
    answer = requests.post(f"{url}/auth/token", json={"username": user, "password": USERS[user]}, timeout=30)
    assert answer.status_code in (200, 201), answer.text
    return answer.json()["access_token"]


@pytest.mark.slow
def test_the_pages_json_equals_the_state_database_and_needs_a_login(airflow_home, cartum_sandbox, roapp_sandbox,
                                                                     api_server):
    engine = get_engine(airflow_home.state_url)
    sync: Sync = make_sync(cartum_sandbox, roapp_sandbox, engine, store_id=STORE)
    airflow_home.db(add_stores=[sync.config.to_dict()])
    cartum = cartum_sandbox.admin.state()
    buyer = sorted((o for o in cartum["orders"] if o["stat_status"] in (1, 2) and o["delivery_phone"]),
                   key=lambda o: o["stat_created"], reverse=True)
    rejected, found = buyer[0]["order_id"], buyer[1]
    roapp_sandbox.admin.action("reject", {"method": "POST", "path": "/v2/orders", "field": "manager_notes",
                                          "contains": checks.marker(STORE, rejected), "message": "Stop list"})
    assert sync.harness.run(run_id="import")["run"]["status"] == "success"
    assert sync.harness.run(run_id="again")["run"]["status"] == "success"
    api = f"{api_server}/cartum-roapp/api"

    # anonymous: refused, the page too; a token not signed by this Airflow: refused
    assert requests.get(f"{api}/stores", timeout=30).status_code == 401
    assert requests.get(f"{api_server}/cartum-roapp/", timeout=30).status_code == 401
    assert requests.post(f"{api}/quarantine/1/retry", timeout=30).status_code == 401
    forged = requests.get(f"{api}/stores", headers={"Authorization": "Bearer not.a.token"}, timeout=30)
    assert forged.status_code in (401, 403)

    admin = {"Authorization": f"Bearer {token(api_server, 'admin')}"}
    viewer = {"Authorization": f"Bearer {token(api_server, 'viewer')}"}
    stores = {s["store_id"]: s for s in requests.get(f"{api}/stores", headers=admin, timeout=30).json()}
    mine = stores[STORE]
    with engine.connect() as c:
        open_rows = c.execute(select(quarantine.c.id).where(quarantine.c.store_id == STORE,
                                                            quarantine.c.resolved_at.is_(None))).scalars().all()
        last = c.execute(select(runs.c.run_id, runs.c.status).where(runs.c.store_id == STORE).order_by(
            runs.c.started_at.desc())).first()
        created = c.execute(select(func.sum(run_entities.c.created)).where(
            run_entities.c.store_id == STORE, run_entities.c.run_id == "import",
            run_entities.c.entity == "orders")).scalar_one()
    assert mine["open_quarantine"] == len(open_rows) == 1
    assert (mine["last_run"]["run_id"], mine["last_run"]["status"]) == tuple(last)
    assert mine["orders_synced_today"] == created == len(sync.view().orders_by_cartum_id)
    assert mine["name"] == "Demo shop"

    listed = requests.get(f"{api}/stores/{STORE}/runs", headers=admin, timeout=30).json()
    assert [r["run_id"] for r in listed] == ["again", "import"]
    for run in listed:
        assert run["entities"] == sync.state.run_summary(run["run_id"])["entities"]
    table = list(csv.DictReader(io.StringIO(requests.get(f"{api}/stores/{STORE}/runs", params={"format": "csv"},
                                                         headers=admin, timeout=30).text)))
    assert [(r["run_id"], int(r["created"])) for r in table] == [(r["run_id"], r["totals"]["created"]) for r in listed]
    held = requests.get(f"{api}/stores/{STORE}/quarantine", headers=admin, timeout=30).json()
    assert [q["id"] for q in held] == open_rows and "Stop list" in held[0]["reason"]
    quality = requests.get(f"{api}/stores/{STORE}/runs/import/quality", headers=admin, timeout=30).json()
    assert {q["entity"] for q in quality} == {"clients", "orders", "products"} and all(q["text"] for q in quality)

    stories = requests.get(f"{api}/orders", params={"q": found["delivery_phone"]}, headers=admin, timeout=30).json()
    story = next(s for s in stories if s["order"] == str(found["order_id"]))
    assert story["roapp_id"] == sync.view().order(found["order_id"])["id"]
    assert [e["event"] for e in story["events"]][:2] == ["read", "created"]

    # the page itself, with the cookie the UI's login sets
    page = requests.get(f"{api_server}/cartum-roapp/stores/{STORE}", cookies={"_token": admin["Authorization"][7:]},
                        timeout=30)
    assert page.status_code == 200 and "id='runs-chart'" in page.text and "Stop list" in page.text

    # acting needs edit rights: the viewer may read, not retry or resolve
    assert requests.get(f"{api}/stores", headers=viewer, timeout=30).status_code == 200
    row = open_rows[0]
    assert requests.post(f"{api}/quarantine/{row}/retry", headers=viewer, timeout=30).status_code == 403
    assert requests.post(f"{api}/quarantine/{row}/resolve", json={"note": "x"}, headers=viewer, timeout=30).status_code == 403
    assert requests.post(f"{api}/stores/{STORE}/trigger", headers=viewer, timeout=30).status_code == 403
    retried = requests.post(f"{api}/quarantine/{row}/retry", headers=admin, timeout=30)
    assert retried.status_code == 200 and "re-reads the order" in retried.json()["how"]
    assert requests.post(f"{api}/quarantine/{row}/resolve", json={"note": ""}, headers=admin, timeout=30).status_code == 400
    done = requests.post(f"{api}/quarantine/{row}/resolve", json={"note": "handled by phone"}, headers=admin, timeout=30)
    assert done.status_code == 200
    with engine.connect() as c:
        resolution = c.execute(select(quarantine.c.resolution).where(quarantine.c.id == row)).scalar_one()
    assert resolution == "resolved by admin: handled by phone"
    after = {s["store_id"]: s for s in requests.get(f"{api}/stores", headers=admin, timeout=30).json()}
    assert after[STORE]["open_quarantine"] == 0
    # the store's DAG was never parsed by this Airflow: the trigger says so
    refused = requests.post(f"{api}/stores/{STORE}/trigger", headers=admin, timeout=30)
    assert refused.status_code == 409 and "is not in Airflow yet" in refused.json()["detail"]

    # the page's entry in Airflow's navigation
    plugins = requests.get(f"{api_server}/api/v2/plugins", headers=admin, timeout=30).json()["plugins"]
    ours = next(p for p in plugins if p["name"] == "cartum_roapp_history")
    assert [(v["name"], v["href"], v["destination"]) for v in ours["external_views"]] == [
        ("Sync history", "/cartum-roapp/", "nav")]
