"""The provider's Airflow plugin: the connection Test request of the UI's row button is
accepted for the two port-less types, and a run's quarantine warning is added to its note
once, within what Airflow keeps. (In a real browser against the demo: tests/browser/.)"""

from __future__ import annotations

import json

from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from cartum_roapp_sync.airflow_plugin import NOTE_LIMIT, ConnectionTestPort, add_note, drop_form_port


def body(**fields) -> bytes:
    return json.dumps(fields).encode()


def test_the_forms_port_0_is_dropped_for_the_two_portless_types_only():
    for conn_type in ("cartum", "roapp"):
        assert json.loads(drop_form_port(body(conn_type=conn_type, connection_id="c", port=0, host="h"))) == {
            "conn_type": conn_type, "connection_id": "c", "host": "h"}
    # a real port, another type, a body without port or not JSON: unchanged
    for unchanged in (body(conn_type="cartum", port=8443), body(conn_type="http", port=0), body(conn_type="roapp"),
                      b"not json", b""):
        assert drop_form_port(unchanged) == unchanged


def echo_app() -> TestClient:
    app = FastAPI()

    @app.post("/api/v2/connections/test")
    async def test(request: Request) -> dict:
        return {"received": await request.json(), "length": request.headers["content-length"]}

    @app.post("/api/v2/connections")
    async def other(request: Request) -> dict:
        return {"received": await request.json()}

    app.add_middleware(ConnectionTestPort)
    return TestClient(app)


def test_the_middleware_rewrites_the_test_request_and_nothing_else():
    client = echo_app()
    sent = {"conn_type": "cartum", "connection_id": "cartum_demo", "host": "http://127.0.0.1:8701", "port": 0,
            "password": "***"}
    answer = client.post("/api/v2/connections/test", json=sent).json()
    assert answer["received"] == {k: v for k, v in sent.items() if k != "port"}
    assert int(answer["length"]) == len(json.dumps(answer["received"]))
    # creating a connection is not touched
    assert client.post("/api/v2/connections", json=sent).json()["received"] == sent


def test_the_note_is_added_once_and_kept_within_airflows_limit():
    warning = "⚠ Quarantined: 2 record(s)"
    assert add_note(None, warning) == warning
    assert add_note("demo", warning) == f"demo\n\n{warning}"
    assert add_note(f"demo\n\n{warning}", warning) == f"demo\n\n{warning}"  # marked finished twice
    long = add_note("x" * 900, warning + " " + "y" * 300)
    assert len(long) == NOTE_LIMIT and long.startswith("x" * 900) and long.endswith("…")


def test_the_provider_registers_the_plugin():
    from airflow import plugins_manager

    plugins, _errors = plugins_manager._get_plugins()
    ours = [p for p in plugins if p.name == "cartum_roapp_sync"]
    assert ours and ours[0].fastapi_root_middlewares[0]["middleware"] is ConnectionTestPort
    assert [type(listener).__name__ for listener in ours[0].listeners] == ["RunNoteListener"]
