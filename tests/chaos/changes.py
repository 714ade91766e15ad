"""What a shop does in Cartum between two runs of the chaos run: new orders (new guests,
returning buyers typing their phone differently, now and then a product new to the
catalogue), status changes (to Delivered and to the store's own final status too),
quantities changed, lines added and removed, a phone corrected, the paid flag flipped, and
such a change undone (the order exactly as it was before it).
Made through the Cartum sandbox's admin actions (``upsert_orders``, ``upsert_products``),
as ``tests/pipeline/test_first_import.py`` does, and written down (``ChangeLog``) for the
oracle and for the report.

Only orders the sync owns and Cartum still re-reads are changed: an order the first
import brought (or one created since), in a status that is not final. A final order is
never changed again (Cartum no longer shows the sync its changes, by design).
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from tests.pipeline import checks

NEW = 1
DELIVERED = 3
#: Where an open order may go next (Cartum ids: 1 New, 2 Processing, 3 Delivered,
#: 4 Canceled, 6 Shipping, 7 and 8 the store's own: Awaiting payment, Returned).
NEXT_STATUSES = {1: (2, 6, 7, 4), 2: (6, 7, 3, 8, 4), 6: (3, 8, 4, 2), 7: (2, 6, 3, 8)}
CUSTOM_FINAL = 8
KINDS = ("status", "delivered", "custom_final", "quantity", "item_added", "item_removed", "phone", "payment",
         "revert")
KIND_WEIGHTS = (20, 5, 4, 15, 13, 9, 11, 15, 8)
PHONE_STYLES = ("+380 {op} {a} {b} {c}", "0{op}{a}{b}{c}", "380-{op}-{a}-{b}{c}", "(0{op}) {a}-{b}-{c}",
                "+38 (0{op}) {a} {b} {c}", "+380{op}{a}{b}{c}")


def typed_phone(tail: str, style: int) -> str:
    """A Ukrainian mobile number (its 9 digits after 380) typed in one of six ways."""
    return PHONE_STYLES[style % len(PHONE_STYLES)].format(op=tail[:2], a=tail[2:5], b=tail[5:7], c=tail[7:])


@dataclass
class Event:
    """One change made in Cartum, for the report."""

    run: int            # made before this run (1-based, counting every run)
    order_id: int
    kind: str
    detail: str

    def __str__(self) -> str:
        return f"before run {self.run}: order {self.order_id} {self.kind} ({self.detail})"


@dataclass
class ChangeLog:
    """What the changes did, as the oracle needs it."""

    created: set[int] = field(default_factory=set)              # orders created after the import
    statuses: dict[int, list[int]] = field(default_factory=dict)  # order → every Cartum status it had
    paid_flips: Counter = field(default_factory=Counter)        # order → changes of its paid flag
    events: list[Event] = field(default_factory=list)
    kinds: Counter = field(default_factory=Counter)
    new_products: list[str] = field(default_factory=list)

    def of(self, order_id: int) -> list[Event]:
        return [e for e in self.events if e.order_id == order_id]


class CartumChanges:
    """Makes the changes through ``admin`` (a ``SandboxAdmin`` of the Cartum sandbox)."""

    def __init__(self, admin: Any, rng: random.Random, final_statuses: tuple[int, ...]):
        self.admin = admin
        self.rng = rng
        self.final = set(final_statuses)
        self.log = ChangeLog()
        self.owned: set[int] = set()
        self._todo: list[str] = []   # every kind once (shuffled) before any at random
        self._serial = 0
        self._undo: dict[int, tuple[str, Any]] = {}   # order → how to undo its last line or paid change

    def start(self, cartum_state: dict[str, Any], imported: set[int]) -> None:
        """The import is done: these orders are the sync's from now on."""
        self.owned = set(imported)
        by_id = {o["order_id"]: o for o in cartum_state["orders"]}
        for order_id in imported:
            self.log.statuses[order_id] = [by_id[order_id]["stat_status"]]
        self._todo = list(KINDS)
        self.rng.shuffle(self._todo)

    # --- one batch of changes ---------------------------------------------------------

    def apply(self, run: int, changes: int, new_orders: int) -> list[Event]:
        """``changes`` changes to open orders and ``new_orders`` new orders, before ``run``."""
        before = len(self.log.events)
        state = self.admin.state()
        for _ in range(new_orders):
            self._new_order(run, state)
            state = self.admin.state()
        for _ in range(changes):
            by_id = {o["order_id"]: o for o in state["orders"]}
            open_ids = sorted(i for i in self.owned if by_id[i]["stat_status"] not in self.final)
            if not open_ids:
                break
            kind = self._todo.pop(0) if self._todo else self.rng.choices(KINDS, KIND_WEIGHTS)[0]
            fitting = [i for i in open_ids if self._fits(kind, by_id[i])]
            if not fitting:  # no order it fits yet (one line each, nothing to undo): another time
                if kind in KINDS and kind not in self._todo:
                    self._todo.append(kind)
                kind, fitting = "status", open_ids
            order = by_id[self.rng.choice(fitting)]
            getattr(self, f"_{kind}")(run, order, state)
            state = self.admin.state()
        return self.log.events[before:]

    def _fits(self, kind: str, order: dict[str, Any]) -> bool:
        if kind == "item_removed":
            return len(order["products"]) >= 2
        if kind == "revert":
            return order["order_id"] in self._undo
        return True

    def _record(self, run: int, order_id: int, kind: str, detail: str) -> None:
        self.log.events.append(Event(run, order_id, kind, detail))
        self.log.kinds[kind] += 1

    def _upsert(self, order: dict[str, Any]) -> None:
        self.admin.action("upsert_orders", [order])

    @staticmethod
    def _lines(order: dict[str, Any]) -> list[dict[str, Any]]:
        """The order's lines as an upsert takes them: the line total left out, so that the
        sandbox computes it (and the order's totals) again."""
        return [{k: v for k, v in line.items() if k != "total_price"} for line in order["products"]]

    # --- the kinds of change ----------------------------------------------------------

    def _status(self, run: int, order: dict[str, Any], state: dict[str, Any]) -> bool:
        return self._set_status(run, order, self.rng.choice(NEXT_STATUSES.get(order["stat_status"]) or (2,)))

    def _delivered(self, run: int, order: dict[str, Any], state: dict[str, Any]) -> bool:
        return self._set_status(run, order, DELIVERED)

    def _custom_final(self, run: int, order: dict[str, Any], state: dict[str, Any]) -> bool:
        return self._set_status(run, order, CUSTOM_FINAL)

    def _set_status(self, run: int, order: dict[str, Any], new: int) -> bool:
        current = order["stat_status"]
        self._upsert({"order_id": order["order_id"], "stat_status": new, **({"payed": 1} if new == DELIVERED else {})})
        if new == DELIVERED and not order["payed"]:
            self.log.paid_flips[order["order_id"]] += 1
        self.log.statuses.setdefault(order["order_id"], [current]).append(new)
        kind = {DELIVERED: "delivered", CUSTOM_FINAL: "custom_final"}.get(new, "status")
        self._record(run, order["order_id"], kind, f"status {current} -> {new}")
        return True

    def _revert(self, run: int, order: dict[str, Any], state: dict[str, Any]) -> bool:
        """The buyer changes their mind: the order's last change of lines or of the paid
        flag is undone, so that it holds exactly what it held before (an earlier version).
        Mostly an order changed just before the previous run."""
        by_id = {o["order_id"]: o for o in state["orders"]}
        candidates = sorted(i for i in self._undo if by_id[i]["stat_status"] not in self.final)
        recent = [i for i in candidates if any(e.order_id == i and e.run == run - 1 for e in self.log.events)]
        order_id = self.rng.choice(recent or candidates or [order["order_id"]])
        what, value = self._undo.pop(order_id)
        self._upsert({"order_id": order_id, what: value})
        if what == "payed":
            self.log.paid_flips[order_id] += 1
        shown = value if what == "payed" else [line["article"] for line in value]
        self._record(run, order_id, "revert", f"{what} back to {shown}")
        return True

    def _quantity(self, run: int, order: dict[str, Any], state: dict[str, Any]) -> bool:
        lines = self._lines(order)
        line = self.rng.choice(lines)
        old = line["quantity"]
        line["quantity"] = old + 1 if old == 1 or self.rng.random() < 0.5 else old - 1
        self._upsert({"order_id": order["order_id"], "products": lines})
        self._undo[order["order_id"]] = ("products", self._lines(order))
        self._record(run, order["order_id"], "quantity", f"{line['article']} {old} -> {line['quantity']}")
        return True

    def _item_added(self, run: int, order: dict[str, Any], state: dict[str, Any]) -> bool:
        present = {line["article"] for line in order["products"]}
        if self.rng.random() < 0.2:
            article = self._new_product()
        else:
            candidates = [p["article"] for p in state["products"] if p["article"] not in present]
            if not candidates:
                return False
            article = self.rng.choice(candidates)
        lines = self._lines(order) + [{"article": article, "quantity": self.rng.choice((1, 1, 2))}]
        self._upsert({"order_id": order["order_id"], "products": lines})
        self._undo[order["order_id"]] = ("products", self._lines(order))
        self._record(run, order["order_id"], "item_added", article)
        return True

    def _item_removed(self, run: int, order: dict[str, Any], state: dict[str, Any]) -> bool:
        lines = self._lines(order)
        if len(lines) < 2:
            return False
        gone = lines.pop(self.rng.randrange(len(lines)))
        self._upsert({"order_id": order["order_id"], "products": lines})
        self._undo[order["order_id"]] = ("products", self._lines(order))
        self._record(run, order["order_id"], "item_removed", gone["article"])
        return True

    def _phone(self, run: int, order: dict[str, Any], state: dict[str, Any]) -> bool:
        old = order["delivery_phone"]
        new = typed_phone(self._fresh_tail(state), self.rng.randrange(len(PHONE_STYLES)))
        self._upsert({"order_id": order["order_id"], "delivery_phone": new})
        self._record(run, order["order_id"], "phone", f"{old!r} -> {new!r}")
        return True

    def _payment(self, run: int, order: dict[str, Any], state: dict[str, Any]) -> bool:
        new = 0 if order["payed"] else 1
        self._upsert({"order_id": order["order_id"], "payed": new})
        self._undo[order["order_id"]] = ("payed", order["payed"])
        self.log.paid_flips[order["order_id"]] += 1
        self._record(run, order["order_id"], "payment", f"paid {order['payed']} -> {new}")
        return True

    # --- new orders and products ------------------------------------------------------

    def _fresh_tail(self, state: dict[str, Any]) -> str:
        """A mobile number no buyer or customer of the store has."""
        taken = {checks.phone_tail(o["delivery_phone"]) for o in state["orders"]}
        taken |= {checks.phone_tail(u["phone"]) for u in state["users"]}
        while True:
            tail = self.rng.choice(("67", "50", "93", "97", "63")) + f"{self.rng.randrange(10**7):07d}"
            if tail not in taken:
                return tail

    def _new_product(self) -> str:
        self._serial += 1
        article = f"SKU-8{self._serial:04d}"
        price = self.rng.choice((149, 299, 499, 999))
        self.admin.action("upsert_products", [{
            "article": article, "parent_article": article, "price": price, "gtin": "",
            "title": {"ua": f"Новий товар {self._serial}", "ru": f"Новый товар {self._serial}",
                      "en": f"New product {self._serial}"},
            "description": {"ua": "<p>Новинка</p>"}}])
        self.log.new_products.append(article)
        return article

    def _new_order(self, run: int, state: dict[str, Any]) -> None:
        order_id = max(o["order_id"] for o in state["orders"]) + 1
        template = self.rng.choice([o for o in state["orders"] if checks.phone_tail(o["delivery_phone"])])
        if self.rng.random() < 0.5:  # a returning buyer, typing the phone another way
            tail = checks.phone_tail(template["delivery_phone"])
            phone = next(typed_phone(tail, s) for s in self.rng.sample(range(len(PHONE_STYLES)), len(PHONE_STYLES))
                         if typed_phone(tail, s) != template["delivery_phone"])
            buyer = {"delivery_name": template["delivery_name"], "delivery_email": template["delivery_email"],
                     "user": template["user"]}
            who = f"returning buyer of order {template['order_id']}"
        else:
            self._serial += 1
            phone = typed_phone(self._fresh_tail(state), self.rng.randrange(len(PHONE_STYLES)))
            buyer = {"delivery_name": f"Покупець Хаос{self._serial}",
                     "delivery_email": f"chaos.buyer{self._serial}@example.com", "user": None}
            who = "new guest"
        articles = self.rng.sample([p["article"] for p in state["products"]], self.rng.choice((1, 1, 2, 3)))
        if self.rng.random() < 0.25:
            articles.append(self._new_product())
        status = self.rng.choices((NEW, 2, DELIVERED), (80, 15, 5))[0]
        self._upsert({
            "order_id": order_id, "stat_status": status, "payed": 1 if status == DELIVERED else 0, **buyer,
            "delivery_phone": phone, "delivery_city": template["delivery_city"],
            "delivery_address": template["delivery_address"], "delivery_type": template["delivery_type"],
            "delivery_price": template["delivery_price"], "payment_type": template["payment_type"],
            "comment": self.rng.choice(("", "", "Дзвонити після 18:00")), "lang": "ua",
            "products": [{"article": a, "quantity": self.rng.choice((1, 1, 2))} for a in articles]})
        self.owned.add(order_id)
        self.log.created.add(order_id)
        self.log.statuses[order_id] = [status]
        self._record(run, order_id, "new_order", f"{who}, phone {phone!r}, status {status}, lines {articles}")
