"""Data quality: Great Expectations suites that sit between the transforms and the loader.

Every batch of clients, products or orders goes through :func:`validate_entity` before
anything is written to RO App. Two kinds of problem are told apart:

Row-level quarantine
    One record breaks a rule (an order whose Cartum status is missing from ``status_map``,
    a product with a negative price, an order line with quantity 0...). That record is
    left out of :attr:`QualityResult.valid` and listed in :attr:`QualityResult.quarantined`
    with human-readable reasons; the other records are still loaded. An order with one bad
    line is quarantined as a whole: RO App must never get half an order. Records whose key
    is null, blank or duplicated are quarantined too, *every copy* of a duplicate, because
    the loader must never guess which one is right.

Batch-level failure
    Something is wrong with the batch as a whole, so nothing in it should be trusted:
    the frame's columns are not exactly the entity's declared columns (a transform and this
    module disagree about the contract), a check could not run at all, or the share of
    quarantined rows is above the store's ``max_bad_share`` (a systematic problem such as a
    new Cartum status nobody mapped, not a few odd records). :attr:`QualityResult.batch_ok`
    is then False and the caller loads nothing; :attr:`QualityResult.rows_to_load` already
    does that.

The suites are built in code from :mod:`cartum_roapp_sync.entities` and the store's
:class:`~cartum_roapp_sync.config.StoreConfig`. Great Expectations and pandas are imported
lazily, inside functions: DAG files import this package while they are parsed, and
importing Great Expectations costs seconds. One ephemeral GX context is created per process
on first use and reused.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cartum_roapp_sync.entities import BY_NAME, ORDERS, Entity

if TYPE_CHECKING:
    import pandas as pd

    from cartum_roapp_sync.config import StoreConfig

__all__ = ["ITEM_COLUMNS", "QualityResult", "build_suite", "explode_items", "validate_entity"]

#: Columns of the order-items frame the order line checks run on: one row per line, with
#: the order it belongs to and its 1-based position in the order.
ITEM_FIELDS = ("product_key", "article", "title", "quantity", "price")
ITEM_COLUMNS = ("order_id", "item_no", *ITEM_FIELDS)
ORDER_ITEMS = "order_items"

_BLANK = r"\A\s*\Z"
_SCHEMA_CHECK = "columns_match_entity"


def _gx():  # type: ignore[no-untyped-def]
    """great_expectations, imported on first use (DAG parsing must stay fast) and without
    its import-time INFO chatter, which would otherwise fill every task log."""
    logging.getLogger("great_expectations._docs_decorators").setLevel(logging.WARNING)
    import great_expectations

    return great_expectations


# --------------------------------------------------------------------------- checks


@dataclass(frozen=True)
class _Check:
    """One expectation and how to explain a row that fails it."""

    name: str                 # stable id, kept in the run summary
    expectation: str          # class name in great_expectations.expectations
    kwargs: Mapping[str, Any]
    column: str | None = None
    # row (a dict of the failing row) and the whole frame → the reason; None for batch checks
    reason: Callable[[Mapping[str, Any], pd.DataFrame], str] | None = None

    def build(self) -> Any:
        gx = _gx()

        cls = getattr(gx.expectations, self.expectation)
        kwargs = dict(self.kwargs)
        if self.column is not None:
            kwargs["column"] = self.column
        return cls(**kwargs, meta={"check": self.name})


def _show(value: Any) -> str:
    value = _plain(value)
    return "null" if value is None else repr(value)


def _not_null(name: str, column: str, what: str | None = None) -> _Check:
    return _Check(name, "ExpectColumnValuesToNotBeNull", {}, column,
                  lambda row, frame: f"{what or column} is missing")


def _not_blank(name: str, column: str, what: str | None = None) -> _Check:
    return _Check(name, "ExpectColumnValuesToNotMatchRegex", {"regex": _BLANK}, column,
                  lambda row, frame: f"{what or column} is empty")


def _present(column: str) -> list[_Check]:
    """Not null and not empty or whitespace (strings only)."""
    return [_not_null(f"{column}_not_null", column), _not_blank(f"{column}_not_blank", column)]


def _unique_key(entity: Entity) -> _Check:
    key = entity.key

    def reason(row: Mapping[str, Any], frame: pd.DataFrame) -> str:
        copies = int((frame[key] == row[key]).sum())
        return (f"{key} {_show(row[key])} appears {copies} times in this batch; every copy is "
                f"quarantined because the loader cannot tell which one is right")

    return _Check(f"{key}_unique", "ExpectColumnValuesToBeUnique", {}, key, reason)


def _at_least_zero(name: str, column: str, what: str | None = None) -> _Check:
    return _Check(name, "ExpectColumnValuesToBeBetween", {"min_value": 0}, column,
                  lambda row, frame: f"{what or column} {_show(row[column])} is negative")


def _client_checks(config: StoreConfig) -> list[_Check]:
    return [
        _not_null("client_key_not_null", "client_key"),
        _not_blank("client_key_not_blank", "client_key"),
        _unique_key(BY_NAME["clients"]),
        *_present("first_name"),
    ]


def _product_checks(config: StoreConfig) -> list[_Check]:
    return [
        _not_null("product_key_not_null", "product_key"),
        _not_blank("product_key_not_blank", "product_key"),
        _unique_key(BY_NAME["products"]),
        *_present("title"),
        _not_null("price_not_null", "price"),
        _at_least_zero("price_at_least_zero", "price"),
    ]


def _order_checks(config: StoreConfig) -> list[_Check]:
    currency = config.currency

    def unmapped(row: Mapping[str, Any], frame: pd.DataFrame) -> str:
        status = _show(row.get("cartum_status"))
        return (f"Cartum status {status} has no RO App status in status_map: add "
                f"\"{status}\": <RO App status id> to the store's status_map")

    def wrong_currency(row: Mapping[str, Any], frame: pd.DataFrame) -> str:
        return (f"currency {_show(row['currency'])} is not the store's currency {currency!r} "
                f"(set \"currency\" in the store settings if the store really sells in it)")

    return [
        _not_null("order_id_not_null", "order_id"),
        _unique_key(ORDERS),
        *_present("client_key"),
        _Check("status_mapped", "ExpectColumnValuesToNotBeNull", {}, "roapp_status_id", unmapped),
        _not_null("currency_not_null", "currency", f"currency (the store sells in {currency})"),
        _Check("currency_is_store_currency", "ExpectColumnValuesToBeInSet",
               {"value_set": [currency]}, "currency", wrong_currency),
        _not_null("total_not_null", "total"),
        _at_least_zero("total_at_least_zero", "total"),
    ]


def _item_label(row: Mapping[str, Any]) -> str:
    article = _plain(row.get("article"))
    named = f"article {article!r}" if article not in (None, "") else "no article"
    return f"item {_plain(row.get('item_no'))} ({named})"


def _item_checks(config: StoreConfig) -> list[_Check]:
    def says(text: str, column: str | None = None) -> Callable[[Mapping[str, Any], Any], str]:
        def reason(row: Mapping[str, Any], frame: Any) -> str:
            value = f" {_show(row[column])}" if column else ""
            return f"{_item_label(row)}: {text.format(value=value)}"
        return reason

    return [
        _Check("item_product_key_not_null", "ExpectColumnValuesToNotBeNull", {}, "product_key",
               says("product_key is missing")),
        _Check("item_product_key_not_blank", "ExpectColumnValuesToNotMatchRegex", {"regex": _BLANK},
               "product_key", says("product_key is empty")),
        _Check("item_title_not_null", "ExpectColumnValuesToNotBeNull", {}, "title",
               says("title is missing")),
        _Check("item_title_not_blank", "ExpectColumnValuesToNotMatchRegex", {"regex": _BLANK},
               "title", says("title is empty")),
        _Check("item_quantity_not_null", "ExpectColumnValuesToNotBeNull", {}, "quantity",
               says("quantity is missing")),
        _Check("item_quantity_positive", "ExpectColumnValuesToBeBetween",
               {"min_value": 0, "strict_min": True}, "quantity",
               says("quantity{value} is not greater than 0", "quantity")),
        _Check("item_price_not_null", "ExpectColumnValuesToNotBeNull", {}, "price",
               says("price is missing")),
        _Check("item_price_at_least_zero", "ExpectColumnValuesToBeBetween", {"min_value": 0},
               "price", says("price{value} is negative", "price")),
    ]


_ROW_CHECKS: dict[str, Callable[[StoreConfig], list[_Check]]] = {
    "clients": _client_checks,
    "products": _product_checks,
    "orders": _order_checks,
    ORDER_ITEMS: _item_checks,
}


def _checks(name: str, config: StoreConfig) -> list[_Check]:
    if name not in _ROW_CHECKS:
        raise ValueError(f"No quality checks for {name!r}: expected one of {', '.join(_ROW_CHECKS)}")
    columns = ITEM_COLUMNS if name == ORDER_ITEMS else BY_NAME[name].columns
    schema = _Check(_SCHEMA_CHECK, "ExpectTableColumnsToMatchSet",
                    {"column_set": list(columns), "exact_match": True})
    return [schema, *_ROW_CHECKS[name](config)]


def build_suite(name: str, config: StoreConfig) -> Any:
    """The Great Expectations ``ExpectationSuite`` for ``name`` ("clients", "products",
    "orders" or "order_items") and this store. Each expectation carries ``meta["check"]``,
    the check's stable name used in reasons and in the run summary."""
    return _suite(name, _checks(name, config), config)


