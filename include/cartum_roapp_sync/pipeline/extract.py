"""Reading a store: the run plan, then orders, products and customers, kept in the run's
data (``rundata``) for the transform step.

Cartum has no "modified since" filter, so a run reads (1) orders created since the
orders cursor (the watermark, ``state.cursors``) minus an overlap in the store's
timezone (equal timestamps, clock skew and the repeated autumn hour lose nothing), and
(2) by id: every synced order not yet in a final status, every quarantined order, and,
every ``final_reread_minutes``, the orders that became final in the last ``final_days``
(a payment arriving after Delivered, a reopened order). An order asked by id that Cartum
no longer returns is marked gone: it leaves the re-read set, its open
quarantine rows are resolved, and its RO App order is left as it is.
The catalogue is read whole on the first run and then every ``catalog_refresh_minutes``;
between refreshes only articles that orders mention and whose product RO App does not
hold yet (not synced in the id map) are fetched, every run until the product loads.
A reconcile pass (``reconcile``) reads orders from its window's start instead of (1).
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta, timezone
from typing import Any

from .. import assumptions
from ..entities import CLIENTS, ENTITIES, ORDERS
from ..state.cursors import CARTUM_TIME, observe
from ..state.store import as_utc
from . import reconcile
from .context import RunContext, store_now
from .rundata import RunPlan

log = logging.getLogger(__name__)


def make_plan(ctx: RunContext) -> RunPlan:
    """What this run reads. No orders cursor yet means the first import: orders created in
    the last ``import_days`` days, every customer, the whole catalogue. Afterwards each
    entity with a cursor is read from it minus the overlap."""
    config, state = ctx.config, ctx.state
    facts = state.get_store_state() or {}
    refreshed = facts.get("catalog_refreshed_at")
    if refreshed is not None and refreshed.tzinfo is None:
        refreshed = refreshed.replace(tzinfo=timezone.utc)
    catalog_due = refreshed is None or (
        datetime.now(timezone.utc) - refreshed >= timedelta(minutes=config.catalog_refresh_minutes))
    starts = {e.name: state.cursor(e).start(config.overlap_minutes, config.timezone) for e in ENTITIES if e.cursor}
    if starts[ORDERS.name] is None:
        window = (store_now(config.timezone) - timedelta(days=config.import_days)).strftime(CARTUM_TIME)
        return RunPlan(first_import=True, starts={**{name: None for name in starts}, ORDERS.name: window},
                       import_cutoff=None, catalog_full=True, open_order_ids=[])
    final_due = _final_reread_due(ctx, facts)
    recent_final = state.now() - timedelta(days=config.final_days) if final_due else None
    open_ids = set(state.open_order_ids(state.final_statuses(config.final_statuses), recent_final))
    open_ids.update(int(q["source_key"]) for q in state.open_quarantine(ORDERS.name))
    return RunPlan(first_import=False, starts=starts, import_cutoff=facts.get("import_cutoff"),
                   catalog_full=catalog_due, open_order_ids=sorted(open_ids), final_reread=final_due)


def _final_reread_due(ctx: RunContext, facts: dict[str, Any]) -> bool:
    """Orders in a final status are re-read every ``final_reread_minutes`` (counted from the
    last such re-read, or the first import, which read them all)."""
    config = ctx.config
    last = facts.get("final_reread_at") or facts.get("first_import_at")
    if config.final_days <= 0:
        return False
    return last is None or ctx.state.now() - as_utc(last) >= timedelta(minutes=config.final_reread_minutes)


def extract_orders(ctx: RunContext) -> dict[str, Any]:
    data, config = ctx.data, ctx.config
    plan = data.plan()
    orders_from = plan.read_from(ORDERS)  # the reconcile window's start in a reconcile pass
    started = time.monotonic()
    created_field = ORDERS.cursor.field
    status_field = assumptions.CARTUM_ORDER_STATUS_FIELD
    known = ctx.state.id_rows(ORDERS.name)
    skip = set(config.skip_statuses_on_import)

    orders: dict[int, dict[str, Any]] = {}
    skipped = 0
    window_read = []
    for order in ctx.cartum.iter_orders(created_from=orders_from):
        window_read.append(order)
        created = str(order.get(created_field) or "")
        judged_by_import = plan.first_import or (plan.import_cutoff is not None and created <= plan.import_cutoff)
        if judged_by_import and str(order["order_id"]) not in known and order.get(status_field) in skip:
            skipped += 1
            continue
        orders[int(order["order_id"])] = order
    window = len(orders)
    reconcile.note_window(ctx, plan, orders.values())
    reread = [i for i in plan.open_order_ids if i not in orders]
    for order in ctx.cartum.get_orders_by_ids(reread):
        orders[int(order["order_id"])] = order
    gone = _gone_orders(ctx, [i for i in reread if i not in orders])
    back = [str(i) for i in orders if (row := known.get(str(i))) is not None and row.details.get("gone_at")]
    if back and ctx.state.mark_orders_gone(back, gone=False):
        log.info("extract_orders: %d order(s) marked gone are in Cartum again and sync as usual: %s",
                 len(back), ", ".join(back))

    rows = [orders[i] for i in sorted(orders)]
    data.save_raw("orders", rows)
    # The cursor follows every order of the creation window, skipped ones included.
    data.save_observed(ORDERS, observe(window_read, created_field))
    ctx.state.set_counts(ctx.run_id, ORDERS.name, extracted=len(rows))
    log.info("extract_orders: %d orders created since %s%s (%d skipped: status in %s on import), %d open orders "
             "re-read by id%s, %d deleted in Cartum, %.1f s", window, orders_from,
             " (reconcile window)" if plan.reconcile_from else "", skipped, sorted(skip), len(reread),
             " (recently final ones included)" if plan.final_reread else "", len(gone), time.monotonic() - started)
    return {"orders": len(rows), "skipped": skipped, "reread": len(reread), "gone": len(gone)}


def _gone_orders(ctx: RunContext, gone: list[int]) -> list[int]:
    """Orders asked by id that Cartum did not return are gone (``get_orders_by_ids`` asks a
    short answer again for the rest, so a capped page is no deletion): marked in the id map
    (they leave the re-read set) and their open quarantine rows resolved. Their RO App
    orders stay as they are and nothing is posted there: the sync changes only what it
    wrote, and a deletion in Cartum is no change of the order."""
    if not gone:
        return []
    keys = [str(i) for i in gone]
    marked = ctx.state.mark_orders_gone(keys)
    resolved = ctx.state.resolve_quarantine(ORDERS.name, keys, resolution="gone from Cartum (deleted there)")
    log.warning("extract_orders: %d order(s) asked by id are gone from Cartum (deleted): %s; %d marked in the id "
                "map, no longer re-read; %d open quarantine row(s) resolved; their RO App orders are left as they "
                "are", len(gone), ", ".join(keys), marked, resolved)
    return gone


def extract_products(ctx: RunContext) -> dict[str, Any]:
    data = ctx.data
    plan = data.plan()
    started = time.monotonic()
    if plan.catalog_full:
        products = list(ctx.cartum.iter_products())
        mode = "full catalogue"
    else:
        # Known means loaded: an article whose product RO App does not hold yet (rejected,
        # quarantined, never loaded) is read again, so its orders do not wait for the refresh.
        loaded = ctx.state.loaded_articles()
        mentioned = {str(line.get("article")) for order in data.raw("orders")
                     for line in order.get("products") or [] if line.get("article")}
        unknown = sorted(mentioned - loaded)
        products = list(ctx.cartum.iter_products(articles=unknown)) if unknown else []
        mode = f"{len(unknown)} unknown article(s) on demand"
    data.save_raw("products", products)
    ctx.state.set_counts(ctx.run_id, "products", extracted=len(products))
    log.info("extract_products: %d products (%s), %.1f s", len(products), mode, time.monotonic() - started)
    return {"products": len(products), "full": plan.catalog_full}


def extract_customers(ctx: RunContext) -> dict[str, Any]:
    data = ctx.data
    plan = data.plan()
    customers_from = plan.start(CLIENTS)
    started = time.monotonic()
    customers = list(ctx.cartum.iter_customers(registered_from=customers_from))
    data.save_raw("customers", customers)
    data.save_observed(CLIENTS, observe(customers, CLIENTS.cursor.field))
    log.info("extract_customers: %d customers registered since %s, %.1f s", len(customers),
             customers_from or "the beginning", time.monotonic() - started)
    return {"customers": len(customers)}
