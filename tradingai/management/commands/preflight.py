"""What a deployment needs before it serves, each item pass/fail with the fix.

1. Migrations applied.  2. A champion model for every symbol of the universe.
3. The Binance key (if any) is read-only.  4. Redis reachable and Celery workers answering
(production).  5. The beat schedule parses.  6. ``check --deploy`` is clean.
Exits 1 when anything fails."""

from __future__ import annotations

import io
from collections.abc import Callable

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, SystemCheckError
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from analysis import universe
from mlcore.models import ModelVersion
from tradingai.celery import build_beat_schedule
from tradingai.health import check_redis, check_workers

Check = tuple[bool, str, str]  # passed, what was found, the fix


def migrations() -> Check:
    executor = MigrationExecutor(connection)
    pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if pending:
        return False, f"{len(pending)} migrations not applied", "run `manage.py migrate`"
    return True, "all applied", ""


def champions() -> Check:
    served = universe.series()
    missing = [f"{s} {i}" for s, i in served if not ModelVersion.objects.champion(s, i)]
    if missing:
        return (
            False,
            f"no champion for {', '.join(missing)}",
            "run `manage.py train_all` (or load market data for them first)",
        )
    forced = list(
        ModelVersion.objects.filter(status="champion", forced=True).values_list(
            "version", flat=True
        )
    )
    note = f"; forced past a gate: {', '.join(forced)}" if forced else ""
    return True, f"{len(served)} series served{note}", ""


def binance_key() -> Check:
    if not settings.BINANCE_API_KEY:
        return True, "no key configured (the portfolio stays off)", ""
    from portfolio.checks import binance_key_is_read_only

    problems = binance_key_is_read_only()
    if problems:
        return False, problems[0].msg, "use a key with reading permission only"
    return True, "read-only", ""


def redis_and_workers() -> Check:
    if not settings.REDIS_URL:
        return True, "embedded mode: tasks run in process", ""
    redis = check_redis()
    if redis is None or not redis.ok:
        return False, f"Redis: {redis.detail if redis else 'not configured'}", "check REDIS_URL"
    workers = check_workers()
    if workers is not None and not workers.ok:
        return (
            False,
            workers.detail,
            "start `celery -A tradingai worker -Q cpu` and `-Q gpu` (see docker-compose.yml)",
        )
    return True, f"Redis ok; workers: {workers.detail if workers else '-'}", ""


def beat_schedule() -> Check:
    try:
        entries = build_beat_schedule(settings.BEAT_SCHEDULE)
    except ValueError as exc:
        return False, str(exc), "fix the TRADINGAI_SCHEDULE_* variable it names"
    return True, f"{len(entries)} entries: {', '.join(entries)}", ""


def deploy_checks() -> Check:
    out = io.StringIO()
    try:
        call_command("check", "--deploy", "--fail-level", "WARNING", stdout=out, stderr=out)
    except SystemCheckError as exc:
        findings = [line.strip() for line in str(exc).splitlines() if ": (" in line]
        found = findings[0] if findings else str(exc).strip()
        more = f" (and {len(findings) - 1} more)" if len(findings) > 1 else ""
        return False, found + more, "see `manage.py check --deploy`"
    return True, "clean", ""


CHECKS: list[tuple[str, Callable[[], Check]]] = [
    ("migrations", migrations),
    ("champion models", champions),
    ("Binance key", binance_key),
    ("Redis and workers", redis_and_workers),
    ("beat schedule", beat_schedule),
    ("check --deploy", deploy_checks),
]


class Command(BaseCommand):
    help = "Check what a deployment needs before it serves; exit 1 if anything is missing."

    def handle(self, *args, **o):
        failed = 0
        for name, check in CHECKS:
            passed, found, fix = check()
            failed += not passed
            self.stdout.write(
                f"{'PASS' if passed else 'FAIL'} {name}: {found}"
                + (f"\n     fix: {fix}" if fix and not passed else "")
            )
        if failed:
            self.stdout.write(f"{failed} of {len(CHECKS)} checks failed")
            raise SystemExit(1)
        self.stdout.write("ready to serve")
