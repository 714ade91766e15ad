"""Clients: matched by phone (the documented ``phones[]`` filter), then e-mail (the local
index, ``roapp.index.PeopleIndex``: RO App documents no e-mail filter), then the marker in
their notes; a batch that holds only part of a buyer's data never overwrites what RO App
got from better data. The people this loader creates go into the index at once."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from ...entities import CLIENTS
from ...roapp.index import PeopleIndex
from ...roapp.shapes import phone_numbers
from ...state.store import IdMapRow
from ..backfill import customers_backfill
from ..context import RunContext
from .base import EntityLoader

log = logging.getLogger(__name__)


class ClientLoader(EntityLoader):
    entity = CLIENTS

    def __init__(self, ctx: RunContext):
        super().__init__(ctx)
        self._same_buyer: dict[str, IdMapRow] = {}  # key → the synced row of the same buyer, another key
        customers = ctx.data.raw("customers")
        self._profiles = {int(c["id"]) for c in customers if c.get("id") is not None}
        self._index: PeopleIndex | None = None

    @property
    def people_index(self) -> PeopleIndex:
        """People by e-mail, kept in the state database (built on first use; no call until a look-up)."""
        if self._index is None:
            self._index = PeopleIndex(self.roapp, self.state.engine,
                                      full_every=timedelta(minutes=self.ctx.config.catalog_refresh_minutes))
        return self._index

    def body(self, record: Any) -> dict[str, Any]:
        body: dict[str, Any] = {"first_name": record.first_name, "last_name": record.last_name or ""}
        if record.email:
            body["email"] = record.email
        if record.phone:
            body["phones"] = [{"phone": record.phone}]
        if record.address:
            body["address"] = record.address
        if not body.get("phones") and not body.get("email"):
            # Nothing else identifies this buyer in RO App: the marker finds it after a crash.
            body["notes"] = self.marker(record)
        return body

    def marker(self, record: Any) -> str:
        return f"cartum:{self.ctx.config.store_id}:{record.client_key}"

    def rank(self, record: Any) -> list[int]:
        """How authoritative a record's data is: built from the buyer's registered profile
        (the transform prefers it), then from how recent an order."""
        user = record.cartum_user_id
        return [1 if user is not None and int(user) in self._profiles else 0, max(record.order_ids or [0])]

    def details(self, record: Any, row: IdMapRow | None) -> dict[str, Any]:
        """The rank; what RO App holds (a field the record lacks keeps its earlier value: the
        body leaves it out); the e-mail and Cartum user id, by which a later batch that keys
        the same buyer differently finds it locally (``_local_matches``)."""
        held = dict((row.details.get("fields") or {}) if row else {})
        held.update({f: getattr(record, f) for f in CLIENTS.hashed if getattr(record, f) is not None})
        user = record.cartum_user_id
        return {"rank": self.rank(record), "fields": held, "email": held.get("email"),
                "user": int(user) if user is not None else None}

    def stale(self, record: Any, row: IdMapRow) -> bool:
        # A batch holds only some of a buyer's data (this run's orders, profiles registered
        # since the watermark): a record built from less authoritative data than what RO App
        # got must not overwrite it, and one that only lacks some of what RO App holds
        # (an e-mail given on an older order, not in this batch) would change nothing.
        if self.rank(record) < list(row.details.get("rank") or [0, 0]):
            return True
        held = row.details.get("fields")
        return held is not None and all(getattr(record, f) in (None, held.get(f)) for f in CLIENTS.hashed)

    def _local_matches(self, records: list[Any], *, with_phone: bool = False) -> None:
        """A buyer keyed by e-mail or by Cartum user id in this batch may be a client synced
        under another key: a batch without the contact that tied the e-mail or the user to a
        phone (an older order, a profile registered long ago) keys the same buyer differently.
        The one RO App person this sync created or adopted with that e-mail or user is the one
        the transform would have chosen, and a lookup in RO App could not find it by user.

        ``with_phone``: buyers who now give a phone RO App does not know, matched by their
        e-mail to a client synced without a phone (a buyer first known by e-mail only, whose
        phone comes later)."""
        wanted: dict[tuple[str, Any], str] = {}
        for record in records:
            user = record.cartum_user_id
            if bool(record.phone) != with_phone or self.key(record) in self._found:
                continue
            if record.email:
                wanted[("email", record.email)] = self.key(record)
            elif user is not None and not with_phone:
                wanted[("user", int(user))] = self.key(record)
        if not wanted:
            return
        found: dict[tuple[str, Any], dict[int, IdMapRow]] = {}
        for row in self.state.id_rows(self.entity.name).values():
            if row.status != "synced" or not row.roapp_id:
                continue
            if with_phone and row.source_key.startswith("phone:"):
                # A client keyed by another phone is another buyer (the transform's rule:
                # phone first), however many share the e-mail: a family's, an office's.
                continue
            for kind in ("email", "user"):
                if (kind, row.details.get(kind)) in wanted:
                    found.setdefault((kind, row.details[kind]), {})[row.roapp_id] = row
        for ident, rows in found.items():
            if len(rows) == 1:
                key, (roapp_id, row) = wanted[ident], next(iter(rows.items()))
                self._found.setdefault(key, roapp_id)
                if not row.details.get("linked"):
                    self._found_ours.add(key)
                    self._same_buyer[key] = row
                log.info("clients %s: same buyer as the synced RO App client %s (by %s)", key, roapp_id, ident[0])

    def adopted(self, record: Any, roapp_id: int, ours: bool) -> None:
        """A buyer found under another key of ours: what this record adds (a phone given
        now, a newer address) goes to that client."""
        same = self._same_buyer.get(self.key(record))
        if ours and same is not None:
            row = IdMapRow(self.key(record), roapp_id, "synced", None, None, dict(same.details), None)
            # A phone is only ever added, never replaced: it goes in even from a record whose
            # other fields are older than what the client holds.
            only = {"phone"} if self.stale(record, row) else None
            if self.update(record, row, only=only):
                self.counts.updated += 1
                self.counts.unchanged -= 1

    def finish(self, reached: str | None) -> None:
        """After RO App confirmed a backfill chunk: the backfill's position moves past it
        (``extract``); with the last chunk the customers cursor starts (``reached``)."""
        backfill = self.ctx.data.backfill("customers")
        if backfill and backfill["position"]:
            customers_backfill(self.state).advance(backfill["position"])
        if backfill and backfill["last"]:
            log.info("load_clients: customers backfill done: every registered customer was brought over")

    def lookups(self, records: list[Any]) -> None:
        self._local_matches(records)
        phones = {r.phone: self.key(r) for r in records if r.phone}
        emails = {r.email: self.key(r) for r in records if not r.phone and r.email}
        for person in self.roapp.find_people(phones=sorted(phones)) if phones else []:
            for number in phone_numbers(person.get("phones")):
                key = phones.get(_digits_to_e164(number, phones))
                if key:
                    self._found.setdefault(key, int(person["id"]))
        self._local_matches(records, with_phone=True)
        wanted = sorted(e for e, key in emails.items() if key not in self._found)
        if wanted:
            # RO App has no documented e-mail filter: the index, refreshed by modified_at[],
            # finds people made by hand and a create of ours whose answer was lost.
            for email, person_id in self.people_index.find_by_email(wanted).items():
                key = emails.get(email)
                if key:
                    self._found.setdefault(key, person_id)
        for record in records:  # buyers with neither: found by the marker in their notes
            key = self.key(record)
            if key not in phones.values() and key not in emails.values() and key not in self._found:
                for person in self.roapp.find_people(names=[record.first_name]):
                    if person.get("notes") == self.marker(record):
                        self._found.setdefault(key, int(person["id"]))
                        self._found_ours.add(key)

    def create(self, record: Any, row: IdMapRow | None) -> int:
        return self.simple_create(record, row, self.body(record), self._create_person)

    def _create_person(self, body: dict[str, Any]) -> dict[str, Any]:
        person = self.roapp.create_person(body)
        if body.get("email"):
            self.people_index.add({"email": body["email"], **{k: v for k, v in person.items() if v}})
        return person

    def update(self, record: Any, row: IdMapRow, *, only: set[str] | None = None) -> bool:
        """Only the fields that changed in Cartum since the last sync, and only on a client the
        store created (a linked one is never edited). A record never blanks a field it lacks.
        A new phone is added to the client's phones: those added in RO App stay."""
        assert row.roapp_id is not None
        held = row.details.get("fields") or {}
        changed = {f: getattr(record, f) for f in CLIENTS.hashed if (only is None or f in only)
                   and getattr(record, f) is not None and getattr(record, f) != held.get(f)}
        wrote = bool(changed) and not row.details.get("linked")
        if wrote:
            body = {f: v for f, v in changed.items() if f != "phone"}
            if "phone" in changed:
                phones = phone_numbers(self.roapp.get_person(row.roapp_id).get("phones"))
                if not any(_same_number(p, changed["phone"]) for p in phones):
                    phones.append(changed["phone"])
                body["phones"] = [{"phone": p} for p in phones]
            self.roapp.update_person(row.roapp_id, body)
        details = {**self.details(record, row), "linked": row.details.get("linked", False)}
        if only is not None:  # the rest of the record is older than what the client holds: keep that
            details = {**row.details, "fields": {**held, **changed}}
        self.state.record_synced(self.entity.name, self.key(record), row.roapp_id, record.content_hash, details)
        return wrote


def _same_number(a: str, b: str) -> bool:
    digits_a, digits_b = ("".join(ch for ch in x if ch.isdigit()) for x in (a, b))
    return bool(digits_a) and digits_a[-9:] == digits_b[-9:]


def _digits_to_e164(phone: Any, wanted: dict[str, str]) -> str | None:
    """The wanted E.164 number that an RO App phone (in any format) stands for."""
    digits = "".join(ch for ch in str(phone or "") if ch.isdigit())
    for e164 in wanted:
        if digits and e164.lstrip("+").endswith(digits[-9:]) and digits.endswith(e164.lstrip("+")[-9:]):
            return e164
    return None
