"""The README's demo, end to end through real Airflow (standalone, SQLite): sandboxes,
Variable and Connections set with the airflow CLI, a triggered DAG run, the report."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


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
    start_logs = [p.read_text() for p in tmp_path.rglob("task_id=start_run/*.log")]
    assert start_logs and all("FIRST IMPORT" in log or "incremental" in log for log in start_logs)
    assert not any("has synced before" in log for log in start_logs)
