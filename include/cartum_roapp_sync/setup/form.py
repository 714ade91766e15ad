"""One store's settings as the tool collects them: taken from flags, or asked for at a
terminal, and each checked as soon as it is known with the checks of ``setup_checks``.

At a terminal a wrong answer is shown with its problem and asked again; without one the
problems are collected, so that a script learns about all of them at once.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any, Callable, Iterable

from ..config import StoreConfig, parse_stores
from ..roapp.shapes import employee_facts
from ..setup_checks import (
    NO_ROLES,
    Problem,
    check_cartum_login,
    check_cartum_status_ids,
    check_catalogue,
    check_entry,
    check_managers,
    check_roapp_references,
    check_same_shop,
    check_status_matching,
    check_store_url,
    manager_candidates,
    status_title,
    store_languages,
)
from ..transport import ApiError
from .prompts import Prompter
from .sources import CachedCartum, CachedRoApp

#: The flag that sets each field, so that a problem can say which flag to change.
FIELD_FLAGS = {
    "store_id": "--store-id", "name": "--name", "cartum_conn_id": "--cartum-conn-id", "url": "--url",
    "login": "--login/--password", "password": "--password", "location_id": "--location-id",
    "order_type_id": "--order-type-id", "language": "--language", "product_key": "--product-key",
    "managers": "--managers", "import_days": "--import-days", "roapp_conn_id": "--roapp-conn-id",
    "status_map": "stores statuses --set",
}


def describe(problem: Problem, flags: dict[str, str] | None = None) -> str:
    flag = (flags if flags is not None else FIELD_FLAGS).get(problem.field)
    return f"{problem.field} ({flag}): {problem.message}" if flag else str(problem)


def only(problems: Iterable[Problem], field: str) -> list[Problem]:
    return [p for p in problems if p.field == field]


# --- values typed as text --------------------------------------------------------------------

def parse_managers(text: str) -> Any:
    """``all`` or employee ids separated by commas → ``"all"`` or a list of ints."""
    text = text.strip()
    if text.lower() == "all":
        return "all"
    ids: list[int] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        if not part.isdigit():
            ids = []
            break
        if int(part) not in ids:
            ids.append(int(part))
    if not ids:
        raise ValueError(f"{text!r} is neither \"all\" nor a list of RO App employee ids, e.g. 501,502")
    return ids


def pick(text: str, choices: list[tuple[int, str]], what: str) -> int:
    """An answer typed at a prompt → an id: the id itself, a name (case does not matter) or
    a part of one name. ``choices``: (id, name) as listed above the prompt. A number is taken
    as an id even when it is not listed (the checks then say it does not exist)."""
    text = text.strip()
    if text.isdigit():
        return int(text)
    wanted = text.casefold()
    exact = [(i, n) for i, n in choices if n.strip().casefold() == wanted]
    fitting = exact or [(i, n) for i, n in choices if wanted and wanted in n.casefold()]
    if len({i for i, _ in fitting}) == 1:
        return fitting[0][0]
    listed = ", ".join(f"{i} {n}" for i, n in (fitting or choices)) or "none"
    if fitting:
        raise ValueError(f"{text!r} fits more than one {what}: {listed}; type the id or more of the name")
    raise ValueError(f"{text!r} is neither the id nor the name of any {what}; the choices are {listed}")


def parse_people(text: str, employees: list[dict[str, Any]]) -> Any:
    """``all``, or employees by id or name separated by commas → ``"all"`` or a list of ids."""
    if text.strip().lower() == "all":
        return "all"
    choices = [(int(e["id"]), person(e)) for e in employees]
    ids: list[int] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        chosen = pick(part, choices, "RO App employee")
        if chosen not in ids:
            ids.append(chosen)
    if not ids:
        raise ValueError(f"{text!r} is neither \"all\" nor a list of RO App employees (ids or names), e.g. 501,502")
    return ids


def format_managers(value: Any) -> str:
    return "all" if value == "all" else ",".join(str(v) for v in value or [])


def parse_status_pair(text: str) -> tuple[str, int]:
    """``5=203`` → ("5", 203): Cartum status id, RO App status id."""
    match = re.fullmatch(r"\s*(\d+)\s*=\s*(\d+)\s*", text)
    if not match:
        raise ValueError(f"{text!r} is not CARTUM_STATUS_ID=ROAPP_STATUS_ID, e.g. 5=203")
    return match.group(1), int(match.group(2))


def store_id_from_name(name: str) -> str:
    """A store id suggested from its name: ASCII letters and digits, words joined by _."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "_", ascii_name.lower()).strip("_")[:48]


