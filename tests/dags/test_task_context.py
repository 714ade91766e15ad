"""What a task reads from Airflow's context: the DAG's last success arrives as a lazy proxy,
which is never None itself. Read wrongly, every first import of a store without the
``cartum_roapp_state`` connection would be taken for a lost state and stopped."""

from __future__ import annotations

from datetime import datetime, timezone

import lazy_object_proxy

from cartum_roapp_sync.dags import previous_success


def test_a_proxy_standing_for_none_means_never_succeeded():
    assert previous_success({"prev_start_date_success": lazy_object_proxy.Proxy(lambda: None)}) is None
    assert previous_success({"prev_start_date_success": None}) is None
    assert previous_success({}) is None


def test_a_proxy_standing_for_a_time_gives_that_time():
    when = datetime(2026, 11, 28, 18, 25, tzinfo=timezone.utc)
    assert previous_success({"prev_start_date_success": lazy_object_proxy.Proxy(lambda: when)}) == when
    assert previous_success({"prev_start_date_success": when}) == when
