#!/usr/bin/env bash
# Sets up everything the tests need and runs them all: the venv, PostgreSQL (started if it
# is down), then pytest. Extra arguments go to pytest, e.g. scripts/test.sh -m "not slow".
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup_env.sh requirements-test.txt

# PostgreSQL for the state-database tests (the same server CI uses).
export CARTUM_ROAPP_TEST_PG_URL="${CARTUM_ROAPP_TEST_PG_URL:-postgresql+psycopg2://postgres@127.0.0.1:5432/test}"
if ! .venv/bin/python - <<'PY' 2>/dev/null
import os, sqlalchemy
sqlalchemy.create_engine(os.environ["CARTUM_ROAPP_TEST_PG_URL"]).connect().close()
PY
then
  echo "==> PostgreSQL is not answering; starting it"
  if command -v pg_ctlcluster >/dev/null; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
  fi
  for _ in $(seq 1 30); do
    .venv/bin/python -c "import os, sqlalchemy; sqlalchemy.create_engine(os.environ['CARTUM_ROAPP_TEST_PG_URL']).connect().close()" 2>/dev/null && break
    sleep 1
  done
fi

export PATH="$PWD/.venv/bin:$PATH"
echo "==> running the tests"
exec .venv/bin/python -m pytest -ra "$@"
