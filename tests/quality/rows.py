"""Small builders of transformed rows (as the transforms hand them to the quality checks)
and store settings for the quality tests."""

from __future__ import annotations

import pandas as pd

from cartum_roapp_sync.config import StoreConfig
from cartum_roapp_sync.entities import Entity
from cartum_roapp_sync.quality import QualityResult

CONFIG = StoreConfig(
    store_id="shop_one", name="Shop one", cartum_conn_id="cartum_shop_one", location_id=1,
    order_type_id=2, language="uk", product_key="sku", managers="all",
    status_map={"1": 101, "3": 103}, currency="UAH", max_bad_share=1.0,
)


def store(**changes) -> StoreConfig:
    values = CONFIG.to_dict()
    values.update(changes)
    return StoreConfig(**values)


def client(number: int = 1, **changes) -> dict:
    row = {
        "client_key": f"phone:+38050000000{number}", "first_name": "Ivan", "last_name": "Petrenko",
        "phone": f"+38050000000{number}", "phone_raw": f"050 000 000{number}", "phone_valid": True,
        "email": f"ivan{number}@example.com", "email_valid": True, "address": "Kyiv",
        "cartum_user_id": number, "order_ids": [1000 + number], "content_hash": f"hash-c{number}",
    }
    row.update(changes)
    return row


def product(number: int = 1, **changes) -> dict:
    row = {
        "product_key": f"ART-{number}", "article": f"ART-{number}", "sku": f"ART-{number}",
        "barcodes": [f"48200000000{number}"], "title": f"Phone case {number}", "description": None,
        "price": 199.0, "language": "uk", "language_fallback": False, "merged_articles": [],
        "content_hash": f"hash-p{number}",
    }
    row.update(changes)
    return row


def item(article: str = "ART-1", **changes) -> dict:
    line = {"product_key": article, "article": article, "title": f"Phone case {article}",
            "quantity": 1, "price": 199.0, "discount": 0, "net": 199.0}
    line.update(changes)
    return line


def order(number: int = 1, **changes) -> dict:
    row = {
        "order_id": 1000 + number, "client_key": f"phone:+38050000000{number}", "cartum_status": 1,
        "roapp_status_id": 101, "created": "2024-05-01 10:00:00", "currency": "UAH", "total": 398.0,
        "paid": False, "items": [item("ART-1"), item("ART-2")], "delivery_comment": "Nova Poshta, Kyiv",
        "content_hash": f"hash-o{number}",
    }
    row.update(changes)
    return row


def frame(entity: Entity, rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(entity.columns))


def quarantine_by_key(result: QualityResult) -> dict:
    return {entry["key"]: entry["reasons"] for entry in result.quarantined}
