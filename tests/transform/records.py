"""Small builders of Cartum records and store settings for the transform tests."""

from __future__ import annotations

from typing import Any

from cartum_roapp_sync.config import StoreConfig


def store(**overrides: Any) -> StoreConfig:
    values = dict(store_id="shop", name="Shop", cartum_conn_id="cartum_shop", location_id=1, order_type_id=2,
                  language="ua", product_key="sku", managers="all",
                  status_map={"1": 101, "2": 102, "3": 103, "4": 104, "6": 106})
    values.update(overrides)
    return StoreConfig(**values)


def product(article: str, *, gtin: str = "", title: Any = None, price: Any = 100, **extra: Any) -> dict:
    return {"article": article, "parent_article": article,
            "title": {"ua": f"Товар {article}", "ru": f"Товар RU {article}", "en": f"Product {article}"}
            if title is None else title,
            "description": {"ua": f"Опис {article}"}, "price": price, "gtin": gtin, **extra}


def line(article: str, *, title: str | None = None, price: Any = 100, quantity: Any = 1) -> dict:
    return {"article": article, "title": title or f"Line {article}", "price": price, "quantity": quantity,
            "total_price": price * quantity if isinstance(price, int) else price, "type": "product"}


def order(order_id: int, *, name: str = "Іван Шевченко", phone: str = "+380501234567", email: str = "",
          status: int = 1, lines: list[dict] | None = None, user: dict | None = None, **extra: Any) -> dict:
    lines = [line("SKU-1")] if lines is None else lines
    # Cartum's totals follow the lines unless the test sets them (a promo, a surcharge)
    total = round(sum(float(ln["price"]) * float(ln["quantity"]) for ln in lines
                      if isinstance(ln.get("price"), (int, float)) and isinstance(ln.get("quantity"), (int, float))), 2)
    return {
        "order_id": order_id, "stat_status": status, "stat_created": "2025-01-02 10:00:00",
        "delivery_name": name, "delivery_email": email, "delivery_phone": phone,
        "delivery_city": "Київ", "delivery_address": "Відділення №1",
        "delivery_type": {"id": 1, "title": "Нова Пошта"}, "delivery_price": 80,
        "payment_type": {"id": 1, "title": "Накладений платіж"}, "payed": 0,
        "total_default": total, "total_sum": total, "total_quantity": 1, "currency": "UAH", "comment": "",
        "user": user, "products": lines, **extra,
    }


def customer(user_id: int, *, title: str = "Марія Коваленко", phone: str = "", email: str = "",
             city: str = "Львів", address: str = "вул. Франка, 1") -> dict:
    return {"id": user_id, "title": title, "email": email, "phone": phone, "country": "Україна",
            "city": city, "address": address, "registered": "2024-01-01 00:00:00"}
