"""The steps of one store's run, in order. Each is a plain function of a ``RunContext``;
the DAG wraps each in a task (``dags``), and tests can call them directly.

    validate_setup → extract_orders → extract_products ─┐
                                   → extract_customers ─┴→ transform
              → check_quality → load_clients → load_products → load_orders → finish_run

A tick is small when it can find nothing changed (an ordinary incremental run: no first
import, reconcile pass, backfill, catalogue refresh or re-read of final orders, nothing in
the quarantine). ``validate_setup`` then reads it itself (the three extracts, in its own
process: ``read_small_tick``) and decides at once whether anything changed. When nothing
did (``nothing_changed``: it read exactly what the last run that loaded had read), it
returns ``NOTHING_CHANGED``: the DAG records the run (``finish_run``) in that same task and
skips every task after it, so a no-change tick is one task process. When something
changed, the extract steps find their reads done (``ALREADY_READ``) and the run goes on.
Any other run reads in the extract steps and always goes on: it has work of its own
(``transform`` still marks it as one that changed something, see ``nothing_changed``).

Data passes between steps through the state database (``rundata``), never through XCom:
it can be large and it must survive a worker dying. Each step's outcome (done, or its
error) is recorded, so ``finish_run`` knows whether the run as a whole succeeded. The
load steps are one per declared entity (``entities``).
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import datetime, timezone
from typing import Any, Callable

from .. import __version__
from ..entities import ENTITIES, ORDERS, PRODUCTS, Entity
from ..transport import RetriableApiError
from . import extract, reconcile
from .context import RunContext
from .errors import FatalStepError
from .graph import LOAD_STEPS, UPSTREAM
from .load import LOADERS
from .rundata import SOURCES, RunPlan

log = logging.getLogger(__name__)


def _start_run(ctx: RunContext) -> RunPlan:
    """Decide what the run reads (``RunPlan``), its mode (first import, incremental, or a
    reconcile pass when one is due or was asked for: ``reconcile``), and open its history.
    Each attempt of ``validate_setup`` starts the run again: the plan is made anew (a
    reconcile request is consumed only by a run that succeeds) and the run's history
    starts over."""
    plan = reconcile.plan(ctx, extract.make_plan(ctx), datetime.now(timezone.utc))
    if plan.first_import and ctx.synced_before is not None:
        _state_lost(ctx)
    ctx.data.drop_all_runs()   # an earlier attempt's reads too: this attempt's plan decides
    ctx.state.start_run(ctx.run_id, plan.first_import, plan.mode)
    ctx.data.save_plan(plan)
    mode = {"first_import": "FIRST IMPORT", "incremental": "incremental",
            "reconcile": f"RECONCILE ({plan.reconcile_reason}): orders created since {plan.reconcile_from}"}[plan.mode]
    log.info("run %s of store %s: %s; reading from %s; %s; %d open order(s) to re-read%s",
             ctx.run_id, ctx.config.store_id, mode,
             ", ".join(f"{name} {start or 'the beginning'}" for name, start in plan.starts.items()),
             "full catalogue" if plan.catalog_full else "catalogue on demand", len(plan.open_order_ids),
             " (the hourly re-read of recently final orders included)" if plan.final_reread else "")
    return plan


def validate_setup(ctx: RunContext) -> dict[str, Any]:
    """The run's first step. It starts the run (``_start_run``: the plan, the run's history,
    the lost-state check), then makes the cheap setup checks, before anything is read: credentials still valid, the
    location, order type and managers still there, every Cartum status matched. A few
    read-only calls (Cartum: auth, statuses; RO App: locations, order types, employees,
    statuses), most runs none: the Cartum session token is kept between the run's tasks
    (``cartum.tokens``) and the reference lists for ``reference_cache_minutes``
    (``reference``); a problem found on kept lists is checked again on fresh ones.

    Two problems degrade instead of stopping (``setup_checks.split_for_run``): a listed
    manager no longer eligible while another is (dropped: the others get the orders), and,
    after the first import, a Cartum status nobody matched (its orders are held by data
    quality). Each is logged as a WARNING on every run until fixed.

    The two status lists it reads also give the store's final statuses
    (``setup_checks.final_statuses``), kept in the store facts for the orders loader and
    the next run's plan: no call of its own."""
    from ..setup_checks import final_statuses, split_for_run, validate_store

    plan = _start_run(ctx)
    seen: dict[str, Any] = {}
    problems = validate_store(ctx.config, ctx.cartum, ctx.roapp, deep=False, seen=seen, login_life=RUN_TOKEN_LIFE)
    caches = [c for c in (getattr(ctx.cartum, "reference_cache", None), getattr(ctx.roapp, "reference_cache", None))
              if c is not None]
    if any(not isinstance(p.cause, RetriableApiError) for p in problems) and any(c.served for c in caches):
        # Judged on kept answers (``reference``): what is wrong may be fixed already. Fresh ones decide.
        for cache in caches:
            cache.drop("the setup check found a problem")
        log.info("validate_setup: store %s: a problem found on kept reference data; checking again on fresh "
                 "answers", ctx.config.store_id)
        seen = {}
        problems = validate_store(ctx.config, ctx.cartum, ctx.roapp, deep=False, seen=seen,
                                  login_life=RUN_TOKEN_LIFE)
    unanswered = [p for p in problems if isinstance(p.cause, RetriableApiError)]
    if unanswered:
        # Not a wrong setup: an API that did not answer (a 429 storm, an outage). Airflow retries.
        raise RetriableApiError(f"store {ctx.config.store_id!r}: the setup could not be checked, an API did not "
                                f"answer (nothing was read or written): " + "; ".join(str(p) for p in unanswered))
    stopping, warnings = split_for_run(problems, ctx.config, first_import=plan.first_import)
    if stopping:
        raise FatalStepError(f"store {ctx.config.store_id!r} cannot sync until its setup is fixed (nothing was "
                             f"read or written): " + "; ".join(str(p) for p in stopping))
    if "cartum_statuses" in seen and "roapp_statuses" in seen:
        _keep_final_statuses(ctx, final_statuses(seen["cartum_statuses"], seen["roapp_statuses"], ctx.config))
    for warning in warnings:
        log.warning("validate_setup: store %s syncs with a degraded setup: %s", ctx.config.store_id, warning)
    ctx.state.add_run_warnings(ctx.run_id, [f"degraded setup: {w}" for w in warnings])
    if not warnings:
        log.info("validate_setup: store %s is set up correctly", ctx.config.store_id)
    if small_tick(ctx, plan) and read_small_tick(ctx) is NOTHING_CHANGED:
        return NOTHING_CHANGED
    return {"problems": 0, "warnings": warnings, "plan": plan.to_dict()}


