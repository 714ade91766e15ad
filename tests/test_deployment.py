"""The compose file and image, checked statically (no Docker engine here), and the
programs they start, started directly; the same topology, CeleryExecutor with two workers,
started as processes on this machine (``scripts/distributed-test.sh``, a slow test)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from cartum_roapp_sync.config import VARIABLE_NAME, parse_stores
from cartum_roapp_sync.state.db import STATE_CONN_ID

ROOT = Path(__file__).resolve().parents[1]
AIRFLOW_COMMANDS = {("api-server",), ("scheduler",), ("dag-processor",), ("triggerer",), ("celery", "worker"),
                    ("celery", "flower")}
INIT_COMMAND = ["bash", "/opt/airflow/config/compose-init.sh"]


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_services_and_their_programs():
    services = compose()["services"]
    assert {"postgres", "redis", "airflow-init", "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor",
            "airflow-triggerer", "airflow-worker", "airflow-flower", "cartum-sandbox", "roapp-sandbox"} <= set(services)
    for name, service in services.items():
        command = service.get("command")
        if name.startswith("airflow"):
            assert command == INIT_COMMAND if name == "airflow-init" else (
                command[0] == "airflow" and tuple(command[1:]) in AIRFLOW_COMMANDS), name
            env = service["environment"]
            assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
            assert env["AIRFLOW_CONN_CARTUM_ROAPP_STATE"].endswith("/cartum_roapp_state")
            assert env["AIRFLOW__API_AUTH__JWT_SECRET"].startswith("${")  # from .env, never committed
    for name in ("postgres", "cartum-sandbox", "roapp-sandbox"):
        for volume in services[name]["volumes"]:
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), source


def test_image_matches_the_pins():
    dockerfile = (ROOT / "Dockerfile").read_text()
    pinned = re.search(r"^apache-airflow==(\S+)$", (ROOT / "requirements.txt").read_text(), re.M).group(1)
    assert f"apache/airflow:{pinned}-python3.11" in dockerfile
    assert "pip install --no-cache-dir -r" in dockerfile and "--no-deps -e" in dockerfile


def test_image_leaves_the_sandboxes_out():
    """The Airflow image gets the provider package only: the sandboxes are mounted into
    their own two services, never copied into the image or installed there."""
    instructions = [line for line in (ROOT / "Dockerfile").read_text().splitlines()
                    if line.strip() and not line.lstrip().startswith("#")]
    assert not [line for line in instructions if "sandbox" in line], instructions
    for name, service in compose()["services"].items():
        mounts_sandbox = any(volume.split(":")[0] == "./sandbox" for volume in service.get("volumes", []))
        assert mounts_sandbox == name.endswith("-sandbox"), name


def test_example_settings_validate():
    example = json.loads((ROOT / "config" / "airflow_settings.example.json").read_text())
    parsed = parse_stores(example["cartum_roapp_stores"])
    assert parsed.errors == {} and [s.store_id for s in parsed.stores] == ["kyiv_shop"]


def test_sandbox_services_start_as_compose_runs_them(tmp_path):
    for name in ("cartum-sandbox", "roapp-sandbox"):
        service = compose()["services"][name]
        command = service["command"]
        assert command[:2] == ["python", "-m"]
        # The service's PYTHONPATH, with each mounted folder of the container read on this
        # machine; -S leaves out site-packages, so the module can only come from the mount,
        # as in the container, where it is not installed.
        mounts = {target: ROOT / source for source, target, *_ in (v.split(":") for v in service["volumes"])}
        pythonpath = [str(mounts[entry]) for entry in service["environment"]["PYTHONPATH"].split(":")]
        result = subprocess.run([sys.executable, "-S", "-m", command[2], "--help"], capture_output=True, text=True,
                                timeout=60, cwd=tmp_path, env={**os.environ, "PYTHONPATH": os.pathsep.join(pythonpath)})
        assert result.returncode == 0, result.stderr
        for flag in command[3:]:
            if flag.startswith("--"):
                assert flag in result.stdout, f"{name}: {flag} is not a flag of {command[2]}"


# --- CeleryExecutor in compose, and the same topology on this machine ------------------------

def airflow_env() -> dict:
    return compose()["x-airflow"]["environment"]


def dotenv(path: Path) -> dict[str, str]:
    """KEY=VALUE lines, as docker compose reads them (a single-quoted value is literal)."""
    values = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value[1:-1] if value[:1] == value[-1:] == "'" and len(value) > 1 else value
    return values


def test_compose_runs_celery_on_redis_and_postgres():
    services, env = compose()["services"], airflow_env()
    postgres_db = services["postgres"]["environment"]["POSTGRES_DB"]
    api_port = services["airflow-apiserver"]["ports"][0].split(":")[-1]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert re.fullmatch(r"redis://redis:6379/\d+", env["AIRFLOW__CELERY__BROKER_URL"])
    for name, scheme in (("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "postgresql+psycopg2"),
                         ("AIRFLOW__CELERY__RESULT_BACKEND", "db+postgresql+psycopg2")):
        assert re.fullmatch(rf"{re.escape(scheme)}://airflow:\$\{{POSTGRES_PASSWORD[^}}]*\}}@postgres:5432/{postgres_db}",
                            env[name]), name
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == f"http://airflow-apiserver:{api_port}/execution/"
    assert env["AIRFLOW__CORE__TEST_CONNECTION"] == "Enabled"
    for secret in ("AIRFLOW__CORE__FERNET_KEY", "AIRFLOW__API_AUTH__JWT_SECRET"):
        assert env[secret].startswith("${") and env[secret].endswith("}"), secret
    # the admin's password file: on a volume shared by airflow-init and the api-server, in a
    # folder the image makes as the airflow user (a new named volume takes its owner)
    auth = str(Path(env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]).parent)
    assert f"airflow-auth:{auth}" in compose()["x-airflow"]["volumes"]
    assert f"RUN mkdir -p {auth}" in (ROOT / "Dockerfile").read_text()
    # every Airflow service runs on these settings, on the project's image, once PostgreSQL,
    # Redis and the init are ready
    for name, service in services.items():
        if name.startswith("airflow"):
            assert service["image"] == "cartum-roapp-sync:local" and service["build"] == ".", name
            assert env.items() <= service["environment"].items(), name
            if name != "airflow-init":
                assert service["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully"
                assert service["depends_on"]["redis"]["condition"] == "service_healthy"
    assert services["redis"]["healthcheck"]["test"][-1] == "ping"
    # workers scale (no fixed name, no published port); Flower and the sandboxes are optional
    worker = services["airflow-worker"]
    assert "container_name" not in worker and "ports" not in worker and "profiles" not in worker
    assert services["airflow-flower"]["profiles"] == ["flower"]
    assert services["cartum-sandbox"]["profiles"] == services["roapp-sandbox"]["profiles"] == ["sandbox"]


def test_compose_state_database_is_the_projects():
    from airflow.models.connection import Connection

    from cartum_roapp_sync.state.airflow import connection_url

    env = airflow_env()
    uri = env[f"AIRFLOW_CONN_{STATE_CONN_ID.upper()}"]
    database = uri.rsplit("/", 1)[1]
    assert f"CREATE DATABASE {database} " in (ROOT / "config" / "postgres-init.sql").read_text()
    url = connection_url(Connection(conn_id=STATE_CONN_ID, uri=uri.replace("${POSTGRES_PASSWORD}", "pw")))
    assert url == f"postgresql+psycopg2://airflow:pw@postgres:5432/{database}"  # the pinned driver


def test_image_and_services_pinned_to_the_projects_versions():
    requirements = (ROOT / "requirements.txt").read_text()
    pins = dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)$", requirements, re.M))
    assert (ROOT / "Dockerfile").read_text().count(f"FROM apache/airflow:{pins['apache-airflow']}-python3.11") == 1
    for name in ("apache-airflow-providers-celery", "celery", "kombu", "redis", "flower", "asyncpg", "psycopg2-binary"):
        assert name in pins, f"{name} is not pinned in requirements.txt"
    from importlib.metadata import version

    assert version("apache-airflow-providers-celery") == pins["apache-airflow-providers-celery"]
    for name, service in compose()["services"].items():
        image = service["image"]
        assert image == "cartum-roapp-sync:local" or re.fullmatch(r"(postgres|redis):\d+(\.\d+)*", image), name


def test_env_example_gives_every_secret_and_the_demo_store():
    from cartum_roapp_sync.provider import get_provider_info

    text = (ROOT / "docker-compose.yml").read_text()
    example = dotenv(ROOT / ".env.example")
    required = set(re.findall(r"\$\{([A-Z_]+):\?", text))
    assert {"AIRFLOW_JWT_SECRET", "AIRFLOW_FERNET_KEY", "POSTGRES_PASSWORD", "AIRFLOW_ADMIN_PASSWORD"} <= required
    assert {name: example[name] for name in required} == {name: "" for name in required}  # no secret committed
    assert ".env" in (ROOT / ".gitignore").read_text().splitlines()
    # what airflow-init loads: the demo store's connections and the Variable
    init = compose()["services"]["airflow-init"]["environment"]
    assert init["CARTUM_ROAPP_CONNECTIONS"] == "${CARTUM_ROAPP_CONNECTIONS:-}"
    assert init["CARTUM_ROAPP_STORES"] == "${CARTUM_ROAPP_STORES:-}"
    assert f"airflow variables set {VARIABLE_NAME} " in (ROOT / "config" / "compose-init.sh").read_text()
    connections = json.loads(example["CARTUM_ROAPP_CONNECTIONS"])
    parsed = parse_stores(example["CARTUM_ROAPP_STORES"])
    assert parsed.errors == {} and parsed.stores
    types = {t["connection-type"] for t in get_provider_info()["connection-types"]}
    for store in parsed.stores:
        assert connections[store.cartum_conn_id]["conn_type"] == "cartum"
        assert connections[store.roapp_conn_id]["conn_type"] == "roapp"
    assert {c["conn_type"] for c in connections.values()} <= types


def sandbox_port(service: dict) -> int:
    command = service["command"]
    return int(command[command.index("--port") + 1])


def test_the_demo_store_of_env_example_fits_the_compose_sandboxes(monkeypatch):
    """Its connections reach the sandbox services by name and port, plain http to them is
    allowed by CARTUM_ROAPP_PLAIN_HTTP_HOSTS (and only to them), and its store entry is the
    demo's, worked out from sandboxes seeded as compose seeds them."""
    from cartum_roapp_sandbox.cartum import CartumSandbox
    from cartum_roapp_sandbox.roapp import RoAppSandbox
    from cartum_roapp_sync.setup_checks import PLAIN_HTTP_HOSTS_VARIABLE, check_store_url
    from tests.conftest import serving
    from tests.test_demo import load_demo

    services, example = compose()["services"], dotenv(ROOT / ".env.example")
    connections = json.loads(example["CARTUM_ROAPP_CONNECTIONS"])
    [store] = parse_stores(example["CARTUM_ROAPP_STORES"]).stores
    cartum_url = f"http://cartum-sandbox:{sandbox_port(services['cartum-sandbox'])}"
    assert connections[store.cartum_conn_id]["host"] == cartum_url
    assert connections[store.roapp_conn_id]["host"] == f"http://roapp-sandbox:{sandbox_port(services['roapp-sandbox'])}"

    allowed = airflow_env()[PLAIN_HTTP_HOSTS_VARIABLE]
    assert set(allowed.split(",")) == {"cartum-sandbox", "roapp-sandbox"}
    monkeypatch.delenv(PLAIN_HTTP_HOSTS_VARIABLE, raising=False)
    assert "uses plain http" in str(check_store_url(cartum_url))
    monkeypatch.setenv(PLAIN_HTTP_HOSTS_VARIABLE, allowed)
    assert check_store_url(cartum_url) == [] and check_store_url("http://Cartum-Sandbox:8701") == []
    [problem] = check_store_url("http://shop.example.com")
    assert "uses plain http" in problem.message and PLAIN_HTTP_HOSTS_VARIABLE in problem.message

    def seed(name: str) -> int:
        command = services[name]["command"]
        return int(command[command.index("--seed") + 1])

    demo = load_demo()
    with serving(CartumSandbox.seeded(seed=seed("cartum-sandbox"), orders=20, products=10, customers=5)) as cartum, \
            serving(RoAppSandbox.seeded(seed=seed("roapp-sandbox"))) as roapp:
        runner = demo.Demo(demo.parse_args(["--workdir", "unused"]))
        runner.cartum_url, runner.roapp_url = cartum.url, roapp.url
        entry = runner.store_entry()
    assert store.to_dict() == parse_stores([{**entry, "store_id": store.store_id, "name": store.name,
                                             "cartum_conn_id": store.cartum_conn_id,
                                             "roapp_conn_id": store.roapp_conn_id}]).stores[0].to_dict()


