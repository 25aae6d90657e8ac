"""Logging: plain lines, or one JSON object a line (``LOG_FORMAT=json``) for log shippers. Both
formatters mask secrets in the whole text they write, tracebacks and stack traces included (a
filter sees only the message, and an exception's text is where a connection string ends up):
the values of the secret settings, and the password of any URL (``redis://:pw@host``)."""

from __future__ import annotations

import json
import logging
import os
import re
from datetime import UTC, datetime
from urllib.parse import unquote, urlsplit

SECRET_SETTINGS = ("SECRET_KEY", "BINANCE_API_KEY", "BINANCE_API_SECRET")
URL_SETTINGS = ("DATABASE_URL", "REDIS_URL", "MLFLOW_TRACKING_URI", "CELERY_BROKER_URL")
MASK = "***"
# scheme://user:password@host -> scheme://user:***@host, whichever URL it is and wherever.
_URL_PASSWORD = re.compile(r"([a-zA-Z][\w+.-]*://[^\s:/@]*:)([^\s@/]+)(@)")
MIN_SECRET = 6  # shorter values would mask ordinary words


def redact(text: str) -> str:
    text = _URL_PASSWORD.sub(rf"\1{MASK}\3", text)
    for value in _secret_values():
        text = text.replace(value, MASK)
    return text


class RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        if record.stack_info:
            entry["stack"] = redact(self.formatStack(record.stack_info))
        return json.dumps(entry)


def _secret_values() -> list[str]:
    values = [os.environ.get(name, "") for name in SECRET_SETTINGS]
    urls = [os.environ.get(name, "") for name in URL_SETTINGS]
    try:
        from django.conf import settings

        if settings.configured:
            values += [str(getattr(settings, name, "") or "") for name in SECRET_SETTINGS]
            urls += [str(getattr(settings, name, "") or "") for name in URL_SETTINGS]
    except Exception:  # before Django is set up: the environment is all there is
        pass
    for url in urls:
        # A URL's password also appears alone (a driver's error message quotes it unescaped).
        try:
            password = urlsplit(url).password
        except ValueError:
            password = None
        if password:
            values += [password, unquote(password)]
    return sorted({v for v in values if len(v) >= MIN_SECRET}, key=len, reverse=True)
