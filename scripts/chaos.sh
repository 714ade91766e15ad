#!/usr/bin/env bash
# The long chaos run: a store syncs through many runs while both sandboxes inject faults,
# Cartum changes between runs and workers are killed with SIGKILL; then RO App is compared
# with what Cartum's data alone says it should hold. Prints the figures; exits non-zero on
# any difference. Sets up the same .venv as scripts/test.sh (no PostgreSQL needed: the
# state database is SQLite in a temporary directory).
# Usage: scripts/chaos.sh [--seed N] [--runs N] [--kills N] [--orders N] ... (--help lists them)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup_env.sh requirements-test.txt
echo "==> chaos run"
exec .venv/bin/python -m tests.chaos.run "$@"
