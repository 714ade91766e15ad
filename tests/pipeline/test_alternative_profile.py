"""A full sync against the RO App sandbox's alternative profile (wrapped objects, phones as
strings, barcodes as objects, ``paging`` lists, ignored ``emails[]``/``skus[]``/``barcodes[]``
filters, employees without role fields, legacy paths gone) gives the same RO App result as
against the documented profile, and its contact and product look-ups cost no more calls
(counted from the sandboxes' request logs). Expected values come from Cartum's data."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from cartum_roapp_sandbox.cartum import CartumSandbox
from cartum_roapp_sandbox.roapp import RoAppSandbox
from cartum_roapp_sync.state.db import get_engine
from tests.conftest import ROAPP_KEY, serving
from tests.pipeline import checks
from tests.pipeline.e2e import make_sync

LOOKUP_PATHS = ("/v2/contacts/people", "/v2/catalog/products")


@pytest.fixture
def synced(tmp_path):
    """Per profile: (sync, first import's RO App requests, the no-change run's RO App requests)."""
    results = {}
    # one Cartum store for both (its seeded times follow the clock), read-only on a first import
    with serving(CartumSandbox.seeded(seed=11, orders=60, products=30, customers=20, days=90)) as cartum:
        for profile in ("documented", "alternative"):
            with serving(RoAppSandbox.seeded(api_keys=[ROAPP_KEY], profile=profile), rate_limit=0) as roapp:
                results[profile] = _sync_twice(cartum, roapp, get_engine(f"sqlite:///{tmp_path}/{profile}.db"))
    return results


def _sync_twice(cartum, roapp, engine) -> dict:
    state = roapp.admin.state()
    # RO App does not say who is a Manager on the alternative profile: list them by id
    managers = checks.active_managers(state, state["branches"][0]["id"])
    sync = make_sync(cartum, roapp, engine, managers=managers)
    summary, calls = checks.run_counting(sync.harness, "import", cartum.admin, roapp.admin)
    assert summary["run"]["status"] == "success", summary["run"]
    assert "orders/update" not in checks.function_calls(calls.total("cartum"))
    expected = checks.expected_import(cartum.admin.state(), sync.orders_from("import"))
    view = sync.view()
    checks.check_orders(cartum.admin.state(), view, sync.config, expected)
    checks.check_products(cartum.admin.state(), view, sync.config, expected.values())
    checks.assert_no_duplicates(view)
    _, again = checks.run_counting(sync.harness, "again", cartum.admin, roapp.admin)
    return {"snapshot": checks.snapshot(roapp.admin.state(), sync.config.store_id),
            "import": calls.total("roapp"), "again": again.total("roapp"), "profile": roapp.admin.state()["profile"]}


def lookups(requests: list[dict]) -> Counter:
    return Counter(r["path"] for r in requests if r["method"] == "GET" and r["path"] in LOOKUP_PATHS)


def test_the_alternative_profile_gives_the_same_roapp_result(synced):
    assert synced["alternative"]["profile"]["undocumented_filters"] is False
    assert synced["alternative"]["profile"]["employee_facts"] is False
    documented, alternative = synced["documented"]["snapshot"], synced["alternative"]["snapshot"]
    assert documented["orders"] and documented["people"] and documented["products"]
    assert alternative == documented


def test_look_ups_cost_no_more_calls_on_the_alternative_profile(synced):
    for run in ("import", "again"):
        documented, alternative = lookups(synced["documented"][run]), lookups(synced["alternative"][run])
        for path in LOOKUP_PATHS:
            assert alternative[path] <= documented[path], (run, path, alternative, documented)
    # the writes are the same requests, one per record, on both
    writes = {p: Counter((r["method"], re.sub(r"/\d+", "/{id}", r["path"])) for r in checks.writes(synced[p]["import"]))
              for p in ("documented", "alternative")}
    assert writes["alternative"] == writes["documented"]
    # no legacy path, and no run-time surprise: the second run reads nothing (the setup's four
    # lists are kept from the first run, ``reference``; the import read them)
    for profile in ("documented", "alternative"):
        assert synced[profile]["again"] == []
        assert sorted(r["path"] for r in synced[profile]["import"] if r["method"] == "GET"
                      and r["path"] in checks.SETUP_ROAPP_READS) == checks.SETUP_ROAPP_READS
