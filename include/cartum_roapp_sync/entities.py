"""The three entities the sync moves, each declared once and whole: its key, the fields the
transform produces, which of them RO App receives (and so are hashed), the cursor that
bounds what a run reads, and the data quality rules its records must pass. Extract,
transform, data quality and load are all driven from these declarations:

- the transforms hash ``entity.hashed``;
- ``quality`` builds its Great Expectations suites from ``entity.rules`` (and
  ``entity.lines`` for the lines inside a record);
- the loaders are registered per entity (``pipeline.load.LOADERS``), one step each;
- after a load step, the entity's ``cursor`` is committed (``state.cursors``);
- records pass between steps typed as ``entity.record`` (``pipeline.rundata``).

This module imports nothing heavy: DAG parsing reads it.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from .assumptions import CARTUM_ORDER_CREATED_FIELD


@dataclass(frozen=True)
class Field:
    name: str
    type: Any            # the Python type of the value once it is clean (None allowed where noted)
    doc: str


@dataclass(frozen=True)
class Rule:
    """One data quality rule, by kind; ``quality.rules`` turns each into expectations.

    Kinds: ``key`` (the entity's key: present, and unique in the batch), ``present`` (not
    null, not blank), ``not_null``, ``at_least_zero``, ``positive`` (> 0), ``status_mapped``
    (Cartum status has an RO App status in ``status_map``), ``store_currency`` (present and
    the store's currency)."""

    kind: str
    column: str | None = None


RULE_KINDS = ("key", "present", "not_null", "at_least_zero", "positive", "status_mapped", "store_currency")


@dataclass(frozen=True)
class CursorSpec:
    """How far a run has read an entity: the highest value of ``field`` in the raw
    ``source`` records (read from that value minus the store's overlap next time)."""

    name: str            # the cursor's name in the ``cursors`` table
    source: str          # which extract reads it: "orders" or "customers"
    field: str           # the Cartum field of the raw records it follows


@dataclass(frozen=True)
class Lines:
    """Lines inside a record (an order's items): checked as a frame of their own."""

    frame: str           # the frame's name in the quality results ("order_items")
    column: str          # the record's column that holds the list of lines
    fields: tuple[str, ...]
    rules: tuple[Rule, ...]


@dataclass(frozen=True)
class Entity:
    name: str            # "clients", "products", "orders"
    key: str             # the field that identifies a record across runs (the Cartum key)
    fields: tuple[Field, ...]
    hashed: tuple[str, ...]      # what RO App receives: a change of these is written
    rules: tuple[Rule, ...]
    load_order: int      # clients before products before orders
    cursor: CursorSpec | None = None
    lines: Lines | None = None

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    @property
    def step(self) -> str:
        """The name of the entity's load step (and task)."""
        return f"load_{self.name}"

    @cached_property
    def record(self) -> type:
        """The record type passed between steps: a frozen dataclass with one attribute per
        field. ``record.from_row(dict)`` turns NaN into None; ``record.as_dict()`` goes back."""
        cls = dataclasses.make_dataclass(
            f"{self.name[:-1].capitalize()}Record", [(f.name, Any) for f in self.fields], frozen=True,
            namespace={"from_row": classmethod(_from_row), "as_dict": _as_dict, "entity": self})
        cls.__doc__ = f"One {self.name[:-1]} as the transform made it: " + ", ".join(self.columns) + "."
        return cls


def _clean(value: Any) -> Any:
    """NaN (pandas' missing value in a float column) → None; everything else as it is."""
    return None if isinstance(value, float) and math.isnan(value) else value


def _from_row(cls: type, row: dict[str, Any]) -> Any:
    return cls(**{f.name: _clean(row.get(f.name)) for f in dataclasses.fields(cls)})


def _as_dict(self: Any) -> dict[str, Any]:
    return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


CLIENTS = Entity(
    name="clients",
    key="client_key",
    fields=(
        Field("client_key", str, '"phone:+380501234567", else "email:ivan@example.com", else "guest:<order_id>"'),
        Field("first_name", str, 'never empty ("Buyer" when the name is missing)'),
        Field("last_name", str, "or None"),
        Field("phone", str, "E.164, or None"),
        Field("phone_raw", str, "as typed in Cartum, or None"),
        Field("phone_valid", bool, "phone_raw parsed as a valid number for the country default"),
        Field("email", str, "lower-cased and trimmed, or None"),
        Field("email_valid", bool, ""),
        Field("address", str, "or None"),
        Field("cartum_user_id", int, "registered buyers; None for guests"),
        Field("order_ids", list, "list[int]: Cartum orders of this client in this batch"),
        Field("content_hash", str, "sha256 of the hashed fields"),
    ),
    hashed=("first_name", "last_name", "phone", "email", "address"),
    rules=(Rule("key"), Rule("present", "first_name")),
    cursor=CursorSpec(name="registered", source="customers", field="registered"),
    load_order=1,
)

PRODUCTS = Entity(
    name="products",
    key="product_key",
    fields=(
        Field("product_key", str, 'the article (product_key "sku") or the barcode (product_key "barcode")'),
        Field("article", str, "Cartum article of the record kept"),
        Field("sku", str, "what goes into RO App's sku (the article)"),
        Field("barcodes", list, "list[str]: gtin when present"),
        Field("title", str, "in the store's language, or a fallback"),
        Field("description", str, "or None"),
        Field("price", float, ""),
        Field("language", str, "the language the title was taken from"),
        Field("language_fallback", bool, "the store's language was missing"),
        Field("merged_articles", list, "list[str]: other articles with the same key folded into this record"),
        Field("content_hash", str, "sha256 of the hashed fields"),
    ),
    hashed=("title", "sku", "barcodes", "description", "price"),
    rules=(Rule("key"), Rule("present", "title"), Rule("not_null", "price"), Rule("at_least_zero", "price")),
    load_order=2,
)

ORDERS = Entity(
    name="orders",
    key="order_id",
    fields=(
        Field("order_id", int, "the Cartum order number"),
        Field("client_key", str, "the CLIENTS key of the buyer"),
        Field("cartum_status", int, ""),
        Field("roapp_status_id", int, "None when the status is not mapped"),
        Field("created", str, '"YYYY-MM-DD HH:MM:SS", store local time (Cartum stat_created)'),
        Field("currency", str, ""),
        Field("total", float, "Cartum total_sum: what the buyer pays for the goods (delivery apart); RO App's "
                              "order amount, Σ items' net, equals it (transform.orders)"),
        Field("paid", bool, ""),
        Field("items", list, "list[dict]: {product_key, article, title, quantity, price, discount, net}: discount "
                             "is the line's share of the order-level discount (0 when none), net = price × "
                             "quantity − discount"),
        Field("delivery_comment", str, "delivery type, city, address, delivery price, payment type, paid flag, "
                                       "buyer's comment, Cartum total"),
        Field("content_hash", str, "sha256 of the hashed fields"),
    ),
    hashed=("client_key", "roapp_status_id", "items", "paid", "delivery_comment"),
    rules=(Rule("key"), Rule("present", "client_key"), Rule("status_mapped", "roapp_status_id"),
           Rule("store_currency", "currency"), Rule("not_null", "total"), Rule("at_least_zero", "total")),
    cursor=CursorSpec(name="created", source="orders", field=CARTUM_ORDER_CREATED_FIELD),
    lines=Lines(
        frame="order_items",
        column="items",
        fields=("product_key", "article", "title", "quantity", "price", "discount", "net"),
        # net ≥ 0 is "the discount does not exceed the line's amount"
        rules=(Rule("present", "product_key"), Rule("present", "title"), Rule("not_null", "quantity"),
               Rule("positive", "quantity"), Rule("not_null", "price"), Rule("at_least_zero", "price"),
               Rule("not_null", "discount"), Rule("at_least_zero", "discount"), Rule("at_least_zero", "net")),
    ),
    load_order=3,
)

ENTITIES = tuple(sorted((CLIENTS, PRODUCTS, ORDERS), key=lambda e: e.load_order))
BY_NAME = {entity.name: entity for entity in ENTITIES}
