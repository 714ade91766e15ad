"""An in-memory stand-in for ``RoAppClient``, with only what the loaders call.

It keeps people, products and orders (with their items, comments and status history) the
way the RO App sandbox answers them: people's phones as ``[{"phone": ...}]``, items with
``id``/``entity_id``/``price``/``quantity``/``discount`` (a discount above the item's
amount is a 422, as the sandbox answers; the sandbox's rules are reused), orders with
``manager_notes``, their amount ``price`` and a ``modified_at`` that moves on every write.
Every call is recorded as ``(method, args)``.

``reject(method)`` makes the next call of that method raise ``transport.ValidationError``
(a 422) without changing anything. ``die_before(method)`` raises ``WorkerDied`` instead of
the next call of that method (the request never went out); ``die_after(method)`` lets it
change what RO App holds and then raises ``WorkerDied`` (the answer never came back)."""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable

from cartum_roapp_sandbox.roapp.validation import ApiError, check_item_discount, order_totals

from cartum_roapp_sync import assumptions
from cartum_roapp_sync.transport import NotFoundError, ValidationError

WRITES = {"create_person", "update_person", "create_product", "update_product", "create_order", "update_order",
          "set_order_status", "add_order_item", "update_order_item", "delete_order_item", "add_order_comment"}


class WorkerDied(Exception):
    """Not an API error: the loader does not catch it, so the step stops here."""


@dataclass
class Stats:
    calls: int = 0
    writes: int = 0


def _digits(value: Any) -> str:
    return re.sub(r"\D", "", str(value or ""))


