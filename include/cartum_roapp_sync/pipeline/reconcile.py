"""The reconcile pass: once a night, or when asked, a store's run re-reads every order
created in the last ``reconcile_days`` days and loads what RO App lacks or holds differently.

The 5-minute run reads orders created since the watermark minus ``overlap_minutes``. An
order that becomes visible with an older creation time is never read by it: an imported
or back-dated order, a slow commit, or the repeated hour when the store's clock leaves
summer time (2026-10-25 in Europe/Kyiv: 03:20 of the second pass is stamped before 03:58
of the first). The reconcile pass is the net under that.

Rules:

- **One DAG, one run at a time.** The pass is a mode of the store's ordinary run, decided
  by ``validate_setup`` (``plan``): a second DAG would race the 5-minute one and could create an
  order twice. The run's extract, transform, quality and load are the ordinary ones; only
  the orders' creation window starts earlier (``RunPlan.read_from``), together with the
  usual re-read set.
- **When.** Due by the schedule: the first run at or after ``reconcile_hour`` (store-local,
  default 3) each day. Or asked for: ``cartum-roapp stores reconcile <store>`` and the DAG's
  ``reconcile`` param both record a request in the state database
  (``StateStore.request_reconcile``); the next run that starts after it reconciles. A pass
  counts as done once its run succeeds (``finish_run`` records ``reconciled_at``, the run's
  start); a failed pass is made again by the next run. A successful first import counts as
  one (it read the whole import window).
- **The window.** Orders created since 00:00 of the store-local date ``reconcile_days`` ago,
  never before the first import's window (orders older than that were left out on purpose).
  Store-local dates and hours follow the timezone's rules (the store's ``timezone`` setting): Cartum
  compares creation times as local text, so a window from a date's midnight holds both
  passes of a repeated hour.
- **Found by reconcile.** An order only the reconcile window read (created before the
  ordinary start, not in the re-read set) that the id map does not hold synced, or holds
  with another content hash, was missed by the ordinary runs: it is logged at WARNING with
  its id and creation time, counted in ``runs.found_by_reconcile``, and listed in the run's
  warnings, with the clients and products of those orders that RO App lacks or holds
  differently. A non-zero count is a symptom worth looking at.
"""

from __future__ import annotations

import logging
from datetime import datetime, time, timedelta, timezone
from typing import Any, Iterable
from zoneinfo import ZoneInfo

from .. import assumptions
from ..entities import CLIENTS, ORDERS, PRODUCTS, Entity
from ..state.cursors import CARTUM_TIME
from ..state.store import as_utc
from .context import RunContext
from .rundata import RunPlan

log = logging.getLogger(__name__)

#: The timezone of a store whose settings name none (``StoreConfig.timezone`` overrides it).
STORE_TIMEZONE = assumptions.CARTUM_STORE_TIMEZONE

#: Found orders named one by one in the run's warnings; the rest are counted.
LISTED = 20


def plan(ctx: RunContext, base: RunPlan, now: datetime) -> RunPlan:
    """``base`` (``extract.make_plan``) made a reconcile pass when one is due at ``now`` (aware)."""
    if base.first_import:
        return base
    facts = ctx.state.get_store_state() or {}
    reason = due(ctx.config.reconcile_hour, facts, now, ctx.config.timezone)
    if reason is None:
        return base
    base.reconcile_from = window_start(ctx.config.reconcile_days, ctx.config.import_days, facts, now,
                                       ctx.config.timezone)
    base.reconcile_reason = reason
    return base


def due(hour: int, facts: dict[str, Any], now: datetime, zone: str = STORE_TIMEZONE) -> str | None:
    """``requested`` when a request came after the last pass, ``nightly`` when the last pass
    started before the latest scheduled moment (today's ``hour`` in store time, or
    yesterday's before that hour), else None. With no pass recorded yet, one is due."""
    done = as_utc(facts.get("reconciled_at"))
    requested = as_utc(facts.get("reconcile_requested_at"))
    if requested is not None and (done is None or requested > done):
        return "requested"
    if done is None or done < latest_scheduled(hour, now, zone):
        return "nightly"
    return None


def latest_scheduled(hour: int, now: datetime, zone: str = STORE_TIMEZONE) -> datetime:
    """The latest ``hour``:00 store time at or before ``now``. In a repeated hour the first
    pass counts (fold 0), so the second pass does not make a second reconcile."""
    local_zone = ZoneInfo(zone)
    local = now.astimezone(local_zone)
    for day in (local.date(), local.date() - timedelta(days=1)):
        moment = datetime.combine(day, time(hour), tzinfo=local_zone).astimezone(timezone.utc)
        if moment <= now:
            return moment
    raise AssertionError("yesterday's hour is always past")


