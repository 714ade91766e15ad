"""Products: matched by barcode (product key ``barcode``) or SKU. The client sends the
values 50 a request, or matches them over a catalogue scan when RO App ignores those
undocumented filters (``roapp/client.py``). That scan is kept in the state database for
``catalog_refresh_minutes`` (``roapp.index.CatalogueIndex``), so the next runs do not scan
again; the products the sync writes go into it at once."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from ...entities import PRODUCTS
from ...roapp.index import CatalogueIndex
from ...state.store import IdMapRow, utcnow
from ..context import RunContext
from .base import EntityLoader

log = logging.getLogger(__name__)


class ProductLoader(EntityLoader):
    entity = PRODUCTS

    def body(self, record: Any) -> dict[str, Any]:
        return {"title": record.title, "sku": record.sku, "barcodes": list(record.barcodes or []),
                "description": record.description or "", "price": record.price}

    def __init__(self, ctx: RunContext):
        super().__init__(ctx)
        if self.roapp.catalogue_cache is None:
            self.roapp.catalogue_cache = CatalogueIndex(
                self.state.engine, self.roapp.account, full_every=timedelta(minutes=ctx.config.catalog_refresh_minutes))

    def lookups(self, records: list[Any]) -> None:
        by_sku = {r.sku: self.key(r) for r in records}
        by_barcode = {b: self.key(r) for r in records for b in (r.barcodes or [])}
        if self.ctx.config.product_key == "barcode" and by_barcode:
            for product in self.roapp.find_products(barcodes=sorted(by_barcode)):
                for barcode in product.get("barcodes") or []:
                    if barcode in by_barcode:
                        self._found.setdefault(by_barcode[barcode], int(product["id"]))
        unmatched = sorted(sku for sku, key in by_sku.items() if key not in self._found)
        for product in self.roapp.find_products(skus=unmatched) if unmatched else []:
            if product.get("sku") in by_sku:
                self._found.setdefault(by_sku[product["sku"]], int(product["id"]))

    def create(self, record: Any, row: IdMapRow | None) -> int:
        return self.simple_create(record, row, self.body(record), self.roapp.create_product)

    def update(self, record: Any, row: IdMapRow) -> bool:
        """A product the store created takes Cartum's title, SKU, barcodes, description and
        price; a linked one (made in RO App or by another store of the account) is never edited."""
        assert row.roapp_id is not None
        linked = bool(row.details.get("linked"))
        if not linked:
            self.roapp.update_product(row.roapp_id, self.body(record))
        self.state.record_synced(self.entity.name, self.key(record), row.roapp_id, record.content_hash)
        return not linked

    def finish(self, reached: str | None) -> None:
        """A run that read the whole catalogue resets the refresh clock; during the backfill
        (``extract``), only the run that loaded its last chunk."""
        backfill = self.ctx.data.backfill("products")
        if self.ctx.data.plan().catalog_full and (backfill is None or backfill["last"]):
            self.state.set_store_state(catalog_refreshed_at=utcnow())
            if backfill is not None:
                log.info("load_products: catalogue backfill done: every catalogue product was brought over")
