"""Records as the transform hands them to the loaders (``entity.record``), a store's
settings, and a run's context wired to the fake RO App."""

from __future__ import annotations

from typing import Any

from cartum_roapp_sync.config import StoreConfig, parse_store
from cartum_roapp_sync.entities import CLIENTS, ORDERS, PRODUCTS
from cartum_roapp_sync.pipeline.context import RunContext
from cartum_roapp_sync.pipeline.rundata import RunPlan
from cartum_roapp_sync.state.store import StateStore
from cartum_roapp_sync.transform.hashing import content_hash

from .fake_roapp import FakeRoApp

LOCATION = 11
ORDER_TYPE = 22
STATUS_MAP = {"1": 101, "2": 102, "3": 103, "4": 104}


def config(**overrides: Any) -> StoreConfig:
    entry = {"store_id": "shop", "name": "Shop", "cartum_conn_id": "cartum_shop", "location_id": LOCATION,
             "order_type_id": ORDER_TYPE, "language": "ua", "product_key": "sku", "managers": [7, 8],
             "status_map": STATUS_MAP}
    entry.update(overrides)
    return parse_store(entry)


def _no_cartum() -> Any:
    raise AssertionError("a load step never calls Cartum")


def context(store: StoreConfig, engine: Any, fake: FakeRoApp, run_id: str, *,
            plan: RunPlan | None = None) -> RunContext:
    ctx = RunContext(store, run_id, StateStore(engine, store.store_id), cartum_factory=_no_cartum,
                     roapp_factory=lambda: fake)
    if plan is not None:
        ctx.data.save_plan(plan)
    return ctx


def plan(*, first_import: bool = False, catalog_full: bool = False) -> RunPlan:
    return RunPlan(first_import=first_import, starts={"orders": None, "clients": None}, import_cutoff=None,
                   catalog_full=catalog_full)


def client(phone: str | None = "+380501234567", *, key: str | None = None, first_name: str = "Іван",
           last_name: str | None = "Шевченко", email: str | None = None, address: str | None = None,
           user: int | None = None, order_ids: list[int] | None = None) -> Any:
    if key is None:
        key = f"phone:{phone}" if phone else f"email:{email}" if email else f"guest:{(order_ids or [0])[0]}"
    row = {"client_key": key, "first_name": first_name, "last_name": last_name, "phone": phone,
           "phone_raw": phone, "phone_valid": phone is not None, "email": email, "email_valid": email is not None,
           "address": address, "cartum_user_id": user, "order_ids": order_ids if order_ids is not None else [1]}
    return CLIENTS.record.from_row({**row, "content_hash": content_hash(row, CLIENTS.hashed)})


def product(article: str, *, price: float = 100.0, title: str | None = None, barcodes: list[str] | None = None,
            key: str | None = None, description: str | None = None) -> Any:
    row = {"product_key": key or article, "article": article, "sku": article, "barcodes": barcodes or [],
           "title": title or f"Товар {article}", "description": description, "price": price, "language": "ua",
           "language_fallback": False, "merged_articles": []}
    return PRODUCTS.record.from_row({**row, "content_hash": content_hash(row, PRODUCTS.hashed)})


def line(product_key: str, quantity: float = 1, price: float = 100.0, *,
         discount: float | None = None) -> dict[str, Any]:
    """An order line; without ``discount`` it has the shape lines had before item discounts
    (an order synced by an earlier version)."""
    made = {"product_key": product_key, "article": product_key, "title": f"Line {product_key}",
            "quantity": quantity, "price": price}
    if discount is not None:
        made.update(discount=discount, net=round(quantity * price - discount, 2))
    return made


def order(order_id: int, items: list[dict[str, Any]], *, client_key: str = "phone:+380501234567",
          status: int = 1, paid: bool = False, comment: str = "Нова Пошта, Київ, відділення №1") -> Any:
    row = {"order_id": order_id, "client_key": client_key, "cartum_status": status,
           "roapp_status_id": STATUS_MAP.get(str(status)), "created": "2025-01-02 10:00:00", "currency": "UAH",
           "total": round(sum(i["quantity"] * i["price"] - i.get("discount", 0) for i in items), 2), "paid": paid,
           "items": items,
           "delivery_comment": comment}
    return ORDERS.record.from_row({**row, "content_hash": content_hash(row, ORDERS.hashed)})
