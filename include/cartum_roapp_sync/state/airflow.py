"""Finding the state database from Airflow: the ``cartum_roapp_state`` connection, or the
SQLite file under ``$AIRFLOW_HOME``. Imported only where Airflow runs (hooks, tasks)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine

from .db import STATE_CONN_ID, default_state_url, get_engine


def connection_url(conn: Any) -> str:
    """The SQLAlchemy URL of an Airflow connection (its URI, with Airflow's spellings fixed)."""
    extra = conn.extra_dejson or {}
    if extra.get("sqlalchemy_url"):
        return str(extra["sqlalchemy_url"])
    if conn.conn_type == "sqlite":
        return f"sqlite:///{conn.host or conn.schema}"
    uri = conn.get_uri()
    for spelling in ("postgres://", "postgresql://"):
        if uri.startswith(spelling):
            # SQLAlchemy 2.1 reads a bare postgresql:// as psycopg 3; the pinned driver is psycopg2
            uri = "postgresql+psycopg2://" + uri[len(spelling):]
    return uri


def state_source() -> tuple[str, bool]:
    """The state database's URL, and whether the ``cartum_roapp_state`` connection named it
    (False: the connection is missing and the default SQLite file is used)."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        conn = BaseHook.get_connection(STATE_CONN_ID)
    except AirflowNotFoundException:
        return default_state_url(), False
    return connection_url(conn), True


def state_url() -> str:
    return state_source()[0]


def state_engine() -> Engine:
    return get_engine(state_url())
