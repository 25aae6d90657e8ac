"""The embedded mode end to end: no DATABASE_URL, no REDIS_URL; SQLite, in-memory layers,
in-process tasks, and a real daphne serving the API and the admin."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request

import pytest

from tests.embedded import BTC_CANDLES, ROOT, manage
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


@pytest.mark.slow
@pytest.mark.system
def test_the_embedded_product_backs_up_and_restores_its_sqlite_database(embedded_site, tmp_path):
    """The SQLite path of ``backup`` and ``restore`` (CI's other tests run on PostgreSQL): a
    fresh machine gets the same rows; a second restore needs --replace, which puts them back."""
    from tests.embedded import embedded_env

    out = manage(embedded_site.env, "backup", "--to", str(tmp_path / "backups"))
    archive = out.strip().splitlines()[-1]
    fresh = embedded_env(tmp_path / "fresh") | {"MLFLOW_TRACKING_URI": ""}
    restored = manage(fresh, "restore", archive)
    assert restored.startswith("restored sqlite:") and "11991" in manage(fresh, "check_data")
    refused = subprocess.run(
        [sys.executable, "manage.py", "restore", archive],
        cwd=ROOT, env=fresh, capture_output=True, text=True,
    )  # fmt: skip
    assert refused.returncode != 0 and "--replace" in refused.stderr
    assert manage(fresh, "restore", "--replace", archive) == restored
