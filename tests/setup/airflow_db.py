"""Reads (and for test setup, writes) a test Airflow metadata database, run as a separate
process with the venv's Python and AIRFLOW_HOME set: the test process itself is bound to
another Airflow home. The only argument is a JSON object:

    {"put_connections": [{conn_id, conn_type, host, login, password}],
     "add_stores": [entries to append to cartum_roapp_stores],
     "get_connections": [conn_id, ...]}

and it prints {"variable": <its text or null>, "connections": {conn_id: {...} or null}}.
"""

from __future__ import annotations

import json
import sys


def main() -> None:
    request = json.loads(sys.argv[1])
    from airflow.models import Connection, Variable
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        for fields in request.get("put_connections", []):
            existing = session.scalar(select(Connection).where(Connection.conn_id == fields["conn_id"]))
            if existing is not None:
                session.delete(existing)
                session.flush()
            session.add(Connection(**fields))
        if request.get("add_stores"):
            variable = session.scalar(select(Variable).where(Variable.key == "cartum_roapp_stores"))
            stores = json.loads(variable.val) if variable is not None and variable.val else []
            Variable.set("cartum_roapp_stores", json.dumps(stores + request["add_stores"]), session=session)
    with create_session() as session:
        variable = session.scalar(select(Variable).where(Variable.key == "cartum_roapp_stores"))
        connections = {}
        for conn_id in request.get("get_connections", []):
            conn = session.scalar(select(Connection).where(Connection.conn_id == conn_id))
            connections[conn_id] = None if conn is None else {
                "conn_type": conn.conn_type, "host": conn.host, "login": conn.login, "password": conn.password}
        print(json.dumps({"variable": variable.val if variable is not None else None, "connections": connections}))


if __name__ == "__main__":
    main()
