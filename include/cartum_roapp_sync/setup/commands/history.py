"""``cartum-roapp history``, ``order`` and ``quarantine``: the run history read from the
state database (the same queries as the Airflow page, ``history.queries``), and what a
person does about a quarantined record (``history.actions``). No API call."""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from typing import Any

from ..common import EXIT_OK, UsageError, out
from ..prompts import Prompter


def _stores() -> tuple[dict[str, str], dict[str, str]]:
    """(store → timezone, store → name) from the Variable's valid entries."""
    from ...config import parse_stores
    from ..airflow_store import read_entries

    parsed = parse_stores(read_entries()).stores
    return {s.store_id: s.timezone for s in parsed}, {s.store_id: s.name for s in parsed}


def _engine() -> Any:
    from ...state.airflow import state_engine

    return state_engine()


def _json(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False, default=lambda v: v.isoformat()
                      if isinstance(v, datetime) else str(v))


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else "-"


def _table(rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        out("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())


def cmd_history(args: argparse.Namespace, ui: Prompter | None) -> int:
    from ...history import queries
    from ...history.words import age_text

    zones, names = _stores()
    engine = _engine()
    if args.store is None:
        overview = queries.stores_overview(engine, zones=zones, names=names)
        if args.json:
            out(_json(overview))
            return EXIT_OK
        if not overview:
            out("No store has run yet: the state database holds no history.")
            return EXIT_OK
        rows = [("STORE", "LAST RUN", "OUTCOME", "NEWEST IN RO APP", "OLDEST PENDING", "TODAY", "WEEK",
                 "QUARANTINE", "WARNINGS")]
        for s in overview:
            last = s["last_run"] or {}
            rows.append((s["store_id"], _when(last.get("started_at")), str(last.get("status") or "-"),
                         age_text(s["newest_in_roapp_age_s"]), age_text(s["oldest_pending_age_s"]),
                         str(s["orders_synced_today"]), str(s["orders_synced_week"]), str(s["open_quarantine"]),
                         str(len(s["warnings"]))))
        _table(rows)
        for s in overview:
            for warning in s["warnings"]:
                out(f"! {s['store_id']}: {warning}")
        out("Ages: NEWEST IN RO APP is the newest Cartum order RO App holds every order up to; OLDEST PENDING the "
            "oldest change read from Cartum not yet in RO App. TODAY/WEEK: orders written to RO App (store time).")
        return EXIT_OK
    found = queries.store_runs(engine, args.store, last=args.last)
    if args.json:
        out(_json(found))
        return EXIT_OK
    if not found:
        raise UsageError(f"store {args.store!r} has no run in the state database (stores with history: "
                         f"{', '.join(queries.store_ids(engine)) or 'none'})")
    rows = [("RUN", "STARTED", "STATUS", "MODE", "CREATED", "UPDATED", "UNCHANGED", "QUARANTINED", "FAILED",
             "DURATION")]
    for run in found:
        t = run["totals"]
        rows.append((run["run_id"], _when(run["started_at"]), run["status"], str(run.get("mode") or "-"),
                     str(t["created"]), str(t["updated"]), str(t["unchanged"]), str(t["quarantined"]),
                     str(t["failed"]), f"{run['duration_s']:.0f} s" if run.get("duration_s") is not None else "-"))
    _table(rows)
    return EXIT_OK


def cmd_order(args: argparse.Namespace, ui: Prompter | None) -> int:
    from ...history import queries

    engine = _engine()
    story = queries.order_story(engine, args.store, args.number)
    if not story["found"]:
        others = [key for key in queries.find_orders(engine, args.number, args.store) if key[1] != story["order"]]
        hint = (" It matches " + ", ".join(f"order {n} of {s}" for s, n in others) + ".") if others else ""
        raise UsageError(f"order {args.number} of store {args.store!r} is not in the state database: not read yet "
                         f"(created before the first import's window?), or its history is older than "
                         f"history_keep_days.{hint}")
    if args.json:
        out(_json(story))
        return EXIT_OK
    out(f"Order {story['order']} of store {story['store_id']}: RO App order "
        f"{story['roapp_id'] if story['roapp_id'] is not None else '(none yet)'}"
        f"{', ' + story['state'] if story['state'] else ''}; Cartum status {story['cartum_status']}, RO App status "
        f"{story['roapp_status_id']}; buyer {story['client_key']} (RO App client {story['client_roapp_id']})")
    for event in story["events"]:
        out(f"  {_when(event['at'])}  {event['run_id'] or 'by hand':<40}  {event['text']}")
    for q in story["quarantine"]:
        state = f"resolved {_when(q['resolved_at'])}" + (f" ({q['resolution']})" if q["resolution"] else "") \
            if q["resolved_at"] else "OPEN"
        out(f"  quarantine #{q['id']} ({q['stage']}, {q['attempts']} run(s)): {q['reason']} — {state}")
    return EXIT_OK


def cmd_quarantine(args: argparse.Namespace, ui: Prompter | None) -> int:
    from ...history import actions, queries

    engine = _engine()
    action = getattr(args, "action", None)
    try:
        if action == "retry":
            if not args.all and not args.ids:
                raise UsageError("name the quarantine row ids to retry, or --all")
            done = actions.retry(engine, None if args.all else args.ids, store_id=args.store, by="cartum-roapp")
            for row in done:
                out(f"#{row.id} {row.store_id} {row.entity} {row.source_key}: {row.how}")
            out(f"{len(done)} row(s) will be tried again by the next run." if done else "Nothing is quarantined.")
            return EXIT_OK
        if action == "resolve":
            row = actions.resolve(engine, args.id, args.note, by="cartum-roapp")
            out(f"#{row['id']} {row['store_id']} {row['entity']} {row['source_key']}: resolved with your note. Should "
                f"it fail again, a new row opens.")
            return EXIT_OK
    except actions.QuarantineActionError as exc:
        raise UsageError(str(exc)) from None
    rows = queries.open_quarantine(engine, args.store)
    if args.json:
        out(_json(rows))
        return EXIT_OK
    if not rows:
        out("Nothing is quarantined" + (f" for store {args.store!r}." if args.store else "."))
        return EXIT_OK
    _table([("ID", "STORE", "ENTITY", "KEY", "STAGE", "RUNS", "SINCE", "REASON")] + [
        (str(r["id"]), r["store_id"], r["entity"], r["source_key"], r["stage"], str(r["attempts"]),
         _when(r["first_seen_at"]), r["reason"]) for r in rows])
    out("Retry one on the next run: `cartum-roapp quarantine retry ID`; mark it handled: "
        "`cartum-roapp quarantine resolve ID --note \"…\"`.")
    return EXIT_OK


def add_parsers(groups: Any, parents: list[argparse.ArgumentParser]) -> None:
    """The ``history``, ``order`` and ``quarantine`` commands (``cli.build_parser``);
    ``parents`` carry the options every command takes (``--verbose``)."""
    history = groups.add_parser("history", parents=parents, help="what the runs did: every store, or one store's runs",
                                description="Every store at a glance (last run, freshness, orders written today "
                                            "and this week, open quarantine, warnings), or with --store the "
                                            "store's latest runs with their counts. Reads the state database only.")
    history.add_argument("--store", help="one store's runs")
    history.add_argument("--last", type=int, default=20, metavar="N", help="runs shown (default: %(default)s)")
    history.add_argument("--json", action="store_true", help="print JSON")
    history.set_defaults(handler=cmd_history, no_input=True)

    order = groups.add_parser("order", parents=parents, help="one order's story: read, written, quarantined",
                              description="Everything the sync did with one Cartum order: when it was read, what "
                                          "was written to RO App in which run (create, items, status, comments), "
                                          "its RO App id, and any quarantine with the reason.")
    order.add_argument("store", help="store_id")
    order.add_argument("number", help="the Cartum order number")
    order.add_argument("--json", action="store_true", help="print JSON")
    order.set_defaults(handler=cmd_order, no_input=True)

    held = groups.add_parser("quarantine", parents=parents, help="records held back, retry them or mark them resolved",
                             description="The open quarantine (records held back, with why); `retry` asks the "
                                         "next run to try rows again, `resolve` marks one handled with a note.")
    held.add_argument("--store", help="one store only")
    held.add_argument("--json", action="store_true", help="print JSON")
    held.set_defaults(handler=cmd_quarantine, no_input=True)
    actions = held.add_subparsers(dest="action", metavar="retry|resolve")
    retry = actions.add_parser("retry", parents=parents, help="try rows again on the next run")
    retry.add_argument("ids", nargs="*", type=int, metavar="ID")
    retry.add_argument("--all", action="store_true", help="every open row (of --store when given)")
    retry.add_argument("--store", default=argparse.SUPPRESS, help="with --all: one store's rows only")
    retry.set_defaults(handler=cmd_quarantine, no_input=True)
    resolve = actions.add_parser("resolve", parents=parents, help="mark one row resolved, with a note")
    resolve.add_argument("id", type=int, metavar="ID")
    resolve.add_argument("--note", required=True, help="why it needs no sync (kept with the row)")
    resolve.set_defaults(handler=cmd_quarantine, no_input=True)
