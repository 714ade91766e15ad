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

# Redis (the Celery broker of the distributed test), started the way this machine starts it
# if it does not answer.
if ! (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null; then
  echo "==> Redis is not answering on 127.0.0.1:6379; starting it"
  mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
      --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
fi

# A database of this run's own on that server (unless CARTUM_ROAPP_TEST_PG_DB=keep): tables an
# older checkout or another run left in the shared database cannot mix with this run's, and
# two runs on one server do not share rate-limit rows. Dropped at the end.
OWN_DB=""
if [ "${CARTUM_ROAPP_TEST_PG_DB:-own}" != keep ]; then
  OWN_DB="cartum_roapp_test_$(date +%s)_$$"
  SERVER_URL="$CARTUM_ROAPP_TEST_PG_URL"
  if CARTUM_ROAPP_TEST_PG_URL=$(.venv/bin/python - "$OWN_DB" <<'PY'
import os, sys, sqlalchemy
url = sqlalchemy.engine.make_url(os.environ["CARTUM_ROAPP_TEST_PG_URL"])
engine = sqlalchemy.create_engine(url, isolation_level="AUTOCOMMIT")
with engine.connect() as connection:
    connection.execute(sqlalchemy.text(f'CREATE DATABASE "{sys.argv[1]}"'))
print(url.set(database=sys.argv[1]).render_as_string(hide_password=False))
PY
  ); then
    export CARTUM_ROAPP_TEST_PG_URL
    echo "==> PostgreSQL database of this run: $OWN_DB (dropped at the end)"
    drop_own_db() {
      SERVER_URL="$SERVER_URL" .venv/bin/python - "$OWN_DB" <<'PY' || true
import os, sys, sqlalchemy
url = sqlalchemy.engine.make_url(os.environ["SERVER_URL"])
engine = sqlalchemy.create_engine(url, isolation_level="AUTOCOMMIT")
with engine.connect() as connection:
    connection.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{sys.argv[1]}" WITH (FORCE)'))
PY
    }
    trap drop_own_db EXIT
  else
    echo "==> could not create a database of this run's own; the tests use $CARTUM_ROAPP_TEST_PG_URL as it is"
  fi
fi

export PATH="$PWD/.venv/bin:$PATH"
echo "==> running the tests"
.venv/bin/python -m pytest -ra "$@"