def test_the_local_topology_takes_the_compose_settings():
    """The distributed test's Airflow processes get docker-compose.yml's Airflow environment,
    with each compose host and secret replaced and its URL scheme kept."""
    from tests.distributed import run

    secrets = {"AIRFLOW_FERNET_KEY": "k", "AIRFLOW_JWT_SECRET": "j"}
    env = run.local_environment(run.compose_environment(), run.local_overrides(8080, 12, secrets))
    assert env.keys() == airflow_env().keys()
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__CELERY__BROKER_URL"] == "redis://127.0.0.1:6379/12"
    assert not [v for v in env.values() if "${" in v or "@postgres:" in v or "//redis:" in v or "airflow-" in v]
    with pytest.raises(SystemExit, match="names a compose host"):
        run.local_environment({**run.compose_environment(), "EXTRA_URL": "redis://redis:6379/1"},
                              run.local_overrides(8080, 12, secrets))
    with pytest.raises(SystemExit, match="compose uses redis://"):
        run.local_environment(run.compose_environment(), {**run.local_overrides(8080, 12, secrets),
                                                          "AIRFLOW__CELERY__BROKER_URL": "amqp://x/"})


def test_a_store_can_have_its_own_celery_queue():
    """``queue`` in a store entry sends every task of its DAG to that Celery queue (workers
    started with ``airflow celery worker --queues NAME`` take them); without it, Airflow's
    default queue."""
    from cartum_roapp_sync.config import parse_store
    from cartum_roapp_sync.dags import build_store_dag

    entry = json.loads((ROOT / "config" / "airflow_settings.example.json").read_text())["cartum_roapp_stores"][0]
    default = build_store_dag(parse_store(entry))
    assert {t.queue for t in default.tasks} == {"default"} and "queue" not in parse_store(entry).to_dict()
    pinned = parse_store({**entry, "queue": "roapp_heavy"})
    assert pinned.to_dict()["queue"] == "roapp_heavy" and parse_store(pinned.to_dict()) == pinned
    assert {t.queue for t in build_store_dag(pinned).tasks} == {"roapp_heavy"}
    assert len(build_store_dag(pinned).tasks) == len(default.tasks)
    assert parse_stores([{**entry, "queue": "two words"}]).errors


def test_max_in_window():
    from tests.distributed.run import max_in_window

    assert max_in_window([]) == 0
    assert max_in_window([0.0, 0.5, 0.99, 1.0, 1.5]) == 3
    assert max_in_window([0.0, 0.1, 0.2, 0.3]) == 4


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_distributed_topology_with_two_celery_workers(tmp_path, capsys):
    """scripts/distributed-test.sh: CeleryExecutor, Redis, PostgreSQL, two workers, three
    stores, one worker killed during a load (see tests/distributed/run.py)."""
    result = subprocess.run([str(ROOT / "scripts" / "distributed-test.sh"), "--workdir", str(tmp_path / "dist")],
                            capture_output=True, text=True, timeout=1150, cwd=ROOT)
    output = result.stdout
    with capsys.disabled():  # the figures show in the test log even when it passes
        print("\n" + "\n".join(line for line in output.splitlines()
                               if "wall time" in line or "per worker" in line or "KILLED" in line
                               or "killed step" in line or "shared key" in line))
    assert result.returncode == 0, output[-6000:] + result.stderr[-3000:]
    assert "PASSED" in output and "KILLED worker-" in output
