"""A write RO App carries out but whose answer never comes back, for each kind of write the
sync makes: RO App applies the POST, then the connection drops (``apply_drop``), a 502
comes back instead of its answer (``apply_502``), or the answer is held past the client's
timeout (``apply_timeout``). The first import runs, each step retried as Airflow would if
it fails; afterwards RO App holds exactly one of everything, and everything matches Cartum.

Each case is a targeted fault rule on the RO App sandbox (the first ``LOST`` matching
requests), so the lost answers land on the write kind under test and nowhere else.
"""

from __future__ import annotations

import fnmatch
from typing import Any

import pytest

from tests.pipeline import checks
from tests.pipeline.e2e import Sync, check_no_change_run

#: write kind → the RO App request it is (method, path glob as the sandbox's rules match it)
WRITES = {
    "person": ("POST", "/v2/contacts/people"),
    "product": ("POST", "/v2/catalog/products"),
    "order": ("POST", "/v2/orders"),
    "item": ("POST", "/v2/orders/*/items"),
    "comment": ("POST", "/v2/orders/*/comments"),
    "status": ("POST", "/v2/orders/*/status"),
}
FAULTS = ("apply_drop", "apply_502", "apply_timeout")
#: How many writes of the kind lose their answer (each a different record: the loader
#: finds the first one in RO App and goes on to the next).
LOST = 2
#: The RO App client's timeout in these tests, and how long the sandbox holds an
#: ``apply_timeout`` answer: just past it, so a case costs about a second, not 35.
CLIENT_TIMEOUT = 0.5
HELD = 0.8


def applied(requests: list[dict[str, Any]], method: str, glob: str) -> list[dict[str, Any]]:
    """The requests matching ``method`` and ``glob`` that RO App carried out (whether or
    not their answer reached the client)."""
    return [r for r in requests if r["method"] == method and fnmatch.fnmatchcase(r["path"].rstrip("/"), glob)
            and 200 <= (r["applied_status"] or r["status"]) < 300]


def check_exactly_once(sync: Sync, expected: dict[int, dict], requests: list[dict[str, Any]]) -> None:
    """RO App holds each thing once, as Cartum says, and no create went in twice: for each
    kind, the creates RO App carried out are exactly the records it holds."""
    cartum, view, config = sync.cartum.admin.state(), sync.view(), sync.config
    checks.assert_no_duplicates(view)                           # orders per marker, items per line, people, SKUs
    checks.check_orders(cartum, view, config, expected)          # one delivery comment each (exact_comments)
    checks.check_products(cartum, view, config, expected.values())

    # every buyer and every registered customer with a phone: one person, and no one else
    wanted = {checks.phone_tail(u["phone"]) for u in cartum["users"]}
    wanted |= {checks.phone_tail(o["delivery_phone"]) for o in expected.values()}
    wanted.discard(None)
    by_phone = view.people_by_phone()
    assert set(by_phone) == wanted, (f"people missing for phones {sorted(wanted - set(by_phone))}, "
                                     f"unexpected {sorted(set(by_phone) - wanted)}")
    assert all(len(p.get("phones") or []) == 1 for p in view.people.values())
    assert len(view.people) == len(wanted)

    problems = []
    for order_id, cartum_order in expected.items():
        order = view.order(order_id)
        history = [h["status_id"] for h in order["status_history"]]
        if history != [config.mapped_status(cartum_order["stat_status"])]:
            problems.append(f"order {order_id}: status history {history}")
        if len(order["comments"]) != 1:
            problems.append(f"order {order_id}: {len(order['comments'])} comments")
    assert not problems, "\n".join(problems)

    orders = view.state["orders"]
    held = {
        "person": len(view.people), "product": len(view.products), "order": len(orders),
        "item": sum(len(o["items"]) for o in orders), "comment": sum(len(o["comments"]) for o in orders),
        "status": sum(len(o["status_history"]) for o in orders),
    }
    carried_out = {kind: len(applied(requests, method, glob)) for kind, (method, glob) in WRITES.items()}
    assert carried_out == held, "creates RO App carried out vs records it holds"
    # nothing was ever deleted to make up for a duplicate
    assert [r for r in requests if r["method"] == "DELETE"] == []


@pytest.mark.both_profiles(fault="apply_drop")  # each kind once on the alternative profile
@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("kind", list(WRITES))
def test_a_write_applied_with_its_answer_lost_is_not_repeated(small_sync, kind, fault):
    sync = small_sync
    sync.harness.roapp_timeout = CLIENT_TIMEOUT
    method, glob = WRITES[kind]
    sync.roapp.admin.faults(timeout_s=HELD)
    sync.roapp.admin.fault_rules([{"method": method, "path": glob, "fault": fault, "times": LOST}])
    sync.clear_logs()

    summary, failures = checks.run_with_retries(sync.harness, "import")

    assert summary["run"]["status"] == "success"
    requests = sync.roapp.admin.requests()
    assert sync.roapp.admin.fault_rules() == [], "every lost answer was used"
    lost = [r for r in requests if r["fault"] == fault]
    assert len(lost) == LOST and lost == [r for r in requests if r["fault"]]
    assert all(r["method"] == method and fnmatch.fnmatchcase(r["path"], glob) and r["applied_status"] in (200, 201)
               for r in lost), lost
    if fault == "apply_timeout":
        # the held answer went out after the client had given up on it
        assert all(r["status"] in (200, 201) for r in lost)
    else:
        assert all(r["status"] == {"apply_drop": 0, "apply_502": 502}[fault] for r in lost)

    expected = checks.expected_import(sync.cartum.admin.state(), sync.orders_from("import"))
    check_exactly_once(sync, expected, requests)
    assert sync.state.open_quarantine() == []
    counts = summary["entities"]
    assert counts["orders"]["created"] + counts["orders"]["unchanged"] == len(expected)
    assert all(c["quarantined"] == 0 and c["failed"] == 0 for c in counts.values()), counts
    if failures:
        print(f"{kind}/{fault}: steps retried {dict(failures)}")

    # and the state agrees with RO App: the next run has nothing to write
    sync.roapp.admin.clear_fault_rules()
    check_no_change_run(sync, expected, "next")
