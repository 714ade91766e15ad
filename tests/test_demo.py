"""The README's demo, end to end through real Airflow (standalone, SQLite): sandboxes,
Variable and Connections set with the airflow CLI, a triggered DAG run, the report. And,
without Airflow, its ``--profile`` plumbing: both sandboxes it starts serve the profile, its
Cartum connection's User-Agent gets past the alternative profile's bot filter, and its store
entry is one setup accepts on that profile (managers by id)."""

from __future__ import annotations

import importlib.util
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[1]


def load_demo():
    spec = importlib.util.spec_from_file_location("demo_script", ROOT / "scripts" / "demo.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_demo_runs_the_dag_through_airflow(tmp_path):
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "demo.py"), "--exit", "--orders", "40", "--products", "20",
         "--customers", "15", "--roapp-rate", "20", "--airflow-port", str(free_port()), "--workdir", str(tmp_path)],
        capture_output=True, text=True, timeout=880, cwd=ROOT)
    output = result.stdout
    assert result.returncode == 0, output[-4000:] + result.stderr[-4000:]
    assert "SUCCESS" in output and "first import" in output
    landed = output.split("What landed in RO App:")[1]
    orders = int(landed.split("orders")[1].split()[0])
    assert orders > 0
    assert "login: admin / " in output
    # the first import is a first import, not a lost state being rebuilt (read through
    # Airflow's real task context)
    start_logs = [p.read_text() for p in tmp_path.rglob("task_id=validate_setup/*.log")]
    assert start_logs and all("FIRST IMPORT" in log or "incremental" in log for log in start_logs)
    assert not any("has synced before" in log for log in start_logs)


@pytest.mark.parametrize("profile", ["documented", "alternative"])
def test_the_demo_starts_both_sandboxes_on_its_profile(profile, tmp_path):
    from cartum_roapp_sync.cartum.client import CartumClient
    from cartum_roapp_sync.config import parse_store

    demo = load_demo()
    args = demo.parse_args(["--profile", profile, "--orders", "10", "--products", "8", "--customers", "5",
                            "--workdir", str(tmp_path)])
    demo.set_workdir(tmp_path)
    runner = demo.Demo(args)
    try:
        runner.start_sandboxes()
        for url in (runner.cartum_url, runner.roapp_url):
            assert requests.get(f"{url}/_sandbox/state", timeout=10).json()["profile"]["name"] == profile

        # the connection's User-Agent gets the API; python-requests' own meets the bot filter
        # on the alternative profile only
        agent = runner.cartum_extra()["user_agent"]
        client = CartumClient(runner.cartum_url, demo.CARTUM_LOGIN, demo.CARTUM_PASSWORD, user_agent=agent,
                              requests_per_second=0)
        assert client.call("orders/get", {"limit": 1, "offset": 0})["orders"]
        plain = requests.post(f"{runner.cartum_url}/api/auth/", timeout=10,
                              json={"login": demo.CARTUM_LOGIN, "password": demo.CARTUM_PASSWORD})
        assert plain.headers["content-type"].startswith("text/html" if profile == "alternative" else "application/json")

        entry = runner.store_entry()
        store = parse_store(entry)
        if profile == "documented":
            assert store.managers == "all"
        else:  # RO App does not say who is a Manager: listed by id, the location's active ones
            assert store.managers and all(isinstance(i, int) for i in store.managers)
    finally:
        runner.stop_all()


def test_the_demos_airflow_settings_are_in_airflow_cfg_where_the_tool_reads_them(tmp_path):
    """Airflow and the tool (``cartum-roapp stores ...``, run with the demo's AIRFLOW_HOME)
    read one ``airflow.cfg``: the tool sees that DAGs start unpaused, and every component
    gets the same secrets."""
    import os

    demo = load_demo()
    demo.set_workdir(tmp_path)
    path = demo.write_airflow_cfg(8123)
    assert path == tmp_path / "airflow" / "airflow.cfg"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env["AIRFLOW_HOME"] = str(path.parent)
    read = ("from airflow.configuration import conf; "
            "print(conf.getboolean('core', 'dags_are_paused_at_creation'), conf.get('core', 'test_connection'), "
            "conf.get('api', 'port'), conf.get('core', 'dags_folder'), conf.get('api_auth', 'jwt_secret'))")
    first, second = (subprocess.run([sys.executable, "-c", read], env=env, capture_output=True, text=True,
                                    timeout=120, check=True).stdout.split() for _ in range(2))
    assert first[:4] == ["False", "Enabled", "8123", str(ROOT / "dags")]
    assert first[4] and first == second  # the JWT secret is in the file, not made up per process
    assert "test_connection = Enabled" in path.read_text()


