"""Every check a store's setup must pass, each answered with a ``Problem`` that names the
field and says what to do. The command-line tool runs them while a user connects a store
(``stores add``, ``stores check``), and every DAG run starts with the cheap ones
(``validate_setup``), so a changed password or a removed location stops the run before
anything is read. At run time two problems degrade instead of stopping (``split_for_run``):
a listed manager who is no longer eligible while another still is (dropped, with a
warning), and a Cartum status nobody matched after the first import (its orders are held
by data quality, with a warning). The tool keeps refusing both.

The answers of a run's checks also say which Cartum statuses are final
(``final_statuses``): those Cartum marks ``is_successful``, those matched to an RO App
status in a closed group, and the store's own ``final_statuses`` setting (added, never
removed: the default [3, 4] keeps Delivered and Canceled final whatever they map to).

Offline checks need only the settings; the others make real, read-only API calls. The
module stands outside ``setup/`` (the tool) so that a DAG run does not import the tool.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
from dataclasses import dataclass, field as dataclass_field
from datetime import datetime
from typing import Any, Iterable
from urllib.parse import urlsplit

from . import assumptions
from .cartum.client import CartumClient
from .config import STORE_SCHEMA, StoreConfig
from .roapp.client import RoAppClient
from .roapp.shapes import EmployeeFacts, employee_facts
from .transport import (
    AccessDeniedError,
    ApiError,
    CredentialsError,
    NotAnApiError,
    RetriableApiError,
)

log = logging.getLogger(__name__)

#: ``barcode`` as product key is refused when more than this share of products has none.
MAX_EMPTY_BARCODE_SHARE = 0.5
STORE_ID_PATTERN = re.compile(STORE_SCHEMA["properties"]["store_id"]["pattern"])
REQUIRED_TEXT = ("store_id", "name", "cartum_conn_id")
LANGUAGE_PATTERN = re.compile(STORE_SCHEMA["properties"]["language"]["pattern"])
PRODUCT_KEYS = tuple(STORE_SCHEMA["properties"]["product_key"]["enum"])
MIN_IMPORT_DAYS = STORE_SCHEMA["properties"]["import_days"]["minimum"]
MAX_IMPORT_DAYS = STORE_SCHEMA["properties"]["import_days"]["maximum"]
#: The environment variable naming hosts, besides the loopback, that may be reached over
#: plain http: comma-separated host names, e.g. ``cartum-sandbox,roapp-sandbox`` for the
#: sandboxes of docker-compose.yml, which sit on the compose network, not on localhost.
PLAIN_HTTP_HOSTS_VARIABLE = "CARTUM_ROAPP_PLAIN_HTTP_HOSTS"


@dataclass(frozen=True)
class Problem:
    field: str
    message: str
    #: the API error behind it, when a call failed: a retriable one means "could not check",
    #: not "the setup is wrong"
    cause: Exception | None = dataclass_field(default=None, compare=False, repr=False)
    #: a listed manager this problem is about (the run drops that manager if others remain)
    manager: int | None = dataclass_field(default=None, compare=False, repr=False)
    #: the Cartum statuses nobody matched (a run after the first import holds their orders)
    unmatched: tuple[str, ...] = dataclass_field(default=(), compare=False, repr=False)

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class SetupError(Exception):
    """One or more setup problems; the message lists them all."""

    def __init__(self, problems: list[Problem]):
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems


# --- offline ------------------------------------------------------------------------------

def check_entry(entry: dict[str, Any], others: Iterable[StoreConfig] = ()) -> list[Problem]:
    """Fields of a store entry that can be judged without any API: required, lengths,
    formats, and clashes with the other stores."""
    problems = []
    for name in REQUIRED_TEXT:
        if not str(entry.get(name) or "").strip():
            problems.append(Problem(name, "is required and empty"))
    store_id = str(entry.get("store_id") or "")
    if store_id and not STORE_ID_PATTERN.match(store_id):
        problems.append(Problem("store_id", f"{store_id!r} may hold only a-z, 0-9 and _ (at most 48 characters)"))
    name = str(entry.get("name") or "")
    if len(name) > 64:
        problems.append(Problem("name", f"is {len(name)} characters long; RO App's Store field takes at most 64: "
                                            f"shorten it"))
    language = entry.get("language")
    if language is not None and not (isinstance(language, str) and LANGUAGE_PATTERN.match(language)):
        problems.append(Problem("language", f"{language!r} is not a language code: write the store's code in lower "
                                            f"case, e.g. ua, ru or en"))
    product_key = entry.get("product_key")
    if product_key is not None and product_key not in PRODUCT_KEYS:
        problems.append(Problem("product_key", f"{product_key!r} is not a product key: use sku (Cartum article ↔ "
                                               f"RO App SKU) or barcode (Cartum gtin ↔ RO App barcodes)"))
    import_days = entry.get("import_days")
    if import_days is not None and (not isinstance(import_days, int) or isinstance(import_days, bool)
                                    or not MIN_IMPORT_DAYS <= import_days <= MAX_IMPORT_DAYS):
        problems.append(Problem("import_days", f"{import_days!r} is not a number of days from {MIN_IMPORT_DAYS} to "
                                               f"{MAX_IMPORT_DAYS}: the first import reads the orders created in "
                                               f"that many last days"))
    for other in others:
        if other.store_id == store_id:
            problems.append(Problem("store_id", f"{store_id!r} is already used by the store {other.name!r}; "
                                                f"choose another id or edit that store"))
        elif entry.get("cartum_conn_id") and other.cartum_conn_id == entry.get("cartum_conn_id"):
            problems.append(Problem("cartum_conn_id", f"connection {other.cartum_conn_id!r} is already used by "
                                                      f"the store {other.store_id!r}: one Cartum store syncs once"))
    return problems


def check_store_url(url: str) -> list[Problem]:
    """http(s) with a host; plain http only on the loopback (sandboxes, tunnels) and on the
    hosts named in ``CARTUM_ROAPP_PLAIN_HTTP_HOSTS``."""
    url = (url or "").strip()
    if not url:
        return [Problem("url", "the store URL is required, e.g. https://shop.example.com")]
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return [Problem("url", f"{url!r} is not a web address: write it with https://, e.g. https://shop.example.com")]
    if parts.scheme == "http" and not (_is_loopback(parts.hostname) or parts.hostname in plain_http_hosts()):
        return [Problem("url", f"{url!r} uses plain http: use https:// (http is accepted only for localhost "
                               f"and the hosts listed in {PLAIN_HTTP_HOSTS_VARIABLE})")]
    return []


def shop_key(url: str) -> str:
    """What identifies a Cartum shop in a store URL: the host in lower case without a leading
    ``www.``, the port unless it is the scheme's default, and the path without trailing
    slashes. The scheme, user info, query and fragment do not count (http and https reach
    the same shop). ``https://WWW.Shop.ua:443/`` and ``http://shop.ua`` are one shop."""
    parts = urlsplit((url or "").strip())
    host = (parts.hostname or "").lower().rstrip(".")
    host = host[4:] if host.startswith("www.") else host
    try:
        port = parts.port
    except ValueError:
        port = None
    default = {"https": 443, "http": 80}.get(parts.scheme.lower())
    where = host if port in (None, default) else f"{host}:{port}"
    return where + parts.path.rstrip("/")


