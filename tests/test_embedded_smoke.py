"""The embedded mode end to end: no DATABASE_URL, no REDIS_URL; SQLite, in-memory layers,
in-process tasks, and a real daphne serving the API and the admin."""

from __future__ import annotations

import json
import urllib.request

import pytest

from tests.embedded import BTC_CANDLES, manage
from tests.servers import start_daphne


@pytest.mark.slow
@pytest.mark.system
def test_embedded_mode_imports_checks_and_serves(embedded_site):
    env, var_dir = embedded_site.env, embedded_site.var_dir
    assert "11991 new" in embedded_site.first_import
    data = str(BTC_CANDLES)
    assert "0 new, 0 changed" in manage(env, "import_klines", data)  # idempotent on SQLite too
    assert "11991 candles" in manage(env, "check_data")
    assert (var_dir / "db.sqlite3").exists()

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
