"""The steps of one store's run, in order. Each is a plain function of a ``RunContext``;
the DAG wraps each in a task (``dags``), and tests can call them directly.

    start_run → validate_setup → extract_orders → extract_products ┐
                               → extract_customers ────────────────┴→ transform
              → check_quality → load_clients → load_products → load_orders → finish_run

Data passes between steps through the state database (``staged``), never through XCom:
it can be large and it must survive a worker dying. Each step ends by marking itself
done, so ``finish_run`` knows whether the run as a whole succeeded.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

from ..entities import BY_NAME
from . import extract, process
from .context import FatalStepError, RunContext
from .graph import UPSTREAM
from .load import LOADERS

log = logging.getLogger(__name__)


def validate_setup(ctx: RunContext) -> dict[str, Any]:
    """The cheap setup checks, before anything is read: credentials still valid, the
    location, order type and managers still there, every Cartum status matched. A few
    read-only calls (Cartum: auth, statuses; RO App: locations, order types, employees,
    statuses)."""
    from ..setup.validation import validate_store

    problems = validate_store(ctx.config, ctx.cartum, ctx.roapp, deep=False)
    if problems:
        raise FatalStepError(f"store {ctx.config.store_id!r} cannot sync until its setup is fixed (nothing was "
                             f"read or written): " + "; ".join(str(p) for p in problems))
    log.info("validate_setup: store %s is set up correctly", ctx.config.store_id)
    return {"problems": 0}


def start_run(ctx: RunContext) -> dict[str, Any]:
    plan = extract.make_plan(ctx)
    ctx.state.drop_staged(keep_run_id=ctx.run_id)
    ctx.state.start_run(ctx.run_id, plan.first_import)
    ctx.state.stage(ctx.run_id, "plan", plan.to_dict())
    log.info("run %s of store %s: %s; orders created since %s; %s; %d open order(s) to re-read",
             ctx.run_id, ctx.config.store_id, "FIRST IMPORT" if plan.first_import else "incremental",
             plan.orders_from, "full catalogue" if plan.catalog_full else "catalogue on demand",
             len(plan.open_order_ids))
    return plan.to_dict()


def _load(entity_name: str) -> Callable[[RunContext], dict[str, Any]]:
    def load(ctx: RunContext) -> dict[str, Any]:
        records = ctx.state.staged(ctx.run_id, f"valid_{entity_name}", [])
        loader = LOADERS[entity_name](ctx)
        try:
            loader.run(records)
        finally:
            # Recorded even when the step fails: what was done, and how many were not.
            counts = loader.counts.as_counts()
            # quarantined: this run's records of the entity, by data quality or by RO App
            counts["quarantined"] = ctx.state.quarantined_count(ctx.run_id, entity_name)
            ctx.state.set_counts(ctx.run_id, entity_name, **counts)
        _advance_watermarks(ctx, entity_name)
        return counts

    load.__name__ = f"load_{entity_name}"
    load.__doc__ = f"Load the run's valid {entity_name} into RO App (see ``load``)."
    return load


def _advance_watermarks(ctx: RunContext, entity_name: str) -> None:
    """Only after RO App confirmed every write of the entity (each rejected record is in the
    quarantine, and open quarantined orders are re-read by id on later runs)."""
    plan, state = ctx.plan(), ctx.state
    if entity_name == "clients":
        customers = state.staged(ctx.run_id, "raw_customers", [])
        marks = [str(c.get("registered")) for c in customers if c.get("registered")]
        saved = (state.get_store_state() or {}).get("customers_watermark")
        if marks:
            state.set_store_state(customers_watermark=max(marks + ([saved] if saved else [])))
    elif entity_name == "products" and plan.catalog_full:
        from ..state.store import utcnow

        state.set_store_state(catalog_refreshed_at=utcnow())
    elif entity_name == "orders":
        high = state.staged(ctx.run_id, "orders_high_mark")
        saved = state.get_store_state() or {}
        values: dict[str, Any] = {}
        if high:
            values["orders_watermark"] = max(high, saved.get("orders_watermark") or high)
        elif plan.first_import:
            values["orders_watermark"] = plan.orders_from
        if plan.first_import:
            from ..state.store import utcnow

            values["import_cutoff"] = values["orders_watermark"]
            values["first_import_at"] = utcnow()
        if values:
            state.set_store_state(**values)
            log.info("watermarks advanced: %s", values)


load_clients = _load("clients")
load_products = _load("products")
load_orders = _load("orders")

STEPS: dict[str, Callable[[RunContext], Any]] = {
    "start_run": start_run,
    "validate_setup": validate_setup,
    "extract_orders": extract.extract_orders,
    "extract_products": extract.extract_products,
    "extract_customers": extract.extract_customers,
    "transform": process.transform,
    "check_quality": process.check_quality,
    "load_clients": load_clients,
    "load_products": load_products,
    "load_orders": load_orders,
}



assert set(STEPS) == set(UPSTREAM), "every step has its place in the graph"


def run_step(name: str, ctx: RunContext) -> Any:
    """Run one step, count its API calls, and mark it done (or record its error)."""
    try:
        result = STEPS[name](ctx)
    except Exception as exc:
        ctx.state.stage(ctx.run_id, f"error:{name}", f"{type(exc).__name__}: {exc}")
        raise
    finally:
        ctx.record_calls()
        ctx.close()
    ctx.state.stage(ctx.run_id, f"done:{name}", True)
    return result


def finish_run(ctx: RunContext) -> dict[str, Any]:
    """Record the run's outcome and summary; raise when any step did not finish, so that
    the Airflow run fails too."""
    missing = [name for name in STEPS if not ctx.state.staged(ctx.run_id, f"done:{name}")]
    errors = {name: ctx.state.staged(ctx.run_id, f"error:{name}") for name in missing}
    error_text = "; ".join(f"{name}: {errors[name] or 'did not finish'}" for name in missing) or None
    summary = ctx.state.finish_run(ctx.run_id, "failed" if missing else "success", error_text)
    run = summary["run"] or {}
    log.info("run summary for store %s (%s): status %s, Cartum calls %s, RO App calls %s (%s writes), %.1f s",
             ctx.config.store_id, ctx.run_id, run.get("status"), run.get("cartum_calls"), run.get("roapp_calls"),
             run.get("roapp_writes"), run.get("duration_s") or 0)
    for entity, counts in sorted(summary["entities"].items(), key=lambda e: BY_NAME[e[0]].load_order):
        log.info("  %-8s %s", entity, "  ".join(f"{k} {v}" for k, v in counts.items()))
    if missing:
        raise RuntimeError(f"run {ctx.run_id} of store {ctx.config.store_id} failed: {error_text}")
    return summary
