"""Deterministic, deliberately messy store data for the Cartum sandbox.

``generate(CartumSeedConfig(...))`` returns a plain JSON-able dict with the keys
``orders``, ``products``, ``users`` and ``statuses``, the same for the same ``seed`` and
``now``. The mess is on purpose, because the sync must survive it:

- phones typed in many formats (``+380 50 123 45 67``, ``0501234567``, ``380-50-123-4567``,
  ``(050) 123-45-67``, ``+38 (067) 765 43 21``, ``+380501234567``), a few invalid
  (``12345``, ``050-12``) or empty; the same buyer types their phone differently from one
  order to the next;
- e-mails in upper case, with surrounding spaces, empty, or invalid (``ivan@``,
  ``name at mail``); names as ``First Last``, ``Last First`` or in lower case;
- products whose ``title``/``description`` lack one or more languages (at least one lacks
  the first language entirely when there is more than one); ~20% are variants of another
  product (``parent_article`` is the main product's article; a main product's
  ``parent_article`` is its own article); ``gtin`` is a unique EAN-13 for most, empty for
  ~10%, and shared by 2–3 articles in a few groups;
- store-defined statuses (ids 7, 8, …) besides the built-in 1, 2, 3, 4, 6, every status used;
- orders spread over ``days`` days, old ones mostly Delivered, recent ones in progress;
  guests (``user: null``) and registered buyers (``user.id`` exists in ``users``);
- order lines titled in the order's language (the hidden ``lang`` key), falling back to
  another language when the product lacks it; some lines priced differently from today's
  catalogue; gift lines at price 0;
- **rare dangling lines**: about one order in 200 (at least one once there are 20 orders)
  has a line whose article (``SKU-9xxxx``) is no longer in the catalogue, as after a
  product was deleted from the store.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

DATE_FORMAT = "%Y-%m-%d %H:%M:%S"

# Text in (ua, ru, en); any other language code gets the English text, marked.
_LANG_INDEX = {"ua": 0, "uk": 0, "ru": 1, "en": 2}

BUILTIN_STATUSES = [
    (1, ("Новий", "Новый", "New"), 0),
    (2, ("В обробці", "В обработке", "Processing"), 0),
    (3, ("Доставлено", "Доставлен", "Delivered"), 1),
    (4, ("Скасовано / Не доставлено", "Отменен / Не доставлен", "Canceled / Not delivered"), 0),
    (6, ("Відправлено", "Отправлен", "Shipping"), 0),
]
EXTRA_STATUSES = [
    ("Очікує оплату", "Ожидает оплату", "Awaiting payment"),
    ("Повернення", "Возврат", "Returned"),
    ("Передано в сервіс", "Передан в сервис", "Sent to service"),
    ("Очікує надходження", "Ожидает поступления", "Awaiting stock"),
    ("Узгодження", "Согласование", "Awaiting confirmation"),
]
FIRST_STORE_STATUS_ID = 7

FIRST_NAMES = [("Олександр", "oleksandr"), ("Іван", "ivan"), ("Марія", "mariia"), ("Олена", "olena"),
               ("Андрій", "andrii"), ("Наталія", "nataliia"), ("Сергій", "serhii"), ("Юлія", "yuliia"),
               ("Дмитро", "dmytro"), ("Тетяна", "tetiana"), ("Максим", "maksym"), ("Ірина", "iryna"),
               ("Віктор", "viktor"), ("Оксана", "oksana"), ("Богдан", "bohdan"), ("Анна", "anna")]
LAST_NAMES = [("Шевченко", "shevchenko"), ("Коваленко", "kovalenko"), ("Бондаренко", "bondarenko"),
              ("Ткаченко", "tkachenko"), ("Кравченко", "kravchenko"), ("Мельник", "melnyk"),
              ("Бойко", "boiko"), ("Коваль", "koval"), ("Олійник", "oliinyk"), ("Лисенко", "lysenko"),
              ("Поліщук", "polishchuk"), ("Савченко", "savchenko")]
EMAIL_DOMAINS = ["gmail.com", "ukr.net", "i.ua", "meta.ua", "outlook.com"]
CITIES = ["Київ", "Львів", "Одеса", "Харків", "Дніпро", "Запоріжжя", "Вінниця", "Полтава", "Чернігів",
          "Івано-Франківськ"]
STREETS = ["вул. Шевченка", "просп. Перемоги", "вул. Грушевського", "вул. Франка", "вул. Садова",
           "вул. Лесі Українки", "вул. Соборна", "бульв. Незалежності"]
OPERATOR_CODES = ["50", "66", "95", "99", "67", "68", "96", "97", "98", "63", "73", "93"]
PHONE_STYLES = ["intl_spaced", "local", "dashed", "parens", "plus38", "e164"]
INVALID_PHONES = ["12345", "", "050-12"]
INVALID_EMAILS = ["ivan@", "name at mail"]
COMMENTS = ["Передзвоніть, будь ласка", "Доставка після 18:00", "Не дзвонити, писати у Viber",
            "Потрібна накладна для ФОП", "Перезвоните перед отправкой", "Please call before delivery"]

# (title in ua, ru, en), price range in UAH, category id
PRODUCT_KINDS = [
    (("Захисне скло", "Защитное стекло", "Screen protector"), (99, 499), 12),
    (("Чохол-книжка", "Чехол-книжка", "Flip case"), (199, 899), 13),
    (("Зарядний пристрій", "Зарядное устройство", "Charger"), (249, 1299), 15),
    (("Кабель USB-C", "Кабель USB-C", "USB-C cable"), (99, 399), 15),
    (("Акумулятор", "Аккумулятор", "Battery"), (499, 2499), 21),
    (("Дисплейний модуль", "Дисплейный модуль", "Display module"), (1499, 9999), 21),
    (("Навушники", "Наушники", "Earphones"), (299, 4999), 17),
    (("Павербанк", "Повербанк", "Power bank"), (599, 2999), 15),
    (("Тримач автомобільний", "Держатель автомобильный", "Car holder"), (149, 799), 18),
    (("Шлейф зарядки", "Шлейф зарядки", "Charging flex cable"), (199, 999), 21),
    (("Задня кришка", "Задняя крышка", "Back cover"), (299, 1999), 21),
    (("Камера основна", "Камера основная", "Main camera"), (699, 3999), 21),
]
MODELS = ["iPhone 12", "iPhone 13 Pro", "iPhone 14", "Samsung Galaxy A52", "Samsung Galaxy S21",
          "Xiaomi Redmi Note 10", "Xiaomi Poco X3", "Motorola G60", "Huawei P30 Lite", "Google Pixel 6"]
COLORS = [("BK", ("чорний", "черный", "black")), ("WH", ("білий", "белый", "white")),
          ("BL", ("синій", "синий", "blue")), ("RD", ("червоний", "красный", "red")),
          ("GR", ("зелений", "зеленый", "green")), ("GD", ("золотий", "золотой", "gold"))]
DESCRIPTIONS = ("Сумісний з {model}. Гарантія 14 днів.", "Совместим с {model}. Гарантия 14 дней.",
                "Compatible with {model}. 14-day warranty.")
PRESENCE = [("В наявності", 70), ("Немає в наявності", 20), ("Під замовлення", 10)]
MPN_PREFIXES = ["APL", "SMG", "XMI", "MOT", "HUA", "GGL", "BAS", "ORG"]

DELIVERY_TYPES = [({"id": 1, "title": "Нова Пошта"}, 65), ({"id": 2, "title": "Укрпошта"}, 20),
                  ({"id": 3, "title": "Самовивіз"}, 15)]
PAYMENT_TYPES = [({"id": 1, "title": "Накладений платіж"}, 50), ({"id": 2, "title": "Оплата карткою (LiqPay)"}, 40),
                 ({"id": 3, "title": "Безготівковий рахунок"}, 10)]
PICKUP_ADDRESS = ("Київ", "Самовивіз з магазину: вул. Хрещатик, 22")


@dataclass
class CartumSeedConfig:
    seed: int = 42
    orders: int = 500
    products: int = 200
    customers: int = 150
    days: int = 120
    languages: tuple[str, ...] = ("ua", "ru", "en")
    extra_statuses: int = 2
    now: datetime | None = None



#: The store's timezone: Cartum writes order and registration times in store local time.
STORE_TIMEZONE = "Europe/Kyiv"


def store_now() -> datetime:
    """The store's local wall-clock time, as Cartum writes ``stat_created``."""
    return datetime.now(ZoneInfo(STORE_TIMEZONE)).replace(tzinfo=None)

