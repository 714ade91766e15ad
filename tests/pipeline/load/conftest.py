from __future__ import annotations

import pytest

from cartum_roapp_sync.state.db import get_engine

from .fake_roapp import FakeRoApp


@pytest.fixture
def fake() -> FakeRoApp:
    return FakeRoApp(
        employees=[{"id": 7, "is_active": True, "role": "Manager", "branch_ids": [11]},
                   {"id": 8, "is_active": True, "role": "Manager", "branch_ids": [11]},
                   {"id": 9, "is_active": False, "role": "Manager", "branch_ids": [11]},
                   {"id": 10, "is_active": True, "role": "Manager", "branch_ids": [12]}],
        custom_fields=[{"id": 31, "title": "Store"}, {"id": 32, "title": "External ID"}])


@pytest.fixture
def engine(tmp_path):
    return get_engine(f"sqlite:///{tmp_path}/state.db")
