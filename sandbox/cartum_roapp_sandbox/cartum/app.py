"""The Cartum (Horoshop-compatible) store API, emulated: see /work/shared/contracts/cartum-api.md.

Every function is ``POST /api/{function}/`` with a JSON body, answered with the envelope
``{"status": ..., "response": {...}}`` and HTTP 200 even on errors. Faults, latency, the
request log and the ``/_sandbox/`` admin routes come from :mod:`..server`; this module only
answers the API and the app-specific admin actions.

Choices where the contract is silent (kept here, in one place):
- a path without the trailing slash, or outside ``/api/``, gets an HTML 404 page; a
  method other than POST an HTML 405 page;
- ``limit`` of 0 (or absent) means "no limit" (``catalog/export``: the 500 cap), and
  ``offset`` is ignored unless ``limit`` is sent, on every paged function;
- ``orders/update`` applies each item all-or-nothing: an item with an unknown status or a
  bad paid flag is skipped whole and logged; both ``payed`` and ``paid`` are accepted;
- parameters of the wrong type answer ``ERROR`` with a message naming the parameter;
- ``orders/get`` answers by order id ascending by default.

Paging behaviour of real platforms, on demand (``set_orders_paging``, ``--orders-page-cap``,
``--orders-sort``): ``page_cap`` caps ``orders/get`` pages silently (ask 100, get 50);
``sort`` ``newest_first`` answers by ``stat_created`` descending (order id descending among
equal times). ``schedule_order_changes`` deletes and upserts orders right after the N-th
``orders/get`` answer from now, so a test changes the store while a window is being read.
``set_misbehaviour`` makes a function's pages endless, repeated or oversized
(``misbehaviour.py``).

Profiles (``profile.py``: ``documented``, the default, or ``alternative``, and single
flags) choose the side of each disagreement between the public sources the API serves:
an order's ``user`` as a number or an object, and a bot filter answering script-like
User-Agents with a JS-challenge page. Stored, ``user`` is always an object or null; an
admin upsert takes a number too.
"""

from __future__ import annotations

import copy
import secrets
import threading
import time
from datetime import datetime
from typing import Any, Callable

from ..server import FaultSettings, Request, Response, html_page
from .misbehaviour import Misbehaviour
from .profile import Profile, challenge, present_order, profile as make_profile
from .seed import DATE_FORMAT, CartumSeedConfig, generate, store_now, title_in

MAX_BODY_BYTES = 130_000
CATALOG_LIMIT = 500
API_DISABLED = {"message": "API access is not available on the current tariff plan", "code": "API_DISABLED"}
SECRET_KEYS = ("token", "password")
EXPIRED_TOKENS_KEPT_S = 3600.0  # expired tokens still answer UNAUTHORIZED for this long

NUMBER = (int, float)
# Field types an admin upsert must respect, so a bad payload is a 400 now rather than
# a crash later on an API call.
ORDER_FIELDS = {"stat_status": int, "stat_created": str, "lang": str, "user": (dict, int, type(None)),
                "products": list, "delivery_type": dict, "payment_type": dict, "delivery_price": NUMBER,
                "payed": int, "total_default": NUMBER, "total_sum": NUMBER, "total_quantity": NUMBER}
LINE_FIELDS = {"article": str, "title": str, "price": NUMBER, "quantity": int, "total_price": NUMBER, "type": str}
PRODUCT_FIELDS = {"article": str, "parent_article": str, "title": dict, "description": dict, "price": NUMBER,
                  "price_old": NUMBER, "quantity": NUMBER, "parent": dict, "display_in_showcase": int}
USER_FIELDS = {"id": int, "registered": str}
ORDER_SORTS = ("id", "newest_first")

Handler = Callable[[dict[str, Any], FaultSettings], tuple[str, dict[str, Any]]]


class ApiError(Exception):
    """A bad call, answered as ``{"status": "ERROR", "response": {"message": ...}}``."""


def envelope(status: str, response: dict[str, Any] | None = None) -> Response:
    return Response(200, {"status": status, "response": response if response is not None else {}})


