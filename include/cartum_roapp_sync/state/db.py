"""The state database: engine creation for PostgreSQL and SQLite, and the schema.

Every table of the project's state is declared in ``tables``; ``ensure_schema`` creates
what is missing, and carries a database written by an earlier version forward. SQLite engines take the write lock when a transaction begins
(``BEGIN IMMEDIATE``) so that concurrent processes serialise instead of failing with
"database is locked" half-way through a read-modify-write.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, inspect, text

from .tables import metadata, upgrade

STATE_CONN_ID = "cartum_roapp_state"
_SCHEMA_LOCK_KEY = 7_466_201  # any constant shared by every process of this project

_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()
_schema_ready: set[str] = set()


def default_state_url() -> str:
    """``sqlite:///$AIRFLOW_HOME/cartum_roapp_state.db`` (AIRFLOW_HOME defaults to ~/airflow)."""
    home = Path(os.environ.get("AIRFLOW_HOME") or Path.home() / "airflow")
    return f"sqlite:///{home / 'cartum_roapp_state.db'}"


def _make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 60, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_connection, _record):  # type: ignore[no-untyped-def]
            dbapi_connection.isolation_level = None  # we issue BEGIN ourselves, below
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=60000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(connection):  # type: ignore[no-untyped-def]
            connection.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=2, max_overflow=2)


def get_engine(url: str | None = None) -> Engine:
    """One engine per URL per process, with the schema created on first use."""
    url = url or default_state_url()
    with _engines_lock:
        engine = _engines.get(url)
        if engine is None:
            engine = _engines[url] = _make_engine(url)
        if url not in _schema_ready:
            ensure_schema(engine)
            _schema_ready.add(url)
    return engine


def ensure_schema(engine: Engine) -> None:
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            # Two processes creating the schema at once would collide; take turns.
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK_KEY})
        metadata.create_all(connection, checkfirst=True)
        upgrade(connection, {c["name"] for c in inspect(connection).get_columns("store_state")})


def dispose_engines() -> None:
    """Close every pooled connection (after a fork, or at the end of tests)."""
    with _engines_lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()
        _schema_ready.clear()
