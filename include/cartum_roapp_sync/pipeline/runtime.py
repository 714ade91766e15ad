"""Building a RunContext inside an Airflow task: clients from the store's connections,
state from the ``cartum_roapp_state`` connection."""

from __future__ import annotations

from ..cartum.hook import CartumHook
from ..config import StoreConfig
from ..roapp.hook import RoAppHook
from ..state.airflow import state_engine
from ..state.store import StateStore
from .context import RunContext


def build_context(config: StoreConfig, run_id: str) -> RunContext:
    return RunContext(
        config, run_id, StateStore(state_engine(), config.store_id),
        cartum_factory=lambda: CartumHook(config.cartum_conn_id).get_conn(),
        roapp_factory=lambda: RoAppHook(config.roapp_conn_id).get_conn(),
    )
