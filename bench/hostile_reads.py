"""Benchmark: what a misbehaving Cartum API costs a read, with and without the read limits
of issue 11. For each misbehaviour of the Cartum sandbox (``set_misbehaviour``) it reads
as the extract steps do (every row kept), for at most ``--seconds`` seconds, and reports
the calls made, the rows held, the peak of Python memory (tracemalloc, of this process
only: the sandbox runs in its own) and how the read ended (the error's first words, or
"ended").

Run it on this checkout, and on one without the limits to compare, e.g.
``PYTHONPATH=/path/to/old/include .venv/bin/python bench/hostile_reads.py`` (the sandbox
package of this checkout is used by both).

Usage: .venv/bin/python bench/hostile_reads.py [--seconds 20]
"""

from __future__ import annotations

import argparse
import logging
import re
import subprocess
import sys
import time
import tracemalloc
from typing import Any, Iterator

from cartum_roapp_sandbox.admin import SandboxAdmin
from cartum_roapp_sandbox.cartum.seed import DATE_FORMAT, store_now
from cartum_roapp_sync.cartum.client import CartumClient

SANDBOX = [sys.executable, "-m", "cartum_roapp_sandbox.cartum", "--port", "0", "--seed", "11", "--orders", "300",
           "--products", "40", "--customers", "10", "--days", "60"]

CASES: list[tuple[str, str, dict[str, Any]]] = [
    ("orders/get: the same full page forever", "orders", {"orders/get": {"page": "endless"}}),
    ("orders/get: new full pages forever", "orders", {"orders/get": {"page": "bottomless"}}),
    ("catalog/export: the same full page forever", "products", {"catalog/export": {"page": "endless"}}),
    ("catalog/export: new full pages forever", "products", {"catalog/export": {"page": "bottomless"}}),
    ("catalog/export: a 50 MB answer", "products", {"catalog/export": {"oversized_mb": 50}}),
]


def read(client: CartumClient, what: str) -> Iterator[dict[str, Any]]:
    if what == "orders":
        days_ago = store_now().replace(year=store_now().year - 1).strftime(DATE_FORMAT)
        return client.iter_orders(created_from=days_ago)
    return client.iter_products()


def measure(what: str, misbehaviour: dict[str, Any], seconds: float) -> tuple[int, int, float, str]:
    server = subprocess.Popen(SANDBOX, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert server.stdout is not None
        url = ""
        while not url:
            found = re.search(r"listening on (http://\S+)", server.stdout.readline())
            url = found.group(1) if found else ""
        SandboxAdmin(url).set_misbehaviour(misbehaviour)
        client = CartumClient(url, "sandbox_admin", "sandbox-password", requests_per_second=0)
        held: list[dict[str, Any]] = []
        outcome = "ended"
        tracemalloc.start()
        started = time.monotonic()
        try:
            for row in read(client, what):
                held.append(row)
                if time.monotonic() - started > seconds:
                    outcome = f"still reading after {seconds:g} s"
                    break
        except Exception as exc:  # the outcome is what is measured
            outcome = f"{type(exc).__name__}: {str(exc)[:90]}"
        peak = tracemalloc.get_traced_memory()[1] / 1e6
        tracemalloc.stop()
        calls = client.stats.calls
        client.close()
        return calls, len(held), peak, outcome
    finally:
        server.terminate()
        server.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    print(f"{'misbehaviour':45} {'calls':>7} {'rows held':>10} {'peak MB':>8}  outcome")
    for title, what, misbehaviour in CASES:
        calls, held, peak, outcome = measure(what, misbehaviour, args.seconds)
        print(f"{title:45} {calls:7d} {held:10d} {peak:8.1f}  {outcome}")


if __name__ == "__main__":
    main()

