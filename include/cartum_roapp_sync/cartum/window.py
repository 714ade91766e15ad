"""Reading a creation window of orders so that nothing is skipped.

``orders/get`` pages with ``limit``/``offset``. Two things break plain offset paging:
a server may cap a page silently (ask 100, get 50: the first page looks like the last),
and an order deleted or inserted between two pages shifts the next page by one (an order
is skipped; with newest-first sorting every new order shifts it). So the reader relies
on one fact only: **a single answer is atomic**. The rules:

1. **Known complete.** An answer is complete when it holds fewer rows than the server's
   page size. That size is learned, never guessed: ``PageSize.proven`` is the most rows
   one answer has held (the server's cap is at least that), so an answer with fewer rows
   was not cut. An empty answer is always complete: a run with nothing new costs one call.
2. **The first short page is confirmed once.** Fewer rows than asked (say 37 of 100),
   with no bigger answer seen yet, is either the whole window or a cap of 37. One more
   read at offset 36 tells: exactly our own last row back means nothing follows it
   (anything that sorted after it, inserted or not, would come back too); anything else
   means the server caps, and the window is sliced.
3. **Slices.** A window that does not fit one answer is read as time slices
   (``from``/``to``, inclusive, whole seconds, store local time), walked from its start,
   each sized from the density of the answers so far to fill ``SLICE_FILL`` of a page;
   a slice that comes back full is narrowed from the times of its rows and read again.
   Slices are disjoint in creation time and each is one complete answer, so an order
   that exists during the whole read is in exactly one of them, whatever the sort order
   and whatever is deleted or inserted meanwhile.
4. **The sides.** The first answer's rows bound the part walked first; each side beyond
   them (up to ``to``/from ``from``, or open) is one read when it comes back complete,
   and a full one extends the walked part (twice as far each time).
5. **One second fuller than a page** falls back to offset paging of that second, pages
   overlapping by one row: each page must start with the previous page's last row, else
   something shifted and the second is read again (``SECOND_ATTEMPTS`` times at most).

6. **Bounded.** More than ``max_calls`` answers for one window, or a page at a new offset
   exactly like the one before it, is a misbehaving server (``MisbehavingServerError``):
   the read ends with an error, never with a guess.

Assumed of the server (not documented by Cartum): its page cap does not shrink during a
read, and offset paging of the same query sees the rows in one consistent order (rules 2
and 5 only). Nothing depends on which order that is.

The caller's cursor (the highest creation time read) covers only what was read
completely: the reader yields an answer only once it is known complete, and an error
ends the read before anything partial could be taken as the window's end.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Callable, Iterator

log = logging.getLogger(__name__)

CARTUM_TIME = "%Y-%m-%d %H:%M:%S"
ONE_SECOND = timedelta(seconds=1)
SLICE_FILL = 0.75        # a slice is sized for this share of a page: room for uneven arrivals
MAX_WIDEN = 4           # after a light slice, the next is at most this many times wider
SECOND_ATTEMPTS = 5     # reads of one over-full second before giving up

Rows = list[dict[str, Any]]
#: ``fetch(from, to, offset)``: one ``orders/get`` answer for the bounds (None: open).
Fetch = Callable[[datetime | None, datetime | None, int], Rows]


class WindowReadError(Exception):
    """The window cannot be read completely (the caller turns it into its API error)."""


class MisbehavingServerError(WindowReadError):
    """The server answers what no working one does: more pages than ``max_calls`` for one
    window, or a page at a new offset exactly like the one before (it ignores ``offset``)."""


@dataclass
class PageSize:
    """What is known of a server's page size: ``asked`` is the limit sent, ``proven`` the
    most rows one answer has held. Kept by the client across reads."""

    asked: int
    proven: int = 0
    capped: bool = False  # a page of ``proven`` rows was seen to be cut

    def complete(self, rows: Rows) -> bool:
        """True when the answer was not cut: empty, or fewer rows than an answer has held."""
        return not rows or len(rows) < self.proven

    def saw(self, rows: Rows) -> None:
        self.proven = max(self.proven, min(len(rows), self.asked))


def parse_bound(value: date | datetime | str | None, end: bool) -> datetime | None:
    """A ``from``/``to`` bound as a whole-second datetime; a bare date covers its whole day."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.replace(microsecond=0, tzinfo=None)
    if isinstance(value, date):
        day = datetime(value.year, value.month, value.day)
        return day + timedelta(days=1) - ONE_SECOND if end else day
    try:
        return datetime.strptime(value, CARTUM_TIME)
    except ValueError:
        return parse_bound(datetime.strptime(value, "%Y-%m-%d").date(), end)


