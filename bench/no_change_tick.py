"""A store's no-change tick: calls per system and CPU seconds, each step in a process of its
own as Airflow runs each task, side by side for this checkout and another (e.g. main).

One Cartum store on the sandbox (shared, read only) and one RO App sandbox per checkout
(rate limit off: calls are counted, not paced). Each checkout imports the store, then runs
``--ticks`` ticks with nothing changed in Cartum. Every step runs in a fresh Python
process (``python -c``: the checkout's own package and test harness, its state database),
in the DAG's order; a step that reports nothing changed makes the steps after it count as
skipped: Airflow starts no process for them. When the run's first step reports it (a
small tick, read by ``validate_setup`` itself), that process also records the run
(``finish_run``), as the DAG's task does, and ``finish_run`` is skipped too. CPU seconds are the step processes' own
(``resource.getrusage(RUSAGE_CHILDREN)``), not the sandboxes'. The figures leave out
Airflow's own part of every task process (its task runner) and the scheduler, API server
and DAG processor; the cost of importing Airflow's task runner is printed for scale.

    .venv/bin/python bench/no_change_tick.py [--compare /work/main] [--ticks 3] [--orders 300]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cartum_roapp_sandbox.cartum import CartumSandbox  # noqa: E402
from cartum_roapp_sandbox.roapp import RoAppSandbox  # noqa: E402
from tests.conftest import ROAPP_KEY, serving  # noqa: E402
from tests.pipeline.harness import store_config  # noqa: E402

#: A checkout's tasks in the order its graph declares them (``pipeline.graph.UPSTREAM``: each
#: after the steps it waits for), then finish_run. Read from each checkout: their graphs differ.
GRAPH = "from cartum_roapp_sync.pipeline.graph import UPSTREAM; print(' '.join([*UPSTREAM, 'finish_run']))"
#: Targets of issue 14 for a no-change tick.
TARGETS = {"cartum": 4, "roapp": 1, "writes": 0, "cpu": 3.0}

STEP = r"""
import json, sys
from cartum_roapp_sync.config import parse_store
from cartum_roapp_sync.pipeline.steps import finish_run, run_step
from cartum_roapp_sync.state.db import get_engine
from tests.pipeline.harness import Harness

config, state, cartum, roapp, run_id, step = sys.argv[1:]
harness = Harness(parse_store(json.loads(config)), get_engine(state), cartum, roapp)
if step == "finish_run":
    run = finish_run(harness.context(run_id))["run"]
    print(json.dumps({"status": run["status"], "no_change": run.get("no_change")}))
elif run_step(step, harness.context(run_id)) != "nothing changed":
    print(json.dumps({"skipped": False}))
elif step == "validate_setup":   # the DAG's first task records the run and skips every other
    run = finish_run(harness.context(run_id))["run"]
    print(json.dumps({"skipped": True, "finished": True, "status": run["status"], "no_change": run.get("no_change")}))
else:
    print(json.dumps({"skipped": True}))
