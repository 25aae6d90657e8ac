"""The stored bars a universe model reads: every symbol it knows, over one span, as the
scale-free frames of ``mlcore.pipeline.universe.scale_free``. Live inference (one bar) and
``evaluate`` (a window) both read through here, so both see the same inputs.

The target symbol must have every bar of the span (a hole is refused with where it is); a
context symbol with a hole is left out of the context, since its returns would straddle the
hole, and a context symbol not listed yet simply is not there (as in training).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

import pandas as pd

from analysis.intervals import interval_ms
from analysis.market import candles_frame, candles_frames, funding_frame, funding_frames
from analysis.models import SeriesRevision
from analysis.quality import find_gaps, ms_to_datetime
from mlcore.pipeline.universe.final_model import UniverseModel
from mlcore.pipeline.universe.scale_free import UniverseParams, symbol_frame, symbol_row

# Funding's look-back before a span: the z-score's 30 settlements at the slowest (8h)
# schedule, with room to spare.
FUNDING_LOOKBACK = timedelta(days=11)
FUNDING_LOOKBACK_MS = int(FUNDING_LOOKBACK.total_seconds() * 1000)


class MissingBars(ValueError):
    """The target symbol lacks bars the model needs; the message says which."""


@dataclass(frozen=True)
class UniverseInputs:
    frames: dict[str, pd.DataFrame]  # symbol -> scale-free frame, the target among them
    candles: pd.DataFrame  # the target's candles over the span
    funding: pd.DataFrame  # the target's settlements over the span (and its look-back)


@dataclass(frozen=True)
class RoundInputs:
    """``read_round``'s answer: the context once, each target's own rows, and why any target
    cannot be predicted."""

    frames: dict[str, pd.DataFrame]  # symbol -> scale-free frame, every readable target among them
    candles: dict[str, pd.DataFrame]  # target -> its candles over the span
    funding: dict[str, pd.DataFrame]  # target -> its settlements over the span and look-back
    missing: dict[str, str]  # target -> why its bars cannot be read (a ``MissingBars`` message)


def read_inputs(
    model: UniverseModel,
    symbol: str,
    interval: str,
    first_ms: int,
    last_ms: int,
    *,
    last_row: bool = False,
) -> UniverseInputs:
    """Bars opening in [first_ms, last_ms] of every symbol the model knows and of ``symbol``.
    ``last_row``: each frame holds the last bar's row only (``universe.symbol_row``), all that
    live inference at that bar reads."""
    read = read_round(model, [symbol], interval, first_ms, last_ms, last_row=last_row)
    if symbol in read.missing:
        raise MissingBars(read.missing[symbol])
    return UniverseInputs(read.frames, read.candles[symbol], read.funding[symbol])


def read_round(
    model: UniverseModel,
    targets: Sequence[str],
    interval: str,
    first_ms: int,
    last_ms: int,
    *,
    last_row: bool = False,
) -> RoundInputs:
    """``read_inputs`` for many targets at once (a live round): the revision stamps in one
    query, every symbol read once. A target lacking bars is named in ``missing``, not raised:
    the others are still predicted."""
    step = interval_ms(interval)
    need = (last_ms - first_ms) // step + 1
    symbols = list(dict.fromkeys([*model.symbols, *targets]))
    stamps = SeriesRevision.current(symbols, [interval, SeriesRevision.FUNDING])
    wanted = set(targets)
    keep = need <= KEEP_BARS
    plans = {
        s: _plan(
            s,
            interval,
            first_ms,
            last_ms,
            model.params,
            (stamps[(s, interval)], stamps[(s, SeriesRevision.FUNDING)]),
            last_row,
        )
        for s in symbols
    }
    new = _new_rows({s: p.kept for s, p in plans.items() if p.slide}, interval, first_ms, last_ms)
    frames: dict[str, pd.DataFrame] = {}
    candles: dict[str, pd.DataFrame] = {}
    funding: dict[str, pd.DataFrame] = {}
    missing: dict[str, str] = {}
    for s, plan in plans.items():
        read = plan.kept
        if plan.slide:
            read = _slide(plan.kept, interval, first_ms, last_ms, model.params, last_row, *new[s])
        if read is None:
            read = _read_span(s, interval, first_ms, last_ms, model.params, last_row)
        if keep:
            _keep(plan.key, plan.stamp, read)
        if read.frame is not None:
            frames[s] = read.frame
        if s not in wanted:
            continue
        candles[s], funding[s] = read.candles, read.funding
        if read.frame is None:
            times = read.candles["open_time"].to_numpy()
            gaps = find_gaps(times, step)
            if not gaps and len(times) and int(times[0]) > first_ms:
                # Not a hole: a young listing, whose history starts after the look-back does.
                start, earliest = (
                    f"{ms_to_datetime(t):%Y-%m-%d %H:%M}"
                    for t in (int(times[0]), int(times[0]) + (model.history_needed - 1) * step)
                )
                missing[s] = (
                    f"its stored {interval} history starts {start}; the universe model reads "
                    f"{model.history_needed - 1} bars before the first it predicts, so it can "
                    f"predict from {earliest} on"
                )
                continue
            where = f": {gaps[0]}" if gaps else ""
            missing[s] = (
                f"candles are missing ({len(read.candles)} of the {need} bars the universe "
                f"model reads from {ms_to_datetime(first_ms):%Y-%m-%d %H:%M} are stored"
                f"{where}); run `manage.py check_data --repair`"
            )
    return RoundInputs(frames, candles, funding, missing)


@dataclass(frozen=True)
class _Read:
    first_ms: int
    last_ms: int
    candles: pd.DataFrame
    funding: pd.DataFrame
    frame: pd.DataFrame | None  # None: the span has a hole (or is not all stored yet)


# One live tick infers every symbol of the universe at the same bar, and each inference reads
# every symbol over the same span: kept per process, a span is read and computed once a tick,
# not once per symbol (38 series: 38 reads a tick instead of 1,444). The next tick's span is
# the same one moved by a bar: while the series' ``SeriesRevision`` stamps say that every
# write since was a pure append (``history`` unchanged), only the rows after the kept span
# are read and the span slides; any other write (a repaired, deleted or back-filled row)
# reads the span in full. Long spans (``evaluate``'s) are not kept.
KEEP_BARS = 4096
KEEP_SERIES = 64
Stamp = tuple[int, int]  # a series' (revision, history)
_reads: OrderedDict[tuple, tuple[tuple[Stamp, Stamp], _Read]] = OrderedDict()


@dataclass(frozen=True)
class _Plan:
    key: tuple
    stamp: tuple[Stamp, Stamp]
    kept: _Read | None  # the kept span, as it serves (slide False) or to slide from
    slide: bool


def _plan(
    symbol: str,
    interval: str,
    first_ms: int,
    last_ms: int,
    params: UniverseParams,
    stamp: tuple[Stamp, Stamp],
    last_row: bool,
) -> _Plan:
    """How a symbol's span is read: the kept one as it is (nothing written since, same span),
    the kept one slid forward (every write since appended, and the new span overlaps it), or
    in full (``kept`` None)."""
    key = (symbol, interval, last_ms - first_ms, params, last_row)
    kept = _reads.get(key)
    if kept is None:
        return _Plan(key, stamp, None, False)
    stamps, read = kept
    if stamps == stamp and (read.first_ms, read.last_ms) == (first_ms, last_ms):
        return _Plan(key, stamp, read, False)
    appended = all(k[1] == s[1] for k, s in zip(stamps, stamp, strict=True))
    overlaps = read.last_ms <= last_ms < read.last_ms + (last_ms - first_ms)
    if appended and overlaps and read.frame is not None:
        return _Plan(key, stamp, read, True)
    return _Plan(key, stamp, None, False)


def _keep(key: tuple, stamp: tuple[Stamp, Stamp], read: _Read) -> None:
    _reads[key] = (stamp, read)
    _reads.move_to_end(key)
    while len(_reads) > KEEP_SERIES:
        _reads.popitem(last=False)


def _new_rows(
    sliding: dict[str, _Read], interval: str, first_ms: int, last_ms: int
) -> dict[str, tuple[pd.DataFrame, pd.DataFrame]]:
    """The rows stored after each kept span, of every sliding symbol in one query for the
    candles and one for the settlements (a live tick: two queries, not two a symbol). The
    settlements after the newest kept one: an append may be older than the kept span's end
    (a late settlement), never older than the newest stored then."""
    if not sliding:
        return {}
    step = interval_ms(interval)
    until = ms_to_datetime(last_ms + step)
    bars_from = {s: read.last_ms + step for s, read in sliding.items()}
    settled_from = {
        s: int(read.funding["funding_time"].iloc[-1]) + 1
        if len(read.funding)
        else first_ms - FUNDING_LOOKBACK_MS
        for s, read in sliding.items()
    }
    symbols = list(sliding)
    bars = candles_frames(symbols, interval, ms_to_datetime(min(bars_from.values())), until)
    settled = funding_frames(symbols, ms_to_datetime(min(settled_from.values())), until)
    return {
        s: (
            _from(bars[s], "open_time", bars_from[s]),
            _from(settled[s], "funding_time", settled_from[s]),
        )
        for s in symbols
    }


def _from(rows: pd.DataFrame, column: str, ms: int) -> pd.DataFrame:
    if not len(rows) or rows[column].iloc[0] >= ms:
        return rows
    return rows[rows[column] >= ms].reset_index(drop=True)


def _read_span(
    symbol: str,
    interval: str,
    first_ms: int,
    last_ms: int,
    params: UniverseParams,
    last_row: bool,
) -> _Read:
    step = interval_ms(interval)
    since, until = ms_to_datetime(first_ms), ms_to_datetime(last_ms + step)
    candles = candles_frame(symbol, interval, since=since, until=until)
    # A stale or missing funding rate is a missing input (NaN), never a refusal: the universe
    # model trained with symbols that had none.
    funding = funding_frame(symbol, since=since - FUNDING_LOOKBACK, until=until)
    return _computed(first_ms, last_ms, candles, funding, interval, params, last_row)


def _computed(
    first_ms: int,
    last_ms: int,
    candles: pd.DataFrame,
    funding: pd.DataFrame,
    interval: str,
    params: UniverseParams,
    last_row: bool,
) -> _Read:
    whole = len(candles) == (last_ms - first_ms) // interval_ms(interval) + 1
    compute = symbol_row if last_row else symbol_frame
    frame = (
        compute(candles, funding if not funding.empty else None, interval, params)
        if whole
        else None
    )
    return _Read(first_ms, last_ms, candles, funding, frame)


def _slide(
    kept: _Read,
    interval: str,
    first_ms: int,
    last_ms: int,
    params: UniverseParams,
    last_row: bool,
    new: pd.DataFrame,
    settled: pd.DataFrame,
) -> _Read | None:
    """The span [first_ms, last_ms] from a kept whole span that ends earlier (``_plan``) and
    the rows stored after it (``_new_rows``): every write since appended, so the kept rows are
    still the stored ones. None where a new row is missing (the full read says where)."""
    step = interval_ms(interval)
    if len(new) != (last_ms - kept.last_ms) // step:
        return None
    # The span moved by len(new) bars: as many leave its head as join its tail.
    candles = pd.concat([kept.candles.iloc[len(new) :], new], ignore_index=True)
    funding = kept.funding
    if len(settled):
        funding = pd.concat([funding, settled], ignore_index=True)
    head = int(funding["funding_time"].searchsorted(first_ms - FUNDING_LOOKBACK_MS))
    if head:
        funding = funding.iloc[head:].reset_index(drop=True)
    return _computed(first_ms, last_ms, candles, funding, interval, params, last_row)
