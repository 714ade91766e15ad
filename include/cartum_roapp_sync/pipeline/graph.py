"""The shape of a store's run: each step and the steps it waits for. Names only, so that
DAG parsing can build the task graph without importing the steps' dependencies (pandas,
the API clients, the state database)."""

UPSTREAM: dict[str, tuple[str, ...]] = {
    "start_run": (),
    "validate_setup": ("start_run",),
    "extract_orders": ("validate_setup",),
    "extract_customers": ("validate_setup",),
    "extract_products": ("extract_orders",),
    "transform": ("extract_products", "extract_customers"),
    "check_quality": ("transform",),
    "load_clients": ("check_quality",),
    "load_products": ("load_clients",),
    "load_orders": ("load_products",),
}
