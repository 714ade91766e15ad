"""``cartum-roapp stores dry-run <store>`` as a user runs it (a real subprocess against a
real Airflow metadata database, the store's connections and its state database), against
the sandboxes: it shows the first import of a store that never synced and, after a change,
the change; what it says equals what the next real run does; it writes nothing."""

from __future__ import annotations

import json

from cartum_roapp_sync.setup.cli import build_parser
from cartum_roapp_sync.state.db import get_engine
from tests.conftest import CARTUM_LOGIN, CARTUM_PASSWORD, ROAPP_KEY
from tests.pipeline import checks
from tests.pipeline.e2e import make_sync
from tests.pipeline.test_dry_run import CARTUM_READS, COMPARED, state_rows
from tests.setup.test_cli import ok

STORE = "dry_run_cli"


def test_the_dry_run_command_shows_the_next_run_and_writes_nothing(airflow_home, cartum_sandbox, roapp_sandbox):
    sync = make_sync(cartum_sandbox, roapp_sandbox, get_engine(airflow_home.state_url), store_id=STORE,
                     cartum_conn_id=f"cartum_{STORE}", roapp_conn_id=f"roapp_{STORE}")
    airflow_home.db(add_stores=[sync.config.to_dict()], put_connections=[
        {"conn_id": f"roapp_{STORE}", "conn_type": "roapp", "host": roapp_sandbox.url, "password": ROAPP_KEY},
        {"conn_id": f"cartum_{STORE}", "conn_type": "cartum", "host": cartum_sandbox.url, "login": CARTUM_LOGIN,
         "password": CARTUM_PASSWORD}])

    def dry(*flags: str) -> str:
        before_state, before_roapp = state_rows(sync), roapp_sandbox.admin.state()
        sync.clear_logs()
        said = ok(airflow_home.cli("stores", "dry-run", STORE, *flags, timeout=180))
        assert {r["method"] for r in roapp_sandbox.admin.requests()} == {"GET"}
        assert set(checks.function_calls(cartum_sandbox.admin.requests())) <= CARTUM_READS
        assert roapp_sandbox.admin.state() == before_roapp and state_rows(sync) == before_state
        assert ROAPP_KEY not in said and CARTUM_PASSWORD not in said
        sync.clear_logs()
        return said

    try:
        # never synced: the first import, as JSON; the real import then does exactly that
        report = json.loads(dry("--json", "--show", "2"))
        assert (report["mode"], report["completed"], report["nothing_written"]) == ("first_import", True, True)
        summary = sync.harness.run(run_id="import")
        for entity, counts in summary["entities"].items():
            assert {k: report["entities"][entity][k] for k in COMPARED} == {k: counts[k] for k in COMPARED}
        assert report["write_count"] == summary["run"]["roapp_writes"] > 0
        assert all(len(shown) <= 2 for actions in report["records"].values() for shown in actions.values())

        # a new order: the text report names it, and the client and items it brings
        cartum = cartum_sandbox.admin.state()
        new_id = max(o["order_id"] for o in cartum["orders"]) + 1
        cartum_sandbox.admin.action("upsert_orders", [{
            "order_id": new_id, "stat_status": 1, "delivery_name": "Олег Бондар", "delivery_phone": "+380671112233",
            "user": None, "products": [{"article": cartum["products"][0]["article"], "quantity": 2}]}])
        text = dry()
        assert f"Dry run of store '{STORE}': the next run would be an incremental run. Nothing was written" in text
        assert "orders: would create 1\n" in text and f"  order {new_id}\n" in text
        assert "clients: would create 1\n" in text and "first_name Олег, last_name Бондар" in text
        assert "item added: product " in text and " × 2 at " in text
        summary = sync.harness.run(run_id="after")
        assert (summary["entities"]["orders"]["created"], summary["entities"]["clients"]["created"]) == (1, 1)
    finally:
        ok(airflow_home.cli("stores", "remove", STORE, "--yes", "--purge"))


def test_an_unknown_store_is_refused(airflow_home):
    result = airflow_home.cli("stores", "dry-run", "no_such_store")
    assert result.returncode == 2
    assert "no store 'no_such_store' in the Variable cartum_roapp_stores" in result.stderr


def test_dry_run_help(capsys):
    """The help says what the command does; the parser is built without Airflow (the
    subprocess check of that for the whole parser is in ``test_reconcile_command``)."""
    try:
        build_parser().parse_args(["stores", "dry-run", "--help"])
    except SystemExit as exit:
        assert exit.code == 0
    said = " ".join(capsys.readouterr().out.split())
    assert "--show N" in said and "Nothing is written: no RO App write, no change to the sync state" in said
