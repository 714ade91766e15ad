"""Building a RunContext inside an Airflow task: clients from the store's connections,
state from the ``cartum_roapp_state`` connection."""

from __future__ import annotations

from datetime import datetime

from ..cartum.hook import CartumHook
from ..config import StoreConfig
from ..roapp.hook import RoAppHook
from ..state.airflow import state_source
from ..state.db import get_engine
from ..state.store import StateStore
from .context import RunContext


def build_context(config: StoreConfig, run_id: str, *, synced_before: datetime | None = None) -> RunContext:
    url, configured = state_source()
    return RunContext(
        config, run_id, StateStore(get_engine(url), config.store_id),
        cartum_factory=lambda: CartumHook(config.cartum_conn_id).get_conn(),
        roapp_factory=lambda: RoAppHook(config.roapp_conn_id).get_conn(),
        synced_before=synced_before, state_configured=configured,
    )
