"""Through the DAG: an ordinary 5-minute run that finds nothing changed is one task.
``validate_setup`` reads the tick itself, records the run (a successful no-change run) and
skips every task after it, ``finish_run`` included (Airflow's ``SkipMixin.skip``: the
task raises ``DownstreamTasksSkipped`` with the tasks to skip and succeeds). A run that
changed something goes on: its extract tasks find their reads done, the rest runs.

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
from cartum_roapp_sync.pipeline.rundata import RunData
from cartum_roapp_sync.state.db import get_engine
from cartum_roapp_sync.state.store import StateStore
from tests.conftest import CARTUM_LOGIN, CARTUM_PASSWORD, ROAPP_KEY, seeded_cartum
from tests.pipeline.harness import store_config


@pytest.fixture
def small_cartum():
    yield from seeded_cartum(seed=11, orders=60, products=30, customers=20, days=90)


def connect(monkeypatch, conn_id: str, **fields: Any) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(fields))


class TaskInstance:
    """What a task body uses of Airflow's task instance: XCom pushes, and the map index
    ``SkipMixin.skip`` reads (an unmapped task)."""

    map_index = -1

    def __init__(self):
        self.xcom: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcom[key] = value


def run_dag(dag, run_id: str) -> tuple[dict[str, str], Any]:
    """One DAG run: each task once its upstream tasks are finished, its state decided by its
    trigger rule or by a task before it that skipped it. Returns every task's state and what
    ``finish_run`` returned (None when it was skipped)."""
    from airflow.sdk.exceptions import AirflowSkipException, DownstreamTasksSkipped

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
                                           prev_start_date_success=None, task=task, ti=TaskInstance())
            except AirflowSkipException:
                states[task.task_id] = "skipped"
                continue
            except DownstreamTasksSkipped as skip:   # the task succeeds; Airflow skips the tasks named
                states[task.task_id] = "success"
                states.update({name: "skipped" for name in skip.tasks})
                continue
            states[task.task_id] = "success"
            if task.task_id == "finish_run":
                result = got
    return states, result


def test_a_no_change_tick_is_one_task(small_cartum, roapp_sandbox, tmp_path, monkeypatch):
    connect(monkeypatch, "cartum_roapp_state", conn_type="sqlite", host=str(tmp_path / "state.db"))
    connect(monkeypatch, "cartum_demo", conn_type="cartum", host=small_cartum.url, login=CARTUM_LOGIN,
            password=CARTUM_PASSWORD, extra={"requests_per_second": 50})
    connect(monkeypatch, "roapp_default", conn_type="roapp", host=roapp_sandbox.url, password=ROAPP_KEY)
    monkeypatch.setenv("CARTUM_ROAPP_RATE_WINDOW", "0.05")   # the sandbox enforces no limit here
    config = store_config(roapp_sandbox.admin.state())
    dag = build_store_dag(config)

    for run_id in ("scheduled__1", "scheduled__2"):   # the first import, then the first incremental run
        states, result = run_dag(dag, run_id)
        assert set(states.values()) == {"success"} and result["no_change"] is False, (run_id, states)

    states, result = run_dag(dag, "scheduled__3")
    assert states == {"validate_setup": "success", **{t.task_id: "skipped" for t in dag.tasks
                                                      if t.task_id != "validate_setup"}}
    assert result is None   # finish_run never ran: validate_setup recorded the run
    state = StateStore(get_engine(f"sqlite:///{tmp_path / 'state.db'}"), "demo")
    summary = state.run_summary("scheduled__3")
    run = summary["run"]
    assert (run["status"], run["mode"], run["no_change"], run["roapp_writes"]) == ("success", "incremental",
                                                                                  True, 0)
    assert summary["entities"]["orders"]["unchanged"] == summary["entities"]["orders"]["extracted"] > 0
    assert {step: status for step, (status, _) in state.step_outcomes("scheduled__3").items()} == {
        "validate_setup": "done", "extract_orders": "done", "extract_customers": "done",
        "extract_products": "done", **{name: "skipped" for name in SKIPPED_WHEN_UNCHANGED}}

    # A change in Cartum: the next tick is read by validate_setup too, and goes on; its
    # extract tasks find their reads done (no second read), the rest runs and loads it.
    order = next(o for o in small_cartum.admin.state()["orders"] if o["order_id"] in
                 RunData(state, "scheduled__3").plan().open_order_ids)
    status = min(int(k) for k in config.status_map if int(k) != order["stat_status"])
    small_cartum.admin.action("upsert_orders", [{**order, "stat_status": status}])
    before = len(small_cartum.admin.requests())
    states, result = run_dag(dag, "scheduled__4")
    assert set(states.values()) == {"success"} and result["no_change"] is False, states
    assert result["cartum_calls"] == len(small_cartum.admin.requests()) - before
    assert result["entities"]["orders"]["updated"] == 1
