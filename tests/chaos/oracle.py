"""What RO App must hold at the end of a chaos run, worked out from Cartum's data alone
(the Cartum sandbox's state, the store's settings and the list of changes the run made in
Cartum; never the state database), and the comparison with what it does hold, sorted into
the categories the figures line counts.

The small oracles come from ``tests.pipeline.checks`` (phones by their last nine digits,
e-mails trimmed and lower-cased, a product by SKU = Cartum article, the lines of an
order as (article, quantity, price), the title in the store's language or its fallback);
the whole-store checks there assert on the first problem class they meet, so the
comparison here collects every problem instead, by category.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any, Iterable

from cartum_roapp_sync.config import StoreConfig
from tests.chaos.changes import ChangeLog
from tests.pipeline import checks
from tests.pipeline.checks import RoAppView

#: Kinds of Cartum change that can move an order's total (and so its comment's "Cartum total").
TOTAL_CHANGES = ("quantity", "item_added", "item_removed", "revert")

#: The diff's categories, in the order the figures line prints them.
CATEGORIES = (
    "duplicate_orders", "duplicate_people", "duplicate_products", "duplicate_items", "repeated_statuses",
    "repeated_comments", "missing_orders", "unexpected_orders", "wrong_status", "wrong_items", "wrong_total",
    "wrong_client", "wrong_comment", "wrong_fields", "wrong_products", "aborted",
)


@dataclass
class Diff:
    """Problems by category; empty when RO App holds exactly what Cartum says."""

    problems: dict[str, list[str]] = field(default_factory=lambda: {c: [] for c in CATEGORIES})
    orders: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))  # category → Cartum orders

    def add(self, category: str, text: str, order_id: int | None = None) -> None:
        self.problems[category].append(text)
        if order_id is not None:
            self.orders[category].add(order_id)

    def counts(self) -> dict[str, int]:
        return {c: len(v) for c, v in self.problems.items()}

    @property
    def empty(self) -> bool:
        return not any(self.problems.values())

    def total(self) -> int:
        return sum(self.counts().values())

    def figures(self) -> str:
        return ", ".join(f"{c} {n}" for c, n in self.counts().items() if n or c != "aborted")

    def details(self, limit: int = 20) -> str:
        lines = []
        for category, texts in self.problems.items():
            for text in texts[:limit]:
                lines.append(f"  {category}: {text}")
            if len(texts) > limit:
                lines.append(f"  {category}: … and {len(texts) - limit} more")
        return "\n".join(lines)

    def problem_orders(self) -> set[int]:
        return set().union(*self.orders.values()) if self.orders else set()


@dataclass
class Expected:
    """The orders RO App must hold, keyed by Cartum order id, as Cartum holds them now;
    the products it must hold; what the changes did."""

    orders: dict[int, dict[str, Any]]
    catalogue: dict[str, dict[str, Any]]   # the catalogue the first import read, by article
    changes: ChangeLog


def expected_state(cartum_now: dict[str, Any], imported: Iterable[int], catalogue_at_import: list[dict[str, Any]],
                   changes: ChangeLog) -> Expected:
    """Every order the first import had to bring (``checks.expected_import`` on Cartum as
    it was then: created in the window, not Delivered) and every order created since; each
    as Cartum holds it now."""
    by_id = {o["order_id"]: o for o in cartum_now["orders"]}
    wanted = set(imported) | set(changes.created)
    return Expected({i: by_id[i] for i in sorted(wanted)}, {p["article"]: p for p in catalogue_at_import}, changes)


def compare(expected: Expected, roapp_state: dict[str, Any], config: StoreConfig,
            cartum_now: dict[str, Any]) -> Diff:
    diff = Diff()
    view = RoAppView(roapp_state, config.store_id)
    _duplicates(view, diff)
    _orders(expected, view, config, cartum_now, diff)
    _products(expected, view, config, diff)
    return diff


# --- duplicates ---------------------------------------------------------------------------

def _duplicates(view: RoAppView, diff: Diff) -> None:
    for order_id, rows in sorted(view.orders_by_cartum_id.items()):
        if len(rows) > 1:
            diff.add("duplicate_orders", f"Cartum order {order_id}: {len(rows)} RO App orders "
                                         f"{[o['id'] for o in rows]}", order_id)
    for tail, people in sorted(view.people_by_phone().items()):
        if len(people) > 1:
            diff.add("duplicate_people", f"phone …{tail}: {len(people)} people {[p['id'] for p in people]}")
    by_email: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for person in view.state["people"]:
        email = checks.clean_email(person.get("email"))
        if email:
            by_email[email].append(person)
    for email, people in sorted(by_email.items()):
        # Several buyers with their own phones may share an e-mail (a family, a shop). A
        # person with no phone is the buyer known by that e-mail alone: a second one, or
        # one next to the single phone client with that e-mail, is a duplicate.
        phoneless = [p for p in people if not p.get("phones")]
        if len(phoneless) > 1 or (phoneless and len(people) - len(phoneless) == 1):
            diff.add("duplicate_people", f"e-mail {email}: {len(people)} people {[p['id'] for p in people]} "
                                         f"({len(phoneless)} without a phone)")
    for sku, products in sorted(view.products_by_sku().items(), key=lambda kv: str(kv[0])):
        if len(products) > 1:
            diff.add("duplicate_products", f"SKU {sku}: {len(products)} products {[p['id'] for p in products]}")
    pattern = checks.marker_pattern(view.store_id)
    for order in view.state["orders"]:
        found = pattern.findall(order.get("manager_notes") or "")
        order_id = int(found[0]) if found else None
        lines = Counter((i["entity_id"], float(i["price"])) for i in order["items"])
        for (product, price), n in sorted(lines.items()):
            if n > 1:
                diff.add("duplicate_items", f"RO App order {order['id']} (Cartum {order_id}): product {product} at "
                                            f"{price:g} on {n} items", order_id)


# --- orders -------------------------------------------------------------------------------

def _orders(expected: Expected, view: RoAppView, config: StoreConfig, cartum_now: dict[str, Any], diff: Diff) -> None:
    wanted = expected.orders
    found = view.orders_by_cartum_id
    for order_id in sorted(set(wanted) - set(found)):
        diff.add("missing_orders", f"Cartum order {order_id} (status {wanted[order_id]['stat_status']}, created "
                                   f"{wanted[order_id]['stat_created']}) is not in RO App", order_id)
    for order_id in sorted(set(found) - set(wanted)):
        diff.add("unexpected_orders", f"Cartum order {order_id} should not be in RO App "
                                      f"(RO App {[o['id'] for o in found[order_id]]})", order_id)
    sku_of = {p["id"]: p.get("sku") for p in view.state["products"]}
    managers = checks.active_managers(view.state, config.location_id)
    fields = view.custom_field_ids
    users = {u["id"]: u for u in cartum_now["users"]}
    for order_id in sorted(set(wanted) & set(found)):
        cartum = wanted[order_id]
        for roapp in found[order_id]:  # a duplicate is checked too: each copy must be right
            _order(order_id, cartum, roapp, view, config, expected.changes, sku_of, managers, fields, users, diff)


def _order(order_id: int, cartum: dict[str, Any], roapp: dict[str, Any], view: RoAppView, config: StoreConfig,
           changes: ChangeLog, sku_of: dict[int, Any], managers: list[int], fields: dict[str, str],
           users: dict[int, dict[str, Any]], diff: Diff) -> None:
    def say(category: str, text: str) -> None:
        diff.add(category, f"order {order_id} (RO App {roapp['id']}): {text}", order_id)

    # status, and its history: no status posted twice in a row, none Cartum never had
    mapped = config.mapped_status(cartum["stat_status"])
    if (roapp["status"] or {}).get("id") != mapped:
        say("wrong_status", f"status {(roapp['status'] or {}).get('id')}, expected {mapped} "
                            f"(Cartum {cartum['stat_status']})")
    history = [h["status_id"] for h in roapp.get("status_history") or []]
    repeats = sum(1 for a, b in zip(history, history[1:]) if a == b)
    if repeats:
        say("repeated_statuses", f"status history {history}: {repeats} status change(s) posted again")
    had = {config.mapped_status(s) for s in changes.statuses.get(order_id, [cartum["stat_status"]])}
    strays = [s for s in history if s not in had]
    if strays:
        say("wrong_status", f"status history {history} holds {strays}, never a status of the Cartum order "
                            f"(it had {changes.statuses.get(order_id)})")

    # items: product (SKU = article), quantity, price per line; and the total
    have = Counter((sku_of.get(i["entity_id"]), float(i["quantity"]), float(i["price"])) for i in roapp["items"])
    want = checks.expected_items(cartum)
    if have != want:
        say("wrong_items", f"items {sorted(have.elements())}, expected {sorted(want.elements())}")
    # RO App's amount is Cartum's total_sum (a promo as item discounts), or the lines' sum when above it
    total = round(sum(float(i["quantity"]) * float(i["price"]) - float((i.get("discount") or {}).get("amount") or 0)
                      for i in roapp["items"]), 2)
    lines_total = round(sum(float(line["quantity"]) * float(line["price"]) for line in cartum["products"]), 2)
    wanted = min(lines_total, round(float(cartum["total_sum"]), 2))
    if total != wanted:
        say("wrong_total", f"items add up to {total}, Cartum's total_sum is {cartum['total_sum']} "
                           f"(lines {lines_total})")

    # the client: the buyer's phone, else e-mail, else the registered buyer
    person = view.people.get(roapp["client_id"])
    tail, email = checks.phone_tail(cartum["delivery_phone"]), checks.clean_email(cartum["delivery_email"])
    if person is None:
        say("wrong_client", f"client {roapp['client_id']} does not exist")
    else:
        tails = {checks.phone_tail(p.get("phone")) for p in person.get("phones") or []}
        if tail is not None and tail not in tails:
            phones = [p.get("phone") for p in person.get("phones") or []]
            say("wrong_client", f"client {person['id']} has phones {phones}"
                                f", the buyer typed {cartum['delivery_phone']!r}")
        elif tail is None and email is not None and checks.clean_email(person.get("email")) != email:
            say("wrong_client", f"client {person['id']} has e-mail {person.get('email')!r}, the buyer typed "
                                f"{cartum['delivery_email']!r}")
        elif tail is None and email is None and cartum.get("user"):
            profile = users.get(cartum["user"]["id"]) or {}
            if checks.phone_tail(profile.get("phone")) not in tails | {None}:
                say("wrong_client", f"client {person['id']} is not the registered buyer {profile.get('id')}")

    # comments: one delivery comment; an "Updated from Cartum" one at most per change of
    # what the comment says (here: the paid flag, and the Cartum total, which a change of
    # the lines moves); the latest says what Cartum says now
    comments = [c["comment"] for c in roapp.get("comments") or []]
    delivery = [c for c in comments if c.startswith("Delivery:")]
    updated = [c for c in comments if c.startswith("Updated from Cartum")]
    if len(delivery) > 1:
        say("repeated_comments", f"{len(delivery)} delivery comments")
    said = changes.paid_flips.get(order_id, 0) + sum(1 for e in changes.of(order_id) if e.kind in TOTAL_CHANGES)
    if len(updated) > said:
        say("repeated_comments", f"{len(updated)} 'Updated from Cartum' comments for {said} change(s) of the "
                                 f"paid flag or the total")
    latest = ([c for c in comments if c.startswith(("Delivery:", "Updated from Cartum"))] or [None])[-1]
    if latest is None:
        say("wrong_comment", "no delivery comment")
    else:
        for fact in checks.delivery_facts(cartum):
            if fact not in latest:
                say("wrong_comment", f"the latest delivery comment lacks {fact!r}: {latest!r}")

    # where it is, who handles it, what it says of itself
    if roapp["branch_id"] != config.location_id or roapp["order_type_id"] != config.order_type_id:
        say("wrong_fields", f"location/type {roapp['branch_id']}/{roapp['order_type_id']}")
    if managers and roapp["manager_id"] != managers[order_id % len(managers)]:
        say("wrong_fields", f"manager {roapp['manager_id']}, expected {managers[order_id % len(managers)]}")
    values = roapp.get("custom_fields") or {}
    for title, value in {"Store": config.name, "External ID": str(order_id),
                         "Created": checks.utc_text(cartum["stat_created"])}.items():
        if title in fields and values.get(fields[title]) != value:
            say("wrong_fields", f"custom field {title} = {values.get(fields[title])!r}, expected {value!r}")


# --- products -----------------------------------------------------------------------------

def _products(expected: Expected, view: RoAppView, config: StoreConfig, diff: Diff) -> None:
    """The catalogue the first import read, each product once with its title in the
    store's language (or the fallback), price and barcode; every article an expected order
    names, in RO App once."""
    by_sku = view.products_by_sku()
    for article, product in sorted(expected.catalogue.items()):
        rows = by_sku.get(article) or []
        if not rows:
            diff.add("wrong_products", f"{article}: not in RO App")
            continue
        title, _ = checks.expected_title(product, config.language)
        for row in rows:
            if row["title"] != title:
                diff.add("wrong_products", f"{article}: title {row['title']!r}, expected {title!r}")
            if (checks.price_of(row) or 0) != float(product["price"]):
                diff.add("wrong_products", f"{article}: price {checks.price_of(row)}, expected {product['price']}")
            if row.get("barcodes") != ([product["gtin"]] if product.get("gtin") else []):
                diff.add("wrong_products",
                         f"{article}: barcodes {row.get('barcodes')}, expected {product.get('gtin')!r}")
    for order_id, order in sorted(expected.orders.items()):
        for line in order["products"]:
            if line["article"] not in expected.catalogue and not by_sku.get(line["article"]):
                diff.add("wrong_products", f"{line['article']} (order {order_id}): not in RO App", order_id)