def translate(texts: tuple[str, str, str], lang: str) -> str:
    """One of the (ua, ru, en) texts for ``lang``; unknown languages get marked English."""
    if lang in _LANG_INDEX:
        return texts[_LANG_INDEX[lang]]
    return f"{texts[2]} ({lang})"


def title_in(titles: dict[str, str], lang: str, languages: list[str] | tuple[str, ...], fallback: str) -> str:
    """A product title in ``lang``, else in the first other language it has, else ``fallback``."""
    for candidate in (lang, *languages, *titles):
        if titles.get(candidate):
            return titles[candidate]
    return fallback


def format_phone(national: str, style: str) -> str:
    """A Ukrainian mobile number (9 digits after the country code) as a person might type it."""
    op, a, b, c = national[:2], national[2:5], national[5:7], national[7:]
    return {
        "intl_spaced": f"+380 {op} {a} {b} {c}",
        "local": f"0{national}",
        "dashed": f"380-{op}-{a}-{b}{c}",
        "parens": f"(0{op}) {a}-{b}-{c}",
        "plus38": f"+38 (0{op}) {a} {b} {c}",
        "e164": f"+380{national}",
    }[style]


def generate(config: CartumSeedConfig) -> dict[str, Any]:
    """The store's orders, products, users (customers) and statuses, as the API would hold them."""
    rng = random.Random(config.seed)
    now = (config.now or store_now()).replace(microsecond=0)
    languages = list(config.languages)
    statuses = _statuses(config.extra_statuses, languages)
    products = _products(rng, config.products, languages)
    people = _people(rng, config.customers)
    orders = _orders(rng, config, now, languages, statuses, products, people)
    users = _users(rng, people[:config.customers], orders, now, config.days)
    return {"orders": orders, "products": products, "users": users, "statuses": statuses}


