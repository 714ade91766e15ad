"""``cartum-roapp stores reconcile <store>``: ask for a reconcile pass. The request is
recorded in the state database; the store's next run that starts after it re-reads the
orders created in the last ``reconcile_days`` days and loads what RO App lacks or holds
differently (``pipeline.reconcile``). Nothing is read from Cartum or RO App here, and
the DAG's own run (at most one at a time) does the work, so nothing races it."""

from __future__ import annotations

import argparse
from datetime import datetime
from zoneinfo import ZoneInfo

from ...config import parse_store
from ..common import EXIT_OK, find_entry, out
from ..prompts import Prompter


def cmd_reconcile(args: argparse.Namespace, ui: Prompter | None) -> int:
    from ...dags import schedule_for
    from ...entities import ORDERS
    from ...pipeline.reconcile import window_start
    from ...state.airflow import state_engine
    from ...state.store import StateStore, as_utc
    from ..airflow_store import dag_timing, read_entries

    config = parse_store(find_entry(read_entries(), args.store))
    state = StateStore(state_engine(), config.store_id)
    if state.cursor(ORDERS).value is None:
        out(f"Store {config.store_id!r} has no sync state yet: its first run is the first import, which reads the "
            f"orders of the last {config.import_days} days anyway. Nothing was requested.")
        return EXIT_OK
    facts = state.get_store_state() or {}
    asked = state.request_reconcile()
    last = facts.get("reconciled_at")
    out(f"Reconcile requested for store {config.store_id!r} ({config.name}) at {_local(asked, config.timezone)} (store time). Its "
        f"next run re-reads the orders created since {window_start(config.reconcile_days, config.import_days, facts, asked, config.timezone)} "
        f"(the last {config.reconcile_days} days, store time) and loads what RO App lacks or holds differently; "
        f"what it finds is counted in the run history (runs.found_by_reconcile, runs.warnings).")
    out(f"Last reconcile: {_local(as_utc(last), config.timezone) + ' (store time)' if last else 'never'}; nightly from "
        f"{config.reconcile_hour:02d}:00 store time.")
    if not config.enabled:
        out(f"The store is disabled: the request waits until `cartum-roapp stores edit {config.store_id} --enabled`.")
        return EXIT_OK
    note = (f"The DAG {config.dag_id} runs on the schedule {schedule_for(config.store_id)}, so its next run starts within 5 minutes; to "
            f"start one now: `airflow dags trigger {config.dag_id}`.")
    if dag_timing(config.dag_id).known_paused:
        note += f" The DAG is paused: nothing runs until `airflow dags unpause {config.dag_id}`."
    out(note)
    return EXIT_OK


def _local(when: datetime, zone: str) -> str:
    return when.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M:%S")
