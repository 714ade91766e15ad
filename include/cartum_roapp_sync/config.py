"""Store settings: the Airflow Variable ``cartum_roapp_stores``, a JSON array with one
object per store, validated with a JSON schema. One broken entry is reported on its own
and never hides the others. No Airflow imports: callers pass the Variable's text.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jsonschema

from . import assumptions
from .assumptions import ROAPP_MANAGER_ROLES

VARIABLE_NAME = "cartum_roapp_stores"
DEFAULT_ROAPP_CONN_ID = "roapp_default"
DELIVERED = 3
REFERENCE_CACHE_MINUTES = 15

STORE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["store_id", "name", "cartum_conn_id", "location_id", "order_type_id", "language",
                 "product_key", "managers", "status_map"],
    "properties": {
        "store_id": {"type": "string", "pattern": "^[a-z0-9_]{1,48}$"},
        "name": {"type": "string", "minLength": 1, "maxLength": 64},
        "enabled": {"type": "boolean"},
        "cartum_conn_id": {"type": "string", "minLength": 1},
        "roapp_conn_id": {"type": "string", "minLength": 1},
        "location_id": {"type": "integer"},
        "order_type_id": {"type": "integer"},
        "language": {"type": "string", "pattern": "^[a-z]{2,3}$"},
        "product_key": {"enum": ["sku", "barcode"]},
        "managers": {"oneOf": [{"const": "all"},
                               {"type": "array", "items": {"type": "integer"}, "minItems": 1, "uniqueItems": True}]},
        "status_map": {"type": "object", "propertyNames": {"pattern": "^[0-9]+$"},
                       "additionalProperties": {"type": "integer"}},
        "import_days": {"type": "integer", "minimum": 1, "maximum": 3650},
        "skip_statuses_on_import": {"type": "array", "items": {"type": "integer"}},
        # Optional tuning keys (see README: "Optional store keys").
        "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
        "phone_country": {"type": "string", "pattern": "^[A-Z]{2}$"},
        "catalog_refresh_minutes": {"type": "integer", "minimum": 5},
        "max_bad_share": {"type": "number", "minimum": 0, "maximum": 1},
        "min_bad_rows": {"type": "integer", "minimum": 1},
        "overlap_minutes": {"type": "integer", "minimum": 0, "maximum": 1440},
        "final_statuses": {"type": "array", "items": {"type": "integer"}},
        "reconcile_days": {"type": "integer", "minimum": 1, "maximum": 3650},
        "reconcile_hour": {"type": "integer", "minimum": 0, "maximum": 23},
        "final_reread_minutes": {"type": "integer", "minimum": 5},
        "reference_cache_minutes": {"type": "integer", "minimum": 0, "maximum": 1440},
        "final_days": {"type": "integer", "minimum": 0, "maximum": 365},
        "quarantine_keep_days": {"type": "integer", "minimum": 1},
        "history_keep_days": {"type": "integer", "minimum": 1},
        "timezone": {"type": "string", "minLength": 1},
        "manager_roles": {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1},
        "backfill_chunk": {"type": "integer", "minimum": 1},
        "load_budget_minutes": {"type": "number", "exclusiveMinimum": 0},
        # The Celery queue of the store's tasks (CeleryExecutor): a heavy RO App account on
        # workers of its own (README: "Production deployment").
        "queue": {"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,64}$"},
    },
}


class ConfigError(ValueError):
    """The Variable, or one store entry in it, is not valid."""


@dataclass(frozen=True)
class StoreConfig:
    store_id: str
    name: str
    cartum_conn_id: str
    location_id: int
    order_type_id: int
    language: str
    product_key: str
    managers: Any                      # "all" or a list of employee ids
    status_map: dict[str, int]
    enabled: bool = True
    roapp_conn_id: str = DEFAULT_ROAPP_CONN_ID
    import_days: int = 60
    skip_statuses_on_import: tuple[int, ...] = (DELIVERED,)
    currency: str = "UAH"
    phone_country: str = "UA"
    catalog_refresh_minutes: int = 60
    max_bad_share: float = 0.2
    min_bad_rows: int = 5
    overlap_minutes: int = 10
    #: added to the statuses found final (Cartum ``is_successful``, RO App closed groups)
    final_statuses: tuple[int, ...] = (3, 4)
    reconcile_days: int = 7            # the reconcile pass re-reads orders created in the last N days
    reconcile_hour: int = 3            # store-local hour from which the day's first run reconciles
    final_reread_minutes: int = 60     # how often orders in a final status are re-read
    final_days: int = 14               # for how long after they became final (0: never)
    quarantine_keep_days: int = 30     # resolved quarantine rows are purged after this
    history_keep_days: int = 90        # record events (an order's story) are purged after this
    timezone: str = assumptions.CARTUM_STORE_TIMEZONE  # the store's clock: Cartum's times
    manager_roles: tuple[str, ...] = ROAPP_MANAGER_ROLES   # RO App role names that count as Manager
    # After the first import: registered customers and catalogue products not yet in RO App
    # load this many of each per run (one create each, ~2 × 300 calls: within a 5-minute run at 3/s).
    backfill_chunk: int = 300
    # A load step starts no new record this long after it began (Airflow's execution_timeout
    # is 2 h, ``dags.DEFAULT_ARGS``): it stops cleanly and its retry resumes.
    load_budget_minutes: float = 105
    queue: str | None = None           # the Celery queue of its tasks (None: Airflow's default queue)
    # How long RO App's and Cartum's reference data (locations, order types, employees,
    # statuses) are kept between runs (``reference``); 0: read on every run.
    reference_cache_minutes: int = REFERENCE_CACHE_MINUTES
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def dag_id(self) -> str:
        return f"cartum_roapp__{self.store_id}"

    def mapped_status(self, cartum_status: int) -> int | None:
        return self.status_map.get(str(cartum_status))

    def to_dict(self) -> dict[str, Any]:
        data = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "extra"}
        data["skip_statuses_on_import"] = list(self.skip_statuses_on_import)
        data["final_statuses"] = list(self.final_statuses)
        data["manager_roles"] = list(self.manager_roles)
        if self.queue is None:
            del data["queue"]
        if self.reference_cache_minutes == REFERENCE_CACHE_MINUTES:
            del data["reference_cache_minutes"]   # the default: entries written before it stay as they were
        return data


def _describe(error: jsonschema.ValidationError) -> str:
    where = ".".join(str(p) for p in error.absolute_path) or "(entry)"
    return f"{where}: {error.message}"


@functools.lru_cache(maxsize=1)
def _store_validator() -> jsonschema.Draft202012Validator:
    """Built once per process: a DAG parse validates every store's entry with it."""
    return jsonschema.Draft202012Validator(STORE_SCHEMA)


