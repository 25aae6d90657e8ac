"""What the product watches: the symbols and intervals it fetches, trains, serves and checks.

The admin's (or /settings') ``Universe`` row when one is saved, else the environment's
``TRADINGAI_SYMBOLS`` and ``TRADINGAI_INTERVALS``. Read on every use (one indexed row), so an
edit applies to the next fetch, beat run or page without a restart.
"""

from __future__ import annotations

from django.conf import settings

from analysis.models import Universe


def _row() -> Universe | None:
    return Universe.objects.filter(pk=1).first()


def symbols() -> list[str]:
    row = _row()
    return Universe.split(row.symbols) if row else list(settings.SYMBOLS)


def intervals() -> list[str]:
    row = _row()
    return Universe.split(row.intervals) if row else list(settings.INTERVALS)


def edited() -> bool:
    """Whether the admin's row, not the environment, defines the universe."""
    return _row() is not None
