"""The in-memory RO App account behind the sandbox: reference data, people, products and
orders (with their items, comments and status history), and the API handlers that read
and change them. Authentication, routing rules and admin actions are ``app.py``'s job.

Choices where the contract leaves room:
- creates (``POST``) answer 201 with the new object; reads, updates, ``/status`` answer
  200; ``DELETE`` of an item answers 200 with the removed item;
- lists (branches, employees, orders, order items, people, products) are paged,
  50 rows a page, as ``{"data", "count"}`` or ``{"data", "paging": {...}}``
  (``list_format``); dictionaries (statuses, order types, custom fields) are bare arrays;
- unknown body fields are ignored; only the bracket form of array filters filters; the
  undocumented ``emails[]``, ``skus[]`` and ``barcodes[]`` filter only while
  ``undocumented_filters`` is on (the profile's choice; off, the whole list comes back);
- reference lists answer at the documented ``/v2/company/locations`` and
  ``/v2/company/employees`` and at the legacy ``/branches/`` and ``/employees/`` (the
  profile decides which answer, ``app.py``);
- a product holds ``prices`` (one ``{id, price}`` per price type; an entry written without
  ``id`` is the default price type ``DEFAULT_PRICE_TYPE``) and ``cost``, no flat ``price``;
- a comment is private by ``is_private`` or by ``visibility: "private"``, whichever field
  ``comment_privacy`` names (the other is ignored); stored as ``is_private``;
- a date-time custom field of an order takes ISO-8601 with a zone (``…Z``), else 422;
- ``phones[]`` / ``client_phones[]`` match when the filter's digits occur in the digits
  of any of the person's phones (so ``0671234567`` finds ``+38 067 123 45 67``); a filter
  whose every value has at least 9 digits is answered from an index of every run of 9
  digits in people's phones (kept on create, PATCH, delete and merge; candidates checked by
  the same rule), so a look-up does not scan the whole contact base; shorter ones scan;
- a PATCH of a person's ``phones`` replaces the whole list, as RO App does;
- what a manager does in RO App's interface (``delete_person``, ``merge_people``,
  ``delete_order``, ``delete_product``) has no API endpoint: the admin actions call the
  methods below. Ids are never reused; a deleted record answers 404, and a reference to it
  in a new order or item answers 422 naming the field. Orders of a deleted person keep
  their ``client_id``; items of a deleted product stay on their orders.
- an item's ``discount`` is ``{type: "value"|"percentage", percentage, amount}``, the
  amount for the item's whole quantity [assumed]; a discount above the item's price ×
  quantity (after a PATCH too) answers 422 naming ``discount``. An order is shown with
  ``price`` (Σ items' price × quantity − discount) and ``discount_sum`` [assumed names],
  computed from its items; ``state()`` shows them too.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

from ..server import Request, Response
from . import validation as v
from .validation import ApiError

DEFAULT_PRICE_TYPE = 701
FIRST_IDS = {"people": 1001, "products": 2001, "orders": 3001, "items": 4001, "comments": 6001}
ORDER_REQUIRED = ("branch_id", "order_type_id", "client_id")
ORDER_SORTS = ("id", "number", "created_at", "modified_at", "due_date", "estimated_price")
# Stored with the order and shown in state(), but served only by their own endpoints.
ORDER_PARTS = ("items", "comments", "status_history")
# Each kind of reference data, with the field that names a row.
REFERENCE_KINDS = {"branches": "name", "order_types": "name", "statuses": "name", "custom_fields": "title",
                   "employees": "first_name"}

# path pattern -> {method: RoAppStore handler}; handlers take (request, body, *path ids).
LEGACY_PATHS = ("/branches", "/employees")
DOCUMENTED_PATHS = ("/v2/company/locations", "/v2/company/employees")
ROUTES = [(re.compile(pattern), methods) for pattern, methods in [
    (r"/v2/company/locations", {"GET": "list_branches"}),
    (r"/v2/company/employees", {"GET": "list_employees"}),
    (r"/branches", {"GET": "list_branches"}),
    (r"/employees", {"GET": "list_employees"}),
    (r"/v2/orders/statuses", {"GET": "list_statuses"}),
    (r"/v2/orders/types", {"GET": "list_order_types"}),
    (r"/v2/orders/custom-fields", {"GET": "list_custom_fields"}),
    (r"/v2/orders", {"GET": "list_orders", "POST": "create_order"}),
    (r"/v2/orders/(\d+)", {"GET": "get_order", "PATCH": "update_order"}),
    (r"/v2/orders/(\d+)/status", {"POST": "set_status"}),
    (r"/v2/orders/(\d+)/items", {"GET": "list_items", "POST": "add_item"}),
    (r"/v2/orders/(\d+)/items/(\d+)", {"PATCH": "update_item", "DELETE": "delete_item"}),
    (r"/v2/orders/(\d+)/comments", {"POST": "add_comment"}),
    (r"/v2/contacts/people", {"GET": "list_people", "POST": "create_person"}),
    (r"/v2/contacts/people/(\d+)", {"GET": "get_person", "PATCH": "update_person"}),
    (r"/v2/catalog/products", {"GET": "list_products", "POST": "create_product"}),
    (r"/v2/catalog/products/(\d+)", {"PATCH": "update_product"}),
]]


class RoAppStore:
    """Everything one RO App account holds, and the API operations on it. Not thread
    safe by itself: ``RoAppSandbox`` calls it under one lock."""

    def __init__(self, data: dict[str, Any], list_format: str = "count"):
        self.list_format = list_format
        self.undocumented_filters = True
        self.comment_privacy = "is_private"
        self.clock = v.Clock()
        data = copy.deepcopy(data)
        self.generated_at = data.get("generated_at")
        self.reference: dict[str, list[dict[str, Any]]] = {kind: data.get(kind, []) for kind in REFERENCE_KINDS}
        self.people = {p["id"]: p for p in data.get("people", [])}
        self.phone_index = PhoneIndex()
        for person in self.people.values():
            self.phone_index.put(person)
        self.products = {p["id"]: p for p in data.get("products", [])}
        self.orders = {o["id"]: {**{part: [] for part in ORDER_PARTS}, **o} for o in data.get("orders", [])}
        items = [i for o in self.orders.values() for i in o["items"]]
        comments = [c for o in self.orders.values() for c in o["comments"]]
        self._next = {kind: max((row["id"] + 1 for row in rows), default=FIRST_IDS[kind]) for kind, rows in
                      [("people", self.people.values()), ("products", self.products.values()),
                       ("orders", self.orders.values()), ("items", items), ("comments", comments)]}
        self._next_number = max((o["number"] + 1 for o in self.orders.values()), default=1)
        # What managers removed in RO App's interface, for tests to read back.
        self.deleted: dict[str, list[int]] = {kind: list(data.get("deleted", {}).get(kind, []))
                                              for kind in ("people", "orders", "products")}
        self.merged_people: list[dict[str, Any]] = list(data.get("merged_people", []))
        for kind, ids in self.deleted.items():  # ids stay retired when a state() output is loaded
            self._next[kind] = max([self._next[kind], *(i + 1 for i in ids)])

    def snapshot(self) -> dict[str, Any]:
        """Everything held, orders with their items, comments and status history, and the
        ids managers deleted (``deleted``) or merged away (``merged_people``)."""
        orders = [{**o, **v.order_totals(o["items"])} for o in self.orders.values()]
        return copy.deepcopy({"generated_at": self.generated_at, **self.reference,
                              "people": list(self.people.values()), "products": list(self.products.values()),
                              "orders": orders, "deleted": self.deleted,
                              "merged_people": self.merged_people})

    def ids(self, kind: str) -> Callable[[], set[int]]:
        """The ids of one kind of reference data, read when called."""
        return lambda: {row["id"] for row in self.reference[kind]}

    def _list(self, request: Request, rows: list[dict[str, Any]]) -> Response:
        return Response(200, v.page_of(rows, request.query, self.list_format))

    def _new_id(self, kind: str) -> int:
        self._next[kind] += 1
        return self._next[kind] - 1

    # --- reference data ---------------------------------------------------------------

    def list_branches(self, request: Request, body: dict) -> Response:
        return self._list(request, self.reference["branches"])

    def list_employees(self, request: Request, body: dict) -> Response:
        return self._list(request, self.reference["employees"])

    def list_statuses(self, request: Request, body: dict) -> Response:
        return Response(200, self.reference["statuses"])

    def list_order_types(self, request: Request, body: dict) -> Response:
        return Response(200, self.reference["order_types"])

    def list_custom_fields(self, request: Request, body: dict) -> Response:
        return Response(200, self.reference["custom_fields"])

    # --- orders -----------------------------------------------------------------------

    def _order_checks(self) -> dict[str, v.Check]:
        employee = v.optional(v.reference(self.ids("employees"), "employee"))
        note = v.optional(v.text)
        return {
            "branch_id": v.reference(self.ids("branches"), "branch"),
            "order_type_id": v.reference(self.ids("order_types"), "order type"),
            "client_id": v.reference(lambda: self.people.keys(), "client"),
            "manager_id": employee, "assignee_id": employee,
            "malfunction": note, "manager_notes": note, "engineer_notes": note,
            "estimated_price": v.optional(v.number), "due_date": v.optional(v.timestamp), "urgent": v.flag,
            "custom_fields": self._custom_values,
        }

    def _custom_values(self, value: Any) -> dict[str, Any]:
        """``{"f<id>": value}`` naming existing fields; date-time fields take ISO-8601 with a zone."""
        values = v.custom_fields(self.ids("custom_fields"))(value)
        datetime_ids = {f["id"] for f in self.reference["custom_fields"] if f.get("type") == "datetime"}
        for key, entry in values.items():
            if int(key[1:]) in datetime_ids and entry is not None and not v.zoned_timestamp(entry):
                raise v.Invalid(f"has {key} = {entry!r}; a date-time field takes ISO-8601 with a zone, "
                                f"e.g. 2025-03-01T09:30:00Z")
        return values

    def _order(self, order_id: int) -> dict[str, Any]:
        if order_id not in self.orders:
            raise ApiError(404, "Not found")
        return self.orders[order_id]

    @staticmethod
    def _order_view(order: dict[str, Any]) -> dict[str, Any]:
        return {**{k: value for k, value in order.items() if k not in ORDER_PARTS}, **v.order_totals(order["items"])}

    def list_orders(self, request: Request, body: dict) -> Response:
        q = request.query
        wanted = {field: v.query_ints(q, name) for name, field in [
            ("ids", "id"), ("numbers", "number"), ("branches", "branch_id"), ("types", "order_type_id"),
            ("managers", "manager_id"), ("clients_ids", "client_id")]}
        statuses = v.query_ints(q, "statuses")
        phones = v.query_values(q, "client_phones")
        created, modified = v.query_range(q, "created_at"), v.query_range(q, "modified_at")
        clients = {p["id"] for p in self._people_with_phones(phones)} if phones is not None else set()

        def keep(order: dict[str, Any]) -> bool:
            if any(ids is not None and order[field] not in ids for field, ids in wanted.items()):
                return False
            if statuses is not None and (order["status"] or {}).get("id") not in statuses:
                return False
            if phones is not None and order["client_id"] not in clients:
                return False
            return v.in_range(order["created_at"], created) and v.in_range(order["modified_at"], modified)

        rows = [self._order_view(o) for o in self.orders.values() if keep(o)]
        return self._list(request, v.sort_rows(rows, (q.get("sort") or [None])[-1], ORDER_SORTS))

    def create_order(self, request: Request, body: dict) -> Response:
        fields = v.checked(body, self._order_checks(), ORDER_REQUIRED)
        now = self.clock.tick()
        order = {"id": self._new_id("orders"), "number": self._next_number, "branch_id": None,
                 "order_type_id": None, "client_id": None, "manager_id": None, "assignee_id": None,
                 "status": None, "malfunction": None, "manager_notes": None, "engineer_notes": None,
                 "estimated_price": None, "due_date": None, "urgent": False, "custom_fields": {},
                 "created_at": now, "modified_at": now, **fields, **{part: [] for part in ORDER_PARTS}}
        self._next_number += 1
        self.orders[order["id"]] = order
        return Response(201, self._order_view(order))

    def get_order(self, request: Request, body: dict, order_id: int) -> Response:
        return Response(200, self._order_view(self._order(order_id)))

    def update_order(self, request: Request, body: dict, order_id: int) -> Response:
        order = self._order(order_id)
        fields = v.checked(body, self._order_checks(), ORDER_REQUIRED, partial=True)
        order["custom_fields"].update(fields.pop("custom_fields", {}))
        order.update(fields, modified_at=self.clock.tick())
        return Response(200, self._order_view(order))

    def set_status(self, request: Request, body: dict, order_id: int) -> Response:
        order = self._order(order_id)
        fields = v.checked(body, {"status_id": v.reference(self.ids("statuses"), "status"),
                                  "comment": v.optional(v.text)}, ["status_id"])
        status = next(s for s in self.reference["statuses"] if s["id"] == fields["status_id"])
        now = self.clock.tick()
        order["status"] = {"id": status["id"], "name": status["name"]}
        order["status_history"].append({"status_id": status["id"], "name": status["name"],
                                        "comment": fields.get("comment"), "changed_at": now})
        order["modified_at"] = now
        return Response(200, self._order_view(order))

    # --- order items and comments -----------------------------------------------------

    def _item_checks(self) -> dict[str, v.Check]:
        return {"entity_id": v.reference(lambda: self.products.keys(), "product"), "quantity": v.positive,
                "price": v.number, "cost": v.number, "discount": v.optional(v.discount),
                "comment": v.optional(v.text)}

    def _item(self, order: dict[str, Any], item_id: int) -> dict[str, Any]:
        for item in order["items"]:
            if item["id"] == item_id:
                return item
        raise ApiError(404, "Not found")

    def list_items(self, request: Request, body: dict, order_id: int) -> Response:
        return self._list(request, self._order(order_id)["items"])

    def add_item(self, request: Request, body: dict, order_id: int) -> Response:
        order = self._order(order_id)
        fields = v.checked(body, self._item_checks(), ["entity_id"])
        product = self.products[fields["entity_id"]]
        # Products go on orders without touching stock: RO App's Cartum connector does the same.
        item = {"id": self._new_id("items"), "entity_id": product["id"], "title": product["title"], "quantity": 1,
                "price": _default_price(product), "cost": 0, "discount": None, "comment": None, **fields}
        v.check_item_discount(item)
        order["items"].append(item)
        order["modified_at"] = self.clock.tick()
        return Response(201, item)

    def update_item(self, request: Request, body: dict, order_id: int, item_id: int) -> Response:
        order = self._order(order_id)
        item = self._item(order, item_id)
        fields = v.checked(body, self._item_checks(), ["entity_id"], partial=True)
        if "entity_id" in fields:
            fields["title"] = self.products[fields["entity_id"]]["title"]
        v.check_item_discount({**item, **fields})
        item.update(fields)
        order["modified_at"] = self.clock.tick()
        return Response(200, item)

    def delete_item(self, request: Request, body: dict, order_id: int, item_id: int) -> Response:
        order = self._order(order_id)
        item = self._item(order, item_id)
        order["items"].remove(item)
        order["modified_at"] = self.clock.tick()
        return Response(200, item)

    def add_comment(self, request: Request, body: dict, order_id: int) -> Response:
        order = self._order(order_id)
        fields = v.checked(body, {"comment": v.text, "is_private": v.flag, "visibility": v.visibility}, ["comment"])
        private = fields.get("is_private") if self.comment_privacy == "is_private" else \
            fields.get("visibility") == "private"
        now = self.clock.tick()
        comment = {"id": self._new_id("comments"), "comment": fields["comment"], "is_private": bool(private),
                   "created_at": now}
        order["comments"].append(comment)
        order["modified_at"] = now
        return Response(201, comment)

    # --- people and products ----------------------------------------------------------

    PERSON_CHECKS = {"first_name": v.text, "last_name": v.optional(v.text), "email": v.optional(v.text),
                     "phones": v.phones, "address": v.optional(v.text), "notes": v.optional(v.text),
                     "custom_fields": v.custom_fields(None)}
    PRODUCT_CHECKS = {"title": v.text, "sku": v.optional(v.text), "code": v.optional(v.text),
                      "barcodes": v.strings, "description": v.optional(v.text), "prices": v.prices,
                      "cost": v.optional(v.number)}

    def _record(self, kind: str, fields: dict[str, Any], defaults: dict[str, Any]) -> Response:
        now = self.clock.tick()
        record = {"id": self._new_id(kind), **defaults, **fields, "created_at": now, "modified_at": now}
        getattr(self, kind)[record["id"]] = record
        if kind == "people":
            self.phone_index.put(record)
        return Response(201, record)

    def _update(self, kind: str, record_id: int, body: dict, checks: dict[str, v.Check], required: str) -> Response:
        record = getattr(self, kind).get(record_id)
        if record is None:
            raise ApiError(404, "Not found")
        fields = v.checked(body, checks, [required], partial=True)
        if "custom_fields" in fields:
            record["custom_fields"].update(fields.pop("custom_fields"))
        record.update(fields, modified_at=self.clock.tick())
        if kind == "people":
            self.phone_index.put(record)
        return Response(200, record)

    def list_people(self, request: Request, body: dict) -> Response:
        q = request.query
        ids, names, phones = v.query_ints(q, "ids"), v.query_values(q, "names"), v.query_values(q, "phones")
        emails = {e.lower() for e in v.query_values(q, "emails") or []} if self.undocumented_filters else set()
        created, modified = v.query_range(q, "created_at"), v.query_range(q, "modified_at")

        def keep(person: dict[str, Any]) -> bool:
            full = f"{person['first_name']} {person.get('last_name') or ''}".lower()
            return ((ids is None or person["id"] in ids)
                    and (names is None or any(n.lower() in full for n in names))
                    and (not emails or (person.get("email") or "").lower() in emails)
                    and v.in_range(person["created_at"], created) and v.in_range(person["modified_at"], modified))

        pool = self._people_with_phones(phones) if phones is not None else self.people.values()
        return self._list(request, [p for p in pool if keep(p)])

    def _people_with_phones(self, wanted: list[str]) -> list[dict[str, Any]]:
        """The people a ``phones[]`` filter matches, in the order ``people`` holds them:
        from the index when it can answer, else by a scan; the same rule either way."""
        candidates = self.phone_index.candidates(wanted)
        if candidates is None:
            return [p for p in self.people.values() if _phone_match(p, wanted)]
        found = [self.people[i] for i in candidates if i in self.people]
        return sorted((p for p in found if _phone_match(p, wanted)), key=lambda p: self.phone_index.position(p["id"]))

    def create_person(self, request: Request, body: dict) -> Response:
        fields = v.checked(body, self.PERSON_CHECKS, ["first_name"])
        return self._record("people", fields, {"first_name": None, "last_name": None, "email": None, "phones": [],
                                               "address": None, "notes": None, "custom_fields": {}})

    def get_person(self, request: Request, body: dict, person_id: int) -> Response:
        if person_id not in self.people:
            raise ApiError(404, "Not found")
        return Response(200, self.people[person_id])

    def update_person(self, request: Request, body: dict, person_id: int) -> Response:
        return self._update("people", person_id, body, self.PERSON_CHECKS, "first_name")

    def list_products(self, request: Request, body: dict) -> Response:
        q = request.query
        ids, skus, barcodes = v.query_ints(q, "ids"), v.query_values(q, "skus"), v.query_values(q, "barcodes")
        if not self.undocumented_filters:
            skus = barcodes = None
        rows = [p for p in self.products.values()
                if (ids is None or p["id"] in ids) and (skus is None or p["sku"] in skus)
                and (barcodes is None or set(barcodes) & set(p["barcodes"]))]
        return self._list(request, rows)

    def create_product(self, request: Request, body: dict) -> Response:
        fields = self._priced(v.checked(body, self.PRODUCT_CHECKS, ["title"]), [])
        return self._record("products", fields, {"title": None, "description": None, "code": None, "sku": None,
                                                 "barcodes": [], "prices": [], "cost": 0})

    def update_product(self, request: Request, body: dict, product_id: int) -> Response:
        product = self.products.get(product_id)
        fields = self._priced(v.checked(body, self.PRODUCT_CHECKS, ["title"], partial=True),
                              (product or {}).get("prices") or [])
        return self._update("products", product_id, fields, self.PRODUCT_CHECKS, "title")

    @staticmethod
    def _priced(fields: dict[str, Any], held: list[dict[str, Any]]) -> dict[str, Any]:
        """Written prices merged into the held ones by price type (no ``id``: the default)."""
        if "prices" in fields:
            prices = {p["id"]: dict(p) for p in held}
            for entry in fields["prices"]:
                type_id = entry.get("id", DEFAULT_PRICE_TYPE)
                prices[type_id] = {"id": type_id, "price": entry["price"]}
            fields["prices"] = sorted(prices.values(), key=lambda p: p["id"])
        return fields

    # --- what a manager does in RO App's interface (admin actions) --------------------

    def _existing(self, kind: str, record_id: Any) -> dict[str, Any]:
        rows = getattr(self, kind)
        if isinstance(record_id, bool) or not isinstance(record_id, int) or record_id not in rows:
            raise ValueError(f"no {kind} record with id {record_id!r}")
        return rows[record_id]

    def _delete(self, kind: str, record_id: Any) -> dict[str, Any]:
        record = self._existing(kind, record_id)
        del getattr(self, kind)[record_id]
        if kind == "people":
            self.phone_index.drop(record_id)
        self.deleted[kind].append(record_id)
        return record

    def delete_person(self, person_id: Any) -> dict[str, Any]:
        """The person is gone: GET/PATCH answer 404, a new order naming it 422."""
        return self._delete("people", person_id)

    def delete_order(self, order_id: Any) -> dict[str, Any]:
        """The order is gone, with its items, comments and status history: 404 on all."""
        return self._delete("orders", order_id)

    def delete_product(self, product_id: Any) -> dict[str, Any]:
        """The product is gone: PATCH answers 404, a new order item naming it 422."""
        return self._delete("products", product_id)

    def merge_people(self, keep_id: Any, drop_id: Any) -> dict[str, Any]:
        """RO App's "merge duplicates": ``drop``'s orders move to ``keep`` (their
        ``modified_at`` moves), ``drop``'s phones that ``keep`` lacks (the same phone: the
        digits of one end with the digits of the other, so ``067 111 22 33`` is
        ``+380671112233``) are appended to ``keep``'s, its e-mail fills ``keep``'s when that is empty, and
        ``drop`` is deleted."""
        keep, drop = self._existing("people", keep_id), self._existing("people", drop_id)
        if keep_id == drop_id:
            raise ValueError("merge_people needs two different people")
        now = self.clock.tick()
        moved = []
        for order in self.orders.values():
            if order["client_id"] == drop_id:
                order["client_id"], order["modified_at"] = keep_id, now
                moved.append(order["id"])
        for phone in drop["phones"]:
            if not any(_same_phone(phone["phone"], p["phone"]) for p in keep["phones"]):
                keep["phones"].append(copy.deepcopy(phone))
        if not keep.get("email") and drop.get("email"):
            keep["email"] = drop["email"]
        keep["modified_at"] = now
        self.phone_index.put(keep)
        self._delete("people", drop_id)
        merge = {"keep": keep_id, "drop": drop_id, "orders": moved, "at": now}
        self.merged_people.append(merge)
        return {**merge, "person": keep}


def _same_phone(a: str, b: str) -> bool:
    a, b = v.digits(a), v.digits(b)
    short, long = sorted((a, b), key=len)
    return a == b or (len(short) >= 7 and long.endswith(short))


def _phone_match(person: dict[str, Any] | None, wanted: list[str]) -> bool:
    have = [v.digits(p["phone"]) for p in (person or {}).get("phones", [])]
    return any(w and w in h for w in map(v.digits, wanted) for h in have)


class PhoneIndex:
    """Every run of ``WINDOW`` consecutive digits of each person's phones → the people
    whose phones hold it. A filter value of at least ``WINDOW`` digits occurs in a phone
    only if its last ``WINDOW`` digits do, so the index yields every person the rule can
    match (and some it does not: callers check each with ``_phone_match``). People keep
    the position they were added at, so answers keep the contact base's order."""

    WINDOW = 9

    def __init__(self) -> None:
        self._ids: dict[str, set[int]] = {}
        self._keys: dict[int, set[str]] = {}
        self._positions: dict[int, int] = {}
        self._added = 0

    def put(self, person: dict[str, Any]) -> None:
        """Index a new person, or again after its phones changed."""
        person_id = person["id"]
        self._unlink(person_id)
        if person_id not in self._positions:
            self._positions[person_id], self._added = self._added, self._added + 1
        keys = {d[i:i + self.WINDOW] for d in (v.digits(p["phone"]) for p in person.get("phones") or [])
                for i in range(len(d) - self.WINDOW + 1)}
        self._keys[person_id] = keys
        for key in keys:
            self._ids.setdefault(key, set()).add(person_id)

    def drop(self, person_id: int) -> None:
        self._unlink(person_id)
        self._positions.pop(person_id, None)

    def _unlink(self, person_id: int) -> None:
        for key in self._keys.pop(person_id, ()):
            self._ids[key].discard(person_id)
            if not self._ids[key]:
                del self._ids[key]

    def candidates(self, wanted: list[str]) -> set[int] | None:
        """The ids that may match ``wanted``; None when a value is too short for the index
        (values with no digit match nothing)."""
        values = [d for d in map(v.digits, wanted) if d]
        if any(len(d) < self.WINDOW for d in values):
            return None
        return set().union(*(self._ids.get(d[-self.WINDOW:], set()) for d in values))

    def position(self, person_id: int) -> int:
        return self._positions[person_id]



def _default_price(product: dict[str, Any]) -> float | int:
    """The product's price of the default price type (0 when it has none)."""
    return next((p["price"] for p in product.get("prices") or [] if p["id"] == DEFAULT_PRICE_TYPE), 0)
