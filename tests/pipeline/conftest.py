"""Fixtures of the end-to-end tests: a state database, and a store wired to the sandboxes
(``Sync``, from ``e2e``) on the default Cartum store or on a smaller one, with both
sandboxes on the test's ``sandbox_profile`` (``tests/conftest.py``)."""

from __future__ import annotations

import pytest

# e2e's checks are plain asserts: rewritten, so that a failure shows its values.
pytest.register_assert_rewrite("tests.pipeline.e2e")

from cartum_roapp_sync.state.db import get_engine  # noqa: E402
from tests.conftest import seeded_cartum  # noqa: E402
from tests.pipeline.e2e import Sync, make_sync  # noqa: E402


@pytest.fixture
def engine(tmp_path):
    return get_engine(f"sqlite:///{tmp_path}/state.db")


@pytest.fixture
def sync(cartum_sandbox, roapp_sandbox, engine) -> Sync:
    return make_sync(cartum_sandbox, roapp_sandbox, engine)


@pytest.fixture
def small_cartum(sandbox_profile):
    """A smaller store for the tests that run the load in a worker process."""
    yield from seeded_cartum(seed=11, orders=60, products=30, customers=20, days=90, profile=sandbox_profile)


@pytest.fixture
def small_sync(small_cartum, roapp_sandbox, engine) -> Sync:
    return make_sync(small_cartum, roapp_sandbox, engine)