#: Why a second store on one shop is refused (and what ``--allow-same-shop`` accepts).
SAME_SHOP_HARM = ("two stores on one Cartum shop each import every order, so RO App gets each order twice (a second "
                  "store on the same shop wrote 14 duplicate orders into RO App)")


def same_shop_stores(url: str, others: dict[str, tuple[str, str]]) -> list[str]:
    """The stores among ``others`` (store_id → (name, URL of its Cartum connection)) that
    sync the shop ``url`` reaches, each as a phrase naming it."""
    key = shop_key(url)
    return [f"the store {store_id!r} ({name}) already syncs it ({other_url})"
            for store_id, (name, other_url) in sorted(others.items()) if key and shop_key(other_url) == key]


def check_same_shop(url: str, others: dict[str, tuple[str, str]]) -> list[Problem]:
    """``url`` reaches no shop another store already syncs."""
    return [Problem("url", f"{url.strip()} is a Cartum shop {same}: {SAME_SHOP_HARM}. Edit that store instead; "
                           f"--allow-same-shop saves it anyway") for same in same_shop_stores(url, others)]


def plain_http_hosts() -> set[str]:
    """The host names listed in ``CARTUM_ROAPP_PLAIN_HTTP_HOSTS``, lower-cased."""
    listed = os.environ.get(PLAIN_HTTP_HOSTS_VARIABLE, "")
    return {host.strip().lower() for host in listed.split(",") if host.strip()}


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# --- Cartum -------------------------------------------------------------------------------

