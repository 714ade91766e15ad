"""Deterministic reference data for the RO App sandbox: locations, order types, order
statuses, order custom fields and employees. People, products and orders start empty;
the sync creates them.

Ids come from separate ranges (branches 101.., statuses 201.., order types 301..,
custom fields 401.., employees 501..) so that a client mixing one kind of id up with
another gets a 422 instead of a silent match.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

BRANCH_NAMES = [
    "Online store", "Kyiv, Khreshchatyk 1", "Lviv, Rynok Square 10", "Odesa, Derybasivska 5",
    "Kharkiv, Sumska 20", "Dnipro, Yavornytskoho 50",
]
ORDER_TYPE_NAMES = ["Online order", "Repair", "Sale", "Warranty repair"]
# (name, colour, group type, group name): the groups RO App sorts statuses into.
STATUSES = [
    ("New", "#2196f3", "new", "New"),
    ("In work", "#ff9800", "in_progress", "In progress"),
    ("Awaiting parts", "#9c27b0", "postponed", "Postponed"),
    ("Awaiting payment", "#795548", "postponed", "Postponed"),
    ("Ready", "#4caf50", "ready", "Ready"),
    ("Shipped", "#00bcd4", "delivery", "Delivery"),
    ("Delivered", "#009688", "closed_success", "Closed successfully"),
    ("Completed", "#8bc34a", "closed_success", "Closed successfully"),
    ("Canceled", "#f44336", "closed_failure", "Closed unsuccessfully"),
    ("Returned", "#607d8b", "closed_failure", "Closed unsuccessfully"),
]
# The four fields RO App's own Cartum connector fills, plus one the sync must leave alone.
CUSTOM_FIELDS = [
    ("Store", "text"), ("External ID", "text"), ("Created", "datetime"), ("Last update", "datetime"),
    ("Device serial", "text"),
]
FIRST_NAMES = ["Olena", "Andrii", "Iryna", "Dmytro", "Oksana", "Taras", "Nataliia", "Serhii", "Kateryna",
               "Oleksandr", "Yuliia", "Bohdan"]
LAST_NAMES = ["Shevchenko", "Kovalenko", "Bondarenko", "Tkachenko", "Kravchenko", "Melnyk", "Boiko", "Koval",
              "Moroz", "Lysenko", "Savchenko", "Rudenko"]


@dataclass
class RoAppSeedConfig:
    """What to generate. ``now`` is only recorded as ``generated_at``; everything else
    depends on ``seed``, ``locations`` and ``employees`` alone."""

    seed: int = 42
    locations: int = 3
    employees: int = 8
    now: datetime | None = None


def generate(config: RoAppSeedConfig | None = None) -> dict[str, Any]:
    """A JSON-able starting state for ``RoAppSandbox``.

    Employees: ``employees - 3`` active Managers (the first has access to every location,
    the others to one location each, round robin, sometimes a second one), then one
    inactive Manager, one Engineer and one Administrator.
    """
    config = config or RoAppSeedConfig()
    if config.locations < 1:
        raise ValueError("locations must be at least 1")
    if config.employees < 4:
        raise ValueError("employees must be at least 4 (managers, an inactive one, an engineer, an admin)")
    rng = random.Random(config.seed)
    branches = [{"id": 101 + i, "name": BRANCH_NAMES[i] if i < len(BRANCH_NAMES) else f"Location {i + 1}"}
                for i in range(config.locations)]
    branch_ids = [b["id"] for b in branches]
    return {
        "generated_at": config.now.astimezone(timezone.utc).isoformat() if config.now else None,
        "branches": branches,
        "order_types": [{"id": 301 + i, "name": name} for i, name in enumerate(ORDER_TYPE_NAMES)],
        "statuses": [{"id": 201 + i, "name": name, "color": color, "group": {"type": group, "name": group_name}}
                     for i, (name, color, group, group_name) in enumerate(STATUSES)],
        "custom_fields": [{"id": 401 + i, "title": title, "type": kind}
                          for i, (title, kind) in enumerate(CUSTOM_FIELDS)],
        "employees": _employees(rng, config.employees, branch_ids),
        "people": [],
        "products": [],
        "orders": [],
    }


def _employees(rng: random.Random, count: int, branch_ids: list[int]) -> list[dict[str, Any]]:
    names = rng.sample([(f, last) for f in FIRST_NAMES for last in LAST_NAMES], min(count, 144))
    managers = count - 3
    people = []
    for i in range(count):
        first, last = names[i % len(names)]
        if i == 0:
            role, active, access = "Manager", True, list(branch_ids)
        elif i < managers:
            access = {branch_ids[(i - 1) % len(branch_ids)]}
            if rng.random() < 0.3:
                access.add(rng.choice(branch_ids))
            role, active, access = "Manager", True, sorted(access)
        elif i == managers:
            role, active, access = "Manager", False, [branch_ids[0]]
        elif i == managers + 1:
            role, active, access = "Engineer", True, [branch_ids[-1]]
        else:
            role, active, access = "Administrator", True, list(branch_ids)
        email = f"{first}.{last}".lower() + (f".{i}" if i >= len(names) else "") + "@example.com"
        people.append({"id": 501 + i, "first_name": first, "last_name": last, "email": email, "role": role,
                       "is_active": active, "branch_ids": access})
    return people