def _moment(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


class FakeRoApp:
    def __init__(self, *, employees: list[dict[str, Any]] | None = None,
                 custom_fields: list[dict[str, Any]] | None = None):
        self.people: dict[int, dict[str, Any]] = {}
        self.products: dict[int, dict[str, Any]] = {}
        self.orders: dict[int, dict[str, Any]] = {}
        self.employee_rows = employees or []
        self.custom_field_rows = custom_fields or []
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.stats = Stats()
        self.account = "roapp:fake"      # the local index's account (RoAppClient.account)
        self.catalogue_cache = None      # filters honoured here: the client never scans
        self.closed = False
        self._rejections: dict[str, list[str]] = {}
        self._deaths: set[str] = set()
        self._deaths_before: set[str] = set()
        self._ids = {"people": 1001, "products": 2001, "orders": 3001, "items": 4001, "comments": 6001}
        self._last_tick: datetime | None = None

    # --- test controls (not part of the client) -------------------------------------

    def reject(self, method: str, message: str = "The given data was invalid.") -> None:
        """The next call of ``method`` answers 422."""
        self._rejections.setdefault(method, []).append(message)

    def die_before(self, method: str) -> None:
        """The worker dies instead of sending the next call of ``method``."""
        self._deaths_before.add(method)

    def die_after(self, method: str) -> None:
        """The next call of ``method`` is carried out, then the worker dies before the answer."""
        self._deaths.add(method)

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]

    def calls_of(self, method: str) -> list[tuple[Any, ...]]:
        return [args for name, args in self.calls if name == method]

    def forget_calls(self) -> None:
        self.calls.clear()
        self.stats = Stats()

    def add_person(self, **fields: Any) -> dict[str, Any]:
        """Someone already in RO App (made by hand, or by a run that died)."""
        return self._new("people", {"first_name": None, "last_name": None, "email": None, "phones": [],
                                    "address": None, "notes": None, "custom_fields": {}}, fields)

    def add_product(self, **fields: Any) -> dict[str, Any]:
        return self._new("products", {"title": None, "description": None, "code": None, "sku": None,
                                      "barcodes": [], "price": None}, fields)

    def add_order(self, items: Iterable[dict[str, Any]] = (), **fields: Any) -> dict[str, Any]:
        order = self._new_order(fields)
        for item in items:
            self._new_item(order, dict(item))
        return copy.deepcopy(order)

    def order(self, order_id: int) -> dict[str, Any]:
        """Everything held of one order, items and comments included, and its amount."""
        return copy.deepcopy({**self.orders[order_id], **order_totals(self.orders[order_id]["items"])})

    # --- machinery ------------------------------------------------------------------

    def _call(self, method: str, *args: Any) -> None:
        if method in self._deaths_before:
            self._deaths_before.discard(method)
            raise WorkerDied(f"the worker died before sending {method}")
        self.calls.append((method, args))
        self.stats.calls += 1
        if method in WRITES:
            self.stats.writes += 1
        if self._rejections.get(method):
            message = self._rejections[method].pop(0)
            raise ValidationError(f"RO App rejected {method}: {message}", status=422)

    def _done(self, method: str, answer: Any) -> Any:
        if method in self._deaths:
            self._deaths.discard(method)
            raise WorkerDied(f"the worker died after {method} went through")
        return copy.deepcopy(answer)

    def _tick(self) -> str:
        now = datetime.now(timezone.utc).replace(microsecond=0)
        if self._last_tick is not None and now <= self._last_tick:
            now = self._last_tick + timedelta(milliseconds=1)
        self._last_tick = now
        return now.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def _next_id(self, kind: str) -> int:
        self._ids[kind] += 1
        return self._ids[kind] - 1

    def _new(self, kind: str, defaults: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
        now = self._tick()
        row = {**defaults, **copy.deepcopy(fields), "created_at": now, "modified_at": now}
        row["id"] = fields.get("id") or self._next_id(kind)
        getattr(self, kind)[row["id"]] = row
        return row

    def _new_order(self, fields: dict[str, Any]) -> dict[str, Any]:
        order = self._new("orders", {"branch_id": None, "order_type_id": None, "client_id": None,
                                     "manager_id": None, "status": None, "manager_notes": None,
                                     "custom_fields": {}}, fields)
        order.update(items=[], comments=[], status_history=[])
        return order

    def _new_item(self, order: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        product = self.products.get(body.get("entity_id"))
        if product is None:
            raise ValidationError(f"entity_id {body.get('entity_id')} is not a product", status=422)
        item = {"id": self._next_id("items"), "entity_id": product["id"], "title": product["title"],
                "quantity": 1, "price": product.get("price") or 0, "discount": None, **body}
        _check_discount(item)
        order["items"].append(item)
        order["modified_at"] = self._tick()
        return item

    def _get(self, kind: str, record_id: int) -> dict[str, Any]:
        row = getattr(self, kind).get(record_id)
        if row is None:
            raise NotFoundError(f"RO App {kind} {record_id}: not found", status=404)
        return row

    @staticmethod
    def _order_view(order: dict[str, Any]) -> dict[str, Any]:
        view = {k: v for k, v in order.items() if k not in ("items", "comments", "status_history")}
        return {**view, **order_totals(order["items"])}

    # --- reference data ---------------------------------------------------------------

    def employees(self) -> list[dict[str, Any]]:
        self._call("employees")
        return copy.deepcopy(self.employee_rows)

    def custom_fields(self) -> list[dict[str, Any]]:
        self._call("custom_fields")
        return copy.deepcopy(self.custom_field_rows)

    # --- people -----------------------------------------------------------------------

    def people_pages(self, *, modified_since: str | None = None, first: int = 1):
        """Pages of 50 people, those modified since a time when given (honoured, as documented)."""
        self._call("people_pages", {"modified_since": modified_since, "first": first})
        rows = [p for p in self.people.values()
                if modified_since is None or _moment(p["modified_at"]) >= _moment(modified_since)]
        pages = [rows[i:i + 50] for i in range(0, len(rows), 50)] or [[]]
        for number, page in enumerate(pages, start=1):
            if number >= first:
                yield number, copy.deepcopy(page)

    def get_person(self, person_id: int) -> dict[str, Any]:
        self._call("get_person", person_id)
        return copy.deepcopy(self._get("people", person_id))

    def find_people(self, *, phones: Iterable[str] | None = None, emails: Iterable[str] | None = None,
                    names: Iterable[str] | None = None, ids: Iterable[int] | None = None) -> list[dict[str, Any]]:
        phones, names = (list(phones) if phones is not None else None), (list(names) if names is not None else None)
        emails, ids = (list(emails) if emails is not None else None), (list(ids) if ids is not None else None)
        self._call("find_people", {"phones": phones, "emails": emails, "names": names, "ids": ids})

        def keep(person: dict[str, Any]) -> bool:
            full = f"{person['first_name']} {person.get('last_name') or ''}".lower()
            have = [_digits(p["phone"]) for p in person.get("phones") or []]
            return ((ids is None or person["id"] in ids)
                    and (names is None or any(n.lower() in full for n in names))
                    and (phones is None or any(_digits(w) and _digits(w) in h for w in phones for h in have))
                    and (emails is None or (person.get("email") or "").lower() in {e.lower() for e in emails}))

        return copy.deepcopy([p for p in self.people.values() if keep(p)])

    def create_person(self, body: dict[str, Any]) -> dict[str, Any]:
        self._call("create_person", copy.deepcopy(body))
        person = self._new("people", {"first_name": None, "last_name": None, "email": None, "phones": [],
                                      "address": None, "notes": None, "custom_fields": {}}, body)
        return self._done("create_person", person)

    def update_person(self, person_id: int, body: dict[str, Any]) -> dict[str, Any]:
        self._call("update_person", person_id, copy.deepcopy(body))
        person = self._get("people", person_id)
        person.update(copy.deepcopy(body), modified_at=self._tick())
        return self._done("update_person", person)

    # --- catalogue --------------------------------------------------------------------

    def find_products(self, *, skus: Iterable[str] | None = None, barcodes: Iterable[str] | None = None,
                      ids: Iterable[int] | None = None) -> list[dict[str, Any]]:
        skus, barcodes = (list(skus) if skus is not None else None), (list(barcodes) if barcodes is not None else None)
        ids = list(ids) if ids is not None else None
        self._call("find_products", {"skus": skus, "barcodes": barcodes, "ids": ids})
        return copy.deepcopy([p for p in self.products.values()
                              if (ids is None or p["id"] in ids) and (skus is None or p["sku"] in skus)
                              and (barcodes is None or set(barcodes) & set(p["barcodes"] or []))])

    @staticmethod
    def _product_body(body: dict[str, Any]) -> dict[str, Any]:
        # the loader's body as it is (the client turns ``price`` into ``prices[]``)
        return {k: v for k, v in copy.deepcopy(body).items() if k in (*assumptions.ROAPP_PRODUCT_WRITE_FIELDS, "price")}

    def create_product(self, body: dict[str, Any]) -> dict[str, Any]:
        self._call("create_product", copy.deepcopy(body))
        product = self._new("products", {"title": None, "description": None, "code": None, "sku": None,
                                         "barcodes": [], "price": None}, self._product_body(body))
        return self._done("create_product", product)

    def update_product(self, product_id: int, body: dict[str, Any]) -> dict[str, Any]:
        self._call("update_product", product_id, copy.deepcopy(body))
        product = self._get("products", product_id)
        product.update(self._product_body(body), modified_at=self._tick())
        return self._done("update_product", product)

    # --- orders -----------------------------------------------------------------------

    def find_orders(self, *, ids: Iterable[int] | None = None, branches: Iterable[int] | None = None,
                    created_at: tuple[str, ...] | None = None, modified_at: tuple[str, ...] | None = None,
                    client_ids: Iterable[int] | None = None, sort: str | None = None) -> list[dict[str, Any]]:
        query = {"ids": ids, "branches": branches, "created_at": created_at, "modified_at": modified_at,
                 "client_ids": client_ids}
        query = {k: list(v) if v is not None else None for k, v in query.items()}
        self._call("find_orders", {**query, "sort": sort})

        def within(stamp: str, bounds: list[str] | None) -> bool:
            if not bounds:
                return True
            moment = _moment(stamp)
            return _moment(bounds[0]) <= moment and (len(bounds) < 2 or moment <= _moment(bounds[1]))

        rows = [self._order_view(o) for o in self.orders.values()
                if (query["ids"] is None or o["id"] in query["ids"])
                and (query["branches"] is None or o["branch_id"] in query["branches"])
                and (query["client_ids"] is None or o["client_id"] in query["client_ids"])
                and within(o["created_at"], query["created_at"]) and within(o["modified_at"], query["modified_at"])]
        return copy.deepcopy(rows)

    def get_order(self, order_id: int) -> dict[str, Any]:
        self._call("get_order", order_id)
        return copy.deepcopy(self._order_view(self._get("orders", order_id)))

    def create_order(self, body: dict[str, Any]) -> dict[str, Any]:
        self._call("create_order", copy.deepcopy(body))
        missing = [f for f in ("branch_id", "order_type_id", "client_id") if body.get(f) is None]
        if missing:
            raise ValidationError(f"RO App rejected create_order: {', '.join(missing)} required", status=422)
        if body["client_id"] not in self.people:
            raise ValidationError(f"RO App rejected create_order: no client {body['client_id']}", status=422)
        order = self._new_order(body)
        return self._done("create_order", self._order_view(order))

    def update_order(self, order_id: int, body: dict[str, Any]) -> dict[str, Any]:
        self._call("update_order", order_id, copy.deepcopy(body))
        order = self._get("orders", order_id)
        fields = copy.deepcopy(body)
        order["custom_fields"].update(fields.pop("custom_fields", {}))
        order.update(fields, modified_at=self._tick())
        return self._done("update_order", self._order_view(order))

    def set_order_status(self, order_id: int, status_id: int, comment: str | None = None) -> Any:
        self._call("set_order_status", order_id, status_id, comment)
        order = self._get("orders", order_id)
        now = self._tick()
        order["status"] = {"id": status_id}
        order["status_history"].append({"status_id": status_id, "comment": comment, "changed_at": now})
        order["modified_at"] = now
        return self._done("set_order_status", self._order_view(order))

    def order_items(self, order_id: int) -> list[dict[str, Any]]:
        self._call("order_items", order_id)
        return copy.deepcopy(self._get("orders", order_id)["items"])

    def add_order_item(self, order_id: int, body: dict[str, Any]) -> dict[str, Any]:
        self._call("add_order_item", order_id, copy.deepcopy(body))
        return self._done("add_order_item", self._new_item(self._get("orders", order_id), copy.deepcopy(body)))

    def update_order_item(self, order_id: int, item_id: int, body: dict[str, Any]) -> dict[str, Any]:
        self._call("update_order_item", order_id, item_id, copy.deepcopy(body))
        order = self._get("orders", order_id)
        item = next((i for i in order["items"] if i["id"] == item_id), None)
        if item is None:
            raise NotFoundError(f"RO App item {item_id} of order {order_id}: not found", status=404)
        _check_discount({**item, **body})
        item.update(copy.deepcopy(body))
        order["modified_at"] = self._tick()
        return self._done("update_order_item", item)

    def delete_order_item(self, order_id: int, item_id: int) -> Any:
        self._call("delete_order_item", order_id, item_id)
        order = self._get("orders", order_id)
        item = next((i for i in order["items"] if i["id"] == item_id), None)
        if item is None:
            raise NotFoundError(f"RO App item {item_id} of order {order_id}: not found", status=404)
        order["items"].remove(item)
        order["modified_at"] = self._tick()
        return self._done("delete_order_item", item)

    def add_order_comment(self, order_id: int, comment: str, *, is_private: bool = True) -> Any:
        self._call("add_order_comment", order_id, comment)
        order = self._get("orders", order_id)
        now = self._tick()
        row = {"id": self._next_id("comments"), "comment": comment, "is_private": is_private, "created_at": now}
        order["comments"].append(row)
        order["modified_at"] = now
        return self._done("add_order_comment", row)

    def forget_product(self, product_id: int) -> None:
        """Nothing is cached here (the filters are honoured)."""

    def close(self) -> None:
        self.closed = True


def _check_discount(item: dict[str, Any]) -> None:
    try:
        check_item_discount(item)
    except ApiError as exc:
        raise ValidationError(f"RO App: {exc.errors}", status=422, field_errors=exc.errors) from None
