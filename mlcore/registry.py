"""Champion and challengers: which model version serves each symbol and interval.

Promotion is one transaction that locks the series' rows: the old champion is retired and the
new one crowned together, or neither happens. A conditional unique constraint makes two
champions for one series impossible even if two promotions race."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from mlcore.models import ModelVersion


class NoChampion(LookupError):
    """No model has passed (or been forced past) the gates for this series."""


def champion(symbol: str, interval: str) -> ModelVersion:
    found = ModelVersion.objects.champion(symbol, interval)
    if found is None:
        raise NoChampion(
            f"no model for {symbol} {interval} has passed the training gates yet; run "
            f"`manage.py train_all --symbols {symbol} --interval {interval}` (or --force "
            "to promote one that fails them, which is then marked as forced)"
        )
    return found


def promote(version: ModelVersion) -> ModelVersion:
    """Make ``version`` its series' champion, retiring the current one, atomically."""
    with transaction.atomic():
        series = list(
            ModelVersion.objects.select_for_update()
            .series(version.symbol, version.interval)
            .order_by("pk")
        )
        now = timezone.now()
        for other in series:
            if other.pk != version.pk and other.status == ModelVersion.Status.CHAMPION:
                other.status = ModelVersion.Status.RETIRED
                other.retired_at = now
                other.save(update_fields=["status", "retired_at"])
        version.status = ModelVersion.Status.CHAMPION
        version.promoted_at = now
        version.save(update_fields=["status", "promoted_at"])
    return version
