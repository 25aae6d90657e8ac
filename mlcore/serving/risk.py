"""The risk figures every call carries (and the trader's own idea is checked with): the newest
``RiskModel`` of the interval, loaded once per process per version, applied to each symbol's
trailing bars (``mlcore.pipeline.risk.model``). One query reads a round's bars."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from analysis.intervals import interval_ms
from analysis.market import candles_frames
from analysis.models import SeriesRevision
from analysis.quality import ms_to_datetime
from mlcore.models import RiskModel
from mlcore.pipeline.risk.model import (
    Bars,
    HorizonFigures,
    call_levels,
    figures_at,
    in_prices,
    intervals_over,
)
from mlcore.pipeline.risk.model import RiskModel as Fitted
from mlcore.serving.call import Call


@dataclass(frozen=True)
class Loaded:
    version: str
    model: Fitted


_loaded: dict[str, Loaded] = {}


def current(interval: str) -> Loaded | None:
    """The interval's serving risk model (one indexed query; the parse is kept per version)."""
    record = RiskModel.objects.filter(interval=interval).only("version", "params").first()
    if record is None:
        return None
    kept = _loaded.get(interval)
    if kept is None or kept.version != record.version:
        kept = _loaded[interval] = Loaded(record.version, Fitted.from_dict(record.params))
    return kept


def forget() -> None:
    _loaded.clear()
    _kept.clear()


def round_figures(
    loaded: Loaded, symbols: Sequence[str], interval: str, bar_ms: int
) -> dict[str, list[HorizonFigures] | None]:
    """Each symbol's figures at the bar (None: its bar is missing, or the volatility is not
    measurable yet), from the round's trailing bars (``trailing``)."""
    frames = trailing(list(symbols), interval, bar_ms, loaded.model.span_first(bar_ms))
    out: dict[str, list[HorizonFigures] | None] = {}
    for symbol in symbols:
        frame = frames.get(symbol)
        if frame is None or frame.empty or int(frame["open_time"].iloc[-1]) != bar_ms:
            out[symbol] = None
            continue
        out[symbol] = figures_at(loaded.model, Bars.of(frame))
    return out


KEEP_SERIES = 64


@dataclass(frozen=True)
class _Kept:
    stamp: tuple[int, int]  # the series' SeriesRevision (revision, history) when read
    frame: pd.DataFrame  # its bars up to the newest it had


_kept: OrderedDict[tuple[str, str], _Kept] = OrderedDict()


def trailing(symbols: list[str], interval: str, bar_ms: int, first: int) -> dict[str, pd.DataFrame]:
    """Each symbol's bars from open time ``first`` up to ``bar_ms``, kept per process: the
    series' stamps in one query say which kept bars still hold (nothing rewritten since: only
    appends), and the rows after them come in one query for the round; the others are read in
    full, in one query. Equal to a fresh read (a changed history stamp always reads in full)."""
    step = interval_ms(interval)
    stamps = SeriesRevision.current(symbols, [interval])
    slide, full = {}, []
    for symbol in symbols:
        kept = _kept.get((symbol, interval))
        stamp = stamps[(symbol, interval)]
        last = (
            int(kept.frame["open_time"].iloc[-1]) if kept is not None and len(kept.frame) else None
        )
        if (
            kept is not None
            and kept.stamp[1] == stamp[1]
            and last is not None
            and first <= last <= bar_ms
        ):
            slide[symbol] = (kept, last)
        else:
            full.append(symbol)
    until = ms_to_datetime(bar_ms + step)
    out: dict[str, pd.DataFrame] = {}
    if full:
        read = candles_frames(full, interval, ms_to_datetime(first), until)
        out |= {s: read[s][list(COLUMNS)] for s in full}
    if slide:
        since = min(last for _, last in slide.values()) + step
        new = candles_frames(list(slide), interval, ms_to_datetime(since), until)
        for symbol, (kept, last) in slide.items():
            rows = new[symbol][list(COLUMNS)]
            rows = rows[rows["open_time"] > last]
            frame = pd.concat([kept.frame, rows], ignore_index=True) if len(rows) else kept.frame
            out[symbol] = frame[frame["open_time"] >= first].reset_index(drop=True)
    for symbol in symbols:
        _kept[(symbol, interval)] = _Kept(stamps[(symbol, interval)], out[symbol])
        _kept.move_to_end((symbol, interval))
    while len(_kept) > KEEP_SERIES:
        _kept.popitem(last=False)
    return out


COLUMNS = ("open_time", "high", "low", "close")


def call_risk(
    loaded: Loaded,
    figures: list[HorizonFigures] | None,
    direction: int,
    entry: float,
    horizon: int,
    round_trip: float,
) -> dict | None:
    """What a call stores: every horizon's figures, and for a directional call its stop and
    target placed from the forecast at the horizon nearest the call's, with their odds."""
    if figures is None:
        return None
    out: dict = {"model": loaded.version, "horizons": [f.to_dict() for f in figures]}
    if direction:
        model = loaded.model.horizon(horizon)
        spread = next(f.spread for f in figures if f.h == model.h)
        out["levels"] = call_levels(model, spread, direction, entry, round_trip)
    return out


def with_risk(
    loaded: Loaded, calls: Sequence[Call], bars: dict[str, Bars], horizon: int, round_trip: float
) -> list[Call]:
    """``calls`` (a simulated window's, any bars) each with the risk it would have carried
    live: the figures at its bar from the symbol's ``bars`` up to it (``intervals_over``, a
    week per pass, equal to ``figures_at`` live), then ``call_risk``."""
    out = list(calls)
    by_symbol: dict[str, list[int]] = {}
    for i, call in enumerate(out):
        by_symbol.setdefault(call.symbol, []).append(i)
    for symbol, mine in by_symbol.items():
        b = bars[symbol]
        rows = np.searchsorted(b.open_time, [out[i].open_time for i in mine])
        for i, row, found in zip(mine, rows, intervals_over(loaded.model, b, rows), strict=True):
            call = out[i]
            figures = None if found is None else in_prices(found, float(b.close[row]))
            carried = call_risk(loaded, figures, call.direction, call.entry, horizon, round_trip)
            out[i] = replace(call, risk=carried)
    return out
