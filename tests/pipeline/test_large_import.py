"""A large first import against the sandboxes: 20,000 registered customers, 2,000 orders in
the import window, a catalogue of 3,000 products (a quarter of each by default, below), and a load time budget far shorter than
the work, so that load steps stop and resume across Airflow's retries and across runs.

What RO App must hold at the end is worked out from Cartum's data: every order of the
window once, every registered customer once (by phone), every catalogue product once (by
SKU). The orders come first: the first order is created before most clients, and every
order of the window is in RO App while the customers backfill still has work left.

Also prints, for the closing note, the RO App calls counted here and what they take at
the real 3 requests/s: the whole import, and the time to the first order in RO App, in the
new order (orders first) and in the old one (every customer and product first).
"""

from __future__ import annotations

import logging
import os
import re
from collections import Counter

import pytest

from cartum_roapp_sync.entities import CLIENTS, ORDERS
from cartum_roapp_sync.pipeline.backfill import customers_backfill, duration_text
from cartum_roapp_sync.pipeline.load.base import LoadBudgetSpent
from cartum_roapp_sync.pipeline.steps import STEPS, finish_run, run_step
from tests.conftest import seeded_cartum
from tests.pipeline import checks
from tests.pipeline.e2e import Sync, make_sync

# The size (20,000 customers, 2,000 orders, 3,000 products) is the default: about 7
# minutes on a busy 2-core machine (RO App sandbox and SQLite state, ~34,000 RO App requests,
# almost all writes; phone look-ups are indexed and paid only for the records a try reaches).
# CARTUM_ROAPP_LARGE_IMPORT=quarter runs a quarter of it, the same shape (customers ten times
# the orders, backfill runs, load steps stopped by the budget), in about 2 minutes.
FULL = os.environ.get("CARTUM_ROAPP_LARGE_IMPORT", "full") != "quarter"
CUSTOMERS, ORDER_COUNT, PRODUCTS = (20_000, 2_000, 3_000) if FULL else (5_000, 500, 800)
CHUNK = CUSTOMERS // 8   # customers and products per backfill run: 8 runs of customers, 2 of products
BUDGET_MINUTES = 0.15 if FULL else 0.05   # 9 s / 3 s per load step try: the orders take several tries
RETRIES = 3              # as the DAG's default_args
ROAPP_RATE = 3           # requests per second, RO App's limit

ORDER_POST = ("POST", "/v2/orders")
CLIENT_POST = ("POST", "/v2/contacts/people")
PRODUCT_POST = ("POST", "/v2/catalog/products")


@pytest.fixture
def large_cartum():
    # 2,000 orders over 59 days: every one is in the 60-day import window.
    yield from seeded_cartum(seed=5, orders=ORDER_COUNT, products=PRODUCTS, customers=CUSTOMERS, days=59)


def _run(sync: Sync, run_id: str, budget_stops: Counter) -> bool:
    """One scheduled run: every step in order, each retried like an Airflow task; True when
    it succeeded. A step that fails after its retries fails the run (the next run goes on)."""
    for name in STEPS:
        for attempt in range(RETRIES + 1):
            try:
                run_step(name, sync.harness.context(run_id))
                break
            except LoadBudgetSpent:
                budget_stops[name] += 1
                if attempt == RETRIES:
                    finish_failed(sync, run_id)
                    return False
    finish_run(sync.harness.context(run_id))
    return True


def finish_failed(sync: Sync, run_id: str) -> None:
    with pytest.raises(RuntimeError, match="did not finish|stopped after"):
        finish_run(sync.harness.context(run_id))


def _backfill_progress(sync: Sync) -> tuple:
    """RO App's successful writes so far, and where the customers and catalogue backfills stand."""
    writes = sum(r["status"] in (200, 201) and r["method"] != "GET" for r in sync.roapp.admin.requests())
    state = sync.state
    return (writes, customers_backfill(state).value, state.cursor(CLIENTS).value,
            (state.get_store_state() or {}).get("catalog_refreshed_at"))


def _key(request: dict) -> tuple[str, str]:
    return request["method"], re.sub(r"/\d+", "/{id}", request["path"])


