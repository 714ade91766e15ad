"""Orders: created in steps (order, items, status, comment) recorded one by one, found
again by their marker whenever the id map does not know them (a crash, a lost answer, a
lost state); later runs push status, item, client and payment changes, step by step too."""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from ... import assumptions
from ...entities import CLIENTS, ORDERS, PRODUCTS
from ...roapp.shapes import iso_utc
from ...setup_checks import eligible_managers
from ...state.cursors import CARTUM_TIME
from ...state.store import IdMapRow
from ...transport import NotFoundError, ValidationError
from ..context import RunContext, store_time_utc
from ..errors import FatalStepError
from .base import EntityLoader, LoadCounts

log = logging.getLogger(__name__)

ORDER_STEPS = ("items", "status", "comment")
CUSTOM_FIELD_TITLES = ("Store", "External ID", "Created", "Last update")


class OrderLoader(EntityLoader):
    entity = ORDERS

    def __init__(self, ctx: RunContext):
        super().__init__(ctx)
        self._managers: list[int] | None = None
        self._custom_fields: dict[str, int] | None = None
        self._client_ids: dict[str, int] = {}
        self._product_ids: dict[str, int] = {}
        self._crashed: dict[str, int] = {}   # order key → RO App order found by its marker
        self._clients: dict[str, Any] | None = None  # this run's client records, read when one must heal
        self._final: set[int] | None = None  # the store's final Cartum statuses

    # reference data, read once and only when an order is written
    def managers(self) -> list[int]:
        """The managers orders go to, round robin by order number: ``"all"`` → every active
        Manager with access to the location; a list → those of it still eligible (a
        deactivated one is dropped, ``validate_setup`` warned). None left stops the store."""
        if self._managers is None:
            config = self.ctx.config
            self._managers = eligible_managers(self.roapp.employees(), config.managers, config.location_id,
                                              config.manager_roles)
            if config.managers != "all" and not self._managers:
                raise FatalStepError(f"store {config.store_id!r}: no listed manager "
                                     f"({', '.join(map(str, config.managers))}) is eligible any more in RO App "
                                     f"(active, Manager, with access to location {config.location_id}): make one "
                                     f"eligible or edit managers (cartum-roapp stores edit {config.store_id})")
        return self._managers

    def custom_fields(self) -> dict[str, int]:
        if self._custom_fields is None:
            by_title = {str(f.get("title")): int(f["id"]) for f in self.roapp.custom_fields()}
            self._custom_fields = {t: by_title[t] for t in CUSTOM_FIELD_TITLES if t in by_title}
            missing = [t for t in CUSTOM_FIELD_TITLES if t not in by_title]
            if missing:
                log.info("RO App has no custom field(s) %s: those values go only into manager_notes", missing)
        return self._custom_fields

    def marker(self, record: Any) -> str:
        return f"[cartum:{self.ctx.config.store_id}:{record.order_id}]"

    def run(self, records: list[Any]) -> LoadCounts:
        keys = {str(r.client_key) for r in records}
        # and the keys the orders were synced with: the same buyer can be keyed differently
        # from one batch to the next (see ``stale``)
        synced = self.state.id_rows(ORDERS.name, [self.key(r) for r in records])
        keys |= {str(row.details["client_key"]) for row in synced.values() if row.details.get("client_key")}
        self._client_ids = {k: row.roapp_id for k, row in self.state.id_rows(CLIENTS.name, keys).items()
                            if row.status == "synced" and row.roapp_id}
        products = {str(i["product_key"]) for r in records for i in r.items or []}
        self._product_ids = {k: row.roapp_id for k, row in self.state.id_rows(PRODUCTS.name, products).items()
                             if row.status == "synced" and row.roapp_id}
        return super().run(records)

    def stale(self, record: Any, row: IdMapRow) -> bool:
        """Nothing RO App holds would change: the record differs from the synced one only in
        the buyer's key (a batch without the contact that tied an e-mail to a phone keys the
        same buyer by e-mail), and both keys stand for the same RO App client."""
        old = row.details
        if old.get("updating") is not None:
            return False  # an update died half-way: it must be finished, its version recorded
        return (old.get("roapp_status_id") == record.roapp_status_id and old.get("lines") == _lines(record)
                and old.get("comment") == record.delivery_comment and old.get("paid") == record.paid
                and self._same_client(old.get("client_key"), record.client_key))

    def _same_client(self, old_key: Any, new_key: Any) -> bool:
        old_id = self._client_ids.get(str(old_key))
        return old_id is not None and old_id == self._client_ids.get(str(new_key))

    def _require_references(self, record: Any) -> None:
        missing = []
        if record.client_key not in self._client_ids:
            missing.append(f"client {record.client_key}")
        missing += [f"product {i['product_key']}" for i in record.items or []
                    if str(i["product_key"]) not in self._product_ids]
        if missing:
            raise ValidationError(f"order {record.order_id} waits for {', '.join(missing)} to be loaded into RO "
                                  f"App first (quarantined or rejected earlier in this run)")

    def _custom_values(self, record: Any) -> dict[str, Any]:
        fields = self.custom_fields()
        # Date-time fields take ISO-8601 in UTC (contract); Cartum's time is store-local.
        values = {"Store": self.ctx.config.name, "External ID": str(record.order_id),
                  "Created": store_time_utc(record.created, self.ctx.config.timezone), "Last update": iso_utc(self.state.now())}
        return {f"f{fields[title]}": value for title, value in values.items() if title in fields}

    def _notes(self, record: Any) -> str:
        return (f"Cartum order #{record.order_id} from {self.ctx.config.name}, created {record.created} "
                f"{self.marker(record)}")

    def details(self, record: Any, row: IdMapRow | None) -> dict[str, Any]:
        return self._finality({**(row.details if row else {}), "cartum_status": record.cartum_status,
                               "roapp_status_id": record.roapp_status_id, "steps": list(ORDER_STEPS),
                               "comment": record.delivery_comment, "paid": record.paid,
                               "client_key": record.client_key, "lines": _lines(record)}, record)

    def lookups(self, records: list[Any]) -> None:
        """Orders RO App may hold although the id map does not say so (a create whose answer
        was lost, a run that died, a state database lost or rebuilt) are found by their
        marker in ``manager_notes``: one list of the location's orders created since the
        earliest of them was created in Cartum (less a day, so no clock needs to agree with
        RO App's), 50 orders a page, per chunk of new orders (``LOOKUP_CHUNK``, base.py)."""
        wanted = {self.marker(r): self.key(r) for r in records}
        rows = self.state.id_rows(ORDERS.name, list(wanted.values()))
        wanted = {m: k for m, k in wanted.items() if k not in rows or rows[k].roapp_id is None}
        if not wanted:
            return
        created = [utc_of_store_time(r.created, self.ctx.config.timezone) for r in records if self.marker(r) in wanted]
        since = min(c for c in created if c is not None) - timedelta(days=1) if any(created) else None
        found = self.roapp.find_orders(branches=[self.ctx.config.location_id],
                                       created_at=(since.isoformat(),) if since else None)
        for order in found:
            for marker in MARKER.findall(str(order.get("manager_notes") or "")):
                key = wanted.get(marker)
                if key is not None and key not in self._crashed:
                    self._crashed[key] = int(order["id"])
                    log.info("order %s: RO App already holds it as order %s; resuming it, not creating it again",
                             key, order["id"])

    # --- creating an order, step by step ------------------------------------------------

    def create(self, record: Any, row: IdMapRow | None) -> int:
        key = self.key(record)
        self._require_references(record)
        details = dict(row.details) if row and row.roapp_id else {}
        roapp_id = row.roapp_id if row and row.roapp_id else self._crashed.get(key)
        # An order that already exists may have had steps applied that were never recorded.
        resumed = roapp_id is not None
        if roapp_id is None:
            self.state.record_intent(ORDERS.name, key, self.marker(record), {"steps": []})
            roapp_id = self.write_once(lambda: self._create_order(record), lambda: self._look_up_order(record),
                                       what=key)
            details = {"steps": [], "items": {}}
            self.state.record_created_id(ORDERS.name, key, roapp_id, details)
            self.log_event(record, "created", roapp_id, {"client_key": record.client_key})
        elif not details:
            # Found by its marker. With an intent, a try died or lost its answer right after
            # the create: every step follows. With no trace at all the state was lost: the
            # sync that created it got past its comment (it is the last step), so items and
            # status are brought in line and no second delivery comment is posted.
            details = {"steps": [] if row is not None else ["comment"], "items": {}}
            if row is None:
                self._relinked.add(key)
                self.state.record_intent(ORDERS.name, key, self.marker(record), details)
            self.state.record_created_id(ORDERS.name, key, roapp_id, details)
            self.log_event(record, "linked" if row is None else "created", roapp_id,
                           {"ours": True, "found_by_marker": True})
        steps = set(details.get("steps") or [])
        # Only a try that got past the status may have posted the comment (the last step).
        comment_may_exist = "status" in steps
        if "items" not in steps:
            # An order created a moment ago by this very call has no items: none to read.
            details = self._sync_items(key, roapp_id, record, details, adopt=True, fresh=not resumed)
            details["steps"] = sorted(steps | {"items"})
            self.state.record_progress(ORDERS.name, key, details)
            steps.add("items")
        if "status" not in steps:
            stamp = self._set_status(roapp_id, int(record.roapp_status_id), check_first=resumed)
            details = {**details, "steps": sorted(steps | {"status"}), "modified_at": stamp}
            self.state.record_progress(ORDERS.name, key, details)
            self.log_event(record, "status_changed", roapp_id, {"roapp_status_id": record.roapp_status_id,
                                                               "cartum_status": record.cartum_status})
            steps.add("status")
        if "comment" not in steps:
            self._post_comment(roapp_id, record.delivery_comment, details, check_first=comment_may_exist)
            self.log_event(record, "comment_added", roapp_id, {"comment": "delivery and payment"})
        final = {**self.details(record, None), "items": details.get("items") or {}}
        self.state.record_synced(ORDERS.name, key, roapp_id, record.content_hash, final)
        return roapp_id

    def _create_order(self, record: Any) -> int:
        managers = self.managers()
        body: dict[str, Any] = {
            "branch_id": self.ctx.config.location_id, "order_type_id": self.ctx.config.order_type_id,
            "client_id": self._client_ids[record.client_key], "manager_notes": self._notes(record),
            "custom_fields": self._custom_values(record)}
        if managers:
            body["manager_id"] = managers[int(record.order_id) % len(managers)]
        return int(self._healing_client(record, lambda: self.roapp.create_order(
            {**body, "client_id": self._client_ids[record.client_key]}))["id"])

    def _look_up_order(self, record: Any) -> int | None:
        self._crashed.pop(self.key(record), None)
        self.lookups([record])
        return self._crashed.get(self.key(record))

    # --- the steps an order's create and update share --------------------------------------

    def _set_status(self, roapp_id: int, status_id: int, comment: str | None = None, *,
                    check_first: bool = False) -> str | None:
        """Set the order's status, unless RO App shows it already (a run that died right after
        setting it, or an answer lost); returns the order's ``modified_at`` afterwards."""
        if check_first:
            order = self.roapp.get_order(roapp_id)
            if _status_id(order) == status_id:
                log.info("order %s already has status %s; not setting it again", roapp_id, status_id)
                return order.get("modified_at")

        def look() -> str | None:
            order = self.roapp.get_order(roapp_id)
            return order.get("modified_at") if _status_id(order) == status_id else None

        answer = self.write_once(lambda: self.roapp.set_order_status(roapp_id, status_id, comment), look,
                                 what=f"order {roapp_id} status")
        stamp = answer.get("modified_at") if isinstance(answer, dict) else None
        return stamp or self.roapp.get_order(roapp_id).get("modified_at")

    def _post_comment(self, roapp_id: int, text: str, details: dict[str, Any], *, check_first: bool) -> None:
        """Post a comment once. RO App lists no comments, but it moves an order's
        ``modified_at`` on every change, and the comment is the last write of a create or an
        update: if ``modified_at`` moved since it was recorded before the comment, the
        comment went in."""
        if check_first and self._comment_went_in(roapp_id, details):
            return
        self.write_once(lambda: self.roapp.add_order_comment(roapp_id, text),
                        lambda: True if self._comment_went_in(roapp_id, details) else None,
                        what=f"order {roapp_id} comment")

    def _comment_went_in(self, roapp_id: int, details: dict[str, Any]) -> bool:
        recorded = details.get("modified_at")
        if not recorded:
            return False
        current = self.roapp.get_order(roapp_id).get("modified_at")
        if current != recorded:
            log.info("order %s: the comment was posted by an earlier try; not posting it again", roapp_id)
            return True
        return False

    def _sync_items(self, key: str, roapp_id: int, record: Any, details: dict[str, Any], *,
                    adopt: bool, fresh: bool = False) -> dict[str, Any]:
        """Make the order's lines in RO App match the record, touching only the items the
        sync added (their RO App ids are in ``details["items"]``, "product_key@price" → id):
        items a manager added stay as they are. A line is a product at a price (a gift of a
        product also bought at full price is a line of its own), with its share of the
        order's discount as an item discount (``_discount_body``); an item whose quantity or
        discount differs from its line gets one PATCH of what differs.

        Before an item is added, the line is recorded as pending; an unowned item that
        matches a pending line (added by a try that died, or whose answer was lost) is
        adopted instead of added again. ``adopt`` extends that to every line: an order this
        sync created but whose items were never recorded (a resumed create, a lost state)."""
        details = {**details, "items": dict(details.get("items") or {})}
        owned: dict[str, int] = details["items"]
        pending = set(details.get("pending_items") or [])
        wanted: dict[str, dict[str, Any]] = {}
        for item in record.items or []:
            pid, price = self._product_ids[str(item["product_key"])], float(item["price"])
            line = wanted.setdefault(_line_key(item["product_key"], price),
                                     {"entity_id": pid, "price": price, "quantity": 0.0, "discount": 0.0})
            line["quantity"] += float(item["quantity"])
            line["discount"] = round(line["discount"] + float(item.get("discount") or 0), 2)
        present = [] if fresh else self.roapp.order_items(roapp_id)
        by_id = {int(i["id"]): i for i in present}
        mine = {lk: by_id[i] for lk, i in owned.items() if i in by_id}
        unowned = [i for i in present if int(i["id"]) not in set(owned.values())]
        for line_key in [lk for lk in owned if lk not in mine]:
            del owned[line_key]  # deleted in RO App: added again below if still wanted
        story: dict[str, list[dict[str, Any]]] = {"items_added": [], "items_changed": [], "items_removed": []}

        def save() -> None:
            details["pending_items"] = sorted(pending)
            self.state.record_progress(ORDERS.name, key, details)

        def adoptable(line_key: str, line: dict[str, Any]) -> dict[str, Any] | None:
            if not (adopt or line_key in pending):
                return None
            # the same discount first; else the product at that price (added before its
            # discount changed, or before discounts were synced): its discount is patched below
            return next((i for i in unowned if _matches(i, line)), None) or next(
                (i for i in unowned if _matches(i, line, discount=False)), None)

        for line_key, line in wanted.items():
            item = mine.pop(line_key, None)
            if item is None:
                item = adoptable(line_key, line)
                if item is not None:
                    unowned.remove(item)
                    log.info("order %s: item %s (%s) was added by an earlier try; adopting it", roapp_id,
                             item["id"], line_key)
            if item is None:
                # The same product at a new price: reprice one of our items rather than add one.
                repriced = next((lk for lk, i in mine.items() if int(i["entity_id"]) == line["entity_id"]
                                 and lk not in wanted), None)
                if repriced is not None:
                    item = mine.pop(repriced)
                    del owned[repriced]
                    self._update_item(roapp_id, item, line, {**_item_changes(item, line), "quantity": line["quantity"],
                                                             "price": line["price"]})
                    story["items_changed"].append(_line_story(line_key, line))
                    owned[line_key] = int(item["id"])
                    save()
                    continue
                pending.add(line_key)
                save()
                added = self.write_once(
                    lambda: self._add_item(roapp_id, line, line_key),
                    lambda: self._find_new_item(roapp_id, line, set(owned.values()) | set(by_id)),
                    what=f"order {roapp_id} item {line_key}")
                owned[line_key] = int(added["id"])
                story["items_added"].append(_line_story(line_key, line))
                pending.discard(line_key)
                save()
                continue
            known = owned.get(line_key) == int(item["id"])
            owned[line_key] = int(item["id"])
            changes = _item_changes(item, line)
            if changes:
                self._update_item(roapp_id, item, line, changes)
                story["items_changed"].append(_line_story(line_key, line))
            elif known:
                continue  # nothing changed for this line: nothing to record
            save()
        for line_key, item in mine.items():  # our items whose line is gone from the order
            try:
                self.roapp.delete_order_item(roapp_id, int(item["id"]))
            except NotFoundError:
                pass  # already gone: deleted in RO App, or by a try whose answer was lost
            owned.pop(line_key, None)
            story["items_removed"].append({"line": line_key, "quantity": float(item.get("quantity") or 0)})
            save()
        details.pop("pending_items", None)
        for event, lines in story.items():
            if lines:
                self.log_event(record, event, roapp_id, {"lines": lines})
        return details

    def _add_item(self, roapp_id: int, line: dict[str, Any], line_key: str) -> dict[str, Any]:
        """Add one line; a product RO App no longer has (deleted there) is created again from
        this run's data, or, when the run does not hold it, read again by the next run."""
        try:
            return self.roapp.add_order_item(roapp_id, _item_body(line))
        except ValidationError as exc:
            if not _names_field(exc, "entity_id"):
                raise
            product_key = line_key.rpartition("@")[0]
            line["entity_id"] = self._heal_product(product_key, exc)
            return self.roapp.add_order_item(roapp_id, _item_body(line))

    def _heal_product(self, product_key: str, exc: Exception) -> int:
        from .products import ProductLoader

        log.warning("product %s: RO App rejected product %s (%s); creating it again", product_key,
                    self._product_ids.get(product_key), exc)
        products = {p.product_key: p for p in self.ctx.data.valid(PRODUCTS)}
        gone = self._product_ids.pop(product_key, None)
        if gone is not None:
            self.roapp.forget_product(gone)  # never matched again by SKU or barcode
        if product_key not in products:
            self.state.forget_product(product_key)
            raise ValidationError(f"product {product_key} is gone from RO App ({exc}); the next run reads it from "
                                  f"Cartum again, creates it and then loads this order") from exc
        self.state.forget(PRODUCTS.name, product_key)
        ProductLoader(self.ctx).run([products[product_key]])
        healed = self.state.id_rows(PRODUCTS.name, [product_key]).get(product_key)
        if healed is None or not healed.roapp_id or healed.status != "synced":
            raise ValidationError(f"product {product_key} is gone from RO App and could not be created again") from exc
        self._product_ids[product_key] = healed.roapp_id
        return healed.roapp_id

    def _update_item(self, roapp_id: int, item: dict[str, Any], line: dict[str, Any], body: dict[str, Any]) -> None:
        try:
            self.roapp.update_order_item(roapp_id, int(item["id"]), body)
        except NotFoundError:  # deleted in RO App meanwhile: the line is added again next run
            log.warning("order %s: item %s is gone from RO App", roapp_id, item["id"])

    def _find_new_item(self, roapp_id: int, line: dict[str, Any], known: set[int]) -> dict[str, Any] | None:
        """An item of the line's product, price and discount that was not there before the add."""
        return next((i for i in self.roapp.order_items(roapp_id) if int(i["id"]) not in known and _matches(i, line)),
                    None)

    def finish(self, reached: str | None) -> None:
        """The first import's facts: when it ran, and up to which creation time it judged
        orders (``skip_statuses_on_import`` applies to orders created up to there); after a
        run that re-read the recently final orders, when (the next such re-read is due
        ``final_reread_minutes`` later)."""
        plan = self.ctx.data.plan()
        if plan.first_import:
            self.state.set_store_state(import_cutoff=reached, first_import_at=self.state.now())
        elif plan.final_reread:  # the recently final orders were re-read and loaded: next time in an hour
            self.state.set_store_state(final_reread_at=self.state.now())

    def remember(self, record: Any, row: IdMapRow) -> None:
        # Two Cartum statuses mapped to one RO App status change nothing in RO App, but the
        # Cartum status decides whether the order is final (re-read hourly, for final_days).
        details = self._finality({**row.details, "cartum_status": record.cartum_status}, record)
        if details != row.details:
            self.state.record_progress(ORDERS.name, self.key(record), details)

    def _finality(self, details: dict[str, Any], record: Any) -> dict[str, Any]:
        """``final_since``: when the sync first saw the order in a final status (the store's
        final statuses, as ``validate_setup`` found them); kept while it stays final, from
        one final status to another, and cleared when the order goes back (reopened)."""
        if self._final is None:
            self._final = self.state.final_statuses(self.ctx.config.final_statuses)
        details = dict(details)
        if record.cartum_status is not None and int(record.cartum_status) in self._final:
            details["final_since"] = details.get("final_since") or self.state.now().isoformat()
        else:
            details.pop("final_since", None)
        return details

    def update(self, record: Any, row: IdMapRow) -> bool:
        """Push what changed in Cartum (items, status, client and fields, payment and delivery
        details), each step recorded as RO App confirms it, so a retry repeats none that went
        in: ``details`` always says what RO App holds. At most one "Updated from Cartum"
        comment per change."""
        assert row.roapp_id is not None
        self._require_references(record)
        key, roapp_id = self.key(record), row.roapp_id
        details = dict(row.details)
        resumed = details.get("updating") is not None  # an earlier try of an update died or failed
        if details.get("updating") != record.content_hash:
            details["updating"] = record.content_hash
            self.state.record_progress(ORDERS.name, key, details)
        if details.get("lines") != _lines(record):
            details = self._sync_items(key, roapp_id, record, details, adopt=False)
            details["lines"] = _lines(record)
            self.state.record_progress(ORDERS.name, key, details)
        if details.get("roapp_status_id") != record.roapp_status_id:
            before = details.get("roapp_status_id")
            self._set_status(roapp_id, int(record.roapp_status_id), f"Cartum status changed to {record.cartum_status}",
                             check_first=resumed)
            details.update(roapp_status_id=record.roapp_status_id)
            self.state.record_progress(ORDERS.name, key, details)
            self.log_event(record, "status_changed", roapp_id, {"roapp_status_id": record.roapp_status_id,
                                                               "from": before, "cartum_status": record.cartum_status})
        details["cartum_status"] = record.cartum_status
        if details.get("fields_at") != record.content_hash:
            body: dict[str, Any] = {"custom_fields": self._custom_values(record)}
            if not self._same_client(details.get("client_key"), record.client_key):
                body["client_id"] = self._client_ids[record.client_key]
            answer = self._healing_client(record, lambda: self.roapp.update_order(
                roapp_id, {**body, **({"client_id": self._client_ids[record.client_key]} if "client_id" in body
                                      else {})}))
            stamp = answer.get("modified_at") if isinstance(answer, dict) else None
            details.update(client_key=record.client_key, fields_at=record.content_hash,
                           modified_at=stamp or self.roapp.get_order(roapp_id).get("modified_at"))
            self.state.record_progress(ORDERS.name, key, details)
        if details.get("comment") != record.delivery_comment or details.get("paid") != record.paid:
            self._post_comment(roapp_id, "Updated from Cartum:\n" + record.delivery_comment, details,
                               check_first=resumed)
            self.log_event(record, "comment_added", roapp_id, {"comment": "updated from Cartum"})
        final = {**self.details(record, row), "items": details.get("items") or {}}
        for transient in ("updating", "fields_at", "pending_items"):
            final.pop(transient, None)
        self.state.record_synced(ORDERS.name, key, roapp_id, record.content_hash, final)
        return True

    # --- clients deleted or merged in RO App --------------------------------------------------

    def _healing_client(self, record: Any, write) -> Any:
        """``write()``; when RO App answers that the order's client does not exist (deleted,
        or merged into another client), the client is found again or created, and the
        write is sent once more with its new id."""
        try:
            return write()
        except ValidationError as exc:
            if not _names_field(exc, "client_id"):
                raise
            log.warning("order %s: RO App rejected client %s (%s); finding the client again",
                        record.order_id, self._client_ids.get(record.client_key), exc)
            self._heal_client(record.client_key)
            return write()

    def _heal_client(self, client_key: str) -> None:
        from .clients import ClientLoader

        if self._clients is None:
            self._clients = {c.client_key: c for c in self.ctx.data.valid(CLIENTS)}
        client = self._clients.get(client_key)
        row = self.state.id_rows(CLIENTS.name, [client_key]).get(client_key)
        if client is None or row is None:
            raise ValidationError(f"client {client_key} is gone from RO App and is not in this run's data: it is "
                                  f"created again when its buyer next appears in Cartum")
        self.state.forget(CLIENTS.name, client_key)
        loader = ClientLoader(self.ctx)
        loader.run([client])
        healed = self.state.id_rows(CLIENTS.name, [client_key]).get(client_key)
        if healed is None or not healed.roapp_id or healed.status != "synced":
            raise ValidationError(f"client {client_key} is gone from RO App and could not be created again")
        self._client_ids[client_key] = healed.roapp_id
        log.info("client %s: now RO App client %s", client_key, healed.roapp_id)


