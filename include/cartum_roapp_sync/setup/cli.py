"""``cartum-roapp``: connect Cartum stores to RO App in an Airflow deployment, the way RO
App's own connector does: credentials checked on the spot, every Cartum status matched
before the first import, clear errors, and edit and remove afterwards.

It works on the Airflow metadata database that AIRFLOW_HOME /
AIRFLOW__DATABASE__SQL_ALCHEMY_CONN point at, like ``airflow variables set`` and
``airflow connections add``: a store is an entry in the Variable ``cartum_roapp_stores``
plus a ``cartum`` connection. Every command takes flags for scripts and, when stdin is a
terminal, asks for what is missing. Airflow is imported only once a command runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timedelta
from typing import Any, Sequence

from ..config import DEFAULT_ROAPP_CONN_ID, VARIABLE_NAME, ConfigError, StoreConfig, parse_store, parse_stores
from .prompts import Prompter, Stopped

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, EXIT_STOPPED = 0, 1, 2, 130
#: The DAGs run on "*/5 * * * *" (``dags.SCHEDULE``; not imported here, it pulls in Airflow).
SCHEDULE_MINUTES = 5
DEFAULT_IMPORT_DAYS = 60
#: ``--password`` given without a value: ask for it, hidden.
ASK = object()


class UsageError(Exception):
    """The command cannot run as given (a missing flag, nothing to do): exit code 2."""


class Failed(Exception):
    """The command ran and found problems, already printed: exit code 1."""


# --- parser -------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cartum-roapp",
        description="Connect Cartum online stores to RO App in this Airflow deployment (the metadata database of "
                    "AIRFLOW_HOME / AIRFLOW__DATABASE__SQL_ALCHEMY_CONN, as for `airflow variables set`).")
    groups = parser.add_subparsers(dest="group", required=True, metavar="stores")
    stores = groups.add_parser("stores", help="add, list, check, edit and remove stores",
                               description="Stores: each is an entry in the Airflow Variable "
                                           f"{VARIABLE_NAME} plus a `cartum` connection; each enabled "
                                           "store gets the DAG cartum_roapp__<store_id>.")
    commands = stores.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--no-input", action="store_true",
                        help="never ask (also the case when stdin is not a terminal): what is missing is an error")

    add = commands.add_parser("add", parents=[common], help="connect a new store",
                              description="Connect a store: credentials checked with one real login, the catalogue "
                                          "read to check the language and product key, every Cartum status "
                                          "matched to an RO App status. Asks for what no flag gives when stdin is a "
                                          "terminal. Writes the Cartum connection and the store's entry.")
    add.add_argument("--name", help="store name shown in RO App's Store field (at most 64 characters)")
    add.add_argument("--store-id", help="a-z, 0-9 and _; part of the DAG id; never changes (default: from the name)")
    add.add_argument("--url", help="the store's address with https://, e.g. https://shop.example.com")
    add.add_argument("--login", help="Cartum administrator's user name (Settings → Administrators; not the e-mail)")
    _password_flags(add, "Cartum password")
    add.add_argument("--cartum-conn-id", help="Airflow connection to write (default: cartum_<store_id>); if it "
                                              "exists already and no --url/--login/--password is given, it is used")
    add.add_argument("--replace-connection", action="store_true",
                     help="overwrite an existing --cartum-conn-id with --url/--login/--password")
    add.add_argument("--roapp-conn-id", default=DEFAULT_ROAPP_CONN_ID,
                     help="existing RO App connection (default: %(default)s)")
    _setting_flags(add)
    add.add_argument("--status", action="append", default=[], metavar="CARTUM_ID=ROAPP_ID",
                     help="match a Cartum status to an RO App status (repeat for each status)")
    add.add_argument("--disabled", action="store_true", help="save the store disabled (no DAG until enabled)")
    add.set_defaults(handler=cmd_add)

    listing = commands.add_parser("list", parents=[common], help="list the stores",
                                  description="List the stores of the Variable (no API call).")
    listing.add_argument("--json", action="store_true", help="print the Variable's entries as JSON")
    listing.set_defaults(handler=cmd_list)

    statuses = commands.add_parser("statuses", parents=[common], help="show and match a store's statuses",
                                   description="Every Cartum status (title in the store's language) beside the RO "
                                               "App status it is matched to, the ones not yet matched, and the RO "
                                               "App statuses to choose from. At a terminal, offers to match the "
                                               "unmatched ones.")
    statuses.add_argument("store", help="store_id")
    statuses.add_argument("--set", action="append", default=[], metavar="CARTUM_ID=ROAPP_ID", dest="pairs",
                          help="match a Cartum status to an RO App status, e.g. --set 5=203 (repeatable)")
    statuses.set_defaults(handler=cmd_statuses)

    edit = commands.add_parser("edit", parents=[common], help="change a store's settings",
                               description="Change settings; what changed is checked before anything is written. "
                                           "The change takes effect at the store's next run; its sync state "
                                           "(keyed by store_id, which never changes) is kept. With no flag, at a "
                                           "terminal, asks for each setting with the current value as default.")
    edit.add_argument("store", help="store_id")
    edit.add_argument("--name", help="store name shown in RO App (at most 64 characters)")
    _setting_flags(edit, defaults=False)
    enabled = edit.add_mutually_exclusive_group()
    enabled.add_argument("--enabled", dest="enabled", action="store_const", const=True,
                         help="enable the store (its DAG comes back and resumes from its watermark)")
    enabled.add_argument("--disabled", dest="enabled", action="store_const", const=False,
                         help="disable the store (its DAG goes away; its state is kept)")
    edit.add_argument("--url", help="new store address (changes the Cartum connection)")
    edit.add_argument("--login", help="new Cartum user name (changes the Cartum connection)")
    _password_flags(edit, "new Cartum password (rotates it in the Cartum connection)")
    edit.set_defaults(handler=cmd_edit)

    check = commands.add_parser("check", parents=[common], help="run every check of a store (writes nothing)",
                                description="Every validation, deep (reads the whole catalogue), no writes. Exit "
                                            "code 1 when a problem is found.")
    check.add_argument("store", help="store_id")
    check.set_defaults(handler=cmd_check)

    remove = commands.add_parser("remove", parents=[common], help="remove a store",
                                 description="Remove the store's entry (its DAG goes away at the next parse) and its "
                                             "Cartum connection. The sync state is kept unless --purge. Nothing is "
                                             "deleted in RO App or Cartum.")
    remove.add_argument("store", help="store_id")
    remove.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    remove.add_argument("--purge", action="store_true",
                        help="also delete the store's sync state (watermarks, id map, run history, quarantine)")
    remove.add_argument("--keep-connection", action="store_true", help="keep the Cartum connection")
    remove.set_defaults(handler=cmd_remove)
    return parser


def _password_flags(parser: argparse.ArgumentParser, what: str) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--password", nargs="?", const=ASK, metavar="PASSWORD",
                       help=f"{what}; without a value it is asked for, hidden (keeps it out of the shell history)")
    group.add_argument("--password-stdin", action="store_true", help=f"read the {what} from the first line of stdin")


def _setting_flags(parser: argparse.ArgumentParser, defaults: bool = True) -> None:
    parser.add_argument("--location-id", type=int, help="RO App location (branch) that receives the orders")
    parser.add_argument("--order-type-id", type=int, help="RO App order type of the orders")
    parser.add_argument("--language", type=str.lower, help="Cartum language of product names, e.g. ua")
    parser.add_argument("--product-key", choices=("sku", "barcode"),
                        help="match products by sku (article) or barcode (gtin)" + (" (default: sku)" if defaults else ""))
    parser.add_argument("--managers", type=_managers_arg, metavar="all|ID,ID",
                        help="\"all\" or RO App employee ids" + (" (default: all)" if defaults else ""))
    parser.add_argument("--import-days", type=int, help="first import: orders created in the last N days"
                                                        + (f" (default: {DEFAULT_IMPORT_DAYS})" if defaults else ""))


def _managers_arg(text: str) -> Any:
    from .form import parse_managers

    try:
        return parse_managers(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    ui = Prompter() if sys.stdin.isatty() and not args.no_input else None
    try:
        _prepare_airflow()
        return args.handler(args, ui)
    except UsageError as exc:
        print(f"cartum-roapp: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except Failed:
        return EXIT_PROBLEMS
    except Stopped:
        print("Stopped; nothing was saved.", file=sys.stderr)
        return EXIT_STOPPED
    except KeyboardInterrupt:
        print("\nStopped.", file=sys.stderr)
        return EXIT_STOPPED
    except Exception as exc:  # noqa: BLE001 - sorted below; anything else is a bug with a traceback
        from ..transport import ApiError
        from .airflow_store import AirflowStoreError

        if isinstance(exc, (AirflowStoreError, ConfigError, ApiError)):
            print(f"cartum-roapp: {exc}", file=sys.stderr)
            return EXIT_PROBLEMS
        raise


def _prepare_airflow() -> None:
    import logging
    import warnings

    from .airflow_store import use_server_context

    use_server_context()
    warnings.simplefilter("ignore", DeprecationWarning)
    import airflow  # noqa: F401 - configures logging; the levels below must come after it
    # The clients log each login and page at INFO: useful in a task log, noise at a prompt.
    logging.getLogger("cartum_roapp_sync").setLevel(logging.WARNING)
    # Reading the Variable registers it with Airflow's log masker, which warns about short values.
    logging.getLogger("airflow._shared.secrets_masker.secrets_masker").setLevel(logging.ERROR)


# --- helpers ------------------------------------------------------------------------------

def out(text: str = "") -> None:
    print(text, flush=True)


def report(problems: list[Any], headline: str, flags: dict[str, str] | None = None) -> None:
    """Problems on stderr, each with its field and the flag that sets it."""
    from .form import describe

    print(headline, file=sys.stderr)
    for problem in problems:
        print(f"  ✗ {describe(problem, flags)}", file=sys.stderr)


def _password(args: argparse.Namespace, ui: Prompter | None, label: str) -> str | None:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if args.password is ASK:
        if ui is None:
            raise UsageError("--password has no value and stdin is not a terminal: give --password VALUE or "
                             "--password-stdin")
        return ui.secret(label)
    return args.password


def _find(entries: list[Any], store_id: str) -> dict[str, Any]:
    for entry in entries:
        if isinstance(entry, dict) and entry.get("store_id") == store_id:
            return entry
    known = ", ".join(str(e.get("store_id")) for e in entries if isinstance(e, dict)) or "none"
    raise UsageError(f"no store {store_id!r} in the Variable {VARIABLE_NAME} (stores: {known}); "
                     f"`cartum-roapp stores list` shows them")


def _replace(entries: list[Any], store_id: str, entry: dict[str, Any] | None) -> list[Any]:
    """The entries with the store's entry replaced (or dropped, for None)."""
    _find(entries, store_id)  # it may have been removed since it was read
    return [(entry if isinstance(e, dict) and e.get("store_id") == store_id else e)
            for e in entries if entry is not None or not (isinstance(e, dict) and e.get("store_id") == store_id)]


