"""The Airflow plugin this provider registers (the ``airflow.plugins`` entry point in pyproject.toml),
for two things a connection type or a DAG cannot do alone:

- **The UI's Test button on a ``cartum`` or ``roapp`` connection.** The connection list's
  Test button (Airflow 3.3) posts the row with ``port: Number(port)``, i.e. ``0`` for a
  connection without a port, and the test endpoint refuses a port that differs from the
  stored one ("The host or port to test differs from the stored connection"). Both types
  hide the port (the URL carries it): ``ConnectionTestPort`` drops a ``port`` of 0 from a
  test request for these two types, so the stored connection, password included, is tested.
- **A run that quarantined records says so in its note.** ``finish_run`` pushes the
  warning as the XCom ``RUN_NOTE_KEY``; ``RunNoteListener`` (in the scheduler, where the run
  is marked finished) adds it to the run's note. Tasks cannot write a run's note in
  Airflow 3 (no such call in the execution API), the scheduler can.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from airflow.listeners import hookimpl
from airflow.plugins_manager import AirflowPlugin

log = logging.getLogger(__name__)

#: The connection types whose forms hide the port.
PORTLESS_CONN_TYPES = ("cartum", "roapp")
TEST_PATH = "/api/v2/connections/test"
#: The XCom key under which ``finish_run`` leaves the run's note, and the task that pushes it.
RUN_NOTE_KEY = "run_note"
RUN_NOTE_TASK = "finish_run"
DAG_PREFIX = "cartum_roapp__"


def drop_form_port(body: bytes) -> bytes:
    """The test request's body without ``"port": 0`` when the type hides the port; any
    other body unchanged."""
    try:
        payload = json.loads(body or b"null")
    except ValueError:
        return body
    if (isinstance(payload, dict) and payload.get("conn_type") in PORTLESS_CONN_TYPES
            and "port" in payload and payload["port"] in (0, "0", "")):
        del payload["port"]
        return json.dumps(payload).encode()
    return body


class ConnectionTestPort:
    """ASGI middleware: passes every request on; a POST to the connection test endpoint
    goes through ``drop_form_port`` first."""

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or not scope["path"].endswith(TEST_PATH):
            await self.app(scope, receive, send)
            return
        chunks, more = [], True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = drop_form_port(b"".join(chunks))
        headers = [(k, v) for k, v in scope["headers"] if k.lower() != b"content-length"]
        scope = {**scope, "headers": [*headers, (b"content-length", str(len(body)).encode())]}
        replayed = False

        async def replay() -> dict[str, Any]:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


#: Airflow keeps at most this many characters of a run's note.
NOTE_LIMIT = 1000


def add_note(existing: str | None, note: str) -> str:
    """The run's note with ``note`` added once (a run marked finished twice, or a note
    someone wrote at trigger time, keeps its text), cut to ``NOTE_LIMIT`` characters."""
    if existing and note in existing:
        return existing
    text = f"{existing}\n\n{note}" if existing else note
    return text if len(text) <= NOTE_LIMIT else text[:NOTE_LIMIT - 1] + "…"


class RunNoteListener:
    """Adds ``finish_run``'s note (quarantined records) to a store DAG's run when the
    scheduler marks it finished."""

    @hookimpl
    def on_dag_run_success(self, dag_run: Any, msg: str) -> None:
        self._add(dag_run)

    @hookimpl
    def on_dag_run_failed(self, dag_run: Any, msg: str) -> None:
        self._add(dag_run)

    @staticmethod
    def _add(dag_run: Any) -> None:
        if not str(dag_run.dag_id).startswith(DAG_PREFIX):
            return
        from airflow.models.xcom import XComModel
        from sqlalchemy import select
        from sqlalchemy.orm import object_session

        session = object_session(dag_run)
        if session is None:
            return
        row = session.execute(select(XComModel.value).where(
            XComModel.dag_id == dag_run.dag_id, XComModel.run_id == dag_run.run_id,
            XComModel.task_id == RUN_NOTE_TASK, XComModel.key == RUN_NOTE_KEY)).first()
        note = XComModel.deserialize_value(row) if row is not None else None
        if note:
            dag_run.note = add_note(dag_run.note, str(note))
            log.info("run %s of %s: quarantine warning added to the run's note", dag_run.run_id, dag_run.dag_id)


class CartumRoAppPlugin(AirflowPlugin):
    name = "cartum_roapp_sync"
    listeners = [RunNoteListener()]
    fastapi_root_middlewares = [{"middleware": ConnectionTestPort, "args": [], "kwargs": {},
                                 "name": "cartum/roapp connection test: the form's port 0 dropped"}]
