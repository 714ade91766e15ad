#!/usr/bin/env bash
# The long property-based run of issue 11: the boundary, the transforms and the quality
# step fed random batches mixing good and hostile Cartum records (tests/cartum/
# test_hostile_properties.py), with N examples per property instead of the normal run's
# small, derandomized count. Prints how many cases were generated and how many crashed
# (an exception out of the code under test); exits non-zero on any crash or broken property.
# Usage: scripts/fuzz.sh [N]   (default: $CARTUM_ROAPP_FUZZ_EXAMPLES, else 2000)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup_env.sh requirements-test.txt
examples="${1:-${CARTUM_ROAPP_FUZZ_EXAMPLES:-2000}}"
report="$(mktemp)"
trap 'rm -f "$report"' EXIT
echo "==> fuzz run: $examples examples per property (the quality property a tenth of them)"
status=0
CARTUM_ROAPP_FUZZ_EXAMPLES="$examples" CARTUM_ROAPP_FUZZ_REPORT="$report" \
  .venv/bin/python -m pytest tests/cartum/test_hostile_properties.py -q -p no:cacheprovider -o timeout=0 \
  || status=$?
if [ -s "$report" ]; then
  .venv/bin/python - "$report" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
first = f"; first: {report['first_crash']}" if report["first_crash"] else ""
print(f"fuzz: {report['cases']} generated cases, {report['crashes']} crashes{first}")
PY
fi
exit "$status"
