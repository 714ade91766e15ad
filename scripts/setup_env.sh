#!/usr/bin/env bash
# Creates .venv (Python 3.11+) and installs the pinned requirements, this project and the
# API sandboxes (sandbox/, a package of their own that Airflow never gets), both editable.
# Re-runs are quick: nothing is reinstalled while the requirement files and the two
# pyproject.toml files are unchanged.
# Usage: scripts/setup_env.sh [requirements file]   (default: requirements.txt)
set -euo pipefail
cd "$(dirname "$0")/.."
requirements="${1:-requirements.txt}"
python="${PYTHON:-python3}"

if [ ! -x .venv/bin/python ]; then
  "$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed")'
  echo "==> creating .venv with $("$python" --version)"
  "$python" -m venv .venv
fi
stamp=".venv/.installed-$(cat requirements.txt "$requirements" pyproject.toml sandbox/pyproject.toml | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "==> installing $requirements (pinned), the project and the sandboxes"
  started=$(date +%s)
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r "$requirements" 2>&1 \
    | grep -v "^WARNING: Location" || true
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps -e . -e sandbox 2>&1 \
    | grep -v "^WARNING: Location" || true
  .venv/bin/python -c "import cartum_roapp_sync, cartum_roapp_sandbox, airflow.sdk" \
    || { echo "installation failed: see the pip output above" >&2; exit 1; }
  rm -f .venv/.installed-*
  touch "$stamp"
  echo "==> installed in $(( $(date +%s) - started )) s"
fi
