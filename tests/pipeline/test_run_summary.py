"""The run summary counts what a load step did even when it fails: records it did not get
to are ``failed``, and its retry brings them to zero."""

from __future__ import annotations

import pytest

from cartum_roapp_sync.entities import CLIENTS
from cartum_roapp_sync.pipeline.rundata import RunData
from cartum_roapp_sync.pipeline.steps import run_step
from cartum_roapp_sync.state.db import get_engine
from cartum_roapp_sync.state.store import StateStore
from cartum_roapp_sync.transport import RetriableApiError
from tests.pipeline.harness import Harness, store_config


def test_a_failed_load_step_reports_its_failed_records_and_the_retry_clears_them(cartum_sandbox, roapp_sandbox,
                                                                                  tmp_path):
    harness = Harness(store_config(roapp_sandbox.admin.state()), get_engine(f"sqlite:///{tmp_path}/state.db"),
                      cartum_sandbox.url, roapp_sandbox.url)
    harness.run(until="check_quality", run_id="r")
    state = StateStore(harness.engine, "demo")
    clients = len(RunData(state, "r").valid(CLIENTS))
    assert clients > 3

    # The third create meets an outage longer than the client's retries.
    context = harness.context("r")
    client = context.roapp
    real_create, calls = client.create_person, []

    def create_then_outage(body):
        calls.append(body)
        if len(calls) == 3:
            roapp_sandbox.admin.faults(script=["503"] * 40)
        return real_create(body)

    client.create_person = create_then_outage
    with pytest.raises(RetriableApiError):
        run_step("load_clients", context)
    counts = state.run_summary("r")["entities"]["clients"]
    assert counts["created"] == 2
    assert counts["failed"] == clients - 2 - counts["unchanged"]

    roapp_sandbox.admin.faults(script=[])
    run_step("load_clients", harness.context("r"))
    counts = state.run_summary("r")["entities"]["clients"]
    assert counts["failed"] == 0
    assert counts["created"] + counts["unchanged"] == clients