"""

AIRFLOW_IMPORT = "import airflow.sdk; from airflow.sdk.execution_time import task_runner"


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def python(tree: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(tree / "include"), str(tree), *filter(None, [os.environ.get("PYTHONPATH")])])}
    return subprocess.run([sys.executable, *args], cwd=tree, env=env, capture_output=True, text=True, timeout=900)


class Checkout:
    def __init__(self, label: str, tree: Path, cartum, roapp, workdir: Path):
        self.label, self.tree, self.cartum, self.roapp = label, tree, cartum, roapp
        self.config = json.dumps(store_config(roapp.admin.state()).to_dict())
        self.state = f"sqlite:///{workdir / (label.replace('/', '_') + '.db')}"
        graph = python(tree, "-c", GRAPH)
        if graph.returncode != 0:
            raise SystemExit(f"{label}: reading the task graph failed:\n{graph.stderr[-3000:]}")
        self.tasks = graph.stdout.split()

    def tick(self, run_id: str) -> list[dict]:
        """Every task of one run, each in its own process: per task its CPU, wall, calls."""
        rows, skipping, finished = [], False, False
        for task in self.tasks:
            if finished or (skipping and task != "finish_run"):
                rows.append({"task": task, "process": False, "cpu": 0.0, "wall": 0.0, "cartum": 0, "roapp": 0,
                             "writes": 0})
                continue
            self.cartum.admin.clear_requests()
            self.roapp.admin.clear_requests()
            cpu, wall = children_cpu(), time.perf_counter()
            done = python(self.tree, "-c", STEP, self.config, self.state, self.cartum.url, self.roapp.url, run_id,
                          task)
            cpu, wall = children_cpu() - cpu, time.perf_counter() - wall
            if done.returncode != 0:
                raise SystemExit(f"{self.label}: {task} of {run_id} failed:\n{done.stderr[-3000:]}")
            out = json.loads(done.stdout.strip().splitlines()[-1])
            skipping = skipping or bool(out.get("skipped"))
            finished = bool(out.get("finished"))
            roapp = self.roapp.admin.requests()
            rows.append({"task": task, "process": True, "cpu": cpu, "wall": wall,
                         "cartum": len(self.cartum.admin.requests()), "roapp": len(roapp),
                         "writes": sum(r["method"] != "GET" for r in roapp), **out})
        return rows


def total(rows: list[dict]) -> dict:
    return {k: sum(r[k] for r in rows) for k in ("cpu", "wall", "cartum", "roapp", "writes", "process")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compare", type=Path, metavar="CHECKOUT", help="another checkout, e.g. /work/main")
    parser.add_argument("--ticks", type=int, default=3, help="no-change ticks after the first import")
    parser.add_argument("--orders", type=int, default=300, help="orders in the Cartum store (last 30 days)")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="no_change_tick_"))
    trees = {"this checkout": ROOT, **({str(args.compare): args.compare.resolve()} if args.compare else {})}
    store = CartumSandbox.seeded(seed=5, orders=args.orders, products=120, customers=150, days=30)
    with serving(store) as cartum:
        servers = [serving(RoAppSandbox.seeded(api_keys=[ROAPP_KEY]), rate_limit=0) for _ in trees]
        roapps = [s.__enter__() for s in servers]
        try:
            checkouts = [Checkout(label, tree, cartum, roapp, workdir)
                         for (label, tree), roapp in zip(trees.items(), roapps)]
            ticks: dict[str, list[list[dict]]] = {c.label: [] for c in checkouts}
            for n in range(args.ticks + 1):      # tick 0 is the first import; checkouts interleaved
                for c in checkouts:
                    ticks[c.label].append(c.tick(f"scheduled__{n}"))
        finally:
            for s in reversed(servers):
                s.__exit__(None, None, None)
    airflow_cpu = []
    for _ in range(3):
        before = children_cpu()
        python(ROOT, "-c", AIRFLOW_IMPORT)
        airflow_cpu.append(children_cpu() - before)
    report(ticks, min(airflow_cpu), args)


def report(ticks: dict[str, list[list[dict]]], airflow_cpu: float, args: argparse.Namespace) -> None:
    for label, runs in ticks.items():
        print(f"\n{label}: the last no-change tick, by task\n")
        print("| task | process | CPU s | wall s | Cartum calls | RO App calls | RO App writes |")
        print("|---|---|---|---|---|---|---|")
        for r in runs[-1]:
            print(f"| {r['task']} | {'yes' if r['process'] else 'skipped'} | {r['cpu']:.2f} | {r['wall']:.2f} | "
                  f"{r['cartum']} | {r['roapp']} | {r['writes']} |")
    print("\nPer tick (tick 0 is the first import):\n")
    print("| checkout | tick | no change | processes | CPU s | wall s | Cartum calls | RO App calls | RO App writes |")
    print("|---|---|---|---|---|---|---|---|---|")
    for label, runs in ticks.items():
        for n, rows in enumerate(runs):
            t = total(rows)
            print(f"| {label} | {n} | {'yes' if any(r.get('no_change') for r in rows) else 'no'} | {t['process']} | "
                  f"{t['cpu']:.2f} | {t['wall']:.2f} | {t['cartum']} | {t['roapp']} | {t['writes']} |")
    labels = list(ticks)
    if len(labels) == 2:
        mine = total(ticks[labels[0]][-1])
        other = total(ticks[labels[1]][-1])
        print(f"\nLast no-change tick, this checkout ÷ {labels[1]}: CPU {mine['cpu'] / other['cpu']:.2f}, processes "
              f"{mine['process']}/{other['process']}")
    print(f"\nNot in the figures: Airflow's part of every task process and the scheduler, API server and DAG "
          f"processor. For scale: importing Airflow's task runner in a fresh process takes {airflow_cpu:.2f} CPU-s "
          f"here (`{AIRFLOW_IMPORT}`); under Airflow a task process starts from a fork that has it imported.")
    print("\nAgainst issue 14's targets (the last no-change tick, this checkout):\n")
    print("| figure | measured | target |")
    print("|---|---|---|")
    t = total(ticks[labels[0]][-1])
    print(f"| Cartum calls | {t['cartum']} | ≤ {TARGETS['cartum']} |")
    print(f"| RO App calls | {t['roapp']} | ≤ {TARGETS['roapp']} |")
    print(f"| RO App writes | {t['writes']} | {TARGETS['writes']} |")
    print(f"| CPU-s of the tick's step processes ({t['process']} processes; Airflow's part not included) | "
          f"{t['cpu']:.2f} | ≤ {TARGETS['cpu']:.0f} for all processes, Airflow's included |")


if __name__ == "__main__":
    main()