def _roapp(conn_id: str, other: str = "or name the store's RO App connection in its entry (roapp_conn_id)") -> Any:
    """The RO App account of an existing connection, checked with one real call."""
    from ..transport import ApiError
    from .airflow_store import get_connection
    from .sources import open_roapp

    if get_connection(conn_id) is None:
        raise UsageError(
            f"the RO App connection {conn_id!r} does not exist in this Airflow: create it with\n"
            f"  airflow connections add {conn_id} --conn-type roapp --conn-host https://api.roapp.io "
            f"--conn-password '<API key>'\n"
            f"(the API key is under RO App → Settings → API), {other}")
    roapp = open_roapp(conn_id)
    try:
        roapp.branches()
    except ApiError as exc:
        report([_problem("roapp_conn_id", f"connection {conn_id!r}: {exc}")], "RO App cannot be read:")
        raise Failed() from None
    return roapp


def _problem(field: str, message: str) -> Any:
    from ..setup_checks import Problem

    return Problem(field, message)


def _schema_problems(entry: dict[str, Any]) -> list[Any]:
    try:
        parse_store(entry)
    except ConfigError as exc:
        return [_problem("entry", f"{exc}: fix the field(s) named")]
    return []


def _first_run_note(config: StoreConfig, cartum_statuses: list[dict[str, Any]] | None) -> list[str]:
    """When the store's first import starts, as far as this deployment's settings tell.

    The DAGs run on a cron schedule without catch-up, which Airflow 3 turns into a
    CronTriggerTimetable: a new (or newly unpaused) DAG runs the latest past tick at once,
    not the next one."""
    from .airflow_store import dag_timing
    from ..setup_checks import status_title

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


