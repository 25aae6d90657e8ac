"""Run a backtest on stored data and record it: the Django side of mlcore.backtest.

run = run_backtest(BacktestRequest("BTCUSDT", "1h", start, end, strategy="momentum"))
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
from django.db import transaction

from analysis.market import UnknownSeries, candles_frame, funding_frame
from analysis.models import Candle
from analysis.quality import ms_to_datetime
from mlcore import reports
from mlcore.backtest import baselines, metrics
from mlcore.backtest.data import market_from_frames
from mlcore.backtest.engine import REASONS, BacktestResult, Costs, Margin, Market, run
from mlcore.models import BacktestRun

STRATEGIES = sorted(baselines.RULES)

# Stored signals live in the signals app, a floor above this one: the caller hands in how to
# read them (symbol, interval, start, end -> open times in ms, directions -1/0/+1, grades), so
# the backtest can replay what the product actually emitted without importing upwards.
SignalHistory = Callable[[str, str, datetime, datetime], tuple[np.ndarray, np.ndarray, np.ndarray]]
CURVE_POINTS = 2000
FUNDING_SLACK_MS = 9 * 3_600_000  # settlements are 8h apart (4h on some symbols)


class BacktestError(ValueError):
    """Bad input: an empty window, an unknown symbol, missing funding, a bad positions file."""


class SignalsMissing(BacktestError):
    """No stored signal of the asked grades in the window."""


@dataclass(frozen=True)
class BacktestRequest:
    symbol: str
    interval: str
    start: datetime
    end: datetime
    strategy: str = "momentum"  # a built-in rule, "positions" with positions_file, or "signals"
    positions_file: Path | None = None
    grades: tuple[str, ...] = ()  # strategy "signals": the grades traded
    costs: Costs = field(default_factory=Costs)
    margin: Margin = field(default_factory=Margin)
    initial_equity: float = 10_000.0
    random_runs: int = 200
    allow_missing_funding: bool = False
    signal_history: SignalHistory | None = None  # strategy "signals": the stored signals' reader


def load_market(request: BacktestRequest) -> Market:
    """Candles and funding in the window; refuse what would make a silent zero."""
    try:
        candles = candles_frame(
            request.symbol, request.interval, since=request.start, until=request.end
        )
        if candles.empty and not Candle.objects.filter(symbol=request.symbol).exists():
            raise UnknownSeries(f"no {request.interval} candles stored for {request.symbol}")
    except (UnknownSeries, ValueError) as exc:
        raise BacktestError(str(exc)) from exc
    if len(candles) < 2:
        raise BacktestError(
            f"no {request.interval} candles for {request.symbol} between "
            f"{request.start:%Y-%m-%d} and {request.end:%Y-%m-%d}"
        )
    funding = funding_frame(request.symbol)
    first, last = int(candles["open_time"].iloc[0]), int(candles["open_time"].iloc[-1])
    inside = funding[(funding["funding_time"] >= first) & (funding["funding_time"] <= last)]
    problem = funding_gap(inside["funding_time"].to_numpy(), first, last)
    if problem and not request.allow_missing_funding:
        raise BacktestError(
            f"funding rates for {request.symbol} do not cover the window: {problem}; "
            "import or fetch them, shorten the window, or allow missing funding explicitly"
        )
    return market_from_frames(candles, inside, request.interval)


def funding_gap(times: np.ndarray, first: int, last: int) -> str | None:
    """Where settlements are missing in [first, last] (they come every 8h, 4h on some)."""

    def at(ms: int) -> str:
        return f"{ms_to_datetime(ms):%Y-%m-%d %H:%M}"

    if not len(times):
        return "none stored in it"
    # Only the settlements around [first, last] matter: a hole years earlier is no reason to
    # refuse this window (the last settlement before it through the first after it).
    lo = max(int(np.searchsorted(times, first, "right")) - 1, 0)
    hi = min(int(np.searchsorted(times, last, "left")) + 1, len(times))
    times = times[lo:hi]
    if times[0] - first > FUNDING_SLACK_MS:
        return f"none before {at(int(times[0]))}, the window starts {at(first)}"
    if last - times[-1] > FUNDING_SLACK_MS:
        return f"none after {at(int(times[-1]))}, the window runs to {at(last)}"
    gaps = np.flatnonzero(np.diff(times) > FUNDING_SLACK_MS)
    if len(gaps):
        return f"none between {at(int(times[gaps[0]]))} and {at(int(times[gaps[0] + 1]))}"
    return None


def positions_from_file(path: Path, market: Market) -> np.ndarray:
    """A CSV with ``open_time`` (epoch ms or ISO date) and ``target`` (exposure x equity),
    one row per bar or only where the target changes (held until the next row)."""
    try:
        frame = pd.read_csv(path)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise BacktestError(f"{path}: cannot read positions: {exc}") from exc
    if not {"open_time", "target"} <= set(frame.columns):
        raise BacktestError(
            f"{path}: needs columns open_time and target, has {list(frame.columns)}"
        )
    times = frame["open_time"]
    if not pd.api.types.is_numeric_dtype(times):
        times = pd.DatetimeIndex(pd.to_datetime(times, utc=True)).as_unit("ms").asi8
    target = pd.to_numeric(frame["target"], errors="coerce")
    if target.isna().any():
        row = int(np.flatnonzero(target.isna().to_numpy())[0]) + 2
        raise BacktestError(f"{path}:{row}: target is not a number")
    series = pd.Series(target.to_numpy(), index=np.asarray(times, dtype=np.int64)).sort_index()
    aligned = series.reindex(market.open_time, method="ffill")
    return aligned.fillna(0.0).to_numpy()


def signals_target(request: BacktestRequest, market: Market) -> np.ndarray:
    """The stored signals of the window, held the way the model's labels were defined."""
    from mlcore.backtest.signals import graded_target, signal_rules
    from mlcore.config import default_barrier

    if request.signal_history is None:
        raise BacktestError("strategy 'signals' needs the stored signals' reader (signal_history)")
    times, direction, grade = request.signal_history(
        request.symbol, request.interval, request.start, request.end
    )
    if not np.isin(grade, request.grades).any():
        raise SignalsMissing(
            f"no {'/'.join(request.grades)} signal of {request.symbol} {request.interval} "
            f"between {request.start:%Y-%m-%d} and {request.end:%Y-%m-%d}"
        )
    at = np.searchsorted(market.open_time, times)
    inside = (at < len(market)) & (market.open_time[np.minimum(at, len(market) - 1)] == times)
    aligned_direction = np.zeros(len(market))
    aligned_grade = np.full(len(market), "", dtype=object)
    aligned_direction[at[inside]] = direction[inside]
    aligned_grade[at[inside]] = grade[inside]
    return graded_target(
        market, aligned_direction, aligned_grade, request.grades, signal_rules(default_barrier())
    )


