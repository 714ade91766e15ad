"""``cartum-roapp stores list``: the stores of the Variable, as a table or as JSON (no API call)."""

from __future__ import annotations

import argparse
import json

from ...config import VARIABLE_NAME, parse_stores
from ..common import EXIT_OK, out
from ..prompts import Prompter


def cmd_list(args: argparse.Namespace, ui: Prompter | None) -> int:
    from ..airflow_store import read_entries, variable_shadowed_by
    from ..form import format_managers

    entries = read_entries()
    if args.json:
        out(json.dumps(entries, indent=2, ensure_ascii=False))
        return EXIT_OK
    shadow = variable_shadowed_by()
    if shadow:
        out(f"(the Variable comes from {shadow}, not the metadata database: the tool can read it but not change it)")
    parsed = parse_stores(entries)
    if not entries:
        out(f"No stores yet (the Variable {VARIABLE_NAME} is empty or unset). Add one with `cartum-roapp stores add`.")
        return EXIT_OK
    rows = [("STORE", "NAME", "ENABLED", "CARTUM CONNECTION", "LOCATION", "ORDER TYPE", "LANGUAGE", "KEY",
             "MANAGERS", "STATUSES")]
    for s in parsed.stores:
        rows.append((s.store_id, s.name, "yes" if s.enabled else "no", s.cartum_conn_id, str(s.location_id),
                     str(s.order_type_id), s.language, s.product_key, format_managers(s.managers),
                     f"{len(s.status_map)} matched"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        out("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    for label, error in parsed.errors.items():
        out(f"! {label}: not valid, it gets a placeholder DAG until fixed: {error}")
    return EXIT_OK
