"""DAG integrity: the DAG file loads with 1 and with 200 stores, a broken store entry
affects only itself, parsing touches nothing but the Variable, and every DAG has the
shape and settings the README promises."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path

import pytest

from cartum_roapp_sync.dags import schedule_minute

DAGS_FOLDER = Path(__file__).resolve().parents[2] / "dags"
TASKS = ["validate_setup", "extract_orders", "extract_customers", "extract_products", "transform", "check_quality",
         "load_clients", "load_products", "load_orders", "finish_run"]


def store(store_id: str, **overrides) -> dict:
    entry = {"store_id": store_id, "name": f"Shop {store_id}", "cartum_conn_id": f"cartum_{store_id}",
             "location_id": 101, "order_type_id": 301, "language": "ua", "product_key": "sku",
             "managers": "all", "status_map": {"1": 201, "2": 202, "3": 207, "4": 209, "6": 206}}
    entry.update(overrides)
    return entry


def load_dagbag(monkeypatch, stores) -> "DagBag":  # noqa: F821
    from airflow.dag_processing.dagbag import DagBag

    if stores is None:
        monkeypatch.delenv("AIRFLOW_VAR_CARTUM_ROAPP_STORES", raising=False)
    else:
        monkeypatch.setenv("AIRFLOW_VAR_CARTUM_ROAPP_STORES", stores if isinstance(stores, str) else json.dumps(stores))
    return DagBag(dag_folder=str(DAGS_FOLDER))


def test_one_store(monkeypatch):
    bag = load_dagbag(monkeypatch, [store("kyiv")])
    assert bag.import_errors == {}
    assert list(bag.dags) == ["cartum_roapp__kyiv"]
    dag = bag.dags["cartum_roapp__kyiv"]
    assert sorted(t.task_id for t in dag.tasks) == sorted(TASKS)
    assert dag.catchup is False and dag.max_active_runs == 1
    minute = schedule_minute("kyiv")
    assert dag.timetable.expression == f"{minute}-59/5 * * * *"
    assert f"schedule `{minute}-59/5 * * * *`" in dag.doc_md and f":{minute:02d}, :{minute + 5:02d}" in dag.doc_md
    assert {"cartum", "roapp", "store:kyiv"} <= set(dag.tags)
    assert "Shop kyiv" in dag.doc_md
    extract = dag.get_task("extract_orders")
    assert extract.retries == 3 and extract.retry_exponential_backoff
    assert extract.max_retry_delay == timedelta(minutes=10)
    assert dag.get_task("finish_run").trigger_rule == "all_done"
    assert dag.get_task("load_orders").upstream_task_ids == {"load_products"}
    assert dag.get_task("transform").upstream_task_ids == {"extract_products", "extract_customers"}
    assert dag.get_task("extract_orders").upstream_task_ids == {"validate_setup"}
    assert dag.get_task("validate_setup").upstream_task_ids == set(), "validate_setup starts the run"


def test_a_task_runs_its_step_as_the_task_runner_calls_it(monkeypatch):
    """Each task hands its step, the store's settings and Airflow's context to the step
    function, run the way Airflow's task runner runs a task (a copy prepared for execution,
    ``execute`` behind the runner's safeguard), and Airflow gets back what the step returned."""
    from airflow.sdk.execution_time.task_runner import _run_execute_callable

    import cartum_roapp_sync.dags as dags

    calls = []
    monkeypatch.setattr(dags, "_run_task", lambda step, store, **context: calls.append((step, store, context))
                        or {"step": step})
    dag = load_dagbag(monkeypatch, [store("kyiv")]).dags["cartum_roapp__kyiv"]
    task = dag.get_task("finish_run").prepare_for_execution()
    context = {"run_id": "scheduled__1", "params": {"reconcile": False}}
    assert _run_execute_callable(context, task.execute, task) == {"step": "finish_run"}
    assert [(step, s["store_id"], c["run_id"]) for step, s, c in calls] == [("finish_run", "kyiv", "scheduled__1")]
    assert task.template_fields == () and task.retries == 0 and task.trigger_rule == "all_done"


def test_two_hundred_stores(monkeypatch, capsys):
    stores = [store(f"shop_{i:03d}") for i in range(200)]
    started = time.monotonic()
    bag = load_dagbag(monkeypatch, stores)
    elapsed = time.monotonic() - started
    assert bag.import_errors == {}
    assert len(bag.dags) == 200
    with capsys.disabled():
        print(f"\nparsed 200 store DAGs in {elapsed:.1f} s")


def test_disabled_stores_get_no_dag(monkeypatch):
    bag = load_dagbag(monkeypatch, [store("on"), store("off", enabled=False)])
    assert list(bag.dags) == ["cartum_roapp__on"]


