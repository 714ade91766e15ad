"""Loading into RO App: clients, then products, then orders; idempotent and crash-safe.

- **Idempotent.** The id map holds, per Cartum key, the RO App id and a hash of what RO
  App holds. A record whose hash is unchanged causes no API call at all.
- **Crash-safe.** Before a create is sent, an *intent* is committed with a marker that
  finds the record again (a phone, an e-mail, a SKU or barcode, the order's source marker
  in ``manager_notes``). A record found with an intent was maybe created by a run that
  died: it is looked up in RO App first and adopted when found, created otherwise. An
  order's later steps (items, status, comment) are recorded one by one as RO App confirms
  them, and resumed from there.
- **One bad record never stops the others.** RO App rejecting a record (400/422, or a
  404 for a record deleted in RO App) quarantines it with the API's message; it is
  retried on later runs. Rate limits, 5xx and timeouts that outlast the client's retries,
  and credential errors, stop the step: Airflow retries it and the id map makes the retry
  resume where it stopped.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Iterable

from .. import assumptions
from ..entities import CLIENTS, ORDERS, PRODUCTS, Entity
from ..state.store import IdMapRow, as_utc
from ..transport import NotFoundError, ValidationError
from .context import RunContext, store_now
from .process import clean

log = logging.getLogger(__name__)

LOOKUP_BATCH = 50          # values per array filter in one lookup request
PROGRESS_EVERY = 25        # log a progress line every this many records written
ORDER_STEPS = ("items", "status", "comment")
CUSTOM_FIELD_TITLES = ("Store", "External ID", "Created", "Last update")
#: What a client record puts into RO App (``transform.clients.HASH_FIELDS``).
CLIENT_FIELDS = ("first_name", "last_name", "phone", "email", "address")


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


def _batches(values: list[str], size: int = LOOKUP_BATCH) -> Iterable[list[str]]:
    for start in range(0, len(values), size):
        yield values[start:start + size]


class EntityLoader:
    """Drives one entity's records through create / update / skip. Subclasses say how a
    record is found, created and updated in RO App."""

    entity: Entity

    def __init__(self, ctx: RunContext):
        self.ctx = ctx
        self.state = ctx.state
        self.roapp = ctx.roapp
        self._found: dict[str, int] = {}

    # --- what subclasses define -------------------------------------------------------

    def lookups(self, records: list[dict[str, Any]]) -> None:
        """Find, in few requests, the RO App records that already match new keys."""

    def marker(self, record: dict[str, Any]) -> str:
        return str(record[self.entity.key])

    def create(self, record: dict[str, Any], row: IdMapRow | None) -> int:
        raise NotImplementedError

    def update(self, record: dict[str, Any], row: IdMapRow) -> None:
        raise NotImplementedError

    # --- the shared drive -------------------------------------------------------------

    def key(self, record: dict[str, Any]) -> str:
        return str(record[self.entity.key])

    def run(self, records: list[dict[str, Any]]) -> LoadCounts:
        counts = LoadCounts()
        started = time.monotonic()
        rows = self.state.id_rows(self.entity.name, [self.key(r) for r in records])
        todo = [r for r in records if not self._unchanged(r, rows.get(self.key(r)))]
        counts.unchanged = len(records) - len(todo)
        pending = {self.key(r) for r in todo}
        for record in records:
            row = rows.get(self.key(record))
            if row is not None and self.key(record) not in pending:
                self.remember(record, row)
        new = [r for r in todo if rows.get(self.key(r)) is None or rows[self.key(r)].status == "intent"]
        if new:
            self.lookups(new)
        for index, record in enumerate(todo, start=1):
            key, row = self.key(record), rows.get(self.key(record))
            try:
                if row is None or row.status == "intent":
                    existing = self._found.get(key)
                    if existing is not None and (row is None or row.roapp_id is None):
                        self.state.record_synced(self.entity.name, key, existing, record["content_hash"],
                                                 self.details(record, row))
                        counts.matched += 1
                        counts.unchanged += 1
                        log.info("%s %s: matched existing RO App record %s", self.entity.name, key, existing)
                    else:
                        self.create(record, row)
                        counts.created += 1
                else:
                    self.update(record, row)
                    counts.updated += 1
                counts.done_keys.append(key)
            except (ValidationError, NotFoundError) as exc:
                counts.quarantined += 1
                self.state.quarantine(self.ctx.run_id, self.entity.name, key, "load", str(exc), record)
                log.warning("quarantined %s %s: %s", self.entity.name, key, exc)
            if index % PROGRESS_EVERY == 0:
                log.info("load_%s: %d/%d written or skipped (created %d, updated %d, quarantined %d), %.1f s",
                         self.entity.name, index, len(todo), counts.created, counts.updated, counts.quarantined,
                         time.monotonic() - started)
        self.state.resolve_quarantine(self.entity.name, counts.done_keys)
        log.info("load_%s: %d records: %s (%d matched existing RO App records), %.1f s", self.entity.name,
                 len(records), counts.as_counts(), counts.matched, time.monotonic() - started)
        return counts

    def _unchanged(self, record: dict[str, Any], row: IdMapRow | None) -> bool:
        return row is not None and row.status == "synced" and (
            row.content_hash == record["content_hash"] or self.stale(record, row))

    def stale(self, record: dict[str, Any], row: IdMapRow) -> bool:
        """True when RO App already holds newer data than this record (nothing to push)."""
        return False

    def remember(self, record: dict[str, Any], row: IdMapRow) -> None:
        """An unchanged record: keep in the id map what the sync itself needs to know of it
        (no API call)."""

    def details(self, record: dict[str, Any], row: IdMapRow | None) -> dict[str, Any]:
        return dict(row.details) if row else {}

    def simple_create(self, record: dict[str, Any], row: IdMapRow | None, body: dict[str, Any], create) -> int:
        """Intent, create, confirm: for records made by a single request."""
        key = self.key(record)
        self.state.record_intent(self.entity.name, key, self.marker(record))
        created = create(body)
        self.state.record_synced(self.entity.name, key, int(created["id"]), record["content_hash"],
                                 self.details(record, row))
        return int(created["id"])


# --- clients ----------------------------------------------------------------------------

class ClientLoader(EntityLoader):
    entity = CLIENTS

    def __init__(self, ctx: RunContext):
        super().__init__(ctx)
        customers = ctx.state.staged(ctx.run_id, "raw_customers", [])
        self._profiles = {int(c["id"]) for c in customers if c.get("id") is not None}

    def body(self, record: dict[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {"first_name": record["first_name"], "last_name": clean(record.get("last_name")) or ""}
        if clean(record.get("email")):
            body["email"] = record["email"]
        if clean(record.get("phone")):
            body["phones"] = [{"phone": record["phone"]}]
        if clean(record.get("address")):
            body["address"] = record["address"]
        if not body.get("phones") and not body.get("email"):
            # Nothing else identifies this buyer in RO App: the marker finds it after a crash.
            body["notes"] = self.marker(record)
        return body

    def marker(self, record: dict[str, Any]) -> str:
        return f"cartum:{self.ctx.config.store_id}:{record['client_key']}"

    def rank(self, record: dict[str, Any]) -> list[int]:
        """How authoritative a record's data is: built from the buyer's registered profile
        (the transform prefers it), then from how recent an order."""
        user = clean(record.get("cartum_user_id"))
        return [1 if user is not None and int(user) in self._profiles else 0, max(record.get("order_ids") or [0])]

    def details(self, record: dict[str, Any], row: IdMapRow | None) -> dict[str, Any]:
        """The rank; what RO App holds (a field the record lacks keeps its earlier value: the
        body leaves it out); the e-mail and Cartum user id, by which a later batch that keys
        the same buyer differently finds it locally (``_local_matches``)."""
        held = dict((row.details.get("fields") or {}) if row else {})
        held.update({f: clean(record.get(f)) for f in CLIENT_FIELDS if clean(record.get(f)) is not None})
        user = clean(record.get("cartum_user_id"))
        return {"rank": self.rank(record), "fields": held, "email": held.get("email"),
                "user": int(user) if user is not None else None}

    def stale(self, record: dict[str, Any], row: IdMapRow) -> bool:
        # A batch holds only some of a buyer's data (this run's orders, profiles registered
        # since the watermark): a record built from less authoritative data than what RO App
        # got must not overwrite it, and one that only lacks some of what RO App holds
        # (an e-mail given on an older order, not in this batch) would change nothing.
        if self.rank(record) < list(row.details.get("rank") or [0, 0]):
            return True
        held = row.details.get("fields")
        return held is not None and all(clean(record.get(f)) in (None, held.get(f)) for f in CLIENT_FIELDS)

    def _local_matches(self, records: list[dict[str, Any]]) -> None:
        """A buyer keyed by e-mail or by Cartum user id in this batch may be a client synced
        under another key: a batch without the contact that tied the e-mail or the user to a
        phone (an older order, a profile registered long ago) keys the same buyer differently.
        The one RO App person this sync created or adopted with that e-mail or user is the one
        the transform would have chosen, and a lookup in RO App could not find it by user."""
        wanted: dict[tuple[str, Any], str] = {}
        for record in records:
            user = clean(record.get("cartum_user_id"))
            if clean(record.get("phone")):
                continue
            if clean(record.get("email")):
                wanted[("email", record["email"])] = self.key(record)
            elif user is not None:
                wanted[("user", int(user))] = self.key(record)
        if not wanted:
            return
        found: dict[tuple[str, Any], set[int]] = {}
        for row in self.state.id_rows(self.entity.name).values():
            if row.status != "synced" or not row.roapp_id:
                continue
            for kind in ("email", "user"):
                if (kind, row.details.get(kind)) in wanted:
                    found.setdefault((kind, row.details[kind]), set()).add(row.roapp_id)
        for ident, ids in found.items():
            if len(ids) == 1:
                self._found.setdefault(wanted[ident], next(iter(ids)))
                log.info("clients %s: same buyer as the synced RO App client %s (by %s)", wanted[ident],
                         next(iter(ids)), ident[0])

    def lookups(self, records: list[dict[str, Any]]) -> None:
        self._local_matches(records)
        phones = {r["phone"]: self.key(r) for r in records if clean(r.get("phone"))}
        emails = {r["email"]: self.key(r) for r in records if not clean(r.get("phone")) and clean(r.get("email"))}
        for batch in _batches(sorted(phones)):
            for person in self.roapp.find_people(phones=batch):
                for entry in person.get("phones") or []:
                    key = phones.get(_digits_to_e164(entry.get("phone"), phones))
                    if key:
                        self._found.setdefault(key, int(person["id"]))
        for batch in _batches(sorted(e for e, key in emails.items() if key not in self._found)):
            for person in self.roapp.find_people(emails=batch):
                key = emails.get(str(person.get("email") or "").strip().lower())
                if key:
                    self._found.setdefault(key, int(person["id"]))
        for record in records:  # buyers with neither: found by the marker in their notes
            key = self.key(record)
            if key not in phones.values() and key not in emails.values() and key not in self._found:
                for person in self.roapp.find_people(names=[record["first_name"]]):
                    if person.get("notes") == self.marker(record):
                        self._found.setdefault(key, int(person["id"]))

    def create(self, record: dict[str, Any], row: IdMapRow | None) -> int:
        return self.simple_create(record, row, self.body(record), self.roapp.create_person)

    def update(self, record: dict[str, Any], row: IdMapRow) -> None:
        assert row.roapp_id is not None
        self.roapp.update_person(row.roapp_id, self.body(record))
        self.state.record_synced(self.entity.name, self.key(record), row.roapp_id, record["content_hash"],
                                 self.details(record, row))


def _digits_to_e164(phone: Any, wanted: dict[str, str]) -> str | None:
    """The wanted E.164 number that an RO App phone (in any format) stands for."""
    digits = "".join(ch for ch in str(phone or "") if ch.isdigit())
    for e164 in wanted:
        if digits and e164.lstrip("+").endswith(digits[-9:]) and digits.endswith(e164.lstrip("+")[-9:]):
            return e164
    return None


# --- products ---------------------------------------------------------------------------

class ProductLoader(EntityLoader):
    entity = PRODUCTS

    def body(self, record: dict[str, Any]) -> dict[str, Any]:
        return {"title": record["title"], "sku": record["sku"], "barcodes": list(record.get("barcodes") or []),
                "description": clean(record.get("description")) or "", "price": clean(record.get("price"))}

    def lookups(self, records: list[dict[str, Any]]) -> None:
        by_sku = {r["sku"]: self.key(r) for r in records}
        by_barcode = {b: self.key(r) for r in records for b in (r.get("barcodes") or [])}
        if self.ctx.config.product_key == "barcode":
            for batch in _batches(sorted(by_barcode)):
                for product in self.roapp.find_products(barcodes=batch):
                    for barcode in product.get("barcodes") or []:
                        if barcode in by_barcode:
                            self._found.setdefault(by_barcode[barcode], int(product["id"]))
        unmatched = sorted(sku for sku, key in by_sku.items() if key not in self._found)
        for batch in _batches(unmatched):
            for product in self.roapp.find_products(skus=batch):
                if product.get("sku") in by_sku:
                    self._found.setdefault(by_sku[product["sku"]], int(product["id"]))

    def create(self, record: dict[str, Any], row: IdMapRow | None) -> int:
        return self.simple_create(record, row, self.body(record), self.roapp.create_product)

    def update(self, record: dict[str, Any], row: IdMapRow) -> None:
        assert row.roapp_id is not None
        self.roapp.update_product(row.roapp_id, self.body(record))
        self.state.record_synced(self.entity.name, self.key(record), row.roapp_id, record["content_hash"])


# --- orders -----------------------------------------------------------------------------

class OrderLoader(EntityLoader):
    entity = ORDERS

    def __init__(self, ctx: RunContext):
        super().__init__(ctx)
        self._managers: list[int] | None = None
        self._custom_fields: dict[str, int] | None = None
        self._client_ids: dict[str, int] = {}
        self._product_ids: dict[str, int] = {}
        self._crashed: dict[str, int] = {}   # order key → RO App order a dead run created

    # reference data, read once and only when an order is written
    def managers(self) -> list[int]:
        if self._managers is None:
            wanted = self.ctx.config.managers
            if wanted == "all":
                location = self.ctx.config.location_id
                self._managers = sorted(
                    int(e["id"]) for e in self.roapp.employees()
                    if e.get(assumptions.ROAPP_EMPLOYEE_ACTIVE_FIELD)
                    and e.get(assumptions.ROAPP_EMPLOYEE_ROLE_FIELD) == assumptions.ROAPP_MANAGER_ROLE
                    and location in (e.get(assumptions.ROAPP_EMPLOYEE_BRANCHES_FIELD) or []))
            else:
                self._managers = sorted(int(m) for m in wanted)
        return self._managers

    def custom_fields(self) -> dict[str, int]:
        if self._custom_fields is None:
            by_title = {str(f.get("title")): int(f["id"]) for f in self.roapp.custom_fields()}
            self._custom_fields = {t: by_title[t] for t in CUSTOM_FIELD_TITLES if t in by_title}
            missing = [t for t in CUSTOM_FIELD_TITLES if t not in by_title]
            if missing:
                log.info("RO App has no custom field(s) %s: those values go only into manager_notes", missing)
        return self._custom_fields

    def marker(self, record: dict[str, Any]) -> str:
        return f"[cartum:{self.ctx.config.store_id}:{record['order_id']}]"

    def run(self, records: list[dict[str, Any]]) -> LoadCounts:
        keys = {str(r["client_key"]) for r in records}
        # and the keys the orders were synced with: the same buyer can be keyed differently
        # from one batch to the next (see ``stale``)
        synced = self.state.id_rows("orders", [self.key(r) for r in records])
        keys |= {str(row.details["client_key"]) for row in synced.values() if row.details.get("client_key")}
        self._client_ids = {k: row.roapp_id for k, row in self.state.id_rows("clients", keys).items()
                            if row.status == "synced" and row.roapp_id}
        products = {str(i["product_key"]) for r in records for i in r.get("items") or []}
        self._product_ids = {k: row.roapp_id for k, row in self.state.id_rows("products", products).items()
                             if row.status == "synced" and row.roapp_id}
        return super().run(records)

    def stale(self, record: dict[str, Any], row: IdMapRow) -> bool:
        """Nothing RO App holds would change: the record differs from the synced one only in
        the buyer's key (a batch without the contact that tied an e-mail to a phone keys the
        same buyer by e-mail), and both keys stand for the same RO App client."""
        old = row.details
        return (old.get("roapp_status_id") == record["roapp_status_id"] and old.get("lines") == _lines(record)
                and old.get("comment") == record["delivery_comment"] and old.get("paid") == record["paid"]
                and self._same_client(old.get("client_key"), record["client_key"]))

    def _same_client(self, old_key: Any, new_key: Any) -> bool:
        old_id = self._client_ids.get(str(old_key))
        return old_id is not None and old_id == self._client_ids.get(str(new_key))

    def _require_references(self, record: dict[str, Any]) -> None:
        missing = []
        if record["client_key"] not in self._client_ids:
            missing.append(f"client {record['client_key']}")
        missing += [f"product {i['product_key']}" for i in record.get("items") or []
                    if str(i["product_key"]) not in self._product_ids]
        if missing:
            raise ValidationError(f"order {record['order_id']} waits for {', '.join(missing)} to be loaded into RO "
                                  f"App first (quarantined or rejected earlier in this run)")

    def _custom_values(self, record: dict[str, Any]) -> dict[str, Any]:
        fields = self.custom_fields()
        values = {"Store": self.ctx.config.name, "External ID": str(record["order_id"]),
                  "Created": record["created"], "Last update": store_now().strftime("%Y-%m-%d %H:%M:%S")}
        return {f"f{fields[title]}": value for title, value in values.items() if title in fields}

    def _notes(self, record: dict[str, Any]) -> str:
        return (f"Cartum order #{record['order_id']} from {self.ctx.config.name}, created {record['created']} "
                f"{self.marker(record)}")

    def details(self, record: dict[str, Any], row: IdMapRow | None) -> dict[str, Any]:
        return {**(row.details if row else {}), "cartum_status": record["cartum_status"],
                "roapp_status_id": record["roapp_status_id"], "steps": list(ORDER_STEPS),
                "comment": record["delivery_comment"], "paid": record["paid"], "client_key": record["client_key"],
                "lines": _lines(record)}

    def lookups(self, records: list[dict[str, Any]]) -> None:
        """Only orders with a crash-left intent are looked for: by their marker in manager_notes,
        among the location's orders created since the intent."""
        intents = {self.key(r): r for r in records}
        rows = self.state.id_rows("orders", list(intents))
        pending = {k: rows[k] for k in intents if k in rows and rows[k].roapp_id is None and rows[k].intent_at}
        if not pending:
            return
        since = min(as_utc(row.intent_at) for row in pending.values()) - timedelta(minutes=2)  # clock skew
        found = self.roapp.find_orders(branches=[self.ctx.config.location_id], created_at=(since.isoformat(),))
        for key in pending:
            marker = self.marker(intents[key])
            for order in found:
                if marker in str(order.get("manager_notes") or ""):
                    self._crashed[key] = int(order["id"])
                    log.info("order %s: found the RO App order %s a crashed run created", key, order["id"])

    def create(self, record: dict[str, Any], row: IdMapRow | None) -> int:
        key = self.key(record)
        self._require_references(record)
        details = dict(row.details) if row and row.roapp_id else {}
        roapp_id = row.roapp_id if row and row.roapp_id else self._crashed.get(key)
        if roapp_id is None:
            self.state.record_intent("orders", key, self.marker(record), {"steps": []})
            managers = self.managers()
            body: dict[str, Any] = {
                "branch_id": self.ctx.config.location_id, "order_type_id": self.ctx.config.order_type_id,
                "client_id": self._client_ids[record["client_key"]], "manager_notes": self._notes(record),
                "custom_fields": self._custom_values(record)}
            if managers:
                body["manager_id"] = managers[int(record["order_id"]) % len(managers)]
            roapp_id = int(self.roapp.create_order(body)["id"])
            details = {"steps": [], "fresh": True}
            self.state.record_created_id("orders", key, roapp_id, {"steps": []})
        steps = set(details.get("steps") or [])
        comment_may_exist = "status" in steps  # an earlier run got past the status: it may have posted it
        if "items" not in steps:
            items = self._sync_items(roapp_id, record, fresh=details.get("fresh", False))
            details = {"items": items, "steps": sorted(steps | {"items"})}
            self.state.record_progress("orders", key, details)
            steps.add("items")
        if "status" not in steps:
            answer = self.roapp.set_order_status(roapp_id, int(record["roapp_status_id"]))
            stamp = answer.get("modified_at") if isinstance(answer, dict) else None
            details = {**details, "steps": sorted(steps | {"status"}),
                       "modified_at": stamp or self.roapp.get_order(roapp_id).get("modified_at")}
            self.state.record_progress("orders", key, details)
            steps.add("status")
        if "comment" not in steps and not (comment_may_exist and self._comment_went_in(roapp_id, details)):
            self.roapp.add_order_comment(roapp_id, record["delivery_comment"])
        final = {**self.details(record, None), "items": details.get("items") or {}}
        self.state.record_synced("orders", key, roapp_id, record["content_hash"], final)
        return roapp_id

    def _comment_went_in(self, roapp_id: int, details: dict[str, Any]) -> bool:
        """Whether a run that died after the status step had posted the delivery comment.
        RO App lists no comments, but it moves an order's ``modified_at`` on every change:
        if it moved since the status step was recorded, the comment (the only later write)
        was stored."""
        recorded = details.get("modified_at")
        if not recorded:
            return False
        current = self.roapp.get_order(roapp_id).get("modified_at")
        if current != recorded:
            log.info("order %s: the delivery comment was posted by a run that died; not posting it again",
                     roapp_id)
            return True
        return False

    def _sync_items(self, roapp_id: int, record: dict[str, Any], *, fresh: bool = False) -> dict[str, int]:
        """Make the order's items in RO App match the record: add, change or remove lines.
        A line is a product at a price (a gift of a product also bought at full price is a
        line of its own). Returns "product_key@price" → RO App item id. Reads RO App's items
        first (unless the order was created a moment ago by this very call), so a line added
        by a run that died is not added twice."""
        wanted: dict[tuple[int, float], dict[str, Any]] = {}
        for item in record.get("items") or []:
            pid, price = self._product_ids[str(item["product_key"])], float(item["price"])
            line = wanted.setdefault((pid, price), {"product_key": str(item["product_key"]), "quantity": 0.0})
            line["quantity"] += float(item["quantity"])
        present: dict[tuple[int, float], list[dict[str, Any]]] = {}
        for item in [] if fresh else self.roapp.order_items(roapp_id):
            present.setdefault((int(item["entity_id"]), float(item.get("price") or 0)), []).append(item)
        result: dict[str, int] = {}
        unmatched = []
        for (pid, price), line in wanted.items():
            item = present[(pid, price)].pop(0) if present.get((pid, price)) else None
            if item is None:
                unmatched.append((pid, price, line))
                continue
            if float(item.get("quantity") or 0) != line["quantity"]:
                self.roapp.update_order_item(roapp_id, int(item["id"]), {"quantity": line["quantity"]})
            result[f"{line['product_key']}@{price:g}"] = int(item["id"])
        leftovers = [item for items in present.values() for item in items]
        for pid, price, line in unmatched:
            reuse = next((i for i in leftovers if int(i["entity_id"]) == pid), None)
            if reuse is not None:  # the same product at a new price
                leftovers.remove(reuse)
                self.roapp.update_order_item(roapp_id, int(reuse["id"]), {"quantity": line["quantity"], "price": price})
                item_id = int(reuse["id"])
            else:
                item_id = int(self.roapp.add_order_item(roapp_id, {"entity_id": pid, "quantity": line["quantity"],
                                                                   "price": price})["id"])
            result[f"{line['product_key']}@{price:g}"] = item_id
        for stale in leftovers:
            self.roapp.delete_order_item(roapp_id, int(stale["id"]))
        return result

    def remember(self, record: dict[str, Any], row: IdMapRow) -> None:
        # Two Cartum statuses mapped to one RO App status change nothing in RO App, but the
        # Cartum status decides whether the order is final (and stops being re-read).
        if row.details.get("cartum_status") != record["cartum_status"]:
            self.state.record_progress("orders", self.key(record),
                                       {**row.details, "cartum_status": record["cartum_status"]})

    def update(self, record: dict[str, Any], row: IdMapRow) -> None:
        """Push what changed in Cartum: client, items, status, payment and delivery details."""
        assert row.roapp_id is not None
        self._require_references(record)
        old = row.details
        items = old.get("items") or {}
        if old.get("lines") != _lines(record):
            items = self._sync_items(row.roapp_id, record)
        if old.get("roapp_status_id") != record["roapp_status_id"]:
            self.roapp.set_order_status(row.roapp_id, int(record["roapp_status_id"]),
                                        f"Cartum status changed to {record['cartum_status']}")
        if old.get("comment") != record["delivery_comment"] or old.get("paid") != record["paid"]:
            self.roapp.add_order_comment(row.roapp_id, "Updated from Cartum:\n" + record["delivery_comment"])
        body: dict[str, Any] = {"custom_fields": self._custom_values(record)}
        if not self._same_client(old.get("client_key"), record["client_key"]):
            body["client_id"] = self._client_ids[record["client_key"]]
        self.roapp.update_order(row.roapp_id, body)
        self.state.record_synced("orders", self.key(record), row.roapp_id, record["content_hash"],
                                 {**self.details(record, row), "items": items})


def _lines(record: dict[str, Any]) -> list[list[Any]]:
    """The order's lines as RO App holds them: what decides whether items need a sync."""
    return sorted([str(i["product_key"]), float(i["quantity"]), float(i["price"])] for i in record.get("items") or [])


LOADERS = {"clients": ClientLoader, "products": ProductLoader, "orders": OrderLoader}
