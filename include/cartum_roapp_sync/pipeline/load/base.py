"""Loading into RO App: clients, then products, then orders; idempotent and crash-safe.

- **Idempotent.** The id map holds, per Cartum key, the RO App id and a hash of what RO
  App holds. A record whose hash is unchanged causes no API call at all.
- **Crash-safe.** Before a create is sent, an *intent* is committed with a marker that
  finds the record again (a phone, an e-mail, a SKU or barcode, the order's source marker
  in ``manager_notes``). A record found with an intent was maybe created by a run that
  died: it is looked up in RO App first and adopted when found, created otherwise. An
  order's later steps (items, status, comment) are recorded one by one as RO App confirms
  them, and resumed from there.
- **A write whose outcome is unknown is never blindly repeated.** The transport does not
  repeat a POST whose answer was lost (``AmbiguousWriteError``); the loader looks in RO App
  first (the same look-up a crash gets) and writes again only when the write is not there.
- **Only what the sync wrote is changed.** A client or product found in RO App rather than
  created by the store is *linked*: orders use it, the sync never edits it. Records it
  created get only the fields that changed in Cartum, and never lose values added in RO
  App (phones are merged, not replaced). Order items are tracked by their RO App ids: items
  a manager added stay as they are.
- **Records deleted or merged in RO App heal.** A 404 on a mapped id drops the mapping,
  finds the record again (a merged client by its phone) or creates it, in the same run.
- **One bad record never stops the others.** RO App rejecting a record (400/422)
  quarantines it with the API's message: one open row per record, reason and version,
  counting its attempts; it is retried on later runs, and its quarantine rows are resolved
  once RO App holds the record, written or unchanged. Rate limits, 5xx and timeouts that outlast the client's retries, and
  credential errors, stop the step: Airflow retries it and the id map makes the retry
  resume where it stopped.
- **Within the task's time limit.** A load step starts no new record once
  ``load_budget_minutes`` have passed since it began (Airflow kills a task at its
  ``execution_timeout``, 2 h, ``dags.DEFAULT_ARGS``): it stops with ``LoadBudgetSpent``
  after the record in flight, everything done so far recorded, and its retry goes on from
  there (what is done costs no call). New records are looked up in RO App ``LOOKUP_CHUNK``
  at a time, just before the first of them is written, so a step stopped by its budget
  has not paid look-ups for the records it did not reach. The entity's cursor moves only once every record is
  done, so a first import stays the first import until every order of its window loaded.
  Progress is logged with counts, the time spent and an estimate of the time left.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from ...entities import Entity
from ...state.store import IdMapRow
from ...reference import points_at_reference
from ...transport import AmbiguousWriteError, NotFoundError, ValidationError
from ..backfill import duration_text
from ..context import RunContext

log = logging.getLogger(__name__)

PROGRESS_EVERY = 25        # log a progress line every this many records written
LOOKUP_CHUNK = 200         # new records looked up in RO App together (a multiple of the client's 50 a request)
WRITE_TRIES = 3            # a create whose answer is lost: look, then write again, at most this often


class LoadBudgetSpent(Exception):
    """A load step used its time budget: it stopped cleanly, and a retry resumes it."""


@dataclass
class LoadCounts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    quarantined: int = 0
    failed: int = 0
    matched: int = 0       # adopted an RO App record that already existed (counted in unchanged too)
    done_keys: list[str] = field(default_factory=list)

    def as_counts(self) -> dict[str, int]:
        return {"created": self.created, "updated": self.updated, "unchanged": self.unchanged,
                "quarantined": self.quarantined, "failed": self.failed}


class EntityLoader:
    """Drives one entity's records through create / update / skip. Subclasses say how a
    record is found, created and updated in RO App. Records are the entity's typed records
    (``entity.record``, from ``RunData.valid``)."""

    entity: Entity

    def __init__(self, ctx: RunContext):
        self.ctx = ctx
        self.state = ctx.state
        self.roapp = ctx.roapp
        self.counts = LoadCounts()   # kept on the loader: a step that fails still reports them
        self.began = time.monotonic()  # the step's time budget counts from here
        self._found: dict[str, int] = {}      # key → RO App id found by ``lookups``
        self._found_ours: set[str] = set()    # found records that carry this store's marker
        self._relinked: set[str] = set()      # created() found them in RO App with no trace in the state

    # --- what subclasses define -------------------------------------------------------

    def lookups(self, records: list[Any]) -> None:
        """Find, in few requests, the RO App records that already match new keys."""

    def marker(self, record: Any) -> str:
        return self.key(record)

    def create(self, record: Any, row: IdMapRow | None) -> int:
        raise NotImplementedError

    def update(self, record: Any, row: IdMapRow) -> bool:
        """Push the record's changes; False when nothing had to be written (a linked record)."""
        raise NotImplementedError

    def finish(self, reached: str | None) -> None:
        """After every record was written or quarantined, before the entity's cursor moves
        to ``reached``: record the store facts this entity owns."""

    # --- the shared drive -------------------------------------------------------------

    def key(self, record: Any) -> str:
        return str(getattr(record, self.entity.key))

    def run(self, records: list[Any]) -> LoadCounts:
        """Load the records. Rejected ones are quarantined; any other error stops here, with
        the records not yet attempted counted as ``failed`` (the step's retry resumes them)."""
        counts = self.counts
        started = self.began
        rows = self.state.id_rows(self.entity.name, [self.key(r) for r in records])
        todo = [r for r in records if not self._unchanged(r, rows.get(self.key(r)))]
        counts.unchanged = len(records) - len(todo)
        pending = {self.key(r) for r in todo}
        for record in records:
            row = rows.get(self.key(record))
            if row is not None and self.key(record) not in pending:
                self.remember(record, row)
        new = [r for r in todo if rows.get(self.key(r)) is None or rows[self.key(r)].status == "intent"]
        place = {self.key(r): n for n, r in enumerate(new)}   # key → its place among the new records
        looked = self._look_up_chunk(new, 0)
        for index, record in enumerate(todo, start=1):
            key, row = self.key(record), rows.get(self.key(record))
            counts.failed = len(todo) - index + 1  # this one and the rest, until it is done
            if index > 1:
                self._within_budget(index - 1, len(todo))
            if place.get(key, -1) >= looked:
                looked = self._look_up_chunk(new, looked)
            try:
                self._write(record, row)
                counts.done_keys.append(key)
            except (ValidationError, NotFoundError) as exc:
                if points_at_reference(exc) and getattr(self.roapp, "reference_cache", None) is not None:
                    self.roapp.reference_cache.drop(f"RO App rejected {self.entity.name} {key} naming reference "
                                                    f"data")
                counts.quarantined += 1
                self.state.quarantine(self.ctx.run_id, self.entity.name, key, "load", str(exc), record.as_dict())
                log.warning("quarantined %s %s: %s", self.entity.name, key, exc)
            if index % PROGRESS_EVERY == 0:
                elapsed = time.monotonic() - started
                log.info("load_%s: %d/%d %s, %s elapsed, about %s left (created %d, updated %d, quarantined %d)",
                         self.entity.name, index, len(todo), self.entity.name, duration_text(elapsed),
                         duration_text(elapsed / index * (len(todo) - index)), counts.created, counts.updated,
                         counts.quarantined)
        counts.failed = 0
        # RO App holds every record written now and every unchanged one: their quarantine is over.
        held = counts.done_keys + sorted({self.key(r) for r in records} - pending)
        self.state.resolve_quarantine(self.entity.name, held, run_id=self.ctx.run_id)
        self.state.events.settle(self.entity.name, held)
        log.info("load_%s: %d records: %s (%d matched existing RO App records), %.1f s", self.entity.name,
                 len(records), counts.as_counts(), counts.matched, time.monotonic() - started)
        return counts

    def _look_up_chunk(self, new: list[Any], start: int) -> int:
        """Look up the next ``LOOKUP_CHUNK`` new records from ``start`` (module docstring);
        returns how many new records are looked up now."""
        chunk = new[start:start + LOOKUP_CHUNK]
        if chunk:
            self.lookups(chunk)
        return start + len(chunk)

    def _within_budget(self, done: int, total: int) -> None:
        """Stop before the task's time limit (module docstring): ``done`` of ``total`` are done."""
        budget = self.ctx.config.load_budget_minutes * 60
        elapsed = time.monotonic() - self.began
        if elapsed < budget:
            return
        log.warning("load_%s: time budget spent (load_budget_minutes %s): %d/%d %s written in %s, %d left for the "
                    "retry; the %s cursor does not move until every one is done", self.entity.name,
                    self.ctx.config.load_budget_minutes, done, total, self.entity.name, duration_text(elapsed),
                    total - done, self.entity.name)
        raise LoadBudgetSpent(f"load_{self.entity.name} stopped after {duration_text(elapsed)} (load_budget_minutes "
                              f"{self.ctx.config.load_budget_minutes}): {done} of {total} {self.entity.name} written, "
                              f"{total - done} left; the retry goes on from there")

    def _write(self, record: Any, row: IdMapRow | None) -> None:
        if row is None or row.status == "intent":
            self._create_or_adopt(record, row)
            return
        try:
            wrote = self.update(record, row)
        except NotFoundError as exc:
            # Deleted in RO App, or merged into another record there: find it again or create it.
            key = self.key(record)
            log.warning("%s %s: RO App no longer has %s (%s); finding it again or creating it", self.entity.name,
                        key, row.roapp_id, exc)
            self.state.forget(self.entity.name, key)
            self._found.pop(key, None)
            self.lookups([record])
            self._create_or_adopt(record, None)
            return
        if wrote:
            self.counts.updated += 1
            self.log_event(record, "updated", row.roapp_id)
        else:
            self.counts.unchanged += 1

    def _create_or_adopt(self, record: Any, row: IdMapRow | None) -> None:
        key, counts = self.key(record), self.counts
        existing = self._found.get(key)
        if existing is not None and (row is None or row.roapp_id is None):
            # Our own intent (a create whose answer was lost), or the store's marker: ours.
            # Anything else was made in RO App or by another store: linked, never edited.
            ours = row is not None or key in self._found_ours
            details = {**self.details(record, row), **({} if ours else {"linked": True})}
            self.state.record_synced(self.entity.name, key, existing, record.content_hash, details)
            counts.matched += 1
            counts.unchanged += 1
            self.log_event(record, "linked", existing, {"ours": ours})
            log.info("%s %s: matched existing RO App record %s%s", self.entity.name, key, existing,
                     "" if ours else " (linked: the sync will not edit it)")
            self.adopted(record, existing, ours)
        else:
            self.create(record, row)
            if key in self._relinked:  # it existed already: found again, not created
                counts.matched += 1
                counts.unchanged += 1
            else:
                counts.created += 1

    def adopted(self, record: Any, roapp_id: int, ours: bool) -> None:
        """After a record was matched to an existing RO App record (nothing written yet)."""

    def _unchanged(self, record: Any, row: IdMapRow | None) -> bool:
        return row is not None and row.status == "synced" and (
            row.content_hash == record.content_hash or self.stale(record, row))

    def stale(self, record: Any, row: IdMapRow) -> bool:
        """True when RO App already holds newer data than this record (nothing to push)."""
        return False

    def remember(self, record: Any, row: IdMapRow) -> None:
        """An unchanged record: keep in the id map what the sync itself needs to know of it
        (no API call)."""

    def details(self, record: Any, row: IdMapRow | None) -> dict[str, Any]:
        return dict(row.details) if row else {}

    def simple_create(self, record: Any, row: IdMapRow | None, body: dict[str, Any], create) -> int:
        """Intent, create, confirm: for records made by a single request. A create whose
        answer is lost is looked up before it is sent again."""
        key = self.key(record)
        self.state.record_intent(self.entity.name, key, self.marker(record))
        roapp_id = self.write_once(lambda: int(create(body)["id"]), lambda: self._look_up(record), what=key)
        self.state.record_synced(self.entity.name, key, roapp_id, record.content_hash, self.details(record, row))
        self.log_event(record, "created", roapp_id)
        return roapp_id

    def log_event(self, record: Any, event: str, roapp_id: int | None = None,
                  detail: dict[str, Any] | None = None) -> None:
        """One event of the record's story (``state.events``), in this run."""
        self.state.events.add(self.ctx.run_id, self.entity.name, self.key(record), event, roapp_id=roapp_id,
                              detail=detail)

    def _look_up(self, record: Any) -> int | None:
        key = self.key(record)
        self._found.pop(key, None)
        self.lookups([record])
        return self._found.get(key)

    def write_once(self, write, find, *, what: str) -> Any:
        """``write()``; when its answer is lost, ``find()`` what RO App holds (None: not
        there) and write again only then, at most ``WRITE_TRIES`` times in all."""
        for attempt in range(1, WRITE_TRIES + 1):
            try:
                return write()
            except AmbiguousWriteError as exc:
                log.warning("%s %s: %s", self.entity.name, what, exc)
                found = find()
                if found is not None:
                    log.info("%s %s: the write went in after all; not sending it again", self.entity.name, what)
                    return found
                if attempt == WRITE_TRIES:
                    raise
                log.info("%s %s: the write did not go in; sending it again", self.entity.name, what)
        raise AssertionError("unreachable")
