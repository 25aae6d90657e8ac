"""The production HTTP server: ``tradingai.wsgi`` under granian's WSGI workers, on the same
PostgreSQL and Redis as the rest, answering the API (with its key), pages and the enveloped
errors as daphne does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request

import pytest
from django.db import connection

from signals.tests.factories import signal_row
from tests.servers import ROOT, production_only, start_granian, stop
from tradingai.models import ApiKey

pytestmark = [
    pytest.mark.slow,
    pytest.mark.system,
    pytest.mark.django_db(transaction=True),
    production_only(),
]


def get(url: str, key: str = "") -> tuple[int, dict | str, str]:
    request = urllib.request.Request(url, headers={"X-API-Key": key} if key else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read().decode()
            status, final = response.status, response.url
    except urllib.error.HTTPError as exc:
        body, status, final = exc.read().decode(), exc.code, url
    kind = "json" if body.startswith("{") else "text"
    return status, json.loads(body) if kind == "json" else body, final


def test_granian_serves_the_api_and_pages_over_wsgi(tmp_path):
    import tradingai.wsgi

    assert callable(tradingai.wsgi.application)
    signal = signal_row()
    _, key = ApiKey.issue("wsgi-test")
    db = connection.settings_dict
    env = os.environ | {
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "TRADINGAI_EMBEDDED_SCHEDULER": "0",
        "TRADINGAI_HTTPS": "0",
        "TRADINGAI_API_AUTH": "required",
        "MLFLOW_TRACKING_URI": "",
        "TRADINGAI_VAR_DIR": str(tmp_path),
    }
    # Pages name their static files through the manifest, as in production.
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=ROOT, env=env, check=True,
    )  # fmt: skip
    server, url = start_granian(env, workers=2, threads=2)
    try:
        status, body, _ = get(f"{url}/api/signals?limit=5", key)
        assert status == 200 and [i["id"] for i in body["data"]["items"]] == [signal.pk]
        status, body, _ = get(f"{url}/api/signals?limit=5")
        assert status == 401 and body["success"] is False  # reads need the key here
        status, body, _ = get(f"{url}/api/no-such-endpoint")
        assert status == 404 and body["error"]["code"]
        status, page, final = get(f"{url}/")
        assert status == 200 and "/accounts/login/" in final and "password" in page
        status, script, _ = get(f"{url}/static/js/signal.js")  # whitenoise, in the pool
        assert status == 200 and "LightweightCharts" in script
        status, body, _ = get(f"{url}/api/system/health", key)
        assert status in {200, 503} and body["data"]["mode"] == "production"
        assert body["data"]["database"]["ok"] is True
        # A stranger learns the verdict alone (no worker hosts, champions or refusals).
        status, body, _ = get(f"{url}/api/system/health")
        assert status == 200 and set(body["data"]) == {"status"}
        assert get(f"{url}/api/system/metrics")[0] == 401  # the counts need a key
        assert get(f"{url}/api/system/metrics", key)[0] == 200
    finally:
        stop(server)
