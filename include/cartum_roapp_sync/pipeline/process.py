"""The middle of a run: transform the run's raw records, then check them with the data
quality suites. Rows that fail are quarantined with their reasons; a batch that fails as
a whole stops the run before anything is loaded."""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from typing import Any

import pandas as pd

from ..entities import CLIENTS, ENTITIES, Entity
from .context import RunContext
from .errors import FatalStepError

log = logging.getLogger(__name__)


def frame_json(frame: pd.DataFrame) -> str:
    """The frame as a JSON list of records (what ``frame_to_records`` reads back)."""
    return frame.to_json(orient="records", force_ascii=False, date_format="iso")


def frame_to_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """JSON-safe records: numpy scalars become Python values, NaN and NA become None."""
    return json.loads(frame_json(frame))


def records_to_frame(records: list[dict[str, Any]], entity: Entity) -> pd.DataFrame:
    return pd.DataFrame.from_records(records, columns=list(entity.columns)) if records else pd.DataFrame(
        {c: pd.Series(dtype="object") for c in entity.columns})


def transform(ctx: RunContext) -> dict[str, Any]:
    from ..transform import transform_batch

    started = time.monotonic()
    state, data = ctx.state, ctx.data
    raw = {source: data.raw(source) for source in ("orders", "products", "customers")}
    known_articles, known_titles = state.article_index()
    # An indexed article whose product never loaded (a run that stopped before load_products)
    # is not known: without this run's catalogue holding it, it is built from its order lines again.
    loaded = state.loaded_articles()
    known_articles = {article: key for article, key in known_articles.items() if article in loaded}
    result = transform_batch(raw, config=ctx.config, known_articles=known_articles, known_titles=known_titles)
    del raw   # the batch as read is no longer needed: free it before the frames are written out
    # The index keys later runs' order lines; an article counts as known for the on-demand
    # fetch only once its product is loaded (``StateStore.loaded_articles``).
    state.save_articles(result.article_index, result.product_titles)
    counts = {}
    for entity in ENTITIES:
        frame = getattr(result, entity.name)
        # Staged as the JSON text pandas writes: check_quality reads it as records
        # (``frame_to_records`` without parsing it here and writing it again).
        data.save_transformed_json(entity, frame_json(frame))
        counts[entity.name] = len(frame)
    # Clients are not read as such: they are what the transform makes of orders and customers.
    state.set_counts(ctx.run_id, CLIENTS.name, extracted=counts[CLIENTS.name])
    data.save_transform_report(result.report)
    problems = Counter((p["entity"], p.get("problem")) for p in result.report)
    for (entity_name, problem), n in sorted(problems.items()):
        log.info("transform: %s: %d × %s", entity_name, n, problem)
    log.info("transform: %s, %.1f s", ", ".join(f"{n} {name}" for name, n in counts.items()),
             time.monotonic() - started)
    return counts


def check_quality(ctx: RunContext) -> dict[str, Any]:
    from ..quality import validate_entity

    started = time.monotonic()
    state, data = ctx.state, ctx.data
    failures: list[str] = []
    counts = {}
    contacts: dict[str, tuple[Any, Any]] = {}   # client key → (phone, e-mail): an order's read names its buyer
    for entity in ENTITIES:
        records = data.transformed(entity)
        if entity is CLIENTS:
            contacts = {str(r["client_key"]): (r.get("phone"), r.get("email")) for r in records}
        state.events.add_reads(ctx.run_id, entity.name, entity.key, records, contacts)
        result = validate_entity(entity.name, records_to_frame(records, entity), ctx.config)
        state.save_validation(ctx.run_id, entity.name, result.batch_ok, result.summary)
        by_key = {str(r[entity.key]): r for r in records}
        for bad in result.quarantined:
            reason = "; ".join(bad["reasons"])
            state.quarantine(ctx.run_id, entity.name, str(bad["key"]), "quality", reason, by_key.get(str(bad["key"])))
            log.warning("quarantined %s %s: %s", entity.name, bad["key"], reason)
        valid = frame_to_records(result.valid) if result.batch_ok else []
        data.save_valid(entity, valid)
        state.set_counts(ctx.run_id, entity.name, quarantined=len(result.quarantined))
        counts[entity.name] = {"valid": len(valid), "quarantined": len(result.quarantined)}
        failures += [f"{entity.name}: {e}" for e in result.batch_errors]
    log.info("check_quality: %s, %.1f s", counts, time.monotonic() - started)
    if failures:
        raise FatalStepError("data quality failed for the whole batch, nothing was loaded: " + " | ".join(failures))
    return counts
