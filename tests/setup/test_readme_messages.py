"""Every refusal the README documents ("The validations and their messages") happens, with
the message it shows: one case per row of the README's table, read from README.md, so a row
added or reworded there without the code (or the other way round) fails here.

A README message matches when its parts between "…" appear, in order, in a message the
check gives; the sandbox's address and login stand in for the README's example ones."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable

import pytest

from cartum_roapp_sandbox.server import SandboxServer
from cartum_roapp_sync.cartum.client import CartumClient
from cartum_roapp_sync.config import parse_store
from cartum_roapp_sync.roapp.client import RoAppClient
from cartum_roapp_sync.setup.commands.add import decide_cartum_connection
from cartum_roapp_sync.setup_checks import (
    MATCH_IN_ADD,
    MATCH_SAVED,
    check_cartum_login,
    check_cartum_status_ids,
    check_catalogue,
    check_entry,
    check_managers,
    check_roapp_references,
    check_same_shop,
    check_status_matching,
    check_store_url,
    split_for_run,
    validate_store,
)
from tests.conftest import CARTUM_LOGIN, CARTUM_PASSWORD, FAST_RETRY, ROAPP_KEY
from tests.fakes import StatusApp
from tests.setup.test_validation import STATUS_MAP, entry

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_rows() -> list[tuple[str, str, list[str]]]:
    """(field, problem, messages) of each row of the README's table of validations."""
    text = README.read_text(encoding="utf-8")
    section = text.split("### The validations and their messages", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        if len(cells) != 3 or cells[0] in ("field", "---") or set(cells[0]) <= {"-"}:
            continue
        rows.append((cells[0], cells[1], re.findall(r"`([^`]+)`", cells[2])))
    return rows


# --- what produces each row's messages ------------------------------------------------------

class Setting:
    def __init__(self, cartum_sandbox, roapp_sandbox, request):
        self.cartum_sandbox, self.roapp_sandbox, self.request = cartum_sandbox, roapp_sandbox, request
        self.roapp = RoAppClient(ROAPP_KEY, roapp_sandbox.url, retry=FAST_RETRY)

    def cartum(self, url: str | None = None, login: str = CARTUM_LOGIN, password: str = CARTUM_PASSWORD):
        return CartumClient(url or self.cartum_sandbox.url, login, password, retry=FAST_RETRY,
                            requests_per_second=0, timeout=5.0)

    def substitutions(self) -> dict[str, str]:
        return {self.cartum_sandbox.url: "https://kyivshop.ua", CARTUM_LOGIN: "shopadmin", "`": ""}


def _messages(problems) -> list[str]:
    return [p.message for p in problems]


def _not_an_api(s: Setting) -> list[str]:
    with SandboxServer(StatusApp(200, "Domain parked"), port=0) as server:
        found = _messages(check_cartum_login(s.cartum(server.url)))
        return [m.replace(server.url, "https://kyivshop.ua") for m in found]


def _did_not_answer(s: Setting) -> list[str]:
    s.cartum_sandbox.admin.faults(script=["503"] * 10)
    return _messages(check_cartum_login(s.cartum()))


def _reading_failed(s: Setting) -> list[str]:
    s.cartum_sandbox.admin.faults(script=[])
    s.cartum_sandbox.admin.fault_rules([{"path": "*get_available_statuses*", "fault": "503", "times": 10}])
    cartum = s.cartum()
    return _messages(validate_store(parse_store(entry()), cartum, s.roapp, deep=False))


def _barcodes(s: Setting) -> list[str]:
    products = s.cartum_sandbox.admin.state()["products"]  # 60: 40 without a barcode, as in the README
    s.cartum_sandbox.admin.action("upsert_products", [{"article": p["article"], "gtin": "" if i < 40 else
                                                       f"4820000{i:06d}"} for i, p in enumerate(products)])
    cartum = s.cartum()
    return _messages(check_catalogue(list(cartum.iter_products()), [], language="ua", product_key="barcode"))


def _nobody_eligible(s: Setting) -> list[str]:
    inactive = [{**e, "is_active": False} for e in s.roapp_sandbox.admin.state()["employees"]]
    s.roapp_sandbox.admin.action("set_reference", {"employees": inactive})
    return _messages(check_managers(s.roapp.employees(), "all", 101))


def _unmatched(s: Setting) -> list[str]:
    """For a saved store, and the hint `stores add` gives instead."""
    partial = {k: v for k, v in STATUS_MAP.items() if k != "8"}
    return [m for how in (MATCH_SAVED, MATCH_IN_ADD)
            for m in _messages(check_status_matching(s.cartum().get_statuses(), partial, how=how))]


def _run_without_managers(s: Setting) -> list[str]:
    [oksana] = [e for e in s.roapp_sandbox.admin.state()["employees"] if e["id"] == 505]
    s.roapp_sandbox.admin.action("upsert_employees", [{**oksana, "is_active": False}])
    config = parse_store(entry(managers=[505, 9999]))
    problems = check_managers(s.roapp.employees(), [505, 9999], 101)
    stopping, _ = split_for_run(problems, config, first_import=False)
    return [m.replace("stores edit kyiv)", "stores edit <store>)") for m in _messages(stopping)]


def _missing_connection(s: Setting) -> list[str]:
    """Through the tool (it reads Airflow's connections): a store whose connection is gone."""
    from tests.setup.test_cli import roapp_env

    airflow_home = s.request.getfixturevalue("airflow_home")
    airflow_home.db(add_stores=[entry(store_id="gone_conn", cartum_conn_id="cartum_gone_conn")])
    result = airflow_home.cli("stores", "check", "gone_conn", env=roapp_env(s.roapp_sandbox))
    assert result.returncode == 1, result.stderr
    return [line.replace("gone_conn", "kyiv") for line in result.stderr.splitlines()]


def _duplicate(s: Setting) -> list[str]:
    from cartum_roapp_sync.setup.form import StoreForm

    found = _messages(check_entry(entry(cartum_conn_id="cartum_new"), [parse_store(entry(name="Kyiv old"))]))
    form = StoreForm(None, [{"store_id": "kyiv", "name": 5}], roapp=None)  # an entry that does not validate
    return found + _messages(form._entry_check("store_id")("kyiv"))


ROWS: dict[tuple[str, str], Callable[[Setting], list[str]]] = {
    ("`store_id`, `name`, `cartum_conn_id`", "empty"):
        lambda s: _messages(check_entry(entry(store_id="", name="", cartum_conn_id=""))),
    ("`name`", "over 64 characters"): lambda s: _messages(check_entry(entry(name="x" * 70))),
    ("`store_id`", "other characters"): lambda s: _messages(check_entry(entry(store_id="Kyiv-Shop"))),
    ("`store_id`", "duplicate"): _duplicate,
    ("`cartum_conn_id`", "used by another store"):
        lambda s: _messages(check_entry(entry(store_id="lviv"), [parse_store(entry())])),
    ("`language`, `product_key`, `import_days`", "malformed"):
        lambda s: _messages(check_entry(entry(language="UA", product_key="ean", import_days=0))),
    ("`url`", "empty"): lambda s: _messages(check_store_url("")),
    ("`url`", "not http(s)"): lambda s: _messages(check_store_url("shop.example.com")),
    ("`url`", "plain http, not loopback"): lambda s: _messages(check_store_url("http://shop.example.com")),
    ("`login`, `password`", "empty (add)"): lambda s: _empty_credentials(),
    ("`login`", "wrong login or password (one real `auth` call)"):
        lambda s: _messages(check_cartum_login(s.cartum(password="wrong-pass-123"))),
    ("`login`", "an e-mail as the login"):
        lambda s: _messages(check_cartum_login(s.cartum(login="admin@kyivshop.ua"))),
    ("`url`", "a shop another store already syncs (add)"): lambda s: _messages(check_same_shop(
        "https://www.kyivshop.ua/", {"kyiv": ("Kyiv shop", "https://kyivshop.ua")})),
    ("`url`", "plan without API access"): lambda s: (
        s.cartum_sandbox.admin.action("set_api_access", {"enabled": False}),
        _messages(check_cartum_login(s.cartum())))[1],
    ("`url`", "not a Cartum API"): lambda s: _not_an_api(s) + _did_not_answer(s) + _reading_failed(s),
    ("`language`", "not in the store"): lambda s: _messages(check_catalogue(
        list(s.cartum().iter_products()), s.cartum().get_statuses(), language="de", product_key="sku")),
    ("`product_key`", "`barcode` with most barcodes empty"): _barcodes,
    ("`status_map`", "a Cartum status unmatched"): _unmatched,
    ("`status_map`", "an RO App status that does not exist"): lambda s: _messages(check_status_matching(
        [], {**STATUS_MAP, "8": 299}, s.roapp.order_statuses())),
    ("`status_map`", "a Cartum status that does not exist (`--status`, `--set`)"):
        lambda s: _messages(check_cartum_status_ids(s.cartum().get_statuses(), ["99"])),
    ("`location_id`", "does not exist in RO App"): lambda s: _messages(check_roapp_references(
        s.roapp, location_id=999, order_type_id=301, managers=[])),
    ("`order_type_id`", "does not exist in RO App"): lambda s: _messages(check_roapp_references(
        s.roapp, location_id=101, order_type_id=998, managers=[])),
    ("`managers`", "not active"): lambda s: _messages(check_managers(s.roapp.employees(), [506], 101)),
    ("`managers`", "not a Manager"): lambda s: _messages(check_managers(s.roapp.employees(), [507], 101)),
    ("`managers`", "no access to the location"):
        lambda s: _messages(check_managers(s.roapp.employees(), [502], 103)),
    ("`managers`", "unknown"): lambda s: _messages(check_managers(s.roapp.employees(), [9999], 101)),
    ("`managers`", "a run, every listed manager ineligible"): _run_without_managers,
    ("`managers`", "`all`, nobody eligible"): _nobody_eligible,
    ("`roapp_conn_id`", "wrong API key"): lambda s: _messages(validate_store(
        parse_store(entry()), s.cartum(), RoAppClient("wrong-key-0000", s.roapp_sandbox.url, retry=FAST_RETRY),
        deep=False)),
    ("`cartum_conn_id`", "existing connection and new credentials (add)"): lambda s: [decide_cartum_connection(
        "cartum_kyiv", exists=True, given=["--url"], replace_connection=False, at_terminal=False).problem],
    ("`cartum_conn_id`", "missing (check, statuses, edit)"): _missing_connection,
}


def _empty_credentials() -> list[str]:
    from cartum_roapp_sync.setup.form import LOGIN_HELP, _required

    return _messages(_required("login", LOGIN_HELP)("") + _required("password", "the Cartum administrator's "
                                                                                "password")(""))


def _cases() -> list[Any]:
    cases = []
    for field, problem, messages in readme_rows():
        cases.append(pytest.param(field, problem, messages, id=f"{field} {problem}"))
    return cases


def matches(documented: str, given: str) -> bool:
    """The parts of ``documented`` between "…" appear in ``given`` in that order."""
    position = 0
    for part in (p.strip() for p in documented.split("…")):
        found = given.find(part, position)
        if part and found < 0:
            return False
        position = found + len(part) if part else position
    return True


def test_the_readme_table_is_read():
    rows = readme_rows()
    assert len(rows) >= 25 and all(messages for _, _, messages in rows), rows


@pytest.mark.parametrize("field, problem, messages", _cases())
def test_every_documented_refusal_happens(field, problem, messages, cartum_sandbox, roapp_sandbox, request):
    produce = ROWS.get((field, problem))
    assert produce is not None, f"the README documents {field} / {problem}, which no case here produces"
    setting = Setting(cartum_sandbox, roapp_sandbox, request)
    given = []
    for message in produce(setting):
        for old, new in setting.substitutions().items():
            message = message.replace(old, new)
        given.append(message)
    for documented in messages:
        assert any(matches(documented, m) for m in given), f"README: {documented!r}\ngiven: {given!r}"