def suggest_status(cartum_status: dict[str, Any], roapp_statuses: list[dict[str, Any]]) -> int | None:
    """The RO App status whose name equals one of the Cartum status's titles, if any."""
    titles = cartum_status.get("title")
    names = {str(t).strip().lower() for t in (titles.values() if isinstance(titles, dict) else [titles]) if t}
    for status in roapp_statuses:
        if str(status.get("name") or "").strip().lower() in names:
            return int(status["id"])
    return None


def person(employee: dict[str, Any]) -> str:
    return f"{employee.get('first_name', '')} {employee.get('last_name', '')}".strip() or "(no name)"


def roapp_status_label(status: dict[str, Any]) -> str:
    group = (status.get("group") or {}).get("name") if isinstance(status.get("group"), dict) else None
    return f"{status.get('name')}" + (f" ({group})" if group else "")


class StoreForm:
    """Collects one store's entry. ``ui`` is None when nothing may be asked."""

    def __init__(self, ui: Prompter | None, entries: list[Any], roapp: CachedRoApp, *,
                 editing: str | None = None):
        self.ui = ui
        self.roapp = roapp
        parsed = parse_stores(entries)
        self.others: list[StoreConfig] = [s for s in parsed.stores if s.store_id != editing]
        valid_ids = {s.store_id for s in parsed.stores}
        # Entries that do not validate still own their store_id.
        self.broken_ids = {e["store_id"] for e in entries if isinstance(e, dict) and isinstance(e.get("store_id"), str)
                           and e["store_id"] not in valid_ids and e["store_id"] != editing}
        self.entry: dict[str, Any] = {}
        self.problems: list[Problem] = []
        self.cartum: CachedCartum | None = None

    # --- the loop every field goes through ---------------------------------------------

    def settle(self, given: Any, ask: Callable[[], Any], check: Callable[[Any], list[Problem]]) -> Any:
        """``given`` if it passes ``check``; at a terminal, ask until an answer passes.
        Without one, a failing value is kept and its problems collected."""
        value = given
        while True:
            if value is None:
                value = ask()
            found = check(value)
            if not found:
                return value
            if self.ui is None:
                self.problems.extend(found)
                return value
            self.show(found)
            value = None

    def show(self, problems: Iterable[Problem]) -> None:
        assert self.ui is not None
        for problem in problems:
            self.ui.say(f"  ✗ {problem}")  # at a prompt the flags are beside the point

    def say(self, text: str = "") -> None:
        if self.ui is not None:
            self.ui.say(text)

    def ask_int(self, label: str, default: int | None = None) -> int:
        assert self.ui is not None
        while True:
            text = self.ui.ask(label, str(default) if default is not None else None)
            if text.strip().isdigit():
                return int(text)
            self.ui.say(f"  ✗ {text!r} is not a number")

    def ask_choice(self, label: str, choices: list[tuple[int, str]], what: str, default: int | None = None) -> int:
        """An id from ``choices`` (listed above the prompt), typed as the id or the name."""
        assert self.ui is not None
        while True:
            text = self.ui.ask(label, str(default) if default is not None else None)
            try:
                return pick(text, choices, what)
            except ValueError as exc:
                self.ui.say(f"  ✗ {exc}")

    def _entry_check(self, field: str) -> Callable[[Any], list[Problem]]:
        def check(value: Any) -> list[Problem]:
            # Only this field: check_entry reports one clash per store, and the store_id one
            # would hide a clash of the connection.
            found = only(check_entry({field: value}, self.others), field)
            if field == "store_id" and value in self.broken_ids:
                found.append(Problem("store_id", f"{value!r} is already used by an entry of the Variable that does "
                                                 f"not validate: fix or remove that entry first, or choose another "
                                                 f"id"))
            return found
        return check

    # --- the store's names -------------------------------------------------------------

    def name(self, given: str | None) -> str:
        value = self.settle(given, lambda: self.ui.ask("Store name (shown in RO App's Store field)"),
                            self._entry_check("name"))
        self.entry["name"] = value
        return value

    def store_id(self, given: str | None) -> str:
        suggested = store_id_from_name(self.entry.get("name", ""))
        if given is None and self.ui is None:
            given = suggested  # an empty suggestion is reported as a missing store_id
        value = self.settle(given, lambda: self.ui.ask("Store id (a-z, 0-9 and _; part of the DAG id, never "
                                                       "changes)", suggested or None),
                            self._entry_check("store_id"))
        self.entry["store_id"] = value
        return value

    def cartum_conn_id(self, given: str | None) -> str:
        default = f"cartum_{self.entry.get('store_id', '')}"
        value = self.settle(given if given is not None or self.ui is not None else default,
                            lambda: self.ui.ask("Airflow connection for the store's Cartum credentials", default),
                            self._entry_check("cartum_conn_id"))
        self.entry["cartum_conn_id"] = value
        return value

    # --- Cartum --------------------------------------------------------------------------

    def shops(self) -> dict[str, tuple[str, str]]:
        """The other stores' Cartum addresses: store_id → (name, URL of its connection)."""
        from .airflow_store import get_connection

        found = {}
        for other in self.others:
            conn = get_connection(other.cartum_conn_id)
            if conn is not None and (conn.host or "").strip():
                found[other.store_id] = (other.name, conn.host.strip())
        return found

    def check_url(self, url: str, allow_same_shop: bool = False) -> list[Problem]:
        """A usable address, and (unless allowed) no shop another store already syncs."""
        return check_store_url(url) or ([] if allow_same_shop else check_same_shop(url, self.shops()))

    def cartum_login(self, url: str | None, login: str | None, password: str | None, *,
                     allow_same_shop: bool = False,
                     ) -> tuple[CachedCartum | None, str | None, str | None, str | None]:
        """Check the URL, then log in once (one real ``auth`` call). At a terminal, wrong
        credentials are asked for again. Returns the store and the values that worked."""
        last_url, last_login = url, login
        while True:
            url = self.settle(url, lambda: self.ui.ask("Store URL, with https://", last_url),
                              lambda u: self.check_url(u, allow_same_shop))
            if self.ui is None and self.check_url(url, allow_same_shop):
                return None, url, login, password
            login = self.settle(login, lambda: self.ui.ask("Cartum user name (Settings → Administrators; not the "
                                                           "e-mail)", last_login), _required("login", LOGIN_HELP))
            password = self.settle(password, lambda: self.ui.secret("Cartum password (not shown)"),
                                   _required("password", "the Cartum administrator's password"))
            if self.ui is None and (not login.strip() or not password):
                return None, url, login, password
            cartum = CachedCartum.connect(url.strip(), login.strip(), password)
            found = check_cartum_login(cartum)
            if not found:
                self.say(f"  ✓ logged in to {cartum.base_url} as {cartum.login}")
                self.cartum = cartum
                return cartum, url.strip(), login.strip(), password
            cartum.close()
            if self.ui is None:
                self.problems.extend(found)
                return None, url, login, password
            self.show(found)
            last_url, last_login, url, login, password = url, login, None, None, None

    def read_store(self, cartum: CachedCartum) -> bool:
        """Statuses and the whole catalogue, once; False (with a problem) when reading fails."""
        self.say("  reading the store's statuses and catalogue…")
        try:
            statuses, products = cartum.get_statuses(), cartum.products()
        except ApiError as exc:
            # Recorded even at a terminal: without its statuses the store cannot be saved.
            problem = Problem("url", f"reading the store failed: {exc}")
            self.problems.append(problem)
            if self.ui is not None:
                self.show([problem])
            return False
        languages = sorted(store_languages(products, statuses))
        self.say(f"  {len(statuses)} statuses, {len(products)} products; languages: {', '.join(languages) or '?'}")
        return True

    def _fail(self, problems: list[Problem]) -> None:
        if self.ui is None:
            self.problems.extend(problems)
        else:
            self.show(problems)

    def language(self, given: str | None, cartum: CachedCartum | None) -> str | None:
        languages = sorted(store_languages(cartum.products(), cartum.get_statuses())) if cartum else []
        default = "ua" if "ua" in languages or not languages else languages[0]

        def check(value: str) -> list[Problem]:
            found = only(check_entry({"language": value}), "language")
            if not found and cartum is not None:
                found = only(check_catalogue(cartum.products(), cartum.get_statuses(), language=value,
                                             product_key="sku"), "language")
            return found

        choices = f" ({', '.join(languages)})" if languages else ""
        value = self.settle(given, lambda: self.ui.ask(f"Language of product names{choices}", default).lower(), check)
        self.entry["language"] = value
        return value

    def product_key(self, given: str | None, cartum: CachedCartum | None) -> str | None:
        if self.ui is not None and given is None and cartum is not None:
            products = cartum.products()
            empty = sum(1 for p in products if not str(p.get("gtin") or "").strip())
            self.say(f"How products are matched: sku = Cartum article ↔ RO App SKU; barcode = Cartum gtin ↔ RO App "
                     f"barcodes ({empty} of {len(products)} products have no barcode).")

        def check(value: str) -> list[Problem]:
            found = only(check_entry({"product_key": value}), "product_key")
            if not found and cartum is not None:
                found = only(check_catalogue(cartum.products(), [], language=self.entry.get("language", ""),
                                             product_key=value), "product_key")
            return found

        value = self.settle(given, lambda: self.ui.ask("Product key (sku or barcode)", "sku").lower(), check)
        self.entry["product_key"] = value
        return value

    # --- RO App --------------------------------------------------------------------------

    def _references(self, field: str, **values: Any) -> list[Problem]:
        """One field's problems from ``check_roapp_references`` (the other two get values
        that cannot fail, and are filtered out anyway)."""
        location = values.get("location_id", self.entry.get("location_id"))
        arguments = {"location_id": location if location is not None else 0,
                     "order_type_id": values.get("order_type_id", 0), "managers": values.get("managers", [])}
        return only(check_roapp_references(self.roapp, **arguments), field)

    def location_id(self, given: int | None) -> int:
        if self.ui is not None and given is None:
            self.say("RO App locations:")
            for branch in self.roapp.branches():
                self.say(f"  {branch['id']:>6}  {branch.get('name')}")
        branches = self.roapp.branches()
        default = branches[0]["id"] if len(branches) == 1 else None
        choices = [(int(b["id"]), str(b.get("name") or "")) for b in branches]
        value = self.settle(given, lambda: self.ask_choice("Location, id or name (receives the orders)", choices,
                                                            "RO App location", default),
                            lambda v: self._references("location_id", location_id=v))
        self.entry["location_id"] = value
        return value

    def order_type_id(self, given: int | None) -> int:
        if self.ui is not None and given is None:
            self.say("RO App order types:")
            for order_type in self.roapp.order_types():
                self.say(f"  {order_type['id']:>6}  {order_type.get('name')}")
        choices = [(int(t["id"]), str(t.get("name") or "")) for t in self.roapp.order_types()]
        value = self.settle(given, lambda: self.ask_choice("Order type, id or name", choices, "RO App order type"),
                            lambda v: self._references("order_type_id", order_type_id=v))
        self.entry["order_type_id"] = value
        return value

    def managers(self, given: Any) -> Any:
        location: int | None = int(self.entry.get("location_id") or 0)
        if location not in {int(b["id"]) for b in self.roapp.branches()}:
            location = None  # already reported: the managers' access to it is not judged (no knock-on)
        roles = self.entry.get("manager_roles")
        if self.ui is not None and given is None:
            employees = self.roapp.employees()
            if not any(employee_facts(e).readable for e in employees):
                self.say(f"{NO_ROLES}. Employees:")
                shown = employees
            else:
                self.say(f"Managers: \"all\" (the active managers with access to location {location}, round robin) "
                         f"or ids or names separated by commas. Eligible:")
                shown = manager_candidates(employees, location, roles)
            for employee in shown:
                self.say(f"  {employee['id']:>6}  {person(employee)}")
            if not shown:
                self.say("  (none: give an employee access to this location in RO App first)")
        value = self.settle(given, self.ask_managers,
                            lambda v: only(check_managers(self.roapp.employees(), v, location, roles), "managers"))
        self.entry["managers"] = value
        return value

    def ask_managers(self, default: str = "all") -> Any:
        assert self.ui is not None
        while True:
            try:
                return parse_people(self.ui.ask("Managers (all, or ids or names separated by commas)", default),
                                    self.roapp.employees())
            except ValueError as exc:
                self.ui.say(f"  ✗ managers: {exc}")

    def import_days(self, given: int | None, default: int = 60) -> int:
        value = self.settle(given, lambda: self.ask_int("First import: orders created in the last how many days",
                                                         default),
                            self._entry_check("import_days"))
        self.entry["import_days"] = value
        return value

    # --- statuses ------------------------------------------------------------------------

    def show_roapp_statuses(self) -> None:
        self.say("RO App statuses to choose from:")
        for status in self.roapp.order_statuses():
            self.say(f"  {status['id']:>6}  {roapp_status_label(status)}")

    def check_pairs(self, cartum: CachedCartum, pairs: dict[str, int]) -> list[Problem]:
        """Matches given as flags: the Cartum status exists in the store, the RO App one in RO App."""
        language = self.entry.get("language") or "ua"
        return (check_cartum_status_ids(cartum.get_statuses(), pairs, language)
                + check_status_matching([], pairs, self.roapp.order_statuses(), language))

    def match_statuses(self, cartum: CachedCartum, given: dict[str, int], *,
                       current: dict[str, int] | None = None) -> dict[str, int]:
        """The status map: ``given`` over ``current``; at a terminal, every Cartum status
        still unmatched is asked for, with the RO App status of the same name suggested."""
        language = self.entry.get("language") or "ua"
        mapping = {**(current or {}), **given}
        found = self.check_pairs(cartum, given)
        if found:
            self._fail(found)
            if self.ui is None:
                return mapping
            mapping = dict(current or {})
        roapp_statuses = self.roapp.order_statuses()
        choices = [(int(s["id"]), str(s.get("name") or "")) for s in roapp_statuses]
        unmatched = [s for s in cartum.get_statuses() if str(s.get("id")) not in mapping]
        if self.ui is not None and unmatched:
            self.show_roapp_statuses()
            self.say(f"Match each Cartum status (titles in {language}) to the RO App status it becomes:")
            for status in unmatched:
                key = str(status["id"])
                mapping[key] = self.settle(
                    None,
                    lambda s=status: self.ask_choice(f"  Cartum {s['id']} \"{status_title(s, language)}\" → RO "
                                                      f"App status, id or name", choices, "RO App status",
                                                      suggest_status(s, roapp_statuses)),
                    lambda v, k=key: check_status_matching([], {k: v}, roapp_statuses, language))
        self.entry["status_map"] = mapping
        return mapping


LOGIN_HELP = "the Cartum administrator's user name (Settings → Administrators), not the e-mail"


def _required(field: str, what: str) -> Callable[[Any], list[Problem]]:
    def check(value: Any) -> list[Problem]:
        return [] if str(value or "").strip() else [Problem(field, f"is required and empty: give {what}")]
    return check