def test_a_queued_run_says_which_run_it_waits_behind(tmp_path):
    """The triggered run waits behind the scheduler's first import (one run at a time): the
    progress line names that run and how far it is, instead of a bare ``queued: 0/10``."""
    from types import SimpleNamespace

    demo = load_demo()
    demo.set_workdir(tmp_path)
    runner = demo.Demo(demo.parse_args(["--workdir", str(tmp_path)]))
    scheduled = "scheduled__2026-11-29T10:35:00+00:00"
    answers = {
        f"/api/v2/dags/{demo.DAG_ID}/dagRuns": {"dag_runs": [
            {"dag_run_id": "manual__mine", "run_type": "manual"},
            {"dag_run_id": scheduled, "run_type": "scheduled"}]},
        f"/api/v2/dags/{demo.DAG_ID}/dagRuns/{scheduled}/taskInstances": {"task_instances": [
            {"state": "success"}] * 4 + [{"state": "running"}] + [{"state": None}] * 5},
    }
    runner.call = lambda what, method, path, **kwargs: SimpleNamespace(json=lambda: answers[path])
    assert runner.queued_behind("manual__mine") == (
        f"; waiting behind the scheduler's run {scheduled} (4/10 tasks done; one run at a time, so it starts "
        f"when that one ends)")
    answers[f"/api/v2/dags/{demo.DAG_ID}/dagRuns"] = {"dag_runs": [{"dag_run_id": "manual__mine"}]}
    assert runner.queued_behind("manual__mine") == ""


def test_the_demo_on_postgresql_keeps_airflows_metadata_and_the_state_there(tmp_path):
    """``--metadata-db postgresql``: both databases are created on the server, Airflow (and
    the tool, reading the same ``airflow.cfg``) uses the metadata one, and the state
    connection points at the other; a password on the command line is refused."""
    import os
    import uuid

    import pytest
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    demo = load_demo()
    demo.set_workdir(tmp_path)
    url = make_url(os.environ.get("CARTUM_ROAPP_TEST_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test"))
    server = f"{url.username}@{url.host}:{url.port or 5432}"
    tag = uuid.uuid4().hex[:8]

    class OnPostgres(demo.Demo):
        pg_databases = (f"cartum_demo_test_meta_{tag}", f"cartum_demo_test_state_{tag}")

    runner = OnPostgres(demo.parse_args(["--workdir", str(tmp_path), "--metadata-db", "postgresql",
                                         "--postgres", server]))
    assert runner.metadata_url == f"postgresql+psycopg2://{server}/cartum_demo_test_meta_{tag}"
    assert runner.state_url == f"postgresql+psycopg2://{server}/cartum_demo_test_state_{tag}"
    try:
        runner.reset_postgres()
        path = demo.write_airflow_cfg(8124, runner.metadata_url)
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        env["AIRFLOW_HOME"] = str(path.parent)
        read = "from airflow.configuration import conf; print(conf.get('database', 'sql_alchemy_conn'))"
        assert subprocess.run([sys.executable, "-c", read], env=env, capture_output=True, text=True, timeout=120,
                              check=True).stdout.split()[-1] == runner.metadata_url
        from cartum_roapp_sync.state.db import get_engine

        for engine in (create_engine(runner.metadata_url), get_engine(runner.state_url)):
            with engine.connect() as connection:
                assert connection.execute(text("select current_database()")).scalar() in OnPostgres.pg_databases
            engine.dispose()
    finally:
        admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            for name in OnPostgres.pg_databases:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    with pytest.raises(SystemExit):
        demo.parse_args(["--metadata-db", "postgresql", "--postgres", "postgres:secret@127.0.0.1:5432"])
    assert demo.Demo(demo.parse_args(["--workdir", str(tmp_path)])).state_url == f"sqlite:///{demo.STATE_DB}"
