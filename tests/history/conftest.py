"""The history tests use the end-to-end fixtures: a state database filled by real syncs of
a store wired to the sandboxes."""

from tests.pipeline.conftest import engine, sync

__all__ = ["engine", "sync"]
