"""The local look-up index end to end, on both RO App sandbox profiles (the alternative one
ignores ``emails[]``, ``skus[]`` and ``barcodes[]``): a buyer known to Cartum only by
e-mail, whom a manager already made in RO App (among 500 people), is linked, not made
twice, on the first import and again after the state database is lost; the look-ups cost
the same calls on both profiles; a run with nothing new stays at the 4 setup reads, and a
new e-mail-only buyer costs one ``modified_at[]`` page. Expected values come from
Cartum's data and the RO App sandbox's state."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

import pytest

from cartum_roapp_sandbox.roapp import RoAppSandbox
from cartum_roapp_sync.roapp import index as index_module
from cartum_roapp_sync.roapp.client import RoAppClient
from cartum_roapp_sync.state.db import get_engine
from tests.conftest import FAST_RETRY, ROAPP_KEY, seeded_cartum, serving
from tests.pipeline import checks
from tests.pipeline.e2e import check_no_change_run, make_sync

PEOPLE = "/v2/contacts/people"
CONTACT_BASE = 500
MANUAL_EMAIL = "olha.manual@example.com"


def _ago(hours: float) -> str:
    return (datetime.now() - timedelta(hours=hours)).strftime("%Y-%m-%d %H:%M:%S")


def _email_only_order(cartum, order_id: int, email: str, name: str, hours_ago: float) -> None:
    article = cartum.admin.state()["products"][0]["article"]
    cartum.admin.action("upsert_orders", [{
        "order_id": order_id, "stat_created": _ago(hours_ago), "stat_status": 1, "lang": "ua",
        "products": [{"article": article, "quantity": 1}], "delivery_city": "Полтава",
        "delivery_address": "Відділення №3", "delivery_name": name, "delivery_phone": "",
        "delivery_email": email, "user": None}])


def _contact_base(roapp) -> int:
    """500 people made by managers, one of them the e-mail-only buyer, without a phone;
    returns that person's id."""
    client = RoAppClient(ROAPP_KEY, roapp.url, retry=FAST_RETRY, timeout=5.0)
    for i in range(CONTACT_BASE - 1):
        client.create_person({"first_name": f"Клієнт{i}", "email": f"client{i}@example.com",
                              "phones": [{"phone": f"+38050{i:07d}"}]})
    return client.create_person({"first_name": "Ольга", "last_name": "Ручна", "email": MANUAL_EMAIL})["id"]


