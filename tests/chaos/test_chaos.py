"""The short chaos run (``scenario``): a small store through 5 runs with faults on both
sandboxes, Cartum changing between runs and 3 workers killed with SIGKILL, then 2 clean
runs; RO App must then hold exactly what Cartum's data says, nothing twice, nothing
missing, nothing wrong. The long version is ``scripts/chaos.sh``."""

from __future__ import annotations

from tests.chaos.changes import KINDS
from tests.chaos.scenario import ChaosSettings, run_chaos

SHORT = ChaosSettings(seed=1, runs=5, kills=3, clean_runs=2, orders=60, products=25, customers=15, days=30,
                      import_days=14, changes=5, new_orders=2, max_seconds=150, max_requests=20_000)


def test_chaos_short(tmp_path, capsys):
    result = run_chaos(ChaosSettings(**{**SHORT.to_dict(), "workdir": str(tmp_path)}))
    report = result.report()
    with capsys.disabled():  # the figures line shows in the test log even when it passes
        print("\n" + result.figures())
    # RO App holds what Cartum says: nothing twice, nothing missing, nothing wrong
    assert result.diff.empty, report
    # after chaos enough to mean something: faults on both sides, kills, changes, and a
    # last run that succeeded
    assert result.runs[-1]["status"] == "success", report
    assert len(result.kills) >= 2, report
    assert sum(result.faults["RO App"].values()) >= 10 and sum(result.faults["Cartum"].values()) >= 3, report
    missing = {*KINDS, "new_order"} - set(result.changes.kinds)
    assert not missing, f"no Cartum change of kind {sorted(missing)} (the first import came late?):\n{report}"
