"""First import at RO App's 3 requests per second (issue 14, benchmark 3): RO App calls ÷
the lower bound, wall ÷ (calls ÷ 3/s); then the same import killed half way through
``load_orders`` and resumed: total calls ÷ the lower bound.

The Cartum store: 2,000 orders (the sandbox's generator: 1 to 4 lines, about 1.7 on
average), 1,500 registered customers, 3,000 products, all inside the import window, times
``--scale`` (the run at full size takes over an hour at 3/s; the ratios are what count).
The store's ``backfill_chunk`` is set above the customers and products, so the whole
import is one run, and ``skip_statuses_on_import`` is empty, so every order is imported
(by default a first import leaves out the Delivered ones, most of the generator's older
orders). The RO App sandbox enforces 3 requests per second per key, as RO App
does; each step runs in a process of its own, as Airflow runs a task, with the limiter
the DAG's tasks use (``SharedRateLimiter`` on the state database, the hook's window).

**The lower bound** (what any sync must send to RO App for this store, from what lands
there): one create per client, per product and per order; one item write per order line;
one status write per order (an order is created in the default status and moved by
``PUT /order/{id}/status``); one comment per order (the delivery and payment note); plus
the 4 reference reads every run needs (locations, order types, statuses, employees).

- **Clean**: every step once, in order (``pipeline.steps.STEPS``, then ``finish_run``).
- **Killed and resumed**: the same, on a fresh RO App account and state database;
  ``load_orders``'s process is killed (SIGKILL) once RO App holds half of the orders, then
  ``load_orders`` runs again in a new process with the same run id (Airflow's retry) and
  the run finishes.

    .venv/bin/python bench/first_import.py [--scale 0.05]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cartum_roapp_sandbox.cartum import CartumSandbox  # noqa: E402
from cartum_roapp_sandbox.roapp import RoAppSandbox  # noqa: E402
from cartum_roapp_sync.pipeline.steps import STEPS  # noqa: E402
from tests.conftest import ROAPP_KEY, serving  # noqa: E402
from tests.pipeline.harness import store_config  # noqa: E402

RATE = 3  # RO App: requests per second per key
KILLED_STEP = "load_orders"
FULL = {"orders": 2000, "customers": 1500, "products": 3000}

STEP = r"""
import json, sys
from cartum_roapp_sync.config import parse_store
from cartum_roapp_sync.pipeline.steps import finish_run, run_step
from cartum_roapp_sync.ratelimit import SharedRateLimiter, bucket_name
from cartum_roapp_sync.roapp.hook import RATE_LIMIT_REQUESTS, rate_limit_window
from cartum_roapp_sync.state.db import get_engine
from tests.conftest import ROAPP_KEY
from tests.pipeline.harness import Harness

config, state, cartum, roapp, run_id, step = sys.argv[1:]
engine = get_engine(state)
limiter = SharedRateLimiter(engine, bucket_name("roapp", ROAPP_KEY), RATE_LIMIT_REQUESTS, rate_limit_window())
harness = Harness(parse_store(json.loads(config)), engine, cartum, roapp, limiter)
if step == "finish_run":
    print(json.dumps(finish_run(harness.context(run_id))["run"]["status"]))
else:
    run_step(step, harness.context(run_id))