class CartumSandbox:
    """One Cartum store: its orders, catalogue, customers and statuses, behind the API."""

    name = "cartum"

    def __init__(self, data: dict[str, Any], login: str = "sandbox_admin", password: str = "sandbox-password", *,
                 profile: str = "documented", profile_flags: dict[str, Any] | None = None):
        data = copy.deepcopy(data)
        self.profile: Profile = make_profile(profile, **(profile_flags or {}))
        self.login = login
        self.password = password
        self.api_access = True
        self.statuses_function = True
        self.orders_page_cap: int | None = None
        self.orders_sort = "id"
        self._order_changes: list[dict[str, Any]] = []  # scheduled by schedule_order_changes
        self.misbehaviour = Misbehaviour()  # set_misbehaviour: endless, repeated or oversized answers
        self._orders: dict[int, dict[str, Any]] = {o["order_id"]: o for o in data.get("orders", [])}
        self._products: dict[str, dict[str, Any]] = {p["article"]: p for p in data.get("products", [])}
        self._users: dict[int, dict[str, Any]] = {u["id"]: u for u in data.get("users", [])}
        self._statuses: dict[int, dict[str, Any]] = {s["id"]: s for s in data.get("statuses", [])}
        # Malformed records served as they are (``upsert_raw``): any JSON value, per function.
        self._raw: dict[str, list[Any]] = {"orders": [], "users": [], "products": []}
        self.languages = self._languages_of(data)
        self._tokens: dict[str, float] = {}  # token -> expiry, time.monotonic()
        self._lock = threading.RLock()
        self._functions: dict[str, Handler] = {
            "auth": self._auth, "orders/get": self._orders_get, "orders/update": self._orders_update,
            "orders/get_available_statuses": self._get_statuses, "catalog/export": self._catalog_export,
            "users/export": self._users_export,
        }

    @classmethod
    def seeded(cls, *, login: str = "sandbox_admin", password: str = "sandbox-password",
               profile: str = "documented", profile_flags: dict[str, Any] | None = None,
               **seed_config: Any) -> "CartumSandbox":
        """A sandbox over ``generate(CartumSeedConfig(**seed_config))``."""
        return cls(generate(CartumSeedConfig(**seed_config)), login=login, password=password, profile=profile,
                   profile_flags=profile_flags)

    @staticmethod
    def _languages_of(data: dict[str, Any]) -> list[str]:
        for status in data.get("statuses", []):
            if status.get("title"):
                return list(status["title"])
        return ["ua"]

    # --- SandboxApp protocol ----------------------------------------------------------

    def handle(self, request: Request, faults: FaultSettings) -> Response | None:
        if len(request.body) > MAX_BODY_BYTES:
            return None  # the real front end drops such connections
        blocked = challenge(self.profile, request.headers.get("user-agent"))
        if blocked is not None:
            return blocked  # the bot filter sits in front of everything, /api/ included
        path = request.path
        if not (path.startswith("/api/") and path.endswith("/") and len(path) > len("/api//")):
            return html_page(404, "Not Found")
        if request.method != "POST":
            return html_page(405, "Method Not Allowed")
        function = path[len("/api/"):-1]
        with self._lock:
            if not self.api_access:
                return envelope("ERROR", dict(API_DISABLED))
            try:
                body = request.json()
            except ValueError:
                return envelope("ERROR", {"message": "Malformed JSON in request body"})
            if not isinstance(body, dict):
                return envelope("ERROR", {"message": "Request body must be a JSON object"})
            handler = self._functions.get(function)
            if handler is None or (function == "orders/get_available_statuses" and not self.statuses_function):
                return envelope("UNDEFINED_FUNCTION", {"message": f"Function '{function}' is not defined"})
            if function != "auth":
                refusal = self._check_token(body.get("token"))
                if refusal is not None:
                    return refusal
            try:
                cap = {"catalog/export": CATALOG_LIMIT, "orders/get": self.orders_page_cap}.get(function)
                status, response = self.misbehaviour.answer(function, body, cap, lambda b: handler(b, faults))
            except ApiError as exc:
                return envelope("ERROR", {"message": str(exc)})
            # a deep copy: the answer is serialised after the lock is released
            return envelope(status, copy.deepcopy(response))

    def rate_key(self, request: Request) -> str | None:
        return None  # Cartum documents no rate limit

    def is_write(self, request: Request) -> bool:
        """Every function is a POST; only ``orders/update`` changes anything (for the
        server's ``apply_error_rate``)."""
        return request.path.rstrip("/") == "/api/orders/update"

    def log_body(self, request: Request) -> Any:
        if len(request.body) > MAX_BODY_BYTES:
            return {"oversized_body_bytes": len(request.body)}  # not worth keeping whole
        try:
            return _mask_secrets(request.json())
        except ValueError:
            return None

    def state(self) -> dict[str, Any]:
        with self._lock:
            now = time.monotonic()
            return copy.deepcopy({
                "orders": [self._orders[k] for k in sorted(self._orders)],
                "products": [self._products[k] for k in sorted(self._products)],
                "users": [self._users[k] for k in sorted(self._users)],
                "statuses": [self._statuses[k] for k in sorted(self._statuses)],
                "languages": self.languages,
                "api_access": self.api_access,
                "statuses_function": self.statuses_function,
                "orders_paging": {"page_cap": self.orders_page_cap, "sort": self.orders_sort},
                "profile": self.profile.as_dict(),
                "scheduled_order_changes": self._order_changes,
                "misbehaviour": self.misbehaviour.state(),
                "login": self.login,
                "active_tokens": sum(1 for expiry in self._tokens.values() if expiry > now),
            })

    def admin(self, action: str, payload: Any) -> Any:
        actions: dict[str, Callable[[Any], Any]] = {
            "upsert_orders": self._upsert_orders, "upsert_products": self._upsert_products,
            "upsert_users": self._upsert_users, "remove_products": self._remove_products,
            "expire_tokens": self._expire_tokens, "set_api_access": self._set_api_access,
            "set_credentials": self._set_credentials, "set_statuses_function": self._set_statuses_function,
            "add_statuses": self._add_statuses, "delete_orders": self._delete_orders,
            "set_orders_paging": self._set_orders_paging, "schedule_order_changes": self._schedule_order_changes,
            "set_profile": self._set_profile, "set_misbehaviour": self.misbehaviour.set,
            "upsert_raw_orders": self._upsert_raw_orders, "upsert_raw_users": self._upsert_raw_users,
            "upsert_raw_products": self._upsert_raw_products, "clear_raw": self._clear_raw,
        }
        if action not in actions:
            raise KeyError(f"known actions: {sorted(actions)}")
        with self._lock:
            return copy.deepcopy(actions[action](payload))

    # --- tokens -----------------------------------------------------------------------

    def _check_token(self, token: Any) -> Response | None:
        expiry = self._tokens.get(token) if isinstance(token, str) else None
        if expiry is None:
            return envelope("AUTHORIZATION_ERROR", {"message": "Invalid token"})
        if expiry <= time.monotonic():
            return envelope("UNAUTHORIZED", {"message": "Token expired"})
        return None

    def _auth(self, body: dict[str, Any], faults: FaultSettings) -> tuple[str, dict[str, Any]]:
        login, password = body.get("login"), body.get("password")
        if not login or not password or login != self.login or password != self.password:
            return "ERROR", {"message": "Incorrect login or password"}
        now = time.monotonic()
        self._tokens = {t: e for t, e in self._tokens.items() if e > now - EXPIRED_TOKENS_KEPT_S}
        token = secrets.token_hex(16)
        self._tokens[token] = now + faults.token_ttl
        return "OK", {"token": token}

    # --- API functions ----------------------------------------------------------------

    def _orders_get(self, body: dict[str, Any], faults: FaultSettings) -> tuple[str, dict[str, Any]]:
        start, stop = _date_bound(body.get("from"), "from", False), _date_bound(body.get("to"), "to", True)
        ids = set(_int_list(body.get("ids"), "ids")) if body.get("ids") not in (None, "", []) else None
        status = _int_list(body.get("status"), "status") if body.get("status") not in (None, "", []) else None
        rows = [o for _, o in sorted(self._orders.items())
                if (start is None or o["stat_created"] >= start) and (stop is None or o["stat_created"] <= stop)
                and (ids is None or o["order_id"] in ids) and (status is None or o["stat_status"] in status)]
        if self.orders_sort == "newest_first":
            rows.sort(key=lambda o: (o["stat_created"], o["order_id"]), reverse=True)
        rows = [present_order(self.profile, {k: copy.deepcopy(v) for k, v in o.items() if k != "lang"}) for o in rows]
        rows += _raw_rows(self._raw["orders"], "stat_created", start, stop, ids)
        rows = _page(rows, body, cap=self.orders_page_cap)
        # the answer is taken before the scheduled changes: they land between two calls
        self._apply_due_order_changes()
        if not rows:
            return "EMPTY", {}
        return "OK", {"orders": rows}

    def _get_statuses(self, body: dict[str, Any], faults: FaultSettings) -> tuple[str, dict[str, Any]]:
        return "OK", {"statuses": [self._statuses[k] for k in sorted(self._statuses)]}

    def _orders_update(self, body: dict[str, Any], faults: FaultSettings) -> tuple[str, dict[str, Any]]:
        items = body.get("orders")
        if not isinstance(items, list) or not items:
            raise ApiError("Parameter 'orders' must be a non-empty list")
        log = []
        for item in items:
            order_id = item.get("order_id") if isinstance(item, dict) else None
            problem = self._apply_update(item, order_id)
            if problem is not None:
                log.append({"order_id": order_id, "code": problem[0], "message": problem[1]})
        return ("WARNING", {"log": log}) if log else ("OK", {})

    def _apply_update(self, item: Any, order_id: Any) -> tuple[str, str] | None:
        """Apply one update item; (code, message) when it is refused."""
        order = self._orders.get(_as_int(order_id))
        if order is None:
            return "ORDER_NOT_FOUND", f"Order {order_id} not found"
        changes: dict[str, Any] = {}
        if "status" in item:
            status = _as_int(item["status"])
            if status not in self._statuses:
                return "INVALID_STATUS", f"Unknown status {item['status']!r}"
            changes["stat_status"] = status
        paid = item.get("payed", item.get("paid"))
        if paid is not None:
            if paid not in (0, 1, "0", "1"):  # True/False compare equal to 1/0
                return "INVALID_PAYED", f"Invalid paid flag {paid!r}"
            changes["payed"] = int(paid)
        if item.get("tracking_code") is not None:
            changes["tracking_code"] = str(item["tracking_code"])
        order.update(changes)
        return None

    def _catalog_export(self, body: dict[str, Any], faults: FaultSettings) -> tuple[str, dict[str, Any]]:
        expr = body.get("expr") or {}
        if not isinstance(expr, dict):
            raise ApiError("Parameter 'expr' must be an object")
        articles = expr.get("article")
        if isinstance(articles, str):
            articles = {articles}
        elif isinstance(articles, list):
            articles = {str(a) for a in articles}
        elif articles is not None:
            raise ApiError("expr.article must be a string or a list")
        parents = set(_int_list(expr["parent"], "expr.parent")) if expr.get("parent") is not None else None
        showcase = expr.get("display_in_showcase")
        if showcase is not None:
            showcase = 1 if showcase in (1, "1") else 0  # True == 1 too
        rows = [p for _, p in sorted(self._products.items())
                if (articles is None or p["article"] in articles)
                and (parents is None or (p.get("parent") or {}).get("id") in parents)
                and (showcase is None or int(p.get("display_in_showcase", 1)) == showcase)]
        rows = [_project(p, body.get("includedParams"), body.get("excludedParams")) for p in rows]
        rows += [copy.deepcopy(p) for p in self._raw["products"]
                 if articles is None or (isinstance(p, dict) and str(p.get("article")) in articles)]
        rows = _page(rows, body, cap=CATALOG_LIMIT)
        if not rows:
            return "EMPTY", {}
        return "OK", {"products": rows}

    def _users_export(self, body: dict[str, Any], faults: FaultSettings) -> tuple[str, dict[str, Any]]:
        start, stop = _date_bound(body.get("from"), "from", False), _date_bound(body.get("to"), "to", True)
        rows = [u for _, u in sorted(self._users.items())
                if (start is None or u["registered"] >= start) and (stop is None or u["registered"] <= stop)]
        rows += _raw_rows(self._raw["users"], "registered", start, stop, None)
        rows = _page(rows, body, cap=None)
        if not rows:
            return "EMPTY", {}
        return "OK", {"users": rows}

    # --- admin actions ----------------------------------------------------------------

    def _upsert_orders(self, payload: Any) -> dict[str, Any]:
        merged = {}
        for item in _dict_list(payload, "upsert_orders"):
            order_id = item.get("order_id")
            if not isinstance(order_id, int) or isinstance(order_id, bool):
                raise ValueError(f"every order needs an integer order_id: {item!r}")
            order = {**(merged.get(order_id) or self._orders.get(order_id) or self._new_order(order_id)),
                     **copy.deepcopy(item)}
            _check_types(order, ORDER_FIELDS, f"order {order_id}")
            if isinstance(order["user"], int):  # stored as an object, whatever the profile answers
                order["user"] = {"id": order["user"]}
            if order["stat_status"] not in self._statuses:
                raise ValueError(f"order {order_id}: unknown status {order['stat_status']!r}")
            _check_date(order["stat_created"], f"order {order_id}: stat_created")
            if "products" in item:
                order["products"] = [self._complete_line(line, order["lang"]) for line in item["products"]]
                total = round(sum(line["total_price"] for line in order["products"]), 2)
                computed = {"total_default": total, "total_sum": total,
                            "total_quantity": sum(line["quantity"] for line in order["products"])}
                order.update({k: v for k, v in computed.items() if k not in item})  # given totals win
            merged[order_id] = order
        self._orders.update(merged)  # only once every item is valid
        # Cartum fixed them: a malformed record with the same order_id is served no more.
        self._raw["orders"] = [r for r in self._raw["orders"] if not (
            isinstance(r, dict) and type(r.get("order_id")) is int and r["order_id"] in merged)]
        return {"orders": list(merged.values())}

    def _upsert_raw(self, kind: str, key: str, payload: Any) -> dict[str, Any]:
        """Store ``payload[kind]`` (a list of any JSON values) as malformed records, served as
        they are after the well-formed ones. An object whose ``key`` equals a stored raw
        record's replaces it."""
        if not isinstance(payload, dict) or not isinstance(payload.get(kind), list):
            raise ValueError(f"upsert_raw_{kind} takes {{{kind!r}: [any JSON values]}}")
        for item in copy.deepcopy(payload[kind]):
            ident = item.get(key) if isinstance(item, dict) else None
            if ident is not None:
                self._raw[kind] = [r for r in self._raw[kind] if not (isinstance(r, dict) and r.get(key) == ident)]
            self._raw[kind].append(item)
        return {kind: self._raw[kind]}

    def _upsert_raw_orders(self, payload: Any) -> dict[str, Any]:
        """Malformed orders, served by ``orders/get`` as they are: an object whose
        ``stat_created`` is a text is served within windows that include it (text order),
        asked by ``ids`` when its ``order_id`` is one of them; anything else (``null``, a
        text, a list, an object without a text time) in every window without an end."""
        return self._upsert_raw("orders", "order_id", payload)

    def _upsert_raw_users(self, payload: Any) -> dict[str, Any]:
        """Malformed customers for ``users/export`` (windows by ``registered``, as orders)."""
        return self._upsert_raw("users", "id", payload)

    def _upsert_raw_products(self, payload: Any) -> dict[str, Any]:
        """Malformed products for ``catalog/export`` (every read, or asked by article)."""
        return self._upsert_raw("products", "article", payload)

    def _clear_raw(self, payload: Any) -> dict[str, Any]:
        """Forget malformed records: all, or ``{"orders": [order_id, ...]}`` (and ``users``,
        ``products`` by id / article)."""
        payload = payload or {}
        keys = {"orders": "order_id", "users": "id", "products": "article"}
        for kind, key in keys.items():
            if not payload:
                self._raw[kind] = []
            elif kind in payload:
                drop = payload[kind]
                self._raw[kind] = [r for r in self._raw[kind] if not (isinstance(r, dict) and r.get(key) in drop)]
        return {kind: len(rows) for kind, rows in self._raw.items()}

    def _new_order(self, order_id: int) -> dict[str, Any]:
        return {
            "order_id": order_id, "stat_status": 1, "stat_created": store_now().strftime(DATE_FORMAT),
            "delivery_name": "", "delivery_email": "", "delivery_phone": "", "delivery_city": "",
            "delivery_address": "", "delivery_type": {"id": 3, "title": "Самовивіз"}, "delivery_price": -1,
            "payment_type": {"id": 1, "title": "Накладений платіж"}, "payed": 0, "total_default": 0,
            "total_sum": 0, "total_quantity": 0, "currency": "UAH", "comment": "", "user": None,
            "lang": self.languages[0], "products": [],
        }

    def _complete_line(self, line: Any, lang: str) -> dict[str, Any]:
        """An order line with what is missing taken from the catalogue."""
        if not isinstance(line, dict) or not isinstance(line.get("article"), str) or not line["article"]:
            raise ValueError(f"an order line needs an article: {line!r}")
        _check_types(line, LINE_FIELDS, f"line {line['article']}")
        product = self._products.get(line["article"], {})
        done = {"article": line["article"],
                "title": title_in(product.get("title", {}), lang, self.languages, line["article"]),
                "price": product.get("price", 0), "quantity": 1, "type": "product", **line}
        if done["quantity"] < 1:
            raise ValueError(f"line {line['article']}: quantity must be >= 1")
        done.setdefault("total_price", round(done["price"] * done["quantity"], 2))
        return done

    def _upsert_products(self, payload: Any) -> dict[str, Any]:
        merged = {}
        for item in _dict_list(payload, "upsert_products"):
            article = item.get("article")
            if not isinstance(article, str) or not article:
                raise ValueError(f"every product needs an article: {item!r}")
            _check_types(item, PRODUCT_FIELDS, f"product {article}")
            new = {"article": article, "parent_article": article, "title": {}, "description": {}, "price": 0,
                   "price_old": 0, "presence": "Немає в наявності", "quantity": 0, "gtin": "", "mpn": "",
                   "parent": {"id": 0}, "display_in_showcase": 1}
            merged[article] = {**(merged.get(article) or self._products.get(article) or new), **copy.deepcopy(item)}
        self._products.update(merged)
        return {"products": list(merged.values())}

    def _upsert_users(self, payload: Any) -> dict[str, Any]:
        merged = {}
        for item in _dict_list(payload, "upsert_users"):
            user_id = item.get("id")
            if not isinstance(user_id, int) or isinstance(user_id, bool):
                raise ValueError(f"every user needs an integer id: {item!r}")
            _check_types(item, USER_FIELDS, f"user {user_id}")
            new = {"id": user_id, "title": "", "email": "", "phone": "", "country": "", "city": "", "address": "",
                   "registered": store_now().strftime(DATE_FORMAT)}
            user = {**(merged.get(user_id) or self._users.get(user_id) or new), **copy.deepcopy(item)}
            _check_date(user["registered"], f"user {user_id}: registered")
            merged[user_id] = user
        self._users.update(merged)
        return {"users": list(merged.values())}

    def _remove_products(self, payload: Any) -> dict[str, Any]:
        if not isinstance(payload, list) or not all(isinstance(a, str) for a in payload):
            raise ValueError("remove_products takes a list of articles")
        removed = [a for a in payload if self._products.pop(a, None) is not None]
        return {"removed": removed, "not_found": [a for a in payload if a not in removed]}

    def _expire_tokens(self, payload: Any) -> dict[str, Any]:
        now = time.monotonic()
        for token, expiry in self._tokens.items():
            self._tokens[token] = min(expiry, now - 0.001)
        return {"expired": len(self._tokens)}

    def _set_api_access(self, payload: Any) -> dict[str, Any]:
        self.api_access = _flag(payload, "enabled")
        return {"api_access": self.api_access}

    def _set_credentials(self, payload: Any) -> dict[str, Any]:
        if not isinstance(payload, dict) or not all(isinstance(payload.get(k), str) and payload[k]
                                                    for k in ("login", "password")):
            raise ValueError('set_credentials takes {"login": "...", "password": "..."}')
        self.login, self.password = payload["login"], payload["password"]
        return {"login": self.login}

    def _delete_orders(self, payload: Any) -> dict[str, Any]:
        """Delete orders, as a store admin does: ``orders/get`` no longer returns them."""
        if not isinstance(payload, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in payload):
            raise ValueError("delete_orders takes a list of order ids")
        deleted = [i for i in payload if self._orders.pop(i, None) is not None]
        return {"deleted": deleted, "not_found": [i for i in payload if i not in deleted]}

    def _set_profile(self, payload: Any) -> dict[str, Any]:
        """``{"name": "documented"|"alternative", ...flags}`` (see ``profile.py``); answers the flags."""
        flags = dict(payload) if isinstance(payload, dict) else {"name": payload}
        self.profile = make_profile(str(flags.pop("name", "documented")), **flags)
        return self.profile.as_dict()

    def _set_orders_paging(self, payload: Any) -> dict[str, Any]:
        if not isinstance(payload, dict) or set(payload) - {"page_cap", "sort"}:
            raise ValueError('set_orders_paging takes {"page_cap": N or null, "sort": "id" or "newest_first"}')
        cap = payload.get("page_cap", self.orders_page_cap)
        if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 1):
            raise ValueError(f"page_cap must be a positive integer or null, got {cap!r}")
        sort = payload.get("sort", self.orders_sort)
        if sort not in ORDER_SORTS:
            raise ValueError(f"sort must be one of {ORDER_SORTS}, got {sort!r}")
        self.orders_page_cap, self.orders_sort = cap, sort
        return {"page_cap": cap, "sort": sort}

    def _schedule_order_changes(self, payload: Any) -> dict[str, Any]:
        """``{"after_calls": N, "delete": [ids], "upsert": [orders]}``: applied right after
        the N-th ``orders/get`` answer from now (N >= 1), before the next request."""
        if not isinstance(payload, dict) or set(payload) - {"after_calls", "delete", "upsert"}:
            raise ValueError('schedule_order_changes takes {"after_calls": N, "delete": [ids], "upsert": [orders]}')
        after = payload.get("after_calls")
        if isinstance(after, bool) or not isinstance(after, int) or after < 1:
            raise ValueError(f"after_calls must be an integer of at least 1, got {after!r}")
        delete, upsert = payload.get("delete", []), payload.get("upsert", [])
        if not isinstance(delete, list) or not all(isinstance(i, int) for i in delete):
            raise ValueError("delete takes a list of order ids")
        _dict_list(upsert, "upsert")
        self._order_changes.append({"calls_left": after, "delete": list(delete), "upsert": copy.deepcopy(upsert)})
        return {"scheduled": self._order_changes}

    def _apply_due_order_changes(self) -> None:
        for change in list(self._order_changes):
            change["calls_left"] -= 1
            if change["calls_left"] <= 0:
                self._order_changes.remove(change)
                self._delete_orders(change["delete"])
                if change["upsert"]:
                    self._upsert_orders(change["upsert"])

    def _set_statuses_function(self, payload: Any) -> dict[str, Any]:
        self.statuses_function = _flag(payload, "available")
        return {"statuses_function": self.statuses_function}

    def _add_statuses(self, payload: Any) -> dict[str, Any]:
        added = {}
        for item in _dict_list(payload, "add_statuses"):
            status_id, title = item.get("id"), item.get("title")
            if not isinstance(status_id, int) or isinstance(status_id, bool):
                raise ValueError(f"every status needs an integer id: {item!r}")
            if isinstance(title, str):  # one name for every language
                title = {lang: title for lang in self.languages}
            if not isinstance(title, dict) or not title:
                raise ValueError(f"status {status_id}: title must be a string or an object keyed by language")
            added[status_id] = {"id": status_id, "title": title, "is_successful": int(bool(item.get("is_successful")))}
        self._statuses.update(added)
        return {"statuses": [self._statuses[k] for k in sorted(self._statuses)]}