def _suite(name: str, checks: list[_Check], config: StoreConfig) -> Any:
    gx = _gx()

    suite = gx.ExpectationSuite(name=f"{config.store_id}.{name}")
    for check in checks:
        suite.add_expectation(check.build())
    return suite


# --------------------------------------------------------------------------- GX runtime


class _Runtime:
    """One ephemeral GX context per process, with a pandas data source and one dataframe
    asset per frame kind. Creating it is cheap once GX is imported (milliseconds); importing
    GX is what costs, and that happens once per process either way."""

    _instance: _Runtime | None = None
    _lock = threading.Lock()

    def __init__(self) -> None:
        gx = _gx()
        from great_expectations.data_context.types.base import ProgressBarsConfig

        self.context = gx.get_context(mode="ephemeral")
        # tqdm bars on every validation would flood the Airflow task logs.
        self.context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
        source = self.context.data_sources.add_pandas("cartum_roapp_quality")
        self.batch_definitions = {
            name: source.add_dataframe_asset(name).add_batch_definition_whole_dataframe(name)
            for name in _ROW_CHECKS
        }

    @classmethod
    def get(cls) -> _Runtime:
        with cls._lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    def validate(self, name: str, frame: pd.DataFrame, suite: Any) -> Any:
        # The index of a failing row comes back in unexpected_index_list; frames are
        # validated with a RangeIndex so those are row positions. Key columns cannot serve
        # as unexpected_index_column_names: a null or duplicated key does not say which row.
        with self._lock:  # one shared context: keep threads from interleaving batches
            batch = self.batch_definitions[name].get_batch(batch_parameters={"dataframe": frame})
            return batch.validate(suite, result_format={"result_format": "COMPLETE"})


