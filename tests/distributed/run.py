"""The compose topology as processes on this machine (no Docker engine here), driven end to
end: ``scripts/distributed-test.sh`` runs it, and so does a slow test in
``tests/test_deployment.py``.

- **Services**: PostgreSQL (this machine's, on 127.0.0.1:5432) holds Airflow's metadata
  and Celery's results (database ``cartum_dist_meta``) and the sync's state
  (``cartum_dist_state``); Redis (127.0.0.1:6379, database ``--redis-db``) is Celery's
  broker. Both databases and the Redis database are wiped first.
- **Airflow**: ``config/compose-init.sh`` (compose's airflow-init: migrations, admin,
  connections, the Variable), then api-server, scheduler, dag-processor and two Celery
  workers (``worker-a``, ``worker-b``), each with the environment of docker-compose.yml's
  Airflow services; only the host names and database names differ (``local_environment``).
- **Stores**: three, each on a Cartum sandbox of its own; two share one RO App account
  and its API key, the third has an account (a sandbox) and key of its own. Both RO App
  sandboxes enforce 3 requests per second per key, as RO App does.
- **A worker is killed** (SIGKILL, with every process it started) while it runs a load
  step, after that step made its first writes; the scheduler finds the task without a
  heartbeat and Airflow retries it on the other worker.
- **Checks**, once every store's first run has finished: each run succeeded; RO App holds
  what the Cartum data says (``tests.pipeline.checks``: the orders of the import window,
  once each and right in every field, the catalogue, no duplicate person, product or
  order); tasks ran on both workers; the shared key never had more than 3 requests in any
  one second (the RO App sandbox's request log, by key fingerprint) and got no 429.

Everything it started is stopped at the end, on failure too. Exit status 0 when every
check holds, 1 otherwise; the figures (wall time, task split, the kill) are printed.

    python -m tests.distributed.run [--workdir DIR] [--orders N] [--redis-db N] ...
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Before anything imports Airflow (tests.conftest sets a throw-away AIRFLOW_HOME too).
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="cartum_dist_driver_"))

import psutil  # noqa: E402
import requests  # noqa: E402
import yaml  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

from cartum_roapp_sandbox.cartum import CartumSandbox  # noqa: E402
from cartum_roapp_sandbox.cartum.seed import CartumSeedConfig, generate  # noqa: E402
from cartum_roapp_sandbox.roapp import RoAppSandbox  # noqa: E402
from cartum_roapp_sandbox.server import key_fingerprint  # noqa: E402
from cartum_roapp_sync.config import VARIABLE_NAME, StoreConfig  # noqa: E402
from cartum_roapp_sync.entities import ORDERS  # noqa: E402
from cartum_roapp_sync.pipeline.rundata import RunData  # noqa: E402
from cartum_roapp_sync.state.store import StateStore  # noqa: E402
from tests.conftest import CARTUM_LOGIN, CARTUM_PASSWORD, RunningSandbox, serving  # noqa: E402
from tests.pipeline import checks  # noqa: E402
from tests.pipeline.harness import store_config  # noqa: E402
from tests.test_demo import load_demo  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
PG = "postgres@127.0.0.1:5432"
META_DB, STATE_DB = "cartum_dist_meta", "cartum_dist_state"
WORKERS = ("worker-a", "worker-b")
SHARED_KEY, OWN_KEY = "dist-shared-api-key", "dist-own-api-key"
LOAD_STEPS = ("load_clients", "load_products", "load_orders")
ROAPP_RATE = 3  # requests per second per key, as RO App allows
demo = load_demo()


def say(text: str) -> None:
    print(f"==> {text}", flush=True)


# --- the compose file's Airflow settings, for this machine ---------------------------------

def compose_environment() -> dict[str, str]:
    """The environment every Airflow service of docker-compose.yml gets (``x-airflow``)."""
    return dict(yaml.safe_load(COMPOSE.read_text())["x-airflow"]["environment"])


#: The settings that name a compose host (a service on the compose network) or a secret
#: from .env; each is given here as this machine has it. The scheme of each stays the same
#: (checked by ``local_environment``).
def local_overrides(api_port: int, redis_db: int, secrets_: dict[str, str]) -> dict[str, str]:
    return {
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg2://{PG}/{META_DB}",
        "AIRFLOW__CELERY__BROKER_URL": f"redis://127.0.0.1:6379/{redis_db}",
        "AIRFLOW__CELERY__RESULT_BACKEND": f"db+postgresql+psycopg2://{PG}/{META_DB}",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
        "AIRFLOW_CONN_CARTUM_ROAPP_STATE": f"postgresql://{PG}/{STATE_DB}",
        "AIRFLOW__CORE__FERNET_KEY": secrets_["AIRFLOW_FERNET_KEY"],
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets_["AIRFLOW_JWT_SECRET"],
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(demo.AIRFLOW_HOME / "passwords.json"),
        "CARTUM_ROAPP_PLAIN_HTTP_HOSTS": "",  # the sandboxes are on 127.0.0.1 here
    }


#: What this machine adds: quicker detection of a lost worker, quicker DAG parsing, fewer
#: api-server processes on a 2-core machine, and the worker names on the task instances.
LOCAL_ADDITIONS = {
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "20",
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
    "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "120",
    "AIRFLOW__CELERY__WORKER_CONCURRENCY": "4",
    "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
    "AIRFLOW__API__WORKERS": "1",
    "AIRFLOW__CORE__HOSTNAME_CALLABLE": "tests.distributed.hostname.worker_hostname",
}


def local_environment(compose_env: dict[str, str], overrides: dict[str, str]) -> dict[str, str]:
    """The compose services' Airflow environment with ``overrides``: every setting that names
    a compose host or a ``${secret}`` must be overridden, and keeps its URL scheme."""
    hosts = re.compile(r"@(postgres|redis):|//(airflow-[a-z-]+|postgres|redis)[:/]|\$\{")
    env = {}
    for name, value in compose_env.items():
        value = str(value)
        if name in overrides:
            scheme = value.split("://")[0] if "://" in value else None
            if scheme is not None and not overrides[name].startswith(scheme + "://"):
                raise SystemExit(f"{name}: compose uses {scheme}://, the local topology {overrides[name]}")
            env[name] = overrides[name]
        elif hosts.search(value):
            raise SystemExit(f"{name} in docker-compose.yml names a compose host or secret ({value}); "
                             f"give its local value in tests/distributed/run.py local_overrides")
        else:
            env[name] = value
    return env


# --- the stores -------------------------------------------------------------------------

@dataclass
class Store:
    store_id: str
    cartum: RunningSandbox
    roapp: RunningSandbox
    roapp_conn_id: str
    api_key: str
    config: StoreConfig | None = None

    @property
    def cartum_conn_id(self) -> str:
        return f"cartum_{self.store_id}"


def distinct(data: dict[str, Any], prefix: str) -> dict[str, Any]:
    """A seeded Cartum store whose articles and e-mail addresses are its own (``prefix``),
    so that two stores in one RO App account share no product and no client: each store's
    data can then be checked on its own. Phones are random in each seed."""
    def article(value: str) -> str:
        return f"{prefix}{value}"

    def email(value: str | None) -> str | None:
        return re.sub(r"^(\s*)", lambda m: m.group(1) + prefix.lower(), value) if value else value

    for product in data["products"]:
        product["article"], product["parent_article"] = article(product["article"]), article(product["parent_article"])
    for order in data["orders"]:
        for line in order["products"]:
            line["article"] = article(line["article"])
        order["delivery_email"] = email(order.get("delivery_email"))
        if order.get("user"):
            order["user"]["email"] = email(order["user"].get("email"))
    for user in data["users"]:
        user["email"] = email(user.get("email"))
    return data


def start_stores(stack: ExitStack, orders: int) -> list[Store]:
    """Three Cartum stores; two RO App accounts: the shared one (stores one and two, one
    key) and store three's own."""
    size = {"orders": orders, "products": max(8, orders // 2), "customers": max(6, orders // 3), "days": 20}
    shared = stack.enter_context(serving(RoAppSandbox.seeded([SHARED_KEY], seed=42), rate_limit=ROAPP_RATE))
    own = stack.enter_context(serving(RoAppSandbox.seeded([OWN_KEY], seed=43), rate_limit=ROAPP_RATE))
    stores = []
    for n, (store_id, roapp, conn, key, prefix) in enumerate([
            ("dist_one", shared, "roapp_shared", SHARED_KEY, ""),
            ("dist_two", shared, "roapp_shared", SHARED_KEY, "B-"),
            ("dist_three", own, "roapp_own", OWN_KEY, "")]):
        data = distinct(generate(CartumSeedConfig(seed=21 + n, **size)), prefix)
        cartum = stack.enter_context(serving(CartumSandbox(data, login=CARTUM_LOGIN, password=CARTUM_PASSWORD)))
        store = Store(store_id, cartum, roapp, conn, key)
        store.config = store_config(roapp.admin.state(), store_id=store_id, name=f"Shop {store_id}",
                                    cartum_conn_id=store.cartum_conn_id, roapp_conn_id=conn)
        stores.append(store)
    phones = [{checks.phone_tail(o["delivery_phone"]) for o in s.cartum.admin.state()["orders"]} - {None}
              for s in stores[:2]]
    if phones[0] & phones[1]:
        raise SystemExit(f"the two stores of the shared account share buyers' phones {phones[0] & phones[1]}: "
                         f"pick other seeds")
    return stores


def connections(stores: list[Store]) -> dict[str, dict[str, Any]]:
    """compose-init's CARTUM_ROAPP_CONNECTIONS for the stores."""
    conns: dict[str, dict[str, Any]] = {}
    for store in stores:
        conns[store.cartum_conn_id] = {"conn_type": "cartum", "host": store.cartum.url, "login": CARTUM_LOGIN,
                                       "password": CARTUM_PASSWORD, "extra": {"requests_per_second": 20}}
        conns[store.roapp_conn_id] = {"conn_type": "roapp", "host": store.roapp.url, "password": store.api_key}
    return conns


# --- the topology -----------------------------------------------------------------------

class Topology(demo.Demo):
    """The demo's process handling and Airflow API calls, on the compose topology."""

    def __init__(self, args: argparse.Namespace):
        super().__init__(args)
        self.secrets = {"AIRFLOW_FERNET_KEY": _fernet_key(), "AIRFLOW_JWT_SECRET": secrets.token_urlsafe(32),
                        "AIRFLOW_ADMIN_PASSWORD": secrets.token_urlsafe(16)}
        env = local_environment(compose_environment(),
                                local_overrides(args.airflow_port, args.redis_db, self.secrets))
        self.env.update(env)
        self.env.update(LOCAL_ADDITIONS)
        self.env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "include"), str(ROOT)])
        self.env["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] = "False"
        self.workers: dict[str, subprocess.Popen] = {}
        self.airflow_log = demo.DEMO / "scheduler.log"

    def password(self) -> str:
        return self.secrets["AIRFLOW_ADMIN_PASSWORD"]

    def reset_services(self) -> None:
        import redis

        admin = create_engine(f"postgresql+psycopg2://{PG}/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            for name in (META_DB, STATE_DB):
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                connection.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        redis.Redis(host="127.0.0.1", port=6379, db=self.args.redis_db).flushdb()
        say(f"PostgreSQL databases {META_DB} (metadata, Celery results) and {STATE_DB} (state) created; "
            f"Redis database {self.args.redis_db} emptied (broker)")

    def init(self, stores: list[Store]) -> None:
        """compose's airflow-init, with the stores' connections and Variable."""
        entries = [s.config.to_dict() for s in stores]
        env = {**self.env, "AIRFLOW_ADMIN_PASSWORD": self.secrets["AIRFLOW_ADMIN_PASSWORD"],
               "CARTUM_ROAPP_CONNECTIONS": json.dumps(connections(stores)),
               "CARTUM_ROAPP_STORES": json.dumps(entries)}
        started = time.monotonic()
        result = subprocess.run(["bash", str(ROOT / "config" / "compose-init.sh")], env=env, cwd=ROOT,
                                capture_output=True, text=True)
        (demo.DEMO / "airflow-init.log").write_text(result.stdout + result.stderr)
        if result.returncode != 0:
            raise SystemExit(f"config/compose-init.sh failed:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}")
        say(f"airflow-init done in {time.monotonic() - started:.0f} s: migrations, admin, "
            f"{len(connections(stores))} connections, Variable {VARIABLE_NAME} with {len(entries)} stores")

    def start_services(self) -> None:
        airflow = str(demo.VENV_BIN / "airflow")
        api, api_log = self.start("api-server", [airflow, "api-server", "--port", str(self.args.airflow_port)])
        self.start("scheduler", [airflow, "scheduler"])
        self.start("dag-processor", [airflow, "dag-processor"])
        for name in WORKERS:
            self.env["CARTUM_DIST_HOSTNAME"] = name
            process, _ = self.start(name, [airflow, "celery", "worker", "--celery-hostname", f"{name}@%h"])
            self.workers[name] = process
        del self.env["CARTUM_DIST_HOSTNAME"]
        say(f"started api-server ({self.api}), scheduler, dag-processor and Celery workers {', '.join(WORKERS)}; "
            f"logs in {demo.DEMO}")
        demo.wait_for("the Airflow API server", lambda: requests.get(f"{self.api}/api/v2/monitor/health", timeout=5).ok, 300, api, api_log)
        self.session.headers["Authorization"] = f"Bearer {self.login()}"

    def runs(self, dag_id: str) -> list[dict[str, Any]]:
        response = self.call(f"listing the runs of {dag_id}", "GET", f"/api/v2/dags/{dag_id}/dagRuns", accept=(404,))
        runs = response.json()["dag_runs"] if response.status_code == 200 else []
        return sorted(runs, key=lambda r: r.get("run_after") or r.get("queued_at") or "")

    def task_instances(self, dag_id: str = "~", run_id: str = "~", **params: Any) -> list[dict[str, Any]]:
        return self.call("listing task instances", "GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances",
                         params={"limit": 1000, **params}).json()["task_instances"]

    def tries(self, ti: dict[str, Any]) -> list[dict[str, Any]]:
        path = f"/api/v2/dags/{ti['dag_id']}/dagRuns/{ti['dag_run_id']}/taskInstances/{ti['task_id']}/tries"
        return self.call(f"listing the tries of {ti['task_id']}", "GET", path).json()["task_instances"]

    def kill_worker(self, name: str) -> None:
        """SIGKILL the worker and every process under it, as when its machine is lost."""
        process = self.workers[name]
        victims = [process.pid] + [p.pid for p in psutil.Process(process.pid).children(recursive=True)]
        for pid in victims:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        process.wait(timeout=30)


def _fernet_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


# --- the run ------------------------------------------------------------------------------

@dataclass
class Kill:
    worker: str
    dag_id: str
    task_id: str
    run_id: str
    writes_before: int
    at_s: float
    #: (dag_id, task_id) of every task the worker was running when it was killed
    lost: list[tuple[str, str]]


def import_window_start(engine: Any, store: Store, run_id: str) -> str | None:
    """Where the run's import window starts (its plan), or None while it has no plan yet
    (or the state database no tables yet: the run's first step creates them)."""
    from sqlalchemy.exc import SQLAlchemyError

    from cartum_roapp_sync.pipeline.errors import FatalStepError

    try:
        return RunData(StateStore(engine, store.store_id), run_id).plan().start(ORDERS)
    except (FatalStepError, SQLAlchemyError):
        return None


def first_runs(topology: Topology, stores: list[Store], timeout: float, started: float,
               kill_after_writes: int) -> tuple[dict[str, dict[str, Any]], Kill | None]:
    """Waits for each store's first (scheduled) run to finish; while they run, kills the
    worker that runs a load step once that step has made ``kill_after_writes`` writes.

    Each first run's import window is read from its plan while that run is still going
    (``run["orders_from"]``): the next scheduled run may start the moment it ends (each
    store has its own minute), and its first step clears the earlier runs' data."""
    dag_ids = {s.config.dag_id: s for s in stores}
    engine = create_engine(f"postgresql+psycopg2://{PG}/{STATE_DB}")
    windows: dict[str, str] = {}
    finished: dict[str, dict[str, Any]] = {}
    kill: Kill | None = None
    last = ""
    while len(finished) < len(dag_ids):
        if time.monotonic() - started > timeout:
            raise SystemExit(f"the stores' first runs did not finish within {timeout:.0f} s; logs in {demo.DEMO}")
        states = {}
        for dag_id in dag_ids:
            runs = topology.runs(dag_id)
            if runs:
                states[dag_id] = runs[0]["state"]
                if dag_id not in windows and runs[0]["state"] == "running":
                    start = import_window_start(engine, dag_ids[dag_id], runs[0]["dag_run_id"])
                    if start is not None:
                        windows[dag_id] = start
                if runs[0]["state"] in ("success", "failed"):
                    finished[dag_id] = {**runs[0], "orders_from": windows.get(dag_id)}
        running = topology.task_instances(state=["running"])
        line = ", ".join(f"{d}: {states.get(d, 'not yet')}" for d in dag_ids) + " | running: " + ", ".join(
            f"{t['dag_id'].split('__')[-1]}.{t['task_id']}@{t['hostname']}" for t in running)
        if line != last:
            say(f"[{time.monotonic() - started:5.0f} s] {line}")
            last = line
        if kill is None:
            kill = maybe_kill(topology, dag_ids, running, kill_after_writes, started)
        time.sleep(2)
    return finished, kill


_load_writes_at_start: dict[tuple[str, str, str], int] = {}


def maybe_kill(topology: Topology, stores: dict[str, Store], running: list[dict[str, Any]],
               kill_after_writes: int, started: float) -> Kill | None:
    for ti in running:
        if ti["task_id"] not in LOAD_STEPS or ti["hostname"] not in WORKERS:
            continue
        store = stores[ti["dag_id"]]
        writes = len(checks.writes(store.roapp.admin.requests()))
        key = (ti["dag_id"], ti["dag_run_id"], ti["task_id"])
        first = _load_writes_at_start.setdefault(key, writes)
        if writes - first >= kill_after_writes:
            topology.kill_worker(ti["hostname"])
            lost = [(t["dag_id"], t["task_id"]) for t in running if t["hostname"] == ti["hostname"]]
            kill = Kill(ti["hostname"], ti["dag_id"], ti["task_id"], ti["dag_run_id"], writes - first,
                        time.monotonic() - started, lost)
            say(f"KILLED {kill.worker} (SIGKILL, with all its processes) while it ran {kill.dag_id}.{kill.task_id}, "
                f"after {kill.writes_before} writes of that account since the step started; it was running "
                + ", ".join(f"{d.split('__')[-1]}.{t}" for d, t in lost))
            return kill
    return None


def max_in_window(times: list[float], window: float = 1.0) -> int:
    """The most requests in any ``window`` seconds."""
    times, most, start = sorted(times), 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= window:
            start += 1
        most = max(most, end - start + 1)
    return most


def check_results(stores: list[Store], finished: dict[str, dict[str, Any]]) -> list[str]:
    """Every run succeeded and RO App holds what Cartum says, store by store; a problem list."""
    problems = []
    engine = create_engine(f"postgresql+psycopg2://{PG}/{STATE_DB}")
    for store in stores:
        run = finished[store.config.dag_id]
        if run["state"] != "success":
            problems.append(f"{store.config.dag_id}: run {run['dag_run_id']} {run['state']}")
            continue
        cartum = store.cartum.admin.state()
        view = checks.RoAppView(store.roapp.admin.state(), store.store_id)
        orders_from = run["orders_from"]
        if orders_from is None:
            problems.append(f"{store.config.dag_id}: the import window of run {run['dag_run_id']} was not seen while "
                            f"it ran (its plan was never read)")
            continue
        expected = checks.expected_import(cartum, orders_from)
        try:
            if not expected:
                raise AssertionError("the import window holds no order: the check would prove nothing")
            checks.check_orders(cartum, view, store.config, expected)
            checks.check_products(cartum, view, store.config, expected.values())
            checks.assert_no_duplicates(view)
            say(f"{store.store_id}: RO App holds its {len(expected)} orders and {len(cartum['products'])} products, "
                f"each once and right")
        except AssertionError as exc:
            problems.append(f"{store.store_id}: {exc}")
    engine.dispose()
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/distributed-test.sh", description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, default=ROOT / ".distributed",
                        help="Airflow home and the logs (wiped first; default .distributed/)")
    parser.add_argument("--orders", type=int, default=20, help="orders in each Cartum store (default 20)")
    parser.add_argument("--redis-db", type=int, default=12, help="the Redis database of the broker (default 12)")
    parser.add_argument("--airflow-port", type=int, default=0, help="the api-server's port (default: a free one)")
    parser.add_argument("--kill-after-writes", type=int, default=4,
                        help="kill the worker of a load step after this many writes of the step (default 4)")
    parser.add_argument("--timeout", type=float, default=780, help="seconds for everything (default 780)")
    args = parser.parse_args(argv)
    args.airflow_port = args.airflow_port or demo.free_port(8790)

    import shutil

    workdir = args.workdir.resolve()
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    demo.set_workdir(workdir)
    started = time.monotonic()
    topology = Topology(args)
    # a SIGTERM (a timeout of CI or pytest) stops everything started, as a failure does
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("stopped by SIGTERM"))
    problems: list[str] = []
    with ExitStack() as stack:
        stack.callback(topology.stop_all)
        stores = start_stores(stack, args.orders)
        say("stores: " + "; ".join(f"{s.store_id} (Cartum {s.cartum.url}, RO App {s.roapp_conn_id} {s.roapp.url})"
                                  for s in stores))
        topology.reset_services()
        topology.init(stores)
        topology.start_services()
        finished, kill = first_runs(topology, stores, args.timeout, started, args.kill_after_writes)
        for dag_id in finished:
            topology.call(f"pausing {dag_id}", "PATCH", f"/api/v2/dags/{dag_id}", json={"is_paused": True})

        # where the tasks ran: every try of every task of the three runs
        tries: list[dict[str, Any]] = []
        for run in finished.values():
            for ti in topology.task_instances(run["dag_id"], run["dag_run_id"]):
                tries += topology.tries(ti) if (ti.get("try_number") or 0) > 1 else [ti]
        split = Counter(t["hostname"] for t in tries if t.get("hostname"))
        say("tasks per worker (every try): " + ", ".join(f"{h} {n}" for h, n in sorted(split.items())))
        if not all(split.get(w) for w in WORKERS):
            problems.append(f"tasks did not run on both workers: {dict(split)}")

        if kill is None:
            problems.append("no worker was killed: no load step made enough writes while it ran")
        else:
            for dag_id, task_id in kill.lost:
                retried = sorted((t for t in tries if t["dag_id"] == dag_id and t["task_id"] == task_id),
                                 key=lambda t: t["try_number"])
                outcome = ", ".join(f"try {t['try_number']} {t['state']} on {t['hostname']}" for t in retried)
                say(f"killed step {dag_id.split('__')[-1]}.{task_id}: {outcome}")
                if not (retried and retried[0]["hostname"] == kill.worker and retried[0]["state"] != "success"
                        and retried[-1]["state"] == "success" and retried[-1]["hostname"] != kill.worker):
                    problems.append(f"{dag_id}.{task_id}, killed with {kill.worker}, did not then succeed on the "
                                    f"other worker: {outcome}")

        problems += check_results(stores, finished)

        shared = stores[0].roapp.admin.requests()
        fingerprint = key_fingerprint(SHARED_KEY)
        on_key = [r for r in shared if r["key"] == fingerprint]
        most = max_in_window([r["ts"] for r in on_key])
        refused = sum(r["status"] == 429 for r in on_key)
        say(f"shared key: {len(on_key)} requests from stores {stores[0].store_id} and {stores[1].store_id}; "
            f"at most {most} in any one second; {refused} answered 429")
        if most > ROAPP_RATE or refused:
            problems.append(f"the shared key saw {most} requests in one second and {refused} 429s")
        if not on_key or {r["key"] for r in shared} - {fingerprint, None}:
            problems.append("the shared account's log does not hold the shared key's requests alone")

    wall = time.monotonic() - started
    print(f"Distributed test wall time: {wall:.0f} s; " + ("PASSED" if not problems else "FAILED"), flush=True)
    for problem in problems:
        print(f"PROBLEM: {problem}", flush=True)
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
