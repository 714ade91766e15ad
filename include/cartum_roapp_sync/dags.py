"""Builds one Airflow DAG per enabled store from the ``cartum_roapp_stores`` Variable.

Parse time does only what the DAG shape needs: read and validate the Variable, once. No
connection, no network, no state database. A store entry that fails validation gets a
placeholder DAG of the same id that shows the error (in its docs, its tags and its one
task's failure) and never touches anything; every other store's DAG loads as usual.
"""

from __future__ import annotations

import hashlib
import logging
import re
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG, BaseOperator, Param, SkipMixin

from .config import VARIABLE_NAME, ConfigError, StoreConfig, parse_store, parse_stores

log = logging.getLogger(__name__)

#: The fleet's cadence. Each store's DAG runs at its own minute of it (``schedule_for``).
SCHEDULE = "*/5 * * * *"
EVERY_MINUTES = 5
START_DATE = datetime(2026, 1, 1, tzinfo=timezone.utc)
DEFAULT_ARGS = {
    "owner": "cartum-roapp-sync",
    "retries": 3,
    "retry_delay": timedelta(seconds=30),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=10),
    "execution_timeout": timedelta(hours=2),
}
TAGS = ["cartum", "roapp", "sync"]

DAG_DOC = """\
### Cartum → RO App: {name}

Keeps the Cartum store **{name}** (`{store_id}`) in step with RO App every 5 minutes, at
the store's minute: {minutes} past every hour (schedule `{schedule}`). Each store has its
own minute, derived from its id, so the stores' runs spread over the 5 minutes instead of
starting together. Orders, their clients and products, statuses mapped through the store's
`status_map`.

| setting | value |
|---|---|
| Cartum connection | `{cartum_conn_id}` |
| RO App connection | `{roapp_conn_id}` |
| RO App location / order type | {location_id} / {order_type_id} |
| language, product key | `{language}`, `{product_key}` |
| first import | last {import_days} days, skipping statuses {skip_statuses_on_import} |

Steps: `validate_setup` (starts the run, then checks the setup) → `extract_orders` →
`extract_products`, `extract_customers` → `transform` → `check_quality` → `load_clients` →
`load_products` → `load_orders` → `finish_run`.
`validate_setup` stops the run, before anything is read, when the setup is broken (a changed
password, a removed location, a Cartum status not matched in `status_map`).
A run that reads exactly what the last run that loaded had read has nothing to write. In
an ordinary 5-minute run `validate_setup` reads the changes itself and, when there are
none, records the run and shows every step after it as **skipped** (one task for the whole
tick). Other runs (first import, reconcile, backfill, catalogue refresh, the hourly re-read
of final orders) read in the extract steps and do their work.

**Reconcile pass.** Once a night (the first run from {reconcile_hour}:00 store time) a run
also re-reads every order created in the last {reconcile_days} days and loads what RO App
lacks or holds differently: orders that became visible with an older creation time
(back-dated, imported, the repeated hour of a clock change). To ask for one now, trigger
the DAG with **reconcile** switched on (Trigger DAG → run parameters, or
`{{"reconcile": true}}` as the run's conf), or run `cartum-roapp stores reconcile {store_id}`.
What it found is counted in the run history (`runs.found_by_reconcile`, `runs.warnings`).

**Run history.** Browse → **Sync history** shows this store's runs, its open quarantine
and any order's story (`cartum-roapp history --store {store_id}` on the command line).

**Quarantined records.** A run that held records back says so in its note (the run's
"Note" in the grid: the count and the first reasons). All of them are on the Sync history
page, and, with the record and how often each failed, in the state database's `quarantine` table (connection
`cartum_roapp_state`; without it `$AIRFLOW_HOME/cartum_roapp_state.db`):
`SELECT entity, source_key, stage, reason, attempts FROM quarantine WHERE store_id = '{store_id}'
AND resolved_at IS NULL ORDER BY id;`
"""


def schedule_minute(store_id: str) -> int:
    """The store's minute within the 5-minute cadence (0-4): derived from its id, the same
    in every process and on every machine (not Python's salted ``hash``)."""
    return int.from_bytes(hashlib.sha256(store_id.encode("utf-8")).digest()[:4], "big") % EVERY_MINUTES


def schedule_for(store_id: str) -> str:
    """The store's cron schedule: every 5 minutes from its minute, e.g. ``3-59/5 * * * *``
    (:03, :08, ..., :58). Cron has no seconds, so the fleet spreads over 5 start minutes."""
    return f"{schedule_minute(store_id)}-59/{EVERY_MINUTES} * * * *"


