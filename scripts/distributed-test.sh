#!/usr/bin/env bash
# The compose topology without Docker: PostgreSQL (metadata, Celery results, state) and
# Redis (broker) of this machine, airflow-init, api-server, scheduler, dag-processor and two
# Celery workers as processes; three stores (two sharing one RO App key) synced against the
# sandboxes; one worker killed with SIGKILL during a load. Checks the results, the task
# split, the shared key's rate and the kill's outcome; stops everything it started.
# Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust) and Redis on 127.0.0.1:6379.
# Usage: scripts/distributed-test.sh [--orders N] [--redis-db N] [--workdir DIR] ... (--help lists them)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup_env.sh requirements-test.txt
export PATH="$PWD/.venv/bin:$PATH"
exec .venv/bin/python -m tests.distributed.run "$@"
