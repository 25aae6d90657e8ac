"""The soak, CI-sized: two simulated days of three symbols through the live path in production
mode (``benchmarks/soak.py``: its own database and Redis, granian, daphne, a Celery worker, the
exchange fake, a WebSocket client), with a worker SIGKILLed mid-task, the exchange's 429/418
storms and timeouts, a Redis restart and a PostgreSQL restart. The import and training kills
are in tests/test_faults.py; the year-long run with every fault is the benchmark's."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from django.db import connections

from tests.servers import ROOT, production_only

pytestmark = [pytest.mark.slow, pytest.mark.system, pytest.mark.soak, production_only()]


@pytest.mark.timeout(600)
def test_two_days_with_faults_lose_nothing_and_push_each_signal_once(tmp_path):
    summary = tmp_path / "soak.json"
    run = subprocess.run(
        [sys.executable, "benchmarks/soak.py", "--days", "2", "--symbols",
         "BTCUSDT,ETHUSDT,SOLUSDT", "--faults", "worker,exchange,redis,postgres",
         "--summary", str(summary)],
        cwd=ROOT, capture_output=True, text=True, timeout=560,
    )  # fmt: skip
    # The suite's own connections did not live through the PostgreSQL restart.
    connections.close_all()
    assert summary.exists(), run.stdout[-3000:] + run.stderr[-3000:]
    figures = json.loads(summary.read_text())
    assert run.returncode == 0, figures["missed"]
    # Not vacuous: every fault happened, signals were stored and pushed, the client was
    # dropped by the Redis restart and came back.
    outages = [what for what, _, _ in figures["outages"]]
    assert {"worker killed", "redis restart", "postgres restart"} <= set(outages)
    assert sum(what.startswith("exchange") for what in outages) == 3
    assert figures["ticks"] == 48 and figures["signals"] >= 100
    assert figures["candles_lost"] == 0 and figures["candles_changed"] == 0
    assert figures["duplicate_bars"] == 0 and figures["pushed_twice"] == 0
    assert figures["unpushed_unexplained"] == 0 and figures["bars_unexplained"] == 0
    assert figures["signals"] - figures["unpushed"] >= figures["signals"] - 10
    assert all(ok for _, ok, _ in figures["checks"]) and len(figures["checks"]) >= 10
    assert figures["web_same"] is True
    assert set(figures["api_statuses"]) <= {"200", "503"}