#: The run's first step: it starts the run (its plan and history), then checks the setup.
FIRST_STEP = "validate_setup"
#: The run parameter shown in the trigger form: a reconcile pass on demand.
RECONCILE_PARAM = "reconcile"


def _run_task(step: str, store: dict[str, Any], **context: Any) -> Any:
    """Task body: rebuild the store's settings, run one step, sort errors for Airflow.

    A run that found nothing changed (``validate_setup`` finds it in a small tick, read in
    its own process): this task records the run (``finish_run``) and skips every task after
    it, ``finish_run``'s too, so the tick is one task process. A later step that returns
    ``NOTHING_CHANGED`` (only when called on such a run) skips its own task, and Airflow
    skips the tasks after it."""
    from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

    from .pipeline.errors import FatalStepError
    from .pipeline.runtime import build_context
    from .pipeline.steps import NOTHING_CHANGED, finish_run, run_step
    from .transport import FatalApiError

    config = parse_store(store)
    ctx = build_context(config, context["run_id"],
                        synced_before=previous_success(context) if step == FIRST_STEP else None)
    try:
        if step == FIRST_STEP and reconcile_asked(context):
            ctx.state.request_reconcile()   # honoured by this run's plan, like the CLI's request
        if step == "finish_run":
            try:
                return _summary_for_xcom(finish_run(ctx))
            finally:  # a failed run's note warns too; the plugin's listener writes it
                _push_run_note(ctx, context)
        result = run_step(step, ctx)
        if result is NOTHING_CHANGED and step == FIRST_STEP:
            finish_run(ctx)   # the run, recorded as a no-change run
            task = context["task"]
            task.skip(ti=context["ti"], tasks=task.get_flat_relatives(upstream=False))   # raises: Airflow skips them
        if result is NOTHING_CHANGED:
            raise AirflowSkipException(f"store {config.store_id}: nothing changed since the last run that loaded; "
                                       f"{step} and the steps after it are skipped")
        return None
    except (FatalStepError, FatalApiError, ConfigError) as exc:
        # Retrying will not help: fail now, with the message the user needs.
        raise AirflowFailException(str(exc)) from exc


def _push_run_note(ctx: Any, context: dict[str, Any]) -> None:
    """Leaves the quarantine warning for the run's note (see ``airflow_plugin``). A state
    database that cannot answer costs the note only, not the outcome ``finish_run`` reports."""
    from sqlalchemy.exc import SQLAlchemyError

    from .airflow_plugin import RUN_NOTE_KEY
    from .pipeline.steps import run_note

    try:
        note = run_note(ctx)
    except SQLAlchemyError as exc:
        log.warning("the run's quarantine note was not written (state database: %s); the quarantine table "
                    "holds the records", type(exc).__name__)
        return
    if note:
        context["ti"].xcom_push(key=RUN_NOTE_KEY, value=note)


def previous_success(context: dict[str, Any]) -> datetime | None:
    """When the DAG last succeeded, or None. The task context hands it over as a lazy proxy,
    which is never ``None`` itself, even when it stands for None: unwrap it."""
    value = context.get("prev_start_date_success")
    return getattr(value, "__wrapped__", value) or None


def reconcile_asked(context: dict[str, Any]) -> bool:
    """The run was triggered with the ``reconcile`` param on (the trigger form, or the
    run's conf, which Airflow merges into the params)."""
    params = context.get("params") or {}
    return params.get(RECONCILE_PARAM) is True


def _summary_for_xcom(summary: dict[str, Any]) -> dict[str, Any]:
    run = summary.get("run") or {}
    return {"status": run.get("status"), "mode": run.get("mode"), "no_change": run.get("no_change"),
            "cartum_calls": run.get("cartum_calls"),
            "roapp_calls": run.get("roapp_calls"), "roapp_writes": run.get("roapp_writes"),
            "found_by_reconcile": run.get("found_by_reconcile"), "warnings": run.get("warnings") or [],
            "entities": summary.get("entities")}


