"""``cartum-roapp``: connect Cartum stores to RO App in an Airflow deployment, the way RO
App's own connector does: credentials checked on the spot, every Cartum status matched
before the first import, clear errors, and edit and remove afterwards.

It works on the Airflow metadata database that AIRFLOW_HOME /
AIRFLOW__DATABASE__SQL_ALCHEMY_CONN point at, like ``airflow variables set`` and
``airflow connections add``: a store is an entry in the Variable ``cartum_roapp_stores``
plus a ``cartum`` connection. Every command takes flags for scripts and, when stdin is a
terminal, asks for what is missing. Airflow is imported only once a command runs.

This module is the parser and ``main``; each command is a module of ``commands/``, and
what they share is in ``common``.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, Callable, NoReturn, Sequence

from ..config import DEFAULT_ROAPP_CONN_ID, VARIABLE_NAME, ConfigError
from .commands.add import cmd_add
from .commands.check import cmd_check
from .commands.dry_run import cmd_dry_run
from .commands.edit import cmd_edit
from .commands.history import add_parsers as _history_parsers
from .commands.list import cmd_list
from .commands.probe import cmd_probe
from .commands.reconcile import cmd_reconcile
from .commands.remove import cmd_remove
from .commands.statuses import cmd_statuses
from .common import (
    ASK,
    DEFAULT_IMPORT_DAYS,
    DEFAULT_REMOVE_WAIT,
    EXIT_PROBLEMS,
    EXIT_STOPPED,
    EXIT_USAGE,
    Failed,
    UsageError,
)
from .logs import LOG_FILE_NAME
from .prompts import Prompter, Stopped


# --- parser -------------------------------------------------------------------------------

class Parser(argparse.ArgumentParser):
    """A bad or missing value is one line that says what is wrong, not the whole usage
    (``--help`` still shows it)."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: {message} (`{self.prog} --help` lists the flags)", file=sys.stderr)
        sys.exit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="cartum-roapp",
        description="Connect Cartum online stores to RO App in this Airflow deployment (the metadata database of "
                    "AIRFLOW_HOME / AIRFLOW__DATABASE__SQL_ALCHEMY_CONN, as for `airflow variables set`).")
    groups = parser.add_subparsers(dest="group", required=True, metavar="stores|probe|history|order|quarantine")
    stores = groups.add_parser("stores", help="add, list, check, edit and remove stores",
                               description="Stores: each is an entry in the Airflow Variable "
                                           f"{VARIABLE_NAME} plus a `cartum` connection; each enabled "
                                           "store gets the DAG cartum_roapp__<store_id>.")
    commands = stores.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--no-input", action="store_true",
                        help="never ask (also the case when stdin is not a terminal): what is missing is an error")
    _verbose_flag(common)

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
    add.add_argument("--allow-same-shop", action="store_true",
                     help="save it although another store already syncs the same Cartum shop (same address): "
                          "both stores then import every order, so RO App gets each order twice")
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

    dry = commands.add_parser("dry-run", parents=[common], help="show what the next run would do (writes nothing)",
                              description="Read Cartum and RO App exactly as the store's next run would and print "
                                          "what it would create, update or leave alone in RO App: counts per "
                                          "entity, then the first records of each kind with what would change. "
                                          "Nothing is written: no RO App write, no change to the sync state. A "
                                          "store that never synced shows its first import. Exit code 1 when the "
                                          "next run would stop.")
    dry.add_argument("store", help="store_id")
    dry.add_argument("--show", type=_count("--show", "a number of records"), default=5, metavar="N",
                     help="records shown per entity and action (default: %(default)s)")
    dry.add_argument("--json", action="store_true", help="print the report as JSON")
    dry.set_defaults(handler=cmd_dry_run)

    reconcile = commands.add_parser("reconcile", parents=[common], help="ask for a reconcile pass of a store",
                                    description="Record a request in the state database: the store's next run "
                                                "re-reads the orders created in the last reconcile_days days (default "
                                                "7) and loads what RO App lacks or holds differently. No API call.")
    reconcile.add_argument("store", help="store_id")
    reconcile.set_defaults(handler=cmd_reconcile)

    remove = commands.add_parser("remove", parents=[common], help="remove a store",
                                 description="Remove the store's entry (its DAG goes away at the next parse) and its "
                                             "Cartum connection. The sync state is kept unless --purge. Nothing is "
                                             "deleted in RO App or Cartum.")
    remove.add_argument("store", help="store_id")
    remove.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    remove.add_argument("--purge", action="store_true",
                        help="also delete the store's sync state (watermarks, id map, run history, quarantine)")
    remove.add_argument("--keep-connection", action="store_true", help="keep the Cartum connection")
    running = remove.add_mutually_exclusive_group()
    running.add_argument("--wait", type=_count("--wait", "seconds"), default=DEFAULT_REMOVE_WAIT, metavar="SECONDS",
                         help="a run of the store in progress is waited for this long (the DAG is paused first, "
                              "so no new run starts); still running then, nothing is removed "
                              "(default: %(default)s)")
    running.add_argument("--stop-running", action="store_true",
                         help="stop a run in progress instead of waiting (it is marked failed, its running tasks "
                              "are stopped; what it loaded stays and the sync state says where it stopped)")
    remove.set_defaults(handler=cmd_remove)
    _probe_parser(groups)
    verbose = argparse.ArgumentParser(add_help=False)
    _verbose_flag(verbose)
    _history_parsers(groups, [verbose])
    return parser


