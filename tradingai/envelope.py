"""The envelope every /api/ response is: ``{"success", "data", "error", "timestamp"}``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def envelope(data: Any = None, error: dict | None = None) -> dict[str, Any]:
    return {
        "success": error is None,
        "data": data if error is None else None,
        "error": error,
        "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
    }


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"code": code, "message": message, "details": details}
