"""The tool against a real Airflow metadata database: one temporary AIRFLOW_HOME, migrated
once (SQLite, a few seconds), and the console script run as a real subprocess in it."""

from __future__ import annotations

import configparser
import json
import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

VENV_BIN = Path(sys.executable).parent
CLI = str(VENV_BIN / "cartum-roapp")
HELPER = str(Path(__file__).with_name("airflow_db.py"))


@dataclass
class AirflowHome:
    path: Path
    env: dict[str, str]

    def cli(self, *args: str, stdin: str = "", env: dict[str, str] | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess:
        """``cartum-roapp ARGS`` with stdin a pipe (so: not a terminal, no prompts)."""
        return subprocess.run([CLI, *args], input=stdin, capture_output=True, text=True,
                              env={**self.env, **(env or {})}, timeout=timeout)

    def db(self, **request: Any) -> dict[str, Any]:
        """Write test fixtures through Airflow's own models (a process of its own: this one
        is bound to another Airflow home), then read back as ``stored`` does."""
        result = subprocess.run([sys.executable, HELPER, json.dumps(request)], capture_output=True, text=True,
                                env=self.env, timeout=60)
        assert result.returncode == 0, result.stderr[-3000:]
        answer = json.loads(result.stdout.strip().splitlines()[-1])
        answer["stores"] = json.loads(answer["variable"]) if answer["variable"] else []
        return answer

    def stored(self, *conn_ids: str) -> dict[str, Any]:
        """The Variable and some connections as the metadata database holds them, read
        straight from its tables and decrypted with the deployment's Fernet key (seconds
        faster than starting Airflow, and it shows the password is stored encrypted)."""
        fernet = Fernet(self._config("core", "fernet_key").encode())

        def clear(value: str | None, encrypted: bool) -> str | None:
            return fernet.decrypt(value.encode()).decode() if value is not None and encrypted else value

        with closing(sqlite3.connect(self.path / "airflow.db")) as db:
            row = db.execute("SELECT val, is_encrypted FROM variable WHERE key = ?", ("cartum_roapp_stores",)).fetchone()
            variable = clear(*row) if row else None
            connections = {}
            for conn_id in conn_ids:
                row = db.execute("SELECT conn_type, host, login, password, is_encrypted FROM connection "
                                 "WHERE conn_id = ?", (conn_id,)).fetchone()
                connections[conn_id] = None if row is None else {
                    "conn_type": row[0], "host": row[1], "login": row[2], "password": clear(row[3], row[4]),
                    "encrypted": bool(row[4])}
        return {"stores": json.loads(variable) if variable else [], "connections": connections}

    def _config(self, section: str, key: str) -> str:
        parser = configparser.ConfigParser(interpolation=None)
        parser.read(self.path / "airflow.cfg")
        return parser.get(section, key)

    @property
    def state_url(self) -> str:
        return f"sqlite:///{self.path / 'cartum_roapp_state.db'}"


@pytest.fixture(scope="session")
def airflow_home(tmp_path_factory) -> AirflowHome:
    path = tmp_path_factory.mktemp("airflow_home")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AIRFLOW_CONN_", "AIRFLOW_VAR_", "AIRFLOW__", "_AIRFLOW"))}
    env.update({"AIRFLOW_HOME": str(path), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "PATH": f"{VENV_BIN}:{env.get('PATH', '')}", "PYTHONWARNINGS": "ignore",
                # The tool paces RO App through the shared limiter like the DAGs (3 requests per
                # 1.1 s); the sandbox here enforces no limit, so a short window only saves waiting.
                "CARTUM_ROAPP_RATE_WINDOW": "0.05"})
    result = subprocess.run([str(VENV_BIN / "airflow"), "db", "migrate"], capture_output=True, text=True, env=env,
                            timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return AirflowHome(path, env)
