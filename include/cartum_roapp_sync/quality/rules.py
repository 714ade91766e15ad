"""The checks, built from the entity declarations.

Each entity declares its data quality rules as data (``entity.rules``, and
``entity.lines.rules`` for the lines inside its records; see
:mod:`cartum_roapp_sync.entities`). Here every rule kind expands into one or more
:class:`Check` objects, in the order declared:

``key``
    ``<key>_not_null``; ``<key>_not_blank`` when the key field is a string; ``<key>_unique``
    (every copy of a duplicated key is quarantined).
``present``
    ``<column>_not_null``, ``<column>_not_blank``.
``not_null`` / ``at_least_zero`` / ``positive``
    ``<column>_not_null`` / ``<column>_at_least_zero`` / ``<column>_positive`` (> 0).
``status_mapped``
    ``status_mapped``: the RO App status is not null; the reason names the Cartum status
    (``cartum_status``) and how to map it.
``store_currency``
    ``<column>_not_null`` (the reason names the store's currency), then
    ``<column>_is_store_currency``.

Every frame's checks start with ``columns_match_entity``. The lines of a record (an order's
items) are checked as a frame of their own (``entity.lines.frame``) with the columns
``(<entity key>, "item_no", *lines.fields)``; their check names get the prefix ``item_``
and their reasons the line's label: ``item 2 (article 'X'): price -1 is negative``.

Importing this module imports neither pandas nor Great Expectations.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from cartum_roapp_sync.entities import ENTITIES, ORDERS, Entity, Rule

from .gx import Runtime, gx

if TYPE_CHECKING:
    import pandas as pd

    from cartum_roapp_sync.config import StoreConfig

BLANK = r"\A\s*\Z"
SCHEMA_CHECK = "columns_match_entity"

#: What one line of a record is called: the prefix of the line checks' names (``item_``)
#: and the start of their reasons (``item 2 (article 'X'): ...``).
LINE = "item"
#: The lines frame's column with a line's 1-based position in its record.
LINE_NO = "item_no"
#: The column the ``status_mapped`` reason reads the Cartum status from.
STATUS_SOURCE = "cartum_status"


# --------------------------------------------------------------------------- values


def plain(value: Any) -> Any:
    """numpy/pandas scalars → plain Python; NaN, NaT and NA → None; integral floats → int."""
    if value is None or isinstance(value, (list, tuple, dict)):
        return value
    if hasattr(value, "item") and not hasattr(value, "__len__"):
        value = value.item()
    try:
        import pandas as pd

        if pd.isna(value):
            return None
    except (TypeError, ValueError):  # arrays and other containers are never "NA"
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    return value


def show(value: Any) -> str:
    value = plain(value)
    return "null" if value is None else repr(value)


# --------------------------------------------------------------------------- checks

#: A failing row (as a dict) and the whole frame → why the row fails.
Reason = Callable[[Mapping[str, Any], "pd.DataFrame"], str]


@dataclass(frozen=True)
class Check:
    """One expectation and how to explain a row that fails it."""

    name: str                 # stable id, kept in the run summary
    expectation: str          # class name in great_expectations.expectations
    kwargs: Mapping[str, Any]
    column: str | None = None
    reason: Reason | None = None   # None for batch checks

    def build(self) -> Any:
        cls = getattr(gx().expectations, self.expectation)
        kwargs = dict(self.kwargs)
        if self.column is not None:
            kwargs["column"] = self.column
        return cls(**kwargs, meta={"check": self.name})


@dataclass(frozen=True)
class Frame:
    """A frame the checks run on: a batch of an entity, or the lines inside its records."""

    name: str                 # "clients", "products", "orders", "order_items"
    entity: Entity            # the entity that declares it
    columns: tuple[str, ...]
    rules: tuple[Rule, ...]
    lines: bool = False


def line_columns(entity: Entity) -> tuple[str, ...]:
    """Columns of the frame an entity's lines are checked in: one row per line, with the
    record it belongs to and its 1-based position in the record."""
    if entity.lines is None:
        raise ValueError(f"{entity.name} declares no lines")
    return (entity.key, LINE_NO, *entity.lines.fields)


def frames_of(entity: Entity) -> tuple[Frame, ...]:
    """The entity's own frame, then its lines' frame if it declares lines."""
    own = Frame(entity.name, entity, entity.columns, entity.rules)
    if entity.lines is None:
        return (own,)
    return (own, Frame(entity.lines.frame, entity, line_columns(entity), entity.lines.rules, lines=True))


#: Every frame the checks run on, by name, in load order (an entity's lines after it).
FRAMES: dict[str, Frame] = {frame.name: frame for entity in ENTITIES for frame in frames_of(entity)}

#: Columns of the order-items frame the order line checks run on.
ITEM_COLUMNS = line_columns(ORDERS)


# --------------------------------------------------------------------------- expansions


def _not_null(column: str, what: str | None = None) -> Check:
    return Check(f"{column}_not_null", "ExpectColumnValuesToNotBeNull", {}, column,
                 lambda row, frame: f"{what or column} is missing")


def _not_blank(column: str) -> Check:
    return Check(f"{column}_not_blank", "ExpectColumnValuesToNotMatchRegex", {"regex": BLANK}, column,
                 lambda row, frame: f"{column} is empty")


def _unique(key: str) -> Check:
    def reason(row: Mapping[str, Any], frame: pd.DataFrame) -> str:
        copies = int((frame[key] == row[key]).sum())
        return (f"{key} {show(row[key])} appears {copies} times in this batch; every copy is "
                f"quarantined because the loader cannot tell which one is right")

    return Check(f"{key}_unique", "ExpectColumnValuesToBeUnique", {}, key, reason)


def _key_type(entity: Entity) -> Any:
    return next((f.type for f in entity.fields if f.name == entity.key), None)


def _expand_key(rule: Rule, frame: Frame, config: StoreConfig) -> list[Check]:
    key = frame.entity.key
    blank = [_not_blank(key)] if _key_type(frame.entity) is str else []
    return [_not_null(key), *blank, _unique(key)]


def _expand_present(rule: Rule, frame: Frame, config: StoreConfig) -> list[Check]:
    """Not null and not empty or whitespace (strings only)."""
    return [_not_null(rule.column), _not_blank(rule.column)]


def _expand_not_null(rule: Rule, frame: Frame, config: StoreConfig) -> list[Check]:
    return [_not_null(rule.column)]


def _expand_at_least_zero(rule: Rule, frame: Frame, config: StoreConfig) -> list[Check]:
    column = rule.column
    return [Check(f"{column}_at_least_zero", "ExpectColumnValuesToBeBetween", {"min_value": 0}, column,
                  lambda row, frame: f"{column} {show(row[column])} is negative")]


def _expand_positive(rule: Rule, frame: Frame, config: StoreConfig) -> list[Check]:
    column = rule.column
    return [Check(f"{column}_positive", "ExpectColumnValuesToBeBetween", {"min_value": 0, "strict_min": True},
                  column, lambda row, frame: f"{column} {show(row[column])} is not greater than 0")]


def _expand_status_mapped(rule: Rule, frame: Frame, config: StoreConfig) -> list[Check]:
    def unmapped(row: Mapping[str, Any], frame: pd.DataFrame) -> str:
        status = show(row.get(STATUS_SOURCE))
        return (f"Cartum status {status} has no RO App status in status_map: match status {status} in "
                f"`cartum-roapp stores statuses {config.store_id} --set {status}=ROAPP_ID` (the order is held "
                f"until then)")

    return [Check("status_mapped", "ExpectColumnValuesToNotBeNull", {}, rule.column, unmapped)]


def _expand_store_currency(rule: Rule, frame: Frame, config: StoreConfig) -> list[Check]:
    column, currency = rule.column, config.currency

    def wrong_currency(row: Mapping[str, Any], frame: pd.DataFrame) -> str:
        return (f"{column} {show(row[column])} is not the store's currency {currency!r} "
                f"(set \"currency\" in the store settings if the store really sells in it)")

    return [
        _not_null(column, f"{column} (the store sells in {currency})"),
        Check(f"{column}_is_store_currency", "ExpectColumnValuesToBeInSet", {"value_set": [currency]},
              column, wrong_currency),
    ]


#: How each rule kind of :data:`cartum_roapp_sync.entities.RULE_KINDS` becomes checks.
EXPANSIONS: dict[str, Callable[[Rule, Frame, StoreConfig], list[Check]]] = {
    "key": _expand_key,
    "present": _expand_present,
    "not_null": _expand_not_null,
    "at_least_zero": _expand_at_least_zero,
    "positive": _expand_positive,
    "status_mapped": _expand_status_mapped,
    "store_currency": _expand_store_currency,
}


def line_label(row: Mapping[str, Any]) -> str:
    article = plain(row.get("article"))
    named = f"article {article!r}" if article not in (None, "") else "no article"
    return f"{LINE} {plain(row.get(LINE_NO))} ({named})"


def _as_line_check(check: Check) -> Check:
    inner = check.reason

    def reason(row: Mapping[str, Any], frame: pd.DataFrame) -> str:
        return f"{line_label(row)}: {inner(row, frame)}"

    return replace(check, name=f"{LINE}_{check.name}", reason=None if inner is None else reason)


# --------------------------------------------------------------------------- declarations


def frame_problems(frame: Frame) -> list[str]:
    """Why the frame's declared rules cannot be expanded; empty when they can."""
    problems = []
    if not frame.rules:
        problems.append(f"{frame.name}: no quality rules declared")
    for rule in frame.rules:
        where = f"{frame.name}: rule {rule.kind}({rule.column or ''})"
        if rule.kind not in EXPANSIONS:
            problems.append(f"{where}: unknown kind, expected one of {', '.join(EXPANSIONS)}")
        elif rule.kind == "key":
            if frame.lines:
                problems.append(f"{where}: lines have no key")
            elif rule.column not in (None, frame.entity.key):
                problems.append(f"{where}: a key rule is about the entity's key {frame.entity.key}")
            elif frame.entity.key not in frame.columns:
                problems.append(f"{where}: the key {frame.entity.key} is not a declared field")
        elif rule.column is None:
            problems.append(f"{where}: names no column")
        elif rule.column not in frame.columns:
            problems.append(f"{where}: {rule.column} is not a declared column ({', '.join(frame.columns)})")
        elif rule.kind == "status_mapped" and STATUS_SOURCE not in frame.columns:
            problems.append(f"{where}: its reason reads {STATUS_SOURCE}, which is not a declared column")
    return problems


