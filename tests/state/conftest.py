"""The state database under test: a SQLite file, and PostgreSQL when it answers at
``CARTUM_ROAPP_TEST_PG_URL``. PostgreSQL is shared with whatever else runs there, so every
test works on stores of its own (unique ids), and purges them afterwards."""

from __future__ import annotations

import functools
import os
import uuid

import pytest
from sqlalchemy import create_engine, text

from cartum_roapp_sync.state.db import get_engine
from cartum_roapp_sync.state.store import StateStore

POSTGRES_URL = os.environ.get("CARTUM_ROAPP_TEST_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")


@functools.lru_cache(maxsize=1)
def postgres_answers() -> bool:
    engine = create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return True
    except Exception:
        return False
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request, tmp_path):
    if request.param == "sqlite":
        return get_engine(f"sqlite:///{tmp_path}/state.db")
    if not postgres_answers():
        pytest.skip(f"PostgreSQL does not answer at {POSTGRES_URL}")
    return get_engine(POSTGRES_URL)


@pytest.fixture
def new_store(engine):
    """``new_store()`` → the StateStore of a store no other test uses."""
    made: list[str] = []

    def make() -> StateStore:
        store_id = f"t_{uuid.uuid4().hex[:24]}"
        made.append(store_id)
        return StateStore(engine, store_id)

    yield make
    for store_id in made:
        StateStore(engine, store_id).purge()
