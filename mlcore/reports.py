"""The JSON reports under ``settings.REPORTS_DIR``, written atomically (a temporary file, then
a rename), so a reader sees a whole report or the previous one."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from django.conf import settings


def write_report(name: str, data: object, default: Callable | None = None) -> Path:
    reports = Path(settings.REPORTS_DIR)
    reports.mkdir(parents=True, exist_ok=True)
    path = reports / name
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(data, indent=2, default=default))
    temporary.replace(path)
    return path
