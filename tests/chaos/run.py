"""The long chaos run, from the command line (``scripts/chaos.sh`` sets up the venv and
calls this): a bigger store, many runs, many kills; prints what happens, the figures
and, when RO App differs from what Cartum says, every difference and how it came about.
Exits 1 on any difference, 2 on bad arguments.

    python -m tests.chaos.run [--seed N] [--runs N] [--kills N] [--clean-runs N] [--orders N] ...

Run from the repository root (``tests`` must be importable).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile

# Before anything imports Airflow (tests.conftest does what the test session does).
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="chaos_airflow_"))

from tests.chaos.scenario import ChaosSettings, run_chaos  # noqa: E402

LONG = ChaosSettings(seed=1, runs=30, kills=12, clean_runs=2, orders=250, products=80, customers=60, days=40,
                     import_days=30, changes=8, new_orders=3, max_seconds=1500, max_requests=300_000)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/chaos.sh", description=__doc__.split("\n\n")[0])
    option = parser.add_argument
    option("--seed", type=int, default=LONG.seed, help=f"seed of everything random (default {LONG.seed})")
    option("--runs", type=int, default=LONG.runs, help=f"runs with faults and changes (default {LONG.runs})")
    option("--kills", type=int, default=LONG.kills, help=f"workers killed with SIGKILL (default {LONG.kills})")
    option("--clean-runs", type=int, default=LONG.clean_runs,
           help=f"runs without faults at the end (default {LONG.clean_runs})")
    option("--orders", type=int, default=LONG.orders, help=f"orders in the Cartum store (default {LONG.orders})")
    option("--products", type=int, default=LONG.products, help=f"catalogue size (default {LONG.products})")
    option("--customers", type=int, default=LONG.customers, help=f"registered customers (default {LONG.customers})")
    option("--days", type=int, default=LONG.days, help=f"days the orders span (default {LONG.days})")
    option("--import-days", type=int, default=LONG.import_days,
           help=f"first-import window, moved a day or two off any order (default {LONG.import_days})")
    option("--changes", type=int, default=LONG.changes, help=f"order changes before each run (default {LONG.changes})")
    option("--new-orders", type=int, default=LONG.new_orders,
           help=f"new orders before each run (default {LONG.new_orders})")
    option("--apply-error-rate", type=float, default=LONG.apply_error_rate,
           help=f"share of RO App writes applied and their answer lost (default {LONG.apply_error_rate})")
    option("--roapp-error-rate", type=float, default=LONG.roapp_error_rate,
           help=f"share of RO App requests answered 5xx before they are handled (default {LONG.roapp_error_rate})")
    option("--cartum-error-rate", type=float, default=LONG.cartum_error_rate,
           help=f"share of Cartum requests answered with a 5xx page (default {LONG.cartum_error_rate})")
    option("--max-seconds", type=float, default=LONG.max_seconds,
           help=f"time budget; past it the run stops and fails (default {LONG.max_seconds:g})")
    option("--max-requests", type=int, default=LONG.max_requests,
           help=f"request budget of both sandboxes together (default {LONG.max_requests})")
    option("--workdir", help="keep the state database and the worker logs here (default: a temporary directory)")
    option("--verbose", action="store_true", help="the pipeline's own log lines too")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.kills < 0 or args.clean_runs < 1:
        parser.error("--runs and --clean-runs must be at least 1, --kills at least 0")

    if args.verbose:
        logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                            format="%(asctime)s %(name)s %(levelname)s %(message)s")
    else:  # quiet, but the transport's retry warnings still reach the retry count
        logging.basicConfig(level=logging.WARNING, handlers=[logging.NullHandler()])
        logging.disable(logging.INFO)  # Great Expectations sets up a handler of its own
    settings = ChaosSettings(
        seed=args.seed, runs=args.runs, kills=args.kills, clean_runs=args.clean_runs, orders=args.orders,
        products=args.products, customers=args.customers, days=args.days, import_days=args.import_days,
        changes=args.changes, new_orders=args.new_orders, apply_error_rate=args.apply_error_rate,
        roapp_error_rate=args.roapp_error_rate, cartum_error_rate=args.cartum_error_rate, max_seconds=args.max_seconds,
        max_requests=args.max_requests, workdir=args.workdir)
    result = run_chaos(settings, say=lambda line: print(line, flush=True))
    print(result.report(), flush=True)
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
