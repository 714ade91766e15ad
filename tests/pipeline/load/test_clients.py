"""The clients loader against the fake RO App: create once, skip what is unchanged, update
what changed, never let less authoritative data overwrite better data, and adopt a person
a dead run created instead of creating it twice."""

from __future__ import annotations

from typing import Any

from cartum_roapp_sync.pipeline.load import ClientLoader
from cartum_roapp_sync.state.store import StateStore

from .fake_roapp import FakeRoApp
from .records import client, config, context

PHONE = "+380501234567"


def load(engine, fake: FakeRoApp, records: list[Any], run_id: str, *, customers: list[dict] | None = None):
    """One load_clients step of run ``run_id``; the fake forgets the calls of earlier runs."""
    ctx = context(config(), engine, fake, run_id)
    if customers is not None:
        ctx.data.save_raw("customers", customers)
    fake.forget_calls()
    return ClientLoader(ctx).run(records)


def held(record: Any) -> dict[str, Any]:
    """What RO App should hold for a person created from ``record`` alone."""
    return {"first_name": record.first_name, "last_name": record.last_name or "",
            "phones": [{"phone": record.phone}] if record.phone else [], "email": record.email,
            "address": record.address}


def person_fields(person: dict[str, Any]) -> dict[str, Any]:
    return {k: person.get(k) for k in ("first_name", "last_name", "phones", "email", "address")}


def only_person(fake: FakeRoApp) -> dict[str, Any]:
    assert len(fake.people) == 1, fake.people
    return next(iter(fake.people.values()))


def test_a_new_client_is_created_once_and_then_costs_nothing(engine, fake):
    record = client(PHONE, email="ivan@example.com", address="Київ, вул. Хрещатик, 1")
    counts = load(engine, fake, [record], "run_1")

    assert (counts.created, counts.updated, counts.unchanged, counts.quarantined) == (1, 0, 0, 0)
    assert fake.names() == ["find_people", "create_person"]
    assert fake.calls_of("find_people")[0][0]["phones"] == [PHONE]
    person = only_person(fake)
    assert person_fields(person) == held(record)
    row = StateStore(engine, "shop").id_rows("clients")[record.client_key]
    assert (row.status, row.roapp_id, row.content_hash) == ("synced", person["id"], record.content_hash)

    counts = load(engine, fake, [record], "run_2")
    assert fake.calls == []
    assert (counts.created, counts.updated, counts.unchanged) == (0, 0, 1)
    assert only_person(fake)["id"] == person["id"]


def test_a_changed_field_is_updated(engine, fake):
    first = client(PHONE, address="Київ", order_ids=[1])
    load(engine, fake, [first], "run_1")
    person_id = only_person(fake)["id"]

    moved = client(PHONE, address="Львів, вул. Франка, 1", order_ids=[2])
    counts = load(engine, fake, [moved], "run_2")

    assert (counts.created, counts.updated) == (0, 1)
    assert fake.names() == ["update_person"]
    assert fake.calls_of("update_person")[0][0] == person_id
    assert person_fields(only_person(fake)) == held(moved)


def test_order_only_data_never_overwrites_a_registered_profile(engine, fake):
    profile = [{"id": 77, "registered": "2024-01-01 00:00:00"}]
    registered = client(PHONE, first_name="Марія", last_name="Коваленко", address="Львів", user=77, order_ids=[10])
    load(engine, fake, [registered], "run_1", customers=profile)
    assert person_fields(only_person(fake)) == held(registered)

    # a later run sees the buyer only through a newer order, typed differently: RO App keeps the profile's data
    from_order = client(PHONE, first_name="Маша", last_name=None, address="Відділення №5", user=77, order_ids=[12])
    counts = load(engine, fake, [from_order], "run_2")
    assert fake.calls == []
    assert counts.unchanged == 1 and counts.updated == 0
    assert person_fields(only_person(fake)) == held(registered)

    # the profile itself changed (it is in this run's customers again): that is pushed
    renamed = client(PHONE, first_name="Марія-Олена", last_name="Коваленко", address="Львів", user=77,
                     order_ids=[12])
    counts = load(engine, fake, [renamed], "run_3", customers=profile)
    assert counts.updated == 1
    assert fake.names() == ["update_person"]
    assert person_fields(only_person(fake)) == held(renamed)


def test_an_older_order_never_overwrites_a_newer_one(engine, fake):
    newer = client(PHONE, first_name="Іван", address="Київ", order_ids=[20])
    load(engine, fake, [newer], "run_1")

    older = client(PHONE, first_name="Іванко", address="Одеса", order_ids=[15])
    counts = load(engine, fake, [older], "run_2")
    assert fake.calls == [] and counts.unchanged == 1
    assert person_fields(only_person(fake)) == held(newer)

    newest = client(PHONE, first_name="Іванко", address="Одеса", order_ids=[15, 21])
    counts = load(engine, fake, [newest], "run_3")
    assert counts.updated == 1 and fake.names() == ["update_person"]
    assert person_fields(only_person(fake)) == held(newest)


def test_a_record_that_only_lacks_what_roapp_holds_changes_nothing(engine, fake):
    full = client(PHONE, email="ivan@example.com", address="Київ", order_ids=[10])
    load(engine, fake, [full], "run_1")

    partial = client(PHONE, email=None, address=None, order_ids=[11])
    assert partial.content_hash != full.content_hash
    counts = load(engine, fake, [partial], "run_2")
    assert fake.calls == [] and counts.unchanged == 1
    assert person_fields(only_person(fake)) == held(full)

    # a real change without the e-mail: the address is written, the e-mail RO App holds is kept
    moved = client(PHONE, email=None, address="Львів", order_ids=[12])
    counts = load(engine, fake, [moved], "run_3")
    assert counts.updated == 1
    person_id, body = fake.calls_of("update_person")[0]
    assert "email" not in body and body["address"] == "Львів"
    assert person_fields(only_person(fake)) == {**held(full), "address": "Львів"}


