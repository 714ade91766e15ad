"""Through the DAG: a run that finds nothing changed skips ``transform`` (the task raises
Airflow's skip), the tasks after it are skipped by their trigger rule, and ``finish_run``
(trigger rule ``all_done``) still runs and records a successful no-change run.

The tasks run here through the DAG's own task callables, with the connections Airflow
would give them (environment connections), against the sandboxes. The scheduler's part,
deciding each task's state from its upstream tasks' states, follows the trigger rules
each task declares, as Airflow documents them: ``all_success`` is skipped when an
upstream task was skipped, ``all_done`` runs once every upstream task is finished."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cartum_roapp_sync.dags import build_store_dag
from cartum_roapp_sync.pipeline.steps import SKIPPED_WHEN_UNCHANGED
from tests.conftest import CARTUM_LOGIN, CARTUM_PASSWORD, ROAPP_KEY, seeded_cartum
from tests.pipeline.harness import store_config


@pytest.fixture
def small_cartum():
    yield from seeded_cartum(seed=11, orders=60, products=30, customers=20, days=90)


def connect(monkeypatch, conn_id: str, **fields: Any) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(fields))


def run_dag(dag, run_id: str) -> tuple[dict[str, str], Any]:
    """One DAG run: each task once its upstream tasks are finished, its state decided by its
    trigger rule. Returns every task's state and what ``finish_run`` pushed to XCom."""
    from airflow.sdk.exceptions import AirflowSkipException

    states: dict[str, str] = {}
    result = None
    while len(states) < len(dag.tasks):
        for task in dag.tasks:
            upstream = [states.get(t) for t in task.upstream_task_ids]
            if task.task_id in states or None in upstream:
                continue
            if task.trigger_rule == "all_success" and {"failed", "upstream_failed"} & set(upstream):
                states[task.task_id] = "upstream_failed"
                continue
            if task.trigger_rule == "all_success" and "skipped" in upstream:
                states[task.task_id] = "skipped"
                continue
            assert task.trigger_rule in ("all_success", "all_done"), task.trigger_rule
            try:
                got = task.python_callable(**task.op_kwargs, run_id=run_id, params={"reconcile": False},
                                           prev_start_date_success=None)
            except AirflowSkipException:
                states[task.task_id] = "skipped"
                continue
            states[task.task_id] = "success"
            if task.task_id == "finish_run":
                result = got
    return states, result


def test_a_no_change_run_skips_its_tasks_after_the_extracts(small_cartum, roapp_sandbox, tmp_path, monkeypatch):
    connect(monkeypatch, "cartum_roapp_state", conn_type="sqlite", host=str(tmp_path / "state.db"))
    connect(monkeypatch, "cartum_demo", conn_type="cartum", host=small_cartum.url, login=CARTUM_LOGIN,
            password=CARTUM_PASSWORD, extra={"requests_per_second": 50})
    connect(monkeypatch, "roapp_default", conn_type="roapp", host=roapp_sandbox.url, password=ROAPP_KEY)
    monkeypatch.setenv("CARTUM_ROAPP_RATE_WINDOW", "0.05")   # the sandbox enforces no limit here
    dag = build_store_dag(store_config(roapp_sandbox.admin.state()))

    for run_id in ("scheduled__1", "scheduled__2"):   # the first import, then the first incremental run
        states, result = run_dag(dag, run_id)
        assert set(states.values()) == {"success"} and result["no_change"] is False, (run_id, states)

    states, result = run_dag(dag, "scheduled__3")
    assert {t: states[t] for t in SKIPPED_WHEN_UNCHANGED} == {t: "skipped" for t in SKIPPED_WHEN_UNCHANGED}
    assert {t: s for t, s in states.items() if t not in SKIPPED_WHEN_UNCHANGED} == {
        t: "success" for t in ("validate_setup", "extract_orders", "extract_products", "extract_customers",
                               "finish_run")}
    assert (result["status"], result["mode"], result["no_change"]) == ("success", "incremental", True)
    assert result["roapp_writes"] == 0
    assert result["entities"]["orders"]["unchanged"] == result["entities"]["orders"]["extracted"] > 0
