"""Retries survive faults: a first import through 429/5xx storms, dropped connections,
Cartum HTML error pages, Cartum sessions expiring mid-step and an RO App outage that fails
a load step, retried as Airflow would, ends up exactly where a clean run does.
"""

from __future__ import annotations

import re
from contextlib import ExitStack

from cartum_roapp_sandbox.roapp import RoAppSandbox
from cartum_roapp_sandbox.server import FaultSettings, SandboxServer
from cartum_roapp_sync.state.db import get_engine
from tests.conftest import FAST_RETRY, ROAPP_KEY, RunningSandbox
from tests.pipeline import checks
from tests.pipeline.e2e import make_sync
from tests.pipeline.injection import OnRequest, expire_tokens, outage


def test_retries_survive_faults(cartum_sandbox, roapp_sandbox, tmp_path):
    # a clean run into one RO App account
    clean = make_sync(cartum_sandbox, roapp_sandbox, get_engine(f"sqlite:///{tmp_path}/clean.db"))
    assert clean.harness.run(run_id="clean")["run"]["status"] == "success"

    # the same store into another account, through 429/5xx storms, dropped connections,
    # Cartum HTML error pages and sessions expiring mid-step
    other = RoAppSandbox.seeded(api_keys=[ROAPP_KEY])
    with SandboxServer(other, port=0, faults=FaultSettings(rate_limit=0), seed=3) as server:
        roapp = RunningSandbox(server)
        faulty = make_sync(cartum_sandbox, roapp, get_engine(f"sqlite:///{tmp_path}/faulty.db"))
        roapp.admin.faults(error_rate=0.2, error_codes=["429", "500", "503"], drop_rate=0.03)
        cartum_sandbox.admin.clear_requests()
        cartum_sandbox.admin.faults(error_rate=0.1, error_codes=["429", "500", "502", "503"], html_errors=True,
                                    script=["html502", "429"])
        with ExitStack() as injected:
            # Every Cartum token expires just before the first call of each of these functions,
            # so that the session dies in the middle of a step (not between steps, where each
            # task logs in anyway).
            expiries = [injected.enter_context(OnRequest(cartum_sandbox, f"/api/{re.escape(function)}",
                                                         expire_tokens(cartum_sandbox), before=True))
                        for function in ("orders/get", "catalog/export", "users/export")]
            # Right after the 10th item added to an order, the next 2 × max_attempts requests
            # fail with 503: an outage that outlasts the client's own retries in the middle of
            # a step (a write's 503 is not retried but looked up, and the look-up's reads are
            # retried max_attempts times), so that the step fails and is retried as a whole.
            injected.enter_context(OnRequest(roapp, r"/v2/orders/\d+/items",
                                             outage(roapp, 2 * FAST_RETRY.max_attempts), method="POST", nth=10))
            try:
                summary, failures = checks.run_with_retries(faulty.harness, "faulty", retries=3)
            finally:
                roapp.admin.faults(error_rate=0.0, drop_rate=0.0)
                cartum_sandbox.admin.faults(error_rate=0.0)
        assert summary["run"]["status"] == "success"

        roapp_log, cartum_log = roapp.admin.requests(), cartum_sandbox.admin.requests()
        assert sum(r["status"] in (429, 500, 503, 0) for r in roapp_log) >= 20, "the faults should have bitten"
        assert all(expiry.fired for expiry in expiries)
        assert failures["load_orders"] >= 1, "the outage should have failed load_orders once"
        assert sum(r["status"] != 200 for r in cartum_log) >= 2
        auths = checks.function_calls(cartum_log)["auth"]
        assert auths >= 3 + 3 + (failures["extract_orders"] + failures["extract_products"]
                                 + failures["extract_customers"]), "each expired session means a new login"
        assert summary["run"]["roapp_calls"] == len(roapp_log)  # every attempt counts
        assert summary["run"]["cartum_calls"] == len(cartum_log)

        expected = checks.expected_import(cartum_sandbox.admin.state(), faulty.orders_from("faulty"))
        checks.check_orders(cartum_sandbox.admin.state(), faulty.view(), faulty.config, expected)
        checks.assert_no_duplicates(faulty.view())
        assert checks.snapshot(roapp.admin.state(), "demo") == checks.snapshot(roapp_sandbox.admin.state(), "demo")
