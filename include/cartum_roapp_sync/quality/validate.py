"""Validation: run a frame's checks through Great Expectations and turn the outcome into
loadable rows, quarantined rows with reasons, and batch errors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from cartum_roapp_sync.entities import BY_NAME, ORDERS, Entity

from .gx import Runtime
from .result import FrameOutcome, QualityResult
from .rules import LINE, LINE_NO, SCHEMA_CHECK, Check, checks, line_columns, plain, suite

#: The check whose failure holds a row rather than calling it bad (see ``validate_entity``).
HELD_CHECK = "status_mapped"

if TYPE_CHECKING:
    import pandas as pd

    from cartum_roapp_sync.config import StoreConfig


def explode_lines(records: pd.DataFrame, entity: Entity) -> tuple[pd.DataFrame, list[int], dict[int, list[str]]]:
    """The lines inside ``records`` (a frame of ``entity``, which declares ``lines``) as a
    frame with :func:`~.rules.line_columns` and a RangeIndex.

    Returns the frame, the position in ``records`` of each line's record, and reasons for
    records whose lines cannot be read at all (not a list, or a line that is not an
    object), by record position."""
    import numpy as np
    import pandas as pd

    lines = entity.lines
    if lines is None:
        raise ValueError(f"{entity.name} declares no lines")
    keys: list[Any] = []
    numbers: list[int] = []
    readable: list[Mapping[str, Any]] = []
    parents: list[int] = []
    unreadable: dict[int, list[str]] = {}
    for position, (key, items) in enumerate(zip(records[entity.key], records[lines.column], strict=True)):
        if not isinstance(items, (list, tuple, np.ndarray)):  # arrays: after a Parquet round trip
            what = "null" if plain(items) is None else type(items).__name__
            unreadable[position] = [f"{lines.column} is {what}, not a list of {entity.name[:-1]} lines"]
            continue
        for number, line in enumerate(items, start=1):
            if not isinstance(line, Mapping):
                unreadable.setdefault(position, []).append(
                    f"{LINE} {number} is {type(line).__name__}, not an object with {', '.join(lines.fields)}")
                continue
            keys.append(key)
            numbers.append(number)
            readable.append(line)
            parents.append(position)
    columns = list(line_columns(entity))
    if not readable:
        return pd.DataFrame.from_records([], columns=columns), parents, unreadable
    # Column by column (the same dtypes as a frame of one dict per line, without the dicts).
    values = {entity.key: keys, LINE_NO: numbers, **{f: [line.get(f) for line in readable] for f in lines.fields}}
    return pd.DataFrame(values, columns=columns), parents, unreadable


def explode_items(orders: pd.DataFrame) -> tuple[pd.DataFrame, list[int], dict[int, list[str]]]:
    """Order lines as a frame with :data:`ITEM_COLUMNS` and a RangeIndex.

    Returns the frame, the position in ``orders`` of each line's order, and reasons for
    orders whose ``items`` cannot be read at all (not a list, or a line that is not an
    object), by order position."""
    return explode_lines(orders, ORDERS)


def _gx_error(result: Any) -> str | None:
    """The exception message when GX could not evaluate an expectation, else None."""
    info = result.exception_info or {}
    if info.get("raised_exception"):
        return str(info.get("exception_message"))
    for value in info.values():
        if isinstance(value, Mapping) and value.get("raised_exception"):
            return str(value.get("exception_message"))
    return None


def _run_checks(name: str, frame: pd.DataFrame, config: StoreConfig) -> FrameOutcome:
    """Validate ``frame`` (RangeIndex, declared columns possibly missing or extra) and
    turn the GX result into reasons per row position."""
    frame_checks = checks(name, config)
    present = set(frame.columns)
    runnable = [c for c in frame_checks if c.column is None or c.column in present]
    outcome = FrameOutcome({}, [], [])
    entries: dict[str, dict[str, Any]] = {}

    if len(frame) and runnable:
        gx_result = Runtime.get().validate(name, _checked_columns(frame, runnable), suite(name, runnable, config))
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
                    outcome.failed.setdefault(int(position), []).append(check.name)
            entries[check.name] = entry

    for check in frame_checks:
        entry = {"check": check.name, "frame": name, "expectation_type": _snake(check.expectation),
                 "column": check.column}
        if check.name in entries:
            entry.update(entries[check.name])
        elif check.column is not None and check.column not in present:
            entry.update(success=False, unexpected_count=0, skipped=f"column {check.column} is missing")
        elif check.name == SCHEMA_CHECK:
            entry.update(success=set(frame.columns) == set(check.kwargs["column_set"]), unexpected_count=0)
        else:
            entry.update(success=True, unexpected_count=0, skipped="no rows")
        outcome.expectations.append(entry)
    return outcome


def _checked_columns(frame: pd.DataFrame, frame_checks: list[Check]) -> pd.DataFrame:
    """What Great Expectations is given: ``frame`` with the columns no check reads (an
    order's ``items``, a client's ``order_ids``...) emptied to one shared placeholder. The
    column check still sees every column by name; the row checks see the very values they
    read; and GX fingerprints each batch by hashing it, which a column of lists defeats:
    it then pickles the whole frame. Reasons are read from ``frame`` itself."""
    import numpy as np
    import pandas as pd

    read = {check.column for check in frame_checks if check.column is not None}
    if set(frame.columns) <= read:
        return frame
    placeholder = np.zeros(len(frame), dtype=np.int8)
    return pd.DataFrame({column: frame[column] if column in read else placeholder for column in frame.columns},
                        index=frame.index, columns=frame.columns)


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
    reason per failed check; all copies of a duplicated key are quarantined. For an entity
    with lines (orders), the lines (``items``) are exploded into a frame of their own
    ("order_items") and checked too; a record with a bad line is quarantined as a whole,
    the reason naming the line's article.
    The batch fails (``batch_ok`` False) when the columns differ from the declaration,
    when a check cannot run, or when more than ``config.max_bad_share`` of the rows, and at
    least ``config.min_bad_rows`` rows, are bad. Rows held only because their Cartum status
    is not matched yet (``status_mapped``) are quarantined but not counted as bad. An empty
    frame with the right columns is valid and skips GX.
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
    lines = entity.lines
    line_count = 0

    if lines is not None and {entity.key, lines.column} <= set(work.columns) and len(work):
        line_frame, parents, unreadable = explode_lines(work, entity)
        line_count = len(line_frame)
        for position, texts in unreadable.items():
            reasons.setdefault(position, []).extend(texts)
        lines_outcome = _run_checks(lines.frame, line_frame, config)
        batch_errors += lines_outcome.errors
        expectations += lines_outcome.expectations
        # Lines in order, so a record's reasons read item 1, item 2, ...
        for line_position in sorted(lines_outcome.reasons):
            reasons.setdefault(parents[line_position], []).extend(lines_outcome.reasons[line_position])

    bad_positions = sorted(reasons)
    keys = work[entity.key] if entity.key in work.columns else None
    quarantined = [{"key": None if keys is None else plain(keys.iat[p]), "reasons": reasons[p]}
                   for p in bad_positions]
    valid = frame.iloc[[p for p in range(len(work)) if p not in reasons]]

    # Held, not bad: a row whose only failure is a Cartum status nobody matched yet waits on
    # purpose (the store's owner matches it with the tool) and does not count toward the
    # bad share, or one busy new status would stop the whole store.
    held = [p for p in bad_positions if p in outcome.failed and len(outcome.failed[p]) == len(reasons[p])
            and set(outcome.failed[p]) == {HELD_CHECK}]
    bad_count = len(bad_positions) - len(held)
    bad_share = bad_count / len(frame) if len(frame) else 0.0
    if bad_share > config.max_bad_share and bad_count >= config.min_bad_rows:
        batch_errors.append(
            f"{entity.name}: {bad_count} of {len(frame)} rows ({bad_share:.1%}) failed the "
            f"quality checks, above the store's max_bad_share of {config.max_bad_share:.1%} (and at least "
            f"min_bad_rows {config.min_bad_rows}); this looks systematic: read the quarantine reasons and "
            f"fix the cause, or raise max_bad_share or min_bad_rows")

    batch_ok = not batch_errors
    summary = {
        "entity": entity.name,
        "store_id": config.store_id,
        "rows": len(frame),
        **({lines.frame: line_count} if lines is not None else {}),
        "valid_rows": len(valid),
        "quarantined_rows": len(quarantined),
        "held_rows": len(held),
        "bad_share": round(bad_share, 6),
        "max_bad_share": float(config.max_bad_share),
        "min_bad_rows": int(config.min_bad_rows),
        "batch_ok": batch_ok,
        "batch_errors": list(batch_errors),
        "expectations": expectations,
    }
    return QualityResult(entity.name, valid, quarantined, batch_ok, list(batch_errors), summary)