class SyncStepOperator(BaseOperator, SkipMixin):
    """One step of a store's run: calls ``python_callable(**op_kwargs, **context)`` (the
    step's name and the store's settings), as a PythonOperator would, but cheaper to build
    10 times per store (``bench/dag_parsing.py``): its arguments are not templates (nothing in
    them is Jinja: a store name holding ``{{`` stays as written, and parsing, serializing and
    starting a task does not walk the store's settings), and it has no ``__init__`` of its
    own, so Airflow merges the DAG's defaults and deep-copies its params once per task, not
    once per class. A ``SkipMixin``: the run's first task skips the others when nothing changed.
    Build it with ``step_task``."""

    template_fields: tuple[str, ...] = ()
    ui_color = "#ffefeb"
    # Handed over as they are when Airflow copies a task (never mutated).
    shallow_copy_attrs: tuple[str, ...] = ("python_callable", "op_kwargs")
    python_callable: Any = None
    op_kwargs: dict[str, Any] = {}

    def execute(self, context: Any) -> Any:
        return self.python_callable(**self.op_kwargs, **context)


def step_task(step: str, store: dict[str, Any], **kwargs: Any) -> SyncStepOperator:
    """The task of ``step`` for the store whose settings are ``store`` (``_run_task``)."""
    task = SyncStepOperator(task_id=step, **kwargs)
    task.python_callable = _run_task
    task.op_kwargs = {"step": step, "store": store}
    return task


def build_store_dag(config: StoreConfig) -> DAG:
    from .pipeline.graph import UPSTREAM  # names only: parsing imports none of the steps' dependencies

    store = config.to_dict()
    minute = schedule_minute(config.store_id)
    with DAG(
        dag_id=config.dag_id,
        description=f"Cartum store {config.name} → RO App, every 5 minutes (from minute {minute})",
        schedule=schedule_for(config.store_id),
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        default_args={**DEFAULT_ARGS, "queue": config.queue} if config.queue else DEFAULT_ARGS,
        doc_md=DAG_DOC.format(**store, schedule=schedule_for(config.store_id), minutes=", ".join(
            f":{m:02d}" for m in range(minute, 60, EVERY_MINUTES))),
        tags=[*TAGS, f"store:{config.store_id}"],
        params={RECONCILE_PARAM: Param(False, type="boolean", title="Reconcile",
                                       description=f"Also re-read the orders created in the last "
                                                   f"{config.reconcile_days} days and load what RO App lacks or "
                                                   f"holds differently (the nightly reconcile pass, now)")},
    ) as dag:
        tasks = {name: step_task(name, store) for name in UPSTREAM}
        for name, upstream in UPSTREAM.items():
            for parent in upstream:
                tasks[parent] >> tasks[name]
        finish = step_task("finish_run", store, trigger_rule="all_done", retries=0)
        list(tasks.values()) >> finish
    return dag


def _report_config_error(error: str, **_context: Any) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    raise AirflowFailException(error)


def build_broken_dag(label: str, error: str) -> DAG:
    """A placeholder for a store entry that does not validate: it shows the error and does nothing."""
    safe = re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_")[:48] or "entry"
    message = (f"Store entry {label!r} in the Airflow Variable {VARIABLE_NAME} is not valid: {error}. "
               f"Fix the entry; the other stores are not affected.")
    with DAG(
        dag_id=f"cartum_roapp__{safe}",
        description=f"CONFIGURATION ERROR: {error}"[:200],
        schedule=None,
        start_date=START_DATE,
        catchup=False,
        doc_md=f"### Configuration error\n\n{message}\n",
        tags=[*TAGS, "config-error"],
    ) as dag:
        PythonOperator(task_id="report_config_error", python_callable=_report_config_error,
                       op_kwargs={"error": message}, retries=0)
    return dag


def build_dags(raw: str | list[Any] | None) -> dict[str, DAG]:
    """Every store's DAG, by dag_id. ``raw`` is the Variable's value (None: no stores)."""
    try:
        parsed = parse_stores(raw)
    except ConfigError as exc:
        log.error("%s", exc)
        raise
    dags: dict[str, DAG] = {}
    for store in parsed.stores:
        if store.enabled:
            dags[store.dag_id] = build_store_dag(store)
    for label, error in parsed.errors.items():
        log.error("store entry %s in Variable %s is not valid: %s", label, VARIABLE_NAME, error)
        dag = build_broken_dag(label, error)
        dags.setdefault(dag.dag_id, dag)
    return dags


def read_stores_variable() -> str | None:
    """The Variable's raw text, once per parse (None when it is not set)."""
    from airflow.sdk import Variable

    return Variable.get(VARIABLE_NAME, default=None)
