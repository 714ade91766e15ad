"""``cartum-roapp stores remove <store>``: the store's entry leaves the Variable and its
Cartum connection is deleted; its sync state is kept unless ``--purge``. Nothing is deleted
in RO App or Cartum."""

from __future__ import annotations

import argparse

from ...config import VARIABLE_NAME
from ..common import EXIT_OK, UsageError, find_entry, out, replace_entry
from ..prompts import Prompter


def cmd_remove(args: argparse.Namespace, ui: Prompter | None) -> int:
    from ..airflow_store import connection_in_database, ensure_writable, read_entries, write_entries

    ensure_writable()
    entry = find_entry(read_entries(), args.store)
    conn_id = str(entry.get("cartum_conn_id") or "")
    delete_conn = bool(conn_id) and not args.keep_connection and connection_in_database(conn_id)
    plan = [f"its entry leaves the Variable {VARIABLE_NAME}, so the DAG cartum_roapp__{args.store} goes away at the "
            f"next parse",
            f"the connection {conn_id!r} is deleted" if delete_conn else f"the connection {conn_id!r} is kept",
            "its sync state is deleted (--purge)" if args.purge else
            "its sync state is kept (re-adding the store with the same id resumes from it; --purge deletes it)",
            "nothing is deleted in RO App or Cartum"]
    if not args.yes:
        if ui is None:
            raise UsageError("removing a store needs --yes when stdin is not a terminal (or with --no-input)")
        ui.say(f"Remove store {args.store!r} ({entry.get('name')})?")
        for line in plan:
            ui.say(f"  - {line}")
        if not ui.confirm("Remove it?", default=False):
            ui.say("Nothing was removed.")
            return EXIT_OK
    write_entries(lambda current: replace_entry(current, args.store, None),
                  delete_connection=conn_id if delete_conn else None)
    if args.purge:
        from ...state.airflow import state_engine
        from ...state.store import StateStore

        StateStore(state_engine(), args.store).purge()
    out(f"Removed store {args.store!r}: " + "; ".join(plan) + ".")
    return EXIT_OK

