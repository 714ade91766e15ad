"""``cartum-roapp history``, ``order`` and ``quarantine`` as a user runs them (real
subprocesses against a real Airflow metadata database), on a state database filled by real
syncs against the sandboxes: what they print equals what the state database holds."""

from __future__ import annotations

import json

from cartum_roapp_sync.history import queries
from cartum_roapp_sync.state.db import get_engine
from tests.pipeline import checks
from tests.pipeline.e2e import Sync, make_sync
from tests.setup.test_cli import ok

STORE = "history_cli"


def test_history_order_and_quarantine_commands(airflow_home, cartum_sandbox, roapp_sandbox):
    engine = get_engine(airflow_home.state_url)
    sync: Sync = make_sync(cartum_sandbox, roapp_sandbox, engine, store_id=STORE)
    airflow_home.db(add_stores=[sync.config.to_dict()])
    cli = airflow_home.cli
    try:
        cartum = cartum_sandbox.admin.state()
        recent = sorted((o for o in cartum["orders"] if o["stat_status"] in (1, 2)), key=lambda o: o["stat_created"],
                        reverse=True)
        loaded, rejected = recent[0]["order_id"], recent[1]["order_id"]
        roapp_sandbox.admin.action("reject", {"method": "POST", "path": "/v2/orders", "field": "manager_notes",
                                              "contains": checks.marker(STORE, rejected), "message": "Stop list"})
        assert sync.harness.run(run_id="import")["run"]["status"] == "success"
        assert sync.harness.run(run_id="again")["run"]["status"] == "success"

        # every store: the JSON is the overview the page shows; the table names the store
        shown = {s["store_id"]: s for s in json.loads(ok(cli("history", "--json")))}
        mine = queries.stores_overview(engine, only=[STORE], zones={STORE: sync.config.timezone})[0]
        assert shown[STORE]["open_quarantine"] == mine["open_quarantine"] == 1
        assert shown[STORE]["orders_synced_today"] == mine["orders_synced_today"] == len(sync.view().orders_by_cartum_id)
        assert shown[STORE]["last_run"]["run_id"] == "again" and shown[STORE]["name"] == "Demo shop"
        table = ok(cli("history"))
        assert "OLDEST PENDING" in table and any(line.startswith(STORE + " ") for line in table.splitlines())

        # one store's runs, newest first, with the counts the run records hold
        runs = json.loads(ok(cli("history", "--store", STORE, "--json")))
        assert [r["run_id"] for r in runs] == ["again", "import"]
        assert runs[1]["entities"] == sync.state.run_summary("import")["entities"]
        assert len(json.loads(ok(cli("history", "--store", STORE, "--last", "1", "--json")))) == 1
        text = ok(cli("history", "--store", STORE))
        created = sum(e["created"] for e in runs[1]["entities"].values())
        assert any(line.startswith("import ") and f" {created} " in line for line in text.splitlines())

        # an order's story
        story = ok(cli("order", STORE, str(loaded)))
        roapp_id = sync.view().order(loaded)["id"]
        assert f"Order {loaded} of store {STORE}: RO App order {roapp_id}, synced" in story
        for said in ("read from Cartum", "created in RO App", "items added", "RO App status set to", "comment posted"):
            assert said in story
        held = ok(cli("order", STORE, str(rejected)))
        assert "RO App order (none yet)" in held and "quarantined at load: " in held and "Stop list" in held
        missing = cli("order", STORE, "777777")
        assert missing.returncode == 2 and "order 777777 of store 'history_cli' is not in the state database" in missing.stderr

        # the quarantine: listed, retried, resolved with a note, and then gone from the list
        row = queries.open_quarantine(engine, STORE)[0]
        listed = ok(cli("quarantine", "--store", STORE))
        assert f"{row['id']} " in listed and "Stop list" in listed and str(rejected) in listed
        said = ok(cli("quarantine", "retry", str(row["id"])))
        assert f"#{row['id']} {STORE} orders {rejected}: the next run re-reads the order" in said
        said = ok(cli("quarantine", "resolve", str(row["id"]), "--note", "blocked buyer, handled by phone"))
        assert "resolved with your note" in said
        assert "Nothing is quarantined for store 'history_cli'." in ok(cli("quarantine", "--store", STORE))
        story = queries.order_story(engine, STORE, str(rejected))
        assert story["quarantine"][0]["resolution"] == "resolved by cartum-roapp: blocked buyer, handled by phone"
        again = cli("quarantine", "resolve", str(row["id"]), "--note", "twice")
        assert again.returncode == 2 and f"quarantine row {row['id']} is not open" in again.stderr
        assert cli("quarantine", "retry").returncode == 2
    finally:
        ok(cli("stores", "remove", STORE, "--yes", "--purge"))
