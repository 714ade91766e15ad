"""What the end-to-end pipeline tests check, written once: what RO App should hold after a
sync (worked out from the Cartum sandbox's own data, not from the pipeline's output), what
it does hold (read back from the RO App sandbox), and the request logs of both.

The oracles here are deliberately independent of the transform code: a phone matches
when the last nine digits typed in Cartum end one of the RO App person's phones, an
e-mail when it matches once trimmed and lower-cased, a title is the store language's or
the first fallback present, an item is an article with its quantity and price.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Iterable
from zoneinfo import ZoneInfo

from cartum_roapp_sync.config import StoreConfig
from cartum_roapp_sync.pipeline.steps import STEPS, finish_run, run_step
from tests.pipeline.harness import Harness, active_managers  # noqa: F401 (checks.active_managers)

DELIVERED = 3
CARTUM_IDS_PER_CALL = 200
#: The order the pipeline looks for a product title in when the store's language is missing.
FALLBACK_LANGUAGES = ("ua", "uk", "ru", "en")
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
#: RO App's date-time custom fields take ISO-8601 in UTC (the contract).
TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


def utc_text(cartum_time: str) -> str:
    """A Cartum time (the store's local time, Europe/Kyiv in the sandbox) as ISO-8601 UTC."""
    local = datetime.strptime(cartum_time, "%Y-%m-%d %H:%M:%S").replace(tzinfo=ZoneInfo("Europe/Kyiv"))
    return local.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def price_of(product: dict[str, Any]) -> float | None:
    """The price RO App holds for a product: its default price type's entry of ``prices``."""
    prices = product.get("prices") or []
    return float(prices[0]["price"]) if prices else None


# --- small readers --------------------------------------------------------------------

def digits(value: Any) -> str:
    return re.sub(r"\D", "", str(value or ""))


def phone_tail(typed: Any) -> str | None:
    """The subscriber part of a Ukrainian phone as typed (last 9 digits), or None when
    what was typed is too short to be a phone."""
    found = digits(typed)
    return found[-9:] if len(found) >= 9 else None


def clean_email(typed: Any) -> str | None:
    text = str(typed or "").strip().lower()
    return text if EMAIL.fullmatch(text) else None


def marker(store_id: str, order_id: int) -> str:
    return f"[cartum:{store_id}:{order_id}]"


def marker_pattern(store_id: str) -> re.Pattern[str]:
    return re.compile(rf"\[cartum:{re.escape(store_id)}:(\d+)\]")


def writes(requests: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The requests that change something (anything but GET)."""
    return [r for r in requests if r["method"] != "GET"]


def function_calls(cartum_requests: Iterable[dict[str, Any]]) -> Counter:
    """Cartum requests by function (``/api/orders/get/`` → ``orders/get``)."""
    return Counter(r["path"].strip("/").removeprefix("api/") for r in cartum_requests)


def expected_title(product: dict[str, Any], language: str) -> tuple[str, bool]:
    """(title, fallback used) of a Cartum catalogue product for a store language."""
    titles = {k: v for k, v in (product.get("title") or {}).items() if v and str(v).strip()}
    for lang in (language, *FALLBACK_LANGUAGES, *sorted(titles)):
        if lang in titles:
            return titles[lang].strip(), lang not in (language, {"ua": "uk", "uk": "ua"}.get(language))
    return product["article"], True


def final_statuses(cartum_state: dict[str, Any], roapp_state: dict[str, Any], config: StoreConfig) -> set[int]:
    """The Cartum statuses after which an order is final, from the two sandboxes' data: those
    Cartum calls successful, those matched to an RO App status whose group is closed
    (successfully or not), and the store's own ``final_statuses``."""
    closed = {s["id"] for s in roapp_state["statuses"] if s["group"]["name"].startswith("Closed")}
    return ({s["id"] for s in cartum_state["statuses"] if s["is_successful"]} | set(config.final_statuses)
            | {int(c) for c, r in config.status_map.items() if r in closed})


def open_order_count(cartum_state: dict[str, Any], synced_ids: Iterable[int], final: Iterable[int]) -> int:
    """Synced orders whose Cartum status is not final: each run re-reads them by id."""
    status = {o["order_id"]: o["stat_status"] for o in cartum_state["orders"]}
    final = set(final)
    return sum(1 for i in synced_ids if status[i] not in final)


def no_change_cartum_calls(open_orders: int) -> int:
    """The lower bound of Cartum calls of a run with nothing new, minutes after the run
    before: no login (the session token a run got is kept for the next tasks and runs
    while it lives, ``cartum.tokens``; the extract tasks were 2 logins before it was), the
    creation window (two calls: the overlap always holds the newest order, and a short
    first page is confirmed by one read at its last row's offset, ``cartum.window``), the
    open orders by id (200 a call) and the customers."""
    return 3 + math.ceil(open_orders / CARTUM_IDS_PER_CALL)


def no_change_run_cartum_calls(open_orders: int) -> int:
    """The whole run's lower bound the README states: 3 + ceil(open orders / 200), i.e. the
    data path above: validate_setup makes no call while the token and the status list are
    kept (``reference``; it was 2 calls, a login and the status list, before they were)."""
    return no_change_cartum_calls(open_orders)


#: validate_setup's RO App reads when nothing is kept (a first run, or 15 minutes after the
#: last read: ``reference``); a run minutes after another reads none of them.
SETUP_ROAPP_READS = sorted(["/v2/company/locations", "/v2/orders/types", "/v2/company/employees",
                            "/v2/orders/statuses"])


# --- what RO App holds ----------------------------------------------------------------

@dataclass
class RoAppView:
    """The RO App sandbox's state, indexed the way the checks need it."""

    state: dict[str, Any]
    store_id: str
    people: dict[int, dict[str, Any]] = field(init=False)
    products: dict[int, dict[str, Any]] = field(init=False)
    orders_by_cartum_id: dict[int, list[dict[str, Any]]] = field(init=False)
    custom_field_ids: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        self.people = {p["id"]: p for p in self.state["people"]}
        self.products = {p["id"]: p for p in self.state["products"]}
        pattern = marker_pattern(self.store_id)
        self.orders_by_cartum_id = {}
        for order in self.state["orders"]:
            for found in set(pattern.findall(order.get("manager_notes") or "")):
                self.orders_by_cartum_id.setdefault(int(found), []).append(order)
        self.custom_field_ids = {f["title"]: f"f{f['id']}" for f in self.state["custom_fields"]}

    def order(self, order_id: int) -> dict[str, Any]:
        found = self.orders_by_cartum_id.get(order_id) or []
        assert len(found) == 1, f"Cartum order {order_id}: {len(found)} RO App orders carry its marker"
        return found[0]

    def products_by_sku(self) -> dict[str, list[dict[str, Any]]]:
        by_sku: dict[str, list[dict[str, Any]]] = {}
        for product in self.state["products"]:
            by_sku.setdefault(product.get("sku"), []).append(product)
        return by_sku

    def people_by_phone(self) -> dict[str, list[dict[str, Any]]]:
        by_phone: dict[str, list[dict[str, Any]]] = {}
        for person in self.state["people"]:
            for tail in {phone_tail(p.get("phone")) for p in person.get("phones") or []} - {None}:
                by_phone.setdefault(tail, []).append(person)
        return by_phone


def assert_no_duplicates(view: RoAppView) -> None:
    """One RO App order per Cartum order, one item per product and price on an order (a
    gift line of a product also ordered is a second item, at price 0), one person per
    phone, one product per SKU."""
    problems = [f"Cartum order {k}: {len(v)} RO App orders {[o['id'] for o in v]}"
                for k, v in view.orders_by_cartum_id.items() if len(v) > 1]
    for order in view.state["orders"]:
        repeated = [pid for (pid, _), n in Counter((i["entity_id"], float(i.get("price") or 0))
                                                   for i in order["items"]).items() if n > 1]
        if repeated:
            problems.append(f"RO App order {order['id']}: products {repeated} on more than one item")
    problems += [f"phone ...{tail}: {len(v)} people {[p['id'] for p in v]}"
                 for tail, v in view.people_by_phone().items() if len(v) > 1]
    problems += [f"sku {sku}: {len(v)} products" for sku, v in view.products_by_sku().items() if len(v) > 1]
    assert not problems, "duplicates in RO App:\n" + "\n".join(problems)


# --- what RO App should hold ----------------------------------------------------------

def expected_import(cartum_state: dict[str, Any], orders_from: str,
                    skip_statuses: Iterable[int] = (DELIVERED,)) -> dict[int, dict[str, Any]]:
    """The orders a first import brings: created at or after the plan's cutoff, except
    those in a skipped status (Delivered)."""
    skip = set(skip_statuses)
    return {o["order_id"]: o for o in cartum_state["orders"]
            if o["stat_created"] >= orders_from and o["stat_status"] not in skip}


def item_net(item: dict[str, Any]) -> float:
    """What an RO App order item adds to the order's amount: price × quantity less its
    discount, given as an amount or a percentage."""
    gross = float(item["price"]) * float(item["quantity"])
    discount = item.get("discount") or {}
    if discount.get("amount") is not None:
        return gross - float(discount["amount"])
    return gross * (1 - float(discount.get("percentage") or 0) / 100)


def expected_items(order: dict[str, Any]) -> Counter:
    """The order's lines as (article, quantity, price); lines of one article at one price add up."""
    lines: dict[tuple[str, float], float] = {}
    for line in order["products"]:
        key = (line["article"], float(line["price"]))
        lines[key] = lines.get(key, 0.0) + float(line["quantity"])
    return Counter((article, quantity, price) for (article, price), quantity in lines.items())


def delivery_facts(order: dict[str, Any]) -> list[str]:
    """Lines the order's delivery comment must carry."""
    facts = [f"Payment: {order['payment_type']['title']}", f"Paid: {'yes' if order['payed'] else 'no'}",
             f"Delivery: {order['delivery_type']['title']}"]
    if (order.get("delivery_city") or "").strip():
        facts.append(f"City: {order['delivery_city'].strip()}")
    if (order.get("comment") or "").strip():
        facts.append(order["comment"].strip())
    return facts


def check_orders(cartum_state: dict[str, Any], view: RoAppView, config: StoreConfig,
                 expected: dict[int, dict[str, Any]], *, exact_comments: bool = True) -> None:
    """Every expected Cartum order is in RO App, once, right in every way the issue lists;
    RO App holds no other order of the store. All problems are reported at once."""
    problems: list[str] = []
    by_sku = {sku: rows[0] for sku, rows in view.products_by_sku().items()}
    sku_of = {p["id"]: p.get("sku") for p in view.state["products"]}
    managers = active_managers(view.state, config.location_id)
    fields = view.custom_field_ids
    users = {u["id"]: u for u in cartum_state["users"]}

    found = set(view.orders_by_cartum_id)
    if found != set(expected):
        problems.append(f"orders missing from RO App: {sorted(set(expected) - found)}; "
                        f"orders that should not be there: {sorted(found - set(expected))}")
    for order_id in sorted(set(expected) & found):
        cartum, roapp = expected[order_id], view.orders_by_cartum_id[order_id]
        if len(roapp) != 1:
            problems.append(f"{order_id}: {len(roapp)} RO App orders")
            continue
        roapp = roapp[0]
        say = lambda text: problems.append(f"order {order_id} (RO App {roapp['id']}): {text}")  # noqa: E731

        if roapp["branch_id"] != config.location_id or roapp["order_type_id"] != config.order_type_id:
            say(f"location/type {roapp['branch_id']}/{roapp['order_type_id']}")
        if managers and roapp["manager_id"] != managers[order_id % len(managers)]:
            say(f"manager {roapp['manager_id']}, expected {managers[order_id % len(managers)]} of {managers}")
        if marker(config.store_id, order_id) not in (roapp["manager_notes"] or ""):
            say("no source marker in manager_notes")

        # the client: the buyer's phone, else e-mail
        person = view.people.get(roapp["client_id"])
        if person is None:
            say(f"client {roapp['client_id']} does not exist")
        else:
            tail = phone_tail(cartum["delivery_phone"])
            email = clean_email(cartum["delivery_email"])
            person_tails = {phone_tail(p["phone"]) for p in person.get("phones") or []}
            if tail is not None and tail not in person_tails:
                say(f"client {person['id']} has phones {person.get('phones')}, "
                    f"buyer typed {cartum['delivery_phone']!r}")
            elif tail is None and email is not None and (person.get("email") or "").lower() != email:
                say(f"client {person['id']} has e-mail {person.get('email')!r}, buyer typed "
                    f"{cartum['delivery_email']!r}")
            elif tail is None and email is None and cartum.get("user"):
                profile = users.get(cartum["user"]["id"]) or {}
                if phone_tail(profile.get("phone")) not in person_tails | {None}:
                    say(f"client {person['id']} is not the registered buyer {profile}")

        # the items: product (by SKU = Cartum article), quantity, price
        have = Counter((sku_of.get(i["entity_id"]), float(i["quantity"]), float(i["price"])) for i in roapp["items"])
        want = expected_items(cartum)
        if have != want:
            say(f"items {sorted(have.elements())}, expected {sorted(want.elements())}")
        for item in roapp["items"]:
            if sku_of.get(item["entity_id"]) not in by_sku:
                say(f"item {item['id']} names product {item['entity_id']} that RO App does not hold")
        # the amount: what the buyer pays for the goods, discounts included (issue 9, totals)
        # (of the sync's items: a view may leave out the items a manager added)
        amount = round(sum(item_net(item) for item in roapp["items"]), 2)
        if cartum["total_sum"] <= sum(line["total_price"] for line in cartum["products"]) \
                and amount != round(float(cartum["total_sum"]), 2):
            say(f"RO App amount {amount}, Cartum total_sum {cartum['total_sum']}")

        # status, custom fields, delivery comment
        mapped = config.mapped_status(cartum["stat_status"])
        if (roapp["status"] or {}).get("id") != mapped:
            say(f"status {roapp['status']}, expected {mapped} (Cartum {cartum['stat_status']})")
        values = roapp["custom_fields"]
        wanted_fields = {"Store": config.name, "External ID": str(order_id),
                         "Created": utc_text(cartum["stat_created"])}
        for title, value in wanted_fields.items():
            if title in fields and values.get(fields[title]) != value:
                say(f"custom field {title} = {values.get(fields[title])!r}, expected {value!r}")
        if "Last update" in fields and not TIMESTAMP.match(str(values.get(fields["Last update"]) or "")):
            say(f"custom field Last update = {values.get(fields['Last update'])!r}")
        delivery = [c for c in roapp["comments"] if c["comment"].startswith("Delivery:")]
        if not delivery or (exact_comments and len(delivery) != 1):
            say(f"{len(delivery)} delivery comments")
        if any(not c["is_private"] for c in delivery):
            say("a delivery comment is public")
        for fact in delivery_facts(cartum):
            if delivery and fact not in delivery[-1]["comment"]:
                say(f"delivery comment lacks {fact!r}: {delivery[-1]['comment']!r}")
    assert not problems, f"{len(problems)} problem(s) with the orders in RO App:\n" + "\n".join(problems)


def check_products(cartum_state: dict[str, Any], view: RoAppView, config: StoreConfig,
                   orders: Iterable[dict[str, Any]]) -> list[str]:
    """Every catalogue product, and every article of the orders missing from the
    catalogue, is in RO App once with the right title, price and barcode. Returns the
    articles whose title is a fallback (the store's language missing)."""
    problems, fallbacks = [], []
    by_sku = view.products_by_sku()
    catalogue = {p["article"]: p for p in cartum_state["products"]}
    for article, product in catalogue.items():
        rows = by_sku.get(article) or []
        if len(rows) != 1:
            problems.append(f"{article}: {len(rows)} RO App products")
            continue
        title, fallback = expected_title(product, config.language)
        if fallback:
            fallbacks.append(article)
        row = rows[0]
        if row["title"] != title:
            problems.append(f"{article}: title {row['title']!r}, expected {title!r}")
        if (price_of(row) or 0) != float(product["price"]):
            problems.append(f"{article}: price {price_of(row)}, expected {product['price']}")
        if row.get("barcodes") != ([product["gtin"]] if product.get("gtin") else []):
            problems.append(f"{article}: barcodes {row.get('barcodes')}, expected {product.get('gtin')!r}")
    for order in orders:
        for line in order["products"]:
            if line["article"] not in catalogue:  # deleted from the catalogue: built from the line
                rows = by_sku.get(line["article"]) or []
                if len(rows) != 1 or not rows[0]["title"]:
                    problems.append(f"{line['article']} (order {order['order_id']}, not in the catalogue): "
                                    f"{len(rows)} RO App products")
    assert not problems, "products in RO App:\n" + "\n".join(problems)
    return fallbacks


def snapshot(roapp_state: dict[str, Any], store_id: str) -> dict[str, Any]:
    """RO App's content without its own ids and timestamps, to compare two accounts."""
    view = RoAppView(roapp_state, store_id)
    fields = {f"f{f['id']}": f["title"] for f in roapp_state["custom_fields"]}

    def person(person_id: int) -> tuple:
        p = view.people[person_id]
        return (p["first_name"], p.get("last_name"), p.get("email"), tuple(x["phone"] for x in p.get("phones") or []),
                p.get("address"), p.get("notes"))

    sku = {p["id"]: p["sku"] for p in roapp_state["products"]}
    orders = {}
    for order_id, rows in view.orders_by_cartum_id.items():
        orders[order_id] = [{
            "client": person(o["client_id"]), "branch": o["branch_id"], "type": o["order_type_id"],
            "manager": o["manager_id"], "status": (o["status"] or {}).get("id"), "notes": o["manager_notes"],
            "items": sorted((sku[i["entity_id"]], i["quantity"], i["price"]) for i in o["items"]),
            "fields": {fields[k]: v for k, v in o["custom_fields"].items() if fields.get(k) != "Last update"},
            "comments": sorted(c["comment"] for c in o["comments"]),
        } for o in rows]
    return {
        "orders": orders,
        "people": sorted(person(p) for p in view.people),
        "products": sorted((p["sku"], p["title"], price_of(p), tuple(p.get("barcodes") or []),
                            p.get("description")) for p in roapp_state["products"]),
    }


# --- running steps -------------------------------------------------------------------

def run_with_retries(harness: Harness, run_id: str, *, retries: int = 3,
                     between: Callable[[str], None] | None = None) -> tuple[dict[str, Any], Counter]:
    """Every step in order, each retried like an Airflow task with ``retries`` retries;
    then ``finish_run``. Returns the summary and how often each step failed."""
    failures: Counter = Counter()
    for name in STEPS:
        for attempt in range(retries + 1):
            try:
                run_step(name, harness.context(run_id))
                break
            except Exception:
                failures[name] += 1
                if attempt == retries:
                    raise
        if between is not None:
            between(name)
    return finish_run(harness.context(run_id)), failures


def resume(harness: Harness, run_id: str, first_step: str) -> dict[str, Any]:
    """An Airflow retry of ``first_step`` in run ``run_id``, then its downstream tasks."""
    names = list(STEPS)
    for name in names[names.index(first_step):]:
        run_step(name, harness.context(run_id))
    return finish_run(harness.context(run_id))


#: Steps that only check the store's setup (read-only calls), not part of the data path.
SETUP_STEPS = tuple(name for name in STEPS if name == "validate_setup")
#: What the setup check itself asks each system (Cartum: the login and the status list).
SETUP_PATHS = {"cartum": {"/api/auth/", "/api/orders/get_available_statuses/"}, "roapp": set(SETUP_ROAPP_READS)}


@dataclass
class StepCalls:
    """The requests each sandbox received during each step of one run."""

    cartum: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    roapp: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def total(self, system: str, steps: Iterable[str] | None = None) -> list[dict[str, Any]]:
        by_step = getattr(self, system)
        return [r for name in (steps if steps is not None else by_step) for r in by_step.get(name, [])]

    def setup(self, system: str) -> list[dict[str, Any]]:
        """The setup check's own requests (login, status and reference lists)."""
        return [r for name in SETUP_STEPS for r in getattr(self, system).get(name, [])
                if r["path"] in SETUP_PATHS[system]]

    def data_path(self, system: str) -> list[dict[str, Any]]:
        """The requests of the extract, transform and load steps, not the setup check's
        (``validate_setup`` reads a small tick itself: its reads of data count here)."""
        return [r for name, requests in getattr(self, system).items() for r in requests
                if name not in SETUP_STEPS or r["path"] not in SETUP_PATHS[system]]


def run_counting(harness: Harness, run_id: str, cartum_admin, roapp_admin) -> tuple[dict[str, Any], StepCalls]:
    """Every step in order, then ``finish_run``, noting which requests each step made."""
    calls = StepCalls()
    cartum_admin.clear_requests()
    roapp_admin.clear_requests()
    for name in STEPS:
        run_step(name, harness.context(run_id))
        calls.cartum[name] = cartum_admin.requests()
        calls.roapp[name] = roapp_admin.requests()
        cartum_admin.clear_requests()
        roapp_admin.clear_requests()
    return finish_run(harness.context(run_id)), calls
