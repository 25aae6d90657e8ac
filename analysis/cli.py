"""Small helpers the commands share: date options and progress bars."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime

from tqdm import tqdm

from analysis.ingest import Progress
from analysis.symbols import normalise


def parse_when(value: str) -> datetime:
    """``2024-01-01``, ``2024-01-01T12:00`` or epoch ms -> aware UTC datetime."""
    if value.isdigit():
        return datetime.fromtimestamp(int(value) / 1000, tz=UTC)
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date: {value!r} (use YYYY-MM-DD)") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def symbol_list(value: str) -> list[str]:
    return [normalise(s) for s in value.split(",") if s.strip()]


@contextmanager
def progress_bar(description: str, unit: str) -> Iterator[Progress]:
    """A tqdm bar on stderr, driven by the ``(done, total)`` callbacks of analysis.ingest."""
    bar = tqdm(desc=description, unit=unit, file=sys.stderr, dynamic_ncols=True, leave=True)

    def update(done: int, total: int) -> None:
        bar.total = max(total, done)
        bar.update(done - bar.n)  # tqdm throttles the redraws itself

    try:
        yield update
    finally:
        bar.close()


@contextmanager
def step_bar(
    description: str, steps: Sequence[str], stream=None
) -> Iterator[Callable[[str], None]]:
    """A tqdm bar over named steps: the callback is told the step starting, the bar shows it
    and how many came before; it ends full when the block ends without an error."""
    bar = tqdm(total=len(steps), desc=description, unit="step", file=stream or sys.stderr)

    def step(name: str) -> None:
        bar.set_postfix_str(name)
        bar.n = steps.index(name)
        bar.refresh()

    try:
        yield step
        bar.n = len(steps)
        bar.refresh()
    finally:
        bar.close()
