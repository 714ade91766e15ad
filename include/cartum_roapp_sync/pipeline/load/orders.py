"""Orders: created in steps (order, items, status, comment) recorded one by one, found
again by their marker after a crash; later runs push status, item and payment changes."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from ... import assumptions
from ...entities import CLIENTS, ORDERS, PRODUCTS
from ...state.store import IdMapRow, as_utc, utcnow
from ...transport import ValidationError
from ..context import RunContext, store_now_text
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
        values = {"Store": self.ctx.config.name, "External ID": str(record.order_id),
                  "Created": record.created, "Last update": store_now_text()}
        return {f"f{fields[title]}": value for title, value in values.items() if title in fields}

    def _notes(self, record: Any) -> str:
        return (f"Cartum order #{record.order_id} from {self.ctx.config.name}, created {record.created} "
                f"{self.marker(record)}")

    def details(self, record: Any, row: IdMapRow | None) -> dict[str, Any]:
        return {**(row.details if row else {}), "cartum_status": record.cartum_status,
                "roapp_status_id": record.roapp_status_id, "steps": list(ORDER_STEPS),
                "comment": record.delivery_comment, "paid": record.paid, "client_key": record.client_key,
                "lines": _lines(record)}

    def lookups(self, records: list[Any]) -> None:
        """Only orders with a crash-left intent are looked for: by their marker in manager_notes,
        among the location's orders created since the intent."""
        intents = {self.key(r): r for r in records}
        rows = self.state.id_rows(ORDERS.name, list(intents))
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

    def create(self, record: Any, row: IdMapRow | None) -> int:
        key = self.key(record)
        self._require_references(record)
        details = dict(row.details) if row and row.roapp_id else {}
        roapp_id = row.roapp_id if row and row.roapp_id else self._crashed.get(key)
        if roapp_id is None:
            self.state.record_intent(ORDERS.name, key, self.marker(record), {"steps": []})
            managers = self.managers()
            body: dict[str, Any] = {
                "branch_id": self.ctx.config.location_id, "order_type_id": self.ctx.config.order_type_id,
                "client_id": self._client_ids[record.client_key], "manager_notes": self._notes(record),
                "custom_fields": self._custom_values(record)}
            if managers:
                body["manager_id"] = managers[int(record.order_id) % len(managers)]
            roapp_id = int(self.roapp.create_order(body)["id"])
            details = {"steps": [], "fresh": True}
            self.state.record_created_id(ORDERS.name, key, roapp_id, {"steps": []})
        steps = set(details.get("steps") or [])
        comment_may_exist = "status" in steps  # an earlier run got past the status: it may have posted it
        if "items" not in steps:
            items = self._sync_items(roapp_id, record, fresh=details.get("fresh", False))
            details = {"items": items, "steps": sorted(steps | {"items"})}
            self.state.record_progress(ORDERS.name, key, details)
            steps.add("items")
        if "status" not in steps:
            answer = self.roapp.set_order_status(roapp_id, int(record.roapp_status_id))
            stamp = answer.get("modified_at") if isinstance(answer, dict) else None
            details = {**details, "steps": sorted(steps | {"status"}),
                       "modified_at": stamp or self.roapp.get_order(roapp_id).get("modified_at")}
            self.state.record_progress(ORDERS.name, key, details)
            steps.add("status")
        if "comment" not in steps and not (comment_may_exist and self._comment_went_in(roapp_id, details)):
            self.roapp.add_order_comment(roapp_id, record.delivery_comment)
        final = {**self.details(record, None), "items": details.get("items") or {}}
        self.state.record_synced(ORDERS.name, key, roapp_id, record.content_hash, final)
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

    def _sync_items(self, roapp_id: int, record: Any, *, fresh: bool = False) -> dict[str, int]:
        """Make the order's items in RO App match the record: add, change or remove lines.
        A line is a product at a price (a gift of a product also bought at full price is a
        line of its own). Returns "product_key@price" → RO App item id. Reads RO App's items
        first (unless the order was created a moment ago by this very call), so a line added
        by a run that died is not added twice."""
        wanted: dict[tuple[int, float], dict[str, Any]] = {}
        for item in record.items or []:
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

    def finish(self, reached: str | None) -> None:
        """The first import's facts: when it ran, and up to which creation time it judged
        orders (``skip_statuses_on_import`` applies to orders created up to there)."""
        if self.ctx.data.plan().first_import:
            self.state.set_store_state(import_cutoff=reached, first_import_at=utcnow())

    def remember(self, record: Any, row: IdMapRow) -> None:
        # Two Cartum statuses mapped to one RO App status change nothing in RO App, but the
        # Cartum status decides whether the order is final (and stops being re-read).
        if row.details.get("cartum_status") != record.cartum_status:
            self.state.record_progress(ORDERS.name, self.key(record),
                                       {**row.details, "cartum_status": record.cartum_status})

    def update(self, record: Any, row: IdMapRow) -> None:
        """Push what changed in Cartum: client, items, status, payment and delivery details."""
        assert row.roapp_id is not None
        self._require_references(record)
        old = row.details
        items = old.get("items") or {}
        if old.get("lines") != _lines(record):
            items = self._sync_items(row.roapp_id, record)
        if old.get("roapp_status_id") != record.roapp_status_id:
            self.roapp.set_order_status(row.roapp_id, int(record.roapp_status_id),
                                        f"Cartum status changed to {record.cartum_status}")
        if old.get("comment") != record.delivery_comment or old.get("paid") != record.paid:
            self.roapp.add_order_comment(row.roapp_id, "Updated from Cartum:\n" + record.delivery_comment)
        body: dict[str, Any] = {"custom_fields": self._custom_values(record)}
        if not self._same_client(old.get("client_key"), record.client_key):
            body["client_id"] = self._client_ids[record.client_key]
        self.roapp.update_order(row.roapp_id, body)
        self.state.record_synced(ORDERS.name, self.key(record), row.roapp_id, record.content_hash,
                                 {**self.details(record, row), "items": items})


def _lines(record: Any) -> list[list[Any]]:
    """The order's lines as RO App holds them: what decides whether items need a sync."""
    return sorted([str(i["product_key"]), float(i["quantity"]), float(i["price"])] for i in record.items or [])
