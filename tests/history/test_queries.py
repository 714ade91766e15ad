"""The run history, read back after real syncs against the sandboxes: each order's story
(read, created, items, status, comments, quarantine and its resolution), the stores
overview and a store's runs against what RO App and the run records hold, the search by
number, RO App id, phone and e-mail, and the actions on the quarantine."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from cartum_roapp_sync.entities import ORDERS
from cartum_roapp_sync.history import actions, queries
from cartum_roapp_sync.state.events import EventLog
from cartum_roapp_sync.state.store import as_utc
from cartum_roapp_sync.state.tables import record_events, runs
from tests.pipeline import checks
from tests.pipeline.e2e import Sync


def kinds(story: dict) -> list[str]:
    return [e["event"] for e in story["events"]]


def test_an_orders_story_and_the_overview_follow_real_runs(sync: Sync):
    config, engine = sync.config, sync.harness.engine
    cartum = sync.cartum.admin.state()
    recent = sorted((o for o in cartum["orders"] if o["stat_status"] in (1, 2)), key=lambda o: o["stat_created"],
                    reverse=True)
    changed, rejected, unmatched = recent[0], recent[1], recent[2]
    message = "Client is on the stop list for online orders"
    sync.roapp.admin.action("reject", {"method": "POST", "path": "/v2/orders", "field": "manager_notes",
                                       "contains": checks.marker(config.store_id, rejected["order_id"]),
                                       "message": message})
    assert sync.harness.run(run_id="import")["run"]["status"] == "success"
    view = sync.view()

    # an order created by the import: read, created, its items, its status, its comment, in that order
    story = queries.order_story(engine, config.store_id, str(changed["order_id"]))
    assert kinds(story) == ["read", "created", "items_added", "status_changed", "comment_added"]
    assert story["roapp_id"] == view.order(changed["order_id"])["id"] == story["events"][1]["roapp_id"]
    assert {e["run_id"] for e in story["events"]} == {"import"}
    added = story["events"][2]["detail"]["lines"]
    assert sum(line["quantity"] for line in added) == sum(i["quantity"] for i in view.order(changed["order_id"])["items"])
    assert story["events"][3]["detail"]["roapp_status_id"] == config.status_map[str(changed["stat_status"])]
    assert story["events"][0]["settled_at"] is not None and story["quarantine"] == []
    assert story["client_roapp_id"] in view.people

    # the one RO App refused: read and quarantined with RO App's message, nothing created
    held = queries.order_story(engine, config.store_id, str(rejected["order_id"]))
    assert kinds(held) == ["read", "quarantined"] and held["roapp_id"] is None
    assert message in held["events"][1]["detail"]["reason"] and message in held["quarantine"][0]["reason"]
    assert held["events"][0]["settled_at"] is None

    overview = {s["store_id"]: s for s in queries.stores_overview(engine, zones={config.store_id: config.timezone})}
    demo = overview[config.store_id]
    assert demo["last_run"]["run_id"] == "import" and demo["last_run"]["status"] == "success"
    assert demo["open_quarantine"] == 1 == len(queries.open_quarantine(engine, config.store_id))
    assert demo["oldest_pending"] == held["events"][0]["at"]  # the refused order's read waits
    assert demo["orders_synced_today"] == demo["orders_synced_week"] == len(view.orders_by_cartum_id)
    window = [o["stat_created"] for o in cartum["orders"] if o["stat_created"] >= sync.orders_from("import")]
    assert demo["newest_in_roapp"].isoformat().replace("+00:00", "Z") == checks.utc_text(max(window))

    # the next run: RO App takes the refused order; one order's status and items change; one
    # order moves to a status nobody matched; a new order comes with a phone and an e-mail
    sync.roapp.admin.action("clear_rejects")
    article = cartum["products"][5]["article"]
    sync.cartum.admin.action("add_statuses", [{"id": 9, "title": "Чекає на запчастину"}])
    sync.cartum.admin.action("upsert_orders", [
        {"order_id": changed["order_id"], "stat_status": 6,
         "products": [{"article": p["article"], "quantity": p["quantity"] + 1} for p in changed["products"]]},
        {"order_id": unmatched["order_id"], "stat_status": 9},
        {"order_id": 99001, "stat_status": 1, "delivery_name": "Ірина Гриценко", "delivery_phone": "+380671112233",
         "delivery_email": "Iryna.H@example.com", "user": None, "products": [{"article": article, "quantity": 1}]}])
    assert sync.harness.run(run_id="second")["run"]["status"] == "success"
    view = sync.view()

    story = queries.order_story(engine, config.store_id, str(changed["order_id"]))
    later = [e for e in story["events"] if e["run_id"] == "second"]
    assert [e["event"] for e in later] == ["read", "items_changed", "status_changed", "comment_added", "updated"]
    assert later[2]["detail"]["from"] == config.status_map[str(changed["stat_status"])]
    assert later[2]["detail"]["roapp_status_id"] == config.status_map["6"] == view.order(changed["order_id"])["status"]["id"]
    assert all(e["settled_at"] is not None for e in story["events"] if e["event"] == "read")

    held = queries.order_story(engine, config.store_id, str(rejected["order_id"]))
    assert kinds(held)[:2] == ["read", "quarantined"]
    # the same version, not read again: created, then its quarantine resolved once RO App holds it
    assert [e["event"] for e in held["events"] if e["run_id"] == "second"] == [
        "created", "items_added", "status_changed", "comment_added", "resolved"]
    assert held["roapp_id"] == view.order(rejected["order_id"])["id"] and held["quarantine"][0]["resolved_at"]

    # found by its number, its RO App id, its phone in any format, its e-mail in any case
    new_id = view.order(99001)["id"]
    for text in ("99001", "#99001", str(new_id), "+38 (067) 111-22-33", "0671112233", "iryna.h@EXAMPLE.com"):
        assert (config.store_id, "99001") in queries.find_orders(engine, text), text
    assert queries.find_orders(engine, "nobody@example.com") == []

    # the order whose status nobody matched: quarantined by data quality, waiting
    waiting = queries.open_quarantine(engine, config.store_id)
    assert [(q["source_key"], q["stage"]) for q in waiting] == [(str(unmatched["order_id"]), "quality")]
    assert "status_map" in waiting[0]["reason"]

    # the runs, with their counts as the run records hold them
    listed = queries.store_runs(engine, config.store_id)
    assert [r["run_id"] for r in listed] == ["second", "import"]
    for run in listed:
        summary = sync.state.run_summary(run["run_id"])
        assert run["entities"] == summary["entities"]
        assert run["totals"]["created"] == sum(e["created"] for e in summary["entities"].values())
        assert run["duration_s"] == summary["run"]["duration_s"] > 0
    assert listed[0]["entities"]["orders"]["created"] == 2 and listed[0]["entities"]["orders"]["quarantined"] == 1
    quality = queries.run_quality(engine, config.store_id, "second")
    orders = next(q for q in quality if q["entity"] == "orders")
    assert "1 quarantined (1 only waiting for their Cartum status to be matched)" in orders["text"]
    assert orders["text"].endswith("Loaded.")

    overview = queries.stores_overview(engine, zones={config.store_id: config.timezone})[0]
    assert overview["orders_synced_today"] == len(view.orders_by_cartum_id)
    assert overview["open_quarantine"] == 1
    # the warning column: the status nobody matched, as the run recorded it
    assert overview["warnings"] == sync.state.run_summary("second")["run"]["warnings"]
    assert any("9" in w for w in overview["warnings"])

    # a person asks for a retry, then resolves it with a note: both in the story, the
    # change no longer counts as pending; it fails again on the next run: a new row
    row = waiting[0]["id"]
    retried = actions.retry(engine, [row], by="analyst")
    assert [(r.id, r.entity) for r in retried] == [(row, "orders")]
    actions.resolve(engine, row, "the customer cancelled by phone", by="analyst")
    story = queries.order_story(engine, config.store_id, str(unmatched["order_id"]))
    assert kinds(story)[-2:] == ["retry_requested", "resolved"]
    assert story["events"][-1]["detail"]["resolution"] == "resolved by analyst: the customer cancelled by phone"
    assert story["quarantine"][0]["resolution"] == "resolved by analyst: the customer cancelled by phone"
    assert queries.open_quarantine(engine, config.store_id) == []
    assert queries.stores_overview(engine)[0]["oldest_pending"] is None
    assert sync.harness.run(run_id="third")["run"]["status"] == "success"
    again = queries.open_quarantine(engine, config.store_id)
    assert [(q["source_key"], q["attempts"]) for q in again] == [(str(unmatched["order_id"]), 1)] and again[0]["id"] != row

    # a run with nothing new logs no read again: the open orders re-read every run add nothing
    with engine.connect() as c:
        reads = c.execute(select(func.count()).select_from(record_events).where(
            record_events.c.event == "read", record_events.c.run_id == "third")).scalar_one()
    assert reads == 0
    assert sync.state.cursor(ORDERS).value is not None


def test_events_are_bounded_by_history_keep_days(sync: Sync):
    assert sync.harness.run(run_id="import")["run"]["status"] == "success"
    engine, store = sync.harness.engine, sync.config.store_id
    log = EventLog(engine, store)
    total = log.count()
    assert total > 0
    with engine.connect() as c:
        newest = c.execute(select(func.max(record_events.c.at))).scalar()
        assert c.execute(select(func.count()).select_from(runs)).scalar_one() == 1
    later = EventLog(engine, store, clock=lambda: as_utc(newest) + timedelta(days=89))
    assert later.purge(90) == 0 and log.count() == total
    later = EventLog(engine, store, clock=lambda: as_utc(newest) + timedelta(days=91))
    assert later.purge(90) == total and log.count() == 0
    # and the runs pass it through: the setting reaches the purge at a run's end
    assert sync.with_config(history_keep_days=1).harness.run(run_id="next")["run"]["status"] == "success"


def test_no_secret_reaches_the_event_log(sync: Sync):
    from tests.conftest import CARTUM_PASSWORD, ROAPP_KEY

    assert sync.harness.run(run_id="import")["run"]["status"] == "success"
    with sync.harness.engine.connect() as c:
        text = " ".join(repr(tuple(r)) for r in c.execute(select(record_events)))
    assert CARTUM_PASSWORD not in text and ROAPP_KEY not in text