def problems(entity: Entity) -> list[str]:
    """Why the entity's quality declarations (its own and its lines') cannot be built."""
    return [problem for frame in frames_of(entity) for problem in frame_problems(frame)]


def checks(name: str, config: StoreConfig) -> list[Check]:
    """The checks of frame ``name``, in suite order: the column check, then each declared
    rule's checks in declaration order. Raises ValueError for an unknown frame name or
    rules that cannot be expanded."""
    if name not in FRAMES:
        raise ValueError(f"No quality checks for {name!r}: expected one of {', '.join(FRAMES)}")
    frame = FRAMES[name]
    wrong = frame_problems(frame)
    if wrong:
        raise ValueError("The quality rules in cartum_roapp_sync.entities cannot be built: " + "; ".join(wrong))
    schema = Check(SCHEMA_CHECK, "ExpectTableColumnsToMatchSet",
                   {"column_set": list(frame.columns), "exact_match": True})
    built = [check for rule in frame.rules for check in EXPANSIONS[rule.kind](rule, frame, config)]
    if frame.lines:
        built = [_as_line_check(check) for check in built]
    return [schema, *built]


# --------------------------------------------------------------------------- suites


def build_suite(name: str, config: StoreConfig) -> Any:
    """The Great Expectations ``ExpectationSuite`` for ``name`` ("clients", "products",
    "orders" or "order_items") and this store. Each expectation carries ``meta["check"]``,
    the check's stable name used in reasons and in the run summary."""
    return suite(name, checks(name, config), config)


def suite(name: str, frame_checks: list[Check], config: StoreConfig) -> Any:
    """An ``ExpectationSuite`` of ``frame_checks`` for frame ``name`` of this store."""
    Runtime.get()  # an ExpectationSuite needs an active GX context
    built = gx().ExpectationSuite(name=f"{config.store_id}.{name}")
    for check in frame_checks:
        built.add_expectation(check.build())
    return built
