"""Every **[assumed]** fact of the two API contracts, in one place.

The live Cartum and RO App APIs cannot be reached from where this project is built, so
some details in ``shared/contracts/*.md`` are marked [assumed]: reasonable guesses the
real APIs may contradict. Code that depends on one reads it from here, so adapting to
the live API is a one-line change in this file. Facts marked [doc] or [code] live
beside the code that uses them.
"""

from __future__ import annotations

# --- Both APIs: what a working API never does (the read limits) --------------------

#: No answer of either API is bigger [assumed: a catalog/export page of 500 products with
#: long descriptions in three languages stays well under it]; a bigger one is refused
#: unread (``transport``).
MAX_ANSWER_BYTES = 32 * 1024 * 1024

# --- Cartum -------------------------------------------------------------------------

#: No rate limit is documented; we throttle politely per store anyway.
CARTUM_DEFAULT_REQUESTS_PER_SECOND = 5.0

#: How an ``ERROR`` answer says the tariff plan has no API access (matched case-insensitively
#: in ``response.message`` and ``response.code``).
CARTUM_NO_API_ACCESS_MARKERS = ("tariff", "api access", "api_disabled")

#: Order fields whose exact name or shape is not documented.
CARTUM_ORDER_STATUS_FIELD = "stat_status"      # [code; the exact name may differ]
CARTUM_ORDER_CREATED_FIELD = "stat_created"    # store local time, see CARTUM_STORE_TIMEZONE
CARTUM_ORDER_COMMENT_FIELD = "comment"         # the buyer's comment
#: The registered buyer: a plain number, the user id [doc: "user ID in the system"; the
#: webhook sample has ``"user": 99``]; this project first read it as an object ``{id}``.
#: Both are read (``cartum.shapes.user_id``), and a numeric string; null or 0 is a guest.
CARTUM_ORDER_USER_FIELD = "user"

#: ``stat_created`` is in the store's local time; the timezone is not stated anywhere.
CARTUM_STORE_TIMEZONE = "Europe/Kyiv"

#: A bot filter in front of some stores answers a default ``python-requests/x`` User-Agent
#: with a small JS-challenge HTML page, ``/api/`` included [code: public clients send a
#: browser-like or product User-Agent]. We send this one unless the connection's extra
#: ``user_agent`` says otherwise; ``{version}`` is the package version.
CARTUM_USER_AGENT = "cartum-roapp-sync/{version} (Cartum to RO App order sync)"
#: What marks an HTML answer as such a challenge rather than a plain error page (matched
#: case-insensitively in the first 8 KB).
CARTUM_CHALLENGE_MARKERS = ("<script", "challenge", "enable javascript", "checking your browser",
                            "document.cookie", "cf-chl", "captcha")

#: Order ids sent in one ``orders/get`` call (bodies over ~130 KB get the connection
#: dropped [code]; 200 ids stay far below that).
CARTUM_IDS_PER_CALL = 200

#: The read limits (``cartum.client``): answers one read (a creation window of
#: ``orders/get``, a whole ``catalog/export``, a ``users/export``) may take, and distinct
#: records it may hold [assumed: a window is read in slices of about 75 orders, so 2,500
#: answers are ~150,000 orders; a Cartum store's catalogue or customers stay below
#: 150,000]. A store that really holds more raises them by its connection's extras
#: ``max_pages_per_read`` / ``max_rows_per_read``.
CARTUM_MAX_PAGES_PER_READ = 2_500
CARTUM_MAX_ROWS_PER_READ = 150_000

#: The Cartum facts the live probe (``cartum-roapp probe``) checks, each with the public
#: source behind it; the checks themselves are in ``probe.cartum``.
CARTUM_FACTS = {
    "cartum.order_user": "an order's `user` is the registered buyer's id, a plain number [doc: API docs, "
                         "webhook sample]; an object {id} is read too",
    "cartum.order_fields": "orders/get answers the order fields the sync reads (order_id, stat_status, "
                           "stat_created, delivery_*, payed, products[]) [doc][code]",
    "cartum.order_status_field": "the status id is in `stat_status` [code; the name may differ]",
    "cartum.order_created_field": "the creation time is `stat_created`, YYYY-MM-DD HH:MM:SS [doc]",
    "cartum.order_comment_field": "the buyer's comment is `comment` [doc; one public client saw it empty]",
    "cartum.order_line_title": "an order line's `title` is a plain string [doc]",
    "cartum.store_timezone": "stat_created is store local time in Europe/Kyiv [assumed]",
    "cartum.statuses": "orders/get_available_statuses answers {id, title{lang}, is_successful} (4.0+) [doc]",
    "cartum.catalog_fields": "catalog/export products: `article` key (no numeric id), `title` keyed by "
                             "language, price, gtin, parent{id} [doc][code]",
    "cartum.users_fields": "users/export users: {id, title, email, phone, registered} [doc][code]",
    "cartum.plain_user_agent": "the API answers any User-Agent (the docs name no rule) [doc]; some stores "
                               "answer python-requests with a JS challenge [code]",
    "cartum.rate_limit": "no rate limit documented; we throttle at 5 requests/s [assumed]",
    "cartum.envelope": "every answer is {status, response} with HTTP 200 [doc][code]",
    "cartum.no_api_access_markers": "a plan without the API answers ERROR naming the tariff or API access "
                                    "[doc: the API needs a plan with API access; the wording is assumed]",
    "cartum.ids_per_call": "200 order ids per orders/get stay far below the ~130 KB body limit [code]",
}

