"""Stores per machine (issue 14, benchmark 2): N stores on the sandboxes under Airflow's
scheduler at the 5-minute cadence, for ``--ticks`` ticks after their first imports.

- **Airflow**: ``airflow standalone`` as the demo starts it (``scripts/demo.py``: its
  ``airflow.cfg``, LocalExecutor), with the metadata database on PostgreSQL
  (``--metadata-db postgresql``, the default: database ``cartum_bench_meta`` on
  127.0.0.1:5432, dropped and created first) or on SQLite (``--metadata-db sqlite``, the
  demo's own setup). The sync's state database follows it (``cartum_bench_state`` or a
  SQLite file).
- **Stores**: N Cartum sandboxes (``--orders`` orders each, 10 by default, so that first
  imports are quick; articles and e-mails of their own, ``tests.distributed.run.distinct``)
  and one RO App sandbox (one account) in which each store has an API key of its own,
  limited to 3 requests per second per key as RO App does. The sandboxes run in this
  process, so their CPU is not in the figures. Connections and the Variable go in with
  ``airflow connections import`` and ``airflow variables set``, as ``config/compose-init.sh``
  does. Each store runs at its own minute (``dags.schedule_for``).
- **Measured**, over the ticks after every store's first import (from the first 5-minute
  boundary after the last first import, for ``--ticks`` × 5 minutes): each run's duration
  (end − start), its scheduler lag (start − the time it was due, ``run_after``), whether
  it ended inside its slot (before the store's next tick), and the CPU seconds of every
  Airflow process (scheduler, DAG processor, triggerer, API server, executor and task
  processes: the process tree of ``airflow standalone``, reaped children included) over the
  window, per store per tick; plus ``database is locked`` lines in Airflow's logs.

    .venv/bin/python bench/stores_per_machine.py [--stores 10] [--metadata-db postgresql|sqlite] [--ticks 2]

Without ``--stores`` it runs 10, 50 and 100 one after the other (each about 20 minutes and
more). Everything it started is stopped at the end.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="cartum_bench_driver_"))

import psutil  # noqa: E402

from cartum_roapp_sandbox.cartum import CartumSandbox  # noqa: E402
from cartum_roapp_sandbox.cartum.seed import CartumSeedConfig, generate  # noqa: E402
from cartum_roapp_sandbox.roapp import RoAppSandbox  # noqa: E402
from tests.conftest import CARTUM_LOGIN, CARTUM_PASSWORD, serving  # noqa: E402
from tests.distributed.run import Store, connections, distinct  # noqa: E402
from tests.pipeline.harness import store_config  # noqa: E402
from tests.test_demo import load_demo  # noqa: E402

demo = load_demo()
META_DB, STATE_DB = "cartum_bench_meta", "cartum_bench_state"
ROAPP_RATE = 3  # requests per second per key, as RO App allows
SLOT = 300.0  # the 5-minute cadence


def say(text_: str) -> None:
    print(f"==> {text_}", flush=True)


def quantile(values: list[float], q: float) -> float:
    """The nearest-rank quantile (q in 0..1); nan for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def name(process: psutil.Process) -> str:
    """``scheduler`` for ``python .../airflow scheduler`` (or a process titled ``airflow
    api_server ...``); the process's name otherwise."""
    try:
        args = process.cmdline()
        for i, arg in enumerate(args):
            if arg.rsplit("/", 1)[-1] == "airflow":
                return next((a for a in args[i + 1:] if not a.startswith("-")), "airflow")
        if args and args[0].startswith("airflow "):
            return args[0].split()[1]
        return process.name()
    except psutil.NoSuchProcess:
        return "gone"