def test_a_broken_entry_affects_only_itself(monkeypatch):
    stores = [store("good_one"), store("bad", language="Ukrainian", location_id="x"), store("good_two"),
              {"name": "no id at all"}, store("good_one")]
    bag = load_dagbag(monkeypatch, stores)
    assert bag.import_errors == {}
    assert {"cartum_roapp__good_one", "cartum_roapp__good_two"} <= set(bag.dags)
    broken = bag.dags["cartum_roapp__bad"]
    assert "config-error" in broken.tags
    assert "language" in broken.doc_md and "location_id" in broken.doc_md
    assert [t.task_id for t in broken.tasks] == ["report_config_error"]
    assert broken.schedule is None
    assert any("entry_4" in dag_id for dag_id in bag.dags)       # the entry without a store_id
    assert any("used by an earlier entry" in (d.doc_md or "") for d in bag.dags.values())  # duplicate id
    # the good DAGs are complete
    assert len(bag.dags["cartum_roapp__good_two"].tasks) == len(TASKS)


def test_no_variable_means_no_dags(monkeypatch):
    bag = load_dagbag(monkeypatch, None)
    assert bag.import_errors == {} and bag.dags == {}


def test_a_variable_that_is_not_an_array_is_an_import_error(monkeypatch):
    bag = load_dagbag(monkeypatch, '{"store_id": "x"}')
    assert len(bag.import_errors) == 1
    assert "must be a JSON array" in next(iter(bag.import_errors.values()))


def test_parsing_reads_no_connection_and_no_database(monkeypatch, tmp_path):
    import os

    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    before = set(os.listdir(tmp_path))
    bag = load_dagbag(monkeypatch, [store("x", cartum_conn_id="does_not_exist", roapp_conn_id="nor_this")])
    assert bag.import_errors == {} and "cartum_roapp__x" in bag.dags
    assert set(os.listdir(tmp_path)) == before  # no state database was created


@pytest.mark.parametrize("importer", ["cartum_roapp_sync.quality", "great_expectations", "pandas",
                                      "cartum_roapp_sync.pipeline.steps", "cartum_roapp_sync.state.store"])
def test_dag_file_does_not_import_heavy_modules(importer):
    import subprocess
    import sys

    code = ("import json, os, sys; os.environ['AIRFLOW_VAR_CARTUM_ROAPP_STORES'] = json.dumps([%r]);"
            "from airflow.dag_processing.dagbag import DagBag; DagBag(dag_folder=%r);"
            "print(%r in sys.modules)") % (store("x"), str(DAGS_FOLDER), importer)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "False"


def test_each_store_runs_at_its_own_minute_of_the_five(monkeypatch):
    """The fleet spreads over the 5 minutes: each DAG's runs come every 5 minutes, at the
    minute its store id gives, and never all on the same one."""
    import pendulum
    from airflow.sdk.definitions.timetables.trigger import CronTriggerTimetable
    from airflow.timetables.base import DataInterval, TimeRestriction
    from airflow.serialization.encoders import coerce_to_core_timetable

    ids = [f"shop_{i:03d}" for i in range(20)]
    bag = load_dagbag(monkeypatch, [store(i) for i in ids])
    minutes = set()
    for store_id in ids:
        dag = bag.dags[f"cartum_roapp__{store_id}"]
        assert isinstance(dag.timetable, CronTriggerTimetable)
        core = coerce_to_core_timetable(dag.timetable)
        last = pendulum.datetime(2026, 11, 29, 10, 0, tz="UTC")
        starts = []
        for _ in range(3):
            info = core.next_dagrun_info(last_automated_data_interval=DataInterval(last, last),
                                         restriction=TimeRestriction(earliest=None, latest=None, catchup=True))
            last = info.run_after
            starts.append(last)
        assert [(s.minute % 5, s.second) for s in starts] == [(schedule_minute(store_id), 0)] * 3
        assert [(b - a).total_seconds() for a, b in zip(starts, starts[1:])] == [300, 300]
        minutes.add(schedule_minute(store_id))
    assert len(minutes) >= 3, "20 stores all on one or two minutes: the offsets do not spread"


def test_a_stores_minute_is_stable_and_the_fleet_spreads_evenly():
    """The same in another process (Python salts ``hash`` per process) and on every parse;
    over 1,000 ids each minute holds between 15 % and 25 % of the stores."""
    import subprocess
    import sys
    from collections import Counter

    ids = [f"store-{i}" for i in range(1000)]
    here = [schedule_minute(i) for i in ids]
    code = ("import json, sys; from cartum_roapp_sync.dags import schedule_minute; "
            "print(json.dumps([schedule_minute(i) for i in json.load(sys.stdin)]))")
    for seed in ("1", "2"):
        other = subprocess.run([sys.executable, "-c", code], input=json.dumps(ids), capture_output=True, text=True,
                               env={**__import__("os").environ, "PYTHONHASHSEED": seed}, timeout=120)
        assert other.returncode == 0, other.stderr
        assert json.loads(other.stdout) == here
    counts = Counter(here)
    assert set(counts) == {0, 1, 2, 3, 4}
    assert all(150 <= n <= 250 for n in counts.values()), counts