def _seconds(delta: timedelta) -> int:
    return int(delta.total_seconds())


class WindowReader:
    """Reads one creation window through ``fetch``; yields complete answers."""

    def __init__(self, fetch: Fetch, pages: PageSize, created_field: str, key_field: str,
                 max_calls: int | None = None):
        self._fetch = fetch
        self.max_calls = max_calls
        self.pages = pages
        self._created = created_field
        self._key = key_field
        self.calls = 0
        self.slices = 0

    def read(self, lo: datetime | None, hi: datetime | None) -> Iterator[Rows]:
        rows = self._get(lo, hi)
        if self.pages.complete(rows) or self._confirmed(lo, hi, rows):
            self.pages.saw(rows)
            yield rows
            return
        self.pages.saw(rows)
        if self.pages.proven < 2:
            raise WindowReadError("the server answers one order per page: a window cannot be read safely")
        first, last = self._span(rows, lo, hi)
        yield from self._walk(first, last, self._density(rows, first, last))
        reach = max(last - first, ONE_SECOND)
        yield from self._side(last, hi, reach, forward=True)
        yield from self._side(first, lo, reach, forward=False)

    # --- one answer ---------------------------------------------------------------------

    def _get(self, lo: datetime | None, hi: datetime | None, offset: int = 0) -> Rows:
        if self.max_calls is not None and self.calls >= self.max_calls:
            raise MisbehavingServerError(f"returned page {self.calls:,} of orders/get for one creation window "
                                         f"without reaching its end")
        self.calls += 1
        return self._fetch(lo, hi, offset)

    def _confirmed(self, lo: datetime | None, hi: datetime | None, rows: Rows) -> bool:
        """Rule 2: a short first page, whose size no answer has reached before."""
        if len(rows) >= self.pages.asked or (self.pages.capped and len(rows) >= self.pages.proven):
            return False
        check = self._get(lo, hi, len(rows) - 1)
        if len(check) == 1 and check[0].get(self._key) == rows[-1].get(self._key):
            log.info("Cartum orders/get: %d orders in one answer, confirmed complete by one more read", len(rows))
            return True
        self.pages.capped = True
        log.info("Cartum orders/get: asked %d, got %d and more follow: the server caps pages at %d; "
                 "reading the window in time slices", self.pages.asked, len(rows), len(rows))
        return False

    def _times(self, rows: Rows, lo: datetime | None, hi: datetime | None) -> list[datetime]:
        times = []
        for row in rows:
            try:
                at = datetime.strptime(str(row.get(self._created)), CARTUM_TIME)
            except ValueError:
                continue
            if (lo is None or at >= lo) and (hi is None or at <= hi):
                times.append(at)
        return sorted(times)

    def _span(self, rows: Rows, lo: datetime | None, hi: datetime | None) -> tuple[datetime, datetime]:
        times = self._times(rows, lo, hi)
        if not times:
            raise WindowReadError(f"a full orders/get page without one {self._created} inside its own "
                                  f"bounds ({lo} … {hi}): the window cannot be sliced by creation time")
        return times[0], times[-1]

    @staticmethod
    def _density(rows: Rows, first: datetime, last: datetime) -> float:
        """Orders per second among ``rows``, whose creation times run from first to last."""
        return len(rows) / (_seconds(last - first) + 1)

    # --- slices -------------------------------------------------------------------------

    def _walk(self, start: datetime, end: datetime, density: float) -> Iterator[Rows]:
        """Rule 3: [start, end] as consecutive complete slices."""
        cursor = start
        while cursor <= end:
            target = SLICE_FILL * self.pages.proven
            width = max(1, min(math.ceil(target / density), _seconds(end - cursor) + 1))
            stop = cursor + (width - 1) * ONE_SECOND
            rows = self._get(cursor, stop)
            if self.pages.complete(rows):
                self.slices += 1
                log.info("Cartum orders/get: slice %s … %s: %d orders", cursor, stop, len(rows))
                self.pages.saw(rows)
                yield rows
                cursor = stop + ONE_SECOND
                density = max(len(rows) / width, density / MAX_WIDEN)
                continue
            self.pages.saw(rows)
            if width == 1:
                yield from self._one_second(cursor, rows)
                cursor += ONE_SECOND
                continue
            first, last = self._span(rows, cursor, stop)
            # at least a page in width, and a page within the rows' own span: narrower next
            density = max(self._density(rows, first, last), len(rows) / width)
            log.info("Cartum orders/get: slice %s … %s is full (%d orders): narrowing it", cursor, stop, len(rows))

    def _side(self, edge: datetime, bound: datetime | None, reach: timedelta, forward: bool) -> Iterator[Rows]:
        """Rule 4: from ``edge`` (walked) to ``bound`` (None: open), one read while it
        comes back complete; a full one extends the walked part, twice as far each time."""
        while True:
            lo, hi = (edge + ONE_SECOND, bound) if forward else (bound, edge - ONE_SECOND)
            if lo is not None and hi is not None and lo > hi:
                return
            rows = self._get(lo, hi)
            if self.pages.complete(rows):
                self.pages.saw(rows)
                self.slices += 1
                log.info("Cartum orders/get: slice %s … %s: %d orders", lo or "the beginning", hi or "now", len(rows))
                yield rows
                return
            self.pages.saw(rows)
            first, last = self._span(rows, lo, hi)
            reach *= 2
            density = self._density(rows, first, last)
            if forward:
                further = max(last, edge + reach) if bound is None else min(max(last, edge + reach), bound)
                yield from self._walk(edge + ONE_SECOND, further, density)
            else:
                further = min(first, edge - reach) if bound is None else max(min(first, edge - reach), bound)
                yield from self._walk(further, edge - ONE_SECOND, density)
            edge = further

    def _one_second(self, second: datetime, first_page: Rows) -> Iterator[Rows]:
        """Rule 5: one second that holds more than a page, by offset, pages overlapping;
        ``first_page`` is its answer at offset 0, already read."""
        for attempt in range(1, SECOND_ATTEMPTS + 1):
            rows = self._page_through(second, first_page if attempt == 1 else None)
            if rows is not None:
                self.slices += 1
                log.info("Cartum orders/get: second %s holds %d orders, read by offset", second, len(rows))
                yield rows
                return
            log.warning("Cartum orders/get: orders created at %s changed while read by offset (attempt %d of %d)",
                        second, attempt, SECOND_ATTEMPTS)
        raise WindowReadError(f"the orders created at {second} kept changing while read by offset "
                              f"({SECOND_ATTEMPTS} attempts)")

    def _page_through(self, second: datetime, page: Rows | None) -> Rows | None:
        """Every order of ``second``, or None when a page did not start where the last ended."""
        got: Rows = []
        offset, previous, last_page = 0, None, None
        while True:
            page = page if page is not None else self._get(second, second, offset)
            if last_page is not None and page == last_page:
                raise MisbehavingServerError(f"answered orders/get at offset {offset} for the orders created at "
                                             f"{second} exactly like the page before it: it ignores offset")
            last_page = page
            if previous is not None and (not page or page[0].get(self._key) != previous):
                return None
            got.extend(page if previous is None else page[1:])
            if self.pages.complete(page):
                return got
            self.pages.saw(page)
            previous = page[-1].get(self._key)
            offset += len(page) - 1
            page = None
