"""Airflow's ``[core] hostname_callable`` for the distributed test: each Celery worker of
one machine names itself as a worker of its own machine would (``CARTUM_DIST_HOSTNAME``),
so that the task instances say which worker ran them. Processes without the variable get
the machine's name, as by default."""

import os
import socket


def worker_hostname() -> str:
    return os.environ.get("CARTUM_DIST_HOSTNAME") or socket.getfqdn()
