"""The local look-up index kept from RO App (``roapp/index.py``) against the sandbox, on
both profiles: people by e-mail built once, kept by ``modified_at[]``, each hit confirmed
by a GET (people deleted or merged by a manager dropped); an RO App that ignores
``modified_at[]`` read whole at most once per interval; the catalogue scan kept between
clients for an interval. Costs come from the sandbox's request log."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from cartum_roapp_sandbox.roapp import RoAppSandbox
from cartum_roapp_sync.roapp import index as index_module
from cartum_roapp_sync.roapp.client import RoAppClient
from cartum_roapp_sync.roapp.index import OVERLAP, CatalogueIndex, PeopleIndex, moment
from cartum_roapp_sync.state.db import get_engine
from tests.conftest import FAST_RETRY, ROAPP_KEY, serving

PEOPLE = "/v2/contacts/people"
HOUR = timedelta(hours=1)


@pytest.fixture(params=["documented", "alternative"])
def sandbox(request):
    with serving(RoAppSandbox.seeded(api_keys=[ROAPP_KEY], profile=request.param), rate_limit=0) as running:
        yield running


@pytest.fixture
def engine(tmp_path):
    return get_engine(f"sqlite:///{tmp_path}/state.db")


class Clock:
    def __init__(self):
        self.now = datetime.now(timezone.utc)

    def __call__(self) -> datetime:
        return self.now


def client(url: str) -> RoAppClient:
    return RoAppClient(ROAPP_KEY, url, retry=FAST_RETRY, timeout=5.0)


def requests(sandbox) -> list[dict]:
    return [r for r in sandbox.admin.requests()]


def add_people(roapp: RoAppClient, count: int, start: int = 0) -> list[dict]:
    return [roapp.create_person({"first_name": f"P{i}", "email": f"p{i}@example.com"}) for i in range(start, count)]


def test_people_by_email_built_once_then_kept_by_modified_at(sandbox, engine):
    roapp = client(sandbox.url)
    made = add_people(roapp, 120)
    sandbox.admin.clear_requests()
    index = PeopleIndex(client(sandbox.url), engine, full_every=HOUR)

    assert index.find_by_email(["P3@example.com", "p110@example.com", "nobody@example.com"]) == {
        "p3@example.com": made[3]["id"], "p110@example.com": made[110]["id"]}
    # the whole base once (3 pages of 50), then one GET per hit; no e-mail filter sent
    log = requests(sandbox)
    assert [r["path"] for r in log] == [PEOPLE] * 3 + [f"{PEOPLE}/{made[3]['id']}", f"{PEOPLE}/{made[110]['id']}"]
    assert not any("emails" in key for r in log for key in r.get("query", {}))

    late = roapp.create_person({"first_name": "Late", "email": "Late@Example.com"})  # made by hand, after the read
    since = moment(index.index.cursor().modified_at) - OVERLAP
    changed = [p for p in sandbox.admin.state()["people"] if moment(p["modified_at"]) >= since]
    sandbox.admin.clear_requests()
    assert PeopleIndex(client(sandbox.url), engine, full_every=HOUR).find_by_email(["late@example.com"]) == {
        "late@example.com": late["id"]}
    # the people modified since the cursor less the overlap, 50 a page, then one GET
    log = requests(sandbox)
    pages = max(1, -(-len(changed) // 50))
    assert [r["path"] for r in log] == [PEOPLE] * pages + [f"{PEOPLE}/{late['id']}"]
    assert all(any(key.startswith("modified_at") for key in r["query"]) for r in log[:pages])


def test_people_deleted_or_merged_by_a_manager_are_dropped(sandbox, engine):
    roapp = client(sandbox.url)
    gone, kept, dropped = add_people(roapp, 3)
    index = PeopleIndex(roapp, engine, full_every=HOUR)
    assert index.find_by_email(["p0@example.com"]) == {"p0@example.com": gone["id"]}
    keeper = roapp.create_person({"first_name": "Keeper"})  # no e-mail: the merge gives it p2's
    sandbox.admin.delete_person(gone["id"])
    sandbox.admin.merge_people(keeper["id"], dropped["id"])

    found = index.find_by_email(["p0@example.com", "p1@example.com", "p2@example.com"])

    assert found == {"p1@example.com": kept["id"], "p2@example.com": keeper["id"]}
    held = index.index.records()
    assert gone["id"] not in held and dropped["id"] not in held
    assert held[keeper["id"]] == [("email", "p2@example.com")]


class IgnoresModifiedAt(RoAppClient):
    """An RO App that ignores ``modified_at[]``: the filter is not sent, the whole list comes back."""

    def people_pages(self, *, modified_since=None, first=1):
        return super().people_pages(first=first)


def test_an_ignored_modified_at_filter_reads_the_base_whole_at_most_once_per_interval(sandbox, engine, caplog,
                                                                                        monkeypatch):
    # every person here is made within the overlap, which would hide the ignored filter
    monkeypatch.setattr(index_module, "OVERLAP", timedelta(0))
    roapp = client(sandbox.url)
    made = add_people(roapp, 70)
    clock = Clock()
    ignoring = IgnoresModifiedAt(ROAPP_KEY, sandbox.url, retry=FAST_RETRY, timeout=5.0)
    index = PeopleIndex(ignoring, engine, full_every=HOUR, clock=clock)
    index.refresh()  # the first build
    late = roapp.create_person({"first_name": "Late", "email": "late@example.com"})
    sandbox.admin.clear_requests()

    clock.now += timedelta(minutes=10)
    index.refresh()  # inside the interval: the first page only, nothing read whole
    assert len(requests(sandbox)) == 1
    assert "ignores modified_at[]" in caplog.text
    assert index.index.find("email", ["late@example.com"]) == {}  # (on page 2: seen at the next whole read)

    clock.now += HOUR
    sandbox.admin.clear_requests()
    assert index.find_by_email(["late@example.com", "p0@example.com"]) == {
        "late@example.com": late["id"], "p0@example.com": made[0]["id"]}
    assert [r["path"] for r in requests(sandbox)].count(PEOPLE) == 2  # 71 people: 2 pages, read whole once


def test_the_catalogue_scan_is_kept_between_clients_for_an_interval(sandbox, engine):
    roapp = client(sandbox.url)
    for i in range(75):
        roapp.create_product({"title": f"T{i}", "sku": f"ART-{i}", "barcodes": [f"48200000{i:05d}"], "price": i})
    honoured = sandbox.admin.state()["profile"]["undocumented_filters"]
    clock = Clock()

    def run() -> tuple[list[str], int]:
        """One run's client: its look-ups, and the requests they cost."""
        sandbox.admin.clear_requests()
        fresh = client(sandbox.url)
        fresh.catalogue_cache = CatalogueIndex(engine, fresh.account, full_every=HOUR, clock=clock)
        skus = sorted(p["sku"] for p in fresh.find_products(skus=["ART-3", "ART-74", "ART-NEW", "ART-999"]))
        return skus, len(requests(sandbox))

    assert run() == (["ART-3", "ART-74"], 1 if honoured else 2)  # ignored: the 2 pages of the scan
    writer = client(sandbox.url)
    writer.catalogue_cache = CatalogueIndex(engine, writer.account, full_every=HOUR, clock=clock)
    writer.create_product({"title": "New", "sku": "ART-NEW", "price": 1})  # ours: into the index at once
    clock.now += timedelta(minutes=30)
    assert run() == (["ART-3", "ART-74", "ART-NEW"], 1)  # ignored: the probe's page, then the index
    clock.now += HOUR
    assert run() == (["ART-3", "ART-74", "ART-NEW"], 1 if honoured else 2)  # a scan is due again
