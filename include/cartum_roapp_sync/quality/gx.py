"""Great Expectations, imported on first use, and the one ephemeral GX context per process.

Nothing here is imported at module level: DAG files import the ``quality`` package while
they are parsed, and importing Great Expectations costs seconds.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd


def gx():  # type: ignore[no-untyped-def]
    """great_expectations, imported on first use (DAG parsing must stay fast) and without
    its import-time INFO chatter, which would otherwise fill every task log."""
    logging.getLogger("great_expectations._docs_decorators").setLevel(logging.WARNING)
    import great_expectations

    return great_expectations


class Runtime:
    """One ephemeral GX context per process, with a pandas data source and one dataframe
    asset per frame name ("clients", "order_items", ...), added the first time that frame
    is validated. Creating it is cheap once GX is imported (milliseconds); importing GX is
    what costs, and that happens once per process either way."""

    _instance: Runtime | None = None
    _lock = threading.Lock()

    def __init__(self) -> None:
        great_expectations = gx()
        from great_expectations.data_context.types.base import ProgressBarsConfig

        self.context = great_expectations.get_context(mode="ephemeral")
        # tqdm bars on every validation would flood the Airflow task logs.
        self.context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
        self.source = self.context.data_sources.add_pandas("cartum_roapp_quality")
        self.batch_definitions: dict[str, Any] = {}

    @classmethod
    def get(cls) -> Runtime:
        with cls._lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    def validate(self, name: str, frame: pd.DataFrame, suite: Any) -> Any:
        # The index of a failing row comes back in unexpected_index_list; frames are
        # validated with a RangeIndex so those are row positions. Key columns cannot serve
        # as unexpected_index_column_names: a null or duplicated key does not say which row.
        with self._lock:  # one shared context: keep threads from interleaving batches
            definition = self.batch_definitions.get(name)
            if definition is None:
                definition = self.source.add_dataframe_asset(name).add_batch_definition_whole_dataframe(name)
                self.batch_definitions[name] = definition
            batch = definition.get_batch(batch_parameters={"dataframe": frame})
            return batch.validate(suite, result_format={"result_format": "COMPLETE"})
