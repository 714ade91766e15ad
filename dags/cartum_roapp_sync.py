"""Cartum → RO App sync: one DAG per store configured in the Airflow Variable
``cartum_roapp_stores`` (see the README). This file only builds the DAGs; the work is in
the ``cartum_roapp_sync`` package under ``include/``."""

from cartum_roapp_sync.dags import build_dags, read_stores_variable

globals().update(build_dags(read_stores_variable()))
