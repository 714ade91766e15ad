"""What a reconcile pass costs for a store with 1,000 orders a week, against the sandboxes.

A Cartum store with 1,000 orders created over the last 7 days is imported first (RO App's
rate limit off, to keep the set-up short). Then, with RO App at the real 3 requests per
1.1 s (the sandbox enforcing it, the client pacing itself), two runs side by side: an
ordinary incremental run and a requested reconcile pass that finds nothing, then a
reconcile pass that finds 10 back-dated orders. Prints the Cartum and RO App calls per run,
the orders read, and the time of each as a ratio to the incremental run.

    .venv/bin/python bench/reconcile_cost.py [--orders 1000] [--days 7]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cartum_roapp_sandbox.cartum import CartumSandbox  # noqa: E402
from cartum_roapp_sandbox.roapp import RoAppSandbox  # noqa: E402
from cartum_roapp_sandbox.server import FaultSettings, SandboxServer  # noqa: E402
from cartum_roapp_sync.entities import ORDERS  # noqa: E402
from cartum_roapp_sync.ratelimit import LocalRateLimiter  # noqa: E402
from cartum_roapp_sync.state.cursors import shift  # noqa: E402
from cartum_roapp_sync.state.db import get_engine  # noqa: E402
from cartum_roapp_sync.state.store import StateStore  # noqa: E402
from tests.conftest import ROAPP_KEY, RunningSandbox, serving  # noqa: E402
from tests.pipeline.e2e import make_sync  # noqa: E402


def timed_run(sync, run_id: str) -> tuple[dict, float]:
    started = time.monotonic()
    summary = sync.harness.run(run_id=run_id)
    return summary, time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--days", type=int, default=7)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="reconcile_cost_"))
    app = RoAppSandbox.seeded(api_keys=[ROAPP_KEY])
    with serving(CartumSandbox.seeded(seed=5, orders=args.orders, products=200, customers=300, days=args.days)) \
            as cartum, SandboxServer(app, port=0, faults=FaultSettings(rate_limit=0)) as server:
        roapp = RunningSandbox(server)
        sync = make_sync(cartum, roapp, get_engine(f"sqlite:///{workdir}/state.db"), reconcile_days=args.days)
        started = time.monotonic()
        imported = sync.harness.run(run_id="import")["run"]
        print(f"first import: {imported['status']}, Cartum {imported['cartum_calls']}, RO App {imported['roapp_calls']}"
              f" calls, {time.monotonic() - started:.0f} s (no rate limit)")

        roapp.admin.faults(rate_limit=3, rate_window=1.1)
        sync.harness.limiter = LocalRateLimiter(3, 1.1)
        state = StateStore(sync.harness.engine, sync.config.store_id)
        incremental, base = timed_run(sync, "incremental")
        state.request_reconcile()
        empty, empty_s = timed_run(sync, "reconcile_empty")
        late = [max(o["order_id"] for o in cartum.admin.state()["orders"]) + n for n in range(1, 11)]
        created = shift(state.cursor(ORDERS).value, -3 * 24 * 60)
        buyer = cartum.admin.state()["orders"][0]
        cartum.admin.action("upsert_orders", [{
            "order_id": i, "stat_status": 1, "stat_created": created, "user": None, "payed": 0, "comment": "",
            **{k: buyer[k] for k in ("delivery_name", "delivery_phone", "delivery_email", "lang")},
            "products": [{"article": cartum.admin.state()["products"][0]["article"], "quantity": 1}]} for i in late])
        state.request_reconcile()
        found, found_s = timed_run(sync, "reconcile_found")
        print("run                  mode         orders read  Cartum calls  RO App calls (writes)  found  time/incremental")
        for name, summary, seconds in (("incremental", incremental, base), ("reconcile, nothing", empty, empty_s),
                                       ("reconcile, 10 late", found, found_s)):
            run = summary["run"]
            print(f"{name:<20} {run['mode']:<12} {summary['entities']['orders']['extracted']:>11}  "
                  f"{run['cartum_calls']:>12}  {run['roapp_calls']:>6} ({run['roapp_writes']:>3}){'':>12}"
                  f"{run['found_by_reconcile']:>5}  {seconds / base:>8.2f}  ({seconds:.1f} s)")


if __name__ == "__main__":
    main()
