"""``cartum-roapp stores edit <store>``: change a store's settings. What changed is checked
before anything is written; the store's sync state (keyed by store_id) is kept."""

from __future__ import annotations

import argparse
from typing import Any

from ...config import DEFAULT_ROAPP_CONN_ID, StoreConfig, parse_store, parse_stores
from ..common import (
    DEFAULT_IMPORT_DAYS,
    EXIT_OK,
    EXIT_PROBLEMS,
    UsageError,
    find_entry,
    out,
    problem,
    read_password,
    replace_entry,
    report,
    roapp_account,
    schema_problems,
    store_cartum,
)
from ..prompts import Prompter, Stopped

EDITABLE = ("name", "location_id", "order_type_id", "language", "product_key", "managers", "import_days", "enabled")


def cmd_edit(args: argparse.Namespace, ui: Prompter | None) -> int:
    from ...setup_checks import check_catalogue, check_entry, check_roapp_references, validate_store
    from ..airflow_store import CartumConnectionWrite, connection_in_database, ensure_writable, read_entries
    from ..airflow_store import write_entries
    from ..sources import CachedCartum

    ensure_writable()
    entries = read_entries()
    entry = find_entry(entries, args.store)
    changes = {k: getattr(args, k) for k in EDITABLE if getattr(args, k) is not None}
    password = read_password(args, ui, "New Cartum password (not shown)")
    credentials = {k: v for k, v in (("url", args.url), ("login", args.login), ("password", password))
                   if v is not None}
    if not changes and not credentials:
        if ui is None:
            raise UsageError("nothing to change: give one or more of --name, --location-id, --order-type-id, "
                             "--language, --product-key, --managers, --import-days, --enabled/--disabled, --url, "
                             "--login, --password (`cartum-roapp stores edit --help`)")
        roapp = roapp_account(str(entry.get("roapp_conn_id") or DEFAULT_ROAPP_CONN_ID))
        changes, credentials = _ask_edits(ui, entry, args.store, entries, roapp)
        if not changes and not credentials:
            ui.say("Nothing changed.")
            return EXIT_OK

    new = {**entry, **changes}
    roapp_conn_id = str(new.get("roapp_conn_id") or DEFAULT_ROAPP_CONN_ID)
    others = [s for s in parse_stores(entries).stores if s.store_id != args.store]
    problems = check_entry(new, others)
    if not problems:
        problems = schema_problems(new)
    if problems:
        report(problems, f"Store {args.store!r} was not changed:")
        return EXIT_PROBLEMS
    config = parse_store(new)
    reenabled = changes.get("enabled") is True and entry.get("enabled") is False
    cartum: CachedCartum | None = None
    needs_cartum = bool(credentials) or reenabled or {"language", "product_key"} & set(changes)
    if needs_cartum:
        cartum = store_cartum(new, credentials.get("url"), credentials.get("login"), credentials.get("password"))
    if reenabled or {"location_id", "order_type_id", "managers", "language", "product_key"} & set(changes):
        roapp = roapp_account(roapp_conn_id)
        if reenabled:
            # The DAG comes back and starts syncing: check everything, as a run does first.
            problems = validate_store(config, cartum, roapp, deep=bool({"language", "product_key"} & set(changes)),
                                      others=others)
        else:
            if {"location_id", "order_type_id", "managers"} & set(changes):
                problems += check_roapp_references(roapp, location_id=config.location_id,
                                                   order_type_id=config.order_type_id, managers=config.managers)
            if cartum is not None and {"language", "product_key"} & set(changes):
                problems += check_catalogue(cartum.products(), cartum.get_statuses(), language=config.language,
                                            product_key=config.product_key)
    if problems:
        report(problems, f"Store {args.store!r} was not changed:")
        return EXIT_PROBLEMS

    if ui is not None:
        _confirm(ui, entry, changes, credentials)
    connection = None
    if credentials:
        if not connection_in_database(config.cartum_conn_id) and len(credentials) < 3:
            report([problem("cartum_conn_id", f"the connection {config.cartum_conn_id!r} is not in the metadata "
                                              f"database (an environment variable or secrets backend defines "
                                              f"it): change it there")], f"Store {args.store!r} was not changed:")
            return EXIT_PROBLEMS
        connection = CartumConnectionWrite(config.cartum_conn_id, host=credentials.get("url"),
                                           login=credentials.get("login"), password=credentials.get("password"))
    write_entries(lambda current: replace_entry(current, args.store,
                                                {**find_entry(current, args.store), **changes}),
                  connection=connection)
    what = [*changes] + [f"{'Cartum ' if k != 'url' else 'store '}{k}" for k in credentials]
    out(f"Saved store {args.store!r}: changed {', '.join(what)}. Its sync state is kept.")
    out(_after_edit_note(config, changes, reenabled))
    return EXIT_OK


