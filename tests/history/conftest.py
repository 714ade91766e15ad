"""The history tests use the end-to-end fixtures (a state database filled by real syncs of
a store wired to the sandboxes) and, for the page, a migrated Airflow home of their own."""

from tests.pipeline.conftest import engine, sync
from tests.setup.conftest import airflow_home

__all__ = ["airflow_home", "engine", "sync"]
