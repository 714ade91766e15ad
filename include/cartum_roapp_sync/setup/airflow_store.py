"""The stores of one Airflow deployment as the tool reads and writes them: the Variable
``cartum_roapp_stores`` and the stores' ``cartum`` Connections, in the Airflow metadata
database that AIRFLOW_HOME / AIRFLOW__DATABASE__SQL_ALCHEMY_CONN point at, the way
``airflow variables set`` and ``airflow connections add`` do (``airflow.models`` with
``create_session``).

Reads see what Airflow sees (environment variables and secrets backends first, then the
database); writes go to the database, in one transaction per command, and are refused
when another backend shadows the Variable. Airflow is imported inside the functions so
that ``cartum-roapp --help`` stays quick.
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from ..config import VARIABLE_NAME, ConfigError

CARTUM_CONN_TYPE = "cartum"
VARIABLE_DESCRIPTION = "Cartum → RO App stores, one JSON object per store (cartum-roapp stores --help; README)"


class AirflowStoreError(Exception):
    """The metadata database cannot be read or written; the message says what to do."""


@dataclass(frozen=True)
class CartumConnectionWrite:
    """A ``cartum`` connection to create, or the fields of one to change (None: keep)."""

    conn_id: str
    host: str | None = None
    login: str | None = None
    password: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class DagTiming:
    parse_interval: int            # [dag_processor] min_file_process_interval, seconds
    paused_at_creation: bool       # [core] dags_are_paused_at_creation
    known_paused: bool | None      # the DAG's own flag when Airflow knows it from before


def use_server_context() -> None:
    """Read connections the way ``airflow connections get`` does: environment variables,
    secrets backends, then the metadata database. Outside of this the Task SDK's hooks
    (and so ``RoAppHook`` and the state database lookup) never look at the database."""
    os.environ["_AIRFLOW_PROCESS_CONTEXT"] = "server"


@contextmanager
def _database(action: str) -> Iterator[None]:
    """Turn database errors into a sentence. SQLAlchemy's own text can hold bound
    parameters (a connection's password), so only the driver's message is kept."""
    from sqlalchemy.exc import OperationalError, ProgrammingError, SQLAlchemyError

    try:
        yield
    except (OperationalError, ProgrammingError) as exc:
        reason = str(getattr(exc, "orig", None) or type(exc).__name__)
        hint = ("run `airflow db migrate` first" if "no such table" in reason or "does not exist" in reason
                else "check AIRFLOW_HOME / AIRFLOW__DATABASE__SQL_ALCHEMY_CONN and that the database answers")
        raise AirflowStoreError(f"{action} failed: the Airflow metadata database said {reason!r}: {hint} "
                                f"(AIRFLOW_HOME={_airflow_home()}).") from None
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or type(exc).__name__)
        raise AirflowStoreError(f"{action} failed in the Airflow metadata database: {reason}") from None


def _airflow_home() -> str:
    from airflow.configuration import AIRFLOW_HOME

    return str(AIRFLOW_HOME)


def entries_from_text(raw: Any) -> list[Any]:
    """The Variable's text → its list of entries (an unset Variable is an empty list)."""
    if raw is None or raw == "":
        return []
    try:
        value = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError as exc:
        raise ConfigError(f"the Variable {VARIABLE_NAME} is not valid JSON ({exc}): fix it with "
                          f"`airflow variables set {VARIABLE_NAME} ...` or in the UI") from None
    if not isinstance(value, list):
        raise ConfigError(f"the Variable {VARIABLE_NAME} must be a JSON array of store objects, "
                          f"not {type(value).__name__}: fix it before using the tool")
    return value


# --- the Variable -------------------------------------------------------------------------

def read_entries() -> list[Any]:
    """The Variable's entries as Airflow reads them (raw JSON values, broken ones included)."""
    from airflow.models import Variable

    with _database(f"reading the Variable {VARIABLE_NAME}"):
        # Variable.get would also register the value with the log masker: pointless here.
        return entries_from_text(Variable.get_variable_from_secrets(VARIABLE_NAME))


def variable_shadowed_by() -> str | None:
    """The name of a secrets backend other than the metadata database that holds the
    Variable: Airflow reads it first, so a write to the database would not take effect."""
    from airflow.configuration import ensure_secrets_loaded
    from airflow.secrets.metastore import MetastoreBackend

    for backend in ensure_secrets_loaded():
        if isinstance(backend, MetastoreBackend):
            continue
        if backend.get_variable(VARIABLE_NAME) is not None:
            return type(backend).__name__
    return None


def ensure_writable() -> None:
    backend = variable_shadowed_by()
    if backend:
        where = (f"the environment variable AIRFLOW_VAR_{VARIABLE_NAME.upper()}"
                 if backend == "EnvironmentVariablesBackend" else f"the secrets backend {backend}")
        raise AirflowStoreError(
            f"The Variable {VARIABLE_NAME} is defined by {where}, which Airflow reads before the metadata "
            f"database: this tool writes to the database, so its changes would not take effect. Move the stores "
            f"into the database (`airflow variables set {VARIABLE_NAME} ...`) and unset {where}, or edit it "
            f"where it is defined.")


def write_entries(change: Callable[[list[Any]], list[Any]], *,
                  connection: CartumConnectionWrite | None = None,
                  delete_connection: str | None = None) -> list[Any]:
    """Apply ``change`` to the Variable's current entries (read again, and locked where the
    database can) and write the result together with the connection change, in one
    transaction: a store never exists without its connection, nor the other way round.
    ``change`` may raise to cancel everything."""
    from airflow.models import Connection, Variable
    from airflow.utils.session import create_session
    from sqlalchemy import select

    ensure_writable()
    with _database(f"writing the Variable {VARIABLE_NAME}"), create_session() as session:
        row = session.scalar(select(Variable).where(Variable.key == VARIABLE_NAME).with_for_update())
        entries = change(entries_from_text(row.val if row is not None else None))
        if connection is not None:
            _write_connection(session, connection)
        if delete_connection is not None:
            existing = session.scalar(select(Connection).where(Connection.conn_id == delete_connection))
            if existing is not None:
                session.delete(existing)
        description = (row.description if row is not None else None) or VARIABLE_DESCRIPTION
        Variable.set(VARIABLE_NAME, json.dumps(entries, indent=2, ensure_ascii=False), description=description,
                     session=session)
    return entries


def _write_connection(session: Any, change: CartumConnectionWrite) -> None:
    from airflow.models import Connection
    from sqlalchemy import select

    conn = session.scalar(select(Connection).where(Connection.conn_id == change.conn_id))
    if conn is None:
        session.add(Connection(conn_id=change.conn_id, conn_type=CARTUM_CONN_TYPE, host=change.host,
                               login=change.login, password=change.password,
                               description="Cartum store (written by cartum-roapp)"))
        return
    conn.conn_type = CARTUM_CONN_TYPE
    if change.host is not None:
        conn.host = change.host
    if change.login is not None:
        conn.login = change.login
    if change.password is not None:
        conn.password = change.password


# --- connections --------------------------------------------------------------------------

def get_connection(conn_id: str) -> Any | None:
    """The connection as Airflow resolves it (any backend), or None."""
    from airflow.exceptions import AirflowNotFoundException
    from airflow.models import Connection

    with _database(f"reading the connection {conn_id!r}"):
        try:
            return Connection.get_connection_from_secrets(conn_id)
        except AirflowNotFoundException:
            return None


def connection_in_database(conn_id: str) -> bool:
    from airflow.models import Connection
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with _database(f"reading the connection {conn_id!r}"), create_session() as session:
        return session.scalar(select(Connection.id).where(Connection.conn_id == conn_id)) is not None


# --- what the scheduler will do -----------------------------------------------------------

def dag_timing(dag_id: str) -> DagTiming:
    from airflow.configuration import conf
    from airflow.models.dag import DagModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with _database("reading the DAG's state"), create_session() as session:
        paused = session.scalar(select(DagModel.is_paused).where(DagModel.dag_id == dag_id))
    return DagTiming(parse_interval=conf.getint("dag_processor", "min_file_process_interval", fallback=30),
                     paused_at_creation=conf.getboolean("core", "dags_are_paused_at_creation", fallback=True),
                     known_paused=paused)


# --- runs in progress (``stores remove``) -------------------------------------------------

@dataclass(frozen=True)
class ActiveRun:
    run_id: str
    state: str                 # queued or running
    tasks: tuple[str, ...]     # the task instances at work (running, deferred, up for reschedule, …)


#: Task instance states in which a task is at work: stopping the run stops these.
_AT_WORK = ("running", "deferred", "up_for_reschedule", "awaiting_input", "queued", "scheduled", "restarting",
            "up_for_retry")


def active_runs(dag_id: str) -> list[ActiveRun]:
    """The DAG's runs that are queued or running, as the metadata database says."""
    from airflow.models import DagRun, TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with _database(f"reading the runs of {dag_id}"), create_session() as session:
        runs = session.execute(select(DagRun.run_id, DagRun.state).where(
            DagRun.dag_id == dag_id, DagRun.state.in_(("queued", "running"))).order_by(DagRun.run_id)).all()
        found = []
        for run_id, state in runs:
            tasks = session.scalars(select(TaskInstance.task_id).where(
                TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id,
                TaskInstance.state.in_(_AT_WORK)).order_by(TaskInstance.task_id)).all()
            found.append(ActiveRun(run_id, str(state), tuple(tasks)))
        return found


def set_paused(dag_id: str, paused: bool) -> bool | None:
    """Pause or unpause a DAG known to Airflow (as ``airflow dags pause`` does); its
    previous flag, or None when Airflow does not know the DAG (nothing to do)."""
    from airflow.models.dag import DagModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with _database(f"pausing {dag_id}"), create_session() as session:
        dag = session.scalar(select(DagModel).where(DagModel.dag_id == dag_id))
        if dag is None:
            return None
        before = bool(dag.is_paused)
        dag.is_paused = paused
        return before


def stop_run(dag_id: str, run_id: str) -> None:
    """Mark a run failed the way the UI's "Mark as failed" does: its running task instances
    become failed (their processes are told to stop at their next heartbeat) and those not
    started are skipped. Without the DAG's serialized form, the run and its tasks at work
    are marked failed directly."""
    from airflow.api.common.mark_tasks import set_dag_run_state_to_failed
    from airflow.models import DagRun, TaskInstance
    from airflow.models.dagbag import DBDagBag
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with _database(f"stopping the run {run_id} of {dag_id}"), create_session() as session:
        run = session.scalar(select(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id))
        if run is None or run.state not in ("queued", "running"):
            return
        dag = DBDagBag().get_dag_for_run(run, session=session)
        if dag is not None:
            set_dag_run_state_to_failed(dag=dag, run_id=run_id, commit=True, session=session)
            run = session.scalar(select(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id))
            if run.state == "failed":
                return
        for ti in session.scalars(select(TaskInstance).where(
                TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id,
                TaskInstance.state.in_(_AT_WORK))):
            ti.state = "failed"
        run.state = "failed"
