"""What passes between the steps of one run, and nothing else does.

The steps of a run are separate Airflow tasks, possibly on separate machines, and a worker
can die at any moment: whatever one step hands to the next is written to the state
database (table ``staged``, as JSON), never to XCom. This module is the only one that
knows how it is stored. Steps use named accessors:

| data | written by | read by |
|---|---|---|
| ``plan`` (``RunPlan``) | validate_setup | every extract step, the load steps |
| ``raw(source)``: Cartum's records, source orders / products / customers | extract_* (``validate_setup`` in a small tick) | transform, load (cursor) |
| ``observed(entity)``: the highest cursor value read | extract_* | the entity's load step |
| ``reconcile_only``: orders only a reconcile window read | extract_orders | transform (``reconcile``) |
| ``backfill(kind)``: the chunk a backfill read (where it ends, whether it was the last) | extract_* | the load step |
| ``transformed(entity)``, ``transform_report`` | transform | check_quality, tests |
| ``valid(entity)``: typed records (``entity.record``) | check_quality | the entity's load step |
| step outcomes (table ``run_steps``) | every step (``run_step``) | finish_run |

Records handed to the loaders are typed per entity (``entities.Entity.record``); NaN, the
way pandas marks a missing float, becomes None at that boundary and nowhere else.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ..entities import Entity
from ..state.store import StateStore
from .errors import FatalStepError

#: Where the raw records of each extract are kept.
SOURCES = ("orders", "products", "customers")


@dataclass
class RunPlan:
    """Decided once by ``validate_setup`` so that every extract step of the run agrees."""

    first_import: bool
    starts: dict[str, str | None]    # entity → read records from this cursor value on (None: all)
    import_cutoff: str | None        # skip_statuses apply to new orders created up to here
    catalog_full: bool               # read the whole catalogue (else only unknown articles)
    open_order_ids: list[int] = field(default_factory=list)  # synced, not final, or in quarantine
    final_reread: bool = False       # open_order_ids include the recently final orders (hourly)
    reconcile_from: str | None = None  # a reconcile pass: orders are read from here (``reconcile``)
    reconcile_reason: str | None = None  # why: "requested" or "nightly"

    @property
    def mode(self) -> str:
        """``first_import``, ``reconcile`` or ``incremental``."""
        return "first_import" if self.first_import else "reconcile" if self.reconcile_from else "incremental"
    # What is still to be brought over after the first import, a chunk per run ("customers",
    # "products"); see ``extract``.
    backfill: list[str] = field(default_factory=list)

    def start(self, entity: Entity) -> str | None:
        """Where the entity's ordinary read begins (its cursor minus the overlap)."""
        return self.starts.get(entity.name)

    def read_from(self, entity: Entity) -> str | None:
        """Where the entity is read from in this run: the reconcile window's start when that
        is earlier than the ordinary start (only orders have one)."""
        start = self.start(entity)
        if self.reconcile_from is None or entity.cursor is None or entity.cursor.source != "orders":
            return start
        return self.reconcile_from if start is None else min(start, self.reconcile_from)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "mode": self.mode}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RunPlan":
        return cls(**{k: v for k, v in data.items() if k != "mode"})


