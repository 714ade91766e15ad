"""The dry run (``pipeline.dryrun``) against the sandboxes: what it says the next run would
create, update or leave alone is what that run then does (its ``run_entities`` counts and
the writes RO App receives), on the first import and after changes on both sides; and it
writes nothing (the sandboxes' request logs, every store table of the state database)."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from sqlalchemy import select

from cartum_roapp_sync.cartum.client import CartumClient
from cartum_roapp_sync.pipeline.dryrun import DRY_RUN_ID, dry_run, plan_report, render_text
from cartum_roapp_sync.roapp.client import RoAppClient
from cartum_roapp_sync.state.tables import STORE_TABLES
from tests.conftest import CARTUM_LOGIN, CARTUM_PASSWORD, FAST_RETRY, ROAPP_KEY
from tests.pipeline import checks
from tests.pipeline.e2e import Sync

#: What reading Cartum calls: the dry run calls nothing else.
CARTUM_READS = {"auth", "orders/get", "orders/get_available_statuses", "catalog/export", "users/export"}
COMPARED = ("created", "updated", "unchanged", "quarantined", "failed")


def state_rows(sync: Sync) -> dict[str, list[tuple]]:
    """Every row of every store table, in a comparable order."""
    with sync.harness.engine.connect() as c:
        return {t.name: sorted((tuple(map(repr, r)) for r in c.execute(select(t)).all())) for t in STORE_TABLES}


def run_dry(sync: Sync) -> dict[str, Any]:
    """A dry run of the store, checked to have written nothing; returns its report."""
    before_state, before_roapp = state_rows(sync), sync.roapp.admin.state()
    sync.clear_logs()
    harness = sync.harness
    result = dry_run(
        sync.config, harness.engine,
        lambda: CartumClient(harness.cartum_url, CARTUM_LOGIN, CARTUM_PASSWORD, retry=FAST_RETRY,
                             requests_per_second=0),
        lambda: RoAppClient(ROAPP_KEY, harness.roapp_url, retry=FAST_RETRY))
    assert result.error is None
    # nothing written: RO App only read, Cartum only read functions, the state as it was
    roapp_log = sync.roapp.admin.requests()
    assert roapp_log and {r["method"] for r in roapp_log} == {"GET"}
    assert sync.roapp.admin.state() == before_roapp
    assert set(checks.function_calls(sync.cartum.admin.requests())) <= CARTUM_READS
    assert state_rows(sync) == before_state
    report = plan_report(result, show=3)
    assert report["calls"]["roapp_reads"] == len(roapp_log)
    assert report["calls"]["cartum"] == len(sync.cartum.admin.requests())
    sync.clear_logs()
    return report


def real_run(sync: Sync, run_id: str) -> tuple[dict[str, Any], Counter]:
    """The real run that follows: its counts, and the writes RO App accepted, by request kind."""
    summary = sync.harness.run(run_id=run_id)
    assert summary["run"]["status"] == "success"
    made = Counter(r["method"] + " " + re.sub(r"/\d+", "/{id}", r["path"])
                   for r in checks.writes(sync.roapp.admin.requests()) if r["status"] < 400)
    return summary, made


def assert_same(report: dict[str, Any], summary: dict[str, Any], made: Counter) -> None:
    for entity, counts in summary["entities"].items():
        assert {k: report["entities"][entity][k] for k in COMPARED} == {k: counts[k] for k in COMPARED}, entity
    assert Counter(report["writes"]) == made
    assert report["write_count"] == sum(made.values())
    assert report["mode"] == summary["run"]["mode"]


def shown(report: dict[str, Any], entity: str, action: str) -> dict[str, dict[str, Any]]:
    return {str(r["key"]): r for r in report["records"].get(entity, {}).get(action, [])}


def test_the_dry_run_says_what_the_next_run_does(sync: Sync):
    # a store that never synced: the first import
    report = run_dry(sync)
    assert report["mode"] == "first_import" and report["first_import"] is True and report["completed"]
    summary, made = real_run(sync, "import")
    assert_same(report, summary, made)
    cartum = sync.cartum.admin.state()
    expected = checks.expected_import(cartum, sync.orders_from("import"))
    assert report["entities"]["orders"]["created"] == len(expected) >= 10
    assert report["records_written"]["orders"] == {"create": len(expected)}
    first = next(iter(shown(report, "orders", "create").values()))
    assert int(first["key"]) in expected and first["roapp_id"] is None
    assert [c["what"] for c in first["changes"]][:1] == ["create"]
    assert {"create", "status", "comment"} <= {c["what"] for c in first["changes"]}
    text = "\n".join(render_text(report))
    assert "the FIRST IMPORT" in text and "Nothing was written" in text
    assert f"orders: would create {len(expected)} (the first 3)" in text

    # nothing changed: the dry run says so, and the real run agrees
    report = run_dry(sync)
    assert report["write_count"] == 0 and report["records"] == {}
    assert_same(report, *real_run(sync, "quiet"))

    # changes on both sides
    view = sync.view()
    final = checks.final_statuses(cartum, view.state, sync.config)
    open_orders = sorted((o for o in cartum["orders"] if o["order_id"] in expected and o["stat_status"] not in final
                          and o["stat_status"] != 2 and o["delivery_phone"]), key=lambda o: o["order_id"])
    renamed = next(o for o in open_orders if o["user"] is None)  # the buyer's name comes from the order
    status_changed, deleted = [o for o in open_orders if o is not renamed][:2]
    buyers = {checks.phone_tail(o["delivery_phone"]) for o in (status_changed, deleted, renamed)}
    gone_buyer = next(o for o in cartum["orders"] if o["order_id"] in expected and o["user"] is None
                      and o["delivery_phone"] and checks.phone_tail(o["delivery_phone"]) not in buyers)
    by_phone = view.people_by_phone()
    gone_client = by_phone[checks.phone_tail(gone_buyer["delivery_phone"])][0]["id"]
    sync.roapp.admin.delete_person(gone_client)                       # a manager deletes a client…
    deleted_roapp = next(o["id"] for o in view.state["orders"]
                         if checks.marker("demo", deleted["order_id"]) in (o.get("manager_notes") or ""))
    sync.roapp.admin.delete_order(deleted_roapp)                      # …and an order
    new_id = max(o["order_id"] for o in cartum["orders"]) + 1
    sync.cartum.admin.action("upsert_orders", [
        {"order_id": status_changed["order_id"], "stat_status": 2},
        {"order_id": deleted["order_id"], "stat_status": 2},
        {"order_id": renamed["order_id"], "delivery_name": "Зміненa Назва"},
        {**{k: gone_buyer[k] for k in ("delivery_name", "delivery_phone", "delivery_email", "lang")},
         "order_id": new_id, "stat_status": 1, "user": None,
         "products": [{"article": cartum["products"][2]["article"], "quantity": 1}]}])

    report = run_dry(sync)
    summary, made = real_run(sync, "changes")
    assert_same(report, summary, made)
    orders = report["entities"]["orders"]
    # the new order and the deleted one are created (again), the status change is an update
    assert (orders["created"], orders["updated"]) == (2, 1)
    created, updated = shown(report, "orders", "create"), shown(report, "orders", "update")
    assert set(created) == {str(new_id), str(deleted["order_id"])}
    status = [c for c in updated[str(status_changed["order_id"])]["changes"] if c["what"] == "status"]
    roapp_status = next(s for s in view.state["statuses"] if s["id"] == sync.config.status_map["2"])
    assert status == [{"what": "status", "status_id": roapp_status["id"], "status": roapp_status["name"],
                       "comment": "Cartum status changed to 2"}]
    fields = [c["fields"] for c in updated[str(status_changed["order_id"])]["changes"] if c["what"] == "fields"]
    assert [sorted(f["custom_fields"]) for f in fields] == [["Created", "External ID", "Last update", "Store"]]
    # the renamed buyer: the client's name changes, and only that
    renamed_client = shown(report, "clients", "update")
    assert [c["fields"] for r in renamed_client.values() for c in r["changes"]] == [
        {"first_name": "Зміненa", "last_name": "Назва"}]
    # the deleted client is created again for the new order (in the orders step, as the real run does)
    assert made["POST /v2/contacts/people"] == 1
    new_order = created[str(new_id)]["changes"][0]["fields"]
    assert str(new_order["client_id"]).startswith("new ")


def test_a_setup_problem_is_reported_as_the_runs_stop(sync: Sync):
    broken = sync.with_config(location_id=987654)
    before = state_rows(broken)
    harness = broken.harness
    result = dry_run(broken.config, harness.engine,
                     lambda: CartumClient(harness.cartum_url, CARTUM_LOGIN, CARTUM_PASSWORD, retry=FAST_RETRY,
                                          requests_per_second=0),
                     lambda: RoAppClient(ROAPP_KEY, harness.roapp_url, retry=FAST_RETRY))
    assert result.error is not None and result.error.startswith("validate_setup: FatalStepError")
    assert "987654" in result.error
    report = plan_report(result)
    assert report["completed"] is False and report["write_count"] == 0
    assert "The next run would STOP: validate_setup" in "\n".join(render_text(report))
    assert state_rows(broken) == before
    assert DRY_RUN_ID not in str(before)
