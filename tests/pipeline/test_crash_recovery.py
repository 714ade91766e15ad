"""Crash safety: the load steps run in a worker process of their own (``run_steps``), as
an Airflow worker runs a task, and are killed with SIGKILL, either once the RO App log shows
a step half done or right after RO App carried out a given write (``injection``); then
Airflow's retry of the same run must leave nothing missing and nothing twice.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cartum_roapp_sandbox.admin import SandboxAdmin
from cartum_roapp_sync.entities import CLIENTS
from cartum_roapp_sync.pipeline.steps import run_step
from tests.pipeline import checks
from tests.pipeline.e2e import Sync, check_no_change_run
from tests.pipeline.injection import OnRequest, kill

REPO_ROOT = Path(__file__).resolve().parents[2]


def start_worker(sync: Sync, tmp_path: Path, run_id: str, steps: list[str]) -> subprocess.Popen:
    """The steps in a process of their own (``run_steps``), as an Airflow worker runs a task."""
    command = [sys.executable, "-m", "tests.pipeline.run_steps", "--cartum", sync.cartum.url,
               "--roapp", sync.roapp.url, "--state", sync.harness.engine.url.render_as_string(hide_password=False),
               "--config", json.dumps(sync.config.to_dict()), "--run-id", run_id, "--steps", ",".join(steps)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
    with open(tmp_path / f"worker_{run_id}.log", "ab") as log:
        return subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


def wait_until_quiet(admin: SandboxAdmin, quiet: float = 0.3) -> None:
    """Until the sandbox's request log has not grown for ``quiet`` seconds."""
    seen = len(admin.requests())
    while True:
        time.sleep(quiet)
        now = len(admin.requests())
        if now == seen:
            return
        seen = now


def worker_log(tmp_path: Path, run_id: str) -> str:
    return (tmp_path / f"worker_{run_id}.log").read_text(errors="replace")[-3000:]


def load_until_killed(sync: Sync, tmp_path: Path, run_id: str, method: str, path: str, nth: int) -> OnRequest:
    """The three load steps in a worker, killed with SIGKILL right after the RO App sandbox
    carried out the ``nth`` successful request matching ``method`` and ``path`` (a regex),
    before its answer leaves: RO App holds the write, the worker never learns of it."""
    worker = start_worker(sync, tmp_path, run_id, ["load_clients", "load_products", "load_orders"])
    with OnRequest(sync.roapp, path, kill(worker), method=method, nth=nth, succeeded_only=True) as switch:
        assert worker.wait(timeout=60) == -signal.SIGKILL, worker_log(tmp_path, run_id)
    return switch


def check_complete(sync: Sync, expected: dict[int, dict]) -> None:
    """Nothing missing, nothing twice, no create left half done in the id map."""
    cartum = sync.cartum.admin.state()
    view = sync.view()
    checks.assert_no_duplicates(view)
    checks.check_orders(cartum, view, sync.config, expected)
    checks.check_products(cartum, view, sync.config, expected.values())
    for entity in ("clients", "products", "orders"):
        rows = sync.state.id_rows(entity)
        assert rows and all(r.status == "synced" and r.roapp_id for r in rows.values()), entity
    assert len({r.roapp_id for r in sync.state.id_rows("orders").values()}) == len(expected)


def prepare_load(sync: Sync, run_id: str) -> dict[int, dict]:
    """A first-import run up to the load steps, in this process; returns the expected orders."""
    sync.harness.run(until="check_quality", run_id=run_id)
    return checks.expected_import(sync.cartum.admin.state(), sync.orders_from(run_id))


WRITE_PATHS = {"load_clients": "/v2/contacts/people", "load_orders": "/v2/orders"}