# --------------------------------------------------------------------------- result


@dataclass
class QualityResult:
    """What :func:`validate_entity` found in one batch of one entity.

    ``valid``
        The rows that passed every row-level check, with the input's index and columns.
    ``quarantined``
        One ``{"key": <the entity key value or None>, "reasons": [str, ...]}`` per failing
        row, in input order. Duplicated keys appear once per copy.
    ``batch_ok``
        False when the batch as a whole must not be loaded (see ``batch_errors``).
    ``batch_errors``
        Why the batch failed: columns that differ from the entity's declaration, a check
        that could not run, or a share of quarantined rows above ``max_bad_share``.
    ``summary``
        JSON-serialisable record of the run: counts and, per expectation, its check name,
        frame, type, column, success and unexpected count.
    """

    entity: str
    valid: pd.DataFrame
    quarantined: list[dict[str, Any]]
    batch_ok: bool
    batch_errors: list[str]
    summary: dict[str, Any] = field(repr=False)

    @property
    def rows_to_load(self) -> pd.DataFrame:
        """``valid`` when the batch passed, otherwise no rows (same columns)."""
        return self.valid if self.batch_ok else self.valid.iloc[0:0]


# --------------------------------------------------------------------------- validation


def explode_items(orders: pd.DataFrame) -> tuple[pd.DataFrame, list[int], dict[int, list[str]]]:
    """Order lines as a frame with :data:`ITEM_COLUMNS` and a RangeIndex.

    Returns the frame, the position in ``orders`` of each line's order, and reasons for
    orders whose ``items`` cannot be read at all (not a list, or a line that is not an
    object), by order position."""
    import numpy as np
    import pandas as pd

    records: list[dict[str, Any]] = []
    parents: list[int] = []
    unreadable: dict[int, list[str]] = {}
    for position, (order_id, items) in enumerate(zip(orders["order_id"], orders["items"], strict=True)):
        if not isinstance(items, (list, tuple, np.ndarray)):  # arrays: after a Parquet round trip
            what = "null" if _plain(items) is None else type(items).__name__
            unreadable[position] = [f"items is {what}, not a list of order lines"]
            continue
        for number, item in enumerate(items, start=1):
            if not isinstance(item, Mapping):
                unreadable.setdefault(position, []).append(
                    f"item {number} is {type(item).__name__}, not an object with {', '.join(ITEM_FIELDS)}")
                continue
            records.append({"order_id": order_id, "item_no": number, **{f: item.get(f) for f in ITEM_FIELDS}})
            parents.append(position)
    return pd.DataFrame.from_records(records, columns=list(ITEM_COLUMNS)), parents, unreadable


