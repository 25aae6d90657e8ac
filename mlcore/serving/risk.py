"""The risk figures every call carries (and the trader's own idea is checked with): the newest
``RiskModel`` of the interval, loaded once per process per version, applied to each symbol's
trailing bars (``mlcore.pipeline.risk.model``). One query reads a round's bars."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from analysis.intervals import interval_ms
from analysis.market import candles_frames
from analysis.quality import ms_to_datetime
from mlcore.models import RiskModel
from mlcore.pipeline.risk.model import Bars, HorizonFigures, call_levels, figures_at
from mlcore.pipeline.risk.model import RiskModel as Fitted


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


def round_figures(
    loaded: Loaded, symbols: Sequence[str], interval: str, bar_ms: int
) -> dict[str, list[HorizonFigures] | None]:
    """Each symbol's figures at the bar (None: its bar is missing, or the volatility is not
    measurable yet), from one read of the round's trailing bars."""
    step = interval_ms(interval)
    since = ms_to_datetime(bar_ms - (loaded.model.span_bars - 1) * step)
    frames = candles_frames(list(symbols), interval, since, ms_to_datetime(bar_ms + step))
    out: dict[str, list[HorizonFigures] | None] = {}
    for symbol in symbols:
        frame = frames.get(symbol)
        if frame is None or frame.empty or int(frame["open_time"].iloc[-1]) != bar_ms:
            out[symbol] = None
            continue
        out[symbol] = figures_at(loaded.model, Bars.of(frame))
    return out


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
