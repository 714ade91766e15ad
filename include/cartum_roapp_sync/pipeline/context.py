"""What every step of a run shares: the store's settings, the run id, the state, the run's
data (``rundata``) and the two API clients (built lazily, so a step that needs neither
makes no connection)."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Callable
from zoneinfo import ZoneInfo

from .. import assumptions
from ..cartum.client import CartumClient
from ..config import StoreConfig
from ..roapp.client import RoAppClient
from ..state.cursors import CARTUM_TIME
from ..state.store import StateStore
from .rundata import RunData

log = logging.getLogger(__name__)


def store_now(zone: str = assumptions.CARTUM_STORE_TIMEZONE) -> datetime:
    """The store's local wall-clock time (its ``timezone`` setting), the time Cartum's
    ``stat_created`` is written in."""
    return datetime.now(ZoneInfo(zone)).replace(tzinfo=None, microsecond=0)


def store_time_utc(cartum_time: str | None, zone: str = assumptions.CARTUM_STORE_TIMEZONE) -> str | None:
    """A Cartum time (store-local ``YYYY-MM-DD HH:MM:SS``) as ISO-8601 UTC, as RO App's
    date-time custom fields take it; None stays None."""
    from ..roapp.shapes import iso_utc

    if not cartum_time:
        return None
    local = datetime.strptime(cartum_time, CARTUM_TIME).replace(tzinfo=ZoneInfo(zone))
    return iso_utc(local)


class RunContext:
    """``synced_before``: when the store's DAG last succeeded (None: never, or unknown
    outside Airflow). ``state_configured``: the state database was named by the
    ``cartum_roapp_state`` connection, not the SQLite file used when it is missing."""

    def __init__(self, config: StoreConfig, run_id: str, state: StateStore,
                 cartum_factory: Callable[[], CartumClient], roapp_factory: Callable[[], RoAppClient], *,
                 synced_before: datetime | None = None, state_configured: bool = True):
        self.config = config
        self.run_id = run_id
        self.state = state
        self.synced_before = synced_before
        self.state_configured = state_configured
        self.data = RunData(state, run_id)
        self._cartum_factory = cartum_factory
        self._roapp_factory = roapp_factory
        self._cartum: CartumClient | None = None
        self._roapp: RoAppClient | None = None

    @property
    def cartum(self) -> CartumClient:
        if self._cartum is None:
            self._cartum = self._cartum_factory()
            if isinstance(self._cartum, CartumClient):
                # One login per run (the token kept encrypted), the status list kept a while.
                self._cartum.use_caches(self.state.engine, self.config.reference_cache_minutes)
        return self._cartum

    @property
    def roapp(self) -> RoAppClient:
        if self._roapp is None:
            self._roapp = self._roapp_factory()
            if isinstance(self._roapp, RoAppClient):
                self._roapp.use_reference_cache(self.state.engine, self.config.reference_cache_minutes)
        return self._roapp

    def record_calls(self) -> None:
        """Add this step's API calls to the run's totals."""
        cartum = self._cartum.stats.calls if self._cartum else 0
        roapp = self._roapp.stats.calls if self._roapp else 0
        writes = self._roapp.stats.writes if self._roapp else 0
        if cartum or roapp:
            self.state.add_calls(self.run_id, cartum=cartum, roapp=roapp, roapp_writes=writes)
            log.info("API calls in this step: Cartum %d, RO App %d (%d writes)", cartum, roapp, writes)

    def close(self) -> None:
        for client in (self._cartum, self._roapp):
            if client is not None:
                client.close()
