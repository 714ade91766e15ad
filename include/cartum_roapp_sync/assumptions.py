"""Every **[assumed]** fact of the two API contracts, in one place.

The live Cartum and RO App APIs cannot be reached from where this project is built, so
some details in ``shared/contracts/*.md`` are marked [assumed]: reasonable guesses the
real APIs may contradict. Code that depends on one reads it from here, so adapting to
the live API is a one-line change in this file. Facts marked [doc] or [code] live
beside the code that uses them.
"""

from __future__ import annotations

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
CARTUM_ORDER_USER_FIELD = "user"               # registered buyer {id, ...} or null for guests

#: ``stat_created`` is in the store's local time; the timezone is not stated anywhere.
CARTUM_STORE_TIMEZONE = "Europe/Kyiv"

#: Order ids sent in one ``orders/get`` call (bodies over ~130 KB get the connection
#: dropped [code]; 200 ids stay far below that).
CARTUM_IDS_PER_CALL = 200

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
#: (``roapp.lookup``) and the look-up falls back when it is ignored [assumed].
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
