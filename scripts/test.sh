#!/usr/bin/env bash
# Run the test suite. With DATABASE_URL/REDIS_URL set (as CI does) it tests the production path
# against real PostgreSQL and Redis; without them, the embedded SQLite path.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
exec .venv/bin/python -m pytest "$@"