# --- RO App ---------------------------------------------------------------------------

#: When a 429 carries no ``Retry-After``, wait at least this long (seconds) before retrying:
#: the limit is a sliding one-second window.
ROAPP_DEFAULT_RETRY_AFTER = 1.0

#: Employees and locations: the documented paths come first; the legacy ones answer 404
#: on an account where they are gone, and are then used as a fallback (logged once).
#: Source: RO App API reference (paths [doc]); legacy paths seen in public client code [code].
ROAPP_EMPLOYEES_PATH = "/v2/company/employees"
ROAPP_LEGACY_EMPLOYEES_PATH = "/employees/"
ROAPP_LOCATIONS_PATH = "/v2/company/locations"
ROAPP_LEGACY_LOCATIONS_PATH = "/branches/"

#: ``GET /v2/orders/statuses`` answers ``group {type, name}``; the type values are not
#: documented. A Cartum status matched to an RO App status in one of these groups is final.
ROAPP_CLOSED_STATUS_GROUPS = ("closed_success", "closed_failure")

#: Where an employee's role, active flag and location access may live. Not public: the
#: reference names the path only, and the legacy answer seen in public code carries
#: ``id, first_name, last_name, position, email`` and none of these [assumed]. Read from
#: the first field present; none present means "RO App does not say" (setup then asks
#: for managers by id instead of calling them "not active").
ROAPP_EMPLOYEE_ROLE_FIELDS = ("role", "role_name", "roles")
ROAPP_EMPLOYEE_ACTIVE_FIELDS = ("is_active", "active")
ROAPP_EMPLOYEE_BRANCHES_FIELDS = ("branch_ids", "location_ids", "branches", "locations")
#: Role names are user-defined and localised in RO App [doc: the role editor]; the store
#: key ``manager_roles`` overrides this default.
ROAPP_MANAGER_ROLES = ("Manager", "Менеджер", "Gerente")

#: Filter of people by e-mail. NOT documented (the reference lists ``names[]``,
#: ``phones[]``, ``managers[]``, ``created_at[]``, ``modified_at[]``); an ignored filter
#: returns the whole contact base, so every answer is checked row by row
#: (``roapp.client``) and the look-up falls back when it is ignored [assumed].
ROAPP_PEOPLE_EMAIL_FILTER = "emails[]"

#: Catalogue: the list is documented [doc]; its filters are NOT (an ignored filter returns
#: the whole catalogue, checked and handled like the e-mail filter), and no public client
#: writes products, so the write endpoints and fields are [assumed]. A product read back has
#: ``prices[]`` (one ``{id, price}`` per price type) and ``cost``, no flat ``price``
#: [doc][code]; prices are written the same way: one entry without ``id`` for the
#: account's default price type, or with this id when set [assumed].
ROAPP_PRODUCTS_PATH = "/v2/catalog/products"
ROAPP_PRODUCT_SKU_FILTER = "skus[]"
ROAPP_PRODUCT_BARCODE_FILTER = "barcodes[]"
ROAPP_PRODUCT_WRITE_FIELDS = ("title", "sku", "code", "barcodes", "description", "prices", "cost")
ROAPP_PRODUCT_PRICE_TYPE_ID: int | None = None

#: A single created or fetched object: bare in the reference, ``{"data": {...}}`` in some
#: public code; both are read [assumed which one the live API sends].
ROAPP_SINGLE_OBJECT_WRAPPER = "data"

#: Comment privacy: the reference has ``is_private``, a public client sends
#: ``visibility: "private"`` [doc] vs [code]. Both are sent; delivery details stay private.
ROAPP_COMMENT_PRIVACY = {"is_private": True, "visibility": "private"}

# --- The boundary (``cartum.records``) --------------------------------------------------

#: How far in the future of the store's clock a Cartum creation or registration time may
#: lie (clock skew) before the record is held and the time kept out of every cursor.
CARTUM_FUTURE_TOLERANCE_MINUTES = 60

#: Longest text RO App is taken to accept per Cartum field, in characters. The RO App
#: contract states no limits: these are assumed caps, generous for real data and far below
#: what breaks a request or a row. A longer text is cut at the boundary. Articles are not
#: cut (two products would merge): a longer one holds its record.
ROAPP_TEXT_CAPS = {
    "delivery_name": 255, "name": 255, "first_name": 255, "last_name": 255, "title": 500,
    "delivery_phone": 64, "phone": 64, "delivery_email": 254, "email": 254,
    "delivery_city": 255, "city": 255, "delivery_address": 1000, "address": 1000,
    "comment": 4000, "description": 20000,
}
#: Any other text field.
ROAPP_TEXT_CAP_DEFAULT = 1000
#: Longest article (the id map and the article index key on it).
CARTUM_ARTICLE_MAX = 200
