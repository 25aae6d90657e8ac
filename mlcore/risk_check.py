""" "Check my idea": the odds of a trader's own trade, with the evidence behind them.

``check(symbol, interval, side, stop, target, horizon_hours, entry=None)``:
1. the serving risk model of the interval (none: ``RiskUnavailable``), and the symbol's
   trailing bars up to its newest stored one (none: ``UnknownSymbol``);
2. the idea checked against itself (``IdeaError`` naming the field): the stop and target on
   the side's proper sides of the entry, neither at it, the horizon one of those fitted;
3. the forecast at the newest bar (the same ``figures_at`` every call carries), the
   first-touch odds of target, stop and neither (calibrated, and the driftless baseline), the
   probability a hit must reach to break even after the round trip, and the model's own
   evidence for that horizon (its out-of-time ECE and Brier skill when one was recorded);
(The direction engine's lean is added by the API, in ``signals``: it reads signals.)
"""

from __future__ import annotations

from dataclasses import dataclass

from analysis.intervals import interval_ms
from analysis.market import price_decimals
from analysis.models import Candle
from mlcore.config import default_barrier
from mlcore.pipeline.risk.model import Bars, figures_at, idea_odds
from mlcore.serving import risk


class UnknownSymbol(LookupError):
    pass


class RiskUnavailable(RuntimeError):
    pass


@dataclass(frozen=True)
class IdeaError(ValueError):
    field: str
    message: str


def _fitted_hours(loaded: risk.Loaded, step_ms: int) -> list[int]:
    return [round(m.h * step_ms / 3_600_000) for m in loaded.model.horizons]


def check(
    symbol: str,
    interval: str,
    side: str,
    stop: float,
    target: float,
    horizon_hours: int,
    entry: float | None = None,
) -> dict:
    loaded = risk.current(interval)
    if loaded is None:
        raise RiskUnavailable(f"no {interval} risk model is fitted yet: run `manage.py train_risk`")
    step = interval_ms(interval)
    hours = _fitted_hours(loaded, step)
    if horizon_hours not in hours:
        raise IdeaError("horizon_hours", f"must be one of {hours} (the fitted horizons)")
    newest = Candle.objects.last_open_time(symbol, interval)
    if newest is None:
        raise UnknownSymbol(f"no {interval} candles are stored for {symbol}")
    # The trailing bars through the per-process kept spans: a check costs a few small queries,
    # not a read of thousands of rows (that read was three quarters of its time).
    bar_ms = int(newest.timestamp() * 1000)
    candles = risk.trailing([symbol], interval, bar_ms, loaded.model.span_first(bar_ms))[symbol]
    last_close = float(candles["close"].iloc[-1])
    entry = last_close if entry is None else entry
    direction = 1 if side == "long" else -1
    for name, price in (("stop", stop), ("target", target)):
        if price == entry:
            raise IdeaError(name, f"the {name} is at the entry: it needs a distance")
    below, above = ("below", "above") if direction > 0 else ("above", "below")
    if (stop - entry) * direction > 0:
        raise IdeaError("stop", f"a {side}'s stop must be {below} the entry ({entry:g})")
    if (target - entry) * direction < 0:
        raise IdeaError("target", f"a {side}'s target must be {above} the entry ({entry:g})")
    model = loaded.model.horizons[hours.index(horizon_hours)]
    figures = figures_at(loaded.model, Bars.of(candles), only=model.h)
    if figures is None:
        raise RiskUnavailable(f"{symbol}'s volatility is not measurable yet: too few stored bars")
    (horizon,) = figures
    odds = idea_odds(model, horizon.spread, direction, entry, stop, target)
    cost = default_barrier().round_trip_cost  # the round trip chosen on /settings
    win = abs(target - entry) / entry - cost
    loss = abs(entry - stop) / entry + cost
    evidence = _evidence(loaded.version, str(model.h))
    return {
        "symbol": symbol,
        "interval": interval,
        "as_of": int(candles["open_time"].iloc[-1]),
        "side": side,
        "entry": entry,
        "stop": stop,
        "target": target,
        "horizon_hours": horizon_hours,
        "odds": odds.to_dict(),
        # Of the ideas that resolve (target or stop first), the share that must be targets
        # for the trade to pay its round trip; compare it with ``target_share``.
        "break_even": loss / (win + loss) if win > 0 else None,
        "target_share": odds.target / (odds.target + odds.stop)
        if odds.target + odds.stop > 0
        else None,
        "decimals": price_decimals([entry, stop, target]),
        "round_trip_cost": cost,
        "range": horizon.to_dict(),
        "evidence": evidence,
        "model": loaded.version,
    }


def _evidence(version: str, h: str) -> dict | None:
    """The out-of-time figures of the risk model at the horizon, if it was evaluated."""
    from mlcore.models import RiskModel

    report = RiskModel.objects.filter(version=version).values_list("report", flat=True).first()
    figures = (report or {}).get(h)
    if not figures:
        return None
    touch = figures["touch"]
    return {
        "ideas": touch.get("ideas"),
        "ece": touch.get("calibrated", {}).get("ece"),
        "brier_skill": touch.get("brier_skill"),
        "ranges": {k: v["all"] for k, v in figures["ranges"].items()},
    }


__all__ = ["IdeaError", "RiskUnavailable", "UnknownSymbol", "check"]
