"""What the commands of ``cartum-roapp`` share: exit codes and the two exceptions that
``main`` turns into them, printing, reading a password from a flag, finding and replacing
a store's entry in the Variable, and opening the RO App and Cartum accounts a command
works with.

Nothing here imports Airflow at import time (``--help`` must stay quick): whatever needs
it imports it inside the function.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..config import VARIABLE_NAME, ConfigError, parse_store
from .prompts import Prompter

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, EXIT_STOPPED = 0, 1, 2, 130
DEFAULT_IMPORT_DAYS = 60
#: ``stores remove``: how long a run in progress is waited for, in seconds (a run of a
#: synced store takes seconds to a few minutes; a first import can take longer).
DEFAULT_REMOVE_WAIT = 600
#: ``--password`` given without a value: ask for it, hidden.
ASK = object()


class UsageError(Exception):
    """The command cannot run as given (a missing flag, nothing to do): exit code 2."""


class Failed(Exception):
    """The command ran and found problems, already printed: exit code 1."""


def out(text: str = "") -> None:
    print(text, flush=True)


def warn(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def report(problems: list[Any], headline: str, flags: dict[str, str] | None = None) -> None:
    """Problems on stderr, each with its field and the flag that sets it."""
    from .form import describe

    print(headline, file=sys.stderr)
    for problem in problems:
        print(f"  ✗ {describe(problem, flags)}", file=sys.stderr)


def problem(field: str, message: str) -> Any:
    from ..setup_checks import Problem

    return Problem(field, message)


def schema_problems(entry: dict[str, Any]) -> list[Any]:
    try:
        parse_store(entry)
    except ConfigError as exc:
        return [problem("entry", f"{exc}: fix the field(s) named")]
    return []


def read_password(args: argparse.Namespace, ui: Prompter | None, label: str) -> str | None:
    """The password of ``--password`` / ``--password-stdin``, asked for hidden when
    ``--password`` has no value; None when neither flag is given."""
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if args.password is ASK:
        if ui is None:
            raise UsageError("--password has no value and stdin is not a terminal: give --password VALUE or "
                             "--password-stdin")
        return ui.secret(label)
    return args.password


# --- the store's entry in the Variable ----------------------------------------------------

def find_entry(entries: list[Any], store_id: str) -> dict[str, Any]:
    for entry in entries:
        if isinstance(entry, dict) and entry.get("store_id") == store_id:
            return entry
    known = ", ".join(str(e.get("store_id")) for e in entries if isinstance(e, dict)) or "none"
    raise UsageError(f"no store {store_id!r} in the Variable {VARIABLE_NAME} (stores: {known}); "
                     f"`cartum-roapp stores list` shows them")


def replace_entry(entries: list[Any], store_id: str, entry: dict[str, Any] | None) -> list[Any]:
    """The entries with the store's entry replaced (or dropped, for None)."""
    find_entry(entries, store_id)  # it may have been removed since it was read
    return [(entry if isinstance(e, dict) and e.get("store_id") == store_id else e)
            for e in entries if entry is not None or not (isinstance(e, dict) and e.get("store_id") == store_id)]


# --- the accounts a command works with ----------------------------------------------------

def roapp_account(conn_id: str,
                  other: str = "or name the store's RO App connection in its entry (roapp_conn_id)") -> Any:
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
        report([problem("roapp_conn_id", f"connection {conn_id!r}: {exc}")], "RO App cannot be read:")
        raise Failed() from None
    return roapp


def store_cartum(entry: dict[str, Any], url: str | None = None, login: str | None = None,
                 password: str | None = None) -> Any:
    """The store's Cartum, from its connection with any of the fields replaced; one login.
    Raises Failed (after printing why) when that is not possible."""
    from ..cartum.client import connection_user_agent
    from ..setup_checks import check_cartum_login, check_store_url
    from .airflow_store import get_connection
    from .sources import CachedCartum

    conn_id = str(entry.get("cartum_conn_id") or "")
    conn = get_connection(conn_id) if conn_id else None
    if conn is None and None in (url, login, password):
        report([problem("cartum_conn_id", f"the connection {conn_id!r} does not exist in Airflow: create it with "
                                          f"`cartum-roapp stores edit {entry.get('store_id')} --url URL --login "
                                          f"USER --password`")], "The store's Cartum cannot be read:")
        raise Failed()
    url = url if url is not None else (conn.host or "").strip()
    login = login if login is not None else conn.login or ""
    password = password if password is not None else conn.password or ""
    problems = check_store_url(url)
    if not problems:
        agent = connection_user_agent(conn.extra_dejson or {}) if conn is not None else None
        cartum = CachedCartum.connect(url, login, password, agent)
        problems = check_cartum_login(cartum)
        if not problems:
            return cartum
    report(problems, f"The store's Cartum cannot be read (connection {conn_id!r}):")
    raise Failed()
