"""What every step of a run shares: the store's settings, the run id, the state, the two
API clients (built lazily, so a step that needs neither makes no connection) and the
run's plan."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Callable
from zoneinfo import ZoneInfo

from .. import assumptions
from ..cartum.client import CartumClient
from ..config import StoreConfig
from ..roapp.client import RoAppClient
from ..state.store import StateStore

log = logging.getLogger(__name__)

CARTUM_TIME = "%Y-%m-%d %H:%M:%S"


class FatalStepError(Exception):
    """Retrying this step will not help (bad data batch, bad settings): fail the run now."""


def store_now() -> datetime:
    """The store's local wall-clock time, the time Cartum's ``stat_created`` is written in."""
    return datetime.now(ZoneInfo(assumptions.CARTUM_STORE_TIMEZONE)).replace(tzinfo=None, microsecond=0)


def shift(cartum_time: str, minutes: int) -> str:
    return (datetime.strptime(cartum_time, CARTUM_TIME) + timedelta(minutes=minutes)).strftime(CARTUM_TIME)


@dataclass
class RunPlan:
    """Decided once by ``start_run`` so that every extract step of the run agrees."""

    first_import: bool
    orders_from: str                 # Cartum time: orders created at or after this
    import_cutoff: str | None        # skip_statuses apply to new orders created up to here
    customers_from: str | None       # None: every customer
    catalog_full: bool               # read the whole catalogue (else only unknown articles)
    open_order_ids: list[int]        # synced, not final, or waiting in quarantine: re-read by id

    def to_dict(self) -> dict:
        return asdict(self)


class RunContext:
    def __init__(self, config: StoreConfig, run_id: str, state: StateStore,
                 cartum_factory: Callable[[], CartumClient], roapp_factory: Callable[[], RoAppClient]):
        self.config = config
        self.run_id = run_id
        self.state = state
        self._cartum_factory = cartum_factory
        self._roapp_factory = roapp_factory
        self._cartum: CartumClient | None = None
        self._roapp: RoAppClient | None = None

    @property
    def cartum(self) -> CartumClient:
        if self._cartum is None:
            self._cartum = self._cartum_factory()
        return self._cartum

    @property
    def roapp(self) -> RoAppClient:
        if self._roapp is None:
            self._roapp = self._roapp_factory()
        return self._roapp

    def plan(self) -> RunPlan:
        data = self.state.staged(self.run_id, "plan")
        if data is None:
            raise FatalStepError(f"run {self.run_id} has no plan: start_run must run first")
        return RunPlan(**data)

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
