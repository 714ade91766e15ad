"""``cartum-roapp stores remove <store>``: the store's entry leaves the Variable and its
Cartum connection is deleted; its sync state is kept unless ``--purge``. Nothing is deleted
in RO App or Cartum.

A run of the store in progress is never orphaned (its DAG gone under it, its tasks left
up for reschedule with "Dag not found"): the command waits for it (``--wait``, default 10
minutes) or stops it (``--stop-running``), then pauses the DAG, so that no run starts in
the half minute until the DAG processor drops the DAG, and removes the store.
"""

from __future__ import annotations

import argparse
import time

from ...config import VARIABLE_NAME
from ..common import EXIT_OK, EXIT_PROBLEMS, UsageError, find_entry, out, replace_entry, warn
from ..prompts import Prompter

#: How often a run in progress is looked at while waiting, seconds.
POLL_SECONDS = 2.0


def cmd_remove(args: argparse.Namespace, ui: Prompter | None) -> int:
    from ..airflow_store import connection_in_database, ensure_writable, read_entries, write_entries

    ensure_writable()
    entry = find_entry(read_entries(), args.store)
    conn_id = str(entry.get("cartum_conn_id") or "")
    dag_id = f"cartum_roapp__{args.store}"
    delete_conn = bool(conn_id) and not args.keep_connection and connection_in_database(conn_id)
    plan = [f"its entry leaves the Variable {VARIABLE_NAME}, so the DAG {dag_id} goes away at the next parse",
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
    settled = settle_runs(dag_id, wait_seconds=args.wait, stop=args.stop_running)
    if settled is None:
        return EXIT_PROBLEMS
    write_entries(lambda current: replace_entry(current, args.store, None),
                  delete_connection=conn_id if delete_conn else None)
    if args.purge:
        from ...state.airflow import state_engine
        from ...state.store import StateStore

        StateStore(state_engine(), args.store).purge()
    out(f"Removed store {args.store!r}: " + "; ".join([*settled, *plan]) + ".")
    return EXIT_OK


def settle_runs(dag_id: str, *, wait_seconds: int, stop: bool) -> list[str] | None:
    """No run of the DAG in progress, and the DAG paused: what was done, as phrases for the
    closing line; None (after saying why) when a run was still going after ``wait_seconds``."""
    from ..airflow_store import active_runs, set_paused, stop_run

    done: list[str] = []
    deadline = time.monotonic() + wait_seconds
    announced: set[str] = set()
    paused_before: list[bool | None] = []  # the DAG's own flag, from the first pause

    def pause() -> None:
        before = set_paused(dag_id, True)
        if not paused_before:
            paused_before.append(before)

    def stop_all(runs: list) -> None:
        for run in runs:
            stop_run(dag_id, run.run_id)
            done.append(f"its run {run.run_id} was stopped (marked failed"
                        + (f"; tasks stopped: {', '.join(run.tasks)}" if run.tasks else "") + ")")

    while True:
        runs = [r for r in active_runs(dag_id) if r.state == "running"]
        if not runs or stop:
            # Paused first, then looked at again: a run the scheduler started in between is caught.
            pause()
            runs = [r for r in active_runs(dag_id) if r.state == "running"]
            if stop:
                stop_all(runs)
                runs = []
            if not runs:
                for run in [r for r in active_runs(dag_id) if r.state == "queued"]:
                    stop_run(dag_id, run.run_id)  # never started: nothing of it to finish
                    done.append(f"its queued run {run.run_id} (not started) was marked failed")
                if paused_before and paused_before[0] is False:
                    done.append(f"the DAG {dag_id} was paused, so no run starts before it goes away (unpause it if "
                                f"the store is added again)")
                return done
            # A paused DAG's tasks are not scheduled: unpaused again, so the run can finish.
            set_paused(dag_id, bool(paused_before[0]))
        for run in runs:
            if run.run_id not in announced:
                announced.add(run.run_id)
                warn(f"The store's run {run.run_id} is in progress"
                     + (f" ({', '.join(run.tasks)})" if run.tasks else "")
                     + f": waiting for it to finish (at most {wait_seconds} s; --stop-running stops it instead).")
        if time.monotonic() >= deadline:
            ids = ", ".join(r.run_id for r in runs)
            warn(f"Nothing was removed: the run {ids} of {dag_id} is still in progress after {wait_seconds} s. Run "
                 f"the command again when it has finished (or with a longer --wait), or with --stop-running to stop "
                 f"it (marked failed; what it loaded stays, and its sync state says where it stopped).")
            return None
        time.sleep(POLL_SECONDS)
