"""The JSON reports under ``settings.REPORTS_DIR``, written atomically (a temporary file, then
a rename), so a reader sees a whole report or the previous one."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from django.conf import settings


def report_path(name: str) -> Path:
    return Path(settings.REPORTS_DIR) / name


def write_report(name: str, data: object, default: Callable | None = None) -> Path:
    path = report_path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(data, indent=2, default=default))
    temporary.replace(path)
    return path
