"""A dry run: what a store's next run would create, update or leave alone in RO App, with
nothing written anywhere (``cartum-roapp stores dry-run <store>``).

The ordinary steps run unchanged (``steps.STEPS``, then ``finish_run``), against:

- **a throwaway copy of the store's state**: its rows of every table in
  ``tables.STORE_TABLES`` (cursors, id map, run history, quarantine…), copied into a
  temporary SQLite file that is deleted afterwards. The real state database is only read,
  once, before the first step;
- **an RO App client whose writes are answered here** (``WritePlan``): reads go to the
  real API as usual, through the shared rate limiter; a create is answered with a
  synthetic id (negative: RO App's ids never are), an update or a status with the record
  as it would become. Every would-be write is recorded (method, path, body). Reads of a
  record the dry run "created" (an order's items, the order itself) are answered from
  what was recorded;
- Cartum's client unchanged: the pipeline only reads Cartum.

So the loaders' own logic decides what is created, updated or left alone, and the counts
are the ones the next run would record in ``run_entities``, if nothing changes in between.

A write to a record RO App no longer has fails in a real run (404; or 422 on an order's
``client_id``) and the loaders heal it. Here the target is read first (one GET of the
order or person, at most once per record and run), so a record deleted in RO App by a
manager heals in the dry run as in the real one. Not foreseen: a product deleted in RO
App (no documented read of one product; the real run creates it again when it meets it),
and RO App rejecting a body for its content (400/422), which only the real write tells.

The only row the dry run writes in the state database is the shared rate limiter's
(``rate_limit_buckets``: the key's request budget, shared with the DAGs), as any user of
the key does; no row of the store's.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Iterator

from sqlalchemy import Engine, create_engine, inspect, insert, select
from sqlalchemy.pool import NullPool

from ..cartum.client import CartumClient
from ..config import StoreConfig
from ..entities import CLIENTS, ENTITIES, ORDERS, PRODUCTS
from ..roapp.client import RoAppClient
from ..state.db import ensure_schema
from ..state.store import StateStore
from ..state.tables import STORE_TABLES, record_events
from ..transport import NotFoundError, ValidationError
from .context import RunContext
from .steps import STEPS, finish_run, run_step

log = logging.getLogger(__name__)

DRY_RUN_ID = "dry_run"
DEFAULT_SHOW = 5

#: path → (entity, what the write does); ids are ``-?\d+`` (synthetic ids are negative).
_ID = r"(-?\d+)"
_WRITES: list[tuple[re.Pattern[str], str, str]] = [(re.compile(p + "$"), entity, kind) for p, entity, kind in [
    (r"/v2/contacts/people", CLIENTS.name, "create"),
    (rf"/v2/contacts/people/{_ID}", CLIENTS.name, "fields"),
    (r"/v2/catalog/products", PRODUCTS.name, "create"),
    (rf"/v2/catalog/products/{_ID}", PRODUCTS.name, "fields"),
    (r"/v2/orders", ORDERS.name, "create"),
    (rf"/v2/orders/{_ID}", ORDERS.name, "fields"),
    (rf"/v2/orders/{_ID}/status", ORDERS.name, "status"),
    (rf"/v2/orders/{_ID}/items", ORDERS.name, "item added"),
    (rf"/v2/orders/{_ID}/items/{_ID}", ORDERS.name, "item"),
    (rf"/v2/orders/{_ID}/comments", ORDERS.name, "comment"),
]]
_ORDER = re.compile(rf"/v2/orders/{_ID}$")
_ORDER_ITEMS = re.compile(rf"/v2/orders/{_ID}/items$")
_PERSON = re.compile(rf"/v2/contacts/people/{_ID}$")
_ANY_ID = re.compile(r"/-?\d+")
#: Lists whose names make the report readable: path → kind.
_NAMED = {"/v2/orders/statuses": "statuses", "/v2/orders/custom-fields": "custom_fields"}


@dataclass
class Write:
    """A write the run would send: which record it belongs to (entity and RO App id, a
    synthetic one for a record it would create) and what it would do."""

    method: str
    path: str
    body: Any
    entity: str
    roapp_id: int
    kind: str   # create, fields, status, item added, item, comment


# --- the state: a throwaway copy ------------------------------------------------------------

def copy_store_state(source: Engine, store_id: str, path: str) -> Engine:
    """A SQLite database at ``path`` holding the store's rows of every store table of
    ``source`` (only read; a table or column ``source`` lacks is left empty). A SQLite
    source is read through a plain connection of its own: the project's engines begin
    every transaction with a write lock (``db``), which a read needs not take."""
    reader = create_engine(source.url, poolclass=NullPool) if source.dialect.name == "sqlite" else source
    target = create_engine(f"sqlite:///{path}", poolclass=NullPool)
    ensure_schema(target)
    inspector = inspect(reader)
    present = set(inspector.get_table_names())
    columns = {t.name: [t.c[c["name"]] for c in inspector.get_columns(t.name) if c["name"] in t.c]
               for t in STORE_TABLES if t.name in present and t is not record_events}  # history: not needed
    copied = 0
    with reader.connect() as read, target.begin() as write:
        for table in STORE_TABLES:
            if table.name not in columns:
                continue
            query = select(*columns[table.name]).where(table.c.store_id == store_id)
            rows = [dict(r) for r in read.execute(query).mappings()]
            if rows:
                write.execute(insert(table), rows)
                copied += len(rows)
    if reader is not source:
        reader.dispose()
    log.info("dry run: the state of store %s copied (%d rows) into a throwaway database", store_id, copied)
    return target


# --- RO App: reads pass, writes are recorded ----------------------------------------------

class WritePlan:
    """The writes a run would send to RO App, answered locally; shared by every step's
    client (``wrap``) so that a client "created" by load_clients is known to load_orders."""

    def __init__(self) -> None:
        self.writes: list[Write] = []
        self._next_id = 0
        self._records: dict[tuple[str, int], dict[str, Any]] = {}   # synthetic records, by path kind
        self._items: dict[int, list[dict[str, Any]]] = {}           # synthetic orders' items
        self._exists: dict[str, bool] = {}                          # real paths checked by a read
        self.names: dict[str, dict[str, str]] = {"statuses": {}, "custom_fields": {}}  # for the report

    def _learn_names(self, kind: str, answer: Any) -> None:
        """Status and custom field names, from the lists the run reads anyway."""
        rows = answer if isinstance(answer, list) else (answer or {}).get("data") or []
        prefix = "f" if kind == "custom_fields" else ""
        for row in rows:
            if isinstance(row, dict) and row.get("id") is not None:
                self.names[kind][f"{prefix}{row['id']}"] = str(row.get("title") or row.get("name") or row["id"])

    def wrap(self, client: RoAppClient) -> RoAppClient:
        """The client, its writes answered by this plan (its reads unchanged)."""
        send = client.request

        def request(method: str, path: str, *, params: dict[str, Any] | None = None, json: Any = None,
                    repeatable: bool | None = None) -> Any:
            local = self._answer(method, path, json, send)
            if local is not _PASS:
                return local
            answer = send(method, path, params=params, json=json, repeatable=repeatable)
            if path in _NAMED:
                self._learn_names(_NAMED[path], answer)
            return answer

        client.request = request  # type: ignore[method-assign]
        return client

    # --- answering --------------------------------------------------------------------

    def _answer(self, method: str, path: str, body: Any, send: Callable[..., Any]) -> Any:
        if method == "GET":
            return self._local_read(path)
        entity, kind, ids = _classify(path)
        if entity is None:
            raise ValueError(f"dry run: no local answer for RO App {method} {path}; nothing was sent")
        target = ids[0] if ids else None
        if target is not None and target > 0 and kind != "item":
            self._check_exists(method, path, entity, target, send)
        if isinstance(body, dict) and entity == ORDERS.name and int(body.get("client_id") or 0) > 0:
            self._check_client(method, path, int(body["client_id"]), send)
        now = _stamp()
        if kind == "create":
            target = self._new_id()
            record = {**(body or {}), "id": target, "created_at": now, "modified_at": now}
            if entity == ORDERS.name:
                record["status"] = None
                self._items[target] = []
            self._records[(entity, target)] = record
            answer: Any = record
        elif kind == "item added":
            answer = {**(body or {}), "id": self._new_id()}
            self._items.get(target, []).append(answer)
            self._touch(entity, target, now)
        elif kind == "status":
            status = {"id": int(body["status_id"])}
            answer = {**self._touch(entity, target, now), "id": target, "status": status, "modified_at": now}
            if (entity, target) in self._records:
                self._records[(entity, target)]["status"] = status
        elif kind == "fields":
            answer = {**self._touch(entity, target, now), **(body or {}), "id": target, "modified_at": now}
        else:  # an item changed or removed, a comment
            answer = {**(body or {}), "id": ids[-1] if kind == "item" else self._new_id()}
            self._touch(entity, target, now)
        assert target is not None
        self.writes.append(Write(method, path, body, entity, target, kind))
        return answer

    def _local_read(self, path: str) -> Any:
        """The reads of a record this dry run "created"; anything else goes to RO App."""
        for pattern, entity in ((_ORDER, ORDERS.name), (_PERSON, CLIENTS.name)):
            match = pattern.match(path)
            if match and int(match.group(1)) < 0:
                return dict(self._records.get((entity, int(match.group(1)))) or {})
        match = _ORDER_ITEMS.match(path)
        if match and int(match.group(1)) < 0:
            return list(self._items.get(int(match.group(1)), []))
        return _PASS

    def _touch(self, entity: str, target: int | None, now: str) -> dict[str, Any]:
        record = self._records.get((entity, target)) if target is not None else None
        if record is None:
            return {}
        record["modified_at"] = now
        return dict(record)

    def _check_exists(self, method: str, path: str, entity: str, target: int, send: Callable[..., Any]) -> None:
        """A real record is read once before the first write to it: gone from RO App, the
        write would meet a 404, and so does the dry run (the loader heals it)."""
        where = {ORDERS.name: f"/v2/orders/{target}", CLIENTS.name: f"/v2/contacts/people/{target}"}.get(entity)
        if where is None:
            return  # products: no documented read of one product (see the module's docstring)
        if not self._read_exists(where, send):
            raise NotFoundError(f"RO App {method} {path}: not found (dry run: {where} answered 404).", status=404)

    def _check_client(self, method: str, path: str, client_id: int, send: Callable[..., Any]) -> None:
        where = f"/v2/contacts/people/{client_id}"
        if not self._read_exists(where, send):
            raise ValidationError(f"RO App rejected {method} {path}: client {client_id} does not exist (dry run: "
                                  f"{where} answered 404) (client_id)", status=422,
                                  field_errors={"client_id": [f"client {client_id} does not exist"]})

    def _read_exists(self, where: str, send: Callable[..., Any]) -> bool:
        if where not in self._exists:
            try:
                send("GET", where)
                self._exists[where] = True
            except NotFoundError:
                self._exists[where] = False
        return self._exists[where]

    def _new_id(self) -> int:
        self._next_id -= 1
        return self._next_id


_PASS = object()


def _classify(path: str) -> tuple[str | None, str, list[int]]:
    for pattern, entity, kind in _WRITES:
        match = pattern.match(path)
        if match:
            return entity, kind, [int(g) for g in match.groups()]
    return None, "", []


def _stamp() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


# --- the run --------------------------------------------------------------------------------

@dataclass
class DryRunResult:
    """What the dry run found: the run's summary as the copy recorded it (``run_summary``),
    the would-be writes, the error that stopped it (None: every step finished), and the
    copy's id map and quarantine rows of this run, to name the records."""

    store_id: str
    summary: dict[str, Any]
    writes: list[Write]
    error: str | None
    keys: dict[tuple[str, int], str] = field(default_factory=dict)      # (entity, RO App id) → Cartum key
    quarantined: list[dict[str, Any]] = field(default_factory=list)
    names: dict[str, dict[str, str]] = field(default_factory=dict)      # statuses, custom fields: id → name