@pytest.mark.parametrize("step", ["load_orders", "load_clients"])
def test_worker_killed_midway_then_retried(small_sync, tmp_path, step):
    """The worker is killed once the RO App log shows some creates of the step but not all
    (RO App slowed down so there is time to look); Airflow retries the task in the same run."""
    sync, run_id = small_sync, "crash"
    expected = prepare_load(sync, run_id)
    loads = ["load_clients", "load_products", "load_orders"]
    if step == "load_orders":
        for name in loads[:-1]:
            run_step(name, sync.harness.context(run_id))
    planned = len(expected) if step == "load_orders" else len(sync.data(run_id).valid(CLIENTS))
    sync.clear_logs()
    sync.roapp.admin.faults(latency_ms=50)
    worker = start_worker(sync, tmp_path, run_id, loads[loads.index(step):])
    try:
        deadline = time.monotonic() + 60
        while True:
            creates = [r for r in sync.roapp.admin.requests()
                       if r["method"] == "POST" and r["path"] == WRITE_PATHS[step] and r["status"] == 201]
            # Killed as soon as the n-th create shows: the worker is then between that create
            # and the record's last write (for an order, at least 3 slowed-down requests
            # before its delivery comment), somewhere a crash must leave nothing half done.
            if len(creates) >= planned // 2:
                worker.send_signal(signal.SIGKILL)
                break
            assert worker.poll() is None, f"the worker ended before the kill:\n{worker_log(tmp_path, run_id)}"
            assert time.monotonic() < deadline, "the worker made no progress"
            time.sleep(0.005)
    finally:
        worker.kill()
        worker.wait()
        sync.roapp.admin.faults(latency_ms=0)
        # A request the worker had sent may still be in the slowed-down sandbox: it is carried
        # out although its sender is dead. Airflow's retry comes 30 s later; here, once the
        # sandbox has gone quiet.
        wait_until_quiet(sync.roapp.admin)
    assert worker.returncode == -signal.SIGKILL
    created = [r for r in sync.roapp.admin.requests() if r["method"] == "POST" and r["path"] == WRITE_PATHS[step]]
    assert 0 < len(created) < planned, "the kill should come in the middle of the step"

    summary = checks.resume(sync.harness, run_id, step)
    assert summary["run"]["status"] == "success"
    check_complete(sync, expected)
    check_no_change_run(sync, expected, "after_crash")


KILL_POINTS = {
    "person created": ("load_clients", "POST", r"/v2/contacts/people", 3),
    "product created": ("load_products", "POST", r"/v2/catalog/products", 4),
    "order created": ("load_orders", "POST", r"/v2/orders", 3),
    "order item added": ("load_orders", "POST", r"/v2/orders/\d+/items", 4),
    "order status set": ("load_orders", "POST", r"/v2/orders/\d+/status", 3),
}


@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_worker_killed_right_after_a_write_then_retried(small_sync, tmp_path, point):
    """The worker dies at an exact moment: RO App has carried out a write the worker never
    heard back about. The retry finds it (by phone, SKU, the order's marker, the order's
    items) instead of writing it again."""
    step, method, path, nth = KILL_POINTS[point]
    sync, run_id = small_sync, "crash"
    expected = prepare_load(sync, run_id)
    switch = load_until_killed(sync, tmp_path, run_id, method, path, nth)
    assert switch.fired

    summary = checks.resume(sync.harness, run_id, step)
    assert summary["run"]["status"] == "success"
    check_complete(sync, expected)
    check_no_change_run(sync, expected, "after_crash")


def test_worker_killed_right_after_the_delivery_comment_then_retried(small_sync, tmp_path):
    """The one write RO App cannot list back: the retry tells from the order's modified_at
    (recorded after the status step) that the comment went in, and does not post it again."""
    sync, run_id = small_sync, "crash"
    expected = prepare_load(sync, run_id)
    load_until_killed(sync, tmp_path, run_id, "POST", r"/v2/orders/\d+/comments", 2)
    checks.resume(sync.harness, run_id, "load_orders")
    check_complete(sync, expected)
