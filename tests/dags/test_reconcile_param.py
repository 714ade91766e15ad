"""The DAG's ``reconcile`` param: shown in the trigger form (off by default), and a run
triggered with it on makes a reconcile pass. The store's tasks run here through the DAG's
own task callables, with the connections Airflow would give them (environment
connections), against the sandboxes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cartum_roapp_sync.dags import build_store_dag
from cartum_roapp_sync.entities import ORDERS
from cartum_roapp_sync.state.cursors import shift
from cartum_roapp_sync.state.db import get_engine
from cartum_roapp_sync.state.store import StateStore
from tests.conftest import CARTUM_LOGIN, CARTUM_PASSWORD, ROAPP_KEY, seeded_cartum
from tests.pipeline import checks
from tests.pipeline.harness import store_config


@pytest.fixture
def small_cartum():
    yield from seeded_cartum(seed=11, orders=60, products=30, customers=20, days=90)


def connect(monkeypatch, conn_id: str, **fields: Any) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(fields))


def run_dag(dag, run_id: str, params: dict[str, Any]) -> Any:
    """Every task of one DAG run, in the graph's order, as Airflow calls it; returns what
    ``finish_run`` pushes to XCom."""
    done: set[str] = set()
    result = None
    while len(done) < len(dag.tasks):
        for task in dag.tasks:
            if task.task_id in done or not task.upstream_task_ids <= done:
                continue
            result = task.python_callable(**task.op_kwargs, run_id=run_id, params=params,
                                          prev_start_date_success=None)
            done.add(task.task_id)
    return result


def test_the_reconcile_param_is_off_by_default_and_a_boolean(roapp_sandbox):
    dag = build_store_dag(store_config(roapp_sandbox.admin.state()))
    param = dag.params.get_param("reconcile")
    assert param.value is False and param.schema["type"] == "boolean"
    assert "reconcile" in dag.doc_md and "cartum-roapp stores reconcile demo" in dag.doc_md


def test_a_run_triggered_with_reconcile_on_finds_a_back_dated_order(small_cartum, roapp_sandbox, tmp_path,
                                                                     monkeypatch):
    state_file = tmp_path / "state.db"
    connect(monkeypatch, "cartum_roapp_state", conn_type="sqlite", host=str(state_file))
    connect(monkeypatch, "cartum_demo", conn_type="cartum", host=small_cartum.url, login=CARTUM_LOGIN,
            password=CARTUM_PASSWORD, extra={"requests_per_second": 50})
    connect(monkeypatch, "roapp_default", conn_type="roapp", host=roapp_sandbox.url, password=ROAPP_KEY)
    monkeypatch.setenv("CARTUM_ROAPP_RATE_WINDOW", "0.05")   # the sandbox enforces no limit here
    config = store_config(roapp_sandbox.admin.state())
    dag = build_store_dag(config)
    state = StateStore(get_engine(f"sqlite:///{state_file}"), config.store_id)

    imported = run_dag(dag, "scheduled__1", {"reconcile": False})
    assert (imported["status"], imported["mode"], imported["found_by_reconcile"]) == ("success", "first_import", 0)

    cartum = small_cartum.admin.state()
    buyer = next(o for o in cartum["orders"] if o["delivery_phone"] and o["user"] is None)
    late = max(o["order_id"] for o in cartum["orders"]) + 1
    created = shift(state.cursor(ORDERS).value, -3 * 24 * 60)
    small_cartum.admin.action("upsert_orders", [{
        **{k: buyer[k] for k in ("delivery_name", "delivery_phone", "delivery_email", "delivery_city", "lang")},
        "order_id": late, "stat_status": 1, "stat_created": created, "user": None,
        "products": [{"article": cartum["products"][0]["article"], "quantity": 1}]}])

    scheduled = run_dag(dag, "scheduled__2", {"reconcile": False})
    assert (scheduled["mode"], scheduled["found_by_reconcile"]) == ("incremental", 0)

    triggered = run_dag(dag, "manual__3", {"reconcile": True})
    assert (triggered["status"], triggered["mode"], triggered["found_by_reconcile"]) == ("success", "reconcile", 1)
    assert f"{late} (created {created}, not in RO App)" in triggered["warnings"][0]
    assert triggered["entities"]["orders"]["created"] == 1
    view = checks.RoAppView(roapp_sandbox.admin.state(), config.store_id)
    assert view.order(late)["client_id"] is not None
    checks.assert_no_duplicates(view)
