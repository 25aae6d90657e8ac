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


def current() -> tuple[list[str], list[str]]:
    """The symbols and the intervals, from one read."""
    row = _row()
    if row is None:
        return list(settings.SYMBOLS), list(settings.INTERVALS)
    return Universe.split(row.symbols), Universe.split(row.intervals)


def symbols() -> list[str]:
    return current()[0]


def intervals() -> list[str]:
    return current()[1]


def series() -> list[tuple[str, str]]:
    """Every (symbol, interval) of the universe."""
    symbols, intervals = current()
    return [(s, i) for s in symbols for i in intervals]


def edited() -> bool:
    """Whether the admin's row, not the environment, defines the universe."""
    return _row() is not None
