from __future__ import annotations

from django.apps import AppConfig


class SignalsConfig(AppConfig):
    name = "signals"
