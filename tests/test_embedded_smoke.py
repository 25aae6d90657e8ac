"""The embedded mode end to end: no DATABASE_URL, no REDIS_URL; SQLite, in-memory layers,
in-process tasks, and a real daphne serving the API and the admin."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.servers import start_daphne

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"


def embedded_env(var_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env.update(TRADINGAI_VAR_DIR=str(var_dir), TRADINGAI_EMBEDDED_SCHEDULER="0")
    env.update(TRADINGAI_SYMBOLS="BTCUSDT", TRADINGAI_INTERVALS="1h")
    return env


def manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.mark.slow
@pytest.mark.system
def test_embedded_mode_imports_checks_and_serves(tmp_path):
    env = embedded_env(tmp_path)
    manage(env, "migrate", "--noinput")
    manage(env, "collectstatic", "--noinput")
    data = str(SHARED / "binance_futures_BTCUSDT_1h.csv.gz")
    assert "11991 new" in manage(env, "import_klines", data)
    assert "0 new, 0 changed" in manage(env, "import_klines", data)  # idempotent on SQLite too
    assert "11991 candles" in manage(env, "check_data")
    assert (tmp_path / "db.sqlite3").exists()

    server, url = start_daphne(env)
    try:
        with urllib.request.urlopen(f"{url}/api/system/health") as r:
            body = json.loads(r.read())
        health = body["data"]
        assert body["success"] and health["mode"] == "embedded" and health["redis"] is None
        btc = health["data"][0]
        assert (btc["symbol"], btc["candles"], btc["verdict"]) == ("BTCUSDT", 11991, "stale")
        with urllib.request.urlopen(f"{url}/market/") as r:
            assert r.url.endswith("/accounts/login/?next=/market/")  # pages need a sign-in
        with urllib.request.urlopen(f"{url}/") as r:  # the dashboard
            assert r.url.endswith("/accounts/login/?next=/")  # asks who you are first
        with urllib.request.urlopen(f"{url}/admin/login/") as r:
            assert r.status == 200
        with urllib.request.urlopen(f"{url}/static/vendor/htmx.min.js") as r:
            assert r.status == 200
    finally:
        server.terminate()
        server.wait(timeout=10)