"""


def step_process(config: str, state: str, cartum_url: str, roapp_url: str, run_id: str, step: str,
                 log: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "include"), str(ROOT)])}
    return subprocess.Popen([sys.executable, "-c", STEP, config, state, cartum_url, roapp_url, run_id, step],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=open(log, "a"))


def lower_bound(state: dict, before: dict) -> dict[str, int]:
    """The RO App calls any sync needs for what landed (see the module docstring): what
    ``state`` holds that the account did not hold ``before``."""
    def new(kind: str) -> list[dict]:
        old = {r["id"] for r in before[kind]}
        return [r for r in state[kind] if r["id"] not in old]

    orders = new("orders")
    return {"clients": len(new("people")), "products": len(new("products")), "orders": len(orders),
            "items": sum(len(o.get("items") or []) for o in orders), "statuses": len(orders),
            "comments": sum(len(o.get("comments") or []) for o in orders), "reference reads": 4}


def import_once(cartum, sizes: dict[str, int], workdir: Path, kill_at: int | None) -> dict:
    """One first import on a fresh RO App account and state database; ``kill_at``: kill
    ``load_orders`` once RO App holds that many new orders, and run it again."""
    label = "killed" if kill_at else "clean"
    with serving(RoAppSandbox.seeded([ROAPP_KEY], seed=42), rate_limit=RATE) as roapp:
        big = max(sizes.values()) + 1
        before = roapp.admin.state()
        config = store_config(before, import_days=60, backfill_chunk=big, skip_statuses_on_import=[]).to_dict()
        config_json, state = json.dumps(config), f"sqlite:///{workdir / (label + '.db')}"
        log, run_id = workdir / f"{label}.log", "manual__first_import"
        started, killed_at, steps = time.monotonic(), None, []
        for step in [*STEPS, "finish_run"]:
            step_started, calls_before = time.monotonic(), len(roapp.admin.requests())
            process = step_process(config_json, state, cartum.url, roapp.url, run_id, step, log)
            if kill_at and step == KILLED_STEP:
                while process.poll() is None:
                    held = len(roapp.admin.state()["orders"]) - len(before["orders"])
                    if held >= kill_at:
                        process.send_signal(signal.SIGKILL)
                        process.wait()
                        killed_at = held
                        break
                    time.sleep(0.5)
                if killed_at is None:
                    raise SystemExit(f"{KILLED_STEP} ended before RO App held half of the orders; see {log}")
                process = step_process(config_json, state, cartum.url, roapp.url, run_id, step, log)
            if process.wait() != 0:
                raise SystemExit(f"{label}: {step} failed; see {log}")
            steps.append((step, time.monotonic() - step_started, len(roapp.admin.requests()) - calls_before))
        wall = time.monotonic() - started
        requests_ = roapp.admin.requests()
        final = roapp.admin.state()
    calls = len(requests_)
    bound = lower_bound(final, before)
    return {"label": label, "calls": calls, "writes": sum(r["method"] != "GET" for r in requests_),
            "refused": sum(r["status"] == 429 for r in requests_), "wall": wall, "bound": bound,
            "killed_at": killed_at, "steps": steps, "lines": bound["items"] / max(1, bound["orders"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=0.05,
                        help="fraction of 2,000 orders / 1,500 customers / 3,000 products (default 0.05)")
    args = parser.parse_args()
    sizes = {k: max(4, round(v * args.scale)) for k, v in FULL.items()}
    if KILLED_STEP not in STEPS:
        raise SystemExit(f"the pipeline has no step {KILLED_STEP}: {list(STEPS)}")
    workdir = Path(tempfile.mkdtemp(prefix="first_import_"))
    store = CartumSandbox.seeded(seed=11, days=50, **sizes)
    results = []
    with serving(store) as cartum:
        for kill in (False, True):
            half = max(1, results[0]["bound"]["orders"] // 2) if kill else None
            results.append(import_once(cartum, sizes, workdir, half))
            r = results[-1]
            print(f"==> {r['label']}: {r['calls']} RO App calls in {r['wall']:.0f} s", flush=True)
    bound = results[0]["bound"]
    total = sum(bound.values())
    print(f"\nFirst import at {RATE} requests/s, scale {args.scale}: {sizes['orders']} orders "
          f"({results[0]['lines']:.2f} lines on average), {sizes['customers']} registered customers, "
          f"{sizes['products']} products; steps: {', '.join(STEPS)}, finish_run\n")
    print("Lower bound: " + " + ".join(f"{v} {k}" for k, v in bound.items()) + f" = {total} calls\n")
    print("| import | RO App calls (writes) | 429 answers | calls ÷ lower bound | wall s | wall ÷ (calls ÷ 3/s) |")
    print("|---|---|---|---|---|---|")
    for r in results:
        name = r["label"] if r["killed_at"] is None else f"killed at {r['killed_at']} orders, resumed"
        if r["bound"] != bound:
            name += f" (landed differs: {r['bound']})"
        print(f"| {name} | {r['calls']} ({r['writes']}) | {r['refused']} | {r['calls'] / total:.3f} | "
              f"{r['wall']:.0f} | {r['wall'] / (r['calls'] / RATE):.3f} |")
    print("\nThe clean import by step: wall s (RO App calls), the wall at 3/s the calls need:\n")
    print("| step | wall s | RO App calls | calls ÷ 3/s |")
    print("|---|---|---|---|")
    for step, wall, calls in results[0]["steps"]:
        print(f"| {step} | {wall:.1f} | {calls} | {calls / RATE:.1f} |")
    print("\nTargets (issue 14): calls ÷ lower bound ≤ 1.05 (clean), ≤ 1.10 (killed and resumed); "
          "wall ÷ (calls ÷ 3/s) ≤ 1.10.")


if __name__ == "__main__":
    main()