def check_cartum_login(cartum: CartumClient, min_life: float | None = None) -> list[Problem]:
    """One real ``auth`` call: wrong login or password (with the e-mail hint), no API access
    on the plan, or an address that is not a Cartum API. With ``min_life`` (a run), a kept
    session token that lives that many seconds more stands for it (no call): Cartum gave it
    for these credentials, and a changed password does not get it (``cartum.tokens``)."""
    try:
        if min_life is None:
            cartum.check()
        else:
            cartum.ensure_login(min_life)
    except CredentialsError as exc:
        return [Problem("login", str(exc))]
    except AccessDeniedError as exc:
        return [Problem("url", str(exc))]
    except NotAnApiError as exc:
        return [Problem("url", str(exc))]
    except RetriableApiError as exc:
        return [Problem("url", f"the store did not answer: {exc}", exc)]
    return []


def store_languages(products: list[dict[str, Any]], statuses: list[dict[str, Any]]) -> set[str]:
    """The languages a store has, as seen in its catalogue titles and status titles."""
    languages: set[str] = set()
    for record in [*products, *statuses]:
        title = record.get("title")
        if isinstance(title, dict):
            languages.update(k for k, v in title.items() if str(v or "").strip())
    return languages


def check_catalogue(products: list[dict[str, Any]], statuses: list[dict[str, Any]], *, language: str,
                    product_key: str) -> list[Problem]:
    """The language exists in the store; the product key can identify the products."""
    problems = []
    languages = store_languages(products, statuses)
    if languages and language not in languages:
        problems.append(Problem("language", f"the store has no {language!r} version; it has "
                                            f"{', '.join(sorted(languages))}"))
    if product_key == "barcode" and products:
        empty = sum(1 for p in products if not str(p.get("gtin") or "").strip())
        if empty / len(products) > MAX_EMPTY_BARCODE_SHARE:
            problems.append(Problem("product_key", f"barcode cannot identify this catalogue: {empty} of "
                                                   f"{len(products)} products have no barcode (gtin); use sku"))
    return problems


#: How an unmatched status is matched: for a saved store, and while ``stores add`` runs.
MATCH_SAVED = "cartum-roapp stores statuses <store> --set ID=ROAPP_ID"
MATCH_IN_ADD = "--status ID=ROAPP_ID for each"


