"""The embedded mode's stand-in for ``celery beat``: a daemon thread that fires the same beat
schedule in-process, where tasks run eagerly. Production runs the real beat instead."""

from __future__ import annotations

import logging
import threading
from datetime import datetime

from celery.schedules import crontab

from tradingai.celery import app, build_beat_schedule

log = logging.getLogger(__name__)


class EmbeddedScheduler(threading.Thread):
    def __init__(self, entries: dict[str, dict]) -> None:
        super().__init__(name="embedded-beat", daemon=True)
        self.entries = entries
        self._stop_event = threading.Event()
        now = app.now()
        self.last_run: dict[str, datetime] = {name: now for name in entries}

    def stop(self) -> None:
        self._stop_event.set()

    def tick(self) -> float:
        """Fire every due entry once; return the seconds until the next one is due."""
        wait = 60.0
        for name, entry in self.entries.items():
            schedule: crontab = entry["schedule"]
            due, next_in = schedule.is_due(self.last_run[name])
            if due:
                self.last_run[name] = app.now()
                self.fire(name, entry)
            wait = min(wait, max(next_in, 1.0))
        return wait

    def fire(self, name: str, entry: dict) -> None:
        log.info("embedded scheduler: running %s (%s)", name, entry["task"])
        try:
            app.tasks[entry["task"]].apply_async(**entry.get("options", {}))
        except Exception:  # one failing run must not stop the schedule
            log.exception("embedded scheduler: %s failed", name)

    def run(self) -> None:
        while not self._stop_event.wait(self.tick()):
            pass


def start_embedded_scheduler() -> EmbeddedScheduler:
    from django.conf import settings

    scheduler = EmbeddedScheduler(build_beat_schedule(settings.BEAT_SCHEDULE))
    scheduler.start()
    log.info("embedded scheduler started: %s", ", ".join(scheduler.entries) or "no entries")
    return scheduler
