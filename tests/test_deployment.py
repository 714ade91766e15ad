"""The compose file and image, checked statically (no Docker engine here), and the
programs they start, started directly."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

from cartum_roapp_sync.config import parse_stores

ROOT = Path(__file__).resolve().parents[1]
AIRFLOW_COMMANDS = {("api-server",), ("scheduler",), ("dag-processor",), ("triggerer",), ("db", "migrate")}


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_services_and_their_programs():
    services = compose()["services"]
    assert {"postgres", "airflow-init", "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor",
            "airflow-triggerer", "cartum-sandbox", "roapp-sandbox"} <= set(services)
    for name, service in services.items():
        command = service.get("command")
        if name.startswith("airflow"):
            assert command[0] == "airflow" and tuple(command[1:]) in AIRFLOW_COMMANDS, name
            env = service["environment"]
            assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
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
