"""How fast the run history page answers with a long history: 10,000 runs and 100,000
order events of one store (generated into a state database), next to a small history
(100 runs, 1,000 events), each page and endpoint timed in-process through the page's own
FastAPI app (``history.web``), median of ``--repeat`` requests. Airflow's authentication
is left out (the user dependency and the auth manager's answer are replaced): it costs the
same whatever the history holds.

    .venv/bin/python bench/history_page.py [--runs 10000] [--events 100000] [--repeat 5] [--url URL]

``--url``: a SQLAlchemy URL of an empty database to fill instead of a SQLite file (e.g. a
PostgreSQL database of your own).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fastapi.testclient import TestClient  # noqa: E402
from sqlalchemy import insert  # noqa: E402

from cartum_roapp_sync.config import parse_store  # noqa: E402
from cartum_roapp_sync.history import web  # noqa: E402
from cartum_roapp_sync.state.db import get_engine  # noqa: E402
from cartum_roapp_sync.state.tables import (  # noqa: E402
    cursors, id_map, quarantine, record_events, run_entities, runs, validation_results,
)

STORE = "demo"
ORDER_EVENTS = ("created", "items_added", "status_changed", "comment_added")


def fill(url: str, n_runs: int, n_events: int, seed: int = 3) -> int:
    """A store's history: runs every 5 minutes back from now, their counts, the last run's
    quality, and order events (read, created, items, status, comment, later updates) of
    about n_events / 6 orders. Returns an order number that has a story."""
    rng = random.Random(seed)
    engine = get_engine(url)
    now = datetime.now(timezone.utc)
    run_rows, entity_rows = [], []
    for n in range(n_runs):
        started = now - timedelta(minutes=5 * (n_runs - n))
        run_id = f"scheduled__{started.isoformat()}"
        duration = rng.uniform(5, 90)
        run_rows.append({"store_id": STORE, "run_id": run_id, "started_at": started,
                         "finished_at": started + timedelta(seconds=duration), "status": "success" if rng.random() > .02
                         else "failed", "first_import": n == 0, "cartum_calls": 8, "roapp_calls": rng.randint(4, 60),
                         "roapp_writes": rng.randint(0, 40), "duration_s": duration, "mode": "incremental",
                         "warnings": [], "found_by_reconcile": 0})
        for entity in ("clients", "products", "orders"):
            entity_rows.append({"store_id": STORE, "run_id": run_id, "entity": entity, "extracted": rng.randint(0, 30),
                                "created": rng.randint(0, 5), "updated": rng.randint(0, 5),
                                "unchanged": rng.randint(0, 20), "quarantined": int(rng.random() < .05), "failed": 0})
    orders = max(n_events // 6, 1)
    event_rows, map_rows = [], []
    first = 100_000
    for k in range(orders):
        number, at = str(first + k), now - timedelta(minutes=5 * n_runs * (orders - k) / orders)
        run_id = run_rows[min(int(k / orders * n_runs), n_runs - 1)]["run_id"]
        phone = f"+38067{rng.randint(1_000_000, 9_999_999)}"
        event_rows.append({"store_id": STORE, "run_id": run_id, "entity": "orders", "source_key": number,
                           "event": "read", "version": f"{k:064x}", "phone_tail": phone[-9:], "email": f"b{k}@example.com",
                           "detail": {"cartum_status": 1, "roapp_status_id": 201, "total": 100.0, "items": 2,
                                      "client_key": f"phone:{phone}"}, "settled_at": at, "at": at, "roapp_id": None})
        for kind in ORDER_EVENTS:
            event_rows.append({"store_id": STORE, "run_id": run_id, "entity": "orders", "source_key": number,
                               "event": kind, "roapp_id": 5000 + k, "version": None, "phone_tail": None, "email": None,
                               "detail": {}, "settled_at": None, "at": at})
        map_rows.append({"store_id": STORE, "entity": "orders", "source_key": number, "roapp_id": 5000 + k,
                         "status": "synced", "content_hash": f"{k:064x}", "details": {"cartum_status": 1},
                         "synced_at": at, "updated_at": at})
    while len(event_rows) < n_events:  # later status changes of random orders
        k = rng.randrange(orders)
        event_rows.append({"store_id": STORE, "run_id": run_rows[-1]["run_id"], "entity": "orders",
                           "source_key": str(first + k), "event": "status_changed", "roapp_id": 5000 + k,
                           "version": None, "phone_tail": None, "email": None, "detail": {"roapp_status_id": 202},
                           "settled_at": None, "at": now - timedelta(minutes=rng.randint(0, 5 * n_runs))})
    held = [{"store_id": STORE, "run_id": run_rows[-1]["run_id"], "entity": "orders", "source_key": str(first + k),
             "stage": "quality", "reason": "Cartum status 9 is not matched (status_map)", "record": None,
             "created_at": now, "first_seen_at": now, "last_seen_at": now, "attempts": 1} for k in range(20)]
    with engine.begin() as c:
        for table, rows in ((runs, run_rows), (run_entities, entity_rows), (record_events, event_rows[:n_events]),
                            (id_map, map_rows), (quarantine, held)):
            for start in range(0, len(rows), 5000):
                c.execute(insert(table), rows[start:start + 5000])
        c.execute(insert(cursors).values(store_id=STORE, entity="orders", name="created",
                                         value=(now - timedelta(minutes=7)).strftime("%Y-%m-%d %H:%M:%S"),
                                         updated_at=now))
        c.execute(insert(validation_results), [{
            "store_id": STORE, "run_id": run_rows[-1]["run_id"], "entity": e, "success": True, "created_at": now,
            "summary": {"rows": 10, "valid_rows": 10, "quarantined_rows": 0, "batch_ok": True, "expectations": []}}
            for e in ("clients", "products", "orders")])
    return first + orders // 2


def client_for(url: str) -> TestClient:
    from airflow.api_fastapi.core_api.security import get_user

    config = parse_store({"store_id": STORE, "name": "Demo shop", "cartum_conn_id": "cartum_demo", "location_id": 1,
                          "order_type_id": 1, "language": "ua", "product_key": "sku", "managers": "all",
                          "status_map": {"1": 201}})
    web._allowed = lambda user, dag_id, method, run=False: True  # authorisation left out (see the docstring)
    app = web.create_app(web.Sources(lambda: get_engine(url), lambda: [config], lambda *a: "none"))
    app.dependency_overrides[get_user] = lambda: object()
    return TestClient(app)


def timings(client: TestClient, order: int, repeat: int) -> dict[str, float]:
    phone_order = client.get("/api/orders", params={"q": str(order)}).json()
    assert phone_order, "the generated order has no story"
    phone = phone_order[0]["events"][0]["detail"]["client_key"].split(":")[1]
    paths = {
        "all stores (page)": "/",
        "one store, last 50 runs (page)": f"/stores/{STORE}",
        "one store, last 1,000 runs (page)": f"/stores/{STORE}?last=1000",
        "one store, ?last=10000 (page)": f"/stores/{STORE}?last=10000",
        "runs CSV, ?last=10000": f"/api/stores/{STORE}/runs?last=10000&format=csv",
        "find an order by number (page)": f"/orders?q={order}",
        "find an order by phone (page)": f"/orders?q={phone}",
        "stores (JSON)": "/api/stores",
    }
    found = {}
    for label, path in paths.items():
        samples = []
        for _ in range(repeat):
            started = time.perf_counter()
            answer = client.get(path)
            samples.append(time.perf_counter() - started)
            assert answer.status_code == 200, (path, answer.status_code, answer.text[:300])
        found[label] = statistics.median(samples)
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--url", help="an empty database to fill (default: a new SQLite file)")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="history_page_"))
    sizes = {"small": (100, 1_000), "large": (args.runs, args.events)}
    results = {}
    for name, (n_runs, n_events) in sizes.items():
        url = args.url if args.url and name == "large" else f"sqlite:///{workdir}/{name}.db"
        started = time.perf_counter()
        order = fill(url, n_runs, n_events)
        print(f"{name}: {n_runs:,} runs, {n_events:,} order events generated in {time.perf_counter() - started:.1f} s "
              f"({url.split('://')[0]})", flush=True)
        results[name] = timings(client_for(url), order, args.repeat)
    print(f"\n| request | {sizes['small'][0]:,} runs, {sizes['small'][1]:,} events | {args.runs:,} runs, "
          f"{args.events:,} events | ratio |")
    print("|---|---|---|---|")
    for label in results["large"]:
        small, large = results["small"][label], results["large"][label]
        print(f"| {label} | {small * 1000:.0f} ms | {large * 1000:.0f} ms | {large / small:.1f} |")


if __name__ == "__main__":
    main()
