"""The Cartum side of the probe: six read calls, and the checks of the Cartum facts of
``assumptions.CARTUM_FACTS`` (each registered under the fact's name).

Calls: ``auth``; ``orders/get`` for the last ``ORDER_WINDOW_DAYS`` days, ``limit``
``ORDER_PAGE`` (the whole history when that window is empty: one more call);
``orders/get_available_statuses``; ``catalog/export`` and ``users/export`` with ``limit``
``SAMPLE``; and ``auth`` once more with python-requests' own User-Agent, to see whether a
bot filter sits in front of the store (our own User-Agent is the connection's).
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import requests

from .. import assumptions
from ..cartum.client import CartumClient, UndefinedFunctionError
from ..cartum.shapes import is_challenge_page, user_shape, value_shape as _shape
from ..transport import AccessDeniedError, ApiError, looks_like_html
from .core import CONFIRMED, CONTRADICTED, NOT_CHECKABLE, Observations, ReadOnlySession, check

ORDER_WINDOW_DAYS = 90
ORDER_PAGE = 100
SAMPLE = 20
CREATED_FORMAT = "9999-99-99 99:99:99"
#: Order fields the sync reads (``transform``): all present in a real answer.
ORDER_FIELDS = ("order_id", "stat_status", "stat_created", "delivery_name", "delivery_email", "delivery_phone",
                "delivery_city", "delivery_address", "delivery_type", "delivery_price", "payment_type", "payed",
                "total_sum", "currency", "products")
PRODUCT_FIELDS = ("article", "title", "price", "gtin", "parent")
USER_FIELDS = ("id", "title", "email", "phone", "registered")


def _claim(fact: str) -> str:
    return assumptions.CARTUM_FACTS[fact]


# --- gathering ------------------------------------------------------------------------

def gather(client: CartumClient, session: ReadOnlySession, *, now: datetime | None = None) -> Observations:
    """What the store answers to the probe's reads. Stops after a failed login (every other
    call would fail the same way); any other failed call is noted and the rest go on."""
    obs = Observations("cartum")
    obs.figures["user_agent"] = client.user_agent
    _step(obs, "auth", client.authenticate)
    plain = ReadOnlySession("cartum")  # its User-Agent is requests' own
    obs.answers["plain_agent"] = _plain_agent(client, plain)
    try:
        if "auth" in obs.answers:
            _reads(obs, client, now)
        obs.figures["http_statuses"] = dict(Counter(str(e.status) for e in session.exchanges))
        obs.figures["http_429"] = sum(1 for e in session.exchanges if e.status == 429)
    finally:
        session.exchanges.extend(plain.exchanges)  # counted with the others, not judged with them
    return obs


def _reads(obs: Observations, client: CartumClient, now: datetime | None) -> None:
    today = (now or datetime.now(ZoneInfo(assumptions.CARTUM_STORE_TIMEZONE))).date()
    body = {"additionalData": True, "limit": ORDER_PAGE, "offset": 0}
    window = {**body, "from": (today - timedelta(days=ORDER_WINDOW_DAYS)).isoformat()}
    answer = _step(obs, "orders/get", lambda: client.call("orders/get", window))
    if answer is not None and not answer.get("orders"):
        answer = _step(obs, "orders/get", lambda: client.call("orders/get", body))
    orders = (answer or {}).get("orders") or []
    obs.figures["orders_page"] = {"asked": ORDER_PAGE, "answered": len(orders)}
    _step(obs, "orders/get_available_statuses", lambda: client.call("orders/get_available_statuses"))
    for function in ("catalog/export", "users/export"):
        answer = _step(obs, function, lambda f=function: client.call(f, {"limit": SAMPLE, "offset": 0}))
        key = "products" if function == "catalog/export" else "users"
        obs.figures[f"{key}_page"] = {"asked": SAMPLE, "answered": len((answer or {}).get(key) or [])}


def _step(obs: Observations, label: str, call: Any) -> Any:
    try:
        answer = call()
    except AccessDeniedError as exc:
        obs.errors[label] = f"NO_API_ACCESS: {exc}"
        return None
    except UndefinedFunctionError as exc:
        obs.errors[label] = f"UNDEFINED_FUNCTION: {exc}"
        return None
    except ApiError as exc:
        obs.errors[label] = str(exc)
        return None
    obs.answers[label] = answer if answer is not None else {}
    return obs.answers[label]


def _plain_agent(client: CartumClient, session: ReadOnlySession) -> dict[str, Any]:
    """``auth`` through ``session`` (python-requests' default User-Agent): JSON, or a
    challenge page."""
    agent = session.headers.get("User-Agent")
    try:
        response = client.auth_answer(session)
    except requests.RequestException as exc:
        return {"user_agent": agent, "error": type(exc).__name__}
    finally:
        session.close()
    html = looks_like_html(response)
    try:
        json_answer = isinstance(response.json(), dict)
    except ValueError:
        json_answer = False
    return {"user_agent": agent, "http": response.status_code, "json": json_answer, "html": html,
            "challenge": html and is_challenge_page(response.content)}


# --- helpers for the checks -------------------------------------------------------------

def _rows(obs: Observations, label: str, key: str) -> list[dict[str, Any]] | None:
    answer = obs.get(label)
    if answer is None:
        return None
    return [row for row in answer.get(key) or [] if isinstance(row, dict)]


def _not_read(obs: Observations, label: str) -> tuple[str, list[str]]:
    why = obs.errors.get(label, "not read")
    return NOT_CHECKABLE, [f"{label}: {why}"]


def _counted(counter: Counter, total: int) -> str:
    return ", ".join(f"{shape} in {n} of {total}" for shape, n in counter.most_common())


def _missing(rows: list[dict[str, Any]], fields: tuple[str, ...]) -> list[str]:
    return [name for name in fields if not any(name in row for row in rows)]


# --- the checks -------------------------------------------------------------------------

@check("cartum.envelope", "cartum", _claim("cartum.envelope"))
def _envelope(obs: Observations) -> tuple[str, list[str]]:
    if "auth" not in obs.answers:
        return _not_read(obs, "auth")
    statuses = obs.figures.get("http_statuses") or {}
    other = {code: n for code, n in statuses.items() if code != "200"}
    answered = [label for label in obs.answers if label != "plain_agent"]
    evidence = [f"{len(answered)} functions answered with the envelope; HTTP statuses seen: {statuses}"]
    return (CONTRADICTED if other else CONFIRMED), evidence


@check("cartum.order_user", "cartum", _claim("cartum.order_user"))
def _order_user(obs: Observations) -> tuple[str, list[str]]:
    orders = _rows(obs, "orders/get", "orders")
    if orders is None:
        return _not_read(obs, "orders/get")
    if not orders:
        return NOT_CHECKABLE, ["no orders in the store"]
    field = assumptions.CARTUM_ORDER_USER_FIELD
    shapes = Counter(user_shape(o[field]) if field in o else "absent" for o in orders)
    evidence = [f"`{field}`: {_counted(shapes, len(orders))}"]
    registered = {s: n for s, n in shapes.items() if s not in ("null", "absent", "empty string")}
    if shapes.get("absent"):
        return CONTRADICTED, evidence + [f"`{field}` missing from {shapes['absent']} orders"]
    if not registered:
        return NOT_CHECKABLE, evidence + ["every order read is a guest's"]
    if set(registered) <= {"number", "numeric string"}:
        return CONFIRMED, evidence
    return CONTRADICTED, evidence + ["the sync reads the id from an object too (cartum.shapes.user_id)"]


@check("cartum.order_fields", "cartum", _claim("cartum.order_fields"))
def _order_fields(obs: Observations) -> tuple[str, list[str]]:
    orders = _rows(obs, "orders/get", "orders")
    if not orders:
        return (_not_read(obs, "orders/get") if orders is None else (NOT_CHECKABLE, ["no orders in the store"]))
    missing = _missing(orders, ORDER_FIELDS)
    seen = sorted({name for order in orders for name in order})
    evidence = [f"{len(orders)} orders; fields seen: {', '.join(seen)}"]
    if missing:
        return CONTRADICTED, evidence + [f"missing: {', '.join(missing)}"]
    return CONFIRMED, evidence


@check("cartum.order_status_field", "cartum", _claim("cartum.order_status_field"))
def _order_status(obs: Observations) -> tuple[str, list[str]]:
    orders = _rows(obs, "orders/get", "orders")
    if not orders:
        return (_not_read(obs, "orders/get") if orders is None else (NOT_CHECKABLE, ["no orders in the store"]))
    field = assumptions.CARTUM_ORDER_STATUS_FIELD
    shapes = Counter(_shape(o.get(field)) if field in o else "absent" for o in orders)
    evidence = [f"`{field}`: {_counted(shapes, len(orders))}"]
    if set(shapes) <= {"number"}:
        return CONFIRMED, evidence
    candidates = sorted({name for o in orders for name in o if "status" in name and name != field})
    return CONTRADICTED, evidence + [f"fields naming a status: {', '.join(candidates) or 'none'}"]


def _format_of(value: Any) -> str:
    return re.sub(r"\d", "9", value) if isinstance(value, str) else _shape(value)


@check("cartum.order_created_field", "cartum", _claim("cartum.order_created_field"))
def _order_created(obs: Observations) -> tuple[str, list[str]]:
    orders = _rows(obs, "orders/get", "orders")
    if not orders:
        return (_not_read(obs, "orders/get") if orders is None else (NOT_CHECKABLE, ["no orders in the store"]))
    field = assumptions.CARTUM_ORDER_CREATED_FIELD
    formats = Counter(_format_of(o[field]) if field in o else "absent" for o in orders)
    evidence = [f"`{field}` formats (digits as 9): {_counted(formats, len(orders))}"]
    return (CONFIRMED if set(formats) == {CREATED_FORMAT} else CONTRADICTED), evidence


@check("cartum.order_comment_field", "cartum", _claim("cartum.order_comment_field"))
def _order_comment(obs: Observations) -> tuple[str, list[str]]:
    orders = _rows(obs, "orders/get", "orders")
    if not orders:
        return (_not_read(obs, "orders/get") if orders is None else (NOT_CHECKABLE, ["no orders in the store"]))
    field = assumptions.CARTUM_ORDER_COMMENT_FIELD
    present = [o for o in orders if field in o]
    filled = sum(1 for o in present if isinstance(o[field], str) and o[field].strip())
    evidence = [f"`{field}` present in {len(present)} of {len(orders)} orders, not empty in {filled}"]
    return (CONFIRMED if len(present) == len(orders) else CONTRADICTED), evidence


@check("cartum.order_line_title", "cartum", _claim("cartum.order_line_title"))
def _line_title(obs: Observations) -> tuple[str, list[str]]:
    orders = _rows(obs, "orders/get", "orders")
    if orders is None:
        return _not_read(obs, "orders/get")
    lines = [line for o in orders for line in o.get("products") or [] if isinstance(line, dict)]
    if not lines:
        return NOT_CHECKABLE, ["no order lines read"]
    shapes = Counter(_shape(line.get("title")) if "title" in line else "absent" for line in lines)
    evidence = [f"line `title`: {_counted(shapes, len(lines))}",
                f"line fields: {', '.join(sorted({k for line in lines for k in line}))}"]
    return (CONFIRMED if set(shapes) == {"string"} else CONTRADICTED), evidence


@check("cartum.store_timezone", "cartum", _claim("cartum.store_timezone"))
def _timezone(obs: Observations) -> tuple[str, list[str]]:
    orders = _rows(obs, "orders/get", "orders")
    if not orders:
        return (_not_read(obs, "orders/get") if orders is None else (NOT_CHECKABLE, ["no orders in the store"]))
    zone = ZoneInfo(assumptions.CARTUM_STORE_TIMEZONE)
    times = []
    for order in orders:
        try:
            times.append(datetime.strptime(str(order.get(assumptions.CARTUM_ORDER_CREATED_FIELD)),
                                           "%Y-%m-%d %H:%M:%S"))
        except ValueError:
            continue
    if not times:
        return NOT_CHECKABLE, ["no readable creation time"]
    ahead = (max(times) - datetime.now(zone).replace(tzinfo=None)).total_seconds() / 60
    if ahead > 10:
        return CONTRADICTED, [f"the newest order read was created {ahead:.0f} min in the future of "
                              f"{zone.key} time: the store's clock runs east of it"]
    return NOT_CHECKABLE, [f"the newest order read is {-ahead:.0f} min old in {zone.key} time; only an order "
                           f"from the future would show another timezone"]


@check("cartum.statuses", "cartum", _claim("cartum.statuses"))
def _statuses(obs: Observations) -> tuple[str, list[str]]:
    label = "orders/get_available_statuses"
    if "UNDEFINED_FUNCTION" in obs.errors.get(label, ""):
        return NOT_CHECKABLE, ["UNDEFINED_FUNCTION: a platform before 4.0; the built-in statuses are used"]
    statuses = _rows(obs, label, "statuses")
    if statuses is None:
        return _not_read(obs, label)
    if not statuses:
        return CONTRADICTED, ["no statuses in the answer"]
    titles = Counter(_shape(s.get("title")) for s in statuses)
    languages = sorted({lang for s in statuses if isinstance(s.get("title"), dict) for lang in s["title"]})
    missing = _missing(statuses, ("id", "title", "is_successful"))
    evidence = [f"{len(statuses)} statuses; ids {sorted(s.get('id') for s in statuses if 'id' in s)}; "
                f"title: {_counted(titles, len(statuses))}; languages {languages}"]
    problems = [f"missing: {', '.join(missing)}"] if missing else []
    if not all(isinstance(s.get("title"), dict) for s in statuses):
        problems.append("a title that is not keyed by language")
    return (CONTRADICTED if problems else CONFIRMED), evidence + problems


@check("cartum.catalog_fields", "cartum", _claim("cartum.catalog_fields"))
def _catalog(obs: Observations) -> tuple[str, list[str]]:
    products = _rows(obs, "catalog/export", "products")
    if not products:
        return (_not_read(obs, "catalog/export") if products is None else (NOT_CHECKABLE, ["an empty catalogue"]))
    missing = _missing(products, PRODUCT_FIELDS)
    titles = Counter(_shape(p.get("title")) for p in products)
    evidence = [f"{len(products)} products; fields seen: {', '.join(sorted({k for p in products for k in p}))}",
                f"title: {', '.join(sorted({'object' if s.startswith('object') else s for s in titles}))}"]
    problems = [f"missing: {', '.join(missing)}"] if missing else []
    if not all(isinstance(p.get("title"), dict) for p in products):
        problems.append("a title that is not keyed by language")
    if any("id" in p for p in products):
        problems.append("a numeric `id` is present (the sync keys products by article anyway)")
    return (CONTRADICTED if problems else CONFIRMED), evidence + problems


@check("cartum.users_fields", "cartum", _claim("cartum.users_fields"))
def _users(obs: Observations) -> tuple[str, list[str]]:
    users = _rows(obs, "users/export", "users")
    if not users:
        return (_not_read(obs, "users/export") if users is None else (NOT_CHECKABLE, ["no registered customers"]))
    missing = _missing(users, USER_FIELDS)
    ids = Counter(_shape(u.get("id")) for u in users)
    evidence = [f"{len(users)} users; fields seen: {', '.join(sorted({k for u in users for k in u}))}; "
                f"id: {_counted(ids, len(users))}"]
    if missing or set(ids) != {"number"}:
        return CONTRADICTED, evidence + ([f"missing: {', '.join(missing)}"] if missing else [])
    return CONFIRMED, evidence


@check("cartum.plain_user_agent", "cartum", _claim("cartum.plain_user_agent"))
def _plain_agent_check(obs: Observations) -> tuple[str, list[str]]:
    plain = obs.get("plain_agent")
    if plain is None or "error" in plain:
        return NOT_CHECKABLE, [f"the plain call failed: {(plain or {}).get('error', 'not made')}"]
    ours = f"our User-Agent {obs.figures.get('user_agent')!r} " + (
        "gets the API" if "auth" in obs.answers else "is refused too: change the connection's extra user_agent")
    if plain["json"]:
        return CONFIRMED, [f"{plain['user_agent']!r} gets the API's JSON", ours]
    what = "a JavaScript challenge page (a bot filter)" if plain["challenge"] else (
        "an HTML page" if plain["html"] else "no JSON")
    return CONTRADICTED, [f"{plain['user_agent']!r} gets {what} (HTTP {plain['http']})", ours]


@check("cartum.rate_limit", "cartum", _claim("cartum.rate_limit"))
def _rate_limit(obs: Observations) -> tuple[str, list[str]]:
    refused = obs.figures.get("http_429") or 0
    if refused:
        return CONTRADICTED, [f"{refused} answers were HTTP 429 at {assumptions.CARTUM_DEFAULT_REQUESTS_PER_SECOND:g} "
                              f"requests/s or less: lower the connection's requests_per_second"]
    return NOT_CHECKABLE, ["no HTTP 429 in a handful of calls; a limit would show only under load"]


@check("cartum.no_api_access_markers", "cartum", _claim("cartum.no_api_access_markers"))
def _no_api_access(obs: Observations) -> tuple[str, list[str]]:
    denied = [label for label, error in obs.errors.items() if error.startswith("NO_API_ACCESS")]
    if denied:
        return CONFIRMED, [f"{', '.join(denied)}: refused with a message naming the plan or API access"]
    return NOT_CHECKABLE, ["the store's plan has API access: the refusal's wording cannot be seen"]


@check("cartum.ids_per_call", "cartum", _claim("cartum.ids_per_call"))
def _ids_per_call(obs: Observations) -> tuple[str, list[str]]:
    return NOT_CHECKABLE, [f"not probed: finding the limit means sending bodies that make the server drop the "
                           f"connection; {assumptions.CARTUM_IDS_PER_CALL} ids are about 2 KB"]