MARKER = re.compile(r"\[cartum:[a-z0-9_]+:[^\]]+\]")


def _line_story(line_key: str, line: dict[str, Any]) -> dict[str, Any]:
    """An item as an event tells it: its line (product@price), quantity and discount."""
    return {"line": line_key, "quantity": line["quantity"], "discount": line["discount"]}


def _line_key(product_key: Any, price: float) -> str:
    return f"{product_key}@{price:g}"


def _status_id(order: dict[str, Any]) -> int | None:
    status = order.get("status")
    value = status.get("id") if isinstance(status, dict) else status
    return int(value) if value is not None else None


def _names_field(exc: ValidationError, name: str) -> bool:
    return name in (exc.field_errors or {}) or name in str(exc)


def utc_of_store_time(text: Any, zone: str = assumptions.CARTUM_STORE_TIMEZONE) -> datetime | None:
    """A Cartum time (the store's local time, in ``zone``) in UTC, or None when it does not parse."""
    try:
        local = datetime.strptime(str(text), CARTUM_TIME)
    except ValueError:
        return None
    return local.replace(tzinfo=ZoneInfo(zone)).astimezone(timezone.utc)


def _lines(record: Any) -> list[list[Any]]:
    """The order's lines as RO App holds them: what decides whether items need a sync. (The
    discount came with issue 9: lines recorded before it have none, so each such order's
    items are read once and patched where a discount is due.)"""
    return sorted([str(i["product_key"]), float(i["quantity"]), float(i["price"]), float(i.get("discount") or 0)]
                  for i in record.items or [])


