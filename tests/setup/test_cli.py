"""``cartum-roapp`` as a user runs it: a real subprocess against a real (SQLite) Airflow
metadata database and the two sandboxes, with results read back from the database."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import select
import sys
import subprocess
import termios
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from cartum_roapp_sync.entities import ORDERS
from cartum_roapp_sync.state.db import get_engine
from cartum_roapp_sync.state.store import StateStore
from tests.conftest import CARTUM_LOGIN, CARTUM_PASSWORD, ROAPP_KEY
from tests.setup.conftest import CLI

STATUS_MAP = {"1": 201, "2": 202, "3": 207, "4": 209, "6": 206, "7": 204, "8": 210}


def status_flags(mapping: dict[str, int], flag: str = "--status") -> list[str]:
    return [a for k, v in mapping.items() for a in (flag, f"{k}={v}")]


def roapp_env(roapp_sandbox, conn_id: str = "roapp_default") -> dict[str, str]:
    """An RO App connection given as an environment variable, as compose deployments often do."""
    return {f"AIRFLOW_CONN_{conn_id.upper()}": json.dumps({"conn_type": "roapp", "host": roapp_sandbox.url,
                                                           "password": ROAPP_KEY})}


def store_entry(store_id: str, **changes) -> dict:
    return {"store_id": store_id, "name": store_id.title(), "cartum_conn_id": f"cartum_{store_id}",
            "location_id": 101, "order_type_id": 301, "language": "ua", "product_key": "sku", "managers": "all",
            "status_map": dict(STATUS_MAP), **changes}


def cartum_connection(store_id: str, cartum_sandbox, password: str = CARTUM_PASSWORD) -> dict:
    return {"conn_id": f"cartum_{store_id}", "conn_type": "cartum", "host": cartum_sandbox.url,
            "login": CARTUM_LOGIN, "password": password}


def ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def test_add_statuses_edit_check_remove(airflow_home, cartum_sandbox, roapp_sandbox):
    cli, outputs = airflow_home.cli, []

    def run(*args: str, **options) -> subprocess.CompletedProcess:
        result = cli(*args, **options)
        outputs.append(result.stdout + result.stderr)
        return result

    # The RO App connection lives in the metadata database, as `airflow connections add` writes it.
    airflow_home.db(put_connections=[{"conn_id": "roapp_cycle", "conn_type": "roapp", "host": roapp_sandbox.url,
                                      "password": ROAPP_KEY}])
    add = ["stores", "add", "--name", "Kyiv shop", "--store-id", "kyiv", "--url", cartum_sandbox.url,
           "--login", CARTUM_LOGIN, "--password", CARTUM_PASSWORD, "--roapp-conn-id", "roapp_cycle",
           "--order-type-id", "301", "--language", "ua", "--managers", "501", "--import-days", "30"]

    # Without a terminal nothing is asked: one status missing and a wrong location are reported together.
    refused = run(*add, "--location-id", "999", *status_flags({k: v for k, v in STATUS_MAP.items() if k != "8"}))
    assert refused.returncode == 1
    assert "Store 'kyiv' was not saved" in refused.stderr
    assert "location_id (--location-id): RO App has no location 999; it has 101 (Online store)" in refused.stderr
    assert "status_map (--status): Cartum status(es) 8 (Повернення) are not matched" in refused.stderr

    added = ok(run(*add, "--location-id", "101", *status_flags({k: v for k, v in STATUS_MAP.items() if k != "8"}),
                   "--status", "8=209"))
    assert "Saved store 'kyiv' (Kyiv shop): connection 'cartum_kyiv' (type cartum) written" in added
    assert "The DAG cartum_roapp__kyiv appears when the DAG processor next parses" in added
    assert "the orders created in the last 30 days, except those in status 3 (Доставлено)" in added
    assert "DAGs are paused at creation in this deployment" in added
    assert "`airflow dags unpause cartum_roapp__kyiv`: the scheduler then runs the latest 5-minute tick" in added

    matched = ok(run("stores", "statuses", "kyiv", "--set", "8=210"))
    assert "Statuses of store 'kyiv' (Cartum titles in ua):" in matched
    assert "Повернення" in matched and "→  210 Returned (Closed unsuccessfully)" in matched
    assert "Every Cartum status is matched." in matched

    edited = ok(run("stores", "edit", "kyiv", "--name", "Kyiv central", "--location-id", "102", "--managers", "all",
                    "--import-days", "90", "--language", "ru", "--disabled"))
    assert "Saved store 'kyiv': changed name, location_id, language, managers, import_days, enabled" in edited
    assert "Its sync state is kept." in edited and "goes away at the next parse" in edited

    # Cartum's password changes: rotate it in the connection (checked with one login first).
    rotated = "rotated-Secret-77"
    cartum_sandbox.admin.action("set_credentials", {"login": CARTUM_LOGIN, "password": rotated})
    assert "Saved store 'kyiv': changed Cartum password" in ok(run("stores", "edit", "kyiv", "--password-stdin",
                                                                   stdin=rotated + "\n"))

    state = StateStore(get_engine(airflow_home.state_url), "kyiv")
    state.cursor(ORDERS).advance("2026-01-05 10:00:00")
    assert "It resumes from its watermark: orders created after 2026-01-05 10:00:00" in ok(
        run("stores", "edit", "kyiv", "--enabled"))
    assert "✓ Store 'kyiv' passed every check" in ok(run("stores", "check", "kyiv"))

    back = airflow_home.stored("cartum_kyiv")
    [store] = [s for s in back["stores"] if s["store_id"] == "kyiv"]
    assert store == {"store_id": "kyiv", "name": "Kyiv central", "enabled": True, "cartum_conn_id": "cartum_kyiv",
                     "roapp_conn_id": "roapp_cycle", "location_id": 102, "order_type_id": 301, "language": "ru",
                     "product_key": "sku", "managers": "all", "status_map": {**STATUS_MAP, "8": 210},
                     "import_days": 90}
    assert back["connections"]["cartum_kyiv"] == {"conn_type": "cartum", "host": cartum_sandbox.url,
                                                  "login": CARTUM_LOGIN, "password": rotated, "encrypted": True}

    removed = ok(run("stores", "remove", "kyiv", "--yes"))
    assert "the connection 'cartum_kyiv' is deleted" in removed and "its sync state is kept" in removed
    assert "nothing is deleted in RO App or Cartum" in removed
    back = airflow_home.stored("cartum_kyiv", "roapp_cycle")
    assert [s for s in back["stores"] if s["store_id"] == "kyiv"] == []
    assert back["connections"]["cartum_kyiv"] is None and back["connections"]["roapp_cycle"] is not None
    assert state.cursor(ORDERS).value == "2026-01-05 10:00:00"

    for text in outputs:
        assert CARTUM_PASSWORD not in text and rotated not in text and ROAPP_KEY not in text


def test_refusals_remove_purge_and_check(airflow_home, cartum_sandbox, roapp_sandbox):
    """Independent commands, run side by side to keep the suite quick."""
    airflow_home.db(
        put_connections=[cartum_connection("dup_a", cartum_sandbox), cartum_connection("gone_c", cartum_sandbox),
                         cartum_connection("broken_b", cartum_sandbox)],
        add_stores=[store_entry("dup_a"), store_entry("gone_c"),
                    store_entry("broken_b", location_id=999, managers=[506],
                                status_map={**{k: v for k, v in STATUS_MAP.items() if k != "7"}, "8": 299})])
    state = StateStore(get_engine(airflow_home.state_url), "gone_c")
    state.cursor(ORDERS).advance("2026-01-05 10:00:00")
    env = roapp_env(roapp_sandbox)
    full = ["--url", cartum_sandbox.url, "--login", CARTUM_LOGIN, "--password", CARTUM_PASSWORD,
            "--location-id", "101", "--order-type-id", "301", "--language", "ua"]
    runs = {
        "no_roapp": ("stores", "add", "--name", "New", *full, "--roapp-conn-id", "roapp_nowhere"),
        "missing_flags": ("stores", "add", "--name", "New", "--url", cartum_sandbox.url),
        "duplicates": ("stores", "add", "--name", "Dup", "--store-id", "dup_a", "--cartum-conn-id", "cartum_dup_a",
                       "--location-id", "101", "--order-type-id", "301", "--language", "ua",
                       *status_flags(STATUS_MAP)),
        "shadowed": ("stores", "add", "--name", "New", *full),
        "purge": ("stores", "remove", "gone_c", "--yes", "--purge"),
        "check_broken": ("stores", "check", "broken_b"),
        "list": ("stores", "list"),
        "wrong_password": ("stores", "edit", "dup_a", "--password-stdin"),
        "remove_unconfirmed": ("stores", "remove", "dup_a"),
    }
    stdin = {"wrong_password": "still-wrong-pw\n"}
    extra = {"shadowed": {**env, "AIRFLOW_VAR_CARTUM_ROAPP_STORES": "[]"}}
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {name: pool.submit(airflow_home.cli, *args, env=extra.get(name, env),
                                         stdin=stdin.get(name, "")) for name, args in runs.items()}
        results = {name: future.result() for name, future in futures.items()}

    assert results["no_roapp"].returncode == 2
    assert "the RO App connection 'roapp_nowhere' does not exist" in results["no_roapp"].stderr
    assert "airflow connections add roapp_nowhere --conn-type roapp" in results["no_roapp"].stderr
    assert "RO App → Settings → API" in results["no_roapp"].stderr

    assert results["missing_flags"].returncode == 2
    assert "missing --login, --password, --location-id, --order-type-id, --language: stdin is not a terminal" in \
        results["missing_flags"].stderr

    duplicates = results["duplicates"]
    assert duplicates.returncode == 1
    assert "store_id (--store-id): 'dup_a' is already used by the store 'Dup_A'" in duplicates.stderr
    assert "cartum_conn_id (--cartum-conn-id): connection 'cartum_dup_a' is already used by the store 'dup_a'" in \
        duplicates.stderr

    assert results["shadowed"].returncode == 1
    assert "defined by the environment variable AIRFLOW_VAR_CARTUM_ROAPP_STORES" in results["shadowed"].stderr

    assert "its sync state is deleted (--purge)" in ok(results["purge"])
    assert state.get_store_state() is None and state.cursor(ORDERS).value is None

    broken = results["check_broken"]
    assert broken.returncode == 1
    assert "Store 'broken_b': 4 problem(s):" in broken.stderr
    assert "location_id (--location-id): RO App has no location 999" in broken.stderr
    assert "managers (--managers): employee 506" in broken.stderr and "is not active in RO App" in broken.stderr
    assert "status_map (stores statuses --set): Cartum status(es) 7 (Очікує оплату) are not matched" in \
        broken.stderr
    assert "RO App has no status 299" in broken.stderr
    assert "dup_a" in ok(results["list"])

    wrong = results["wrong_password"]
    assert wrong.returncode == 1 and "Cartum rejected login 'sandbox_admin'" in wrong.stderr
    assert "still-wrong-pw" not in wrong.stdout + wrong.stderr
    unconfirmed = results["remove_unconfirmed"]
    assert unconfirmed.returncode == 2 and "needs --yes when stdin is not a terminal" in unconfirmed.stderr
    back = airflow_home.stored("cartum_dup_a", "cartum_gone_c")
    assert back["connections"]["cartum_dup_a"]["password"] == CARTUM_PASSWORD  # neither changed nor removed
    assert back["connections"]["cartum_gone_c"] is None
    assert {s["store_id"] for s in back["stores"]} >= {"dup_a", "broken_b"}
    assert "gone_c" not in {s["store_id"] for s in back["stores"]}

    for result in results.values():
        assert CARTUM_PASSWORD not in result.stdout + result.stderr


# --- at a real terminal -------------------------------------------------------------------

class Terminal:
    """The CLI on a pseudo-terminal: stdin is a TTY, so it asks."""

    def __init__(self, args: list[str], env: dict[str, str]):
        self.master, slave = pty.openpty()
        self.process = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, env=env,
                                        start_new_session=True, preexec_fn=_take_terminal)
        os.close(slave)
        self.screen, self.seen = "", 0

    def expect(self, text: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.screen[self.seen:]:
            ready, _, _ = select.select([self.master], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                pytest.fail(f"timed out waiting for {text!r}; the terminal shows:\n{self.screen[-3000:]}")
            try:
                chunk = os.read(self.master, 4096)
            except OSError:
                chunk = b""
            if not chunk:
                pytest.fail(f"the command ended before {text!r}; the terminal shows:\n{self.screen[-3000:]}")
            self.screen += chunk.decode(errors="replace").replace("\r\n", "\n")
        self.seen = self.screen.index(text, self.seen) + len(text)

    def answer(self, prompt: str, text: str) -> None:
        self.expect(prompt)
        os.write(self.master, text.encode() + b"\n")

    def close(self) -> int:
        try:
            while True:
                chunk = os.read(self.master, 4096)
                if not chunk:
                    break
                self.screen += chunk.decode(errors="replace").replace("\r\n", "\n")
        except OSError:
            pass
        os.close(self.master)
        return self.process.wait(timeout=30)


def _take_terminal() -> None:
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)  # make the pseudo-terminal this session's terminal, as a shell does


def test_add_at_a_terminal(airflow_home, cartum_sandbox, roapp_sandbox):
    term = Terminal([CLI, "stores", "add"], {**airflow_home.env, **roapp_env(roapp_sandbox),
                                             "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False"})
    try:
        term.expect("Nothing is saved before the end")
        term.answer("Store name (shown in RO App's Store field): ", "Lviv shop")
        term.answer("Store id (a-z, 0-9 and _; part of the DAG id, never changes) [lviv_shop]: ", "")
        term.answer("Airflow connection for the store's Cartum credentials [cartum_lviv_shop]: ", "")
        term.answer("Store URL, with https://: ", "http://shop.example.com")
        term.expect("✗ url: 'http://shop.example.com' uses plain http")
        term.answer("Store URL, with https://: ", cartum_sandbox.url)
        term.answer("Cartum user name (Settings → Administrators; not the e-mail): ", CARTUM_LOGIN)
        term.answer("Cartum password (not shown): ", "wrong-Secret-55")
        term.expect("✗ login: Cartum rejected login 'sandbox_admin'")
        term.answer(f"Store URL, with https:// [{cartum_sandbox.url}]: ", "")
        term.answer(f"Cartum user name (Settings → Administrators; not the e-mail) [{CARTUM_LOGIN}]: ", "")
        term.answer("Cartum password (not shown): ", CARTUM_PASSWORD)
        term.expect("✓ logged in to")
        term.answer("Language of product names (en, ru, ua) [ua]: ", "en")
        term.expect("products have no barcode)")
        term.answer("Product key (sku or barcode) [sku]: ", "")
        term.expect("101  Online store")
        # Locations, order types, managers and statuses are picked by id or by name, from the list shown.
        term.answer("Location, id or name (receives the orders): ", "Lviv")
        term.expect("301  Online order")
        term.answer("Order type, id or name: ", "online ORDER")
        term.expect("Eligible:")
        term.answer("Managers (all, or ids or names separated by commas) [all]: ", "")
        term.answer("First import: orders created in the last how many days [60]: ", "14")
        term.expect("RO App statuses to choose from:")
        term.answer('Cartum 1 "New" → RO App status, id or name [201]: ', "")
        term.answer('Cartum 2 "Processing" → RO App status, id or name: ', "In work")
        term.answer('Cartum 3 "Delivered" → RO App status, id or name [207]: ', "")
        term.answer('Cartum 4 "Canceled / Not delivered" → RO App status, id or name: ', "awaiting")
        term.expect("✗ 'awaiting' fits more than one RO App status: 203 Awaiting parts, 204 Awaiting payment; type "
                    "the id or more of the name")
        term.answer('Cartum 4 "Canceled / Not delivered" → RO App status, id or name: ', "Canceled")
        term.answer('Cartum 6 "Shipping" → RO App status, id or name: ', "206")
        term.answer('Cartum 7 "Awaiting payment" → RO App status, id or name [204]: ', "")
        term.answer('Cartum 8 "Returned" → RO App status, id or name [210]: ', "")
        term.expect("store        lviv_shop (Lviv shop), enabled")
        term.answer("Save this store? [Y/n]: ", "y")
        term.expect("Saved store 'lviv_shop' (Lviv shop)")
        term.expect("Once parsed, the scheduler runs the latest 5-minute tick at once (no catch-up), so the first "
                    "import starts by about")
    finally:
        code = term.close()
    assert code == 0, term.screen[-3000:]
    assert CARTUM_PASSWORD not in term.screen and "wrong-Secret-55" not in term.screen  # passwords are not echoed

    back = airflow_home.stored("cartum_lviv_shop")
    [store] = [s for s in back["stores"] if s["store_id"] == "lviv_shop"]
    assert (store["location_id"], store["language"], store["import_days"], store["status_map"]) == (
        103, "en", 14, STATUS_MAP)
    assert back["connections"]["cartum_lviv_shop"]["password"] == CARTUM_PASSWORD


def test_help_on_every_command_without_starting_airflow():
    script = """
import sys
from cartum_roapp_sync.setup.cli import build_parser
for command in ([], ["stores"], *[["stores", c] for c in ("add", "list", "statuses", "edit", "check", "remove")]):
    try:
        build_parser().parse_args([*command, "--help"])
    except SystemExit as exit:
        assert exit.code == 0, command
assert "airflow" not in sys.modules, "--help must stay quick: no Airflow import"
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    for words in ("usage: cartum-roapp stores add", "--password-stdin", "--roapp-conn-id", "CARTUM_ID=ROAPP_ID",
                  "usage: cartum-roapp stores edit", "--enabled", "--import-days", "usage: cartum-roapp stores remove",
                  "--purge", "--yes", "usage: cartum-roapp stores check"):
        assert words in result.stdout, words