# --- stores add ---------------------------------------------------------------------------


def cmd_add(args: argparse.Namespace, ui: Prompter | None) -> int:
    from .airflow_store import CartumConnectionWrite, connection_in_database, ensure_writable, get_connection
    from .airflow_store import read_entries, write_entries
    from .form import FIELD_FLAGS, StoreForm, parse_status_pair, store_id_from_name
    from ..setup_checks import SetupError, check_entry, check_status_matching

    ensure_writable()  # before asking anything: a shadowed Variable cannot be written
    password = _password(args, ui, "Cartum password (not shown)")
    try:
        pairs = dict(parse_status_pair(p) for p in args.status)
    except ValueError as exc:
        raise UsageError(f"--status {exc}") from None
    entries = read_entries()
    store_id = args.store_id or (store_id_from_name(args.name) if args.name else None)
    conn_id = args.cartum_conn_id or (f"cartum_{store_id}" if store_id else None)
    existing = get_connection(conn_id) if conn_id else None
    credentials_given = any(v is not None for v in (args.url, args.login, password))
    if ui is None:
        needed = {"--name": args.name}
        if existing is None or credentials_given:
            needed.update({"--url": args.url, "--login": args.login, "--password": password})
        needed.update({"--location-id": args.location_id, "--order-type-id": args.order_type_id,
                       "--language": args.language})
        missing = [flag for flag, value in needed.items() if value is None]
        if missing:
            raise UsageError(f"missing {', '.join(missing)}: stdin is not a terminal (or --no-input), so nothing "
                             f"is asked; give them as flags (`cartum-roapp stores add --help`)")

    roapp = _roapp(args.roapp_conn_id, "or name another with --roapp-conn-id")
    form = StoreForm(ui, entries, roapp)
    if ui is not None:
        ui.say(f"Connecting a Cartum store to RO App (connection {args.roapp_conn_id!r}, {roapp.base_url}). "
               f"Nothing is saved before the end; Ctrl+C stops.")
    form.name(args.name)
    store_id = form.store_id(args.store_id)
    conn_id = form.cartum_conn_id(args.cartum_conn_id)

    # The Cartum connection: reuse an existing one, or write the credentials given.
    existing = get_connection(conn_id) if conn_id else None
    replace = existing is not None and (args.replace_connection or credentials_given)
    if existing is not None and ui is not None and not credentials_given:
        replace = not ui.confirm(f"The connection {conn_id!r} exists ({existing.host}, user "
                                 f"{existing.login!r}). Use it?", default=True)
    if existing is not None and credentials_given and not args.replace_connection:
        form.problems.append(_problem("cartum_conn_id", f"the connection {conn_id!r} already exists in Airflow: "
                                                        f"leave out --url, --login and --password to use it, add "
                                                        f"--replace-connection to overwrite it, or choose another "
                                                        f"--cartum-conn-id"))
    elif replace and not connection_in_database(conn_id):
        form.problems.append(_problem("cartum_conn_id", f"the connection {conn_id!r} is defined outside the "
                                                        f"metadata database (an environment variable or secrets "
                                                        f"backend): change it there, or choose another "
                                                        f"--cartum-conn-id"))
    if existing is not None and not replace:
        url, login, password = (existing.host or ""), (existing.login or ""), (existing.password or "")
    else:
        url, login = args.url, args.login
    cartum, url, login, password = form.cartum_login(url, login, password)
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
        form.problems += check_status_matching(cartum.get_statuses(), status_map, None, form.entry["language"])
    entry = {"store_id": store_id, "name": form.entry["name"], "enabled": not args.disabled,
             "cartum_conn_id": conn_id, "roapp_conn_id": args.roapp_conn_id,
             "location_id": form.entry["location_id"], "order_type_id": form.entry["order_type_id"],
             "language": form.entry["language"], "product_key": form.entry["product_key"],
             "managers": form.entry["managers"], "status_map": status_map,
             "import_days": form.entry["import_days"]}
    if not form.problems:
        form.problems += _schema_problems(entry)
    if form.problems:
        report(form.problems, f"Store {store_id!r} was not saved: fix these and run the command again:",
               {**FIELD_FLAGS, "status_map": "--status"})
        return EXIT_PROBLEMS

    config = parse_store(entry)
    if ui is not None:
        ui.say()
        ui.say(_summary(config, url))
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
    if config.enabled:
        for line in _first_run_note(config, cartum.get_statuses() if cartum else None):
            out(line)
    else:
        out(f"The store is disabled: no DAG until `cartum-roapp stores edit {store_id} --enabled`.")
    return EXIT_OK


