"""The three entities the sync moves, declared once: their key, the columns the transform
produces for them, and the RO App records they load into. Extract, transform, data
quality and load are all driven from these declarations.

Columns are the contract between the pure transforms (``transform``), the data quality
suites (``quality``) and the loader (``load``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Entity:
    name: str            # "clients", "products", "orders"
    key: str             # the column that identifies a record across runs (the Cartum key)
    columns: tuple[str, ...]
    load_order: int      # clients before products before orders


CLIENTS = Entity(
    name="clients",
    key="client_key",
    columns=(
        "client_key",      # str: "phone:+380501234567", else "email:ivan@example.com", else "guest:<order_id>"
        "first_name",      # str, never empty ("Buyer" when the name is missing)
        "last_name",       # str or None
        "phone",           # str E.164 or None
        "phone_raw",       # str as typed in Cartum, or None
        "phone_valid",     # bool: phone_raw parsed as a valid number for the country default
        "email",           # str lower-cased and trimmed, or None
        "email_valid",     # bool
        "address",         # str or None
        "cartum_user_id",  # int or None (registered buyers)
        "order_ids",       # list[int]: Cartum orders of this client in this batch
        "content_hash",    # str: sha256 of the fields loaded into RO App
    ),
    load_order=1,
)

PRODUCTS = Entity(
    name="products",
    key="product_key",
    columns=(
        "product_key",     # str: the article (product_key "sku") or the barcode (product_key "barcode")
        "article",         # str: Cartum article of the record kept
        "sku",             # str: what goes into RO App's sku (the article)
        "barcodes",        # list[str]: gtin when present
        "title",           # str: in the store's language, or a fallback
        "description",     # str or None
        "price",           # float
        "language",        # str: the language the title was taken from
        "language_fallback",  # bool: the store's language was missing
        "merged_articles",  # list[str]: other articles with the same key folded into this record
        "content_hash",
    ),
    load_order=2,
)

ORDERS = Entity(
    name="orders",
    key="order_id",
    columns=(
        "order_id",        # int: the Cartum order number
        "client_key",      # str: the CLIENTS key of the buyer
        "cartum_status",   # int
        "roapp_status_id",  # int or None when the status is not mapped
        "created",         # str "YYYY-MM-DD HH:MM:SS" store local time (Cartum stat_created)
        "currency",        # str
        "total",           # float
        "paid",            # bool
        "items",           # list[dict]: {product_key, article, title, quantity, price}
        "delivery_comment",  # str: delivery type, city, address, payment type, paid flag, buyer's comment
        "content_hash",
    ),
    load_order=3,
)

ENTITIES = (CLIENTS, PRODUCTS, ORDERS)
BY_NAME = {entity.name: entity for entity in ENTITIES}