def check_status_matching(cartum_statuses: list[dict[str, Any]], status_map: dict[str, int],
                          roapp_statuses: list[dict[str, Any]] | None = None, language: str = "ua",
                          how: str = MATCH_SAVED) -> list[Problem]:
    """Every Cartum status matched to an existing RO App status ("match all values, then
    save and import"). ``how`` is the hint that fits the command at hand."""
    problems = []
    unmatched = [s for s in cartum_statuses if str(s.get("id")) not in status_map]
    if unmatched:
        names = ", ".join(f"{s['id']} ({status_title(s, language)})" for s in unmatched)
        problems.append(Problem("status_map", f"Cartum status(es) {names} are not matched to an RO App status: "
                                              f"match every status before the first import ({how})",
                                unmatched=tuple(str(s.get("id")) for s in unmatched)))
    if roapp_statuses is not None:
        known = {int(s["id"]) for s in roapp_statuses}
        missing = sorted({v for v in status_map.values() if int(v) not in known})
        if missing:
            problems.append(Problem("status_map", f"RO App has no status {', '.join(map(str, missing))}: "
                                                  f"match those Cartum statuses to existing RO App statuses"))
    return problems


def check_cartum_status_ids(cartum_statuses: list[dict[str, Any]], status_ids: Iterable[str | int],
                            language: str = "ua") -> list[Problem]:
    """Statuses being matched exist in the store (a typo in ``--set 9=203`` is caught here;
    a status deleted in Cartum after it was matched is harmless and not checked per run)."""
    known = {str(s.get("id")) for s in cartum_statuses}
    unknown = sorted({str(i) for i in status_ids} - known, key=lambda i: (len(i), i))
    if not unknown:
        return []
    names = ", ".join(f"{s['id']} ({status_title(s, language)})" for s in cartum_statuses) or "none"
    return [Problem("status_map", f"Cartum has no status {', '.join(unknown)}; the store's statuses are {names}")]


def status_title(status: dict[str, Any], language: str) -> str:
    title = status.get("title")
    if isinstance(title, dict):
        return str(title.get(language) or next((v for v in title.values() if v), status.get("id")))
    return str(title or status.get("id"))


# --- RO App -------------------------------------------------------------------------------

def check_roapp_references(roapp: RoAppClient, *, location_id: int, order_type_id: int, managers: Any,
                           manager_roles: Iterable[str] | None = None) -> list[Problem]:
    """The location, the order type and the managers exist and fit."""
    problems = []
    branches = {int(b["id"]): b for b in roapp.branches()}
    if int(location_id) not in branches:
        problems.append(Problem("location_id", f"RO App has no location {location_id}; it has "
                                               f"{_choices(branches, 'name')}"))
    types = {int(t["id"]): t for t in roapp.order_types()}
    if int(order_type_id) not in types:
        problems.append(Problem("order_type_id", f"RO App has no order type {order_type_id}; it has "
                                                 f"{_choices(types, 'name')}"))
    # A location that does not exist is one problem: the managers' access to it is not judged.
    known_location = int(location_id) if int(location_id) in branches else None
    problems += check_managers(roapp.employees(), managers, known_location, manager_roles)
    return problems


#: What setup says when the employees answer carries no role (so "all" cannot be resolved).
NO_ROLES = "RO App does not tell this key which employees are Managers; list the managers by id"


def _roles(manager_roles: Iterable[str] | None) -> set[str]:
    return {r.strip().casefold() for r in (manager_roles or assumptions.ROAPP_MANAGER_ROLES)}


def _is_manager(facts: EmployeeFacts, roles: set[str]) -> bool:
    return bool(facts.roles) and any(r.casefold() in roles for r in facts.roles or ())


