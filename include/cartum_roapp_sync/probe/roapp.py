"""The RO App side of the probe: about a dozen GETs (at the key's 3 requests/s), and the
checks of the RO App facts where the public sources disagree
(``shared/contracts/roapp-api.md``), each registered under its name.

Calls: the documented and the legacy employees and locations paths; the first page of
people, and of products; people filtered by an e-mail, products by an SKU and by a barcode
that cannot exist (an honoured filter answers nothing, an ignored one the whole list); one
person by id; the order custom fields. Paths and filter names come from ``assumptions``
where the sync reads them from there.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from .. import assumptions
from ..roapp.client import RoAppClient
from ..transport import ApiError, NotFoundError
from .core import CONFIRMED, CONTRADICTED, NOT_CHECKABLE, Observations, check

DOCUMENTED_EMPLOYEES, LEGACY_EMPLOYEES = "/v2/company/employees", "/employees/"
DOCUMENTED_LOCATIONS, LEGACY_LOCATIONS = "/v2/company/locations", "/branches/"
PEOPLE, PRODUCTS, CUSTOM_FIELDS = "/v2/contacts/people", assumptions.ROAPP_PRODUCTS_PATH, "/v2/orders/custom-fields"
#: Filter values no account holds: an honoured filter answers no row.
NOBODY_EMAIL = "cartum-roapp-probe.nobody@example.invalid"
NO_SKU = "cartum-roapp-probe-no-such-sku"
NO_BARCODE = "0000000000000-cartum-roapp-probe"


def _fields(plural: str, singular: str) -> tuple[str, ...]:
    """Where the sync looks for an employee fact: every candidate name it knows."""
    names = getattr(assumptions, plural, None)
    return tuple(names) if names else (getattr(assumptions, singular),)


ROLE_FIELDS = _fields("ROAPP_EMPLOYEE_ROLE_FIELDS", "ROAPP_EMPLOYEE_ROLE_FIELD")
ACTIVE_FIELDS = _fields("ROAPP_EMPLOYEE_ACTIVE_FIELDS", "ROAPP_EMPLOYEE_ACTIVE_FIELD")
BRANCH_FIELDS = _fields("ROAPP_EMPLOYEE_BRANCHES_FIELDS", "ROAPP_EMPLOYEE_BRANCHES_FIELD")


# --- gathering ------------------------------------------------------------------------

def gather(client: RoAppClient) -> Observations:
    obs = Observations("roapp")
    reads: list[tuple[str, str, dict[str, Any]]] = [
        ("employees", DOCUMENTED_EMPLOYEES, {}), ("employees_legacy", LEGACY_EMPLOYEES, {}),
        ("locations", DOCUMENTED_LOCATIONS, {}), ("locations_legacy", LEGACY_LOCATIONS, {}),
        ("people", PEOPLE, {}), ("people_by_email", PEOPLE, {assumptions.ROAPP_PEOPLE_EMAIL_FILTER: [NOBODY_EMAIL]}),
        ("products", PRODUCTS, {}), ("products_by_sku", PRODUCTS, {assumptions.ROAPP_PRODUCT_SKU_FILTER: [NO_SKU]}),
        ("products_by_barcode", PRODUCTS, {assumptions.ROAPP_PRODUCT_BARCODE_FILTER: [NO_BARCODE]}),
        ("custom_fields", CUSTOM_FIELDS, {}),
    ]
    for label, path, params in reads:
        _get(obs, client, label, path, {**params, "page": 1})
        if label == "employees" and obs.errors.get(label, "").startswith("HTTP 401"):
            return obs  # the key is refused: every other call would be too
    people = _data(obs.get("people"))
    if people and people[0].get("id") is not None:
        _get(obs, client, "person", f"{PEOPLE}/{people[0]['id']}", {})
    for label in ("people", "products"):
        answer = obs.get(label)
        obs.figures[f"{label}_page"] = {"answered": len(_data(answer)), "total": _total(answer)}
    return obs


def _get(obs: Observations, client: RoAppClient, label: str, path: str, params: dict[str, Any]) -> None:
    try:
        obs.answers[label] = client.request("GET", path, params=params or None)
    except NotFoundError:
        obs.errors[label] = "HTTP 404"
    except ApiError as exc:
        obs.errors[label] = f"HTTP {exc.status}: {exc}" if exc.status else str(exc)


def _data(answer: Any) -> list[dict[str, Any]]:
    rows = answer if isinstance(answer, list) else (answer or {}).get("data") if isinstance(answer, dict) else None
    return [row for row in rows or [] if isinstance(row, dict)]


def _total(answer: Any) -> int | None:
    if not isinstance(answer, dict):
        return None
    total = answer.get("count", (answer.get("paging") or {}).get("count"))
    return int(total) if isinstance(total, (int, str)) and str(total).isdigit() else None


def _not_read(obs: Observations, label: str) -> tuple[str, list[str]]:
    return NOT_CHECKABLE, [f"{label}: {obs.errors.get(label, 'not read')}"]


# --- the checks -------------------------------------------------------------------------

def _path_check(obs: Observations, label: str, path: str) -> tuple[str, list[str]]:
    error = obs.errors.get(label)
    if error == "HTTP 404":
        return CONTRADICTED, [f"GET {path}: 404"]
    if error:
        return NOT_CHECKABLE, [f"GET {path}: {error}"]
    return CONFIRMED, [f"GET {path}: {len(_data(obs.get(label)))} rows on page 1"]


@check("roapp.employees_path", "roapp", "employees are listed at GET /v2/company/employees [doc]")
def _employees_path(obs: Observations) -> tuple[str, list[str]]:
    return _path_check(obs, "employees", DOCUMENTED_EMPLOYEES)


@check("roapp.locations_path", "roapp", "locations are listed at GET /v2/company/locations [doc]")
def _locations_path(obs: Observations) -> tuple[str, list[str]]:
    return _path_check(obs, "locations", DOCUMENTED_LOCATIONS)


@check("roapp.legacy_paths", "roapp", "the legacy GET /employees/ and GET /branches/ still answer [code]")
def _legacy_paths(obs: Observations) -> tuple[str, list[str]]:
    results = [_path_check(obs, label, path) for label, path in (("employees_legacy", LEGACY_EMPLOYEES),
                                                                 ("locations_legacy", LEGACY_LOCATIONS))]
    evidence = [line for _, lines in results for line in lines]
    verdicts = {verdict for verdict, _ in results}
    if CONTRADICTED in verdicts:
        return CONTRADICTED, evidence + ["the documented paths are used"]
    return (CONFIRMED if verdicts == {CONFIRMED} else NOT_CHECKABLE), evidence


@check("roapp.employee_fields", "roapp",
       "an employee carries a role, an active flag and location access [assumed]; public code sees none of them")
def _employee_fields(obs: Observations) -> tuple[str, list[str]]:
    label = "employees" if "employees" in obs.answers else "employees_legacy"
    rows = _data(obs.get(label))
    if label not in obs.answers:
        return _not_read(obs, "employees")
    if not rows:
        return NOT_CHECKABLE, ["no employees listed"]
    seen = {name for row in rows for name in row}
    evidence = [f"{len(rows)} employees at {DOCUMENTED_EMPLOYEES if label == 'employees' else LEGACY_EMPLOYEES}; "
                f"fields seen: {', '.join(sorted(seen))}"]
    absent = [what for what, names in (("role", ROLE_FIELDS), ("active flag", ACTIVE_FIELDS),
                                       ("location access", BRANCH_FIELDS)) if not seen & set(names)]
    if absent:
        return CONTRADICTED, evidence + [f"no {', no '.join(absent)}: list the managers by id"]
    return CONFIRMED, evidence


def _filter_check(obs: Observations, label: str, whole: str, name: str, match: Any) -> tuple[str, list[str]]:
    if label not in obs.answers:
        return _not_read(obs, label)
    rows, everything = _data(obs.get(label)), _data(obs.get(whole))
    if not rows:
        if whole in obs.answers and not everything:
            return NOT_CHECKABLE, [f"the list is empty: an ignored {name} would answer nothing too"]
        return CONFIRMED, [f"{name} with a value no row has: no rows (the list has "
                           f"{_total(obs.get(whole)) or len(everything)})"]
    matching = sum(1 for row in rows if match(row))
    return CONTRADICTED, [f"{name} with a value no row has: {len(rows)} rows on page 1 "
                          f"(total {_total(obs.get(label))}), {matching} matching: the filter is ignored"]


@check("roapp.people_email_filter", "roapp",
       "people can be filtered by e-mail with emails[] [assumed; not documented]")
def _email_filter(obs: Observations) -> tuple[str, list[str]]:
    return _filter_check(obs, "people_by_email", "people", assumptions.ROAPP_PEOPLE_EMAIL_FILTER,
                         lambda row: (row.get("email") or "").lower() == NOBODY_EMAIL)


@check("roapp.product_sku_filter", "roapp", "products can be filtered by SKU with skus[] [assumed; not documented]")
def _sku_filter(obs: Observations) -> tuple[str, list[str]]:
    return _filter_check(obs, "products_by_sku", "products", assumptions.ROAPP_PRODUCT_SKU_FILTER,
                         lambda row: row.get("sku") == NO_SKU)


@check("roapp.product_barcode_filter", "roapp",
       "products can be filtered by barcode with barcodes[] [assumed; not documented]")
def _barcode_filter(obs: Observations) -> tuple[str, list[str]]:
    return _filter_check(obs, "products_by_barcode", "products", assumptions.ROAPP_PRODUCT_BARCODE_FILTER,
                         lambda row: NO_BARCODE in map(str, row.get("barcodes") or []))


@check("roapp.list_shape", "roapp", "a list answers {data, count} [doc]; some code reads {data, paging}")
def _list_shape(obs: Observations) -> tuple[str, list[str]]:
    answer = obs.get("people")
    if answer is None:
        return _not_read(obs, "people")
    keys = sorted(answer) if isinstance(answer, dict) else ["a bare array"]
    evidence = [f"GET {PEOPLE} answers with keys {keys}"]
    if isinstance(answer, dict) and "data" in answer and "count" in answer:
        return CONFIRMED, evidence
    return CONTRADICTED, evidence + ["both shapes are read"]


def _entry_shapes(rows: list[dict[str, Any]], key: str) -> Counter:
    return Counter(("object{" + ",".join(sorted(e)) + "}") if isinstance(e, dict) else type(e).__name__
                   for row in rows for e in row.get(key) or [])


@check("roapp.phones_shape", "roapp", "a person's phones are objects {phone, title} [doc]; some code reads strings")
def _phones(obs: Observations) -> tuple[str, list[str]]:
    if "people" not in obs.answers:
        return _not_read(obs, "people")
    shapes = _entry_shapes(_data(obs.get("people")), "phones")
    if not shapes:
        return NOT_CHECKABLE, ["no phones on the first page of people"]
    evidence = [f"phones: {dict(shapes)}"]
    return (CONFIRMED if all(s.startswith("object{") and "phone" in s for s in shapes) else CONTRADICTED), evidence


@check("roapp.barcodes_shape", "roapp", "a product's barcodes are strings [doc]; they may come back as objects")
def _barcodes(obs: Observations) -> tuple[str, list[str]]:
    if "products" not in obs.answers:
        return _not_read(obs, "products")
    shapes = _entry_shapes(_data(obs.get("products")), "barcodes")
    if not shapes:
        return NOT_CHECKABLE, ["no barcodes on the first page of products"]
    return (CONFIRMED if set(shapes) == {"str"} else CONTRADICTED), [f"barcodes: {dict(shapes)}"]


@check("roapp.product_prices", "roapp", "a product has prices[] per price type and cost, no flat price [doc][code]")
def _prices(obs: Observations) -> tuple[str, list[str]]:
    rows = _data(obs.get("products"))
    if "products" not in obs.answers:
        return _not_read(obs, "products")
    if not rows:
        return NOT_CHECKABLE, ["no products"]
    with_prices = sum(1 for row in rows if isinstance(row.get("prices"), list))
    flat = sum(1 for row in rows if "price" in row)
    evidence = [f"{len(rows)} products: prices[] in {with_prices}, a flat price in {flat}"]
    return (CONFIRMED if with_prices == len(rows) else CONTRADICTED), evidence


@check("roapp.single_object", "roapp", "a single object comes bare [doc]; some code reads {data: {...}}")
def _single(obs: Observations) -> tuple[str, list[str]]:
    answer = obs.get("person")
    if answer is None:
        return (_not_read(obs, "person") if "person" in obs.errors else (NOT_CHECKABLE, ["no person to read"]))
    keys = sorted(answer) if isinstance(answer, dict) else []
    evidence = [f"GET {PEOPLE}/<id> answers with keys {keys}"]
    wrapped = keys == ["data"] and isinstance(answer["data"], dict)
    return (CONTRADICTED if wrapped else CONFIRMED), evidence + (["both shapes are read"] if wrapped else [])


@check("roapp.custom_field_name", "roapp", "a custom field is named by `title` [doc]; some code reads `name`")
def _custom_field_name(obs: Observations) -> tuple[str, list[str]]:
    if "custom_fields" not in obs.answers:
        return _not_read(obs, "custom_fields")
    rows = _data(obs.get("custom_fields"))
    if not rows:
        return NOT_CHECKABLE, ["no custom fields"]
    seen = sorted({k for row in rows for k in row})
    evidence = [f"{len(rows)} custom fields; keys {seen}"]
    return (CONFIRMED if all("title" in row for row in rows) else CONTRADICTED), evidence
