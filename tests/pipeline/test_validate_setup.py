"""Every run starts with validate_setup: a broken setup stops the run before anything is
read or written, with one readable message and no secret in it."""

from __future__ import annotations

import pytest

from cartum_roapp_sync.pipeline.errors import FatalStepError
from cartum_roapp_sync.pipeline.rundata import RunData
from cartum_roapp_sync.pipeline.steps import run_step
from cartum_roapp_sync.state.db import get_engine
from cartum_roapp_sync.state.store import StateStore
from cartum_roapp_sync.transport import RetriableApiError
from tests.conftest import CARTUM_LOGIN
from tests.pipeline.harness import Harness, store_config


@pytest.fixture
def harness(cartum_sandbox, roapp_sandbox, tmp_path):
    def make(**overrides):
        config = store_config(roapp_sandbox.admin.state(), **overrides)
        return Harness(config, get_engine(f"sqlite:///{tmp_path}/state.db"), cartum_sandbox.url, roapp_sandbox.url)
    return make


def writes(sandbox) -> list:
    return [r for r in sandbox.admin.requests() if r["method"] != "GET"]


def test_an_unmatched_status_blocks_the_run_until_it_is_matched(harness, cartum_sandbox, roapp_sandbox):
    full = harness()
    unmatched = dict(full.config.status_map)
    del unmatched["7"]
    blocked = harness(status_map=unmatched)

    with pytest.raises(FatalStepError, match=r"status\(es\) 7 .* not matched"):
        blocked.run()
    state = StateStore(blocked.engine, "demo")
    summary = state.run_summary("run_1")
    assert summary["run"]["status"] == "running"  # finish_run was never reached in this direct call
    data = RunData(state, "run_1")
    assert list(data.outcomes()) == ["validate_setup"], "no step after validate_setup ran"
    assert data.outcomes()["validate_setup"][0] == "failed"
    assert data.plan().first_import is True, "validate_setup started the run (its plan) before it stopped it"
    assert data.raw("orders") == [], "nothing was extracted"
    assert writes(roapp_sandbox) == []
    cartum_paths = {r["path"] for r in cartum_sandbox.admin.requests()}
    assert cartum_paths <= {"/api/auth/", "/api/orders/get_available_statuses/"}

    summary = full.run(run_id="run_2")  # the same store, every status now matched
    assert summary["run"]["status"] == "success" and summary["run"]["first_import"] is True
    assert summary["entities"]["orders"]["created"] > 0


def test_a_changed_password_fails_validation_with_a_clear_message_and_no_secret(harness, cartum_sandbox):
    h = harness()
    cartum_sandbox.admin.action("set_credentials", {"login": CARTUM_LOGIN, "password": "rotated-password-9"})
    context = h.context("run_1")
    with pytest.raises(FatalStepError) as caught:
        run_step("validate_setup", context)
    message = str(caught.value)
    assert "rejected login 'sandbox_admin'" in message and "Settings → Administrators" in message
    assert "nothing was read or written" in message
    for secret in ("sandbox-password", "rotated-password-9"):
        assert secret not in message
    status, error = RunData(StateStore(h.engine, "demo"), "run_1").outcomes()["validate_setup"]
    assert status == "failed"
    assert "rejected login" in error and "sandbox-password" not in error


def test_a_removed_location_fails_validation(harness, roapp_sandbox):
    h = harness(location_id=999)
    with pytest.raises(FatalStepError, match="location_id: RO App has no location 999"):
        h.run()


def test_validation_costs_a_handful_of_reads(harness, cartum_sandbox, roapp_sandbox):
    h = harness()
    cartum_sandbox.admin.clear_requests()
    roapp_sandbox.admin.clear_requests()
    run_step("validate_setup", h.context("run_1"))
    assert [r["path"] for r in cartum_sandbox.admin.requests()] == ["/api/auth/",
                                                                    "/api/orders/get_available_statuses/"]
    assert sorted(r["path"] for r in roapp_sandbox.admin.requests()) == sorted(
        ["/v2/company/locations", "/v2/orders/types", "/v2/company/employees", "/v2/orders/statuses"])
    assert writes(roapp_sandbox) == []




def test_an_api_that_does_not_answer_is_retried_not_a_wrong_setup(harness, cartum_sandbox, roapp_sandbox):
    """A 429 storm longer than the client's retries while the setup is checked: the step
    fails as retriable (Airflow tries again), never as "the setup is wrong"."""
    h = harness()
    cartum_sandbox.admin.faults(script=["429"] * 20)
    with pytest.raises(RetriableApiError) as caught:
        run_step("validate_setup", h.context("run_1"))
    assert not isinstance(caught.value, FatalStepError)
    assert "could not be checked" in str(caught.value) and "429" in str(caught.value)
    cartum_sandbox.admin.faults(script=[])
    run_step("validate_setup", h.context("run_1"))  # the retry, once Cartum answers again
    assert RunData(StateStore(h.engine, "demo"), "run_1").outcomes()["validate_setup"] == ("done", None)
