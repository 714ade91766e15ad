"""Benchmark: Cartum calls to read a creation window of N orders, old offset paging vs
the time-sliced reader (``cartum.window``), with and without a server page cap, for both
sort orders. Counts calls and the orders read (a skipped order shows as read < N).

The window is open-ended from its first order, as a run's extract reads it; the client
asks pages of 100. "old" is the paging before issue 9: limit/offset until a short page.

Usage: .venv/bin/python bench/order_window.py [--sizes 30,230,2000] [--days 30]
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

from cartum_roapp_sandbox.cartum import CartumSandbox
from cartum_roapp_sandbox.server import FaultSettings, SandboxServer
from cartum_roapp_sync.cartum.client import CartumClient

PAGE = 100


def old_read(client: CartumClient, created_from: str) -> list[dict[str, Any]]:
    """Limit/offset until the first short page (the code before issue 9)."""
    rows: list[dict[str, Any]] = []
    while True:
        page = client.call("orders/get", {"from": created_from, "additionalData": True, "limit": PAGE,
                                          "offset": len(rows)}).get("orders") or []
        rows.extend(page)
        if len(page) < PAGE:
            return rows


def measure(orders: int, days: int, cap: int | None, sort: str, reader: str) -> tuple[int, int]:
    app = CartumSandbox.seeded(seed=11, orders=orders, products=30, customers=10, days=days)
    app.admin("set_orders_paging", {"page_cap": cap, "sort": sort})
    created_from = min(o["stat_created"] for o in app.state()["orders"])
    with SandboxServer(app, port=0, faults=FaultSettings()) as server:
        client = CartumClient(server.url, app.login, app.password, requests_per_second=0)
        if reader == "old":
            read = old_read(client, created_from)
        else:
            read = list(client.iter_orders(created_from=created_from, page_size=PAGE))
        calls = sum(1 for r in server.requests if r["path"] == "/api/orders/get/")
        client.close()
    return calls, len({o["order_id"] for o in read})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="30,230,2000")
    parser.add_argument("--days", type=int, default=30, help="the orders are spread over this many days")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    print(f"| N | page cap | sort | old: calls, orders read | new: calls, orders read | new calls / ceil(N/cap) |")
    print("|---|---|---|---|---|---|")
    for size in (int(s) for s in args.sizes.split(",")):
        for cap in (None, 50):
            for sort in ("id", "newest_first"):
                old_calls, old_read_n = measure(size, args.days, cap, sort, "old")
                new_calls, new_read_n = measure(size, args.days, cap, sort, "new")
                floor = -(-size // (cap or PAGE))
                print(f"| {size} | {cap or 'none'} | {sort} | {old_calls}, {old_read_n} | {new_calls}, {new_read_n} "
                      f"| {new_calls / floor:.2f} |", flush=True)


if __name__ == "__main__":
    main()
