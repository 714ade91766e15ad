"""Reads (and for test setup, writes) a test Airflow metadata database, run as a separate
process with the venv's Python and AIRFLOW_HOME set: the test process itself is bound to
another Airflow home. The only argument is a JSON object:

    {"put_connections": [{conn_id, conn_type, host, login, password}],
     "add_stores": [entries to append to cartum_roapp_stores],
     "get_connections": [conn_id, ...],
     "put_runs": [{dag_id, run_id, state, tasks: {task_id: state}}],   (the DAG unpaused)
     "set_runs": [{dag_id, run_id, state}],
     "get_runs": [dag_id, ...]}

and it prints {"variable": <its text or null>, "connections": {conn_id: {...} or null},
"runs": {dag_id: {"paused": bool or null, "runs": {run_id: {"state", "tasks": {task_id: state}}}}}}.
"""

from __future__ import annotations

import json
import sys


def main() -> None:
    request = json.loads(sys.argv[1])
    from airflow.models import Connection, Variable
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        for fields in request.get("put_connections", []):
            existing = session.scalar(select(Connection).where(Connection.conn_id == fields["conn_id"]))
            if existing is not None:
                session.delete(existing)
                session.flush()
            session.add(Connection(**fields))
        _put_runs(session, request.get("put_runs", []))
        for change in request.get("set_runs", []):
            from airflow.models import DagRun

            run = session.scalar(select(DagRun).where(DagRun.dag_id == change["dag_id"],
                                                      DagRun.run_id == change["run_id"]))
            run.state = change["state"]
        if request.get("add_stores"):
            variable = session.scalar(select(Variable).where(Variable.key == "cartum_roapp_stores"))
            stores = json.loads(variable.val) if variable is not None and variable.val else []
            Variable.set("cartum_roapp_stores", json.dumps(stores + request["add_stores"]), session=session)
    with create_session() as session:
        variable = session.scalar(select(Variable).where(Variable.key == "cartum_roapp_stores"))
        connections = {}
        for conn_id in request.get("get_connections", []):
            conn = session.scalar(select(Connection).where(Connection.conn_id == conn_id))
            connections[conn_id] = None if conn is None else {
                "conn_type": conn.conn_type, "host": conn.host, "login": conn.login, "password": conn.password}
        runs = {dag_id: _runs(session, dag_id) for dag_id in request.get("get_runs", [])}
        print(json.dumps({"variable": variable.val if variable is not None else None, "connections": connections,
                          "runs": runs}))


def _put_runs(session, runs: list[dict]) -> None:
    """A DAG Airflow knows (as after a parse) with runs and task instances in given states."""
    from airflow.models import DagModel, DagRun, TaskInstance
    from airflow.models.dagbundle import DagBundleModel
    from datetime import datetime, timezone
    from sqlalchemy import select

    for spec in runs:
        if session.get(DagBundleModel, "dags-folder") is None:
            session.add(DagBundleModel(name="dags-folder"))
            session.flush()
        if session.scalar(select(DagModel).where(DagModel.dag_id == spec["dag_id"])) is None:
            session.add(DagModel(dag_id=spec["dag_id"], bundle_name="dags-folder", is_paused=False, is_stale=False,
                                 max_active_tasks=16, max_consecutive_failed_dag_runs=0,
                                 has_task_concurrency_limits=False))
            session.flush()
        now = datetime.now(timezone.utc)
        session.add(DagRun(dag_id=spec["dag_id"], run_id=spec["run_id"], run_type="scheduled", state=spec["state"],
                           start_date=now, run_after=now, logical_date=now))
        session.flush()
        for task_id, state in spec.get("tasks", {}).items():
            # Built as a row: the model wants an operator to build one, the CLI reads only the row.
            session.execute(TaskInstance.__table__.insert().values(
                id=_uuid(), task_id=task_id, dag_id=spec["dag_id"], run_id=spec["run_id"], map_index=-1,
                state=state, pool="default_pool", pool_slots=1, try_number=1, max_tries=0, priority_weight=1,
                queue="default", operator="PythonOperator", executor_config=b"\x80\x04}\x94.", hostname="",
                unixname="", span_status="not_started"))


def _uuid():
    import uuid

    return uuid.uuid4()


def _runs(session, dag_id: str) -> dict:
    from airflow.models import DagModel, DagRun, TaskInstance
    from sqlalchemy import select

    found = {"paused": session.scalar(select(DagModel.is_paused).where(DagModel.dag_id == dag_id)), "runs": {}}
    for run in session.scalars(select(DagRun).where(DagRun.dag_id == dag_id)):
        tasks = dict(session.execute(select(TaskInstance.task_id, TaskInstance.state).where(
            TaskInstance.dag_id == dag_id, TaskInstance.run_id == run.run_id)).all())
        found["runs"][run.run_id] = {"state": str(run.state), "tasks": {k: None if v is None else str(v) for k, v in tasks.items()}}
    return found


if __name__ == "__main__":
    main()
