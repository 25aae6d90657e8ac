"""The system's health from the command line, as /api/system/health reports it.

1. Database and Redis (when configured), data freshness per series, the serving models with
   their latest drift verdict.
2. Prints one line per check; exits 0 healthy, 1 degraded, 2 down (unhealthy).
"""

from __future__ import annotations

from django.core.management.base import BaseCommand

from tradingai.health import system_health

EXIT = {"healthy": 0, "degraded": 1, "unhealthy": 2}


class Command(BaseCommand):
    help = "Health of the database, Redis, market data and models; exit 0/1/2."

    def handle(self, *args, **o):
        report = system_health()
        self.stdout.write(f"status: {report.status} ({report.mode})")
        self.stdout.write(
            f"database: {'ok' if report.database.ok else 'DOWN'} {report.database.detail}"
        )
        if report.redis:
            self.stdout.write(f"redis: {'ok' if report.redis.ok else 'DOWN'} {report.redis.detail}")
        if report.workers:
            state = "ok" if report.workers.ok else "DOWN"
            self.stdout.write(f"celery workers: {state} {report.workers.detail}")
        self.stdout.write(f"compute device for training: {report.compute_device}")
        for s in report.data:
            self.stdout.write(f"data {s.symbol} {s.interval}: {s.verdict}, {s.candles} candles")
        for c in report.champions:
            drift = ", ".join(c.drift_triggers) or ("ok" if c.drift_checked_at else "not checked")
            flags = (" [forced]" if c.forced else "") + (" [quick]" if c.quick else "")
            self.stdout.write(
                f"model {c.version}{flags}: {c.age_days:.0f} days old, drift: {drift}"
            )
        for r in report.refusals:
            self.stdout.write(f"no signal {r.symbol} {r.interval}: {r.reason}")
        raise SystemExit(EXIT[report.status])
