"""Managers without guesswork: what setup says when RO App's employees answer carries no
role, active flag or location access (the alternative sandbox profile), and configurable
manager role names."""

from __future__ import annotations

import logging

import pytest

from cartum_roapp_sandbox.roapp import RoAppSandbox
from cartum_roapp_sync.config import ConfigError, parse_store
from cartum_roapp_sync.roapp.client import RoAppClient
from cartum_roapp_sync.setup_checks import (
    NO_ROLES,
    check_managers,
    check_roapp_references,
    eligible_managers,
    split_for_run,
)
from tests.conftest import FAST_RETRY, ROAPP_KEY, serving
from tests.setup.test_validation import entry


@pytest.fixture
def bare_roapp():
    """Employees without role, active flag or location access."""
    with serving(RoAppSandbox.seeded(api_keys=[ROAPP_KEY], profile="alternative"), rate_limit=0) as running:
        yield running


def client(url: str) -> RoAppClient:
    return RoAppClient(ROAPP_KEY, url, retry=FAST_RETRY, timeout=5.0)


def test_all_is_refused_plainly_when_roles_are_unreadable(bare_roapp):
    employees = client(bare_roapp.url).employees()
    assert employees and all("role" not in e and "is_active" not in e for e in employees)

    problems = check_managers(employees, "all", 101)

    assert len(problems) == 1 and problems[0].field == "managers"
    assert NO_ROLES in problems[0].message and "not active" not in problems[0].message
    assert eligible_managers(employees, "all", 101) == []


def test_listed_ids_without_readable_facts_are_accepted_with_a_warning(bare_roapp, caplog):
    roapp = client(bare_roapp.url)
    with caplog.at_level(logging.WARNING, logger="cartum_roapp_sync.setup_checks"):
        problems = check_roapp_references(roapp, location_id=101, order_type_id=301, managers=[506, 501])
    # 506 is the seeded inactive manager: RO App does not say so here, so no false "not active"
    assert problems == []
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 2 and all("RO App does not say whether employee 50" in w
                                      and "is active or has a manager role or has access to location 101: accepted "
                                          "as listed" in w
                                      for w in warnings)
    assert eligible_managers(roapp.employees(), [506, 501], 101) == [501, 506]
    # an id RO App does not have is still refused
    missing = check_managers(roapp.employees(), [9999], 101)
    assert [p.message for p in missing] == ["employee 9999 does not exist in RO App"]


def test_a_run_with_unreadable_roles_and_all_stops_with_the_message(bare_roapp):
    config = parse_store(entry(managers="all"))
    problems = check_roapp_references(client(bare_roapp.url), location_id=101, order_type_id=301, managers="all")
    stopping, warnings = split_for_run(problems, config, first_import=False)
    assert [p.field for p in stopping] == ["managers"] and NO_ROLES in str(stopping[0]) and warnings == []


def test_each_readable_fact_is_still_checked():
    employees = [{"id": 1, "first_name": "A", "is_active": False},                  # only the flag
                 {"id": 2, "first_name": "B", "role": "Engineer"},                  # only the role
                 {"id": 3, "first_name": "C", "branch_ids": [102]},                 # only the access
                 {"id": 4, "first_name": "D", "role": {"name": "Менеджер"}, "locations": [{"id": 101}]}]
    messages = {p.manager: p.message for p in check_managers(employees, [1, 2, 3, 4], 101)}
    assert set(messages) == {1, 2, 3}
    assert "is not active" in messages[1] and "'Engineer', not a manager role" in messages[2]
    assert "no access to location 101" in messages[3]
    assert eligible_managers(employees, "all", 101) == [4]


@pytest.mark.parametrize("roles, expected", [
    (None, [1, 2, 3]),                  # the default: Manager, Менеджер, Gerente (any case)
    (["Sales lead"], [4]),
    (["gerente", "sales lead"], [3, 4]),
])
def test_manager_role_names_are_configurable(roles, expected):
    employees = [{"id": 1, "role": "Manager", "is_active": True, "branch_ids": [101]},
                 {"id": 2, "role": "менеджер", "is_active": True, "branch_ids": [101]},
                 {"id": 3, "role": "Gerente", "is_active": True, "branch_ids": [101]},
                 {"id": 4, "role": "Sales Lead", "is_active": True, "branch_ids": [101]},
                 {"id": 5, "role": "Engineer", "is_active": True, "branch_ids": [101]}]
    assert eligible_managers(employees, "all", 101, roles) == expected


def test_the_store_key_manager_roles():
    assert parse_store(entry()).manager_roles == ("Manager", "Менеджер", "Gerente")
    config = parse_store(entry(manager_roles=["Sales lead"]))
    assert config.manager_roles == ("Sales lead",) and config.to_dict()["manager_roles"] == ["Sales lead"]
    with pytest.raises(ConfigError, match="manager_roles"):
        parse_store(entry(manager_roles=[]))
