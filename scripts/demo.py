"""The demo: both sandboxes with seeded data, a demo store configured through the real
Airflow Variable and Connections, ``airflow standalone`` on SQLite, one triggered run of
the store's DAG, and a report of what landed in RO App.

Run it through ``scripts/demo.sh`` (which creates the environment first). Everything it
writes lives under ``.demo/`` in the checkout. Options: ``--orders N`` (seeded Cartum
orders), ``--exit`` (stop everything after the report instead of leaving Airflow up),
``--roapp-rate N`` (the RO App sandbox's requests per second; 3 is the real limit),
``--profile documented|alternative`` (default ``documented``), ``--metadata-db
sqlite|postgresql`` (default ``sqlite``; ``postgresql``: Airflow's metadata and the state
database on the PostgreSQL server ``--postgres USER@HOST:PORT``, databases
``cartum_demo_meta`` and ``cartum_demo_state``, dropped and created first as ``.demo/``
is wiped).

The profile goes to both sandboxes (``cartum_roapp_sandbox.{cartum,roapp}.profile``). On
``alternative`` the Cartum store sits behind a bot filter that answers script User-Agents
with a JS-challenge page, so the demo's Cartum connection names its ``user_agent`` extra
(the sync's own descriptive one, which the filter lets through); and RO App's employee
answers carry no role, so the demo store lists its managers by id instead of ``all``.

Every call to Airflow's REST API (login, trigger, run state, task instances) is retried for
up to ``API_RETRY_SECONDS`` on a 5xx, a connection error or an answer that mentions
"database is locked": on SQLite, the scheduler's first run can hold the metadata database
while the demo calls. Any other 4xx fails at once with Airflow's message.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / ".demo"  # --workdir changes it
AIRFLOW_HOME = DEMO / "airflow"
STATE_DB = DEMO / "cartum_roapp_state.db"
VENV_BIN = Path(sys.executable).parent
STORE_ID = "demo"
DAG_ID = f"cartum_roapp__{STORE_ID}"
CARTUM_LOGIN, CARTUM_PASSWORD, ROAPP_KEY = "sandbox_admin", "sandbox-password", "sandbox-api-key"
API_RETRY_SECONDS = 300.0  # how long one Airflow API call is retried while Airflow is busy

PROFILES = ("documented", "alternative")

#: Cartum status (English title) → RO App status name, for the seeded data of both sandboxes.
STATUS_MATCH = {"New": "New", "Processing": "In work", "Delivered": "Delivered", "Shipping": "Shipped",
                "Canceled / Not delivered": "Canceled", "Canceled": "Canceled"}


def airflow_settings(port: int, metadata_url: str | None = None) -> dict[str, dict[str, str]]:
    """The demo Airflow's settings, by section: written to ``airflow.cfg``. The secrets
    are generated here as Airflow does when it writes its own default file: every component
    (scheduler, API server, task processes) must read the same ones. ``metadata_url``:
    Airflow's metadata database (None: Airflow's default, SQLite in AIRFLOW_HOME)."""
    from base64 import b64encode

    from cryptography.fernet import Fernet

    return {
        "core": {"dags_folder": str(ROOT / "dags"), "load_examples": "False",
                 "fernet_key": Fernet.generate_key().decode(),
                 "dags_are_paused_at_creation": "False",
                 "execution_api_server_url": f"http://127.0.0.1:{port}/execution/",
                 "simple_auth_manager_users": "admin:admin",
                 # the connection forms' Test button (Airflow ships it disabled)
                 "test_connection": "Enabled"},
        "dag_processor": {"refresh_interval": "5"},
        "api": {"port": str(port), "secret_key": b64encode(os.urandom(16)).decode()},
        "api_auth": {"jwt_secret": b64encode(os.urandom(16)).decode()},
        **({"database": {"sql_alchemy_conn": metadata_url}} if metadata_url else {}),
    }


def write_airflow_cfg(port: int, metadata_url: str | None = None) -> Path:
    """``airflow.cfg`` in the demo's AIRFLOW_HOME; every other setting keeps Airflow's default."""
    AIRFLOW_HOME.mkdir(parents=True, exist_ok=True)
    path = AIRFLOW_HOME / "airflow.cfg"
    path.write_text("".join(f"[{section}]\n" + "".join(f"{key} = {value}\n" for key, value in values.items()) + "\n"
                            for section, values in airflow_settings(port, metadata_url).items()))
    return path


def set_workdir(path: Path) -> None:
    global DEMO, AIRFLOW_HOME, STATE_DB
    DEMO, AIRFLOW_HOME, STATE_DB = path, path / "airflow", path / "cartum_roapp_state.db"


def say(text: str) -> None:
    print(f"==> {text}", flush=True)


def free_port(preferred: int) -> int:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", preferred))
            return preferred
        except OSError:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]


def busy_answer(response: requests.Response) -> bool:
    return response.status_code >= 500 or "database is locked" in response.text.lower()


def short(response: requests.Response) -> str:
    """The status and the start of the answer, on one line."""
    text = " ".join(response.text.split())
    return f"{response.status_code} {text[:300]}{'…' if len(text) > 300 else ''}"


class Backoff:
    """Waits between retries of one Airflow call: 1 s doubling to 10 s, for up to
    ``API_RETRY_SECONDS`` in all; a short note for the first retries, then every tenth."""

    def __init__(self, what: str, log: Path):
        self.what, self.log = what, log
        self.deadline, self.delay, self.retries = time.monotonic() + API_RETRY_SECONDS, 1.0, 0

    def wait(self, problem: str) -> None:
        if time.monotonic() + self.delay > self.deadline:
            raise SystemExit(f"{self.what} still failing after {API_RETRY_SECONDS:.0f} s: {problem}. Airflow stays "
                             f"busy or down; see {self.log}")
        self.retries += 1
        if self.retries <= 3 or self.retries % 10 == 0:
            say(f"{self.what}: Airflow is busy ({problem[:160]}); retrying in {self.delay:.0f} s")
        time.sleep(self.delay)
        self.delay = min(self.delay * 2, 10.0)


def wait_for(what: str, check, timeout: float, process: subprocess.Popen | None = None, log: Path | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except (requests.RequestException, OSError, ValueError, KeyError):
            pass
        if process is not None and process.poll() is not None:
            tail = log.read_text()[-3000:] if log and log.exists() else ""
            raise SystemExit(f"{what}: the process exited with {process.returncode}\n{tail}")
        time.sleep(1)
    raise SystemExit(f"timed out after {timeout:.0f} s waiting for {what}" + (f"; see {log}" if log else ""))


class Demo:
    #: Airflow's metadata database and the state database on ``--metadata-db postgresql``
    pg_databases = ("cartum_demo_meta", "cartum_demo_state")

    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.metadata_url, self.state_url = None, f"sqlite:///{STATE_DB}"
        if getattr(args, "metadata_db", "sqlite") == "postgresql":
            meta, state = self.pg_databases
            self.metadata_url = f"postgresql+psycopg2://{args.postgres}/{meta}"
            self.state_url = f"postgresql+psycopg2://{args.postgres}/{state}"
        self.processes: list[subprocess.Popen] = []
        # Airflow's settings go to airflow.cfg in AIRFLOW_HOME, not into this process's
        # environment: the tool (cartum-roapp stores ...) then reads the same settings.
        # The package is installed in the venv (setup_env.sh), so no PYTHONPATH: include/
        # would list its entry points a second time (its egg-info from the editable install).
        self.env = {**os.environ, "AIRFLOW_HOME": str(AIRFLOW_HOME), "PATH": f"{VENV_BIN}:{os.environ['PATH']}"}
        self.names: dict[int, str] = {}
        self.api = f"http://127.0.0.1:{args.airflow_port}"
        self.session = requests.Session()
        self.airflow_log = DEMO / "airflow-standalone.log"

    # --- Airflow's REST API -------------------------------------------------------------

    def send(self, what: str, method: str, path: str, *, accept: tuple[int, ...] = (),
             **kwargs) -> tuple[requests.Response | None, str]:
        """One attempt: ``(response, "")`` when it is an answer to use, ``(None, problem)`` when
        Airflow is busy or did not answer; any other 4xx stops the demo with Airflow's message."""
        try:
            response = self.session.request(method, f"{self.api}{path}", timeout=30, **kwargs)
        except (requests.ConnectionError, requests.Timeout) as exc:
            return None, f"no answer ({type(exc).__name__})"
        if response.status_code in accept or (response.status_code < 400 and not busy_answer(response)):
            return response, ""
        if busy_answer(response):
            return None, short(response)
        raise SystemExit(f"{what} failed: {short(response)}")

    def call(self, what: str, method: str, path: str, *, accept: tuple[int, ...] = (),
             **kwargs) -> requests.Response:
        """``send``, retried with backoff for up to ``API_RETRY_SECONDS`` while Airflow is
        busy or does not answer, with a short note for each retry."""
        retry = Backoff(what, self.airflow_log)
        while True:
            response, problem = self.send(what, method, path, accept=accept, **kwargs)
            if response is not None:
                return response
            retry.wait(problem)

    # --- processes ----------------------------------------------------------------------

    def start(self, name: str, command: list[str], label: str = "") -> tuple[subprocess.Popen, Path]:
        """Starts ``command`` with its output in ``<name>.log``; ``label`` names it when stopped."""
        log = DEMO / f"{name}.log"
        handle = open(log, "w")
        process = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, env=self.env, cwd=ROOT,
                                   start_new_session=True)
        self.processes.append(process)
        self.names[process.pid] = label or name
        return process, log

    def stop_all(self, verbose: bool = False) -> None:
        running = [p for p in reversed(self.processes) if p.poll() is None]
        if verbose and running:
            say("stopping " + ", ".join(self.names.get(p.pid, str(p.pid)) for p in running)
                + f"; logs, Airflow's and the state database stay in {DEMO}")
        for process in running:
            os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        if verbose and running:
            say("stopped")

    def airflow(self, *args: str) -> str:
        result = subprocess.run([str(VENV_BIN / "airflow"), *args], env=self.env, cwd=ROOT, capture_output=True,
                                text=True)
        if result.returncode != 0:
            raise SystemExit(f"airflow {' '.join(args[:2])} failed:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}")
        return result.stdout

    # --- steps --------------------------------------------------------------------------

    def sandbox_commands(self, cartum_port: int, roapp_port: int) -> tuple[list[str], list[str]]:
        """The command lines of the Cartum and the RO App sandbox, both on ``--profile``."""
        a = self.args
        cartum = [sys.executable, "-m", "cartum_roapp_sandbox.cartum", "--port", str(cartum_port),
                  "--seed", "42", "--orders", str(a.orders), "--products", str(a.products),
                  "--customers", str(a.customers), "--login", CARTUM_LOGIN, "--password", CARTUM_PASSWORD,
                  "--profile", a.profile]
        roapp = [sys.executable, "-m", "cartum_roapp_sandbox.roapp", "--port", str(roapp_port),
                 "--seed", "42", "--api-key", ROAPP_KEY, "--rate-limit", str(a.roapp_rate), "--profile", a.profile]
        return cartum, roapp

    def start_sandboxes(self) -> None:
        a = self.args
        cartum_port, roapp_port = free_port(8701), free_port(8702)
        self.cartum_url, self.roapp_url = f"http://127.0.0.1:{cartum_port}", f"http://127.0.0.1:{roapp_port}"
        say(f"starting the Cartum sandbox ({a.orders} orders) at {self.cartum_url} "
            f"and the RO App sandbox ({a.roapp_rate} requests/s per key) at {self.roapp_url}, "
            f"both on the {a.profile} profile")
        cartum_command, roapp_command = self.sandbox_commands(cartum_port, roapp_port)
        cartum, cartum_log = self.start("cartum-sandbox", cartum_command, f"the Cartum sandbox ({self.cartum_url})")
        roapp, roapp_log = self.start("roapp-sandbox", roapp_command, f"the RO App sandbox ({self.roapp_url})")
        wait_for("the Cartum sandbox", lambda: requests.get(f"{self.cartum_url}/_sandbox/faults", timeout=2).ok,
                 60, cartum, cartum_log)
        wait_for("the RO App sandbox", lambda: requests.get(f"{self.roapp_url}/_sandbox/faults", timeout=2).ok,
                 60, roapp, roapp_log)

    def store_entry(self) -> dict:
        roapp = requests.get(f"{self.roapp_url}/_sandbox/state", timeout=10).json()
        cartum = requests.get(f"{self.cartum_url}/_sandbox/state", timeout=10).json()
        location = roapp["branches"][0]["id"]
        by_name = {s["name"]: s["id"] for s in roapp["statuses"]}
        status_map = {}
        for status in cartum["statuses"]:
            title = status["title"].get("en") if isinstance(status["title"], dict) else status["title"]
            target = by_name.get(STATUS_MATCH.get(title, title)) or by_name.get("In work")
            status_map[str(status["id"])] = target
        return {"store_id": STORE_ID, "name": "Demo shop", "cartum_conn_id": "cartum_demo",
                "roapp_conn_id": "roapp_default", "location_id": location,
                "order_type_id": roapp["order_types"][0]["id"], "language": "ua", "product_key": "sku",
                "managers": managers(roapp, location), "status_map": status_map, "import_days": 60}

    def cartum_extra(self) -> dict:
        """The Cartum connection's extra: a quick rate for the sandbox, and the User-Agent
        named (the sync's own, which a bot filter lets through: the alternative profile has one)."""
        from cartum_roapp_sync.cartum.client import default_user_agent

        return {"requests_per_second": 20, "user_agent": default_user_agent()}

    def state_conn_uri(self) -> str:
        """The state database as the connection ``cartum_roapp_state`` holds it: an Airflow
        connection URI names the scheme ``postgresql`` (the sync picks psycopg2 for it)."""
        return self.state_url.replace("postgresql+psycopg2://", "postgresql://")

    def reset_postgres(self) -> None:
        """On ``--metadata-db postgresql``: drops and creates the two databases."""
        if self.metadata_url is None:
            return
        from sqlalchemy import create_engine, text

        admin = create_engine(f"postgresql+psycopg2://{self.args.postgres}/postgres", isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as connection:
                for name in self.pg_databases:
                    connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                    connection.execute(text(f'CREATE DATABASE "{name}"'))
        except Exception as exc:
            raise SystemExit(f"PostgreSQL at {self.args.postgres} refused creating {', '.join(self.pg_databases)} "
                             f"({type(exc).__name__}): start it, or give --postgres USER@HOST:PORT of a user "
                             f"who may create databases") from exc
        finally:
            admin.dispose()
        say(f"PostgreSQL databases {' and '.join(self.pg_databases)} created at {self.args.postgres}")

    def configure_airflow(self) -> None:
        self.reset_postgres()
        cfg = write_airflow_cfg(self.args.airflow_port, self.metadata_url)
        where = "SQLite" if self.metadata_url is None else f"PostgreSQL, {self.pg_databases[0]}"
        say(f"preparing Airflow in {AIRFLOW_HOME} (metadata database: {where}; settings in {cfg})")
        self.airflow("db", "migrate")
        connections = {
            "cartum_demo": ["--conn-type", "cartum", "--conn-host", self.cartum_url, "--conn-login", CARTUM_LOGIN,
                            "--conn-password", CARTUM_PASSWORD, "--conn-extra", json.dumps(self.cartum_extra())],
            "roapp_default": ["--conn-type", "roapp", "--conn-host", self.roapp_url, "--conn-password", ROAPP_KEY],
            "cartum_roapp_state": ["--conn-uri", self.state_conn_uri()],
        }
        for conn_id, options in connections.items():
            subprocess.run([str(VENV_BIN / "airflow"), "connections", "delete", conn_id], env=self.env,
                           capture_output=True)
            self.airflow("connections", "add", conn_id, *options)
        entry = self.store_entry()
        self.airflow("variables", "set", "cartum_roapp_stores", json.dumps([entry]))
        say(f"configured store {STORE_ID!r}: connections cartum_demo (User-Agent "
            f"{self.cartum_extra()['user_agent']!r}), roapp_default, cartum_roapp_state; Variable cartum_roapp_stores "
            f"({len(entry['status_map'])} statuses matched; managers: {entry['managers']})")

    def start_standalone(self) -> tuple[subprocess.Popen, Path]:
        """``airflow standalone``, up and logged in to: its process and log."""
        say(f"starting airflow standalone (UI and API on {self.api}); log: {DEMO / 'airflow-standalone.log'}")
        process, log = self.start("airflow-standalone", [str(VENV_BIN / "airflow"), "standalone"],
                                  f"airflow standalone (scheduler, DAG processor, triggerer, API server at {self.api})")
        wait_for("the Airflow API server", lambda: requests.get(f"{self.api}/api/v2/monitor/health", timeout=5).ok,
                 300, process, log)
        wait_for("the generated admin password", self.password, 120, process, log)
        self.session.headers["Authorization"] = f"Bearer {self.login()}"
        return process, log

    def start_airflow(self) -> None:
        process, log = self.start_standalone()
        say(f"waiting for the DAG processor to load {DAG_ID}")
        wait_for(f"DAG {DAG_ID} to be parsed", self.dag_is_loaded, 300, process, log)

    def dag_is_loaded(self) -> bool:
        """404 until the DAG processor has stored it; busy answers are retried by ``call``."""
        response = self.call(f"reading DAG {DAG_ID}", "GET", f"/api/v2/dags/{DAG_ID}", accept=(404,))
        return response.status_code == 200

    def login(self) -> str:
        response = self.call("logging in to Airflow as admin", "POST", "/auth/token",
                             json={"username": "admin", "password": self.password()})
        return response.json()["access_token"]

    def password(self) -> str:
        generated = AIRFLOW_HOME / "simple_auth_manager_passwords.json.generated"
        return json.loads(generated.read_text())["admin"]

    def trigger(self) -> str:
        """Trigger one run; returns its id. The id is chosen here, so that a trigger whose
        answer was lost (a 5xx after Airflow stored the run) is recognised by the 409 of its
        retry instead of starting a second run. A 409 for an id not sent before means the id
        is taken: a new one is picked."""
        for _ in range(5):
            run_id = f"manual__{datetime.now(timezone.utc).isoformat()}"
            retry, sent = Backoff(f"triggering {DAG_ID}", self.airflow_log), False
            while True:
                response, problem = self.send(f"triggering {DAG_ID}", "POST", f"/api/v2/dags/{DAG_ID}/dagRuns",
                                              json={"dag_run_id": run_id, "logical_date": None, "note": "demo"},
                                              accept=(409,))
                if response is None:  # busy or no answer: the run may or may not exist now
                    sent = True
                    retry.wait(problem)
                    continue
                if response.status_code != 409:
                    return response.json()["dag_run_id"]
                if sent:
                    self.call(f"reading run {run_id}", "GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}")
                    say(f"the earlier trigger went in after all: run {run_id}")
                    return run_id
                say(f"a run with id {run_id} exists already; picking a new id")
                time.sleep(1)
                break
        raise SystemExit(f"triggering {DAG_ID} failed: 5 run ids in a row were taken; see {self.airflow_log}")

    def trigger_and_wait(self) -> dict:
        self.call(f"unpausing {DAG_ID}", "PATCH", f"/api/v2/dags/{DAG_ID}", json={"is_paused": False})
        run_id = self.trigger()
        say(f"triggered run {run_id}; waiting for it (the first import runs at RO App's rate limit)")
        started, last = time.monotonic(), None
        while True:
            run = self.call(f"reading run {run_id}", "GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}").json()
            tasks = self.call(f"listing the task instances of {run_id}", "GET",
                              f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances").json()["task_instances"]
            progress = ", ".join(f"{t['task_id']}={t['state']}" for t in tasks if t["state"] not in (None, "success"))
            done = sum(t["state"] == "success" for t in tasks)
            line = f"{run['state']}: {done}/{len(tasks)} tasks done" + (f" ({progress})" if progress else "")
            if run["state"] == "queued":
                line += self.queued_behind(run_id)
            if line != last:
                say(f"[{time.monotonic() - started:5.0f} s] {line}")
                last = line
            if run["state"] in ("success", "failed"):
                run["wall_time_s"] = time.monotonic() - started
                return run
            if time.monotonic() - started > self.args.timeout:
                raise SystemExit(f"the run did not finish within {self.args.timeout} s")
            time.sleep(3)

    def queued_behind(self, run_id: str) -> str:
        """Why a queued run waits: the DAG runs one run at a time (``max_active_runs=1``),
        and the scheduler's own first run (the first import) may have started before it."""
        running = self.call(f"listing the running runs of {DAG_ID}", "GET", f"/api/v2/dags/{DAG_ID}/dagRuns",
                            params={"state": "running"}).json()["dag_runs"]
        others = [r for r in running if r["dag_run_id"] != run_id]
        if not others:
            return ""
        other = others[0]
        tasks = self.call(f"listing the task instances of {other['dag_run_id']}", "GET",
                          f"/api/v2/dags/{DAG_ID}/dagRuns/{other['dag_run_id']}/taskInstances").json()["task_instances"]
        done = sum(t["state"] == "success" for t in tasks)
        started_by = "the scheduler's" if other.get("run_type") == "scheduled" else "another"
        return (f"; waiting behind {started_by} run {other['dag_run_id']} ({done}/{len(tasks)} tasks done; "
                f"one run at a time, so it starts when that one ends)")

    def report(self, run: dict) -> None:
        from sqlalchemy import select

        from cartum_roapp_sync.state.db import get_engine
        from cartum_roapp_sync.state.store import StateStore
        from cartum_roapp_sync.state.tables import runs

        engine = get_engine(self.state_url)
        store = StateStore(engine, STORE_ID)
        with engine.connect() as connection:
            run_ids = connection.execute(select(runs.c.run_id).where(runs.c.store_id == STORE_ID)
                                         .order_by(runs.c.started_at)).scalars().all()
        roapp = requests.get(f"{self.roapp_url}/_sandbox/state", timeout=10).json()
        statuses: dict[str, int] = {}
        for order in roapp["orders"]:
            name = (order.get("status") or {}).get("name", "none")
            statuses[name] = statuses.get(name, 0) + 1
        items = sum(len(o.get("items") or []) for o in roapp["orders"])
        comments = sum(len(o.get("comments") or []) for o in roapp["orders"])
        print()
        print(f"Sandbox profile: {self.args.profile} (Cartum and RO App)")
        print(f"Triggered run {run['dag_run_id']}: {run['state'].upper()} after {run['wall_time_s']:.0f} s. "
              f"Runs of {DAG_ID} so far (the scheduler may have started one on its own):")
        for run_id in run_ids:
            summary = store.run_summary(run_id)
            info = summary["run"] or {}
            print(f"- {run_id}: {info.get('status')}, {'first import' if info.get('first_import') else 'incremental'}, "
                  f"{info.get('duration_s') or 0:.0f} s; API calls: Cartum {info.get('cartum_calls')}, "
                  f"RO App {info.get('roapp_calls')} ({info.get('roapp_writes')} writes)")
            for entity, counts in summary["entities"].items():
                print(f"    {entity:9} " + "  ".join(f"{k} {v}" for k, v in counts.items()))
        print("What landed in RO App:")
        print(f"  clients  {len(roapp['people'])}")
        print(f"  products {len(roapp['products'])}")
        print(f"  orders   {len(roapp['orders'])} with {items} items and {comments} comments; by status: "
              + ", ".join(f"{k} {v}" for k, v in sorted(statuses.items())))
        print()
        print(f"Airflow UI: {self.api}   login: admin / {self.password()}")
        print(f"State database (run history, quarantine): {STATE_DB if self.metadata_url is None else self.state_url}")
        print(f"Sandbox admin APIs: {self.cartum_url}/_sandbox/state  {self.roapp_url}/_sandbox/state")
        print(f"The tool against this Airflow (same settings: {AIRFLOW_HOME / 'airflow.cfg'}):")
        print(f"  AIRFLOW_HOME={AIRFLOW_HOME} {VENV_BIN / 'cartum-roapp'} stores list")


def managers(roapp_state: dict, location: int) -> str | list[int]:
    """``all`` when RO App's employee answers say who is a Manager (documented profile);
    otherwise (alternative: no role, active flag or location access) setup refuses ``all``,
    so the location's active Managers are listed by id, read from the sandbox's own data."""
    if roapp_state["profile"]["employee_facts"]:
        return "all"
    return sorted(e["id"] for e in roapp_state["employees"]
                  if e["is_active"] and e["role"] == "Manager" and location in e["branch_ids"])


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=120)
    parser.add_argument("--products", type=int, default=60)
    parser.add_argument("--customers", type=int, default=40)
    parser.add_argument("--roapp-rate", type=int, default=3)
    parser.add_argument("--airflow-port", type=int, default=8080)
    parser.add_argument("--timeout", type=int, default=1800, help="seconds to wait for the run")
    parser.add_argument("--exit", action="store_true", help="stop everything after the report")
    parser.add_argument("--workdir", type=Path, default=DEMO, help="where Airflow, logs and state go (wiped first)")
    parser.add_argument("--profile", choices=PROFILES, default="documented",
                        help="the profile both sandboxes serve (default: documented)")
    parser.add_argument("--metadata-db", choices=("sqlite", "postgresql"), default="sqlite",
                        help="Airflow's metadata and the state database: SQLite files under the workdir (default) "
                             "or PostgreSQL (--postgres), for more than a few stores")
    parser.add_argument("--postgres", default="postgres@127.0.0.1:5432", metavar="USER@HOST:PORT",
                        help="the PostgreSQL server of --metadata-db postgresql (default postgres@127.0.0.1:5432; "
                             "databases cartum_demo_meta and cartum_demo_state are dropped and created)")
    args = parser.parse_args(argv)
    if ":" in args.postgres.partition("@")[0]:
        parser.error("--postgres takes no password (it would land in logs and airflow.cfg): give it in PGPASSWORD "
                     "or ~/.pgpass, which PostgreSQL's client reads")
    return args


def main() -> None:
    args = parse_args()
    set_workdir(args.workdir.resolve())

    if DEMO.exists():
        shutil.rmtree(DEMO)
    DEMO.mkdir()
    demo = Demo(args)
    started = time.monotonic()
    try:
        demo.start_sandboxes()
        demo.configure_airflow()
        demo.start_airflow()
        run = demo.trigger_and_wait()
        demo.report(run)
        print(f"Demo wall time: {time.monotonic() - started:.0f} s (profile {args.profile})")
        if run["state"] != "success":
            raise SystemExit(1)
        if not args.exit:
            print("Airflow and both sandboxes keep running (the DAG syncs every 5 minutes). Press Ctrl+C to stop.")
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:
        print(flush=True)
        say("Ctrl+C")
        demo.stop_all(verbose=True)
    finally:
        demo.stop_all()


if __name__ == "__main__":
    main()
