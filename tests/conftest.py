"""Shared fixtures: sandboxes started in-process on free ports, fast retry policies, and an
Airflow home of its own for every test session."""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from typing import Iterator

# Before anything imports Airflow: a throw-away AIRFLOW_HOME, no example DAGs, quiet logs.
_AIRFLOW_HOME = tempfile.mkdtemp(prefix="cartum_roapp_tests_airflow_")
os.environ.setdefault("AIRFLOW_HOME", _AIRFLOW_HOME)
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "False")

import pytest  # noqa: E402

from cartum_roapp_sandbox.admin import SandboxAdmin  # noqa: E402
from cartum_roapp_sandbox.server import FaultSettings, SandboxServer  # noqa: E402
from cartum_roapp_sync.transport import RetryPolicy  # noqa: E402

CARTUM_LOGIN = "sandbox_admin"
CARTUM_PASSWORD = "sandbox-password"
ROAPP_KEY = "sandbox-api-key"

#: Retries that keep the test suite fast: real backoff shape, tiny delays.
FAST_RETRY = RetryPolicy(max_attempts=5, base_delay=0.01, max_delay=0.05, max_retry_after=0.5)


class RunningSandbox:
    def __init__(self, server: SandboxServer):
        self.server = server
        self.url = server.url
        self.admin = SandboxAdmin(server.url)


@contextmanager
def serving(app, **faults) -> Iterator[RunningSandbox]:
    """A sandbox app served on a free port, with the given fault settings."""
    with SandboxServer(app, port=0, faults=FaultSettings(**faults)) as server:
        yield RunningSandbox(server)


def seeded_cartum(**sizes) -> Iterator[RunningSandbox]:
    from cartum_roapp_sandbox.cartum import CartumSandbox

    with serving(CartumSandbox.seeded(**sizes)) as running:
        yield running


@pytest.fixture
def cartum_sandbox():
    yield from seeded_cartum(seed=7, orders=120, products=60, customers=40, days=120)


@pytest.fixture
def roapp_sandbox():
    """RO App with the rate limit off, so most tests run fast; the limiter tests turn it on."""
    from cartum_roapp_sandbox.roapp import RoAppSandbox

    app = RoAppSandbox.seeded(api_keys=[ROAPP_KEY])
    with SandboxServer(app, port=0, faults=FaultSettings(rate_limit=0)) as server:
        yield RunningSandbox(server)
