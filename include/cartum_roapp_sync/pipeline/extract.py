"""Reading a store: the run plan, then orders, products and customers, kept in the run's
data (``rundata``) for the transform step. Every record read passes the boundary first
(``boundary``, ``cartum.records``): a malformed one is quarantined there (stage ``shape``)
and nothing after it sees it; its creation time, when not sane, never reaches a cursor.

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

**Orders first, then a backfill.** A first import brings over its orders, with the
registered customers and the catalogue products those orders need. The other registered
customers and catalogue products follow in later runs, ``backfill_chunk`` of each per run
(the first import takes them along only when all of them fit in one chunk):

- customers in (registration time, id) order; the position of the last customer of a
  chunk is committed (cursor ``clients``/``backfill``) only after RO App confirmed the
  chunk, so a killed run repeats at most one chunk (the id map makes the repeat free);
  once the last chunk is loaded the customers cursor starts, and later runs read only new
  registrations;
- catalogue products whose article RO App does not hold yet (the id map is the cursor);
  once the last chunk is loaded the catalogue counts as refreshed, and the refresh every
  ``catalog_refresh_minutes`` takes over.

Both read what they need again each run (``users/export`` from the position's
registration time on; the whole catalogue): Cartum calls are cheap next to RO App's 3/s.

**A misbehaving API.** Reads are bounded (``cartum.client``): one that passes its limits
fails the step with the reason, and nothing of it is used, so no cursor moves. A catalogue
or customers read *cut short* (a page exactly like the one before: the API ignores
``offset``) goes on with what it read, and the run's warnings say so; but nothing counts
as read whole: the customers cursor and backfill position stay, the catalogue is not
counted as refreshed (nor its backfill as done), so the next runs read it all again.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta, timezone
from typing import Any

from .. import assumptions
from ..cartum import records
from ..entities import CLIENTS, ENTITIES, ORDERS
from ..state.cursors import CARTUM_TIME, observe
from ..state.store import as_utc
from . import reconcile
from .backfill import customers_backfill, duration_text
from .context import RunContext, store_now
from .rundata import RunPlan

log = logging.getLogger(__name__)

BACKFILLS = ("customers", "products")
RUN_EVERY_MINUTES = 5   # the DAG's schedule (``dags.SCHEDULE``): for the backfill's time estimate


def make_plan(ctx: RunContext) -> RunPlan:
    """What this run reads. No orders cursor yet means the first import: orders created in
    the last ``import_days`` days, with the customers and products they need (the rest is
    backfilled). Afterwards each entity with a cursor is read from it minus the overlap,
    orders are re-read by id (the re-read set), and a reconcile pass may widen the orders'
    window (``steps._start_run``)."""
    config, state = ctx.config, ctx.state
    facts = state.get_store_state() or {}
    refreshed = as_utc(facts.get("catalog_refreshed_at"))
    catalog_due = refreshed is None or (
        datetime.now(timezone.utc) - refreshed >= timedelta(minutes=config.catalog_refresh_minutes))
    starts = {e.name: state.cursor(e).start(config.overlap_minutes, config.timezone) for e in ENTITIES if e.cursor}
    if starts[ORDERS.name] is None:
        window = (store_now(config.timezone) - timedelta(days=config.import_days)).strftime(CARTUM_TIME)
        return RunPlan(first_import=True, starts={**{name: None for name in starts}, ORDERS.name: window},
                       import_cutoff=None, catalog_full=True, open_order_ids=[], backfill=list(BACKFILLS))
    final_due = _final_reread_due(ctx, facts)
    recent_final = state.now() - timedelta(days=config.final_days) if final_due else None
    open_ids = set(state.open_order_ids(state.final_statuses(config.final_statuses), recent_final))
    # An order held without a usable id (``sha256:…``) cannot be asked for by id.
    open_ids.update(int(q["source_key"]) for q in state.open_quarantine(ORDERS.name) if q["source_key"].isdigit())
    # No customers cursor yet: not every registered customer is loaded. The catalogue never
    # refreshed: not every product is.
    backfill = [kind for kind, pending in (("customers", starts[CLIENTS.name] is None), ("products", refreshed is None))
                if pending]
    return RunPlan(first_import=False, starts=starts, import_cutoff=facts.get("import_cutoff"),
                   catalog_full=catalog_due, open_order_ids=sorted(open_ids), final_reread=final_due, backfill=backfill)


def _final_reread_due(ctx: RunContext, facts: dict[str, Any]) -> bool:
    """Orders in a final status are re-read every ``final_reread_minutes`` (counted from the
    last such re-read, or the first import, which read them all)."""
    config = ctx.config
    last = facts.get("final_reread_at") or facts.get("first_import_at")
    if config.final_days <= 0:
        return False
    return last is None or ctx.state.now() - as_utc(last) >= timedelta(minutes=config.final_reread_minutes)


def boundary(ctx: RunContext, source: str, rows: Any) -> records.Parsed:
    """The records of ``source`` read from Cartum, parsed at the boundary
    (``cartum.records``): the good ones cleaned, the others quarantined (stage ``shape``)
    with their reasons. Every extract passes what it read through here first."""
    parsed = records.parse(source, rows, store_now(ctx.config.timezone))
    for held in parsed.held:
        ctx.state.quarantine(ctx.run_id, held.entity, held.key, "shape", held.reason, {"cartum_record": held.record})
        log.warning("quarantined %s %s (as Cartum returned it): %s", held.entity, held.key, held.reason)
    return parsed


def _observed_times(parsed: records.Parsed, field: str) -> list[dict[str, Any]]:
    """What a cursor may follow: the good records, and the held ones with a usable key and
    a sane time (they are re-read by id); never a time the boundary refused."""
    return parsed.good + [{field: h.time} for h in parsed.held if h.time]


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
    window = boundary(ctx, "orders", ctx.cartum.iter_orders(created_from=orders_from))
    for order in window.good:
        created = str(order.get(created_field) or "")
        judged_by_import = plan.first_import or (plan.import_cutoff is not None and created <= plan.import_cutoff)
        if judged_by_import and str(order["order_id"]) not in known and order.get(status_field) in skip:
            skipped += 1
            continue
        orders[int(order["order_id"])] = order
    window_count = len(orders)
    reconcile.note_window(ctx, plan, orders.values())
    reread = [i for i in plan.open_order_ids if i not in orders and str(i) not in window.held_keys]
    by_id = boundary(ctx, "orders", ctx.cartum.get_orders_by_ids(reread))
    for order in by_id.good:
        orders[int(order["order_id"])] = order
    held = window.held_keys | by_id.held_keys   # held is not gone: Cartum returned them
    gone = _gone_orders(ctx, [i for i in reread if i not in orders and str(i) not in held])
    back = [str(i) for i in orders if (row := known.get(str(i))) is not None and row.details.get("gone_at")]
    if back and ctx.state.mark_orders_gone(back, gone=False):
        log.info("extract_orders: %d order(s) marked gone are in Cartum again and sync as usual: %s",
                 len(back), ", ".join(back))

    rows = [orders[i] for i in sorted(orders)]
    _new_statuses(ctx, rows)
    data.save_raw("orders", rows)
    # The cursor follows every order of the creation window, skipped ones included.
    data.save_observed(ORDERS, observe(_observed_times(window, created_field), created_field))
    ctx.state.set_counts(ctx.run_id, ORDERS.name, extracted=len(rows))
    log.info("extract_orders: %d orders created since %s%s (%d skipped: status in %s on import), %d open orders "
             "re-read by id%s, %d deleted in Cartum, %d held by shape, %.1f s", window_count, orders_from,
             " (reconcile window)" if plan.reconcile_from else "", skipped, sorted(skip), len(reread),
             " (recently final ones included)" if plan.final_reread else "", len(gone), len(held),
             time.monotonic() - started)
    return {"orders": len(rows), "skipped": skipped, "reread": len(reread), "gone": len(gone)}


def _new_statuses(ctx: RunContext, orders: list[dict[str, Any]]) -> None:
    """An order in a Cartum status the kept status list (``reference``) lacks: the list is
    out of date. It is read again now (one call, only then) and kept, and a status nobody
    matched is warned about in this run as ``validate_setup`` would have (its orders are
    held by data quality in any case: ``status_map`` decides)."""
    from ..setup_checks import check_status_matching, split_for_run

    cache = getattr(ctx.cartum, "reference_cache", None)
    kept = cache.kept("cartum_statuses") if cache is not None else None
    if kept is None:
        return
    known = {str(s.get("id")) for s in kept}
    new = sorted({str(o.get(assumptions.CARTUM_ORDER_STATUS_FIELD)) for o in orders} - known)
    if not new:
        return
    cache.drop(f"orders in Cartum status(es) {', '.join(new)}, not in the kept list")
    fresh = ctx.cartum.get_statuses()
    problems = check_status_matching(fresh, ctx.config.status_map, None, ctx.config.language)
    _, warnings = split_for_run(problems, ctx.config, first_import=ctx.data.plan().first_import)
    for warning in warnings:
        log.warning("extract_orders: store %s syncs with a degraded setup: %s", ctx.config.store_id, warning)
    ctx.state.add_run_warnings(ctx.run_id, [f"degraded setup: {w}" for w in warnings])


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


def _cut_short(ctx: RunContext, function: str) -> bool:
    """Whether the client's last ``function`` read ended early; its warnings go to the run's."""
    warnings = ctx.cartum.take_read_warnings()
    if warnings:
        ctx.state.add_run_warnings(ctx.run_id, warnings)
    return function in ctx.cartum.cut_short


def extract_products(ctx: RunContext) -> dict[str, Any]:
    data = ctx.data
    plan = data.plan()
    started = time.monotonic()
    if "products" in plan.backfill:
        products, mode = _products_backfill(ctx)
    elif plan.catalog_full:
        products = boundary(ctx, "products", ctx.cartum.iter_products()).good
        mode = "full catalogue"
        if _cut_short(ctx, "catalog/export"):
            # not read whole: the refresh clock is not reset (``load.products``)
            data.save_backfill("products", {"last": False, "taken": 0, "cut_short": True})
            mode = "full catalogue, cut short"
    else:
        # Known means loaded: an article whose product RO App does not hold yet (rejected,
        # quarantined, never loaded) is read again, so its orders do not wait for the refresh.
        unknown = sorted(_mentioned(data.raw("orders")) - ctx.state.loaded_articles())
        products = boundary(ctx, "products", ctx.cartum.iter_products(articles=unknown)).good if unknown else []
        mode = f"{len(unknown)} unknown article(s) on demand"
        _cut_short(ctx, "catalog/export")
    data.save_raw("products", products)
    ctx.state.set_counts(ctx.run_id, "products", extracted=len(products))
    log.info("extract_products: %d products (%s), %.1f s", len(products), mode, time.monotonic() - started)
    return {"products": len(products), "full": plan.catalog_full}


def _mentioned(orders: list[dict[str, Any]]) -> set[str]:
    """The articles the orders' lines name."""
    return {str(line.get("article")) for order in orders for line in order.get("products") or [] if line.get("article")}


