"""The API's domain error, importable by every app's router without importing the API itself."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """A domain error with a stable code, e.g. ``ApiError(404, "unknown_symbol", "...")``;
    the API renders it inside the envelope."""

    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details
