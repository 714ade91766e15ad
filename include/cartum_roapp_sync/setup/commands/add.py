"""``cartum-roapp stores add``: connect a new store.

Whether the store's Cartum connection is reused, replaced or created is decided by
``decide_cartum_connection``, a pure function; the command asks, checks and writes around it.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Any, Collection

from ...config import VARIABLE_NAME, StoreConfig, parse_store, parse_stores
from ..common import (
    DEFAULT_IMPORT_DAYS,
    EXIT_OK,
    EXIT_PROBLEMS,
    UsageError,
    out,
    problem,
    read_password,
    report,
    roapp_account,
    schema_problems,
    warn,
)
from ..prompts import Prompter, Stopped

#: The DAGs run on "*/5 * * * *" (``dags.SCHEDULE``; not imported here, it pulls in Airflow).
SCHEDULE_MINUTES = 5
#: The flags that give the Cartum credentials, in the order a missing one is named.
CREDENTIAL_FLAGS = ("--url", "--login", "--password")


# --- the Cartum connection: reuse, replace or create --------------------------------------

class ConnectionAction(Enum):
    CREATE = "create"    # no connection of that id: write one with the credentials given
    REUSE = "reuse"      # use the existing connection as it is
    REPLACE = "replace"  # overwrite the existing connection with the credentials given
    ASK = "ask"          # at a terminal, no credentials given: ask whether to use the existing one


@dataclass(frozen=True)
class ConnectionDecision:
    action: ConnectionAction
    #: The credential flags that must be given because nothing can be asked.
    missing: tuple[str, ...] = ()
    #: Why the store cannot be saved as asked (field ``cartum_conn_id``). The rest of the
    #: form is still checked, with the credentials given, so that every problem shows at once.
    problem: str | None = None


def decide_cartum_connection(conn_id: str | None, *, exists: bool, given: Collection[str],
                             replace_connection: bool, at_terminal: bool) -> ConnectionDecision:
    """What ``stores add`` does with the Cartum connection ``conn_id``. No I/O.

    ``exists``: Airflow has a connection of that id; ``given``: which of ``CREDENTIAL_FLAGS``
    have a value; ``replace_connection``: ``--replace-connection``; ``at_terminal``: questions
    can be asked.
    """
    unknown = set(given) - set(CREDENTIAL_FLAGS)
    if unknown:
        raise ValueError(f"not credential flags: {', '.join(sorted(unknown))}")
    needs_credentials = not exists or bool(given)
    missing = (tuple(flag for flag in CREDENTIAL_FLAGS if flag not in given)
               if needs_credentials and not at_terminal else ())
    if not exists:
        return ConnectionDecision(ConnectionAction.CREATE, missing)
    if given:
        if replace_connection:
            return ConnectionDecision(ConnectionAction.REPLACE, missing)
        return ConnectionDecision(ConnectionAction.REPLACE, missing,
                                  f"the connection {conn_id!r} already exists in Airflow: leave out --url, --login "
                                  f"and --password to use it, add --replace-connection to overwrite it, or choose "
                                  f"another --cartum-conn-id")
    if at_terminal:
        return ConnectionDecision(ConnectionAction.ASK)
    return ConnectionDecision(ConnectionAction.REPLACE if replace_connection else ConnectionAction.REUSE)


# --- the command --------------------------------------------------------------------------

def cmd_add(args: argparse.Namespace, ui: Prompter | None) -> int:
    from ...setup_checks import MATCH_IN_ADD, SAME_SHOP_HARM, SetupError, check_entry, same_shop_stores
    from ...setup_checks import check_status_matching
    from ..airflow_store import CartumConnectionWrite, connection_in_database, ensure_writable, get_connection
    from ..airflow_store import read_entries, write_entries
    from ...setup_checks import REQUIRED_TEXT
    from ..form import FIELD_FLAGS, StoreForm, parse_status_pair, store_id_from_name

    ensure_writable()  # before asking anything: a shadowed Variable cannot be written
    password = read_password(args, ui, "Cartum password (not shown)")
    try:
        pairs = dict(parse_status_pair(p) for p in args.status)
    except ValueError as exc:
        raise UsageError(f"--status {exc}") from None
    entries = read_entries()
    store_id = args.store_id or (store_id_from_name(args.name) if args.name else None)
    conn_id = args.cartum_conn_id or (f"cartum_{store_id}" if store_id else None)
    existing = get_connection(conn_id) if conn_id else None
    given = [flag for flag, value in zip(CREDENTIAL_FLAGS, (args.url, args.login, password)) if value is not None]
    if ui is None:
        early = decide_cartum_connection(conn_id, exists=existing is not None, given=given,
                                         replace_connection=args.replace_connection, at_terminal=False)
        missing = ([] if args.name is not None else ["--name"]) + list(early.missing) + [
            flag for flag, value in (("--location-id", args.location_id), ("--order-type-id", args.order_type_id),
                                     ("--language", args.language)) if value is None]
        if missing:
            raise UsageError(f"missing {', '.join(missing)}: stdin is not a terminal (or --no-input), so nothing "
                             f"is asked; give them as flags (`cartum-roapp stores add --help`)")

    roapp = roapp_account(args.roapp_conn_id, "or name another with --roapp-conn-id")
    form = StoreForm(ui, entries, roapp)
    if ui is not None:
        ui.say(f"Connecting a Cartum store to RO App (connection {args.roapp_conn_id!r}, {roapp.base_url}). "
               f"Nothing is saved before the end; Ctrl+C stops.")
    form.name(args.name)
    store_id = form.store_id(args.store_id)
    conn_id = form.cartum_conn_id(args.cartum_conn_id)

    # The Cartum connection: reuse an existing one, or write the credentials given.
    existing = get_connection(conn_id) if conn_id else None
    decision = decide_cartum_connection(conn_id, exists=existing is not None, given=given,
                                        replace_connection=args.replace_connection, at_terminal=ui is not None)
    replace = decision.action is ConnectionAction.REPLACE
    if decision.action is ConnectionAction.ASK and ui is not None:
        replace = not ui.confirm(f"The connection {conn_id!r} exists ({existing.host}, user "
                                 f"{existing.login!r}). Use it?", default=True)
    if decision.problem is not None:
        form.problems.append(problem("cartum_conn_id", decision.problem))
    elif replace and not connection_in_database(conn_id):
        form.problems.append(problem("cartum_conn_id", f"the connection {conn_id!r} is defined outside the "
                                                       f"metadata database (an environment variable or secrets "
                                                       f"backend): change it there, or choose another "
                                                       f"--cartum-conn-id"))
    if existing is not None and not replace:
        url, login, password = (existing.host or ""), (existing.login or ""), (existing.password or "")
    else:
        url, login = args.url, args.login
    if ui is None:
        # Whatever needs no API is judged first; while it fails, nothing is logged in to.
        offline = form.problems + form.check_url(url or "", args.allow_same_shop) + [
            p for p in check_entry({"language": args.language, "product_key": args.product_key,
                                    "import_days": args.import_days}) if p.field not in REQUIRED_TEXT]
        if offline:
            report(offline, f"Store {store_id!r} was not saved: fix these and run the command again (the store's "
                            f"Cartum was not contacted yet):", {**FIELD_FLAGS, "status_map": "--status"})
            return EXIT_PROBLEMS
    cartum, url, login, password = form.cartum_login(url, login, password, allow_same_shop=args.allow_same_shop)
    same_shop = same_shop_stores(url, form.shops()) if args.allow_same_shop and url else []
    if cartum is not None and existing is not None and not replace and (url, login, password) != (
            (existing.host or "").strip(), existing.login or "", existing.password or ""):
        replace = True  # the existing credentials failed and better ones were typed: keep those
    store_read = cartum is not None and form.read_store(cartum)
    form.language(args.language, cartum if store_read else None)
    form.product_key(args.product_key if args.product_key or ui is not None else "sku",
                     cartum if store_read else None)
    form.location_id(args.location_id)
    form.order_type_id(args.order_type_id)
    form.managers(args.managers if args.managers is not None or ui is not None else "all")
    form.import_days(args.import_days if args.import_days is not None or ui is not None else DEFAULT_IMPORT_DAYS,
                     DEFAULT_IMPORT_DAYS)
    status_map: dict[str, int] = {}
    if store_read:
        status_map = form.match_statuses(cartum, pairs)
        form.problems += check_status_matching(cartum.get_statuses(), status_map, None, form.entry["language"],
                                               how=MATCH_IN_ADD)
    entry = {"store_id": store_id, "name": form.entry["name"], "enabled": not args.disabled,
             "cartum_conn_id": conn_id, "roapp_conn_id": args.roapp_conn_id,
             "location_id": form.entry["location_id"], "order_type_id": form.entry["order_type_id"],
             "language": form.entry["language"], "product_key": form.entry["product_key"],
             "managers": form.entry["managers"], "status_map": status_map,
             "import_days": form.entry["import_days"]}
    if not form.problems:
        form.problems += schema_problems(entry)
    if form.problems:
        report(form.problems, f"Store {store_id!r} was not saved: fix these and run the command again:",
               {**FIELD_FLAGS, "status_map": "--status"})
        return EXIT_PROBLEMS

    config = parse_store(entry)
    if ui is not None:
        ui.say()
        ui.say(_summary(config, url))
        for same in same_shop:
            ui.say(f"Warning (--allow-same-shop): {url} is a Cartum shop {same}: {SAME_SHOP_HARM}.")
        if not ui.confirm("Save this store?", default=True):
            raise Stopped()
    connection = None if existing is not None and not replace else CartumConnectionWrite(
        conn_id, host=url, login=login, password=password)

    def add_entry(current: list[Any]) -> list[Any]:
        # Read again inside the transaction: another command may have added a store since.
        clash = check_entry(entry, parse_stores(current).stores)
        if clash:
            raise SetupError(clash)
        return [*current, entry]

    try:
        write_entries(add_entry, connection=connection)
    except SetupError as exc:
        report(exc.problems, f"Store {store_id!r} was not saved:")
        return EXIT_PROBLEMS
    out(f"Saved store {store_id!r} ({config.name}): "
        + (f"connection {conn_id!r} (type cartum) written, " if connection else f"connection {conn_id!r} reused, ")
        + f"entry added to the Variable {VARIABLE_NAME}; {len(status_map)} statuses matched.")
    for same in same_shop:
        warn(f"Warning (--allow-same-shop): {url} is a Cartum shop {same}: {SAME_SHOP_HARM}. "
             f"`cartum-roapp stores remove {store_id}` takes the new store off again.")
    if config.enabled:
        for line in _first_run_note(config, cartum.get_statuses() if cartum else None):
            out(line)
    else:
        out(f"The store is disabled: no DAG until `cartum-roapp stores edit {store_id} --enabled`.")
    return EXIT_OK


def _summary(config: StoreConfig, url: str) -> str:
    from ..form import format_managers

    return "\n".join([
        f"  store        {config.store_id} ({config.name}), {'enabled' if config.enabled else 'disabled'}",
        f"  Cartum       {url} (connection {config.cartum_conn_id})",
        f"  RO App       location {config.location_id}, order type {config.order_type_id} "
        f"(connection {config.roapp_conn_id})",
        f"  products     language {config.language}, matched by {config.product_key}",
        f"  managers     {format_managers(config.managers)}",
        f"  statuses     {', '.join(f'{k}→{v}' for k, v in sorted(config.status_map.items(), key=_numeric))}",
        f"  first import the last {config.import_days} days",
    ])


def _numeric(item: tuple[str, Any]) -> tuple[int, str]:
    return (int(item[0]) if item[0].isdigit() else 1 << 30, item[0])


def _first_run_note(config: StoreConfig, cartum_statuses: list[dict[str, Any]] | None) -> list[str]:
    """When the store's first import starts, as far as this deployment's settings tell.

    The DAGs run on a cron schedule without catch-up, which Airflow 3 turns into a
    CronTriggerTimetable: a new (or newly unpaused) DAG runs the latest past tick at once,
    not the next one."""
    from ...setup_checks import status_title
    from ..airflow_store import dag_timing

    timing = dag_timing(config.dag_id)
    titles = {str(s.get("id")): status_title(s, config.language) for s in cartum_statuses or []}
    skipped = ", ".join(f"{s} ({titles[str(s)]})" if str(s) in titles else str(s)
                        for s in config.skip_statuses_on_import)
    lines = [f"The DAG {config.dag_id} appears when the DAG processor next parses the DAG files (within about "
             f"{timing.parse_interval} s, [dag_processor] min_file_process_interval). Its first run is the first "
             f"import: the orders created in the last {config.import_days} days"
             + (f", except those in status {skipped}" if skipped else "") + ", with their clients and products."]
    paused = timing.known_paused if timing.known_paused is not None else timing.paused_at_creation
    if paused:
        why = ("the DAG is known to Airflow from before and is paused" if timing.known_paused
               else "DAGs are paused at creation in this deployment ([core] dags_are_paused_at_creation = True)")
        lines.append(f"It will not start on its own: {why}. Unpause it in the UI or with `airflow dags unpause "
                     f"{config.dag_id}`: the scheduler then runs the latest {SCHEDULE_MINUTES}-minute tick at once "
                     f"(no catch-up), and every {SCHEDULE_MINUTES} minutes after that.")
    else:
        parsed_by = datetime.now().astimezone() + timedelta(seconds=timing.parse_interval)
        lines.append(f"Once parsed, the scheduler runs the latest {SCHEDULE_MINUTES}-minute tick at once (no "
                     f"catch-up), so the first import starts by about {parsed_by:%H:%M %Z}; then every "
                     f"{SCHEDULE_MINUTES} minutes.")
    return lines