def _probe_parser(groups: Any) -> None:
    probe = groups.add_parser("probe", help="read-only live probe of a store's Cartum and RO App (run it before "
                                            "`stores add`)",
                              description="A handful of read calls to the real Cartum and RO App accounts; for every "
                                          "fact the sync assumes about the two APIs: confirmed, contradicted or not "
                                          "checkable, with the evidence (field names and shapes, never personal "
                                          "values), latency, page sizes and rate-limit headers. Writes nothing.")
    probe.add_argument("store", nargs="?", help="a store_id of the Variable, or a `cartum` connection id")
    probe.add_argument("--roapp-only", action="store_true", help="probe RO App only")
    probe.add_argument("--json", action="store_true", help="print the report as JSON")
    probe.add_argument("--record", metavar="DIR", help="save the redacted answers (test fixtures) and report.json")
    probe.add_argument("--roapp-conn-id", help=f"RO App connection (default: the store's, else {DEFAULT_ROAPP_CONN_ID})")
    probe.add_argument("--url", help="Cartum store address, instead of a connection's")
    probe.add_argument("--login", help="Cartum user name, instead of a connection's")
    probe.add_argument("--user-agent", help="User-Agent sent to Cartum (default: the connection's extra user_agent, "
                                            "else cartum-roapp-sync/<version>)")
    _password_flags(probe, "Cartum password")
    probe.add_argument("--no-input", action="store_true", help="never ask")
    _verbose_flag(probe)
    probe.set_defaults(handler=cmd_probe)


def _password_flags(parser: argparse.ArgumentParser, what: str) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--password", nargs="?", const=ASK, metavar="PASSWORD",
                       help=f"{what}; without a value it is asked for, hidden (keeps it out of the shell history)")
    group.add_argument("--password-stdin", action="store_true", help=f"read the {what} from the first line of stdin")


def _verbose_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--verbose", "-v", action="store_true",
                        help="also show the log of the API calls (logins, pages, retries) here; without it the "
                             f"log goes to $AIRFLOW_HOME/logs/{LOG_FILE_NAME}")


def _count(flag: str, what: str) -> Callable[[str], int]:
    """A whole number ≥ 0, or a one-line error that says what the flag wants."""
    def parse(text: str) -> int:
        if text.strip().isdigit():
            return int(text)
        raise argparse.ArgumentTypeError(f"{text!r} is not a number: give {what}")
    parse.__name__ = flag  # argparse names the type in some messages
    return parse


def _setting_flags(parser: argparse.ArgumentParser, defaults: bool = True) -> None:
    parser.add_argument("--location-id", type=_count("--location-id", "the RO App location id (the tool lists "
                                                                    "them when asked at a terminal)"),
                        help="RO App location (branch) that receives the orders")
    parser.add_argument("--order-type-id", type=_count("--order-type-id", "the RO App order type id"),
                        help="RO App order type of the orders")
    # Not lower-cased: 'UA' is refused with the message of the README, like in the Variable.
    parser.add_argument("--language", help="Cartum language code of product names, in lower case, e.g. ua")
    parser.add_argument("--product-key", choices=("sku", "barcode"),
                        help="match products by sku (article) or barcode (gtin)" + (" (default: sku)" if defaults else ""))
    parser.add_argument("--managers", type=_managers_arg, metavar="all|ID,ID",
                        help="\"all\" or RO App employee ids" + (" (default: all)" if defaults else ""))
    parser.add_argument("--import-days", type=_count("--import-days", "a number of days"), help="first import: orders created in the last N days"
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
    log_file = None
    try:
        log_file = _prepare_airflow(args.verbose)
        code = args.handler(args, ui)
        if code != 0:
            _point_to_log(log_file)
        return code
    except UsageError as exc:
        print(f"cartum-roapp: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except Failed:
        _point_to_log(log_file)
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
            _point_to_log(log_file)
            return EXIT_PROBLEMS
        raise


def _prepare_airflow(verbose: bool) -> Any:
    import warnings

    from .airflow_store import use_server_context
    from .logs import route_logs

    use_server_context()
    warnings.simplefilter("ignore", DeprecationWarning)
    import airflow  # noqa: F401 - configures logging; the routing below must come after it

    return route_logs(verbose)


def _point_to_log(log_file: Any) -> None:
    """After a failure: where the API calls' warnings (retries, timeouts) went, if any."""
    if log_file is not None and log_file.warnings:
        print(f"({log_file.warnings} warning(s) of the API calls, e.g. retries, are in {log_file.path}; "
              f"--verbose shows them here)", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
