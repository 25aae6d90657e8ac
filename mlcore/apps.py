from __future__ import annotations

from django.apps import AppConfig


class MlcoreConfig(AppConfig):
    name = "mlcore"
