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
    package disagree about the contract), a check could not run at all, or the share of
    quarantined rows is above the store's ``max_bad_share`` (a systematic problem such as a
    new Cartum status nobody mapped, not a few odd records). :attr:`QualityResult.batch_ok`
    is then False and the caller loads nothing; :attr:`QualityResult.rows_to_load` already
    does that.

The suites are built from the rules each entity declares in
:mod:`cartum_roapp_sync.entities` (``entity.rules``, and ``entity.lines.rules`` for the
lines inside a record) and the store's :class:`~cartum_roapp_sync.config.StoreConfig`.
Great Expectations and pandas are imported lazily, inside functions: DAG files import this
package while they are parsed, and importing Great Expectations costs seconds. One
ephemeral GX context is created per process on first use and reused.

Modules: ``rules`` (each rule kind expanded into checks; the suites), ``gx`` (the lazy
Great Expectations import and the per-process context), ``result`` (:class:`QualityResult`),
``validate`` (:func:`validate_entity`, :func:`explode_items`).
"""

from .result import QualityResult
from .rules import ITEM_COLUMNS, build_suite
from .validate import explode_items, validate_entity

__all__ = ["ITEM_COLUMNS", "QualityResult", "build_suite", "explode_items", "validate_entity"]
