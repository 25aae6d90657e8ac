#!/usr/bin/env bash
# Run the test suite: lint, then pytest in three stages (any arguments: one pytest run with
# them instead). With DATABASE_URL/REDIS_URL set (as CI does) it tests the production path
# against real PostgreSQL and Redis; without them, the embedded SQLite path.
#   1. the default stage: everything not marked `system` (models trained once per session);
#   2. the `system` stage: real servers, workers, the browser, faults; run beside the first
#      (one pytest used 1.2 of 2 cores), on its own test database and Redis database;
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
  echo "==> stage $name: pytest -m \"$marks\""
  local started=$SECONDS
  .venv/bin/python -m pytest -m "$marks" --junitxml="$results/$name.xml" || code=$?
  echo "==> stage $name: exit $code in $((SECONDS - started)) s"
  # 5: this stage selected no test (none may be missing: the totals below would show it).
  if [ "$code" -ne 0 ] && [ "$code" -ne 5 ]; then status=1; fi
}
# The system stage's own databases: another PostgreSQL test database, another Redis number.
system_env=()
if [ -n "${DATABASE_URL:-}" ]; then system_env+=("DATABASE_URL=${DATABASE_URL}_system"); fi
if [[ "${REDIS_URL:-}" =~ ^(.*)/([0-9]+)$ ]]; then
  system_env+=("REDIS_URL=${BASH_REMATCH[1]}/$(( (BASH_REMATCH[2] + 15) % 16 ))")
fi
(
  status=0
  if [ "${#system_env[@]}" -gt 0 ]; then export "${system_env[@]}"; fi
  stage system "system and not soak" > "$results/system.log" 2>&1
  echo "$status" > "$results/system.status"
) &
system_pid=$!
stage default "not system"
wait "$system_pid" || true
cat "$results/system.log"
if [ "$(cat "$results/system.status" 2>/dev/null)" != "0" ]; then status=1; fi
stage soak "soak"
.venv/bin/python scripts/test_totals.py "$results"/*.xml || status=1
exit "$status"
