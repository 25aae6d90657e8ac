#!/usr/bin/env bash
# Audit the pinned requirements for known vulnerabilities (pip-audit, PyPI's advisory data).
# --strict: a package that cannot be looked up fails the audit. Without it pip-audit skips what
# it cannot reach and still says "No known vulnerabilities found", which on a machine without
# the advisory service (an offline mirror, as CI has) reads as a pass that audited nothing.
# Run it where pypi.org (or OSV, with --vulnerability-service osv) is reachable.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv-audit/bin/pip-audit ]; then
  python3 -m venv .venv-audit
  .venv-audit/bin/pip install --quiet --disable-pip-version-check pip-audit
fi
exec .venv-audit/bin/pip-audit --strict --progress-spinner off -r requirements.txt "$@"