def _people_requests(requests: list[dict]) -> Counter:
    return Counter((r["method"], "GET one" if r["path"] != PEOPLE and r["method"] == "GET" else "")
                   for r in requests if r["path"].startswith(PEOPLE))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Per profile: what the first import, the rebuild after a lost state and the later runs
    did, and the RO App state after each."""
    results = {}
    # The sandbox's 500 people are made seconds before the runs, all inside the incremental
    # read's overlap (a minute) that a real contact base is not: without it, the read counts
    # the people changed since the last read, as in a real account.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(index_module, "OVERLAP", timedelta(0))
        _all_runs(results, tmp_path_factory)
    return results


def _all_runs(results: dict, tmp_path_factory) -> None:
    for profile in ("documented", "alternative"):
        tmp = tmp_path_factory.mktemp(profile)
        for cartum in seeded_cartum(seed=5, orders=30, products=20, customers=10, days=60):
            first_id = max(o["order_id"] for o in cartum.admin.state()["orders"]) + 1
            _email_only_order(cartum, first_id, MANUAL_EMAIL, "Ольга Ручна", 5)
            with serving(RoAppSandbox.seeded(api_keys=[ROAPP_KEY], profile=profile), rate_limit=0) as roapp:
                manual = _contact_base(roapp)
                state = roapp.admin.state()
                managers = checks.active_managers(state, state["branches"][0]["id"])
                results[profile] = _runs(cartum, roapp, tmp, managers, manual, first_id)


def _runs(cartum, roapp, tmp, managers, manual: int, order_id: int) -> dict:
    out: dict = {"manual": manual, "order_id": order_id}
    sync = make_sync(cartum, roapp, get_engine(f"sqlite:///{tmp}/state.db"), managers=managers)
    summary, calls = checks.run_counting(sync.harness, "import", cartum.admin, roapp.admin)
    assert summary["run"]["status"] == "success", summary["run"]
    # RO App held 500 people before: the generic first-import check (an empty account) does not fit
    expected = checks.expected_import(cartum.admin.state(), sync.orders_from("import"))
    checks.check_orders(cartum.admin.state(), sync.view(), sync.config, expected)
    out.update(store_id=sync.config.store_id, expected=expected, import_requests=calls.total("roapp"),
               after_import=roapp.admin.state())
    check_no_change_run(sync, expected, "again")  # the 4 setup reads, nothing else
    # a new buyer known only by e-mail: one modified_at[] page, then the create
    _email_only_order(cartum, order_id + 1, "new.buyer@example.com", "Нова Покупчиня", 0)
    summary, calls = checks.run_counting(sync.harness, "new_buyer", cartum.admin, roapp.admin)
    assert summary["run"]["status"] == "success", summary["run"]
    out["new_buyer_people"] = [r for r in calls.total("roapp") if r["path"].startswith(PEOPLE)]
    out["after_new_buyer"] = roapp.admin.state()
    # the state database is lost: a new one, the same store, RO App unchanged
    lost = make_sync(cartum, roapp, get_engine(f"sqlite:///{tmp}/lost.db"), managers=managers)
    summary, calls = checks.run_counting(lost.harness, "rebuild", cartum.admin, roapp.admin)
    assert summary["run"]["status"] == "success", summary["run"]
    out["after_rebuild"] = roapp.admin.state()
    out["rebuild_people_writes"] = [r for r in checks.writes(calls.total("roapp")) if r["path"].startswith(PEOPLE)]
    return out


def _with_email(state: dict, email: str) -> list[dict]:
    return [p for p in state["people"] if (p.get("email") or "").strip().lower() == email]


def _client_of(state: dict, store_id: str, order_id: int) -> int:
    return checks.RoAppView(state, store_id).order(order_id)["client_id"]


@pytest.mark.parametrize("profile", ["documented", "alternative"])
def test_an_email_only_buyer_made_by_a_manager_is_linked_not_duplicated(runs, profile):
    run = runs[profile]
    for moment in ("after_import", "after_new_buyer", "after_rebuild"):
        state = run[moment]
        assert [p["id"] for p in _with_email(state, MANUAL_EMAIL)] == [run["manual"]], moment
        assert _client_of(state, run["store_id"], run["order_id"]) == run["manual"], moment
        checks.assert_no_duplicates(checks.RoAppView(state, run["store_id"]))
    # the manager's person is linked: the sync never edits it
    person = next(p for p in run["after_rebuild"]["people"] if p["id"] == run["manual"])
    assert (person["first_name"], person["last_name"], person["email"]) == ("Ольга", "Ручна", MANUAL_EMAIL)


@pytest.mark.parametrize("profile", ["documented", "alternative"])
def test_after_a_lost_state_no_client_is_made_twice(runs, profile):
    run = runs[profile]
    before, after = run["after_new_buyer"], run["after_rebuild"]
    assert run["rebuild_people_writes"] == []
    assert len(after["people"]) == len(before["people"])
    # every buyer of Cartum's orders RO App got holds one person: the new buyer too
    assert [p["first_name"] for p in _with_email(after, "new.buyer@example.com")] == ["Нова"]
    assert _client_of(after, run["store_id"], run["order_id"] + 1) == _with_email(after, "new.buyer@example.com")[0]["id"]


def test_look_ups_cost_the_same_calls_on_both_profiles(runs):
    documented, alternative = (_people_requests(runs[p]["import_requests"]) for p in ("documented", "alternative"))
    assert alternative == documented
    # the index is built once: the whole contact base, 50 a page, and one GET per buyer linked by e-mail
    people_pages = [r for r in runs["alternative"]["import_requests"] if r["path"] == PEOPLE and r["method"] == "GET"
                    and not any(k.startswith("phones") for k in r["query"]) and "names[]" not in r["query"]]
    assert len(people_pages) == -(-CONTACT_BASE // 50)
    assert alternative[("GET", "GET one")] == 1


@pytest.mark.parametrize("profile", ["documented", "alternative"])
def test_a_new_email_only_buyer_costs_one_modified_at_page(runs, profile):
    requests = runs[profile]["new_buyer_people"]
    assert [(r["method"], r["path"]) for r in requests] == [("GET", PEOPLE), ("POST", PEOPLE)]
    assert any(k.startswith("modified_at") for k in requests[0]["query"])
