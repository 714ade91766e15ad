"""The chaos run's worker: ``tests.pipeline.run_steps`` (the steps in a process of their
own, as an Airflow worker runs a task) with the chaos run's short RO App timeout, read
from ``CHAOS_CLIENT_TIMEOUT`` (seconds). Same arguments as ``run_steps``:

    python -m tests.chaos.worker --cartum URL --roapp URL --state URL --config JSON --run-id R --steps S
"""

from __future__ import annotations

import functools
import os
import sys

from tests.chaos.harness import CLIENT_TIMEOUT
from tests.pipeline import run_steps


def main(argv: list[str] | None = None) -> int:
    timeout = float(os.environ.get("CHAOS_CLIENT_TIMEOUT") or CLIENT_TIMEOUT)
    # what run_steps builds its harness with
    run_steps.Harness = functools.partial(run_steps.Harness, roapp_timeout=timeout)
    return run_steps.main(argv)


if __name__ == "__main__":
    sys.exit(main())