# --- statuses and catalogue -------------------------------------------------------------

def _statuses(extra: int, languages: list[str]) -> list[dict[str, Any]]:
    rows = [(sid, texts, ok) for sid, texts, ok in BUILTIN_STATUSES]
    for i in range(extra):
        texts = EXTRA_STATUSES[i] if i < len(EXTRA_STATUSES) else (f"Статус {i + 1}", f"Статус {i + 1}",
                                                                    f"Status {i + 1}")
        rows.append((FIRST_STORE_STATUS_ID + i, texts, 0))
    return [{"id": sid, "title": {lang: translate(texts, lang) for lang in languages}, "is_successful": ok}
            for sid, texts, ok in rows]


def _price(rng: random.Random, low: int, high: int) -> int:
    return max(9, round(rng.randint(low, high), -1) - 1)  # shop prices end in 9


def _ean13(rng: random.Random) -> str:
    digits = "482" + "".join(rng.choice("0123456789") for _ in range(9))  # 482: Ukraine's GS1 prefix
    check = (10 - sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(digits)) % 10) % 10
    return digits + str(check)


def _products(rng: random.Random, count: int, languages: list[str]) -> list[dict[str, Any]]:
    n_variants = round(count * 0.2) if count >= 2 else 0
    bases: list[dict[str, Any]] = []
    for n in range(1, count - n_variants + 1):
        texts, (low, high), category = rng.choice(PRODUCT_KINDS)
        model = rng.choice(MODELS)
        bases.append(_product(rng, f"SKU-{n:05d}", texts, model, None, _price(rng, low, high), category, languages))
    free_colors = {p["article"]: list(COLORS) for p in bases}
    variants = []
    for _ in range(n_variants):
        base = rng.choice([p for p in bases if free_colors[p["article"]]])
        code, color = free_colors[base["article"]].pop(rng.randrange(len(free_colors[base["article"]])))
        variant = _product(rng, f"{base['article']}-{code}", base["_texts"], base["_model"], color,
                           base["price"] + rng.choice([0, 0, 20, 50]), base["parent"]["id"], languages)
        variant["parent_article"] = base["article"]
        variants.append(variant)
    products = sorted(bases + variants, key=lambda p: p["article"])
    for p in products:
        del p["_texts"], p["_model"]
    _drop_languages(rng, products, languages)
    _mess_gtins(rng, products)
    return products


