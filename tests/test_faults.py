"""Faults a deployment meets, CI-sized, in production mode (PostgreSQL, Redis, real processes):
a Redis restart under a running web process, an import killed mid-file, a training killed
before its promotion. (The year-long soak with every fault at once is benchmarks' work; see
issue 18.)"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from django.db import connection

from analysis.models import Candle
from mlcore.models import ModelVersion, TrainingRun
from mlcore.tests.factories import model_version
from tests.servers import ROOT, free_port, production_only, start_granian, start_redis, stop

pytestmark = [
    pytest.mark.slow,
    pytest.mark.system,
    pytest.mark.django_db(transaction=True),
    production_only(),
]


def _env(**overrides: str) -> dict[str, str]:
    """The test database for a child process, quiet, no scheduler, no MLflow."""
    db = connection.settings_dict
    return (
        os.environ
        | {
            "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
            "TRADINGAI_EMBEDDED_SCHEDULER": "0",
            "MLFLOW_TRACKING_URI": "",
            "TRADINGAI_HTTPS": "0",
            "LOG_LEVEL": "WARNING",
        }
        | overrides
    )


def _get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_a_redis_restart_degrades_health_and_heals_without_restarting_the_web(tmp_path):
    """A Redis of its own (so the suite's is untouched), behind a granian worker: while Redis is
    down the API still answers from the database and health says degraded; once Redis is back,
    health is healthy again from the same web process."""
    from signals.tests.factories import signal_row

    signal_row()
    port = free_port()
    redis = start_redis(port)
    env = _env(REDIS_URL=f"redis://127.0.0.1:{port}/0", TRADINGAI_API_AUTH="open",
               TRADINGAI_VAR_DIR=str(tmp_path))  # fmt: skip
    web, url = start_granian(env, workers=1, threads=2, quiet=True)
    try:
        health = _get(f"{url}/api/system/health")[1]
        assert health["data"]["redis"]["ok"] is True
        assert _get(f"{url}/api/signals?limit=5")[1]["data"]["count"] == 1

        redis.terminate()
        redis.wait(timeout=10)
        health = _get(f"{url}/api/system/health")[1]
        assert health["data"]["redis"]["ok"] is False and health["data"]["status"] != "healthy"
        listed = _get(f"{url}/api/signals?limit=5")
        assert listed[0] == 200 and listed[1]["data"]["count"] == 1  # from the database

        redis = start_redis(port)  # the same address, an empty Redis: as after a restart
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            health = _get(f"{url}/api/system/health")[1]
            if health["data"]["redis"]["ok"]:
                break
            time.sleep(0.2)
        assert health["data"]["redis"]["ok"] is True
        assert _get(f"{url}/api/signals?limit=5")[1]["data"]["count"] == 1
        assert web.poll() is None  # the same web process throughout
    finally:
        stop(web)
        redis.terminate()
        redis.wait(timeout=10)


def _big_dump(path: Path, bars: int) -> Path:
    """A long 1h kline dump of a made-up symbol (Binance's CSV layout), long enough that its
    import is still running when it is killed."""
    rng = np.random.default_rng(0)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.002, bars)))
    open_ = np.r_[100.0, close[:-1]]
    high, low = np.maximum(open_, close) * 1.001, np.minimum(open_, close) * 0.999
    times = 1_577_836_800_000 + np.arange(bars, dtype=np.int64) * 3_600_000
    lines = ["open_time,open,high,low,close,volume"] + [
        f"{t},{o:.4f},{h:.4f},{lo:.4f},{c:.4f},1.0"
        for t, o, h, lo, c in zip(times, open_, high, low, close, strict=True)
    ]
    target = path / "binance_futures_SOAKUSDT_1h.csv"
    target.write_text("\n".join(lines) + "\n")
    return target


def test_an_import_killed_mid_file_stores_nothing_and_the_rerun_stores_it_once(tmp_path):
    dump = _big_dump(tmp_path, 200_000)
    command = [sys.executable, "manage.py", "import_klines", str(dump)]
    env = _env(TRADINGAI_VAR_DIR=str(tmp_path))
    started = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)  # fmt: skip
    # Killed mid-write, proven: PostgreSQL shows another session of this database whose open
    # transaction has already written (it holds a transaction id), while the import runs.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and started.poll() is None and not _writing_sessions():
        time.sleep(0.02)
    assert _writing_sessions(), "the import was never caught writing"
    assert started.poll() is None, "the import finished before it could be killed"
    started.send_signal(signal.SIGKILL)
    started.wait(timeout=10)
    assert Candle.objects.filter(symbol="SOAKUSDT").count() == 0  # whole or not at all
    again = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert Candle.objects.filter(symbol="SOAKUSDT").count() == 200_000
    twice = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    assert twice.returncode == 0 and Candle.objects.filter(symbol="SOAKUSDT").count() == 200_000


def _writing_sessions() -> int:
    """Sessions of the test database, other than this one, inside a transaction that has
    written (PostgreSQL gives a transaction an id at its first write)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND backend_xid IS NOT NULL"
        )
        return cursor.fetchone()[0]


def test_a_training_killed_before_promotion_leaves_the_champion_untouched(tmp_path):
    from analysis.ingest import import_file
    from analysis.tests.binance_replay import SHARED

    import_file(SHARED / "binance_futures_BTCUSDT_1h.csv.gz")
    import_file(SHARED / "binance_futures_BTCUSDT_funding.csv.gz")
    champion = model_version(symbol="BTCUSDT", status="champion")
    models = tmp_path / "models"
    env = _env(TRADINGAI_VAR_DIR=str(tmp_path), TRADINGAI_MODELS_DIR=str(models))
    training = subprocess.Popen(
        [sys.executable, "manage.py", "train_all", "--symbols", "BTCUSDT", "--quick"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # killed once it is training, before any promotion
        run = TrainingRun.objects.first()
        if run and run.status == "running" and run.stage not in ("", "data"):
            break
        time.sleep(0.1)
    assert training.poll() is None, "the training ended before it could be killed"
    training.send_signal(signal.SIGKILL)
    training.wait(timeout=10)
    # Mid-work, proven: the run it left says it was past reading the data, still running.
    killed = TrainingRun.objects.get()
    assert killed.status == "running" and killed.stage not in ("", "data"), killed.stage
    assert ModelVersion.objects.get(status="champion") == champion
    assert ModelVersion.objects.count() == 1  # no half-made version was recorded
    # No half-written artifact folder is visible: versions appear whole (written beside).
    visible = [p for p in models.rglob("manifest.json")] if models.exists() else []
    assert visible == []


def test_with_the_database_unreachable_answers_are_503s_that_say_so(tmp_path):
    """PostgreSQL down (here: nothing listens at its address): every answer is a 503 with
    Retry-After, within the pool's 3 s wait: the API's in the envelope, health with its report.
    Not a 500, and not a hang past a load balancer's probe."""
    env = _env(DATABASE_URL=f"postgres://postgres@127.0.0.1:{free_port()}/gone",
               TRADINGAI_VAR_DIR=str(tmp_path), TRADINGAI_API_AUTH="open")  # fmt: skip
    web, url = start_granian(env, workers=1, threads=2, quiet=True)
    try:
        for path in ("/api/signals?limit=5", "/api/trades", "/api/system/health"):
            started = time.monotonic()
            try:
                urllib.request.urlopen(f"{url}{path}", timeout=15)
                raise AssertionError(f"{path} answered 2xx with the database gone")
            except urllib.error.HTTPError as error:
                status, headers, body = error.code, error.headers, error.read()
            assert status == 503, (path, status, body[:200])
            assert headers["Retry-After"] == "5" or path == "/api/system/health"
            assert time.monotonic() - started < 8
            answer = json.loads(body)
            assert answer["success"] is False
            if "health" in path:  # the report, as the error's details
                assert answer["error"]["code"] == "unhealthy"
                assert answer["error"]["details"]["database"]["ok"] is False
            else:
                assert answer["error"]["code"] == "database_unavailable"
    finally:
        stop(web)
