from __future__ import annotations

from django.apps import AppConfig


class PortfolioConfig(AppConfig):
    name = "portfolio"

    def ready(self) -> None:
        from django.conf import settings
        from django.core.checks import register

        from portfolio.checks import binance_key_is_read_only

        if settings.BINANCE_API_KEY:
            register(binance_key_is_read_only, deploy=True)