def _plain(value: Any) -> Any:
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


def _gx_error(result: Any) -> str | None:
    """The exception message when GX could not evaluate an expectation, else None."""
    info = result.exception_info or {}
    if info.get("raised_exception"):
        return str(info.get("exception_message"))
    for value in info.values():
        if isinstance(value, Mapping) and value.get("raised_exception"):
            return str(value.get("exception_message"))
    return None


@dataclass
class _FrameOutcome:
    reasons: dict[int, list[str]]   # row position → reasons
    errors: list[str]
    expectations: list[dict[str, Any]]


def _run_checks(name: str, frame: pd.DataFrame, config: StoreConfig) -> _FrameOutcome:
    """Validate ``frame`` (RangeIndex, declared columns possibly missing or extra) and
    turn the GX result into reasons per row position."""
    checks = _checks(name, config)
    present = set(frame.columns)
    runnable = [c for c in checks if c.column is None or c.column in present]
    outcome = _FrameOutcome({}, [], [])
    entries: dict[str, dict[str, Any]] = {}

    if len(frame) and runnable:
        gx_result = _Runtime.get().validate(name, frame, _suite(name, runnable, config))
        # GX does not keep the suite's order in its results: match them by meta["check"]
        # and read them in suite order, so a row's reasons always come in the same order.
        results = {r.expectation_config.meta["check"]: r for r in gx_result.results}
        for check in runnable:
            result = results[check.name]
            error = _gx_error(result)
            details = result.result or {}
            entry = {"unexpected_count": int(details.get("unexpected_count") or 0), "success": bool(result.success)}
            if error is not None:
                entry.update(success=False, error=error)
                outcome.errors.append(f"{name}: check {check.name} could not run: {error}")
            elif check.reason is not None and not result.success:
                for position in details.get("unexpected_index_list") or []:
                    row = frame.iloc[int(position)].to_dict()
                    outcome.reasons.setdefault(int(position), []).append(check.reason(row, frame))
            entries[check.name] = entry

    for check in checks:
        entry = {"check": check.name, "frame": name, "expectation_type": _snake(check.expectation),
                 "column": check.column}
        if check.name in entries:
            entry.update(entries[check.name])
        elif check.column is not None and check.column not in present:
            entry.update(success=False, unexpected_count=0, skipped=f"column {check.column} is missing")
        elif check.name == _SCHEMA_CHECK:
            entry.update(success=set(frame.columns) == set(check.kwargs["column_set"]), unexpected_count=0)
        else:
            entry.update(success=True, unexpected_count=0, skipped="no rows")
        outcome.expectations.append(entry)
    return outcome


def _snake(class_name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in class_name).lstrip("_")


