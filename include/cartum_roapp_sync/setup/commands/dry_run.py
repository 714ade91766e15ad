"""``cartum-roapp stores dry-run <store>``: what the store's next run would create, update
or leave alone in RO App, with nothing written anywhere (``pipeline.dryrun``): Cartum and
RO App are read exactly as the next run reads them, with the store's own connections and
RO App's shared rate limit; the state database is only read. With a store that has never
synced, it shows the first import. Exit code 1 when the next run would stop (its error is
printed)."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
from datetime import datetime
from typing import Iterator

from ...config import parse_store
from ..common import EXIT_OK, EXIT_PROBLEMS, UsageError, find_entry, out
from ..prompts import Prompter


def cmd_dry_run(args: argparse.Namespace, ui: Prompter | None) -> int:
    from ...cartum.hook import CartumHook
    from ...pipeline.dryrun import dry_run, plan_report, render_text
    from ...roapp.hook import RoAppHook
    from ...state.airflow import state_source
    from ...state.db import get_engine
    from ..airflow_store import get_connection, read_entries

    if args.show < 0:
        raise UsageError("--show takes a number of records, 0 or more")
    config = parse_store(find_entry(read_entries(), args.store))
    for conn_id in (config.cartum_conn_id, config.roapp_conn_id):
        if get_connection(conn_id) is None:
            raise UsageError(f"the connection {conn_id!r} of store {config.store_id!r} does not exist in this "
                             f"Airflow: see `cartum-roapp stores check {config.store_id}`")
    url, configured = state_source()
    with _logs_to_stderr():
        result = dry_run(config, get_engine(url), lambda: CartumHook(config.cartum_conn_id).get_conn(),
                         lambda: RoAppHook(config.roapp_conn_id).get_conn(),
                         synced_before=last_success(config.dag_id), state_configured=configured)
    report = plan_report(result, args.show)
    if args.json:
        out(json.dumps(report, indent=2, ensure_ascii=False, default=str))
    else:
        for line in render_text(report):
            out(line)
    return EXIT_OK if result.error is None else EXIT_PROBLEMS


@contextlib.contextmanager
def _logs_to_stderr() -> Iterator[None]:
    """While the steps run: stdout carries only the report (``--json`` is parsed), warnings
    go to stderr, and INFO lines stay out (the data-quality library sets its own loggers to
    INFO)."""
    root = logging.getLogger()
    saved = root.handlers[:]
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root.handlers = [handler]
    logging.disable(logging.INFO)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        logging.disable(logging.NOTSET)
        root.handlers = saved


def last_success(dag_id: str) -> datetime | None:
    """When the store's DAG last started a run that succeeded (None: never), as the DAG's
    own ``validate_setup`` is told: a state database that has lost a store shows as such."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState
    from sqlalchemy import func, select

    with create_session() as session:
        return session.scalar(select(func.max(DagRun.start_date)).where(
            DagRun.dag_id == dag_id, DagRun.state == DagRunState.SUCCESS))
