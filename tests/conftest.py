"""Shared fixtures: sandboxes started in-process on free ports, fast retry policies, and an
Airflow home of its own for every test session.

Sandbox profiles: ``cartum_sandbox`` and ``roapp_sandbox`` (and the fixtures built on them)
serve the profile of ``sandbox_profile``: ``documented`` for every test, and for a test
marked ``both_profiles`` (the fast subset of the end-to-end tests) once per profile of
``--profiles`` (default ``both``: ``documented`` and ``alternative``; the test ids end in
``[documented]`` / ``[alternative]``; ``both_profiles(name=value)`` keeps only the
alternative cases whose parameter ``name`` is ``value``). Both sandboxes of a test share
one profile.
"""

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

#: The sandboxes' profiles (``cartum_roapp_sandbox.{cartum,roapp}.profile``).
PROFILES = ("documented", "alternative")

#: Retries that keep the test suite fast: real backoff shape, tiny delays.
FAST_RETRY = RetryPolicy(max_attempts=5, base_delay=0.01, max_delay=0.05, max_retry_after=0.5)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--profiles", choices=("both", *PROFILES), default="both",
                     help="the sandbox profiles the tests marked both_profiles run on (default: both; "
                          "unmarked tests run on documented)")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A ``both_profiles`` test that uses the sandboxes runs once per chosen profile."""
    if "sandbox_profile" in metafunc.fixturenames and metafunc.definition.get_closest_marker("both_profiles"):
        chosen = metafunc.config.getoption("profiles")
        metafunc.parametrize("sandbox_profile", PROFILES if chosen == "both" else (chosen,), indirect=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``both_profiles`` with keyword arguments narrows a parametrized test's alternative
    runs to the cases with those parameter values (``both_profiles(fault="apply_drop")``);
    the other alternative cases are deselected."""
    keep, drop = [], []
    for item in items:
        marker = item.get_closest_marker("both_profiles")
        params = getattr(getattr(item, "callspec", None), "params", {})
        narrowed = marker is not None and params.get("sandbox_profile") == "alternative" and any(
            params.get(name) != value for name, value in marker.kwargs.items())
        (drop if narrowed else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture
def sandbox_profile(request: pytest.FixtureRequest) -> str:
    """The profile both sandboxes serve: ``documented`` unless parametrized."""
    return getattr(request, "param", "documented")


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
def cartum_sandbox(sandbox_profile):
    yield from seeded_cartum(seed=7, orders=120, products=60, customers=40, days=120, profile=sandbox_profile)


@pytest.fixture
def roapp_sandbox(sandbox_profile):
    """RO App with the rate limit off, so most tests run fast; the limiter tests turn it on."""
    from cartum_roapp_sandbox.roapp import RoAppSandbox

    app = RoAppSandbox.seeded(api_keys=[ROAPP_KEY], profile=sandbox_profile)
    with SandboxServer(app, port=0, faults=FaultSettings(rate_limit=0)) as server:
        yield RunningSandbox(server)