def _product(rng: random.Random, article: str, texts: tuple[str, str, str], model: str,
             color: tuple[str, str, str] | None, price: int, category: int, languages: list[str]) -> dict[str, Any]:
    title = {}
    for lang in languages:
        title[lang] = f"{translate(texts, lang)} {model}" + (f" {translate(color, lang)}" if color else "")
    presence, = rng.choices([p for p, _ in PRESENCE], weights=[w for _, w in PRESENCE])
    return {
        "article": article, "parent_article": article, "title": title,
        "description": {lang: f"<p>{title[lang]}. {translate(DESCRIPTIONS, lang).format(model=model)}</p>"
                        for lang in languages},
        "price": price,
        "price_old": int(round(price * rng.uniform(1.1, 1.4), -1)) - 1 if rng.random() < 0.25 else 0,
        "presence": presence,
        "quantity": rng.randint(1, 60) if presence == "В наявності" else 0,
        "gtin": _ean13(rng),
        "mpn": f"{rng.choice(MPN_PREFIXES)}-{rng.randint(1000, 9999)}{rng.choice('ABCX')}" if rng.random() < 0.85
        else "",
        "parent": {"id": category},
        "display_in_showcase": 1 if rng.random() < 0.9 else 0,
        "_texts": texts, "_model": model,
    }


def _drop_languages(rng: random.Random, products: list[dict[str, Any]], languages: list[str]) -> None:
    """About 12% of products lack some languages; one always lacks the first language."""
    if len(languages) < 2 or not products:
        return
    chosen = rng.sample(range(len(products)), max(1, round(len(products) * 0.12)))
    for k, index in enumerate(chosen):
        missing = rng.sample(languages, rng.randint(1, len(languages) - 1))
        if k == 0 and languages[0] not in missing:
            missing[0] = languages[0]
        for lang in missing:
            products[index]["title"].pop(lang, None)
            products[index]["description"].pop(lang, None)


