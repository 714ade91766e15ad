"""The shape of a store's run: each step and the steps it waits for. Names only (and the
light entity declarations), so that DAG parsing can build the task graph without
importing the steps' dependencies (pandas, the API clients, the state database)."""

from ..entities import ENTITIES

#: One load step per entity, in load order (clients, products, orders).
LOAD_STEPS = tuple(entity.step for entity in ENTITIES)

UPSTREAM: dict[str, tuple[str, ...]] = {
    # The run's first step: it starts the run (plan, history), then checks the setup.
    "validate_setup": (),
    "extract_orders": ("validate_setup",),
    # After the orders: a first import keeps the registered customers its orders name.
    "extract_customers": ("extract_orders",),
    "extract_products": ("extract_orders",),
    "transform": ("extract_products", "extract_customers"),
    "check_quality": ("transform",),
    **{step: (before,) for before, step in zip(("check_quality",) + LOAD_STEPS, LOAD_STEPS)},
}
