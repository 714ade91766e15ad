"""Where the log of a ``cartum-roapp`` command goes: the tool's answers are its own
sentences on stdout and stderr; what the libraries log (the clients' logins, pages and
retries, Airflow's own warnings) goes to a file, and with ``--verbose`` to stderr too.

The file is ``cartum-roapp.log`` in Airflow's log folder (``[logging] base_log_folder``,
by default ``$AIRFLOW_HOME/logs``), appended to by every command.
"""

from __future__ import annotations

import logging
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

LOG_FILE_NAME = "cartum-roapp.log"
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class _CountingFileHandler(logging.FileHandler):
    def __init__(self, path: Path):
        super().__init__(path, encoding="utf-8", delay=True)
        self.warnings = 0

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.WARNING:
            self.warnings += 1
        super().emit(record)


@dataclass
class LogFile:
    path: Path
    handler: _CountingFileHandler

    @property
    def warnings(self) -> int:
        """How many warnings (and worse) went to the file during this command."""
        return self.handler.warnings


def log_folder() -> Path:
    """Airflow's log folder, or the temporary directory when that cannot be created."""
    from airflow.configuration import conf

    folder = Path(conf.get("logging", "base_log_folder", fallback="") or tempfile.gettempdir())
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        folder = Path(tempfile.gettempdir())
    return folder


def route_logs(verbose: bool) -> LogFile:
    """Send every log record to the file; to stderr as well only when ``verbose``. Call it
    after Airflow configured logging (importing ``airflow`` does), which it replaces."""
    handler = _CountingFileHandler(log_folder() / LOG_FILE_NAME)
    handler.setFormatter(logging.Formatter(FORMAT))
    root = logging.getLogger()
    if verbose:
        stderr = logging.StreamHandler(sys.stderr)
        stderr.setFormatter(logging.Formatter(FORMAT))
        handlers: list[logging.Handler] = [handler, stderr]
    else:
        handlers = [handler]
    for old in list(root.handlers):
        root.removeHandler(old)
    for new in handlers:
        root.addHandler(new)
    root.setLevel(logging.WARNING)
    # The clients log each login and page at INFO: kept in the file, for when a call fails.
    logging.getLogger("cartum_roapp_sync").setLevel(logging.INFO)
    # Reading the Variable registers it with Airflow's log masker, which warns about short values.
    logging.getLogger("airflow._shared.secrets_masker.secrets_masker").setLevel(logging.ERROR)
    for name, logger in list(logging.root.manager.loggerDict.items()):
        # Loggers Airflow configured with handlers of their own would still print: send them up.
        if isinstance(logger, logging.Logger) and logger.handlers and not name.startswith("cartum_roapp_sync"):
            for old in list(logger.handlers):
                logger.removeHandler(old)
            logger.propagate = True
    return LogFile(Path(handler.baseFilename), handler)
