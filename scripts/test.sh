#!/usr/bin/env bash
# Run the test suite: lint, then pytest in three stages (any arguments: one pytest run with
# them instead). With DATABASE_URL/REDIS_URL set (as CI does) it tests the production path
# against real PostgreSQL and Redis; without them, the embedded SQLite path.
#   1. the default stage: everything not marked `system` (models trained once per worker), on
#      two pytest-xdist workers, one per core (tests/xdist_worker.py keeps their Redis databases,
#      test databases and math-library threads apart): 191 s against 337 s in one process;
#   2. the `system` stage: real servers, workers, the browser, faults (run beside the first, on
#      2 cores both slowed past their timeouts: default 934 s, system 700 s; so one after the
#      other);
#   3. the soak alone, since it stops and starts the PostgreSQL the others use.
# Every stage runs; the script fails if any did, and ends with the stages' totals.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
if [ "$#" -gt 0 ]; then
  exec .venv/bin/python -m pytest "$@"
fi

results=var/test-results
rm -rf "$results" && mkdir -p "$results"
status=0
stage() {
  local name=$1 marks=$2 code=0
  shift 2
  echo "==> stage $name: pytest -m \"$marks\" $*"
  local started=$SECONDS
  .venv/bin/python -m pytest -m "$marks" --junitxml="$results/$name.xml" "$@" || code=$?
  echo "==> stage $name: exit $code in $((SECONDS - started)) s"
  # 5: this stage selected no test (none may be missing: the totals below would show it).
  if [ "$code" -ne 0 ] && [ "$code" -ne 5 ]; then status=1; fi
}
stage default "not system" -n 2
stage system "system and not soak"
stage soak "soak"
.venv/bin/python scripts/test_totals.py "$results"/*.xml || status=1
exit "$status"
