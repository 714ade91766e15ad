"""What a validation found: per batch (:class:`QualityResult`, public) and per checked
frame (:class:`FrameOutcome`, between the checks and :func:`validate_entity`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd


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


@dataclass
class FrameOutcome:
    """The checks of one frame (an entity's batch or the lines inside it), read back."""

    reasons: dict[int, list[str]]   # row position → reasons
    errors: list[str]
    expectations: list[dict[str, Any]]
    #: row position → names of the checks it failed (same order as ``reasons``)
    failed: dict[int, list[str]] = field(default_factory=dict)