def dry_run(config: StoreConfig, state_engine: Engine, cartum_factory: Callable[[], CartumClient],
            roapp_factory: Callable[[], RoAppClient], *, synced_before: datetime | None = None,
            state_configured: bool = True, clock: Callable[[], datetime] | None = None) -> DryRunResult:
    """Run every step of the store's next run with nothing written (see the module)."""
    plan = WritePlan()
    handle, path = tempfile.mkstemp(prefix=f"cartum_roapp_dry_run_{config.store_id}_", suffix=".db")
    os.close(handle)
    copy = copy_store_state(state_engine, config.store_id, path)
    try:
        def context() -> RunContext:
            state = StateStore(copy, config.store_id, **({"clock": clock} if clock else {}))
            return RunContext(config, DRY_RUN_ID, state, cartum_factory, lambda: plan.wrap(roapp_factory()),
                              synced_before=synced_before, state_configured=state_configured)

        error = _run_steps(context)
        state = context().state
        if error is None:
            try:
                finish_run(context())
            except RuntimeError as exc:
                error = str(exc)
        return DryRunResult(config.store_id, state.run_summary(DRY_RUN_ID), plan.writes, error,
                            _keys(state), [q for q in state.open_quarantine() if q["run_id"] == DRY_RUN_ID],
                            plan.names)
    finally:
        copy.dispose()
        for suffix in ("", "-wal", "-shm", "-journal"):
            if os.path.exists(path + suffix):
                os.remove(path + suffix)