def parse_store(entry: Any) -> StoreConfig:
    """One entry → a StoreConfig, or ConfigError naming every bad field."""
    errors = sorted(_store_validator().iter_errors(entry), key=lambda e: list(e.absolute_path))
    if errors:
        raise ConfigError("; ".join(_describe(e) for e in errors))
    values = dict(entry)
    if "timezone" in values and not _is_timezone(values["timezone"]):
        raise ConfigError(f"timezone: {values['timezone']!r} is not a time zone: write an IANA name such as "
                          f"Europe/Kyiv (the zone Cartum writes the store's order times in)")
    for key in ("skip_statuses_on_import", "final_statuses", "manager_roles"):
        if key in values:
            values[key] = tuple(values[key])
    return StoreConfig(**values)


def _is_timezone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


@dataclass
class ParsedStores:
    stores: list[StoreConfig]
    errors: dict[str, str]   # store id (or "entry #n") → what is wrong


def parse_stores(raw: str | list[Any] | None) -> ParsedStores:
    """Parse the Variable. Problems with one entry land in ``errors`` under its name; a
    Variable that is not a JSON array raises ConfigError."""
    if raw is None or raw == "":
        return ParsedStores([], {})
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError as exc:
            raise ConfigError(f"Variable {VARIABLE_NAME} is not valid JSON: {exc}") from None
    if not isinstance(raw, list):
        raise ConfigError(f"Variable {VARIABLE_NAME} must be a JSON array of store objects, got {type(raw).__name__}")
    stores: list[StoreConfig] = []
    errors: dict[str, str] = {}
    seen: set[str] = set()
    for index, entry in enumerate(raw, start=1):
        name = entry.get("store_id") if isinstance(entry, dict) and isinstance(entry.get("store_id"), str) else None
        label = name or f"entry #{index}"
        try:
            store = parse_store(entry)
        except ConfigError as exc:
            errors[label] = str(exc)
            continue
        if store.store_id in seen:
            errors[f"{label} (entry #{index})"] = f"store_id {store.store_id!r} is used by an earlier entry"
            continue
        seen.add(store.store_id)
        stores.append(store)
    return ParsedStores(stores, errors)
