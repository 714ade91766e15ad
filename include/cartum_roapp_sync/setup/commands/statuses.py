"""``cartum-roapp stores statuses <store>``: every Cartum status of a store beside the RO App
status it is matched to, and matching the ones not yet matched (``--set``, or asked at a
terminal)."""

from __future__ import annotations

import argparse
from typing import Any

from ...config import DEFAULT_ROAPP_CONN_ID
from ..common import (
    EXIT_OK,
    EXIT_PROBLEMS,
    UsageError,
    find_entry,
    out,
    replace_entry,
    report,
    roapp_account,
    store_cartum,
)
from ..prompts import Prompter


def cmd_statuses(args: argparse.Namespace, ui: Prompter | None) -> int:
    from ...setup_checks import status_title
    from ..airflow_store import read_entries
    from ..form import StoreForm, parse_status_pair, roapp_status_label

    try:
        pairs = dict(parse_status_pair(p) for p in args.pairs)
    except ValueError as exc:
        raise UsageError(f"--set {exc}") from None
    entries = read_entries()
    entry = find_entry(entries, args.store)
    roapp = roapp_account(entry.get("roapp_conn_id") or DEFAULT_ROAPP_CONN_ID)
    cartum = store_cartum(entry)
    language = str(entry.get("language") or "ua")
    current = {str(k): v for k, v in (entry.get("status_map") or {}).items()}
    form = StoreForm(ui if not pairs else None, entries, roapp, editing=args.store)
    form.entry = dict(entry)
    if pairs:
        problems = form.check_pairs(cartum, pairs)
        if problems:
            report(problems, "Nothing was saved:")
            return EXIT_PROBLEMS
        current = _save_status_map(args.store, {**current, **pairs})

    cartum_statuses = cartum.get_statuses()
    roapp_by_id = {int(s["id"]): s for s in roapp.order_statuses()}
    out(f"Statuses of store {args.store!r} (Cartum titles in {language}):")
    width = max([len(status_title(s, language)) for s in cartum_statuses] + [10])
    for status in cartum_statuses:
        target = current.get(str(status["id"]))
        shown = ("not matched" if target is None else
                 f"{target} {roapp_status_label(roapp_by_id[int(target)])}" if int(target) in roapp_by_id else
                 f"{target} (no such RO App status: match it again)")
        out(f"  {status['id']:>4}  {status_title(status, language):<{width}}  →  {shown}")
    stale = sorted(set(current) - {str(s["id"]) for s in cartum_statuses}, key=lambda k: (len(k), k))
    if stale:
        out(f"Matched but no longer in Cartum (harmless): {', '.join(f'{k}→{current[k]}' for k in stale)}")
    unmatched = [s for s in cartum_statuses if str(s["id"]) not in current]
    if not unmatched:
        out("Every Cartum status is matched.")
        return EXIT_OK
    names = ", ".join(f"{s['id']} ({status_title(s, language)})" for s in unmatched)
    out(f"Not yet matched: {names}. Orders in these statuses are held until they are (a store's first import "
        f"waits until every status is matched).")
    if ui is None or pairs:
        out("RO App statuses: " + ", ".join(f"{i} {roapp_status_label(s)}" for i, s in sorted(roapp_by_id.items())))
        out(f"Match them with: cartum-roapp stores statuses {args.store} --set CARTUM_ID=ROAPP_ID [--set ...]")
        return EXIT_OK
    if not ui.confirm(f"Match the {len(unmatched)} unmatched status(es) now?", default=True):
        return EXIT_OK
    mapping = form.match_statuses(cartum, {}, current=current)
    _save_status_map(args.store, mapping)
    out(f"Saved: every Cartum status of {args.store!r} is matched.")
    return EXIT_OK


def _save_status_map(store_id: str, mapping: dict[str, int]) -> dict[str, int]:
    from ..airflow_store import write_entries

    def change(current: list[Any]) -> list[Any]:
        entry = {**find_entry(current, store_id)}
        entry["status_map"] = {**{str(k): v for k, v in (entry.get("status_map") or {}).items()}, **mapping}
        return replace_entry(current, store_id, entry)

    write_entries(change)
    return mapping