def _products_backfill(ctx: RunContext) -> tuple[list[dict[str, Any]], str]:
    """The catalogue products RO App does not hold yet: those the run's orders name, and the
    next chunk of the others (on a first import, only when the whole catalogue fits in it)."""
    plan, chunk = ctx.data.plan(), ctx.config.backfill_chunk
    catalogue = boundary(ctx, "products", ctx.cartum.iter_products()).good
    cut_short = _cut_short(ctx, "catalog/export")
    loaded = ctx.state.loaded_articles()
    articles = {str(p["article"]) for p in catalogue if p.get("article")}
    waiting = sorted(articles - loaded)
    # A first import judges the whole catalogue: the orders' products an earlier run of it
    # loaded (one that failed before its orders were in) must not make the rest fit in a
    # chunk, or the backfill would start before the first import's orders are all in.
    last = len(articles if plan.first_import else waiting) <= chunk and not cut_short
    take = set(waiting[:chunk]) if last or not plan.first_import else set()
    needed = _mentioned(ctx.data.raw("orders")) - loaded
    products = [p for p in catalogue if str(p.get("article")) in take | needed]
    ctx.data.save_backfill("products", {"last": last, "taken": len(take)})
    _log_backfill("products", len(catalogue) - len(waiting), len(take), len(waiting) - len(take), chunk)
    return products, f"catalogue backfill: {len(needed & set(waiting))} for this run's orders, {len(take)} more"


