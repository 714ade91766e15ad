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

#: Employees: path and field names are assumed.
ROAPP_EMPLOYEES_PATH = "/employees/"
ROAPP_EMPLOYEE_ROLE_FIELD = "role"
ROAPP_EMPLOYEE_ACTIVE_FIELD = "is_active"
ROAPP_EMPLOYEE_BRANCHES_FIELD = "branch_ids"
ROAPP_MANAGER_ROLE = "Manager"

#: ``GET /v2/orders/statuses`` answers ``group {type, name}``; the type values are not
#: documented. A Cartum status matched to an RO App status in one of these groups is final.
ROAPP_CLOSED_STATUS_GROUPS = ("closed_success", "closed_failure")

#: Filter of people by e-mail (``names[]`` and ``phones[]`` are documented).
ROAPP_PEOPLE_EMAIL_FILTER = "emails[]"

#: Catalogue: the list is documented, its filters and the write endpoints are assumed.
ROAPP_PRODUCTS_PATH = "/v2/catalog/products"
ROAPP_PRODUCT_SKU_FILTER = "skus[]"
ROAPP_PRODUCT_BARCODE_FILTER = "barcodes[]"
ROAPP_PRODUCT_WRITE_FIELDS = ("title", "sku", "code", "barcodes", "description", "price")
