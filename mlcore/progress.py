"""A training run's progress: its stage, percent and log lines, saved on the ``TrainingRun``
as they change (throttled to one save a second), which the CLI bar and /training read."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from django.utils import timezone

from mlcore.models import TrainingRun

log = logging.getLogger("mlcore.training")

# Stage name -> share of the run's time (about what they take on a CPU).
STAGES = {
    "data": 2,
    "features": 3,
    "xgboost": 25,
    "lstm": 30,
    "ensemble": 10,
    "final": 25,
    "promotion": 5,
}


class Tracker:
    """Stage, percent and log lines of a run, saved as they change (throttled)."""

    def __init__(self, run: TrainingRun, callback: Callable[[str, float], None] | None) -> None:
        self.run = run
        self.callback = callback
        self.offsets, total = {}, 0
        for name, weight in STAGES.items():
            self.offsets[name] = total
            total += weight
        self.total = total
        self.current = "data"
        self.stage_started = time.perf_counter()
        self.last_save = 0.0

    def stage(self, name: str) -> None:
        self._finish_stage()
        self.current = name
        self.stage_started = time.perf_counter()
        self.within(0, 1, force=True)

    def _finish_stage(self) -> None:
        spent = time.perf_counter() - self.stage_started
        self.run.timings[self.current] = round(self.run.timings.get(self.current, 0) + spent, 3)

    def within(self, done: int, total: int, force: bool = False) -> None:
        share = STAGES[self.current] * (done / max(total, 1))
        self.run.stage = self.current
        self.run.percent = round(100.0 * (self.offsets[self.current] + share) / self.total, 1)
        if self.callback:
            self.callback(self.current, self.run.percent)
        now = time.monotonic()
        if force or now - self.last_save >= 1.0:
            self.last_save = now
            self.run.save(update_fields=["stage", "percent", "timings"])

    def note(self, message: str) -> None:
        log.info("training #%s %s: %s", self.run.pk, self.run.symbol, message)
        stamp = timezone.now().strftime("%H:%M:%S")
        self.run.log += f"{stamp} [{self.current}] {message}\n"
        self.run.save(update_fields=["log"])

    def finish(self) -> None:
        self._finish_stage()
