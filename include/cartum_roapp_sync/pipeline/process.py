"""The middle of a run: transform the staged raw records, then check them with the data
quality suites. Rows that fail are quarantined with their reasons; a batch that fails as
a whole stops the run before anything is loaded."""

from __future__ import annotations

import json
import logging
import math
import time
from collections import Counter
from typing import Any

import pandas as pd

from ..entities import ENTITIES, Entity
from .context import FatalStepError, RunContext

log = logging.getLogger(__name__)


def frame_to_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """JSON-safe records: numpy scalars become Python values, NaN and NA become None."""
    return json.loads(frame.to_json(orient="records", force_ascii=False, date_format="iso"))


def records_to_frame(records: list[dict[str, Any]], entity: Entity) -> pd.DataFrame:
    return pd.DataFrame.from_records(records, columns=list(entity.columns)) if records else pd.DataFrame(
        {c: pd.Series(dtype="object") for c in entity.columns})


def clean(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def transform(ctx: RunContext) -> dict[str, Any]:
    from ..transform import transform_batch

    started = time.monotonic()
    state = ctx.state
    raw = {name: state.staged(ctx.run_id, f"raw_{name}", []) for name in ("orders", "products", "customers")}
    known_articles, known_titles = state.article_index()
    result = transform_batch(raw, config=ctx.config, known_articles=known_articles, known_titles=known_titles)
    state.save_articles(result.article_index, result.product_titles)
    counts = {}
    for entity in ENTITIES:
        frame = getattr(result, entity.name)
        state.stage(ctx.run_id, f"transformed_{entity.name}", frame_to_records(frame))
        counts[entity.name] = len(frame)
    state.set_counts(ctx.run_id, "clients", extracted=counts["clients"])
    state.stage(ctx.run_id, "transform_report", result.report)
    problems = Counter((p["entity"], p.get("problem")) for p in result.report)
    for (entity_name, problem), n in sorted(problems.items()):
        log.info("transform: %s: %d × %s", entity_name, n, problem)
    log.info("transform: %s, %.1f s", ", ".join(f"{n} {name}" for name, n in counts.items()),
             time.monotonic() - started)
    return counts


def check_quality(ctx: RunContext) -> dict[str, Any]:
    from ..quality import validate_entity

    started = time.monotonic()
    state = ctx.state
    failures: list[str] = []
    counts = {}
    for entity in ENTITIES:
        records = state.staged(ctx.run_id, f"transformed_{entity.name}", [])
        result = validate_entity(entity.name, records_to_frame(records, entity), ctx.config)
        state.save_validation(ctx.run_id, entity.name, result.batch_ok, result.summary)
        by_key = {str(r[entity.key]): r for r in records}
        for bad in result.quarantined:
            reason = "; ".join(bad["reasons"])
            state.quarantine(ctx.run_id, entity.name, str(bad["key"]), "quality", reason, by_key.get(str(bad["key"])))
            log.warning("quarantined %s %s: %s", entity.name, bad["key"], reason)
        valid = frame_to_records(result.valid) if result.batch_ok else []
        state.stage(ctx.run_id, f"valid_{entity.name}", valid)
        state.set_counts(ctx.run_id, entity.name, quarantined=len(result.quarantined))
        counts[entity.name] = {"valid": len(valid), "quarantined": len(result.quarantined)}
        failures += [f"{entity.name}: {e}" for e in result.batch_errors]
    log.info("check_quality: %s, %.1f s", counts, time.monotonic() - started)
    if failures:
        raise FatalStepError("data quality failed for the whole batch, nothing was loaded: " + " | ".join(failures))
    return counts