def test_an_intent_left_by_a_dead_run_adopts_the_person_found_by_phone(engine, fake):
    record = client(PHONE, email="ivan@example.com")
    state = StateStore(engine, "shop")
    state.record_intent("clients", record.client_key, f"cartum:shop:{record.client_key}")
    # the dead run's create went through; RO App writes the phone its own way
    existing = fake.add_person(first_name="Іван", last_name="Шевченко", phones=[{"phone": "+38 (050) 123-45-67"}])

    counts = load(engine, fake, [record], "run_2")

    assert fake.names() == ["find_people"]
    assert len(fake.people) == 1
    assert (counts.created, counts.matched, counts.unchanged) == (0, 1, 1)
    row = state.id_rows("clients")[record.client_key]
    assert (row.status, row.roapp_id, row.content_hash) == ("synced", existing["id"], record.content_hash)

    load(engine, fake, [record], "run_3")
    assert fake.calls == []


def test_an_intent_whose_create_never_went_through_creates_once(engine, fake):
    record = client(PHONE)
    StateStore(engine, "shop").record_intent("clients", record.client_key, f"cartum:shop:{record.client_key}")
    fake.add_person(first_name="Інший", phones=[{"phone": "+380670000000"}])

    counts = load(engine, fake, [record], "run_2")

    assert counts.created == 1
    assert fake.names() == ["find_people", "create_person"]
    assert len(fake.people) == 2
    assert [person_fields(p) for p in fake.people.values() if p["phones"][0]["phone"] == PHONE] == [held(record)]


def test_a_buyer_keyed_by_email_is_found_by_email(engine, fake):
    record = client(None, email="olena@example.com", first_name="Олена")
    existing = fake.add_person(first_name="Олена", email="Olena@Example.com")

    counts = load(engine, fake, [record], "run_1")

    # no e-mail filter: the local index is built (one whole read), the hit confirmed by a GET
    assert fake.names() == ["people_pages", "get_person"]
    assert fake.calls_of("people_pages")[0][0] == {"modified_since": None, "first": 1}
    assert fake.calls_of("get_person")[0][0] == existing["id"]
    assert counts.matched == 1 and len(fake.people) == 1
    assert StateStore(engine, "shop").id_rows("clients")[record.client_key].roapp_id == existing["id"]


def test_a_buyer_with_neither_phone_nor_email_carries_the_marker_in_notes(engine, fake):
    record = client(None, email=None, first_name="Гість", last_name=None, order_ids=[555])
    assert record.client_key == "guest:555"

    load(engine, fake, [record], "run_1")

    assert fake.names() == ["find_people", "create_person"]
    assert fake.calls_of("find_people")[0][0]["names"] == ["Гість"]
    person = only_person(fake)
    assert person["notes"] == "cartum:shop:guest:555"
    assert person_fields(person) == held(record)


def test_a_buyer_with_neither_phone_nor_email_is_found_by_the_marker_after_a_crash(engine, fake):
    record = client(None, email=None, first_name="Гість", last_name=None, order_ids=[555])
    StateStore(engine, "shop").record_intent("clients", record.client_key, "cartum:shop:guest:555")
    fake.add_person(first_name="Гість", notes="cartum:shop:guest:999")        # another guest of the same name
    fake.add_person(first_name="Гість", notes="cartum:other_shop:guest:555")  # another store's guest
    ours = fake.add_person(first_name="Гість", notes="cartum:shop:guest:555")

    counts = load(engine, fake, [record], "run_2")

    assert fake.names() == ["find_people"]
    assert counts.matched == 1 and len(fake.people) == 3
    assert StateStore(engine, "shop").id_rows("clients")[record.client_key].roapp_id == ours["id"]


def test_a_rejected_client_is_quarantined_and_the_others_load(engine, fake):
    bad = client(PHONE, first_name="Іван")
    good = client("+380671112233", first_name="Петро")
    fake.reject("create_person", "The phones.0.phone format is invalid.")

    counts = load(engine, fake, [bad, good], "run_1")

    assert (counts.created, counts.quarantined, counts.failed) == (1, 1, 0)
    assert [person_fields(p) for p in fake.people.values()] == [held(good)]
    state = StateStore(engine, "shop")
    [row] = state.open_quarantine("clients")
    assert (row["source_key"], row["stage"], row["run_id"]) == (bad.client_key, "load", "run_1")
    assert "phones.0.phone format is invalid" in row["reason"]
    assert row["record"]["first_name"] == "Іван"

    # the next run loads it and resolves its quarantine row; the other is unchanged
    counts = load(engine, fake, [bad, good], "run_2")
    assert (counts.created, counts.unchanged) == (1, 1)
    assert sorted(p["first_name"] for p in fake.people.values()) == ["Іван", "Петро"]
    assert state.open_quarantine("clients") == []


def test_a_record_without_a_surname_keeps_the_surname_roapp_holds(engine, fake):
    full = client(PHONE, first_name="Марія", last_name="Коваленко", address="Київ", order_ids=[10])
    load(engine, fake, [full], "run_1")

    # a newer order typed with the first name only, to a new address
    short = client(PHONE, first_name="Марія", last_name=None, address="Львів", order_ids=[11])
    load(engine, fake, [short], "run_2")

    assert fake.names() == ["update_person"]
    assert StateStore(engine, "shop").id_rows("clients")[short.client_key].details["fields"][
        "last_name"] == "Коваленко"
    assert person_fields(only_person(fake)) == {**held(full), "address": "Львів"}
