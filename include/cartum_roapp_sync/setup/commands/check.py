"""``cartum-roapp stores check <store>``: every validation of a store, deep (the whole
catalogue read); nothing written."""

from __future__ import annotations

import argparse

from ...config import parse_store, parse_stores
from ..common import (
    EXIT_OK,
    EXIT_PROBLEMS,
    UsageError,
    find_entry,
    out,
    problem,
    report,
    roapp_account,
    schema_problems,
)
from ..prompts import Prompter


def cmd_check(args: argparse.Namespace, ui: Prompter | None) -> int:
    from ...setup_checks import check_entry, check_store_url, validate_store
    from ..airflow_store import get_connection, read_entries
    from ..sources import open_cartum_connection

    entries = read_entries()
    entry = find_entry(entries, args.store)
    others = [s for s in parse_stores(entries).stores if s.store_id != args.store]
    problems = check_entry(entry, others) or schema_problems(entry)
    if problems:
        report(problems, f"Store {args.store!r}: {len(problems)} problem(s) in its entry:")
        return EXIT_PROBLEMS
    config = parse_store(entry)
    out(f"Checking store {args.store!r} ({config.name}{'' if config.enabled else ', disabled'}): every check, the "
        f"whole catalogue read, nothing written…")
    problems = []
    conn = get_connection(config.cartum_conn_id)
    if conn is None:
        problems.append(problem("cartum_conn_id", f"the connection {config.cartum_conn_id!r} does not exist in "
                                                  f"Airflow: create it with `cartum-roapp stores edit {args.store} "
                                                  f"--url URL --login USER --password`"))
    else:
        problems += check_store_url((conn.host or "").strip())
    try:
        roapp = roapp_account(config.roapp_conn_id)
    except UsageError as exc:
        problems.append(problem("roapp_conn_id", str(exc)))
    if not problems:
        cartum = open_cartum_connection(conn)
        problems = validate_store(config, cartum, roapp, deep=True, others=others)
    if problems:
        report(problems, f"Store {args.store!r}: {len(problems)} problem(s):")
        return EXIT_PROBLEMS
    out(f"✓ Store {args.store!r} passed every check: Cartum login, {len(cartum.products())} products in "
        f"{config.language!r} by {config.product_key}, location {config.location_id}, order type "
        f"{config.order_type_id}, managers, {len(config.status_map)} statuses matched.")
    return EXIT_OK