def window_start(days: int, import_days: int, facts: dict[str, Any], now: datetime,
                 zone: str = STORE_TIMEZONE) -> str:
    """00:00 of the store-local date ``days`` ago, as Cartum writes times; never before the
    first import's window (``import_days`` before the first import)."""
    local_zone = ZoneInfo(zone)
    start = datetime.combine(now.astimezone(local_zone).date() - timedelta(days=days), time()).strftime(CARTUM_TIME)
    imported = as_utc(facts.get("first_import_at"))
    if imported is None:
        return start
    floor = (imported.astimezone(local_zone) - timedelta(days=import_days)).strftime(CARTUM_TIME)
    return max(start, floor)


def note_window(ctx: RunContext, plan_: RunPlan, orders: Iterable[dict[str, Any]]) -> None:
    """After the orders' extract: keep which orders only the reconcile window read."""
    if plan_.reconcile_from is None:
        return
    start, reread = plan_.start(ORDERS), set(plan_.open_order_ids)
    field = ORDERS.cursor.field
    only = [int(o["order_id"]) for o in orders
            if (start is None or str(o.get(field) or "") < start) and int(o["order_id"]) not in reread]
    ctx.data.save_reconcile_only(only)


def note_findings(ctx: RunContext) -> int:
    """After the transform: compare what only the reconcile window read with the id map
    (by content hash), log each order found at WARNING, and record the count and a warning
    on the run. Returns the number of orders found. Nothing to do outside a reconcile."""
    plan_ = ctx.data.plan()
    if plan_.reconcile_from is None:
        return 0
    only = {str(i) for i in ctx.data.reconcile_only()}
    orders = _differing(ctx, ORDERS, [o for o in ctx.data.transformed(ORDERS) if str(o["order_id"]) in only])
    client_keys = {o["client_key"] for o, _ in orders}
    product_keys = {i.get("product_key") for o, _ in orders for i in o.get("items") or []}
    clients = _differing(ctx, CLIENTS, [c for c in ctx.data.transformed(CLIENTS) if c["client_key"] in client_keys])
    products = _differing(ctx, PRODUCTS,
                          [p for p in ctx.data.transformed(PRODUCTS) if p["product_key"] in product_keys])
    for order, why in orders:
        log.warning("reconcile: store %s, order %s created %s was missed by the incremental runs (%s); it loads "
                    "in this run", ctx.config.store_id, order["order_id"], order.get("created"), why)
    ctx.state.set_found_by_reconcile(ctx.run_id, len(orders))
    if orders:
        ctx.state.add_run_warnings(ctx.run_id, [_warning(plan_, orders, len(clients), len(products))])
    log.info("reconcile: store %s, %d order(s) created since %s read only by the reconcile window; found %d "
             "order(s), %d client(s), %d product(s) missing from RO App or different", ctx.config.store_id,
             len(only), plan_.reconcile_from, len(orders), len(clients), len(products))
    return len(orders)


def _differing(ctx: RunContext, entity: Entity, records: list[dict[str, Any]]) -> list[tuple[dict[str, Any], str]]:
    """The records the id map does not hold synced (``missing``) or holds with another
    content hash (``changed``)."""
    rows = ctx.state.id_rows(entity.name, {str(r[entity.key]) for r in records})
    found = []
    for record in records:
        row = rows.get(str(record[entity.key]))
        if row is None or row.status != "synced":
            found.append((record, "not in RO App"))
        elif row.content_hash != record.get("content_hash"):
            found.append((record, "changed since it was synced"))
    return found


def _warning(plan_: RunPlan, orders: list[tuple[dict[str, Any], str]], clients: int, products: int) -> str:
    named = ", ".join(f"{o['order_id']} (created {o.get('created')}, {why})" for o, why in orders[:LISTED])
    more = f" and {len(orders) - LISTED} more" if len(orders) > LISTED else ""
    return (f"reconcile ({plan_.reconcile_reason}, orders created since {plan_.reconcile_from}) found "
            f"{len(orders)} order(s) the incremental runs missed: {named}{more}; with them {clients} client(s) and "
            f"{products} product(s) RO App lacked or held differently. Orders created before the watermark minus "
            f"overlap_minutes became visible late (back-dated, imported, a slow commit, or a clock change)")