#: The steps ``validate_setup`` runs itself in a small tick (``read_small_tick``), in order.
EXTRACT_STEPS = ("extract_orders", "extract_customers", "extract_products")
#: What an extract step returns when ``validate_setup`` already read for it in this run.
ALREADY_READ = "already read"


def small_tick(ctx: RunContext, plan: RunPlan) -> bool:
    """An ordinary incremental run, the only kind that can find nothing changed: not a
    first import, a reconcile pass, a backfill, the catalogue refresh or the hourly
    re-read of final orders (each has work of its own), and nothing waiting in the
    quarantine (a record RO App rejected is retried on every run)."""
    return (plan.mode == "incremental" and not plan.backfill and not plan.catalog_full
            and not plan.final_reread and not ctx.state.open_quarantine())


def read_small_tick(ctx: RunContext) -> str | None:
    """``validate_setup``'s reads of a small tick: the three extracts in this process (each
    recorded as its own step, done or failed), then whether anything changed. Returns
    ``NOTHING_CHANGED`` when nothing did. The extract tasks of a run that goes on find
    their reads done and return at once."""
    for name in EXTRACT_STEPS:
        try:
            STEPS[name](ctx)
        except Exception as exc:
            ctx.data.step_failed(name, f"{type(exc).__name__}: {exc}")
            raise
        ctx.data.step_done(name)
    if nothing_changed(ctx):
        _count_unchanged(ctx)
        for name in SKIPPED_WHEN_UNCHANGED:   # they never start: the run's history says so
            ctx.data.step_skipped(name)
        return NOTHING_CHANGED
    log.info("validate_setup: store %s: read %s in this task (a small tick); something changed, the run goes on",
             ctx.config.store_id, ", ".join(f"{len(ctx.data.raw(s))} {s}" for s in SOURCES))
    return None