# --- parameter helpers ----------------------------------------------------------------

def _raw_rows(raw: list[Any], time_field: str, start: str | None, stop: str | None,
              ids: set[int] | None) -> list[Any]:
    """The malformed records a read answers (``upsert_raw_orders``)."""
    rows = []
    for row in raw:
        at = row.get(time_field) if isinstance(row, dict) else None
        if ids is not None:
            keep = isinstance(row, dict) and type(row.get("order_id")) is int and row.get("order_id") in ids
        elif isinstance(at, str):
            keep = (start is None or at >= start) and (stop is None or at <= stop)
        else:
            keep = stop is None
        if keep:
            rows.append(copy.deepcopy(row))
    return rows


def _date_bound(value: Any, name: str, end_of_day: bool) -> str | None:
    """A ``from``/``to`` bound as a comparable ``YYYY-MM-DD HH:MM:SS``; a bare date covers its whole day."""
    if value in (None, ""):
        return None
    if isinstance(value, str):
        try:
            return datetime.strptime(value, DATE_FORMAT).strftime(DATE_FORMAT)
        except ValueError:
            pass
        try:
            day = datetime.strptime(value, "%Y-%m-%d").strftime("%Y-%m-%d")
            return f"{day} 23:59:59" if end_of_day else f"{day} 00:00:00"
        except ValueError:
            pass
    raise ApiError(f"Parameter '{name}' must be YYYY-MM-DD or YYYY-MM-DD HH:MM:SS, got {value!r}")


