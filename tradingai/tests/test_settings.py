from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from celery.schedules import crontab

from tradingai.celery import app, build_beat_schedule, parse_cron, shortest_period
from tradingai.scheduler import EmbeddedScheduler

ROOT = Path(__file__).resolve().parents[2]


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True
    )


def test_deploy_checks_are_clean_with_production_settings(tmp_path):
    env = {
        **os.environ,
        "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/postgres",
        "REDIS_URL": "redis://127.0.0.1:6379/0",
        "SECRET_KEY": "x" * 20 + "production-secret-that-is-long-enough-and-random-0123456789",
        "TRADINGAI_VAR_DIR": str(tmp_path),
    }
    env.pop("TRADINGAI_HTTPS", None)
    env.pop("TRADINGAI_DEBUG", None)
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
    # Without SECRET_KEY production refuses to start, saying how to make one; nothing written.
    del env["SECRET_KEY"]
    refused = manage("check", env=env)
    assert refused.returncode != 0 and "SECRET_KEY must be set in production" in refused.stderr
    assert not (tmp_path / "secret_key").exists()


def test_beat_entries_expire_before_their_next_run():
    schedule = build_beat_schedule(
        {
            "hourly": {"task": "analysis.tasks.fetch_latest", "cron": "1 * * * *"},
            "quarter": {"task": "analysis.tasks.fetch_latest", "cron": "*/15 * * * *"},
            "weekly": {"task": "analysis.tasks.fetch_latest", "cron": "0 3 * * 1"},
            "disabled": {"task": "analysis.tasks.fetch_latest", "cron": "off"},
        }
    )
    assert set(schedule) == {"hourly", "quarter", "weekly"}
    assert schedule["hourly"]["options"]["expires"] == 0.9 * 3600
    assert schedule["quarter"]["options"]["expires"] == 0.9 * 900
    assert schedule["weekly"]["options"]["expires"] == 0.9 * 7 * 86400


def test_the_app_carries_the_configured_schedule_and_queues():
    app.loader.import_default_modules()
    assert "fetch-latest" in app.conf.beat_schedule
    assert {q.name for q in app.conf.task_queues} == {"cpu", "gpu"}
    assert "analysis.tasks.fetch_latest" in app.tasks


def test_cron_errors_are_clear():
    try:
        parse_cron("every hour")
    except ValueError as exc:
        assert "5 fields" in str(exc)
    else:
        raise AssertionError("accepted a bad cron expression")
    assert shortest_period(parse_cron("0 */6 * * *")) == timedelta(hours=6)


def test_schedule_overrides_come_from_the_environment(tmp_path):
    env = {**os.environ, "TRADINGAI_VAR_DIR": str(tmp_path)}
    env["TRADINGAI_SCHEDULE_FETCH_LATEST"] = "*/5 * * * *"
    code = "from django.conf import settings; print(settings.BEAT_SCHEDULE['fetch-latest']['cron'])"
    result = manage("shell", "-c", code, env=env)
    assert result.stdout.strip().endswith("*/5 * * * *"), result.stderr


def test_the_embedded_scheduler_fires_due_entries():
    fired: list[str] = []
    scheduler = EmbeddedScheduler(
        {"every-minute": {"task": "analysis.tasks.fetch_latest", "schedule": crontab()}}
    )
    scheduler.fire = lambda name, entry: fired.append(name)
    scheduler.last_run["every-minute"] -= timedelta(minutes=2)
    wait = scheduler.tick()
    assert fired == ["every-minute"] and 0 < wait <= 60
    assert scheduler.tick() > 0 and fired == ["every-minute"]  # not due again yet


def test_env_example_lists_every_variable_settings_read():
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent.parent
    read = set(
        re.findall(
            r'env(?:_bool|_int|_float|_list)?\("([A-Z0-9_]+)"',
            (root / "tradingai" / "settings.py").read_text(),
        )
    )
    documented = set(re.findall(r"^([A-Z0-9_]+)=", (root / ".env.example").read_text(), re.M))
    assert read - documented == set(), "settings read variables .env.example does not list"


@pytest.mark.parametrize("formatter", ["plain", "json"])
def test_logs_mask_secrets_and_url_passwords_tracebacks_included(settings, formatter):
    """Through the configured handlers' formatters: a secret setting in the message and inside an
    exception's text, and the password of any URL (a database URL in a driver's error) never
    reach the log line."""
    import json
    import logging
    from logging.config import dictConfig

    settings.BINANCE_API_SECRET = "very-secret-binance-value"
    settings.DATABASE_URL = "postgres://trader:db-pass-w0rd@db:5432/tradingai"
    config = settings.LOGGING | {"root": {"handlers": ["console"], "level": "INFO"}}
    stream = io.StringIO()
    console = config["handlers"]["console"] | {"formatter": formatter, "stream": stream}
    config["handlers"] = {"console": console}
    dictConfig(config)
    log = logging.getLogger("tradingai.test.secrets")
    try:
        raise ConnectionError(
            'connection to "postgres://trader:db-pass-w0rd@db:5432" failed; '
            "also redis://:r3dis-pass@cache:6379/0; key very-secret-binance-value"
        )
    except ConnectionError:
        log.exception("signed with %s", "very-secret-binance-value")
    dictConfig(settings.LOGGING)
    text = stream.getvalue()
    assert "Traceback" in text or "ConnectionError" in text  # the exception was written
    for secret in ("very-secret-binance-value", "db-pass-w0rd", "r3dis-pass"):
        assert secret not in text
    assert "postgres://trader:***@db:5432" in text and "redis://:***@cache" in text
    if formatter == "json":
        line = json.loads(text.splitlines()[0])
        assert line["message"] == "signed with ***" and "***" in line["exception"]


@pytest.mark.django_db
def test_preflight_says_what_is_missing_and_how_to_fix_it(settings):
    import io

    from django.core.management import call_command

    from mlcore.tests.factories import model_version

    settings.SYMBOLS, settings.INTERVALS = ["BTCUSDT", "ETHUSDT"], ["1h"]
    out = io.StringIO()
    with pytest.raises(SystemExit) as code:
        call_command("preflight", stdout=out)
    text = out.getvalue()
    assert code.value.code == 1
    assert "PASS migrations" in text and "PASS beat schedule" in text
    assert "FAIL champion models: no champion for BTCUSDT 1h, ETHUSDT 1h" in text
    assert "fix: run `manage.py train_all`" in text
    model_version()
    model_version(symbol="ETHUSDT", version="ETHUSDT-1h-stub")
    out = io.StringIO()
    # Other checks (deploy settings, workers) depend on where the suite runs: not judged here.
    with contextlib.suppress(SystemExit):
        call_command("preflight", stdout=out)
    assert "PASS champion models: 2 series served" in out.getvalue()
