"""The run history page: a FastAPI app the Airflow API server mounts (``history.plugin``),
with JSON endpoints under ``/api`` and server-rendered HTML pages (``history.html``): all
stores, one store (its runs as a chart and a table, the open quarantine, filters, CSV, the
data quality of a run in words), and the order search.

Plugin apps are not behind Airflow's login on their own: every route here takes the user
from the request exactly as Airflow's core API does (``get_user``: a JWT bearer token, or
the ``_token`` cookie the UI's login sets; anonymous: 401, a bad token: 403) and asks the
configured auth manager, per store, whether the user may read its DAG (GET) or act on it:
retry and resolve need edit rights on the DAG (PUT), triggering a run needs to create DAG
runs (POST on RUN). Stores the user may not read are left out, as Airflow leaves out DAGs.

``Sources`` gives the state database, the stores' settings and the DAG trigger; the plugin
builds them from Airflow, and tests may pass their own.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable

from fastapi import Depends, FastAPI, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy import Engine

from ..config import StoreConfig
from . import actions, html, queries

#: Where the app is mounted in the API server, and the page's place in Airflow's navigation.
URL_PREFIX = "/cartum-roapp"


@dataclass
class Sources:
    engine: Callable[[], Engine]
    stores: Callable[[], list[StoreConfig]]
    #: (dag_id, user name, note, conf) → the new run's id; raises ``LookupError`` when the DAG is unknown
    trigger: Callable[[str, str, str, dict[str, Any]], str]


def _user_dependency() -> Callable[..., Any]:
    from airflow.api_fastapi.core_api.security import get_user

    return get_user


def _allowed(user: Any, dag_id: str, method: str, run: bool = False) -> bool:
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity, DagDetails

    return get_auth_manager().is_authorized_dag(method=method, user=user, details=DagDetails(id=dag_id),
                                                access_entity=DagAccessEntity.RUN if run else None)


def _name(user: Any) -> str:
    return str(getattr(user, "get_name", lambda: None)() or "an Airflow user")


def _json_default(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else str(value)


def _json(data: Any) -> JSONResponse:
    import json

    return JSONResponse(json.loads(json.dumps(data, default=_json_default)))


def _csv(rows: list[dict[str, Any]], columns: list[str], filename: str) -> Response:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_json_default(row.get(c)) if row.get(c) is not None else "" for c in columns])
    return Response(buffer.getvalue(), media_type="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


RUN_COLUMNS = ["run_id", "status", "mode", "started_at", "finished_at", "duration_s", "created", "updated",
               "unchanged", "quarantined", "failed", "cartum_calls", "roapp_calls", "roapp_writes", "error"]
QUARANTINE_COLUMNS = ["id", "entity", "source_key", "stage", "reason", "attempts", "first_seen_at", "last_seen_at",
                      "run_id"]


def _flat(run: dict[str, Any]) -> dict[str, Any]:
    return {**run, **run["totals"]}


def create_app(sources: Sources) -> FastAPI:
    app = FastAPI(title="Cartum → RO App run history", docs_url=None, redoc_url=None, openapi_url=None)
    User = Depends(_user_dependency())

    def readable(user: Any) -> dict[str, StoreConfig]:
        return {s.store_id: s for s in sources.stores() if _allowed(user, s.dag_id, "GET")}

    def store_or_404(user: Any, store_id: str) -> StoreConfig:
        store = readable(user).get(store_id)
        if store is None:
            raise HTTPException(404, f"no store {store_id!r} you may read (ask for read access to its DAG "
                                     f"cartum_roapp__{store_id})")
        return store

    def overview(user: Any) -> list[dict[str, Any]]:
        stores = readable(user)
        return queries.stores_overview(sources.engine(), only=list(stores),
                                       zones={k: s.timezone for k, s in stores.items()},
                                       names={k: s.name for k, s in stores.items()})

    def runs_of(store_id: str, last: int, status: str | None) -> list[dict[str, Any]]:
        return queries.store_runs(sources.engine(), store_id, last=last, status=status or None)

    def row_of(user: Any, row_id: int, method: str) -> tuple[dict[str, Any], StoreConfig]:
        row = next((r for r in queries.open_quarantine(sources.engine()) if r["id"] == row_id), None)
        store = readable(user).get(row["store_id"]) if row else None
        if row is None or store is None:
            raise HTTPException(404, f"quarantine row {row_id} is not open, or not of a store you may read")
        if not _allowed(user, store.dag_id, method):
            raise HTTPException(403, f"you may read store {store.store_id!r} but not edit its DAG {store.dag_id}: "
                                     f"ask for edit rights to retry or resolve its records")
        return row, store

    def do_retry(user: Any, row_id: int) -> dict[str, Any]:
        row, _ = row_of(user, row_id, "PUT")
        done = actions.retry(sources.engine(), [row_id], by=_name(user))
        return {"id": row_id, "store_id": row["store_id"], "how": done[0].how}

    def do_resolve(user: Any, row_id: int, note: str) -> dict[str, Any]:
        row_of(user, row_id, "PUT")
        try:
            row = actions.resolve(sources.engine(), row_id, note, by=_name(user))
        except actions.QuarantineActionError as exc:
            raise HTTPException(400, str(exc)) from None
        return {"id": row_id, "store_id": row["store_id"], "resolved": True}

    def do_trigger(user: Any, store_id: str, reconcile: bool) -> dict[str, Any]:
        from ..dags import RECONCILE_PARAM

        store = store_or_404(user, store_id)
        if not _allowed(user, store.dag_id, "POST", run=True):
            raise HTTPException(403, f"you may read store {store_id!r} but not start runs of its DAG {store.dag_id}")
        what = "reconcile" if reconcile else "sync"
        try:
            # a reconcile: the DAG's own run parameter, which the run honours (``dags.reconcile_asked``)
            run_id = sources.trigger(store.dag_id, _name(user), f"{what} started from the run history page",
                                     {RECONCILE_PARAM: True} if reconcile else {})
        except LookupError as exc:
            raise HTTPException(409, str(exc)) from None
        return {"store_id": store_id, "dag_id": store.dag_id, "run_id": run_id, "reconcile": reconcile}

    # --- JSON ------------------------------------------------------------------------------

    @app.get("/api/stores")
    def api_stores(user: Any = User) -> JSONResponse:
        return _json(overview(user))

    @app.get("/api/stores/{store_id}/runs")
    def api_runs(store_id: str, last: int = Query(50, ge=1, le=10_000), status: str | None = None,
                 format: str = "json", user: Any = User) -> Response:
        store_or_404(user, store_id)
        found = runs_of(store_id, last, status)
        if format == "csv":
            return _csv([_flat(r) for r in found], RUN_COLUMNS, f"{store_id}-runs.csv")
        return _json(found)

    @app.get("/api/stores/{store_id}/runs/{run_id}/quality")
    def api_quality(store_id: str, run_id: str, user: Any = User) -> JSONResponse:
        store_or_404(user, store_id)
        return _json(queries.run_quality(sources.engine(), store_id, run_id))

    @app.get("/api/stores/{store_id}/quarantine")
    def api_quarantine(store_id: str, entity: str | None = None, format: str = "json", user: Any = User) -> Response:
        store_or_404(user, store_id)
        rows = queries.open_quarantine(sources.engine(), store_id, entity=entity or None)
        if format == "csv":
            return _csv(rows, QUARANTINE_COLUMNS, f"{store_id}-quarantine.csv")
        return _json(rows)

    @app.get("/api/orders")
    def api_orders(q: str, store: str | None = None, user: Any = User) -> JSONResponse:
        stores = readable(user)
        found = [key for key in queries.find_orders(sources.engine(), q, store or None) if key[0] in stores]
        return _json([queries.order_story(sources.engine(), s, n) for s, n in found])

    @app.post("/api/quarantine/{row_id}/retry")
    def api_retry(row_id: int, user: Any = User) -> JSONResponse:
        return _json(do_retry(user, row_id))

    @app.post("/api/quarantine/{row_id}/resolve")
    def api_resolve(row_id: int, payload: dict[str, Any], user: Any = User) -> JSONResponse:
        return _json(do_resolve(user, row_id, str(payload.get("note") or "")))

    @app.post("/api/stores/{store_id}/trigger")
    def api_trigger(store_id: str, reconcile: bool = False, user: Any = User) -> JSONResponse:
        return _json(do_trigger(user, store_id, reconcile))

    # --- pages -----------------------------------------------------------------------------

    @app.get("/", response_class=HTMLResponse)
    def page_stores(request: Request, user: Any = User) -> HTMLResponse:
        return HTMLResponse(html.stores_page(overview(user), base=str(request.scope.get("root_path", ""))))

    @app.get("/stores/{store_id}", response_class=HTMLResponse)
    def page_store(request: Request, store_id: str, last: int = Query(50, ge=1, le=10_000),
                   status: str | None = None, entity: str | None = None, run: str | None = None,
                   done: str | None = None, user: Any = User) -> HTMLResponse:
        store = store_or_404(user, store_id)
        found = runs_of(store_id, last, status)
        chosen = run or (found[0]["run_id"] if found else None)
        quality = queries.run_quality(sources.engine(), store_id, chosen) if chosen else []
        held = queries.open_quarantine(sources.engine(), store_id, entity=entity or None)
        can_edit = _allowed(user, store.dag_id, "PUT")
        can_run = _allowed(user, store.dag_id, "POST", run=True)
        return HTMLResponse(html.store_page(
            store, found, held, quality, chosen, base=str(request.scope.get("root_path", "")),
            filters={"last": last, "status": status or "", "entity": entity or ""}, can_edit=can_edit,
            can_run=can_run, done=done))

    @app.get("/orders", response_class=HTMLResponse)
    def page_orders(request: Request, q: str = "", store: str | None = None, user: Any = User) -> HTMLResponse:
        stores = readable(user)
        found = [k for k in queries.find_orders(sources.engine(), q, store or None) if k[0] in stores] if q else []
        stories = [queries.order_story(sources.engine(), s, n) for s, n in found]
        return HTMLResponse(html.orders_page(q, stories, stores, base=str(request.scope.get("root_path", ""))))

    @app.post("/quarantine/{row_id}/retry")
    def form_retry(request: Request, row_id: int, user: Any = User) -> RedirectResponse:
        done = do_retry(user, row_id)
        return _back(request, done["store_id"], f"Row {row_id} will be tried again: {done['how']}.")

    @app.post("/quarantine/{row_id}/resolve")
    def form_resolve(request: Request, row_id: int, note: str = Form(""), user: Any = User) -> RedirectResponse:
        done = do_resolve(user, row_id, note)
        return _back(request, done["store_id"], f"Row {row_id} is resolved with your note.")

    @app.post("/stores/{store_id}/trigger")
    def form_trigger(request: Request, store_id: str, reconcile: bool = Form(False),
                     user: Any = User) -> RedirectResponse:
        done = do_trigger(user, store_id, reconcile)
        return _back(request, store_id, f"{'Reconcile' if reconcile else 'Sync'} started: run {done['run_id']}.")

    return app


def _back(request: Request, store_id: str, message: str) -> RedirectResponse:
    from urllib.parse import quote

    return RedirectResponse(f"{request.scope.get('root_path', '')}/stores/{store_id}?done={quote(message)}",
                            status_code=303)
