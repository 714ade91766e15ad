"""Runs a store's steps in order, as the DAG would, against the sandboxes, with no
Airflow scheduler: the same step functions, contexts built from plain clients."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo
from typing import Any

from cartum_roapp_sync.cartum.client import CartumClient
from cartum_roapp_sync.config import StoreConfig, parse_store
from cartum_roapp_sync.pipeline.context import RunContext
from cartum_roapp_sync.assumptions import CARTUM_STORE_TIMEZONE as STORE_TIMEZONE
from cartum_roapp_sync.pipeline.steps import STEPS, finish_run, run_step
from cartum_roapp_sync.roapp.client import RoAppClient
from cartum_roapp_sync.state.store import StateStore
from tests.conftest import CARTUM_LOGIN, CARTUM_PASSWORD, FAST_RETRY, ROAPP_KEY


def store_config(roapp_state: dict[str, Any], **overrides: Any) -> StoreConfig:
    """A demo store matched to the RO App sandbox's seeded reference data. Its managers are
    ``all``, or, when the sandbox's employee answers carry no role (the alternative profile:
    setup refuses ``all`` then), the location's active Managers listed by id, as a user
    would list them."""
    statuses = [s["id"] for s in roapp_state["statuses"]]
    location = roapp_state["branches"][0]["id"]
    managers: Any = "all"
    if not roapp_state.get("profile", {}).get("employee_facts", True):
        managers = active_managers(roapp_state, location)
    entry = {
        "store_id": "demo", "name": "Demo shop", "cartum_conn_id": "cartum_demo",
        "location_id": location, "order_type_id": roapp_state["order_types"][0]["id"],
        "language": "ua", "product_key": "sku", "managers": managers,
        "status_map": {"1": statuses[0], "2": statuses[1], "3": statuses[6], "4": statuses[8],
                       "6": statuses[5], "7": statuses[3], "8": statuses[9]},
    }
    entry.update(overrides)
    entry.setdefault("reconcile_hour", far_hour())
    return parse_store(entry)


def active_managers(roapp_state: dict[str, Any], location_id: int) -> list[int]:
    """The active Managers with access to the location, from the sandbox's stored employees
    (which keep role, active flag and locations under every profile)."""
    return sorted(e["id"] for e in roapp_state["employees"]
                  if e["is_active"] and e["role"] == "Manager" and location_id in e["branch_ids"])


def far_hour() -> int:
    """The store-local hour furthest from now: the nightly reconcile pass is due at the first
    run after it, so a test whose runs last less than 12 hours never meets an unplanned one
    (tests of the pass set ``reconcile_hour`` or ask for one)."""
    return (datetime.now(ZoneInfo(STORE_TIMEZONE)).hour + 12) % 24


class Harness:
    """``roapp_timeout``: the RO App client's timeout in seconds (None: the client's
    default), short for the tests whose sandbox holds an answer past it.
    ``synced_before`` and ``state_configured`` go into every ``RunContext``, as the DAG
    passes them (see ``RunContext``). ``cartum_options``: more keyword arguments of the
    Cartum client (e.g. smaller read limits)."""

    def __init__(self, config: StoreConfig, engine, cartum_url: str, roapp_url: str, limiter=None, *,
                 roapp_timeout: float | None = None, synced_before: datetime | None = None,
                 state_configured: bool = True, cartum_options: dict[str, Any] | None = None):
        self.config = config
        self.engine = engine
        self.cartum_url = cartum_url
        self.roapp_url = roapp_url
        self.limiter = limiter
        self.roapp_timeout = roapp_timeout
        self.synced_before = synced_before
        self.state_configured = state_configured
        self.cartum_options = cartum_options or {}
        self.runs = 0

    def context(self, run_id: str) -> RunContext:
        return RunContext(
            self.config, run_id, StateStore(self.engine, self.config.store_id),
            cartum_factory=lambda: CartumClient(self.cartum_url, CARTUM_LOGIN, CARTUM_PASSWORD, retry=FAST_RETRY,
                                                requests_per_second=0, **self.cartum_options),
            roapp_factory=lambda: RoAppClient(ROAPP_KEY, self.roapp_url, retry=FAST_RETRY, limiter=self.limiter,
                                              **({"timeout": self.roapp_timeout} if self.roapp_timeout else {})),
            synced_before=self.synced_before, state_configured=self.state_configured,
        )

    def run(self, until: str | None = None, run_id: str | None = None) -> dict[str, Any]:
        """Every step in order (or up to ``until``), then finish_run; returns the summary."""
        self.runs += 1
        run_id = run_id or f"run_{self.runs}"
        for name in STEPS:
            run_step(name, self.context(run_id))
            if name == until:
                return {}
        return finish_run(self.context(run_id))