@pytest.mark.slow
@pytest.mark.timeout(1500 if FULL else 300)
def test_large_first_import_loads_orders_first_then_backfills_in_chunks(large_cartum, roapp_sandbox, engine, caplog):
    sync = make_sync(large_cartum, roapp_sandbox, engine, skip_statuses_on_import=[], import_days=60,
                     backfill_chunk=CHUNK, load_budget_minutes=BUDGET_MINUTES)
    cartum = large_cartum.admin.state()
    assert len(cartum["users"]) == CUSTOMERS and len(cartum["orders"]) == ORDER_COUNT
    sync.clear_logs()
    caplog.set_level(logging.INFO, logger="cartum_roapp_sync")

    # the first import: runs until the window's orders are all in (the orders cursor moves)
    budget_stops: Counter = Counter()
    log: list[dict] = []
    import_runs = 0
    while sync.state.cursor(ORDERS).value is None:
        import_runs += 1
        assert import_runs <= 20, "the first import does not finish"
        _run(sync, f"import_{import_runs}", budget_stops)
        plan = sync.data(f"import_{import_runs}").plan()
        assert plan.first_import and plan.backfill == ["customers", "products"]
    log += sync.roapp.admin.requests()
    sync.roapp.admin.clear_requests()
    assert budget_stops["load_orders"] >= 1, "the budget never stopped a load step: the test proves nothing"
    # the catalogue (larger than a chunk) waits for the backfill, however many runs the
    # first import took: its runs created only products the window's orders name
    named = {line["article"] for o in cartum["orders"] for line in o.get("products") or []}
    imported = {r["body"]["sku"] for r in log if _key(r) == PRODUCT_POST and r["status"] in (200, 201)}
    assert imported and imported <= named and {p["article"] for p in cartum["products"]} - named

    # every order of the window is in RO App, once, while the customers backfill has hardly begun
    view = sync.view()
    orders_from = sync.orders_from(f"import_{import_runs}")
    expected = checks.expected_import(cartum, orders_from, skip_statuses=())
    assert set(expected) == {o["order_id"] for o in cartum["orders"]}
    checks.check_orders(cartum, view, sync.config, expected)
    checks.assert_no_duplicates(view)
    assert len(view.people) < CUSTOMERS / 4
    assert sync.state.cursor(CLIENTS).value is None

    # the backfill: a chunk of customers and one of products per run, until none is left. How
    # many runs a chunk takes depends on how far each budgeted try gets, so what must hold is
    # that every run brings something over (or moves where the backfill stands).
    backfill_runs = 0
    progress = _backfill_progress(sync)
    while True:
        backfill_runs += 1
        run_id = f"backfill_{backfill_runs}"
        _run(sync, run_id, budget_stops)
        if not sync.data(run_id).plan().backfill:
            break
        progress, before = _backfill_progress(sync), progress
        assert progress != before, f"{run_id} brought nothing over: the backfill does not finish"
    log += sync.roapp.admin.requests()
    assert sync.data(run_id).plan().backfill == [] and sync.state.cursor(CLIENTS).value is not None

    # RO App holds every registered customer and every catalogue product, once each
    view = sync.view()
    checks.assert_no_duplicates(view)
    by_phone = view.people_by_phone()
    emails = {str(p.get("email") or "").lower() for p in view.state["people"]}
    missing = [u["id"] for u in cartum["users"]
               if not (by_phone.get(checks.phone_tail(u["phone"])) or checks.clean_email(u["email"]) in emails)]
    assert missing == [] or all(not checks.phone_tail(u["phone"]) and not checks.clean_email(u["email"])
                                for u in cartum["users"] if u["id"] in missing)
    # ... as a client of their own: customers sharing an e-mail are not merged into one person;
    # customers sharing a phone (two in the full size's seed) are one client, the phone being its key
    names_by_phone: dict[str, set[str]] = {}
    for user in cartum["users"]:
        names_by_phone.setdefault(checks.phone_tail(user["phone"]), set()).add(user["title"].split()[0])
    for user in cartum["users"]:
        people = by_phone.get(checks.phone_tail(user["phone"])) or []
        names = names_by_phone[checks.phone_tail(user["phone"])]
        assert people == [] or (len(people) == 1 and people[0]["first_name"] in names), (user, people)
        if len(names) == 1:
            assert [p["first_name"] for p in people] in ([], [user["title"].split()[0]]), (user, people)
    assert {p["article"] for p in cartum["products"]} <= set(view.products_by_sku())
    assert len({o["order_id"] for o in cartum["orders"]}) == len(view.orders_by_cartum_id) == ORDER_COUNT

    # orders first: the first order was created before most clients and before the catalogue
    # backfill's products (before it, at most the orders' products of the first import's runs)
    writes = [_key(r) for r in log if r["status"] in (200, 201)]
    first_order = writes.index(ORDER_POST)
    clients = writes.count(CLIENT_POST)
    assert writes[:first_order].count(CLIENT_POST) < clients / 4
    assert writes[:first_order].count(PRODUCT_POST) < writes.count(PRODUCT_POST)

    # the log says how far each part is, and how long it will take
    messages = [r.getMessage() for r in caplog.records]
    assert any(re.fullmatch(r"load_orders: \d+/\d+ orders, .+ elapsed, about .+ left \(created .*", m)
               for m in messages)
    assert any(re.match(r"backfill of registered customers: \d+ in RO App before this run, \d+ this run, \d+ left "
                        r"after it: about \d+ more run\(s\)", m) for m in messages)
    assert any(m.startswith("load_orders: time budget spent") for m in messages)

    _print_figures(log, first_order, import_runs, backfill_runs, budget_stops)