def _summary(config: StoreConfig, url: str) -> str:
    from .form import format_managers

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


# --- stores list --------------------------------------------------------------------------

def cmd_list(args: argparse.Namespace, ui: Prompter | None) -> int:
    from .airflow_store import read_entries, variable_shadowed_by
    from .form import format_managers

    entries = read_entries()
    if args.json:
        out(json.dumps(entries, indent=2, ensure_ascii=False))
        return EXIT_OK
    shadow = variable_shadowed_by()
    if shadow:
        out(f"(the Variable comes from {shadow}, not the metadata database: the tool can read it but not change it)")
    parsed = parse_stores(entries)
    if not entries:
        out(f"No stores yet (the Variable {VARIABLE_NAME} is empty or unset). Add one with `cartum-roapp stores add`.")
        return EXIT_OK
    rows = [("STORE", "NAME", "ENABLED", "CARTUM CONNECTION", "LOCATION", "ORDER TYPE", "LANGUAGE", "KEY",
             "MANAGERS", "STATUSES")]
    for s in parsed.stores:
        rows.append((s.store_id, s.name, "yes" if s.enabled else "no", s.cartum_conn_id, str(s.location_id),
                     str(s.order_type_id), s.language, s.product_key, format_managers(s.managers),
                     f"{len(s.status_map)} matched"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        out("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    for label, error in parsed.errors.items():
        out(f"! {label}: not valid, it gets a placeholder DAG until fixed: {error}")
    return EXIT_OK


# --- stores statuses ----------------------------------------------------------------------

def cmd_statuses(args: argparse.Namespace, ui: Prompter | None) -> int:
    from .airflow_store import read_entries
    from .form import StoreForm, parse_status_pair, roapp_status_label
    from ..setup_checks import status_title

    try:
        pairs = dict(parse_status_pair(p) for p in args.pairs)
    except ValueError as exc:
        raise UsageError(f"--set {exc}") from None
    entries = read_entries()
    entry = _find(entries, args.store)
    roapp = _roapp(entry.get("roapp_conn_id") or DEFAULT_ROAPP_CONN_ID)
    cartum = _cartum_of(entry)
    language = str(entry.get("language") or "ua")
    current = {str(k): v for k, v in (entry.get("status_map") or {}).items()}
    form = StoreForm(ui if not pairs else None, entries, roapp, editing=args.store)
    form.entry = dict(entry)
    if pairs:
        problems = form.check_pairs(cartum, pairs)
        if problems:
            report(problems, "Nothing was saved:")
            return EXIT_PROBLEMS
        current = _save_status_map(args.store, {**current, **pairs})

    cartum_statuses = cartum.get_statuses()
    roapp_by_id = {int(s["id"]): s for s in roapp.order_statuses()}
    out(f"Statuses of store {args.store!r} (Cartum titles in {language}):")
    width = max([len(status_title(s, language)) for s in cartum_statuses] + [10])
    for status in cartum_statuses:
        target = current.get(str(status["id"]))
        shown = ("not matched" if target is None else
                 f"{target} {roapp_status_label(roapp_by_id[int(target)])}" if int(target) in roapp_by_id else
                 f"{target} (no such RO App status: match it again)")
        out(f"  {status['id']:>4}  {status_title(status, language):<{width}}  →  {shown}")
    stale = sorted(set(current) - {str(s["id"]) for s in cartum_statuses}, key=lambda k: (len(k), k))
    if stale:
        out(f"Matched but no longer in Cartum (harmless): {', '.join(f'{k}→{current[k]}' for k in stale)}")
    unmatched = [s for s in cartum_statuses if str(s["id"]) not in current]
    if not unmatched:
        out("Every Cartum status is matched.")
        return EXIT_OK
    names = ", ".join(f"{s['id']} ({status_title(s, language)})" for s in unmatched)
    out(f"Not yet matched: {names}. The store cannot sync until they are.")
    if ui is None or pairs:
        out("RO App statuses: " + ", ".join(f"{i} {roapp_status_label(s)}" for i, s in sorted(roapp_by_id.items())))
        out(f"Match them with: cartum-roapp stores statuses {args.store} --set CARTUM_ID=ROAPP_ID [--set ...]")
        return EXIT_OK
    if not ui.confirm(f"Match the {len(unmatched)} unmatched status(es) now?", default=True):
        return EXIT_OK
    mapping = form.match_statuses(cartum, {}, current=current)
    _save_status_map(args.store, mapping)
    out(f"Saved: every Cartum status of {args.store!r} is matched.")
    return EXIT_OK


def _save_status_map(store_id: str, mapping: dict[str, int]) -> dict[str, int]:
    from .airflow_store import write_entries

    def change(current: list[Any]) -> list[Any]:
        entry = {**_find(current, store_id)}
        entry["status_map"] = {**{str(k): v for k, v in (entry.get("status_map") or {}).items()}, **mapping}
        return _replace(current, store_id, entry)

    write_entries(change)
    return mapping


def _cartum_of(entry: dict[str, Any], url: str | None = None, login: str | None = None,
               password: str | None = None) -> Any:
    """The store's Cartum, from its connection with any of the fields replaced; one login.
    Raises Failed (after printing why) when that is not possible."""
    from .airflow_store import get_connection
    from .sources import CachedCartum
    from ..setup_checks import check_cartum_login, check_store_url

    conn_id = str(entry.get("cartum_conn_id") or "")
    conn = get_connection(conn_id) if conn_id else None
    if conn is None and None in (url, login, password):
        report([_problem("cartum_conn_id", f"the connection {conn_id!r} does not exist in Airflow: create it with "
                                           f"`cartum-roapp stores edit {entry.get('store_id')} --url URL --login "
                                           f"USER --password`")], "The store's Cartum cannot be read:")
        raise Failed()
    url = url if url is not None else (conn.host or "").strip()
    login = login if login is not None else conn.login or ""
    password = password if password is not None else conn.password or ""
    problems = check_store_url(url)
    if not problems:
        cartum = CachedCartum.connect(url, login, password)
        problems = check_cartum_login(cartum)
        if not problems:
            return cartum
    report(problems, f"The store's Cartum cannot be read (connection {conn_id!r}):")
    raise Failed()


# --- stores edit --------------------------------------------------------------------------

EDITABLE = ("name", "location_id", "order_type_id", "language", "product_key", "managers", "import_days", "enabled")


def cmd_edit(args: argparse.Namespace, ui: Prompter | None) -> int:
    from .airflow_store import CartumConnectionWrite, connection_in_database, ensure_writable, read_entries
    from .airflow_store import write_entries
    from .sources import CachedCartum
    from ..setup_checks import check_catalogue, check_entry, check_roapp_references, validate_store

    ensure_writable()
    entries = read_entries()
    entry = _find(entries, args.store)
    changes = {k: getattr(args, k) for k in EDITABLE if getattr(args, k) is not None}
    password = _password(args, ui, "New Cartum password (not shown)")
    credentials = {k: v for k, v in (("url", args.url), ("login", args.login), ("password", password))
                   if v is not None}
    if not changes and not credentials:
        if ui is None:
            raise UsageError("nothing to change: give one or more of --name, --location-id, --order-type-id, "
                             "--language, --product-key, --managers, --import-days, --enabled/--disabled, --url, "
                             "--login, --password (`cartum-roapp stores edit --help`)")
        changes, credentials = _ask_edits(ui, entry, args.store)
        if not changes and not credentials:
            ui.say("Nothing changed.")
            return EXIT_OK

    new = {**entry, **changes}
    roapp_conn_id = str(new.get("roapp_conn_id") or DEFAULT_ROAPP_CONN_ID)
    others = [s for s in parse_stores(entries).stores if s.store_id != args.store]
    problems = check_entry(new, others)
    if not problems:
        problems = _schema_problems(new)
    if problems:
        report(problems, f"Store {args.store!r} was not changed:")
        return EXIT_PROBLEMS
    config = parse_store(new)
    reenabled = changes.get("enabled") is True and entry.get("enabled") is False
    cartum: CachedCartum | None = None
    needs_cartum = bool(credentials) or reenabled or {"language", "product_key"} & set(changes)
    if needs_cartum:
        cartum = _cartum_of(new, credentials.get("url"), credentials.get("login"), credentials.get("password"))
    if reenabled or {"location_id", "order_type_id", "managers", "language", "product_key"} & set(changes):
        roapp = _roapp(roapp_conn_id)
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

    connection = None
    if credentials:
        if not connection_in_database(config.cartum_conn_id) and len(credentials) < 3:
            report([_problem("cartum_conn_id", f"the connection {config.cartum_conn_id!r} is not in the metadata "
                                               f"database (an environment variable or secrets backend defines "
                                               f"it): change it there")], f"Store {args.store!r} was not changed:")
            return EXIT_PROBLEMS
        connection = CartumConnectionWrite(config.cartum_conn_id, host=credentials.get("url"),
                                           login=credentials.get("login"), password=credentials.get("password"))
    write_entries(lambda current: _replace(current, args.store, {**_find(current, args.store), **changes}),
                  connection=connection)
    what = [*changes] + [f"{'Cartum ' if k != 'url' else 'store '}{k}" for k in credentials]
    out(f"Saved store {args.store!r}: changed {', '.join(what)}. Its sync state is kept.")
    out(_after_edit_note(config, changes, reenabled))
    return EXIT_OK


def _ask_edits(ui: Prompter, entry: dict[str, Any], store_id: str) -> tuple[dict[str, Any], dict[str, str]]:
    """At a terminal, with no flag: every setting asked with its current value as default."""
    from .form import format_managers, parse_managers

    ui.say(f"Editing store {store_id!r}; Enter keeps the value in brackets.")
    answers: dict[str, Any] = {
        "name": ui.ask("Store name", entry.get("name")),
        "location_id": ui.ask("RO App location id", entry.get("location_id")),
        "order_type_id": ui.ask("RO App order type id", entry.get("order_type_id")),
        "language": ui.ask("Language", entry.get("language")).lower(),
        "product_key": ui.ask("Product key (sku or barcode)", entry.get("product_key")).lower(),
        "managers": ui.ask("Managers (all or ids)", format_managers(entry.get("managers"))),
        "import_days": ui.ask("First import days", entry.get("import_days", DEFAULT_IMPORT_DAYS)),
        "enabled": ui.confirm("Enabled?", default=entry.get("enabled", True) is not False),
    }
    for key in ("location_id", "order_type_id", "import_days"):
        answers[key] = int(answers[key]) if str(answers[key]).isdigit() else answers[key]
    try:
        answers["managers"] = parse_managers(answers["managers"])
    except ValueError:
        pass  # reported by check_entry/check_managers below with the field named
    changes = {k: v for k, v in answers.items() if v != entry.get(k, True if k == "enabled" else None)}
    password = ui.secret("New Cartum password (Enter keeps the current one)", required=False)
    return changes, ({"password": password} if password else {})


def _after_edit_note(config: StoreConfig, changes: dict[str, Any], reenabled: bool) -> str:
    from .airflow_store import dag_timing

    if changes.get("enabled") is False:
        return (f"The DAG {config.dag_id} goes away at the next parse; `cartum-roapp stores edit {config.store_id} "
                f"--enabled` brings it back, resuming from its watermark.")
    timing = dag_timing(config.dag_id)
    note = (f"The change takes effect at the store's next run (the DAG file is parsed again within about "
            f"{timing.parse_interval} s).")
    if reenabled:
        from ..state.airflow import state_engine
        from ..state.store import StateStore

        state = StateStore(state_engine(), config.store_id).get_store_state()
        watermark = (state or {}).get("orders_watermark")
        note += (f" It resumes from its watermark: orders created after {watermark} (store time)." if watermark else
                 f" It has no sync state yet, so its first run is a first import (the last {config.import_days} "
                 f"days).")
        if timing.known_paused:
            note += f" The DAG is paused: `airflow dags unpause {config.dag_id}`."
    return note


# --- stores check -------------------------------------------------------------------------

def cmd_check(args: argparse.Namespace, ui: Prompter | None) -> int:
    from .airflow_store import get_connection, read_entries
    from .sources import open_cartum_connection
    from ..setup_checks import check_entry, check_store_url, validate_store

    entries = read_entries()
    entry = _find(entries, args.store)
    others = [s for s in parse_stores(entries).stores if s.store_id != args.store]
    problems = check_entry(entry, others) or _schema_problems(entry)
    if problems:
        report(problems, f"Store {args.store!r}: {len(problems)} problem(s) in its entry:")
        return EXIT_PROBLEMS
    config = parse_store(entry)
    out(f"Checking store {args.store!r} ({config.name}{'' if config.enabled else ', disabled'}): every check, the "
        f"whole catalogue read, nothing written…")
    problems = []
    conn = get_connection(config.cartum_conn_id)
    if conn is None:
        problems.append(_problem("cartum_conn_id", f"the connection {config.cartum_conn_id!r} does not exist in "
                                                   f"Airflow: create it with `cartum-roapp stores edit {args.store} "
                                                   f"--url URL --login USER --password`"))
    else:
        problems += check_store_url((conn.host or "").strip())
    try:
        roapp = _roapp(config.roapp_conn_id)
    except UsageError as exc:
        problems.append(_problem("roapp_conn_id", str(exc)))
    if not problems:
        cartum = open_cartum_connection(conn)
        problems = validate_store(config, cartum, roapp, deep=True, others=others)
    if problems:
        report(problems, f"Store {args.store!r}: {len(problems)} problem(s):")
        return EXIT_PROBLEMS
    out(f"✓ Store {args.store!r} passed every check: Cartum login, {len(cartum.products())} products in "
        f"{config.language!r} by {config.product_key}, location {config.location_id}, order type "
        f"{config.order_type_id}, managers, {len(config.status_map)} statuses matched.")
    return EXIT_OK


# --- stores remove ------------------------------------------------------------------------

def cmd_remove(args: argparse.Namespace, ui: Prompter | None) -> int:
    from .airflow_store import connection_in_database, ensure_writable, read_entries, write_entries

    ensure_writable()
    entry = _find(read_entries(), args.store)
    conn_id = str(entry.get("cartum_conn_id") or "")
    delete_conn = bool(conn_id) and not args.keep_connection and connection_in_database(conn_id)
    plan = [f"its entry leaves the Variable {VARIABLE_NAME}, so the DAG cartum_roapp__{args.store} goes away at the "
            f"next parse",
            f"the connection {conn_id!r} is deleted" if delete_conn else f"the connection {conn_id!r} is kept",
            "its sync state is deleted (--purge)" if args.purge else
            "its sync state is kept (re-adding the store with the same id resumes from it; --purge deletes it)",
            "nothing is deleted in RO App or Cartum"]
    if not args.yes:
        if ui is None:
            raise UsageError("removing a store needs --yes when stdin is not a terminal (or with --no-input)")
        ui.say(f"Remove store {args.store!r} ({entry.get('name')})?")
        for line in plan:
            ui.say(f"  - {line}")
        if not ui.confirm("Remove it?", default=False):
            ui.say("Nothing was removed.")
            return EXIT_OK
    write_entries(lambda current: _replace(current, args.store, None),
                  delete_connection=conn_id if delete_conn else None)
    if args.purge:
        from ..state.airflow import state_engine
        from ..state.store import StateStore

        StateStore(state_engine(), args.store).purge()
    out(f"Removed store {args.store!r}: " + "; ".join(plan) + ".")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