class CpuMeter:
    """CPU seconds of a process tree, sampled every ``every`` seconds in a thread: the sum
    over its live processes of their own and their reaped children's user + system time,
    so processes that came and went between samples count too (through their parent)."""

    def __init__(self, root_pid: int, every: float = 2.0):
        self.root, self.every = root_pid, every
        self.samples: list[tuple[float, dict[str, float]]] = []
        self.load: list[tuple[float, float]] = []  # the machine's 1-minute load average
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def total(self) -> dict[str, float]:
        """CPU seconds by component: each child of the root with everything under it, named
        by its command line (scheduler, dag-processor, api-server, triggerer)."""
        try:
            root = psutil.Process(self.root)
            parts = {"standalone": [root], **{name(child): [child, *child.children(recursive=True)]
                                              for child in root.children()}}
        except psutil.NoSuchProcess:
            return {}
        cpu: dict[str, float] = {}
        for part, processes in parts.items():
            for process in processes:
                try:
                    t = process.cpu_times()
                    cpu[part] = cpu.get(part, 0.0) + t.user + t.system + t.children_user + t.children_system
                except psutil.NoSuchProcess:
                    pass
        return cpu

    def _loop(self) -> None:
        while not self.stopped.is_set():
            self.samples.append((time.time(), self.total()))
            self.load.append((time.time(), os.getloadavg()[0]))
            self.stopped.wait(self.every)

    def at(self, moment: float) -> dict[str, float]:
        """The sample nearest to ``moment`` (a time.time())."""
        return min(self.samples, key=lambda s: abs(s[0] - moment))[1]

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(timeout=10)


class Fleet(demo.Demo):
    """The demo's Airflow standalone (its ``--metadata-db``), with N stores."""

    pg_databases = (META_DB, STATE_DB)

    def __init__(self, args: argparse.Namespace):
        super().__init__(args)
        self.airflow_log = demo.DEMO / "airflow-standalone.log"
        self.env["AIRFLOW__CORE__EXECUTOR"] = "LocalExecutor"
        self.env["CARTUM_ROAPP_PLAIN_HTTP_HOSTS"] = ""  # the sandboxes are on 127.0.0.1

    def configure(self, stores: list[Store]) -> None:
        self.reset_postgres()
        demo.write_airflow_cfg(self.args.airflow_port, self.metadata_url)
        self.airflow("db", "migrate")
        conns = connections(stores)
        path = demo.DEMO / "connections.json"
        path.write_text(json.dumps(conns))
        self.airflow("connections", "import", "--overwrite", str(path))
        path.unlink()
        self.airflow("connections", "add", "cartum_roapp_state", "--conn-uri", self.state_conn_uri())
        self.airflow("variables", "set", "cartum_roapp_stores", json.dumps([s.config.to_dict() for s in stores]))
        say(f"configured {len(stores)} stores ({len(conns) + 1} connections, the Variable) on {self.args.metadata_db}")

    def runs(self) -> list[dict]:
        """Every run of every DAG (the API's pages)."""
        found, offset = [], 0
        while True:
            page = self.call("listing runs", "GET", "/api/v2/dags/~/dagRuns",
                             params={"limit": 100, "offset": offset, "order_by": "id"}).json()
            found += page["dag_runs"]
            offset += len(page["dag_runs"])
            if not page["dag_runs"] or offset >= page["total_entries"]:
                return found