def test_a_first_import_run_that_failed_before_its_orders_does_not_start_the_catalogue_backfill(
        cartum_sandbox, roapp_sandbox, engine):
    """The catalogue is one product larger than a backfill chunk: the first import leaves the
    other products to the backfill. Its first run loads the orders' products, then fails
    before any order is in (under load the budget can stop ``load_products`` on every try).
    What is left of the catalogue now fits in a chunk, yet the next runs of the first import
    still bring over only the orders' products: the backfill starts once the orders are all in."""
    cartum = cartum_sandbox.admin.state()
    catalogue = {p["article"] for p in cartum["products"]}
    sync = make_sync(cartum_sandbox, roapp_sandbox, engine, backfill_chunk=len(catalogue) - 1)

    for name in STEPS:   # the first run: every step up to load_orders, which fails
        if name == "load_orders":
            break
        run_step(name, sync.harness.context("import_1"))
    finish_failed(sync, "import_1")
    loaded = set(sync.view().products_by_sku())
    orders_from = sync.orders_from("import_1")
    named = {line["article"] for o in cartum["orders"] if o["stat_created"] >= orders_from
             for line in o.get("products") or []}
    assert loaded and loaded <= named and sync.view().orders_by_cartum_id == {}
    assert 0 < len(catalogue - loaded) <= sync.config.backfill_chunk, "the rest must fit in a chunk, or this proves nothing"

    assert _run(sync, "import_2", Counter())
    assert sync.state.cursor(ORDERS).value is not None and sync.data("import_2").plan().first_import
    view = sync.view()
    assert len(view.orders_by_cartum_id) == len(checks.expected_import(cartum, sync.orders_from("import_2")))
    assert set(view.products_by_sku()) <= named and catalogue - named

    assert _run(sync, "backfill_1", Counter())   # the backfill: the rest of the catalogue, in one chunk
    assert catalogue <= set(sync.view().products_by_sku())
    assert sync.data("backfill_1").backfill("products")["last"]
    checks.assert_no_duplicates(sync.view())


def _print_figures(log: list[dict], first_order: int, import_runs: int, backfill_runs: int,
                   budget_stops: Counter) -> None:
    """The closing note's figures at RO App's 3 requests/s, from the requests counted here.
    The old order made the same writes, clients and products before any order: its first
    order came after every client and product request of the import."""
    total = len(log)
    kinds = Counter(_key(r) for r in log)
    client_or_product = sum(n for (method, path), n in kinds.items()
                            if path.startswith(("/v2/contacts/people", "/v2/catalog/products")))
    print(f"\nlarge import: {CUSTOMERS} customers, {ORDER_COUNT} orders, {PRODUCTS} products; "
          f"runs: {import_runs} first import, {backfill_runs} backfill; budget stops {dict(budget_stops)}")
    print(f"RO App requests: {total} in all ({dict(kinds.most_common(8))}); at {ROAPP_RATE}/s: "
          f"{duration_text(total / ROAPP_RATE)}")
    print(f"time to the first order in RO App at {ROAPP_RATE}/s: new {duration_text(first_order / ROAPP_RATE)} "
          f"({first_order} requests before it), old about {duration_text(client_or_product / ROAPP_RATE)} "
          f"({client_or_product} client and product requests before it)")