#: A run's Cartum token must live this many seconds more after ``validate_setup``, else it
#: logs in there (not in an extract half-way): the extracts use the token it holds.
RUN_TOKEN_LIFE = 120.0


def _keep_final_statuses(ctx: RunContext, final: list[int]) -> None:
    before = (ctx.state.get_store_state() or {}).get("final_statuses")
    if before != final:
        ctx.state.set_store_state(final_statuses=final)
        log.info("validate_setup: store %s: Cartum statuses %s are final (re-read every %d min for %d days "
                 "after an order reaches one), was %s", ctx.config.store_id, final, ctx.config.final_reread_minutes,
                 ctx.config.final_days, before)


def _state_lost(ctx: RunContext) -> None:
    """The state database does not know a store whose DAG has succeeded before: its state
    was lost. A state database the ``cartum_roapp_state`` connection names is rebuilt (the
    loaders find every record the store created again: no duplicate). A missing connection
    is more likely a deployment that lost its setting, each worker writing a file of its
    own: that stops the run, loudly."""
    store, when = ctx.config.store_id, ctx.synced_before
    if not ctx.state_configured:
        raise FatalStepError(
            f"store {store!r} has synced before (last successful run started {when}), but the state database knows "
            f"nothing of it and the Airflow connection 'cartum_roapp_state' does not exist, so this run would start "
            f"a new state in the local SQLite file. Restore the connection 'cartum_roapp_state' to the state "
            f"database the store used. To rebuild the state instead (safe: every order, client and product the "
            f"store created is found again in RO App, nothing is created twice), create that connection pointing "
            f"at the database to use, e.g. the SQLite file, and run again.")
    log.warning("store %s has synced before (last successful run started %s) but the state database knows nothing "
                "of it: rebuilding the state from RO App and Cartum (records are found again, not created twice)",
                store, when)


def _load(entity: Entity) -> Callable[[RunContext], dict[str, Any]]:
    def load(ctx: RunContext) -> dict[str, Any]:
        loader = LOADERS[entity.name](ctx)
        try:
            loader.run(ctx.data.valid(entity))
        finally:
            # Recorded even when the step fails: what was done, and how many were not.
            counts = loader.counts.as_counts()
            # quarantined: this run's records of the entity, by data quality or by RO App
            counts["quarantined"] = ctx.state.quarantined_count(ctx.run_id, entity.name)
            ctx.state.set_counts(ctx.run_id, entity.name, **counts)
        _commit(ctx, entity, loader)
        return counts

    load.__name__ = entity.step
    load.__doc__ = f"Load the run's valid {entity.name} into RO App (see ``load``), then commit its cursor."
    return load


def _commit(ctx: RunContext, entity: Entity, loader: Any) -> None:
    """Only after RO App confirmed every write of the entity (each rejected record is in the
    quarantine, and open quarantined orders are re-read by id on later runs): the store
    facts the entity owns, then its cursor. A first import that read nothing still starts
    the cursor at its window."""
    plan = ctx.data.plan()
    reached = ctx.data.observed(entity) if entity.cursor else None
    if reached is None and plan.first_import:
        reached = plan.start(entity)
    loader.finish(reached)
    if entity.cursor is not None and reached:
        now = ctx.state.cursor(entity).advance_time(reached)
        log.info("cursor %s.%s at %s", entity.name, entity.cursor.name, now)


#: What ``transform`` returns when the run found nothing changed (``nothing_changed``).
NOTHING_CHANGED = "nothing changed"
#: The steps a run that found nothing changed skips (``finish_run`` still runs).
SKIPPED_WHEN_UNCHANGED = ("transform", "check_quality", *LOAD_STEPS)


