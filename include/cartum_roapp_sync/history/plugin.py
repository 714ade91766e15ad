"""The package's Airflow plugin (entry point ``airflow.plugins``, beside the provider entry
point that registers the connection types): the run history app (``web``) mounted in the
API server at ``/cartum-roapp``, and its entry in the UI's navigation (Browse → Sync
history). Imported by Airflow's plugin manager only; building the app reads nothing."""

from __future__ import annotations

from typing import Any

from airflow.plugins_manager import AirflowPlugin
from sqlalchemy import Engine

from ..config import VARIABLE_NAME, StoreConfig, parse_stores
from .web import URL_PREFIX, Sources, create_app


def state_engine() -> Engine:
    """The state database the DAGs use: the ``cartum_roapp_state`` connection (from any
    secrets backend or the metadata database), else the SQLite file under AIRFLOW_HOME."""
    from airflow.exceptions import AirflowNotFoundException
    from airflow.models import Connection

    from ..state.airflow import connection_url
    from ..state.db import STATE_CONN_ID, default_state_url, get_engine

    try:
        url = connection_url(Connection.get_connection_from_secrets(STATE_CONN_ID))
    except AirflowNotFoundException:
        url = default_state_url()
    return get_engine(url)


def configured_stores() -> list[StoreConfig]:
    """The valid stores of the Variable (a broken entry has a placeholder DAG, no history page)."""
    from airflow.models import Variable

    return parse_stores(Variable.get_variable_from_secrets(VARIABLE_NAME)).stores


def trigger_run(dag_id: str, user: str, note: str, conf: dict[str, Any]) -> str:
    from airflow.api.common.trigger_dag import trigger_dag
    from airflow.exceptions import DagNotFound
    from airflow.utils.types import DagRunTriggeredByType

    try:
        run = trigger_dag(dag_id, triggered_by=DagRunTriggeredByType.UI, triggering_user_name=user, note=note,
                          conf=conf)
    except DagNotFound as exc:
        raise LookupError(f"the DAG {dag_id} is not in Airflow yet (the store was added a moment ago, or it is "
                          f"disabled): {exc}") from None
    if run is None:
        raise LookupError(f"Airflow did not start a run of {dag_id}")
    return run.run_id


class CartumRoAppHistoryPlugin(AirflowPlugin):
    name = "cartum_roapp_history"
    fastapi_apps = [{"app": create_app(Sources(state_engine, configured_stores, trigger_run)),
                     "url_prefix": URL_PREFIX, "name": "Cartum → RO App run history"}]
    external_views = [{"name": "Sync history", "href": f"{URL_PREFIX}/", "destination": "nav", "category": "browse",
                       "url_route": "cartum-roapp-history"}]