def _mess_gtins(rng: random.Random, products: list[dict[str, Any]]) -> None:
    """~10% of barcodes empty, and a few groups of 2-3 articles sharing one barcode."""
    order = list(range(len(products)))
    rng.shuffle(order)
    n_empty = round(len(products) * 0.1)
    for index in order[:n_empty]:
        products[index]["gtin"] = ""
    rest = order[n_empty:]
    groups = max(1, len(products) // 60) if len(rest) >= 2 else 0
    for _ in range(groups):
        size = min(len(rest), rng.choice([2, 3]))
        if size < 2:
            break
        group, rest = rest[:size], rest[size:]
        for index in group[1:]:
            products[index]["gtin"] = products[group[0]]["gtin"]


# --- people, orders and users --------------------------------------------------------------

def _people(rng: random.Random, customers: int) -> list[dict[str, Any]]:
    """Registered customers first, then guests (half as many) who never signed up."""
    people = []
    for _ in range(customers + max(1, customers // 2)):
        (first, first_lat), (last, last_lat) = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        suffix = str(rng.randint(1, 99)) if rng.random() < 0.4 else ""
        people.append({
            "first": first, "last": last,
            "email": f"{first_lat}.{last_lat}{suffix}@{rng.choice(EMAIL_DOMAINS)}",
            "phone": rng.choice(OPERATOR_CODES) + f"{rng.randint(0, 9999999):07d}",
            "style": rng.choice(PHONE_STYLES),
            "city": rng.choice(CITIES), "street": rng.choice(STREETS), "house": str(rng.randint(1, 150)),
        })
    return people


def _typed_name(rng: random.Random, person: dict[str, Any]) -> str:
    roll = rng.random()
    if roll < 0.15:
        return f"{person['last']} {person['first']}"
    if roll < 0.2:
        return f"{person['first']} {person['last']}".lower()
    return f"{person['first']} {person['last']}"


def _typed_email(rng: random.Random, email: str) -> str:
    roll = rng.random()
    if roll < 0.08:
        return email.upper() if roll < 0.04 else email.capitalize()
    if roll < 0.14:
        return f"  {email} "
    if roll < 0.2:
        return ""
    return email


def _status_weights(age_days: float, statuses: list[dict[str, Any]]) -> list[int]:
    """Old orders are mostly delivered; recent ones still in progress."""
    if age_days > 14:
        base = {1: 1, 2: 1, 3: 70, 4: 15, 6: 2}
    elif age_days > 3:
        base = {1: 2, 2: 10, 3: 40, 4: 10, 6: 30}
    else:
        base = {1: 40, 2: 30, 3: 2, 4: 5, 6: 15}
    return [base.get(s["id"], 4) for s in statuses]


def _orders(rng: random.Random, config: CartumSeedConfig, now: datetime, languages: list[str],
            statuses: list[dict[str, Any]], products: list[dict[str, Any]],
            people: list[dict[str, Any]]) -> list[dict[str, Any]]:
    span = max(1, config.days * 86400 - 600)
    ages = sorted((rng.randint(60, span) for _ in range(config.orders)), reverse=True)
    n_regulars = max(1, len(people) // 10)  # a few buyers come back often
    showcase = [p for p in products if p["display_in_showcase"]] or products
    orders, order_id = [], 1001
    for age in ages:
        index = rng.randrange(n_regulars) if rng.random() < 0.3 else rng.randrange(len(people))
        orders.append(_order(rng, order_id, now - timedelta(seconds=age), age / 86400, people[index],
                             index if index < config.customers else None, languages, statuses, showcase))
        order_id += 2 if rng.random() < 0.03 else 1  # a deleted test order leaves a gap
    _force_mess(rng, orders, statuses, people)
    _add_dangling_lines(rng, orders, languages)
    return orders


def _order(rng: random.Random, order_id: int, created: datetime, age_days: float, person: dict[str, Any],
           user_index: int | None, languages: list[str], statuses: list[dict[str, Any]],
           showcase: list[dict[str, Any]]) -> dict[str, Any]:
    lang, = rng.choices(languages, weights=[6] + [2] * (len(languages) - 1))
    status, = rng.choices([s["id"] for s in statuses], weights=_status_weights(age_days, statuses))
    delivery, = rng.choices([d for d, _ in DELIVERY_TYPES], weights=[w for _, w in DELIVERY_TYPES])
    payment, = rng.choices([p for p, _ in PAYMENT_TYPES], weights=[w for _, w in PAYMENT_TYPES])
    if delivery["id"] == 1:
        city, address = person["city"], f"Відділення №{rng.randint(1, 250)}: {person['street']}, {person['house']}"
        price = -1 if rng.random() < 0.4 else rng.choice([70, 80, 95, 120])
    elif delivery["id"] == 2:
        city, address = person["city"], f"{rng.randint(1000, 99999):05d}, {person['street']}, {person['house']}"
        price = -1 if rng.random() < 0.3 else 45
    else:
        (city, address), price = PICKUP_ADDRESS, 0
    lines = _lines(rng, showcase, lang, languages)
    total = round(sum(line["total_price"] for line in lines), 2)
    paid = 1 if status == 3 or (payment["id"] == 2 and status not in (1, FIRST_STORE_STATUS_ID)) else 0
    style = person["style"] if rng.random() < 0.5 else rng.choice(PHONE_STYLES)
    return {
        "order_id": order_id,
        "stat_status": status,
        "stat_created": created.strftime(DATE_FORMAT),
        "delivery_name": _typed_name(rng, person),
        "delivery_email": _typed_email(rng, person["email"]),
        "delivery_phone": format_phone(person["phone"], style),
        "delivery_city": city,
        "delivery_address": address,
        "delivery_type": dict(delivery),
        "delivery_price": price,
        "payment_type": dict(payment),
        "payed": paid,
        "total_default": total,
        "total_sum": round(total * 0.95, 2) if rng.random() < 0.1 else total,  # a 5% promo discount
        "total_quantity": sum(line["quantity"] for line in lines),
        "currency": "UAH",
        "comment": rng.choice(COMMENTS) if rng.random() < 0.3 else "",
        "user": None if user_index is None else {"id": user_index + 1},  # completed by _users
        "lang": lang,
        "products": lines,
    }


def _lines(rng: random.Random, showcase: list[dict[str, Any]], lang: str, languages: list[str]) -> list[dict]:
    count, = rng.choices([1, 2, 3, 4], weights=[55, 25, 12, 8])
    lines = []
    for product in rng.sample(showcase, min(count, len(showcase))):
        price = product["price"]
        if rng.random() < 0.15:  # the price when ordered, not today's
            price = max(9, int(round(price * rng.choice([0.9, 1.1]), -1)) - 1)
        quantity = rng.choice([1, 1, 1, 2, 3]) if price < 500 else 1
        lines.append({"article": product["article"],
                      "title": title_in(product["title"], lang, languages, product["article"]),
                      "price": price, "quantity": quantity, "total_price": price * quantity, "type": "product"})
    gifts = [p for p in showcase if p["price"] < 300]
    if gifts and rng.random() < 0.06:
        gift = rng.choice(gifts)
        lines.append({"article": gift["article"], "title": title_in(gift["title"], lang, languages, gift["article"]),
                      "price": 0, "quantity": 1, "total_price": 0, "type": "gift"})
    return lines


def _force_mess(rng: random.Random, orders: list[dict[str, Any]], statuses: list[dict[str, Any]],
                people: list[dict[str, Any]]) -> None:
    """Make sure every phone style, every bad phone/e-mail and every status shows up at least
    once, whatever the sizes, so tests and demos can count on them."""
    if not orders:
        return
    picks = rng.sample(range(len(orders)), min(len(orders), len(PHONE_STYLES) + len(INVALID_PHONES)))
    styles = PHONE_STYLES + [None] * len(INVALID_PHONES)
    for k, index in enumerate(picks):
        order = orders[index]
        if styles[k] is None:
            order["delivery_phone"] = INVALID_PHONES[k - len(PHONE_STYLES)]
        else:
            digits = "".join(ch for ch in order["delivery_phone"] if ch.isdigit())[-9:]
            order["delivery_phone"] = format_phone(digits, styles[k])
    for index, email in zip(rng.sample(range(len(orders)), min(len(orders), 2)), INVALID_EMAILS):
        orders[index]["delivery_email"] = email
    used = {o["stat_status"] for o in orders}
    missing = [s["id"] for s in statuses if s["id"] not in used]
    candidates = rng.sample(range(len(orders)), min(len(orders), len(missing)))
    for index, status in zip(candidates, missing):
        orders[index]["stat_status"] = status
        orders[index]["payed"] = 1 if status == 3 else orders[index]["payed"]


def _add_dangling_lines(rng: random.Random, orders: list[dict[str, Any]], languages: list[str]) -> None:
    """A very few lines point at articles deleted from the catalogue since (SKU-9xxxx)."""
    if len(orders) < 20:
        return
    for k, index in enumerate(sorted(rng.sample(range(len(orders)), max(1, len(orders) // 200)))):
        order = orders[index]
        texts, (low, high), _ = rng.choice(PRODUCT_KINDS)
        price = _price(rng, low, high)
        order["products"].append({"article": f"SKU-9{k + 1:04d}",
                                  "title": f"{translate(texts, order['lang'])} {rng.choice(MODELS)}",
                                  "price": price, "quantity": 1, "total_price": price, "type": "product"})
        order["total_default"] = round(order["total_default"] + price, 2)
        order["total_sum"] = round(order["total_sum"] + price, 2)
        order["total_quantity"] += 1


def _users(rng: random.Random, people: list[dict[str, Any]], orders: list[dict[str, Any]], now: datetime,
           days: int) -> list[dict[str, Any]]:
    """Registered customers; each signed up before their first order."""
    first_order: dict[int, str] = {}
    for order in orders:
        if order["user"] is not None:
            first_order.setdefault(order["user"]["id"], order["stat_created"])
    users = []
    for index, person in enumerate(people):
        user_id = index + 1
        registered = now - timedelta(seconds=rng.randint(3600, (days + 365) * 86400))
        if user_id in first_order:
            before_first = datetime.strptime(first_order[user_id], DATE_FORMAT) - timedelta(
                minutes=rng.randint(1, 720))
            registered = min(registered, before_first)
        apartment = f", кв. {rng.randint(1, 120)}" if rng.random() < 0.5 else ""
        users.append({
            "id": user_id,
            "title": f"{person['first']} {person['last']}",
            "email": _typed_email(rng, person["email"]),
            "phone": format_phone(person["phone"], person["style"]),
            "country": rng.choices(["Україна", "Ukraine", ""], weights=[85, 10, 5])[0],
            "city": person["city"],
            "address": f"{person['street']}, {person['house']}{apartment}",
            "registered": registered.strftime(DATE_FORMAT),
        })
    by_id = {u["id"]: u for u in users}
    for order in orders:
        if order["user"] is not None:
            user = by_id[order["user"]["id"]]
            order["user"] = {"id": user["id"], "title": user["title"], "email": user["email"],
                             "phone": user["phone"]}
    return users