def nothing_changed(ctx: RunContext) -> bool:
    """True when this run read exactly what the last run that loaded had read, under the
    same settings and code, and nothing else is pending: then transforming, checking and
    loading it again would write nothing (every record's hash is unchanged), and the run
    skips them. Decided once per run, after the extracts, from the run's raw records (no
    call): by ``validate_setup`` in a small tick, else by ``transform``.

    Only a small tick (``small_tick``) can find nothing changed. The digest of what a run read is
    kept by ``finish_run`` only when the run succeeded; any run that goes on to load
    clears it first, so a run that fails half-way is never taken for the last one that
    loaded."""
    decided = ctx.data.change_decided()
    if decided is not None:
        return decided   # decided once per run, by validate_setup in a small tick
    digest = _read_digest(ctx) if small_tick(ctx, ctx.data.plan()) else None
    last = (ctx.state.get_store_state() or {}).get("read_digest")
    unchanged = digest is not None and digest == last
    ctx.data.save_read_digest(digest, unchanged)
    if not unchanged and last is not None:
        ctx.state.set_store_state(read_digest=None)
    return unchanged


def _read_digest(ctx: RunContext) -> str:
    """sha256 of what the run read (every raw record, in the order read), the store's
    settings and the package's version: equal digests, equal transform input."""
    digest = hashlib.sha256()
    head = {"version": __version__, "store": ctx.config.to_dict()}
    digest.update(json.dumps(head, sort_keys=True, default=str).encode("utf-8"))
    for source in SOURCES:
        digest.update(f"\n{source}\n".encode("utf-8"))
        for record in ctx.data.raw(source):
            digest.update(json.dumps(record, sort_keys=True, default=str).encode("utf-8"))
            digest.update(b"\n")
    return digest.hexdigest()


def transform(ctx: RunContext) -> dict[str, Any] | str:
    """The transform (``process.transform``); in a reconcile pass, then what it found.
    ``nothing_changed`` first: in a run that is not a small tick it decides "changed" and
    forgets the last run's digest (this run goes on to load). Called directly on a run that
    found nothing changed, it returns ``NOTHING_CHANGED`` (``run_step`` and the DAG never
    get here then)."""
    if nothing_changed(ctx):
        _count_unchanged(ctx)
        return NOTHING_CHANGED
    from . import process   # pandas: only in a run that transforms something

    result = process.transform(ctx)
    reconcile.note_findings(ctx)
    return result


def _count_unchanged(ctx: RunContext) -> None:
    """Every record a run that found nothing changed read counts as unchanged."""
    for entity in (ORDERS, PRODUCTS):
        ctx.state.set_counts(ctx.run_id, entity.name, unchanged=len(ctx.data.raw(entity.name)))
    log.info("store %s: nothing changed since the last run that loaded (the same %s); the transform, data "
             "quality and loads are skipped", ctx.config.store_id,
             ", ".join(f"{len(ctx.data.raw(s))} {s}" for s in SOURCES))


def check_quality(ctx: RunContext) -> dict[str, Any]:
    """Data quality (``process.check_quality``: pandas and Great Expectations, imported here)."""
    from . import process

    return process.check_quality(ctx)


STEPS: dict[str, Callable[[RunContext], Any]] = {
    "validate_setup": validate_setup,
    "extract_orders": extract.extract_orders,
    "extract_products": extract.extract_products,
    "extract_customers": extract.extract_customers,
    "transform": transform,
    "check_quality": check_quality,
    **{entity.step: _load(entity) for entity in ENTITIES},
}

assert set(STEPS) == set(UPSTREAM), "every step has its place in the graph"


def run_step(name: str, ctx: RunContext) -> Any:
    """Run one step, count its API calls, and record its outcome (done, skipped, or its
    error). Once the run found nothing changed, the steps it skips return
    ``NOTHING_CHANGED`` at once (under Airflow they never start: the DAG skips them); an
    extract ``validate_setup`` already made in this run returns ``ALREADY_READ``."""
    if name in SKIPPED_WHEN_UNCHANGED and ctx.data.nothing_changed():
        ctx.data.step_skipped(name)
        ctx.close()
        return NOTHING_CHANGED
    if name in EXTRACT_STEPS and ctx.data.outcomes().get(name, (None, None))[0] == "done":
        # No count here: that would load the run's staged records once more just to log them.
        log.info("%s: store %s: validate_setup read this in the run's first task (a small tick; its log has the "
                 "counts)", name, ctx.config.store_id)
        ctx.close()
        return ALREADY_READ
    try:
        result = STEPS[name](ctx)
    except Exception as exc:
        ctx.data.step_failed(name, f"{type(exc).__name__}: {exc}")
        raise
    finally:
        ctx.record_calls()
        ctx.close()
    if result is NOTHING_CHANGED and name in SKIPPED_WHEN_UNCHANGED:
        ctx.data.step_skipped(name)
    else:
        ctx.data.step_done(name)
    return result