def _run_steps(context: Callable[[], RunContext]) -> str | None:
    for name in STEPS:
        try:
            run_step(name, context())
        except Exception as exc:  # noqa: BLE001 - the real run would stop here too: reported, not raised
            log.warning("dry run: step %s failed: %s", name, exc)
            return f"{name}: {type(exc).__name__}: {exc}"
    return None


def _keys(state: StateStore) -> dict[tuple[str, int], str]:
    keys = {}
    for entity in ENTITIES:
        for key, row in state.id_rows(entity.name).items():
            if row.roapp_id is not None:
                keys[(entity.name, row.roapp_id)] = key
    return keys


# --- the report -----------------------------------------------------------------------------

def plan_report(result: DryRunResult, show: int = DEFAULT_SHOW) -> dict[str, Any]:
    """The dry run as data (``--json``): counts per entity, would-be writes per request
    kind, and up to ``show`` records per entity and action with what would change."""
    run = result.summary.get("run") or {}
    order = {e.name: e.load_order for e in ENTITIES}
    entities = dict(sorted(result.summary.get("entities", {}).items(), key=lambda e: order.get(e[0], 99)))
    records: dict[str, dict[str, list[dict[str, Any]]]] = {}
    counted: dict[str, dict[str, int]] = {}
    for (entity, roapp_id), writes in _by_record(result.writes).items():
        action = "create" if roapp_id < 0 else "update"
        counted.setdefault(entity, {}).setdefault(action, 0)
        counted[entity][action] += 1
        shown = records.setdefault(entity, {}).setdefault(action, [])
        if len(shown) < show:
            shown.append({"key": result.keys.get((entity, roapp_id)),
                          "roapp_id": roapp_id if roapp_id > 0 else None,
                          "changes": [_change(w, result.keys, result.names) for w in writes]})
    requests: dict[str, int] = {}
    for write in result.writes:
        name = f"{write.method} {_ANY_ID.sub('/{id}', write.path)}"
        requests[name] = requests.get(name, 0) + 1
    return {
        "store_id": result.store_id, "nothing_written": True, "mode": run.get("mode"),
        "first_import": run.get("first_import"), "completed": result.error is None, "error": result.error,
        "entities": entities, "records_written": counted, "records": records, "writes": requests,
        "write_count": len(result.writes),
        "calls": {"cartum": run.get("cartum_calls") or 0, "roapp_reads": run.get("roapp_calls") or 0},
        "warnings": list(run.get("warnings") or []),
        "quarantined": [{"entity": q["entity"], "key": q["source_key"], "stage": q["stage"], "reason": q["reason"]}
                        for q in result.quarantined[:show]],
        "quarantined_count": len(result.quarantined),
    }


