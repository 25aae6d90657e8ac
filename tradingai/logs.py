"""Logging: plain lines, or one JSON object a line (``LOG_FORMAT=json``) for log shippers; and a
filter that masks the configured secrets wherever they would appear, whatever logs them."""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime

SECRET_SETTINGS = ("SECRET_KEY", "BINANCE_API_KEY", "BINANCE_API_SECRET")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


class RedactSecrets(logging.Filter):
    """Replaces the values of the secret settings (and their env variables) with ***."""

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = [v for v in _secret_values() if len(v) >= 8]
        if not secrets:
            return True
        message = record.getMessage()
        redacted = message
        for value in secrets:
            redacted = redacted.replace(value, "***")
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def _secret_values() -> list[str]:
    values = [os.environ.get(name, "") for name in SECRET_SETTINGS]
    try:
        from django.conf import settings

        if settings.configured:
            values += [str(getattr(settings, name, "") or "") for name in SECRET_SETTINGS]
    except Exception:  # before Django is set up: the environment is all there is
        pass
    return [v for v in values if v]
