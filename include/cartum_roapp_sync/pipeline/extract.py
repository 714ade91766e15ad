"""Reading a store: the run plan, then orders, products and customers, staged for the
transform step.

Cartum has no "modified since" filter, so a run reads (1) orders created since the
watermark minus an overlap (equal timestamps and clock skew lose nothing), and (2) every
synced order not yet in a final state, by id. The catalogue is read whole on the first
run and then every ``catalog_refresh_minutes``; between refreshes only articles that
orders mention and the state does not know are fetched.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta, timezone
from typing import Any

from .. import assumptions
from .context import RunContext, RunPlan, shift, store_now

log = logging.getLogger(__name__)


def make_plan(ctx: RunContext) -> RunPlan:
    config, state = ctx.config, ctx.state
    saved = state.get_store_state() or {}
    watermark = saved.get("orders_watermark")
    refreshed = saved.get("catalog_refreshed_at")
    if refreshed is not None and refreshed.tzinfo is None:
        refreshed = refreshed.replace(tzinfo=timezone.utc)
    catalog_due = refreshed is None or (
        datetime.now(timezone.utc) - refreshed >= timedelta(minutes=config.catalog_refresh_minutes))
    if watermark is None:
        start = (store_now() - timedelta(days=config.import_days)).strftime("%Y-%m-%d %H:%M:%S")
        return RunPlan(first_import=True, orders_from=start, import_cutoff=None, customers_from=None,
                       catalog_full=True, open_order_ids=[])
    open_ids = set(state.open_order_ids(config.final_statuses))
    open_ids.update(int(q["source_key"]) for q in state.open_quarantine("orders"))
    customers_mark = saved.get("customers_watermark")
    return RunPlan(
        first_import=False,
        orders_from=shift(watermark, -config.overlap_minutes),
        import_cutoff=saved.get("import_cutoff"),
        customers_from=shift(customers_mark, -config.overlap_minutes) if customers_mark else None,
        catalog_full=catalog_due,
        open_order_ids=sorted(open_ids),
    )


def extract_orders(ctx: RunContext) -> dict[str, Any]:
    plan, config = ctx.plan(), ctx.config
    started = time.monotonic()
    created_field = assumptions.CARTUM_ORDER_CREATED_FIELD
    status_field = assumptions.CARTUM_ORDER_STATUS_FIELD
    known = set(ctx.state.id_rows("orders"))
    skip = set(config.skip_statuses_on_import)

    orders: dict[int, dict[str, Any]] = {}
    skipped = 0
    high_mark = None
    for order in ctx.cartum.iter_orders(created_from=plan.orders_from):
        created = str(order.get(created_field) or "")
        high_mark = max(high_mark or created, created)
        judged_by_import = plan.first_import or (plan.import_cutoff is not None and created <= plan.import_cutoff)
        if judged_by_import and str(order["order_id"]) not in known and order.get(status_field) in skip:
            skipped += 1
            continue
        orders[int(order["order_id"])] = order
    window = len(orders)
    reread = [i for i in plan.open_order_ids if i not in orders]
    for order in ctx.cartum.get_orders_by_ids(reread):
        orders[int(order["order_id"])] = order

    rows = [orders[i] for i in sorted(orders)]
    ctx.state.stage(ctx.run_id, "raw_orders", rows)
    ctx.state.stage(ctx.run_id, "orders_high_mark", high_mark)
    ctx.state.set_counts(ctx.run_id, "orders", extracted=len(rows))
    log.info("extract_orders: %d orders created since %s (%d skipped: status in %s on import), %d open orders "
             "re-read by id, %.1f s", window, plan.orders_from, skipped, sorted(skip), len(reread),
             time.monotonic() - started)
    return {"orders": len(rows), "skipped": skipped, "reread": len(reread)}


def extract_products(ctx: RunContext) -> dict[str, Any]:
    plan = ctx.plan()
    started = time.monotonic()
    if plan.catalog_full:
        products = list(ctx.cartum.iter_products())
        mode = "full catalogue"
    else:
        known, _ = ctx.state.article_index()
        mentioned = {str(line.get("article")) for order in ctx.state.staged(ctx.run_id, "raw_orders", [])
                     for line in order.get("products") or [] if line.get("article")}
        unknown = sorted(mentioned - set(known))
        products = list(ctx.cartum.iter_products(articles=unknown)) if unknown else []
        mode = f"{len(unknown)} unknown article(s) on demand"
    ctx.state.stage(ctx.run_id, "raw_products", products)
    ctx.state.set_counts(ctx.run_id, "products", extracted=len(products))
    log.info("extract_products: %d products (%s), %.1f s", len(products), mode, time.monotonic() - started)
    return {"products": len(products), "full": plan.catalog_full}


def extract_customers(ctx: RunContext) -> dict[str, Any]:
    plan = ctx.plan()
    started = time.monotonic()
    customers = list(ctx.cartum.iter_customers(registered_from=plan.customers_from))
    ctx.state.stage(ctx.run_id, "raw_customers", customers)
    log.info("extract_customers: %d customers registered since %s, %.1f s", len(customers),
             plan.customers_from or "the beginning", time.monotonic() - started)
    return {"customers": len(customers)}
