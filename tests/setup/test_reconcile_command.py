"""``cartum-roapp stores reconcile <store>`` as a user runs it (a real subprocess against a
real Airflow metadata database and the store's state database), then the store's next
run, against the sandboxes: the request is honoured once, and the back-dated order the
5-minute runs missed arrives."""

from __future__ import annotations

import subprocess
import sys

from cartum_roapp_sync.entities import ORDERS
from cartum_roapp_sync.state.cursors import shift
from cartum_roapp_sync.state.db import get_engine
from tests.pipeline import checks
from tests.pipeline.e2e import Sync, make_sync
from tests.setup.test_cli import ok

STORE = "reconcile_cli"


def test_a_requested_reconcile_is_made_by_the_next_run(airflow_home, cartum_sandbox, roapp_sandbox):
    sync: Sync = make_sync(cartum_sandbox, roapp_sandbox, get_engine(airflow_home.state_url), store_id=STORE)
    airflow_home.db(add_stores=[sync.config.to_dict()])
    try:
        # before the first import there is nothing to reconcile: nothing is recorded
        before = ok(airflow_home.cli("stores", "reconcile", STORE))
        assert f"Store '{STORE}' has no sync state yet: its first run is the first import" in before
        assert "Nothing was requested." in before
        assert (sync.state.get_store_state() or {}).get("reconcile_requested_at") is None

        assert sync.harness.run(run_id="import")["run"]["status"] == "success"
        cartum = cartum_sandbox.admin.state()
        imported = checks.expected_import(cartum, sync.orders_from("import"))
        buyer = next(o for o in cartum["orders"] if o["delivery_phone"] and o["user"] is None)
        late = max(o["order_id"] for o in cartum["orders"]) + 1
        created = shift(sync.state.cursor(ORDERS).value, -24 * 60)
        cartum_sandbox.admin.action("upsert_orders", [{
            **{k: buyer[k] for k in ("delivery_name", "delivery_phone", "delivery_email", "lang")},
            "order_id": late, "stat_status": 2, "stat_created": created, "user": None,
            "products": [{"article": cartum["products"][3]["article"], "quantity": 2}]}])
        assert sync.harness.run(run_id="incremental")["run"]["mode"] == "incremental"

        said = ok(airflow_home.cli("stores", "reconcile", STORE))
        assert f"Reconcile requested for store '{STORE}' (Demo shop) at " in said
        assert "(the last 7 days, store time) and loads what RO App lacks or holds differently" in said
        assert "Last reconcile: " in said and f"nightly from {sync.config.reconcile_hour:02d}:00 store time" in said
        assert f"`airflow dags trigger cartum_roapp__{STORE}`" in said
        assert sync.state.get_store_state()["reconcile_requested_at"] is not None

        summary = sync.harness.run(run_id="requested")
        run, plan = summary["run"], sync.data("requested").plan()
        assert (plan.mode, plan.reconcile_reason) == ("reconcile", "requested")
        assert (run["status"], run["found_by_reconcile"]) == ("success", 1)
        expected = {**imported, late: next(o for o in cartum_sandbox.admin.state()["orders"] if o["order_id"] == late)}
        checks.check_orders(cartum_sandbox.admin.state(), sync.view(), sync.config, expected)
        checks.assert_no_duplicates(sync.view())

        # used up: the next run is incremental again
        assert sync.harness.run(run_id="after")["run"]["mode"] == "incremental"
    finally:
        ok(airflow_home.cli("stores", "remove", STORE, "--yes"))


def test_an_unknown_store_is_refused(airflow_home):
    result = airflow_home.cli("stores", "reconcile", "no_such_store")
    assert result.returncode == 2
    assert "no store 'no_such_store' in the Variable cartum_roapp_stores" in result.stderr


def test_reconcile_help_without_starting_airflow():
    script = """
import sys
from cartum_roapp_sync.setup.cli import build_parser
try:
    build_parser().parse_args(["stores", "reconcile", "--help"])
except SystemExit as exit:
    assert exit.code == 0
assert "airflow" not in sys.modules
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "usage: cartum-roapp stores reconcile" in result.stdout and "reconcile_days" in result.stdout
