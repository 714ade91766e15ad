"""The state database: engine creation for PostgreSQL and SQLite, and the schema.

Every table of the project's state is declared in ``tables``; ``ensure_schema`` creates
what is missing, and carries a database written by an earlier version forward. SQLite engines take the write lock when a transaction begins
(``BEGIN IMMEDIATE``) so that concurrent processes serialise instead of failing with
"database is locked" half-way through a read-modify-write.

Any number of processes may open one SQLite file at once, even a file that does not exist
yet. Each connection sets its busy timeout first, then switches to WAL; SQLite answers
"database is locked" at once, without waiting out the busy timeout, when two connections
initialise a new file or its WAL together, so the switch to WAL and the schema creation
are retried with a short backoff for up to ``OPEN_RETRY_SECONDS``. After that they raise
``StateDatabaseBusyError``, which says what to do.
"""

from __future__ import annotations

import logging
import os
import random
import sqlite3
import threading
import time
from pathlib import Path
from typing import Callable, TypeVar

from sqlalchemy import Engine, create_engine, event, exc, inspect, text

from .tables import metadata, upgrade

log = logging.getLogger(__name__)

STATE_CONN_ID = "cartum_roapp_state"
_SCHEMA_LOCK_KEY = 7_466_201  # any constant shared by every process of this project

#: How long opening a SQLite state database keeps retrying "database is locked" (the switch
#: to WAL, the schema creation) before it gives up with ``StateDatabaseBusyError``.
OPEN_RETRY_SECONDS = 60.0
#: SQLite's busy timeout on every connection: how long a statement waits for another
#: process's write lock before "database is locked".
SQLITE_BUSY_TIMEOUT_MS = 60_000

T = TypeVar("T")


class StateDatabaseBusyError(RuntimeError):
    """A SQLite state database stayed locked by other processes for longer than
    ``OPEN_RETRY_SECONDS`` while it was being opened."""


def _is_locked(error: BaseException) -> bool:
    return isinstance(error, (sqlite3.OperationalError, exc.OperationalError)) and (
        "database is locked" in str(error).lower())


def retry_while_locked(what: str, action: Callable[[], T], *, where: str = "the SQLite state database",
                       bound: float = OPEN_RETRY_SECONDS, sleep: Callable[[float], None] = time.sleep,
                       clock: Callable[[], float] = time.monotonic) -> T:
    """Run ``action``; while it fails with "database is locked", retry with a short
    exponential backoff (10 ms doubling to 1 s, jittered) for up to ``bound`` seconds, then
    raise ``StateDatabaseBusyError``. Any other error is raised at once."""
    deadline = clock() + bound
    delay, attempts = 0.01, 0
    while True:
        attempts += 1
        try:
            return action()
        except (sqlite3.OperationalError, exc.OperationalError) as error:
            if not _is_locked(error):
                raise
            left = deadline - clock()
            if left <= 0:
                raise StateDatabaseBusyError(
                    f"{what} on {where} failed: 'database is locked' for {bound:g} s ({attempts} attempts). "
                    f"Another process holds a long write lock on it: find and stop it (a stuck task, a sqlite3 "
                    f"shell with an open transaction), or give many workers a PostgreSQL state database through "
                    f"the Airflow connection '{STATE_CONN_ID}'.") from error
            if attempts == 1:
                log.debug("%s on %s: database is locked; retrying for up to %g s", what, where, bound)
            sleep(min(left, delay * (0.5 + random.random() / 2)))
            delay = min(delay * 2, 1.0)


def _sqlite_path(url: str) -> str:
    """The file of a SQLite URL, for messages (never a secret: SQLite URLs carry none)."""
    return url.split("///", 1)[-1] or url

_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()
_schema_ready: set[str] = set()


def default_state_url() -> str:
    """``sqlite:///$AIRFLOW_HOME/cartum_roapp_state.db`` (AIRFLOW_HOME defaults to ~/airflow)."""
    home = Path(os.environ.get("AIRFLOW_HOME") or Path.home() / "airflow")
    return f"sqlite:///{home / 'cartum_roapp_state.db'}"


def _make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000,
                                                  "check_same_thread": False})
        where = f"the SQLite state database {_sqlite_path(url)}"

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_connection, _record):  # type: ignore[no-untyped-def]
            dbapi_connection.isolation_level = None  # we issue BEGIN ourselves, below
            cursor = dbapi_connection.cursor()
            try:
                # The busy timeout first, so that every later statement waits for a lock...
                cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
                # ...but the switch to WAL of a new file can be refused at once: retry it.
                retry_while_locked("Switching to WAL (PRAGMA journal_mode=WAL)",
                                   lambda: cursor.execute("PRAGMA journal_mode=WAL").fetchall(), where=where)
                cursor.execute("PRAGMA foreign_keys=ON")
            finally:
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
    """Create the missing tables and carry an older database forward. On SQLite, retried
    while another process initialising the same new file has it locked."""
    def create() -> None:
        with engine.begin() as connection:
            if engine.dialect.name == "postgresql":
                # Two processes creating the schema at once would collide; take turns.
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK_KEY})
            metadata.create_all(connection, checkfirst=True)
            upgrade(connection, {c["name"] for c in inspect(connection).get_columns("store_state")})

    if engine.dialect.name != "sqlite":
        create()
        return
    retry_while_locked("Creating the schema", create,
                       where=f"the SQLite state database {_sqlite_path(str(engine.url))}")


def dispose_engines() -> None:
    """Close every pooled connection (after a fork, or at the end of tests)."""
    with _engines_lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()
        _schema_ready.clear()
