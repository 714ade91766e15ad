"""A run that reads exactly what the last run that loaded had read skips the transform,
data quality and the loads (``steps.nothing_changed``), and ``finish_run`` records it as a
no-change run; any change in Cartum, in the store's settings or in the quarantine makes
the next run do the work again. Through the step functions, against the sandboxes."""

from __future__ import annotations

from cartum_roapp_sync.pipeline.steps import SKIPPED_WHEN_UNCHANGED, STEPS
from tests.pipeline import checks


def run(sync, run_id: str):
    summary, calls = checks.run_counting(sync.harness, run_id, sync.cartum.admin, sync.roapp.admin)
    return summary, calls, sync.state.step_outcomes(run_id)


def test_a_run_that_reads_what_the_last_loaded_skips_the_rest(small_sync):
    sync = small_sync
    sync.harness.run(run_id="import")

    # The first incremental run reads another set than the import did: it does the work,
    # and keeps the digest of what it read.
    summary, _, outcomes = run(sync, "second")
    assert summary["run"]["no_change"] is False and summary["run"]["status"] == "success"
    assert {outcomes[name][0] for name in STEPS} == {"done"}
    assert sync.state.get_store_state()["read_digest"] is not None

    summary, calls, outcomes = run(sync, "third")
    run_row, entities = summary["run"], summary["entities"]
    assert (run_row["status"], run_row["mode"], run_row["no_change"]) == ("success", "incremental", True)
    assert {name: outcomes[name][0] for name in SKIPPED_WHEN_UNCHANGED} == {name: "skipped"
                                                                           for name in SKIPPED_WHEN_UNCHANGED}
    assert {outcomes[name][0] for name in STEPS if name not in SKIPPED_WHEN_UNCHANGED} == {"done"}
    # No RO App request after the setup check, no write; every order read counts as unchanged.
    assert calls.data_path("roapp") == [] and run_row["roapp_writes"] == 0
    # and none in it: the setup's reference lists are kept (``reference``; were 4 reads)
    assert calls.total("roapp") == []
    assert entities["orders"]["extracted"] > 0
    assert entities["orders"]["unchanged"] == entities["orders"]["extracted"]

    # A change in Cartum: the next run does the work and loads it.
    open_id = sync.data("third").plan().open_order_ids[0]
    order = next(o for o in sync.cartum.admin.state()["orders"] if o["order_id"] == open_id)
    status = min(int(k) for k in sync.config.status_map if int(k) != order["stat_status"])
    sync.cartum.admin.action("upsert_orders", [{**order, "stat_status": status}])
    summary, calls, outcomes = run(sync, "fourth")
    assert summary["run"]["no_change"] is False
    assert {outcomes[name][0] for name in STEPS} == {"done"}
    assert summary["entities"]["orders"]["updated"] == 1
    assert checks.writes(calls.total("roapp"))

    # ... after which the same read again is no change.
    summary, _, _ = run(sync, "fifth")
    assert summary["run"]["no_change"] is True

    # Other settings give another transform: the work is done again.
    changed = sync.with_config(overlap_minutes=sync.config.overlap_minutes + 1)
    summary, _, outcomes = run(changed, "sixth")
    assert summary["run"]["no_change"] is False and outcomes["load_orders"][0] == "done"


def test_a_run_that_fails_after_reading_is_never_the_last_that_loaded(small_sync):
    """A run that clears the digest and then fails leaves none behind: the run after it
    does the work, even when it reads what the last successful run read."""
    sync = small_sync
    sync.harness.run(run_id="import")
    sync.harness.run(run_id="second")
    digest = sync.state.get_store_state()["read_digest"]
    assert digest is not None

    # A run with a quarantined record in the way (RO App rejected it): not a no-change
    # run, so it clears the digest; it stops before the loads.
    sync.state.quarantine("third", "clients", "phone:000000000", "load", "rejected by RO App (test)", None)
    sync.harness.run(run_id="third", until="transform")
    assert sync.data("third").nothing_changed() is False
    assert sync.state.get_store_state()["read_digest"] is None
    sync.state.resolve_quarantine("clients", ["phone:000000000"], resolution="test")

    summary, _, outcomes = run(sync, "fourth")
    assert summary["run"]["no_change"] is False and outcomes["load_orders"][0] == "done"


#: A no-change run's steps after the extracts, in a process of their own (as Airflow runs
#: each task), reporting which heavy modules they imported.
AFTER_EXTRACTS = r"""
import json, sys
from cartum_roapp_sync.config import parse_store
from cartum_roapp_sync.pipeline.steps import SKIPPED_WHEN_UNCHANGED, finish_run, run_step
from cartum_roapp_sync.state.db import get_engine
from tests.pipeline.harness import Harness

config, state, cartum, roapp, run_id = sys.argv[1:]
harness = Harness(parse_store(json.loads(config)), get_engine(state), cartum, roapp)
for name in SKIPPED_WHEN_UNCHANGED:
    run_step(name, harness.context(run_id))
summary = finish_run(harness.context(run_id))
print(json.dumps({"no_change": summary["run"]["no_change"],
                  "imported": [m for m in ("great_expectations", "pandas", "numpy") if m in sys.modules]}))
"""


def test_a_no_change_run_imports_neither_great_expectations_nor_pandas(small_sync):
    """Importing Great Expectations costs seconds of CPU in every task process that does;
    a run with nothing to check must not pay it, nor pandas' import."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    sync = small_sync
    sync.harness.run(run_id="import")
    sync.harness.run(run_id="second")
    sync.harness.run(run_id="third", until="extract_customers")
    command = [sys.executable, "-c", AFTER_EXTRACTS, json.dumps(sync.config.to_dict()),
               sync.harness.engine.url.render_as_string(hide_password=False), sync.cartum.url, sync.roapp.url,
               "third"]
    done = subprocess.run(command, cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report == {"no_change": True, "imported": []}, done.stderr[-3000:]