def target_for(request: BacktestRequest, market: Market) -> np.ndarray:
    if request.strategy == "signals":
        return signals_target(request, market)
    if request.strategy == "positions":
        if not request.positions_file:
            raise BacktestError("the positions strategy needs a positions file")
        return positions_from_file(request.positions_file, market)
    try:
        rule = baselines.RULES[request.strategy]
    except KeyError:
        known = ", ".join(STRATEGIES)
        raise BacktestError(
            f"unknown strategy {request.strategy!r}; built in: {known}, or positions"
        ) from None
    return rule(market) * min(request.margin.leverage, 1.0)


def _curve(market: Market, result: BacktestResult) -> list[list[float]]:
    return metrics.curve_points(market.open_time, result.equity, CURVE_POINTS)


def _trades(market: Market, result: BacktestResult) -> list[dict]:
    t = result.trades
    return [
        {
            "entry_time": ms_to_datetime(int(market.open_time[t.entry_bar[i]])).isoformat(),
            "exit_time": ms_to_datetime(int(market.open_time[t.exit_bar[i]])).isoformat(),
            "side": "long" if t.side[i] > 0 else "short",
            "entry_price": float(t.entry_price[i]),
            "exit_price": float(t.exit_price[i]),
            "quantity": float(t.quantity[i]),
            "pnl": float(t.pnl[i]),
            "fees": float(t.fees[i]),
            "funding": float(t.funding[i]),
            "reason": REASONS[int(t.reason[i])],
        }
        for i in range(len(t))
    ]


def run_backtest(
    request: BacktestRequest, progress: Callable[[int, int], None] | None = None
) -> BacktestRun:
    """1. Load and check the window. 2. Build the target. 3. Simulate. 4. Metrics and
    baselines (Monte Carlo with progress). 5. Store the run and write the summary report."""
    market = load_market(request)
    target = target_for(request, market)
    try:
        result = run(
            market,
            target,
            costs=request.costs,
            margin=request.margin,
            initial_equity=request.initial_equity,
        )
    except ValueError as exc:  # the engine's refusals: NaN or over-leveraged targets
        raise BacktestError(str(exc)) from exc
    strategy = metrics.compute(result, market.step_ms)
    comparison = baselines.compare(
        market,
        target,
        strategy,
        costs=request.costs,
        margin=request.margin,
        runs=request.random_runs,
        progress=progress,
    )
    with transaction.atomic():
        record = BacktestRun.objects.create(
            symbol=request.symbol,
            interval=request.interval,
            strategy=strategy_name(request),
            start=ms_to_datetime(int(market.open_time[0])),
            end=ms_to_datetime(int(market.open_time[-1]) + market.step_ms),
            params={
                "costs": asdict(request.costs),
                "margin": asdict(request.margin),
                "initial_equity": request.initial_equity,
                "bars": len(market),
                "funding_settlements": len(market.funding_time),
            },
            metrics=strategy.as_dict(),
            baselines={name: m.as_dict() for name, m in comparison.baselines.items()},
            comparison={
                "random_runs": comparison.random_runs,
                "random_sharpe_median": comparison.random_sharpe_median,
                "sharpe_percentile": comparison.sharpe_percentile,
                "return_percentile": comparison.return_percentile,
            },
            curve=_curve(market, result),
            trades=_trades(market, result),
        )
    return record


def strategy_name(request: BacktestRequest) -> str:
    if request.strategy == "positions":
        return f"positions:{request.positions_file.name}"
    if request.strategy == "signals":
        return f"signals:{'/'.join(request.grades)}"
    return request.strategy


def write_summary(runs: list[BacktestRun]) -> Path:
    """var/reports/backtest_summary.json, written atomically (temp file, then rename)."""
    summary = [
        {
            "id": r.id,
            "symbol": r.symbol,
            "interval": r.interval,
            "strategy": r.strategy,
            "start": r.start.isoformat(),
            "end": r.end.isoformat(),
            "params": r.params,
            "metrics": r.metrics,
            "baselines": r.baselines,
            "comparison": r.comparison,
        }
        for r in runs
    ]
    return reports.write_report("backtest_summary.json", summary)