class RunData:
    """The data of run ``run_id`` of one store."""

    def __init__(self, state: StateStore, run_id: str):
        self.state = state
        self.run_id = run_id

    def _put(self, name: str, payload: Any) -> None:
        self.state.stage(self.run_id, name, payload)

    def _get(self, name: str, default: Any = None) -> Any:
        return self.state.staged(self.run_id, name, default)

    # --- the plan ---------------------------------------------------------------------

    def save_plan(self, plan: RunPlan) -> None:
        self._put("plan", plan.to_dict())

    def plan(self) -> RunPlan:
        data = self._get("plan")
        if data is None:
            raise FatalStepError(f"run {self.run_id} has no plan: validate_setup must run first")
        return RunPlan.from_dict(data)

    def drop_all_runs(self) -> None:
        """Forget what earlier runs of the store left behind (a run that died half-way), and
        what an earlier attempt of this run read and did (``validate_setup`` starts the run
        over: its plan decides what the run reads)."""
        self.state.drop_staged()
        self.state.drop_steps(self.run_id)

    # --- extract ----------------------------------------------------------------------

    def save_raw(self, source: str, records: list[dict[str, Any]]) -> None:
        self._put(f"raw_{_source(source)}", records)

    def raw(self, source: str) -> list[dict[str, Any]]:
        return self._get(f"raw_{_source(source)}", [])

    def save_observed(self, entity: Entity, value: str | None) -> None:
        """The highest value of the entity's cursor field this run read (``state.cursors``)."""
        self._put(f"observed_{entity.name}", value)

    def observed(self, entity: Entity) -> str | None:
        return self._get(f"observed_{entity.name}")

    def save_reconcile_only(self, order_ids: list[int]) -> None:
        """Orders only the reconcile window read: created before the ordinary start and not
        in the re-read set (``reconcile``)."""
        self._put("reconcile_only", sorted(order_ids))

    def reconcile_only(self) -> list[int]:
        return self._get("reconcile_only", [])

    def save_backfill(self, kind: str, chunk: dict[str, Any]) -> None:
        """The backfill chunk this run read of ``kind`` ("customers", "products")."""
        self._put(f"backfill_{kind}", chunk)

    def backfill(self, kind: str) -> dict[str, Any] | None:
        return self._get(f"backfill_{kind}")

    # --- transform and quality --------------------------------------------------------

    def save_transformed(self, entity: Entity, records: list[dict[str, Any]]) -> None:
        self._put(f"transformed_{entity.name}", records)

    def save_transformed_json(self, entity: Entity, text: str) -> None:
        """``save_transformed`` of records already written as a JSON list (``process.frame_json``)."""
        self.state.stage_json(self.run_id, f"transformed_{entity.name}", text)

    def transformed(self, entity: Entity) -> list[dict[str, Any]]:
        return self._get(f"transformed_{entity.name}", [])

    def save_transform_report(self, report: list[dict[str, Any]]) -> None:
        self._put("transform_report", report)

    def transform_report(self) -> list[dict[str, Any]]:
        return self._get("transform_report", [])

    def save_valid(self, entity: Entity, records: list[dict[str, Any]]) -> None:
        self._put(f"valid_{entity.name}", records)

    def valid(self, entity: Entity) -> list[Any]:
        """The records that passed data quality, as ``entity.record`` (NaN → None)."""
        return [entity.record.from_row(row) for row in self._get(f"valid_{entity.name}", [])]

    # --- step outcomes ----------------------------------------------------------------

    def step_done(self, step: str) -> None:
        self.state.record_step(self.run_id, step)

    def step_failed(self, step: str, error: str) -> None:
        self.state.record_step(self.run_id, step, error)

    def step_skipped(self, step: str) -> None:
        self.state.record_step(self.run_id, step, skipped=True)

    # --- nothing changed (``steps.nothing_changed``) -----------------------------------

    def save_read_digest(self, digest: str | None, unchanged: bool) -> None:
        """What this run read (None: not a run that can find nothing changed), and whether
        it is what the last run that loaded read."""
        self._put("read_digest", {"digest": digest, "unchanged": unchanged})

    def read_digest(self) -> str | None:
        return (self._get("read_digest") or {}).get("digest")

    def change_decided(self) -> bool | None:
        """Whether this run found nothing changed, once decided (None: not yet)."""
        saved = self._get("read_digest")
        return None if saved is None else bool(saved.get("unchanged"))

    def nothing_changed(self) -> bool:
        """The run read what the last run had loaded: transform, quality and loads skip."""
        return bool((self._get("read_digest") or {}).get("unchanged"))

    def outcomes(self) -> dict[str, tuple[str, str | None]]:
        """step → (``done`` or ``failed``, error) for the steps that have run."""
        return self.state.step_outcomes(self.run_id)


def _source(name: str) -> str:
    if name not in SOURCES:
        raise ValueError(f"unknown source {name!r}: expected one of {', '.join(SOURCES)}")
    return name