def _by_record(writes: list[Write]) -> dict[tuple[str, int], list[Write]]:
    grouped: dict[tuple[str, int], list[Write]] = {}
    for write in writes:
        grouped.setdefault((write.entity, write.roapp_id), []).append(write)
    return grouped


#: Fields shown of a created or changed record, per entity (the rest is noise or derived).
_SHOWN = {CLIENTS.name: ("first_name", "last_name", "email", "phones", "address"),
          PRODUCTS.name: ("title", "sku", "barcodes", "price"),
          ORDERS.name: ("client_id", "manager_id", "custom_fields")}


def _change(write: Write, keys: dict[tuple[str, int], str], names: dict[str, dict[str, str]]) -> dict[str, Any]:
    """One write as what it changes; RO App ids of records the run creates (synthetic) are
    named by their Cartum key, custom fields and statuses by their names in RO App."""
    body = write.body if isinstance(write.body, dict) else {}
    if write.kind in ("create", "fields"):
        shown = {k: _short(v) for k, v in body.items() if k in _SHOWN.get(write.entity, ())}
        if "client_id" in shown:
            shown["client_id"] = _named(CLIENTS.name, int(shown["client_id"]), keys)
        if isinstance(shown.get("custom_fields"), dict):
            fields = names.get("custom_fields") or {}
            shown["custom_fields"] = {fields.get(k, k): v for k, v in shown["custom_fields"].items()}
        return {"what": write.kind, "fields": shown}
    if write.kind == "status":
        status = body.get("status_id")
        return {"what": "status", "status_id": status, "status": (names.get("statuses") or {}).get(str(status)),
                "comment": _short(body.get("comment"))}
    if write.kind == "item added":
        return {"what": "item added", "product": _named(PRODUCTS.name, int(body.get("entity_id") or 0), keys),
                **{k: body.get(k) for k in ("quantity", "price")}}
    if write.kind == "item":
        action = "item removed" if write.method == "DELETE" else "item changed"
        return {"what": action, "item_id": int(write.path.rsplit("/", 1)[1]), **body}
    return {"what": "comment", "text": _short(body.get("comment"))}


