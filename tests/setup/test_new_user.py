"""What a new user trips over at the CLI (issue 12): a second store on the same shop, log
lines mixed into the answers, knock-on problems, usage dumps, hints for another command,
prompts that take ids only, an edit saved unseen, a remove that orphans a running run.
The tool runs as a real subprocess against a real (SQLite) Airflow metadata database and
the sandboxes, as in test_cli.py."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from cartum_roapp_sync.setup.form import parse_people, pick
from cartum_roapp_sync.setup_checks import check_same_shop, shop_key
from tests.conftest import CARTUM_LOGIN, CARTUM_PASSWORD
from tests.setup.conftest import CLI
from tests.setup.test_cli import STATUS_MAP, Terminal, cartum_connection, ok, roapp_env, status_flags, store_entry


# --- one shop, one store ------------------------------------------------------------------

@pytest.mark.parametrize("a, b", [
    ("https://shop.example.com", "HTTPS://Shop.Example.COM/"),
    ("https://shop.example.com", "https://www.shop.example.com"),
    ("https://shop.example.com", "https://shop.example.com:443"),
    ("https://shop.example.com", "http://shop.example.com:80/"),
    ("https://shop.example.com/ua", "https://shop.example.com/ua/"),
    ("http://127.0.0.1:8701", "http://127.0.0.1:8701/"),
])
def test_one_shop_however_its_address_is_written(a, b):
    assert shop_key(a) == shop_key(b)


@pytest.mark.parametrize("a, b", [
    ("https://shop.example.com", "https://shop2.example.com"),
    ("https://shop.example.com", "https://shop.example.com:8443"),
    ("https://shop.example.com/ua", "https://shop.example.com/ru"),
    ("https://shop.example.com", "https://example.com"),
])
def test_different_shops_stay_apart(a, b):
    assert shop_key(a) != shop_key(b)
    assert check_same_shop(b, {"kyiv": ("Kyiv", a)}) == []


def test_same_shop_problem_names_the_store_and_the_harm():
    [problem] = check_same_shop("https://WWW.shop.example.com/", {"kyiv": ("Kyiv shop", "https://shop.example.com"),
                                                                  "lviv": ("Lviv", "https://lviv.example.com")})
    assert problem.field == "url"
    assert "the store 'kyiv' (Kyiv shop) already syncs it (https://shop.example.com)" in problem.message
    assert "RO App gets each order twice" in problem.message and "--allow-same-shop" in problem.message


def test_same_shop_refused_then_allowed_with_a_warning(airflow_home, cartum_sandbox, roapp_sandbox):
    airflow_home.db(put_connections=[cartum_connection("shop_a", cartum_sandbox)], add_stores=[store_entry("shop_a")])
    env = roapp_env(roapp_sandbox)
    add = ["stores", "add", "--login", CARTUM_LOGIN, "--password", CARTUM_PASSWORD, "--location-id", "101",
           "--order-type-id", "301", "--language", "ua", *status_flags(STATUS_MAP)]
    cartum_sandbox.admin.clear_requests()
    variant = cartum_sandbox.url.upper().replace("HTTP://", "http://") + "/"  # host case and a trailing slash
    refused = airflow_home.cli(*add, "--name", "Shop B", "--url", variant, env=env)
    assert refused.returncode == 1, refused.stderr
    assert (f"url (--url): {variant} is a Cartum shop the store 'shop_a' (Shop_A) already syncs it "
            f"({cartum_sandbox.url})") in refused.stderr
    assert "RO App gets each order twice (a second store on the same shop wrote 14 duplicate orders" in \
        refused.stderr
    assert "the store's Cartum was not contacted yet" in refused.stderr
    assert cartum_sandbox.admin.requests() == []  # an offline refusal logs in nowhere

    allowed = airflow_home.cli(*add, "--name", "Shop C", "--url", cartum_sandbox.url, "--allow-same-shop", env=env)
    assert "Saved store 'shop_c' (Shop C)" in ok(allowed)
    assert ("Warning (--allow-same-shop): " + cartum_sandbox.url + " is a Cartum shop the store 'shop_a' (Shop_A) "
            "already syncs it") in allowed.stderr
    assert "RO App gets each order twice" in allowed.stderr
    assert {s["store_id"] for s in airflow_home.stored()["stores"]} >= {"shop_a", "shop_c"}


# --- only the tool's own messages -----------------------------------------------------------

def test_answers_hold_the_tools_messages_and_the_log_goes_to_a_file(airflow_home, cartum_sandbox, roapp_sandbox):
    airflow_home.db(put_connections=[cartum_connection("noisy", cartum_sandbox)], add_stores=[store_entry("noisy")])
    env = roapp_env(roapp_sandbox)
    log = airflow_home.path / "logs" / "cartum-roapp.log"
    before = log.read_text() if log.exists() else ""

    cartum_sandbox.admin.faults(script=["503"])  # the first login answers 503: the client retries
    quiet = airflow_home.cli("stores", "check", "noisy", env=env)
    assert "✓ Store 'noisy' passed every check" in ok(quiet)
    assert "retry 1/" not in quiet.stdout + quiet.stderr and "[warning" not in quiet.stdout + quiet.stderr
    written = log.read_text()[len(before):]
    assert "Cartum POST" in written and "retry 1/" in written

    cartum_sandbox.admin.faults(script=["503"])
    verbose = airflow_home.cli("stores", "check", "noisy", "--verbose", env=env)
    assert "✓ Store 'noisy' passed every check" in ok(verbose)
    assert "retry 1/" in verbose.stderr


def test_one_problem_per_cause_and_no_usage_dump(airflow_home, cartum_sandbox, roapp_sandbox):
    env = roapp_env(roapp_sandbox)
    base = ["stores", "add", "--url", cartum_sandbox.url, "--login", CARTUM_LOGIN, "--password", CARTUM_PASSWORD,
            "--order-type-id", "301", "--language", "ua"]
    runs = {
        # a location that does not exist: not also "no manager has access to location 999"
        "location": [*base, "--name", "Knock A", "--location-id", "999", "--managers", "all",
                     *status_flags(STATUS_MAP)],
        "listed": [*base, "--name", "Knock B", "--location-id", "999", "--managers", "501",
                   *status_flags(STATUS_MAP)],
        # an unmatched status while adding: the hint is --status, not a command for a saved store
        "hint": [*base, "--name", "Knock C", "--location-id", "101",
                 *status_flags({k: v for k, v in STATUS_MAP.items() if k != "8"})],
        "not_a_number": [*base, "--name", "Knock D", "--location-id", "abc"],
        "bad_days": ["stores", "edit", "whatever", "--import-days", "ten"],
    }
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = {name: pool.submit(airflow_home.cli, *args, env=env) for name, args in runs.items()}
        results = {name: future.result() for name, future in futures.items()}

    for name in ("location", "listed"):
        result = results[name]
        assert result.returncode == 1, result.stderr
        assert "location_id (--location-id): RO App has no location 999" in result.stderr
        assert "location 999" not in result.stderr.split("RO App has no location 999", 1)[1], result.stderr
        assert result.stderr.count("✗") == 1, result.stderr

    hint = results["hint"]
    assert hint.returncode == 1
    assert ("status_map (--status): Cartum status(es) 8 (Повернення) are not matched to an RO App status: match "
            "every status before the first import (--status ID=ROAPP_ID for each)") in hint.stderr
    assert "stores statuses" not in hint.stderr

    for name, message in (("not_a_number", "cartum-roapp stores add: argument --location-id: 'abc' is not a number: "
                                           "give the RO App location id"),
                          ("bad_days", "cartum-roapp stores edit: argument --import-days: 'ten' is not a number: "
                                       "give a number of days")):
        result = results[name]
        assert result.returncode == 2
        assert result.stderr.startswith(message), result.stderr
        assert len(result.stderr.strip().splitlines()) == 1 and "usage:" not in result.stderr


def test_login_not_tried_after_offline_checks_failed(airflow_home, cartum_sandbox, roapp_sandbox):
    cartum_sandbox.admin.clear_requests()
    result = airflow_home.cli("stores", "add", "--name", "N" * 70, "--url", cartum_sandbox.url, "--login",
                              CARTUM_LOGIN, "--password", CARTUM_PASSWORD, "--location-id", "101", "--order-type-id",
                              "301", "--language", "UA", "--import-days", "0", env=roapp_env(roapp_sandbox))
    assert result.returncode == 1, result.stderr
    assert "name (--name): is 70 characters long; RO App's Store field takes at most 64: shorten it" in result.stderr
    assert ("language (--language): 'UA' is not a language code: write the store's code in lower case, e.g. ua, ru "
            "or en") in result.stderr
    assert "import_days (--import-days): 0 is not a number of days from 1 to 3650" in result.stderr
    assert cartum_sandbox.admin.requests() == []


# --- prompts: by id or name, and edit confirms ------------------------------------------------

def test_pick_takes_an_id_a_name_or_a_part_of_one():
    choices = [(101, "Online store"), (102, "Kyiv, Khreshchatyk 1"), (103, "Lviv, Rynok Square 10")]
    assert pick("102", choices, "location") == 102
    assert pick("online STORE", choices, "location") == 101
    assert pick("lviv", choices, "location") == 103
    with pytest.raises(ValueError, match=r"'Odesa' is neither the id nor the name of any location; the choices are "
                                         r"101 Online store, 102 Kyiv, Khreshchatyk 1, 103 Lviv"):
        pick("Odesa", choices, "location")
    with pytest.raises(ValueError, match=r"'n' fits more than one location: 101 Online store, 103 Lviv"):
        pick("n", choices, "location")
    employees = [{"id": 501, "first_name": "Iryna", "last_name": "Kravchenko"},
                 {"id": 502, "first_name": "Olena", "last_name": "Boiko"}]
    assert parse_people("all", employees) == "all"
    assert parse_people("Olena Boiko, 501, olena", employees) == [502, 501]


def test_edit_at_a_terminal_picks_by_name_and_confirms(airflow_home, cartum_sandbox, roapp_sandbox):
    airflow_home.db(put_connections=[cartum_connection("picky", cartum_sandbox)],
                    add_stores=[store_entry("picky", managers=[501])])
    term = Terminal([CLI, "stores", "edit", "picky"], {**airflow_home.env, **roapp_env(roapp_sandbox)})
    try:
        term.answer("Store name [Picky]: ", "")
        term.expect("102  Kyiv, Khreshchatyk 1")
        term.answer("Location, id or name [101]: ", "Kyiv")
        term.expect("302  Repair")
        term.answer("Order type, id or name [301]: ", "")
        term.answer("Language (lower case, e.g. ua) [ua]: ", "")
        term.answer("Product key (sku or barcode) [sku]: ", "")
        term.expect("Managers eligible at location 102")
        term.answer("Managers (all, or ids or names separated by commas) [501]: ", "nobody")
        term.expect("✗ managers: 'nobody' is neither the id nor the name of any RO App employee; the choices are")
        term.answer("Managers (all, or ids or names separated by commas) [501]: ", "all")
        term.answer("First import days [60]: ", "")
        term.answer("Enabled? [Y/n]: ", "")
        term.answer("New Cartum password (Enter keeps the current one): ", "")
        term.expect("Changes to store 'picky':")
        term.expect("location_id    101 → 102")
        term.expect("managers       501 → all")
        term.answer("Save these changes? [Y/n]: ", "y")
        term.expect("Saved store 'picky': changed location_id, managers.")
    finally:
        code = term.close()
    assert code == 0, term.screen[-3000:]
    [store] = [s for s in airflow_home.stored()["stores"] if s["store_id"] == "picky"]
    assert (store["location_id"], store["managers"]) == (102, "all")


# --- remove never orphans a running run --------------------------------------------------------

def test_remove_waits_for_a_running_run_or_stops_it(airflow_home, cartum_sandbox):
    stores = ("busy_wait", "busy_late", "busy_stop")
    airflow_home.db(put_connections=[cartum_connection(s, cartum_sandbox) for s in stores],
                    add_stores=[store_entry(s) for s in stores],
                    put_runs=[{"dag_id": f"cartum_roapp__{s}", "run_id": "scheduled__1", "state": "running",
                               "tasks": {"validate_setup": "up_for_reschedule", "extract_orders": None}} for s in stores])

    def finish_later() -> None:
        time.sleep(8)  # the remove below is waiting by then (a CLI start takes a few seconds)
        airflow_home.db(set_runs=[{"dag_id": "cartum_roapp__busy_late", "run_id": "scheduled__1",
                                   "state": "success"}])

    finisher = threading.Thread(target=finish_later)
    finisher.start()
    with ThreadPoolExecutor(max_workers=3) as pool:
        gave_up = pool.submit(airflow_home.cli, "stores", "remove", "busy_wait", "--yes", "--wait", "1")
        waited = pool.submit(airflow_home.cli, "stores", "remove", "busy_late", "--yes", "--wait", "120")
        stopped = pool.submit(airflow_home.cli, "stores", "remove", "busy_stop", "--yes", "--stop-running")
        gave_up, waited, stopped = gave_up.result(), waited.result(), stopped.result()
    finisher.join()

    assert gave_up.returncode == 1, gave_up.stderr
    assert "The store's run scheduled__1 is in progress (validate_setup): waiting for it to finish (at most 1 s" in \
        gave_up.stderr
    assert "Nothing was removed: the run scheduled__1 of cartum_roapp__busy_wait is still in progress after 1 s" in \
        gave_up.stderr and "--stop-running" in gave_up.stderr

    assert "The store's run scheduled__1 is in progress" in waited.stderr
    assert "Removed store 'busy_late'" in ok(waited)
    assert "the DAG cartum_roapp__busy_late was paused, so no run starts before it goes away" in waited.stdout

    assert "Removed store 'busy_stop': its run scheduled__1 was stopped (marked failed; tasks stopped: validate_setup)" \
        in ok(stopped)

    back = airflow_home.db(get_runs=[f"cartum_roapp__{s}" for s in stores])
    assert {s["store_id"] for s in back["stores"]} & set(stores) == {"busy_wait"}
    runs = back["runs"]
    assert runs["cartum_roapp__busy_wait"] == {"paused": False, "runs": {"scheduled__1": {
        "state": "running", "tasks": {"validate_setup": "up_for_reschedule", "extract_orders": None}}}}
    assert runs["cartum_roapp__busy_late"]["paused"] is True
    assert runs["cartum_roapp__busy_late"]["runs"]["scheduled__1"]["state"] == "success"
    assert runs["cartum_roapp__busy_stop"]["paused"] is True
    assert runs["cartum_roapp__busy_stop"]["runs"]["scheduled__1"]["state"] == "failed"
    assert runs["cartum_roapp__busy_stop"]["runs"]["scheduled__1"]["tasks"]["validate_setup"] == "failed"


def test_a_run_checks_no_login_behind_an_address_that_failed(roapp_sandbox):
    """``stores check`` and every run: a URL refused offline is the only problem of the store's
    Cartum (no login to it, no "did not answer" besides)."""
    from cartum_roapp_sync.cartum.client import CartumClient
    from cartum_roapp_sync.config import parse_store
    from cartum_roapp_sync.roapp.client import RoAppClient
    from cartum_roapp_sync.setup_checks import validate_store
    from tests.conftest import FAST_RETRY, ROAPP_KEY

    class NoLogin(CartumClient):
        def check(self):
            raise AssertionError("logged in behind a refused address")

    cartum = NoLogin("http://shop.example.com", CARTUM_LOGIN, CARTUM_PASSWORD, retry=FAST_RETRY,
                     requests_per_second=0, timeout=1.0)
    problems = validate_store(parse_store(store_entry("plain")), cartum,
                              RoAppClient(ROAPP_KEY, roapp_sandbox.url, retry=FAST_RETRY), deep=False)
    assert [p.field for p in problems] == ["url"]
    assert "uses plain http" in problems[0].message
