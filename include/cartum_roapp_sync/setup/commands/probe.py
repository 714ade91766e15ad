"""``cartum-roapp probe [STORE]``: the read-only live probe of a store's real Cartum and
RO App accounts (``cartum_roapp_sync.probe``): a handful of reads, then for every fact the
sync assumes about the two APIs a verdict (confirmed / contradicted / not checkable) with
the evidence, and the numbers that matter (calls, latency, page sizes, rate-limit headers).

It writes nothing: not to Cartum, not to RO App (the probe's session refuses anything but
reads), not to the Airflow database nor the state database. Meant to be run before
``stores add``: STORE is a store of the Variable, or the id of a ``cartum`` connection made
with ``airflow connections add``; or give ``--url``/``--login``/``--password`` and nothing is
read from Airflow for Cartum. The RO App connection is the store's, ``--roapp-conn-id``,
or ``roapp_default``; without one, only Cartum is probed.

Exit code 0 when every system asked for could be read, 1 otherwise (the report says why).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ...config import DEFAULT_ROAPP_CONN_ID
from ..common import EXIT_OK, EXIT_PROBLEMS, UsageError, out, read_password
from ..prompts import Prompter

MARKS = {"confirmed": "✓", "contradicted": "✗", "not checkable": "?"}


def cmd_probe(args: argparse.Namespace, ui: Prompter | None) -> int:
    from ...probe.run import run_probe
    from ...roapp.hook import RATE_LIMIT_REQUESTS, rate_limit_window
    from ...ratelimit import LocalRateLimiter
    from ...transport import RetryPolicy
    from ..sources import SETUP_RETRY_OPTIONS, SETUP_TIMEOUT

    entry = _entry(args.store)
    cartum = None if args.roapp_only else _cartum_account(args, ui, entry)
    roapp, note = _roapp_account(args, entry)
    if note:
        print(note, file=sys.stderr)
    if cartum is None and roapp is None:
        raise UsageError("nothing to probe: the RO App connection is missing and --roapp-only was given")
    if args.record:
        Path(args.record).mkdir(parents=True, exist_ok=True)
    report = run_probe(cartum, roapp, record=Path(args.record) if args.record else None,
                       retry=RetryPolicy(**SETUP_RETRY_OPTIONS), timeout=SETUP_TIMEOUT,
                       roapp_limiter=LocalRateLimiter(RATE_LIMIT_REQUESTS, rate_limit_window()))
    result = report.as_dict()
    if args.record:
        (Path(args.record) / "report.json").write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n",
                                                       encoding="utf-8")
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
    else:
        _print(result, args.record)
    return EXIT_OK if all(s["reachable"] for s in result["systems"]) else EXIT_PROBLEMS


# --- the accounts ---------------------------------------------------------------------------

def _entry(store: str | None) -> dict[str, Any] | None:
    from ..airflow_store import read_entries

    if not store:
        return None
    return next((e for e in read_entries() if isinstance(e, dict) and e.get("store_id") == store), None)


def _cartum_account(args: argparse.Namespace, ui: Prompter | None, entry: dict[str, Any] | None) -> Any:
    from ...assumptions import CARTUM_DEFAULT_REQUESTS_PER_SECOND
    from ...cartum.client import connection_user_agent
    from ...probe.run import CartumAccount
    from ..airflow_store import get_connection

    conn_id = str(entry.get("cartum_conn_id") or "") if entry else (args.store or "")
    conn = get_connection(conn_id) if conn_id else None
    password = read_password(args, ui, "Cartum password")
    url = args.url if args.url is not None else (conn.host or "").strip() if conn else None
    login = args.login if args.login is not None else conn.login if conn else None
    password = password if password is not None else conn.password if conn else None
    if not url or not login or not password:
        what = (f"no store {args.store!r} in the Variable and no connection {conn_id!r}" if args.store and conn is None
                else "no store given")
        raise UsageError(f"{what}: name a store, a `cartum` connection (airflow connections add ID --conn-type "
                         f"cartum --conn-host URL --conn-login USER --conn-password PW), or give --url, --login and "
                         f"--password; --roapp-only probes RO App alone")
    extra = (conn.extra_dejson or {}) if conn else {}
    agent = args.user_agent if args.user_agent is not None else connection_user_agent(extra)
    rate = float(extra.get("requests_per_second") or CARTUM_DEFAULT_REQUESTS_PER_SECOND)
    return CartumAccount(url, login, password, user_agent=agent, requests_per_second=rate)


def _roapp_account(args: argparse.Namespace, entry: dict[str, Any] | None) -> tuple[Any, str | None]:
    from ...probe.run import RoAppAccount
    from ...roapp.client import DEFAULT_BASE_URL
    from ..airflow_store import get_connection

    conn_id = args.roapp_conn_id or (entry or {}).get("roapp_conn_id") or DEFAULT_ROAPP_CONN_ID
    conn = get_connection(conn_id)
    if conn is None:
        message = (f"the RO App connection {conn_id!r} does not exist in this Airflow: create it with `airflow "
                   f"connections add {conn_id} --conn-type roapp --conn-password '<API key>'`")
        if args.roapp_only:
            raise UsageError(message)
        return None, f"Note: {message}; probing Cartum only."
    return RoAppAccount((conn.host or "").strip() or DEFAULT_BASE_URL, conn.password or ""), None


# --- the report ---------------------------------------------------------------------------

def _print(result: dict[str, Any], record: str | None) -> None:
    out("Probe: reads only, nothing written to Cartum or RO App.")
    for system in result["systems"]:
        name = "Cartum" if system["system"] == "cartum" else "RO App"
        state = "read" if system["reachable"] else f"NOT READABLE: {system['error']}"
        out(f"\n{name} {system['base_url']}: {state}")
        lat = system["latency"]
        timing = f"latency {lat['min_ms']:g} / {lat['median_ms']:g} / {lat['max_ms']:g} ms (min / median / max)" \
            if lat else "no answer"
        out(f"  {system['calls']} calls, {timing}")
        if system.get("user_agent"):
            out(f"  User-Agent: {system['user_agent']}")
        for key, value in system["figures"].items():
            if key.endswith("_page"):
                out(f"  {key.removesuffix('_page')} page: " + ", ".join(f"{k} {v}" for k, v in value.items()))
        out(f"  rate-limit headers: {system['rate_headers'] or 'none'}")
    summary = result["summary"]
    out(f"\nFacts: {summary['confirmed']} confirmed, {summary['contradicted']} contradicted, "
        f"{summary['not checkable']} not checkable")
    for verdict in ("contradicted", "confirmed", "not checkable"):
        for finding in (f for f in result["findings"] if f["verdict"] == verdict):
            out(f"  {MARKS[verdict]} {verdict:<13} {finding['fact']}: {finding['claim']}")
            for line in finding["evidence"]:
                out(f"        {line}")
    if record:
        out(f"\nRedacted answers and report.json saved under {record}.")