def _named(entity: str, roapp_id: int, keys: dict[tuple[str, int], str]) -> Any:
    """A new record's synthetic id → "new <key>"; an existing one stays its RO App id."""
    return roapp_id if roapp_id > 0 else f"new {keys.get((entity, roapp_id), '?')}"


def _short(value: Any, limit: int = 60) -> Any:
    if isinstance(value, str):
        one_line = " ".join(value.split())
        return one_line if len(one_line) <= limit else one_line[:limit - 1] + "…"
    return value


def render_text(report: dict[str, Any]) -> Iterator[str]:
    """The report as lines for a person."""
    mode = {"first_import": "the FIRST IMPORT", "incremental": "an incremental run",
            "reconcile": "a run with a RECONCILE pass"}.get(report["mode"] or "", "a run")
    yield (f"Dry run of store {report['store_id']!r}: the next run would be {mode}. Nothing was written: "
           f"no request that changes RO App was sent, the state database is as it was.")
    if report["error"]:
        yield f"The next run would STOP: {report['error']}"
    yield (f"Read: {report['calls']['cartum']} Cartum call(s), {report['calls']['roapp_reads']} RO App read(s); "
           f"{report['write_count']} RO App write(s) would be sent.")
    yield ""
    yield f"{'entity':<10}{'create':>8}{'update':>8}{'unchanged':>11}{'quarantine':>12}{'read':>7}"
    for name, counts in report["entities"].items():
        yield (f"{name:<10}{counts['created']:>8}{counts['updated']:>8}{counts['unchanged']:>11}"
               f"{counts['quarantined']:>12}{counts['extracted']:>7}")
    for name, actions in report["records"].items():
        for action, shown in sorted(actions.items()):  # create, then update
            total = report["records_written"][name][action]
            yield ""
            yield f"{name}: would {action} {total}" + (f" (the first {len(shown)})" if total > len(shown) else "")
            for record in shown:
                where = f" (RO App {record['roapp_id']})" if record["roapp_id"] else ""
                yield f"  {name[:-1]} {record['key']}{where}"
                for change in record["changes"]:
                    yield "    " + _describe(change)
    if report["quarantined_count"]:
        yield ""
        yield f"Would be quarantined: {report['quarantined_count']}"
        for q in report["quarantined"]:
            yield f"  {q['entity']} {q['key']} ({q['stage']}): {_short(q['reason'], 100)}"
    for warning in report["warnings"]:
        yield f"Warning: {warning}"


def _describe(change: dict[str, Any]) -> str:
    what = change["what"]
    if what in ("create", "fields"):
        fields = ", ".join(f"{k} {v}" for k, v in change["fields"].items())
        return f"{'with' if what == 'create' else 'fields:'} {fields or '(none shown)'}"
    if what == "status":
        name = f" {change['status']}" if change.get("status") else ""
        return f"status → {change['status_id']}{name}" + (f" ({change['comment']})" if change.get("comment") else "")
    if what == "item added":
        return f"item added: product {change['product']} × {change['quantity']:g} at {change['price']:g}"
    if what == "item removed":
        return f"item {change['item_id']} removed"
    if what == "item changed":
        rest = ", ".join(f"{k} {v}" for k, v in change.items() if k not in ("what", "item_id"))
        return f"item {change['item_id']} changed: {rest}"
    return f"comment: {change['text']}"
