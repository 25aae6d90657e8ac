"""Check each champion for drift and act on it.

1. For each symbol (default: every champion, the universe model's too): features of the
   newest window against the model's training sample, accuracy (a universe model: hit rate)
   of its recent predictions against its out-of-fold baseline, and its age.
2. A trigger queues one retraining of that symbol (none while one is queued or running, none
   when no candle is newer than the training data); the report says which.
3. Exit code 1 when any trigger fired, so a cron job or CI notices.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from analysis.cli import symbol_list
from mlcore import drift_checks
from mlcore.models import ModelVersion


class Command(BaseCommand):
    help = "Drift check of the champions (features, accuracy, age); triggers queue retraining."

    def add_arguments(self, parser):
        parser.add_argument("--symbols", type=symbol_list, default=None)

    def handle(self, *args, **o):
        champions = ModelVersion.objects.filter(status=ModelVersion.Status.CHAMPION)
        if o["symbols"]:
            champions = champions.filter(symbol__in=o["symbols"])
            missing = set(o["symbols"]) - set(champions.values_list("symbol", flat=True))
            for symbol in sorted(missing):
                self.stdout.write(f"{symbol}: no champion, nothing to check")
        fired = False
        for model in champions.order_by("symbol"):
            try:
                if model.kind == ModelVersion.Kind.UNIVERSE:
                    report = drift_checks.check_universe(model.interval)
                else:
                    report = drift_checks.check(model.symbol, model.interval)
            except ValueError as exc:
                raise CommandError(f"{model.symbol}: {exc}") from exc
            if report is None:
                self.stdout.write(f"{model.version}: saved without a reference sample: not checked")
                continue
            fired |= bool(report.triggers)
            accuracy = "n/a" if report.accuracy is None else f"{report.accuracy:.1%}"
            baseline = (
                "n/a" if report.baseline_accuracy is None else f"{report.baseline_accuracy:.1%}"
            )
            self.stdout.write(
                f"{model.version}: {', '.join(report.triggers) or 'no trigger'}; window "
                f"{report.window_start:%Y-%m-%d}..{report.window_end:%Y-%m-%d}; drifted "
                f"features {len(report.drifted)}/{len(report.features)}"
                + (f" ({', '.join(report.drifted[:6])})" if report.drifted else "")
                + f"; accuracy {accuracy} on {report.outcomes} outcomes vs {baseline}; "
                f"age {report.age_days:.0f} days"
            )
            self.stdout.write(f"  action: {report.action}")
        if fired:
            raise SystemExit(1)
