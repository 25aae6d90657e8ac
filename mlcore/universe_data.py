"""The stored bars a universe model reads: every symbol it knows, over one span, as the
scale-free frames of ``mlcore.pipeline.universe``. Live inference (one bar) and ``evaluate``
(a window) both read through here, so both see the same inputs.

The target symbol must have every bar of the span (a hole is refused with where it is); a
context symbol with a hole is left out of the context, since its returns would straddle the
hole, and a context symbol not listed yet simply is not there (as in training).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import timedelta

import pandas as pd

from analysis.intervals import interval_ms
from analysis.market import candles_frame, funding_frame
from analysis.models import SeriesRevision
from analysis.quality import find_gaps, ms_to_datetime
from mlcore.pipeline.universe import UniverseParams, symbol_frame
from mlcore.pipeline.universe_model import UniverseModel

# Funding's look-back before a span: the z-score's 30 settlements at the slowest (8h)
# schedule, with room to spare.
FUNDING_LOOKBACK = timedelta(days=11)


class MissingBars(ValueError):
    """The target symbol lacks bars the model needs; the message says which."""


@dataclass(frozen=True)
class UniverseInputs:
    frames: dict[str, pd.DataFrame]  # symbol -> scale-free frame, the target among them
    candles: pd.DataFrame  # the target's candles over the span
    funding: pd.DataFrame  # the target's settlements over the span (and its look-back)


def read_inputs(
    model: UniverseModel, symbol: str, interval: str, first_ms: int, last_ms: int
) -> UniverseInputs:
    """Bars opening in [first_ms, last_ms] of every symbol the model knows and of ``symbol``."""
    step = interval_ms(interval)
    need = (last_ms - first_ms) // step + 1
    symbols = list(dict.fromkeys([*model.symbols, symbol]))
    revisions = SeriesRevision.current(symbols, [interval, SeriesRevision.FUNDING])
    frames: dict[str, pd.DataFrame] = {}
    target = None
    for s in symbols:
        stamp = (revisions[(s, interval)], revisions[(s, SeriesRevision.FUNDING)])
        read = _read(s, interval, first_ms, last_ms, model.params, stamp, cache=need <= CACHE_BARS)
        if s == symbol and read.frame is None:
            gaps = find_gaps(read.candles["open_time"].to_numpy(), step)
            where = f": {gaps[0]}" if gaps else ""
            raise MissingBars(
                f"candles are missing ({len(read.candles)} of the {need} bars the universe "
                f"model reads from {ms_to_datetime(first_ms):%Y-%m-%d %H:%M} are stored"
                f"{where}); run `manage.py check_data --repair`"
            )
        if read.frame is not None:
            frames[s] = read.frame
        if s == symbol:
            target = read
    return UniverseInputs(frames, target.candles, target.funding)


@dataclass(frozen=True)
class _Read:
    candles: pd.DataFrame
    funding: pd.DataFrame
    frame: pd.DataFrame | None  # None: the span has a hole (or is not all stored yet)


# One live tick infers every symbol of the universe at the same bar, and each inference reads
# every symbol over the same span: kept per process, a span is read and computed once a tick,
# not once per symbol (13 symbols: 13 reads a tick instead of 169). Kept only while the
# series' SeriesRevision stamps are unchanged, i.e. while exactly those rows are stored.
# Long spans (``evaluate``'s) are not kept.
CACHE_BARS = 4096
CACHE_SPANS = 64
_reads: OrderedDict[tuple, tuple[tuple[int, int], _Read]] = OrderedDict()


def _read(
    symbol: str,
    interval: str,
    first_ms: int,
    last_ms: int,
    params: UniverseParams,
    stamp: tuple[int, int],
    *,
    cache: bool,
) -> _Read:
    key = (symbol, interval, first_ms, last_ms, params)
    kept = _reads.get(key)
    if kept is not None and kept[0] == stamp:
        _reads.move_to_end(key)
        return kept[1]
    step = interval_ms(interval)
    since, until = ms_to_datetime(first_ms), ms_to_datetime(last_ms + step)
    candles = candles_frame(symbol, interval, since=since, until=until)
    # A stale or missing funding rate is a missing input (NaN), never a refusal: the universe
    # model trained with symbols that had none.
    funding = funding_frame(symbol, since=since - FUNDING_LOOKBACK, until=until)
    whole = len(candles) == (last_ms - first_ms) // step + 1
    frame = (
        symbol_frame(candles, funding if not funding.empty else None, interval, params)
        if whole
        else None
    )
    read = _Read(candles, funding, frame)
    if cache:
        _reads[key] = (stamp, read)
        _reads.move_to_end(key)
        while len(_reads) > CACHE_SPANS:
            _reads.popitem(last=False)
    return read