def start_stores(stack: ExitStack, n: int, orders: int) -> list[Store]:
    keys = [f"bench-key-{i:03d}" for i in range(n)]
    roapp = stack.enter_context(serving(RoAppSandbox.seeded(keys, seed=42), rate_limit=ROAPP_RATE))
    size = {"orders": orders, "products": max(8, orders // 2), "customers": max(6, orders // 3), "days": 20}
    stores = []
    for i, key in enumerate(keys):
        data = distinct(generate(CartumSeedConfig(seed=100 + i, **size)), f"S{i:03d}-")
        cartum = stack.enter_context(serving(CartumSandbox(data, login=CARTUM_LOGIN, password=CARTUM_PASSWORD)))
        store = Store(f"bench{i:03d}", cartum, roapp, f"roapp_bench{i:03d}", key)
        store.config = store_config(roapp.admin.state(), store_id=store.store_id, name=f"Bench {i}",
                                    cartum_conn_id=store.cartum_conn_id, roapp_conn_id=store.roapp_conn_id)
        stores.append(store)
    return stores


def dead_components(root_pid: int) -> list[str]:
    """The components of ``airflow standalone`` that exited (it does not restart them)."""
    try:
        children = psutil.Process(root_pid).children()
    except psutil.NoSuchProcess:
        return ["airflow standalone"]
    dead = []
    for child in children:
        try:
            if child.status() == psutil.STATUS_ZOMBIE:
                dead.append(str(child.pid))
        except psutil.NoSuchProcess:
            dead.append(str(child.pid))
    return dead


def locked_lines() -> int:
    return sum(log.read_text(errors="replace").lower().count("database is locked") for log in demo.DEMO.glob("**/*.log")
               if log.is_file())


def measure(n: int, args: argparse.Namespace) -> dict:
    workdir = (args.workdir / f"{args.metadata_db}-{n}").resolve()
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    demo.set_workdir(workdir)
    args.airflow_port = demo.free_port(8795)
    fleet = Fleet(args)
    result: dict = {"stores": n, "db": args.metadata_db}
    with ExitStack() as stack:
        stack.callback(fleet.stop_all)
        stores = start_stores(stack, n, args.orders)
        dag_ids = {s.config.dag_id for s in stores}
        fleet.configure(stores)
        standalone, _ = fleet.start_standalone()
        meter = CpuMeter(standalone.pid)
        stack.callback(meter.stop)
        started = time.time()

        def mine(runs: list[dict]) -> list[dict]:
            return [r for r in runs if r["dag_id"] in dag_ids]

        def nth_runs(what: str, index: int, timeout: float) -> tuple[dict | None, list[dict]]:
            """Each store's run number ``index`` (0: the first import), once every one has
            ended; None (and ``result["problem"]`` said) when they did not in ``timeout`` s."""
            while True:
                runs = mine(fleet.runs())
                by_dag: dict[str, list[dict]] = {}
                for r in sorted(runs, key=lambda r: r["run_after"]):
                    by_dag.setdefault(r["dag_id"], []).append(r)
                nth = {dag: rs[index] for dag, rs in by_dag.items() if len(rs) > index}
                done = [r for r in nth.values() if r["state"] in ("success", "failed")]
                say(f"[{time.time() - started:5.0f} s] {what} finished: {len(done)}/{n}")
                if len(done) == n:
                    return nth, runs
                dead = dead_components(standalone.pid)
                if time.time() - started > timeout or dead:
                    result["problem"] = (f"only {len(done)} of {n} {what} finished in {time.time() - started:.0f} s"
                                         + (f"; {len(dead)} Airflow components exited (see the log)" if dead else ""))
                    return None, runs
                time.sleep(15)

        # every store's first import, and the first incremental run after it (it does work:
        # it sets what the next runs compare with), so that the window measures the ticks a
        # quiet fleet lives on
        first, runs = nth_runs("first imports", 0, args.first_timeout)
        second = first and nth_runs("first incremental runs", 1, 2 * args.first_timeout)[0]
        result["first"] = list((first or {}).values())
        if not second:
            return finish(result, fleet, meter, runs, None, None)
        last_first = max(when(r["end_date"]) for r in second.values())
        t0 = datetime.fromtimestamp(math.ceil(last_first.timestamp() / SLOT) * SLOT, timezone.utc)
        t1 = t0 + timedelta(seconds=SLOT * args.ticks)
        say(f"first imports and first incremental runs done by {last_first:%H:%M:%S}; measuring the ticks due "
            f"{t0:%H:%M} to {t1:%H:%M} UTC")
        while time.time() < t1.timestamp():
            time.sleep(min(30.0, max(1.0, t1.timestamp() - time.time())))
        # the runs due in the window, until each has ended (at most one more slot)
        deadline = time.time() + SLOT
        while True:
            runs = mine(fleet.runs())
            window = [r for r in runs if t0 <= when(r["run_after"]) < t1]
            open_ = [r for r in window if r["state"] not in ("success", "failed")]
            if not open_ or time.time() > deadline:
                break
            say(f"{len(open_)} runs of the window still running")
            time.sleep(10)
        ended = max([when(r["end_date"]).timestamp() for r in window if r.get("end_date")] or [t1.timestamp()])
        return finish(result, fleet, meter, runs, (t0, t1), max(ended, t1.timestamp()))


def finish(result: dict, fleet: Fleet, meter: CpuMeter, runs: list[dict], window, cpu_end: float | None) -> dict:
    result["locked"] = locked_lines()
    first = result.get("first", [])
    result["first_durations"] = [(when(r["end_date"]) - when(r["start_date"])).total_seconds()
                                 for r in first if r.get("end_date") and r.get("start_date")]
    result["first_failed"] = sum(r["state"] == "failed" for r in first)
    if window is None:
        return result
    t0, t1 = window
    ticks = [r for r in runs if t0 <= when(r["run_after"]) < t1]
    result["expected"] = len({r["dag_id"] for r in first}) * round((t1 - t0).total_seconds() / SLOT)
    result["runs"] = len(ticks)
    result["succeeded"] = sum(r["state"] == "success" for r in ticks)
    result["durations"] = [(when(r["end_date"]) - when(r["start_date"])).total_seconds()
                           for r in ticks if r.get("end_date") and r.get("start_date")]
    result["lags"] = [(when(r["start_date"]) - when(r["run_after"])).total_seconds()
                      for r in ticks if r.get("start_date")]
    result["fit"] = sum(1 for r in ticks if r.get("end_date")
                        and (when(r["end_date"]) - when(r["run_after"])).total_seconds() < SLOT)
    start, end = meter.at(t0.timestamp()), meter.at(cpu_end)
    result["cpu_parts"] = {part: end[part] - start.get(part, 0.0) for part in end}
    cpu = result["cpu"] = sum(result["cpu_parts"].values())
    result["cpu_window_s"] = cpu_end - t0.timestamp()
    result["cpu_per_store_tick"] = cpu / max(1, result["expected"])
    load = [v for t, v in meter.load if t0.timestamp() <= t <= cpu_end]
    result["load"] = sum(load) / max(1, len(load))
    return result


def report(results: list[dict], args: argparse.Namespace) -> None:
    print(f"\nStores per machine ({os.cpu_count()} cores), metadata database per row, {args.orders} orders per store, "
          f"RO App {ROAPP_RATE} requests/s per key (each store its own key), {args.ticks} ticks after the first "
          f"imports:\n")
    print("| stores | metadata db | first imports: ok / failed, duration p50 / max s | tick runs: due / started / "
          "succeeded | run duration p50 / p95 / max s | scheduler lag p50 / p95 / max s | runs inside their slot | "
          "CPU-s per store per tick (all Airflow processes) | `database is locked` lines | machine load (1-min, mean) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        f = r.get("first_durations", [])
        first = (f"{len(f) - r.get('first_failed', 0)} / {r.get('first_failed', 0)}, "
                 f"{quantile(f, .5):.0f} / {max(f or [math.nan]):.0f}")
        if "runs" not in r:
            print(f"| {r['stores']} | {r['db']} | {first} | {r.get('problem', 'not measured')} | | | | | "
                  f"{r['locked']} | |")
            continue
        d, lag = r["durations"], r["lags"]
        print(f"| {r['stores']} | {r['db']} | {first} | {r['expected']} / {r['runs']} / {r['succeeded']} | "
              f"{quantile(d, .5):.0f} / {quantile(d, .95):.0f} / {max(d or [math.nan]):.0f} | "
              f"{quantile(lag, .5):.1f} / {quantile(lag, .95):.1f} / {max(lag or [math.nan]):.1f} | "
              f"{r['fit']} / {r['expected']} | {r['cpu_per_store_tick']:.2f} ({r['cpu']:.0f} CPU-s over "
              f"{r['cpu_window_s']:.0f} s) | {r['locked']} | {r['load']:.1f} |")
    for r in results:
        if r.get("cpu_parts"):
            print(f"\n{r['stores']} stores, {r['db']}: CPU-s over the window by component (with the processes it "
                  f"started): " + ", ".join(f"{k} {v:.0f}" for k, v in sorted(r["cpu_parts"].items(),
                                                                            key=lambda kv: -kv[1])))
    print("\nTargets (issue 14): ≥ 100 stores, every run inside its slot, scheduler lag p95 ≤ 30 s; "
          "≤ 3 CPU-s per store per no-change tick, all processes.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stores", type=int, action="append", help="N stores (repeatable; default 10, 50, 100)")
    parser.add_argument("--metadata-db", choices=("postgresql", "sqlite"), default="postgresql",
                        help="Airflow's metadata and the state database (default postgresql: databases "
                             f"{META_DB} and {STATE_DB}, dropped and created first)")
    parser.add_argument("--postgres", default="postgres@127.0.0.1:5432", metavar="USER@HOST:PORT")
    parser.add_argument("--ticks", type=int, default=2, help="5-minute ticks measured after the first imports")
    parser.add_argument("--orders", type=int, default=10, help="orders per Cartum store (default 10)")
    parser.add_argument("--first-timeout", type=float, default=1200, help="seconds for the first imports")
    parser.add_argument("--workdir", type=Path, default=ROOT / ".bench-fleet", help="Airflow homes and logs")
    parser.add_argument("--timeout", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("stopped by SIGTERM"))
    results = []
    for n in args.stores or [10, 50, 100]:
        results.append(measure(n, args))
        report(results, args)


if __name__ == "__main__":
    main()
