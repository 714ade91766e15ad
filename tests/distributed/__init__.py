"""The compose topology (CeleryExecutor, Redis, PostgreSQL) started as processes on this
machine, with two Celery workers: ``run`` (``scripts/distributed-test.sh``)."""