#: How many quarantine reasons a run's note names; all of them are in the state database.
NOTE_REASONS = 3
#: How much of one reason the note keeps (Airflow keeps 1000 characters of a note).
NOTE_REASON_CHARS = 160


def run_note(ctx: RunContext) -> str | None:
    """The warning for the run's note when the run quarantined records: the count and the
    first reasons; None when it quarantined nothing."""
    count, first = ctx.state.run_quarantine(ctx.run_id, NOTE_REASONS)
    if not count:
        return None
    reasons = "\n".join(
        f"- {row['entity']} {row['source_key']} ({row['stage']}): "
        f"{row['reason'] if len(row['reason']) <= NOTE_REASON_CHARS else row['reason'][:NOTE_REASON_CHARS] + '…'}"
        for row in first)
    return (f"⚠ Quarantined: {count} record(s) held back from RO App in this run (retried on later runs). "
            f"First reasons:\n{reasons}\nAll of them: the `quarantine` table of the state database "
            f"(this DAG's docs say how to read it).")


def finish_run(ctx: RunContext) -> dict[str, Any]:
    """Record the run's outcome and summary; raise when any step did not finish, so that
    the Airflow run fails too."""
    outcomes = ctx.data.outcomes()
    unchanged = ctx.data.nothing_changed()
    skipped = set(SKIPPED_WHEN_UNCHANGED) if unchanged else set()
    missing = [name for name in STEPS if name not in skipped and outcomes.get(name, ("missing", None))[0] != "done"]
    error_text = "; ".join(f"{name}: {outcomes.get(name, (None, None))[1] or 'did not finish'}"
                           for name in missing) or None
    summary = ctx.state.finish_run(ctx.run_id, "failed" if missing else "success", error_text,
                                   no_change=unchanged and not missing)
    digest = ctx.data.read_digest()
    if not missing and not unchanged and digest is not None:
        # This run loaded what it read: the next run that reads the same finds nothing changed.
        ctx.state.set_store_state(read_digest=digest)
    purged = ctx.state.purge_resolved_quarantine(ctx.config.quarantine_keep_days)
    if purged:
        log.info("quarantine: %d row(s) resolved more than %d days ago purged", purged,
                 ctx.config.quarantine_keep_days)
    purged = ctx.state.events.purge(ctx.config.history_keep_days)
    if purged:
        log.info("history: %d record event(s) older than %d days purged", purged, ctx.config.history_keep_days)
    run = summary["run"] or {}
    if not missing and run.get("mode") in ("first_import", "reconcile"):
        # The pass is done: the next is due at the next reconcile_hour, or when asked for
        # after this run started.
        ctx.state.set_store_state(reconciled_at=run["started_at"])
    log.info("run summary for store %s (%s): status %s, %s%s, Cartum calls %s, RO App calls %s (%s writes), %.1f s; "
             "found by reconcile %s; %d warning(s)", ctx.config.store_id, ctx.run_id, run.get("status"),
             run.get("mode"), ", nothing changed (transform, quality and loads skipped)" if run.get("no_change") else "",
             run.get("cartum_calls"), run.get("roapp_calls"), run.get("roapp_writes"),
             run.get("duration_s") or 0, run.get("found_by_reconcile") or 0, len(run.get("warnings") or []))
    order = {entity.name: entity.load_order for entity in ENTITIES}
    for entity, counts in sorted(summary["entities"].items(), key=lambda e: order.get(e[0], 99)):
        log.info("  %-8s %s", entity, "  ".join(f"{k} {v}" for k, v in counts.items()))
    for warning in run.get("warnings") or []:
        log.warning("  warning: %s", warning)
    if missing:
        raise RuntimeError(f"run {ctx.run_id} of store {ctx.config.store_id} failed: {error_text}")
    return summary