def _schema_errors(entity: Entity, frame: pd.DataFrame) -> list[str]:
    columns = list(frame.columns)
    errors = []
    duplicated = sorted({str(c) for c in columns if columns.count(c) > 1})
    if duplicated:
        errors.append(f"{entity.name}: columns appear more than once: {', '.join(duplicated)}")
    missing = [c for c in entity.columns if c not in columns]
    extra = sorted({str(c) for c in columns if c not in entity.columns})
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing)}")
        if extra:
            parts.append(f"unexpected {', '.join(extra)}")
        errors.append(f"{entity.name}: columns do not match the entity declaration ({'; '.join(parts)}); "
                      f"the transform and cartum_roapp_sync.entities disagree, fix one of them")
    return errors


def validate_entity(entity_name: str, frame: pd.DataFrame, config: StoreConfig) -> QualityResult:
    """Run the entity's expectation suite on ``frame`` and split it into loadable rows and
    quarantined rows.

    ``entity_name`` is "clients", "products" or "orders"; ``frame`` has the entity's
    declared columns (any index). Rows failing a row-level check are quarantined with one
    reason per failed check; all copies of a duplicated key are quarantined. For orders,
    the ``items`` lists are exploded into an order-items frame and checked too; an order
    with a bad line is quarantined as a whole, the reason naming the line's article.
    The batch fails (``batch_ok`` False) when the columns differ from the declaration,
    when a check cannot run, or when more than ``config.max_bad_share`` of the rows are
    quarantined. An empty frame with the right columns is valid and skips GX.
    Raises ValueError for an unknown entity name.
    """
    if entity_name not in BY_NAME:
        raise ValueError(f"Unknown entity {entity_name!r}: expected one of {', '.join(BY_NAME)}")
    entity = BY_NAME[entity_name]
    batch_errors = _schema_errors(entity, frame)
    # Positions, not labels: GX reports failing rows by index, and the input's index may
    # repeat labels. With copy-on-write (pandas 3) this does not copy the data.
    work = frame.reset_index(drop=True)
    if work.columns.duplicated().any():
        # frame[column] would be a DataFrame, so no row check can run: the batch already
        # failed on its columns, and no row is called valid.
        work = work.iloc[0:0, ~work.columns.duplicated()]

    outcome = _run_checks(entity.name, work, config)
    reasons = outcome.reasons
    batch_errors += outcome.errors
    expectations = outcome.expectations
    item_count = 0

    if entity is ORDERS and {"order_id", "items"} <= set(work.columns) and len(work):
        items, parents, unreadable = explode_items(work)
        item_count = len(items)
        for position, texts in unreadable.items():
            reasons.setdefault(position, []).extend(texts)
        items_outcome = _run_checks(ORDER_ITEMS, items, config)
        batch_errors += items_outcome.errors
        expectations += items_outcome.expectations
        # Lines in order, so an order's reasons read item 1, item 2, ...
        for item_position in sorted(items_outcome.reasons):
            reasons.setdefault(parents[item_position], []).extend(items_outcome.reasons[item_position])

    bad_positions = sorted(reasons)
    keys = work[entity.key] if entity.key in work.columns else None
    quarantined = [{"key": None if keys is None else _plain(keys.iat[p]), "reasons": reasons[p]}
                   for p in bad_positions]
    valid = frame.iloc[[p for p in range(len(work)) if p not in reasons]]

    bad_share = len(bad_positions) / len(frame) if len(frame) else 0.0
    if bad_share > config.max_bad_share:
        batch_errors.append(
            f"{entity.name}: {len(bad_positions)} of {len(frame)} rows ({bad_share:.1%}) failed the "
            f"quality checks, above the store's max_bad_share of {config.max_bad_share:.1%}; this "
            f"looks systematic (e.g. a Cartum status missing from status_map): read the "
            f"quarantine reasons and fix the cause, or raise max_bad_share")

    batch_ok = not batch_errors
    summary = {
        "entity": entity.name,
        "store_id": config.store_id,
        "rows": len(frame),
        **({"order_items": item_count} if entity is ORDERS else {}),
        "valid_rows": len(valid),
        "quarantined_rows": len(quarantined),
        "bad_share": round(bad_share, 6),
        "max_bad_share": float(config.max_bad_share),
        "batch_ok": batch_ok,
        "batch_errors": list(batch_errors),
        "expectations": expectations,
    }
    return QualityResult(entity.name, valid, quarantined, batch_ok, list(batch_errors), summary)
