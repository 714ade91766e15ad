"""Runs some steps of a store's run in a process of its own, as an Airflow worker would,
so that a test can kill it (SIGKILL) at any moment:

    python -m tests.pipeline.run_steps --cartum URL --roapp URL --state sqlite:////tmp/state.db \\
        --config '{"store_id": "demo", ...}' --run-id run_1 --steps load_clients,load_products,load_orders

``--steps`` defaults to every step; ``--finish`` also runs ``finish_run``. Logs go to
stderr; the last step's result is printed to stdout as JSON when everything finished.
Run from the repository root (``tests`` must be importable).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from cartum_roapp_sync.config import parse_store
from cartum_roapp_sync.pipeline.steps import STEPS, finish_run, run_step
from cartum_roapp_sync.state.db import get_engine
from tests.pipeline.harness import Harness


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cartum", required=True, help="Cartum (sandbox) base URL")
    parser.add_argument("--roapp", required=True, help="RO App (sandbox) base URL")
    parser.add_argument("--state", required=True, help="state database URL")
    parser.add_argument("--config", required=True, help="the store's settings as JSON")
    parser.add_argument("--run-id", required=True)
    parser.add_argument("--steps", default=",".join(STEPS), help="comma-separated step names, in order")
    parser.add_argument("--finish", action="store_true", help="run finish_run after the steps")
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(process)d %(name)s %(levelname)s %(message)s")
    steps = [s for s in args.steps.split(",") if s]
    unknown = [s for s in steps if s not in STEPS]
    if unknown:
        parser.error(f"unknown steps {unknown}; known: {list(STEPS)}")
    harness = Harness(parse_store(json.loads(args.config)), get_engine(args.state), args.cartum, args.roapp)
    result = None
    for name in steps:
        result = run_step(name, harness.context(args.run_id))
    if args.finish:
        result = finish_run(harness.context(args.run_id))
    print(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
