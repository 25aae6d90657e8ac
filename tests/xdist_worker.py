"""A pytest plugin (``-p tests.xdist_worker`` in pyproject.toml) that gives each pytest-xdist
worker its own Redis database and database-name prefix before Django reads its settings.

pytest-django already suffixes the test database per worker, but Redis (cache, channel layer,
rate limiter, broker) would be shared: one worker's pushes would reach the other's sockets and
one worker's limiter reset would clear the other's counts. It must run before pytest-django
imports the settings, which is why it is a ``-p`` plugin and not conftest code.
"""

from __future__ import annotations

import os

_worker = os.environ.get("PYTEST_XDIST_WORKER", "")
if _worker.startswith("gw"):
    _index = int(_worker[2:])
    if os.environ.get("REDIS_URL"):
        _base, _, _db = os.environ["REDIS_URL"].rpartition("/")
        os.environ["REDIS_URL"] = f"{_base}/{(int(_db or 0) - _index) % 16}"
    if os.environ.get("DATABASE_URL"):  # what the tests' own servers and subprocesses derive from
        os.environ["DATABASE_URL"] = f"{os.environ['DATABASE_URL']}_{_worker}"
    # Two workers on two cores: each worker's math libraries keep to one thread, or their
    # OpenMP pools spin against each other.
    for _library in ("OMP", "OPENBLAS", "MKL", "NUMBA"):
        os.environ.setdefault(f"{_library}_NUM_THREADS", "1")
