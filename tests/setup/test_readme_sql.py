"""Every SQL example of the README runs on both state databases the project supports.

The statements are read from README.md's ```sql blocks, so README and schema stay in step.
A statement whose comment names "(PostgreSQL)" or "(SQLite)" is for that database only, and
each such statement has its twin for the other one; every other statement runs on both.
On the state database of each kind, a quarantined record stuck for two days and one from
an hour ago show that the "more than a day" examples pick the first and not the second."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import delete, insert, text

from cartum_roapp_sync.state.tables import quarantine
from tests.state import conftest as state_databases

README = Path(__file__).resolve().parents[2] / "README.md"
#: The state database fixture of tests/state: SQLite, then PostgreSQL when it answers.
engine = state_databases.engine
DIALECTS = {"sqlite": "(SQLite)", "postgresql": "(PostgreSQL)"}


def sql_examples(readme: str) -> list[tuple[str, str]]:
    """(comment, statement) of every statement in the README's ```sql blocks."""
    found = []
    for block in re.findall(r"```sql\n(.*?)```", readme, flags=re.S):
        for chunk in re.split(r";[ \t]*$", block, flags=re.M):  # a statement ends with ; at a line's end
            lines = [line for line in chunk.strip().splitlines() if line.strip()]
            comment = " ".join(line.strip() for line in lines if line.strip().startswith("--"))
            statement = "\n".join(line for line in lines if not line.strip().startswith("--"))
            if statement.strip():
                found.append((comment, statement))
    return found


def for_dialect(examples: list[tuple[str, str]], dialect: str) -> list[tuple[str, str]]:
    others = [marker for name, marker in DIALECTS.items() if name != dialect]
    return [(c, s) for c, s in examples if not any(marker in c for marker in others)]


def test_the_readme_has_sql_examples_and_each_database_specific_one_has_its_twin():
    examples = sql_examples(README.read_text(encoding="utf-8"))
    assert len(examples) >= 4
    counts = {name: sum(marker in c for c, _ in examples) for name, marker in DIALECTS.items()}
    assert counts["sqlite"] == counts["postgresql"], counts


def test_every_readme_sql_example_runs(engine, request):
    """``engine``: the state database on SQLite, then on PostgreSQL (tests/state/conftest.py)."""
    state_engine = engine
    store_id = f"t_readme_{uuid.uuid4().hex[:12]}"  # PostgreSQL is shared: rows of this test's own store
    now = datetime.now(timezone.utc)
    rows = [{"store_id": store_id, "run_id": "r", "entity": "orders", "source_key": key, "stage": "quality",
             "reason": "test", "created_at": seen, "first_seen_at": seen, "last_seen_at": now, "attempts": 3}
            for key, seen in (("stuck", now - timedelta(days=2)), ("fresh", now - timedelta(hours=1)))]
    examples = for_dialect(sql_examples(README.read_text(encoding="utf-8")), state_engine.dialect.name)
    try:
        with state_engine.begin() as connection:
            connection.execute(insert(quarantine), rows)
        with state_engine.connect() as connection:
            for comment, statement in examples:
                try:
                    result = connection.execute(text(statement)).mappings().all()
                except Exception as exc:  # noqa: BLE001 - reported with the statement
                    pytest.fail(f"{state_engine.dialect.name} refuses the README's {comment!r}:\n{statement}\n{exc}")
                if "more than a day" in comment:
                    keys = {r["source_key"] for r in result if r["store_id"] == store_id}
                    assert keys == {"stuck"}, (comment, keys)
    finally:
        with state_engine.begin() as connection:
            connection.execute(delete(quarantine).where(quarantine.c.store_id == store_id))
