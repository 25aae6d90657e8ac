from __future__ import annotations

from django.apps import AppConfig


class SignalsConfig(AppConfig):
    name = "signals"

    def ready(self) -> None:
        from django.db import transaction

        from analysis.events import candles_stored

        def enqueue_inference(sender, series: list, **kwargs) -> None:
            from signals.tasks import enqueue_round

            transaction.on_commit(lambda: enqueue_round(series))

        candles_stored.connect(enqueue_inference, weak=False, dispatch_uid="signals.infer")

        from django.db.models.signals import post_delete, post_save

        from signals import listing
        from signals.models import Signal

        post_save.connect(listing.bump, sender=Signal, dispatch_uid="signals.listing.save")
        post_delete.connect(listing.bump, sender=Signal, dispatch_uid="signals.listing.delete")