def _int_list(value: Any, name: str) -> list[int]:
    values = value if isinstance(value, list) else [value]
    try:
        if any(isinstance(v, (bool, float)) for v in values):
            raise ValueError
        return [int(v) for v in values]
    except (TypeError, ValueError):
        raise ApiError(f"Parameter '{name}' must be an integer or a list of integers") from None


def _as_int(value: Any) -> int | None:
    """An id sent as a number or a numeric string; None for anything else."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def _non_negative(body: dict[str, Any], name: str) -> int:
    value = body.get(name)
    if value in (None, ""):
        return 0
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).isdigit():
        raise ApiError(f"Parameter '{name}' must be a non-negative integer")
    return int(value)


def _page(rows: list[Any], body: dict[str, Any], cap: int | None) -> list[Any]:
    """``limit``/``offset`` paging. ``offset`` only counts when a ``limit`` is sent, on every
    function: a client paging by offset alone gets the first page again and again."""
    limit_sent = body.get("limit") not in (None, "")
    limit = _non_negative(body, "limit")
    offset = _non_negative(body, "offset") if limit_sent else 0
    if cap is not None:
        limit = min(limit or cap, cap)
    if not limit:
        return rows
    return rows[offset:offset + limit]


def _project(product: dict[str, Any], included: Any, excluded: Any) -> dict[str, Any]:
    """``includedParams``/``excludedParams``: the article always stays, it is the key."""
    if isinstance(included, list) and included:
        product = {k: v for k, v in product.items() if k in included or k == "article"}
    if isinstance(excluded, list) and excluded:
        product = {k: v for k, v in product.items() if k not in excluded or k == "article"}
    return product


def _mask_secrets(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: "***" if k in SECRET_KEYS else _mask_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_secrets(v) for v in value]
    return value


def _dict_list(payload: Any, action: str) -> list[dict[str, Any]]:
    if not isinstance(payload, list) or not all(isinstance(item, dict) for item in payload):
        raise ValueError(f"{action} takes a list of objects")
    return payload


def _flag(payload: Any, key: str) -> bool:
    if not isinstance(payload, dict) or not isinstance(payload.get(key), bool):
        raise ValueError(f'this action takes {{"{key}": true|false}}')
    return payload[key]


def _check_types(record: dict[str, Any], schema: dict[str, Any], what: str) -> None:
    for key, types in schema.items():
        value = record.get(key)
        if key in record and (not isinstance(value, types) or isinstance(value, bool)):
            raise ValueError(f"{what}: {key} has the wrong type ({type(value).__name__})")
    user = record.get("user")
    user_id = user.get("id") if isinstance(user, dict) else user
    if user is not None and (not isinstance(user_id, int) or isinstance(user_id, bool) or user_id < 1):
        raise ValueError(f"{what}: user must be null, a positive user id or an object with one")
    if isinstance(record.get("parent"), dict) and not isinstance(record["parent"].get("id"), int):
        raise ValueError(f"{what}: parent must be an object with an integer category id")


def _check_date(value: Any, what: str) -> None:
    try:
        datetime.strptime(value, DATE_FORMAT)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be YYYY-MM-DD HH:MM:SS, got {value!r}") from None