# --- item discounts -----------------------------------------------------------------------
# RO App items take ``discount {type, percentage, amount}`` [doc]; which ``type`` names a
# fixed amount, and that the amount is for the whole item (all its quantity), are
# [assumed]: both live here.
DISCOUNT_TYPE_AMOUNT = "value"
DISCOUNT_TYPE_PERCENTAGE = "percentage"


def _discount_body(amount: float) -> dict[str, Any]:
    return {"type": DISCOUNT_TYPE_AMOUNT, "amount": amount, "percentage": 0}


def _item_body(line: dict[str, Any]) -> dict[str, Any]:
    """What an item is added with: no discount field for a line without one."""
    body = {k: line[k] for k in ("entity_id", "price", "quantity")}
    if line.get("discount"):
        body["discount"] = _discount_body(line["discount"])
    return body


def _item_discount(item: dict[str, Any]) -> float:
    """The discount an RO App item carries, as an amount for the whole item: read from an
    amount, a percentage of price × quantity (a manager may set one), or a plain number;
    none is 0."""
    value = item.get("discount")
    if isinstance(value, dict):
        amount = float(value.get("amount") or 0)
        if amount or value.get("type") != DISCOUNT_TYPE_PERCENTAGE:
            return round(amount, 2)
        whole = float(item.get("price") or 0) * float(item.get("quantity") or 0)
        return round(whole * float(value.get("percentage") or 0) / 100, 2)
    return round(float(value or 0), 2)


def _matches(item: dict[str, Any], line: dict[str, Any], *, discount: bool = True) -> bool:
    """The item is the line's product at its price (and discount, unless ``discount`` is
    False)."""
    return (int(item["entity_id"]) == line["entity_id"] and float(item.get("price") or 0) == line["price"]
            and (not discount or _item_discount(item) == line["discount"]))


def _item_changes(item: dict[str, Any], line: dict[str, Any]) -> dict[str, Any]:
    """The PATCH that brings one of our items in line: its quantity and discount, sent
    together when both changed (RO App checks the discount against the new quantity)."""
    changes: dict[str, Any] = {}
    if float(item.get("quantity") or 0) != line["quantity"]:
        changes["quantity"] = line["quantity"]
    if _item_discount(item) != line["discount"]:
        changes["discount"] = _discount_body(line["discount"])
    if "quantity" in changes and line["discount"]:
        changes["discount"] = _discount_body(line["discount"])
    return changes
