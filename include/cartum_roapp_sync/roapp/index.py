"""The local look-up index, kept from RO App (stored by ``state.index``, per RO App account):
look-ups that RO App has no documented filter for never depend on one, for correctness or
for cost.

People by e-mail (``PeopleIndex``). RO App documents no e-mail filter, so none is sent:
- Before e-mail look-ups (only then: a run with no new buyer known by e-mail alone reads
  nothing) the index is brought up to date. The first time for an account it reads the
  contact base whole (⌈people / 50⌉ calls), once for every store of that account. Later,
  the people modified since the cursor less ``OVERLAP`` (the documented ``modified_at[]``,
  ⌈changed / 50⌉ calls, at least 1). Every row of that answer's first page must be
  modified at or after the filter's time; if one is not, RO App ignored the filter: the
  contact base is read whole, at most once per ``full_every`` (the store's
  ``catalog_refresh_minutes``); inside that interval the page read is all that is taken.
- A hit is used only after a GET of that person shows the e-mail (1 call per buyer
  linked this way, once). A 404 (deleted, or merged into another person) drops the row
  and the next person with the e-mail is tried; a person whose e-mail changed gets its row
  replaced. So a person deleted or merged away by a manager is never linked.
- The people the sync creates go in at once.

Products by SKU and barcode (``CatalogueIndex``, the client's ``catalogue_cache``). The
client asks with ``skus[]``/``barcodes[]`` and checks the answer honours them; when RO App
ignores them it matches over a scan of the catalogue. That scan is kept here: for
``full_every`` after it, the next runs match over it (plus the page just read) instead of
scanning again. The products the sync creates or updates go in at once, a product RO App
rejects as missing leaves it. ``modified_at[]`` is not documented for the catalogue, so
there is no incremental read: a product made by hand in RO App is seen by the next scan.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterable

from sqlalchemy import Engine

from ..state.index import LookupIndex, utcnow
from ..transport import NotFoundError
from . import shapes
from .client import PAGE_SIZE, RoAppClient

log = logging.getLogger(__name__)

#: The incremental read starts this long before the newest ``modified_at`` read (rows
#: written in the same instant as it, or committed late, are read again, not missed).
OVERLAP = timedelta(minutes=1)


def moment(value: Any) -> datetime | None:
    """An RO App time: ISO-8601 (``Z`` or an offset; none taken as UTC) or epoch seconds or
    milliseconds. None when it is neither."""
    if isinstance(value, bool) or value in (None, ""):
        return None
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value / 1000 if value > 1e11 else value, timezone.utc)
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def email_of(row: dict[str, Any]) -> str:
    return str(row.get("email") or "").strip().lower()


def _newer(a: str, b: str) -> bool:
    first, second = moment(a), moment(b)
    return first is not None and (second is None or first > second)


class PeopleIndex:
    def __init__(self, client: RoAppClient, engine: Engine, *, full_every: timedelta,
                 clock: Callable[[], datetime] = utcnow):
        self.client = client
        self.index = LookupIndex(engine, client.account, "person", clock)
        self.full_every = full_every
        self.clock = clock

    # --- keeping it current -------------------------------------------------------------

    def refresh(self) -> None:
        """Bring the index up to date with RO App (see the module's rules)."""
        cursor = self.index.cursor()
        since = moment(cursor.modified_at) if cursor else None
        if cursor is None or since is None:
            self._read_whole()
            return
        since -= OVERLAP
        rows: list[dict[str, Any]] = []
        for page, batch in self.client.people_pages(modified_since=since.isoformat()):
            if page == 1 and not all((m := moment(r.get("modified_at"))) is not None and m >= since for r in batch):
                self._ignored(batch, cursor.full_at)
                return
            rows += batch
        self._put(rows)
        log.info("people index: %d people modified since %s read (modified_at[] honoured)", len(rows),
                 since.isoformat())

    def _ignored(self, first: list[dict[str, Any]], full_at: datetime | None) -> None:
        if full_at is None or self.clock() - full_at >= self.full_every:
            log.warning("people index: RO App ignores modified_at[] on /v2/contacts/people (its answer holds people "
                        "modified before the filter's time): reading the contact base whole")
            self._read_whole(first)
            return
        log.warning("people index: RO App ignores modified_at[] on /v2/contacts/people; the contact base was read "
                    "whole at %s, the next whole read is due after %s: using the index and the %d people just read",
                    full_at.isoformat(), (full_at + self.full_every).isoformat(), len(first))
        self._put(first)

    def _read_whole(self, first: list[dict[str, Any]] | None = None) -> None:
        rows = list(first or [])
        if first is None or len(first) >= PAGE_SIZE:
            rows += [r for _, batch in self.client.people_pages(first=1 if first is None else 2) for r in batch]
        self._put(rows, full=True)
        log.info("people index: the contact base read whole, %d people (%d with an e-mail)", len(rows),
                 sum(1 for r in rows if email_of(r)))

    def _put(self, rows: list[dict[str, Any]], *, full: bool = False) -> None:
        stamps = [r.get("modified_at") for r in rows if moment(r.get("modified_at")) is not None]
        newest = max(stamps, key=lambda s: moment(s)) if stamps else None  # type: ignore[arg-type,return-value]
        self.index.put({int(r["id"]): [("email", email_of(r))] for r in rows}, full=full,
                       modified_at=str(newest) if newest is not None else None, newer=_newer)

    def add(self, person: dict[str, Any]) -> None:
        """A person the sync just created or read: its rows, at once (the cursor stays)."""
        self.index.put({int(person["id"]): [("email", email_of(person))]})

    # --- looking up ---------------------------------------------------------------------

    def find_by_email(self, emails: Iterable[str]) -> dict[str, int]:
        """``e-mail → RO App person id`` for the e-mails RO App holds (trimmed, lower-cased),
        each confirmed by a GET of that person."""
        wanted = sorted({email_of({"email": e}) for e in emails} - {""})
        if not wanted:
            return {}
        self.refresh()
        found: dict[str, int] = {}
        for email, ids in self.index.find("email", wanted).items():
            for person_id in ids:
                confirmed = self._confirm(person_id, email)
                if confirmed:
                    found[email] = person_id
                    break
        log.info("people index: %d of %d e-mails found in RO App", len(found), len(wanted))
        return found

    def _confirm(self, person_id: int, email: str) -> bool:
        try:
            person = self.client.get_person(person_id)
        except NotFoundError:
            log.info("people index: RO App person %s is gone (deleted or merged): dropped from the index", person_id)
            self.index.drop(person_id)
            return False
        self.add(person)
        return email_of(person) == email


class CatalogueIndex:
    """The client's ``catalogue_cache``: the last catalogue scan, by SKU and barcode."""

    def __init__(self, engine: Engine, account: str, *, full_every: timedelta,
                 clock: Callable[[], datetime] = utcnow):
        self.index = LookupIndex(engine, account, "product", clock)
        self.full_every = full_every
        self.clock = clock

    def rows(self) -> list[dict[str, Any]] | None:
        """Products as ``{id, sku, barcodes}`` while the last scan is younger than
        ``full_every``; None when a scan is due."""
        cursor = self.index.cursor()
        if cursor is None or cursor.full_at is None or self.clock() - cursor.full_at >= self.full_every:
            return None
        return [{"id": product_id, "sku": next((v for f, v in pairs if f == "sku"), None),
                 "barcodes": [v for f, v in pairs if f == "barcode"]}
                for product_id, pairs in self.index.records().items()]

    def replace(self, rows: list[dict[str, Any]]) -> None:
        """A whole scan of the catalogue."""
        self.index.put(_product_pairs(rows), full=True)
        log.info("product index: %d products from the catalogue scan kept for %s", len(rows), self.full_every)

    def add(self, row: dict[str, Any]) -> None:
        self.index.put(_product_pairs([row]))

    def drop(self, product_id: int) -> None:
        self.index.drop(product_id)


def _product_pairs(rows: list[dict[str, Any]]) -> dict[int, list[tuple[str, str]]]:
    return {int(r["id"]): ([("sku", str(r["sku"]))] if r.get("sku") else [])
            + [("barcode", b) for b in shapes.barcodes(r.get("barcodes"))] for r in rows}