def _log_backfill(what: str, before: int, taken: int, left: int, chunk: int) -> None:
    runs = -(-left // chunk)
    log.info("backfill of %s: %d in RO App before this run, %d this run, %d left after it%s", what, before, taken,
             left, f": about {runs} more run(s), about {duration_text(runs * RUN_EVERY_MINUTES * 60)} at one run per "
                   f"{RUN_EVERY_MINUTES} minutes" if left else " (the last chunk)")


def _backfill_key(customer: dict[str, Any]) -> tuple[str, int]:
    return str(customer.get(CLIENTS.cursor.field) or ""), int(customer.get("id") or 0)


def _linked(customers: list[dict[str, Any]], orders: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The customers the orders name, as the transform keys buyers (``transform.clients``): by
    Cartum user id, by phone (its last 9 digits), and by e-mail only for a customer without a
    phone (an e-mail is often shared)."""
    users, phones, emails = set(), set(), set()
    for order in orders:
        user = order.get(assumptions.CARTUM_ORDER_USER_FIELD)
        if isinstance(user, dict) and user.get("id") is not None:
            users.add(str(user["id"]))
        phones.add(_phone_tail(order.get("delivery_phone")))
        emails.add(_email(order.get("delivery_email")))
    phones.discard(None)
    emails.discard(None)
    return [c for c in customers if str(c.get("id")) in users or _phone_tail(c.get("phone")) in phones
            or (_phone_tail(c.get("phone")) is None and _email(c.get("email")) in emails)]


def _phone_tail(typed: Any) -> str | None:
    digits = "".join(ch for ch in str(typed or "") if ch.isdigit())
    return digits[-9:] if len(digits) >= 9 else None


def _email(typed: Any) -> str | None:
    text = str(typed or "").strip().lower()
    return text if "@" in text.strip("@") and " " not in text else None


def _customers_backfill(ctx: RunContext) -> list[dict[str, Any]]:
    """The registered customers the run's orders name, and the next chunk of the others in
    backfill order (on a first import, only when all of them fit in it)."""
    plan, chunk = ctx.data.plan(), ctx.config.backfill_chunk
    position = customers_backfill(ctx.state).value
    registered, after_id, done = position.split("#") if position else ("", "0", "0")
    after = (registered, int(after_id))
    parsed = boundary(ctx, "customers", ctx.cartum.iter_customers(registered_from=registered or None))
    read = parsed.good
    # Cut short, the read may lack customers before any position: the position stays.
    cut_short = _cut_short(ctx, "users/export")
    rest = sorted((c for c in read if _backfill_key(c) > after), key=_backfill_key)
    last = len(rest) <= chunk and not cut_short
    take = rest[:chunk] if (last or not plan.first_import) and not cut_short else []
    keep = {id(c): c for c in _linked(read, ctx.data.raw("orders")) + take}
    end = None
    if take:
        end_registered, end_id = _backfill_key(take[-1])
        end = f"{end_registered}#{end_id}#{int(done) + len(take)}"
    ctx.data.save_backfill("customers", {"position": end, "last": last, "taken": len(take)})
    # The customers cursor starts only with the last chunk: from then on, new registrations.
    ctx.data.save_observed(CLIENTS, observe(_observed_times(parsed, CLIENTS.cursor.field), CLIENTS.cursor.field)
                           if last else None)
    _log_backfill("registered customers", int(done), len(take), len(rest) - len(take), chunk)
    return list(keep.values())


def extract_customers(ctx: RunContext) -> dict[str, Any]:
    data = ctx.data
    plan = data.plan()
    customers_from = plan.start(CLIENTS)
    started = time.monotonic()
    if "customers" in plan.backfill:
        customers = _customers_backfill(ctx)
        data.save_raw("customers", customers)
        log.info("extract_customers: %d customers (backfill, and those this run's orders name), %.1f s",
                 len(customers), time.monotonic() - started)
        return {"customers": len(customers)}
    parsed = boundary(ctx, "customers", ctx.cartum.iter_customers(registered_from=customers_from))
    customers = parsed.good
    data.save_raw("customers", customers)
    cut_short = _cut_short(ctx, "users/export")
    data.save_observed(CLIENTS, None if cut_short else observe(_observed_times(parsed, CLIENTS.cursor.field),
                                                                CLIENTS.cursor.field))
    log.info("extract_customers: %d customers registered since %s, %.1f s", len(customers),
             customers_from or "the beginning", time.monotonic() - started)
    return {"customers": len(customers)}
