#!/usr/bin/env bash
# airflow-init of docker-compose.yml, run once before the other Airflow services start (and,
# outside Docker, by scripts/distributed-test.sh): migrates the metadata database, sets the
# admin's password, imports the connections and sets the stores' Variable. Reads:
#   AIRFLOW_ADMIN_PASSWORD    the password of user admin (the simple auth manager's)
#   CARTUM_ROAPP_CONNECTIONS  JSON {conn_id: {conn_type, host, login, password, extra}}; optional
#   CARTUM_ROAPP_STORES       the Variable cartum_roapp_stores (JSON list); optional
# Secrets go through a file only this process can read, removed on exit; nothing is printed.
set -euo pipefail

airflow db migrate

passwords="$(airflow config get-value core simple_auth_manager_passwords_file)"
if [ -z "${AIRFLOW_ADMIN_PASSWORD:-}" ]; then
  echo "AIRFLOW_ADMIN_PASSWORD is not set: set it in .env (the api-server would otherwise make one up)" >&2
  exit 1
fi
mkdir -p "$(dirname "$passwords")"
python -c 'import json, os, sys; json.dump({"admin": os.environ["AIRFLOW_ADMIN_PASSWORD"]}, open(sys.argv[1], "w"))' \
  "$passwords"
echo "admin password set in $passwords"

if [ -n "${CARTUM_ROAPP_CONNECTIONS:-}" ]; then
  umask 077
  file="$(mktemp --suffix=.json)"
  trap 'rm -f "$file"' EXIT
  python -c 'import json, os, sys; json.dump(json.loads(os.environ["CARTUM_ROAPP_CONNECTIONS"]), open(sys.argv[1], "w"))' \
    "$file" || { echo "CARTUM_ROAPP_CONNECTIONS is not valid JSON: see .env.example for its form" >&2; exit 1; }
  airflow connections import --overwrite "$file"
fi

if [ -n "${CARTUM_ROAPP_STORES:-}" ]; then
  airflow variables set cartum_roapp_stores "$CARTUM_ROAPP_STORES" >/dev/null
  echo "Variable cartum_roapp_stores set"
fi
