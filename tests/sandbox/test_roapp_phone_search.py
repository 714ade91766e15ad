"""``phones[]`` and ``client_phones[]`` answer from an index of the people's phone digits
(long filter values) or by a scan (short ones): the answers must be what the documented
rule gives, "the filter's digits occur in the digits of one of the person's phones",
after people are created, their phones replaced, deleted and merged."""

from __future__ import annotations

import re
from urllib.parse import quote

from tests.sandbox.conftest import Api


def digits(value: str) -> str:
    return re.sub(r"\D", "", value)


def by_rule(people: list[dict], wanted: list[str]) -> list[int]:
    """The rule itself, over the whole contact base, in its order."""
    values = [d for d in map(digits, wanted) if d]
    return [p["id"] for p in people
            if any(w in digits(ph["phone"]) for w in values for ph in p.get("phones") or [])]


def query(name: str, wanted: list[str]) -> str:
    return "&".join(f"{name}[]={quote(w)}" for w in wanted)


FILTERS = [
    ["+380671112233"], ["0671112233"], ["671112233"], ["67111223"], ["1112233"],  # whole, tails, short
    ["380671112"],                     # the first digits: occur in the middle of no tail
    ["+38 (050) 999-88-77", "0671112233"], ["0931234567", "12"], ["0000000000"], ["abc"],
    ["0441234567"], ["+380441234567"], ["0631112233"],
]


def check_every_filter(api: Api, admin) -> None:
    state = admin.state()
    orders = state["orders"]
    for wanted in FILTERS:
        expected = by_rule(state["people"], wanted)
        assert api.ids(f"/v2/contacts/people?{query('phones', wanted)}&per_page=50") == expected[:50], wanted
        clients = set(expected)
        expected_orders = sorted(o["id"] for o in orders if o["client_id"] in clients)
        assert sorted(api.ids(f"/v2/orders?{query('client_phones', wanted)}")) == expected_orders[:50], wanted


def test_phone_filters_follow_the_rule_through_creates_updates_deletes_and_merges(api, admin):
    def person(*phones: str) -> dict:
        return api.created("/v2/contacts/people", {"first_name": "Olha", "phones": [{"phone": p} for p in phones]})

    a = person("+380671112233")
    b = person("+38 050 999 88 77", "0441234567")
    c = person("0671112233")                       # the same number, written without the country code
    d = person("+380931234567")
    for client in (a, b, c, d):
        api.created("/v2/orders", {"branch_id": 101, "order_type_id": 301, "client_id": client["id"]})
    check_every_filter(api, admin)
    assert api.ids(f"/v2/contacts/people?{query('phones', ['0671112233'])}") == [a["id"], c["id"]]

    # a PATCH replaces the phones: the old number no longer finds the person, the new one does
    assert api.patch(f"/v2/contacts/people/{a['id']}", {"phones": [{"phone": "+380631112233"}]}).status_code == 200
    check_every_filter(api, admin)
    assert api.ids(f"/v2/contacts/people?{query('phones', ['0671112233'])}") == [c["id"]]
    assert api.ids(f"/v2/contacts/people?{query('phones', ['0631112233'])}") == [a["id"]]

    # a deleted person is found by nothing; a merge moves the dropped person's phones over
    admin.delete_person(d["id"])
    check_every_filter(api, admin)
    assert api.ids(f"/v2/contacts/people?{query('phones', ['0931234567'])}") == []
    admin.merge_people(c["id"], b["id"])
    check_every_filter(api, admin)
    assert api.ids(f"/v2/contacts/people?{query('phones', ['0441234567'])}") == [c["id"]]
    # a new person with a number already held comes after the earlier ones, as in the list
    e = person("380671112233")
    check_every_filter(api, admin)
    assert api.ids(f"/v2/contacts/people?{query('phones', ['0671112233'])}") == [c["id"], e["id"]]