def manager_candidates(employees: list[dict[str, Any]], location_id: int | None,
                       manager_roles: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """Who ``"all"`` means: employees with a manager role, not said to be inactive, with
    access to the location unless the answer does not say (or ``location_id`` is None:
    not judged). Empty when no role is readable."""
    roles = _roles(manager_roles)
    found = []
    for employee in employees:
        facts = employee_facts(employee)
        if _is_manager(facts, roles) and facts.active is not False and (
                location_id is None or facts.locations is None or location_id in facts.locations):
            found.append(employee)
    return found


def check_managers(employees: list[dict[str, Any]], managers: Any, location_id: int | None,
                   manager_roles: Iterable[str] | None = None) -> list[Problem]:
    """``"all"`` needs readable roles (else ``NO_ROLES``) and one fitting employee. A listed
    id must exist; each fact the answer gives (active, a manager role, access to the
    location) must fit, and a fact it does not give is accepted with a warning in the log.
    ``location_id`` None (a location that does not exist) leaves access out."""
    roles = _roles(manager_roles)
    if managers == "all":
        if not any(employee_facts(e).readable for e in employees):
            return [Problem("managers", f"{NO_ROLES} (e.g. --managers 501,502), not \"all\"")]
        if not manager_candidates(employees, location_id, manager_roles):
            where = f"has access to location {location_id}" if location_id is not None else "exists"
            return [Problem("managers", f"no active employee with a manager role "
                                        f"({', '.join(sorted(manager_roles or assumptions.ROAPP_MANAGER_ROLES))}) "
                                        f"{where}: give one access in RO App, or list managers by id")]
        return []
    by_id = {int(e["id"]): e for e in employees}
    problems = []
    for manager_id in managers or []:
        employee = by_id.get(int(manager_id))
        who = f"employee {manager_id}"
        if employee is None:
            problems.append(Problem("managers", f"{who} does not exist in RO App", manager=int(manager_id)))
            continue
        who = f"{who} ({employee.get('first_name', '')} {employee.get('last_name', '')})".replace(" )", ")")
        facts = employee_facts(employee)
        unknown = [name for name, value in (("is active", facts.active), ("has a manager role", facts.roles),
                                            (f"has access to location {location_id}", facts.locations))
                   if value is None and not (name.startswith("has access") and location_id is None)]
        if unknown:
            log.warning("managers: RO App does not say whether %s %s: accepted as listed", who, " or ".join(unknown))
        if facts.active is False:
            message = f"{who} is not active in RO App"
        elif facts.roles is not None and not _is_manager(facts, roles):
            message = f"{who} has the role {', '.join(sorted(facts.roles)) or 'none'!r}, not a manager role " \
                      f"({', '.join(sorted(manager_roles or assumptions.ROAPP_MANAGER_ROLES))})"
        elif location_id is not None and facts.locations is not None and location_id not in facts.locations:
            message = f"{who} has no access to location {location_id}"
        else:
            continue
        problems.append(Problem("managers", message, manager=int(manager_id)))
    return problems


def eligible_managers(employees: list[dict[str, Any]], managers: Any, location_id: int,
                      manager_roles: Iterable[str] | None = None) -> list[int]:
    """The managers that may get orders, sorted: with ``"all"`` ``manager_candidates``;
    with a list, those of it that still are (as far as RO App says)."""
    if managers == "all":
        return sorted(int(e["id"]) for e in manager_candidates(employees, location_id, manager_roles))
    return sorted({int(m) for m in managers or []
                   if not check_managers(employees, [m], location_id, manager_roles)})


def split_for_run(problems: list[Problem], config: StoreConfig, *, first_import: bool) -> tuple[
        list[Problem], list[str]]:
    """A run's problems → (those that stop it, warnings it goes on with).

    A listed manager who is not eligible is dropped with a warning while at least one listed
    manager is; when none is left they all stop the run. A Cartum status nobody matched
    stops the first import ("match every status, then import"); later runs hold its orders
    in data quality and warn."""
    stopping: list[Problem] = []
    warnings: list[str] = []
    listed = {int(m) for m in config.managers} if config.managers != "all" else set()
    dropped = {p.manager for p in problems if p.manager is not None}
    keep_managers = bool(listed - dropped)
    for problem in problems:
        if problem.manager is not None and keep_managers:
            warnings.append(f"{problem}: manager {problem.manager} dropped, the orders go to "
                            f"{', '.join(map(str, sorted(listed - dropped)))}")
        elif problem.unmatched and not first_import:
            ids = ", ".join(problem.unmatched)
            warnings.append(f"status_map: Cartum status(es) {ids} are not matched to an RO App status; their "
                            f"orders are held (quarantined) until matched, every other order syncs: "
                            + "; ".join(f"cartum-roapp stores statuses {config.store_id} --set {i}=ROAPP_ID"
                                        for i in problem.unmatched))
        else:
            stopping.append(problem)
    if dropped and not keep_managers:
        stopping.append(Problem("managers", f"no listed manager is eligible any more "
                                            f"({', '.join(map(str, sorted(listed)))}): the store stops until one is "
                                            f"made active with access to location {config.location_id} in RO App, "
                                            f"or managers is edited (cartum-roapp stores edit {config.store_id})"))
    return stopping, warnings


def final_statuses(cartum_statuses: list[dict[str, Any]], roapp_statuses: list[dict[str, Any]],
                   config: StoreConfig) -> list[int]:
    """The Cartum statuses after which an order is final: ``is_successful`` in Cartum, or
    matched to an RO App status in a closed group, plus ``config.final_statuses``."""
    closed = {int(s["id"]) for s in roapp_statuses if _group_type(s) in assumptions.ROAPP_CLOSED_STATUS_GROUPS}
    final = {int(s) for s in config.final_statuses}
    final |= {int(s["id"]) for s in cartum_statuses if _truthy(s.get("is_successful"))}
    final |= {int(cartum) for cartum, roapp in config.status_map.items() if int(roapp) in closed}
    return sorted(final)


def _group_type(status: dict[str, Any]) -> str | None:
    group = status.get("group")
    return str(group.get("type")) if isinstance(group, dict) and group.get("type") is not None else None


def _truthy(value: Any) -> bool:
    return str(value).strip().lower() in ("1", "true")


def _choices(by_id: dict[int, dict[str, Any]], label: str) -> str:
    return ", ".join(f"{i} ({v.get(label)})" for i, v in sorted(by_id.items())) or "none"


# --- all together -------------------------------------------------------------------------

def validate_store(config: StoreConfig, cartum: CartumClient, roapp: RoAppClient, *, deep: bool = True,
                   others: Iterable[StoreConfig] = (), seen: dict[str, Any] | None = None,
                   login_life: float | None = None) -> list[Problem]:
    """Every problem of a store's setup. ``deep`` also reads the whole catalogue (language,
    product key); without it the checks cost a handful of calls (what each run does).
    ``seen`` receives the status lists read (``cartum_statuses``, ``roapp_statuses``), so
    a run derives its final statuses from them without another call. ``login_life``: see
    ``check_cartum_login`` (a run passes it; the tool always logs in)."""
    seen = seen if seen is not None else {}
    problems = check_entry(config.to_dict(), others)
    url_problems = check_store_url(cartum.base_url)
    problems += url_problems
    # An address that is not acceptable is not logged in to: one problem per cause.
    login = [] if url_problems else check_cartum_login(cartum, login_life)
    problems += login
    statuses: list[dict[str, Any]] | None = None
    if not login and not url_problems:
        try:
            statuses = seen["cartum_statuses"] = cartum.get_statuses()
            if deep:
                from .cartum.records import parse   # the boundary: a malformed product is left out

                products = parse("products", cartum.iter_products(), datetime.now()).good
                problems += check_catalogue(products, statuses, language=config.language,
                                            product_key=config.product_key)
        except ApiError as exc:
            problems.append(Problem("url", f"reading the store failed: {exc}", exc))
    try:
        problems += check_roapp_references(roapp, location_id=config.location_id,
                                           order_type_id=config.order_type_id, managers=config.managers,
                                           manager_roles=config.manager_roles)
        roapp_statuses = seen["roapp_statuses"] = roapp.order_statuses()
    except CredentialsError as exc:
        return problems + [Problem("roapp_conn_id", str(exc))]
    except ApiError as exc:
        return problems + [Problem("roapp_conn_id", f"reading RO App failed: {exc}", exc)]
    if statuses is not None:
        problems += check_status_matching(statuses, config.status_map, roapp_statuses, config.language)
    return problems