def _ask_edits(ui: Prompter, entry: dict[str, Any], store_id: str, entries: list[Any],
               roapp: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """At a terminal, with no flag: every setting asked with its current value as default;
    locations, order types and managers listed and picked by id or name."""
    from ...setup_checks import manager_candidates
    from ..form import StoreForm, format_managers, person

    form = StoreForm(ui, entries, roapp, editing=store_id)
    ui.say(f"Editing store {store_id!r}; Enter keeps the value in brackets.")
    answers: dict[str, Any] = {"name": ui.ask("Store name", entry.get("name"))}
    for field, label, what, rows in (("location_id", "Location", "RO App location", roapp.branches()),
                                     ("order_type_id", "Order type", "RO App order type", roapp.order_types())):
        choices = [(int(r["id"]), str(r.get("name") or "")) for r in rows]
        ui.say(f"{what[0].upper()}{what[1:]}s:")
        for choice_id, choice_name in choices:
            ui.say(f"  {choice_id:>6}  {choice_name}")
        current = entry.get(field)
        answers[field] = form.ask_choice(f"{label}, id or name", choices, what,
                                         current if isinstance(current, int) else None)
    answers["language"] = ui.ask("Language (lower case, e.g. ua)", entry.get("language"))
    answers["product_key"] = ui.ask("Product key (sku or barcode)", entry.get("product_key")).lower()
    ui.say(f"Managers eligible at location {answers['location_id']} (\"all\" means these, round robin):")
    for employee in manager_candidates(roapp.employees(), answers["location_id"], entry.get("manager_roles")):
        ui.say(f"  {employee['id']:>6}  {person(employee)}")
    answers["managers"] = form.ask_managers(format_managers(entry.get("managers")))
    answers["import_days"] = form.ask_int("First import days", entry.get("import_days", DEFAULT_IMPORT_DAYS))
    answers["enabled"] = ui.confirm("Enabled?", default=entry.get("enabled", True) is not False)
    defaults = {"enabled": True, "import_days": DEFAULT_IMPORT_DAYS}
    changes = {k: v for k, v in answers.items() if v != entry.get(k, defaults.get(k))}
    password = ui.secret("New Cartum password (Enter keeps the current one)", required=False)
    return changes, ({"password": password} if password else {})


def _confirm(ui: Prompter, entry: dict[str, Any], changes: dict[str, Any], credentials: dict[str, str]) -> None:
    """The change, old → new, and a yes before anything is written (Stopped on no)."""
    from ..form import format_managers

    def shown(key: str, value: Any) -> str:
        return format_managers(value) if key == "managers" else repr(value)

    ui.say(f"Changes to store {entry.get('store_id')!r}:")
    for key, value in changes.items():
        ui.say(f"  {key:<14} {shown(key, entry.get(key))} → {shown(key, value)}")
    for key, value in credentials.items():
        ui.say(f"  Cartum {key:<7} " + ("changed (not shown)" if key == "password" else f"→ {value!r}"))
    if not ui.confirm("Save these changes?", default=True):
        raise Stopped()


def _after_edit_note(config: StoreConfig, changes: dict[str, Any], reenabled: bool) -> str:
    from ..airflow_store import dag_timing

    if changes.get("enabled") is False:
        return (f"The DAG {config.dag_id} goes away at the next parse; `cartum-roapp stores edit {config.store_id} "
                f"--enabled` brings it back, resuming from its watermark.")
    timing = dag_timing(config.dag_id)
    note = (f"The change takes effect at the store's next run (the DAG file is parsed again within about "
            f"{timing.parse_interval} s).")
    if reenabled:
        from ...entities import ORDERS
        from ...state.airflow import state_engine
        from ...state.store import StateStore

        watermark = StateStore(state_engine(), config.store_id).cursor(ORDERS).value
        note += (f" It resumes from its watermark: orders created after {watermark} (store time)." if watermark else
                 f" It has no sync state yet, so its first run is a first import (the last {config.import_days} "
                 f"days).")
        if timing.known_paused:
            note += f" The DAG is paused: `airflow dags unpause {config.dag_id}`."
    return note

