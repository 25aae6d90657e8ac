"""The JSON reports under ``settings.REPORTS_DIR``, written atomically (a temporary file, then
a rename), so a reader sees a whole report or the previous one."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
from django.conf import settings


def plain(value: object) -> object:
    """JSON-ready: numpy scalars as Python's, a non-finite number as null (JSON has none, and
    PostgreSQL refuses NaN in a JSON column)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return plain(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def report_path(name: str) -> Path:
    return Path(settings.REPORTS_DIR) / name


def write_report(name: str, data: object, default: Callable | None = None) -> Path:
    path = report_path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(data, indent=2, default=default))
    temporary.replace(path)
    return path
