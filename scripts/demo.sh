#!/usr/bin/env bash
# The demo, from nothing: creates the environment, starts both sandboxes and airflow
# standalone (SQLite, no other service), configures a demo store, runs its DAG once and
# prints what landed in RO App. Options go to scripts/demo.py (--help lists them).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup_env.sh requirements.txt
export PATH="$PWD/.venv/bin:$PATH"
exec .venv/bin/python scripts/demo.py "$@"
