"""Scale-free inputs for one model over many symbols (the universe, or pooled, model).

A pooled model sees BTC at 60,000 and PEPE at 0.01, a calm year and a crash, in the same rows,
so nothing it reads may carry a unit or a price level. Every input is one of:
- a return or a range in units of the symbol's own recent volatility (the standard deviation
  of its 1-bar log returns over ``vol_window`` bars, known at the bar);
- a bounded oscillator (RSI, ADX, efficiency ratio, position in the recent range);
- a z-score against the symbol's own recent past (volume, funding);
- market context at the bar, the same for every symbol at that bar (BTC's recent move and
  regime, the universe's breadth and dispersion) or the symbol's place in it (its rank within
  the universe on its recent return).

Guarantees, tested: the value at bar t uses bars (of this symbol and, for context, of the
others) that closed at or before t; a symbol's own columns computed from its last ``warmup``
bars equal the full-history computation; a funding settlement older than
``funding_max_age_ms`` is not a value (NaN, never a forward-filled year-old rate).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from functools import lru_cache

import numpy as np
import pandas as pd
import talib

from analysis.indicators import kaufman_efficiency_ratio, log_returns, wilder_memory
from analysis.intervals import interval_ms

HOUR_MS = 3_600_000
CONTEXT_SYMBOL = "BTCUSDT"  # the market's bellwether; context columns fall back to NaN without it


@dataclass(frozen=True)
class UniverseParams:
    vol_window: int = 168  # bars of 1-bar returns behind the volatility unit
    return_bars: tuple[int, ...] = (1, 4, 8, 24, 72, 168)
    fast_vol_window: int = 24
    range_window: int = 24
    sma_periods: tuple[int, ...] = (50, 200)  # SMA, not EMA: a finite memory, tail-exact
    volume_window: int = 168
    funding_z_events: int = 30
    funding_max_age_hours: int = 24  # three 8h settlements missed: the rate is not current
    rank_bars: tuple[int, ...] = (24, 168)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping) -> UniverseParams:
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})

    @property
    def warmup(self) -> int:
        """Bars a symbol needs before its own columns are defined and tail-exact."""
        # ADX smooths twice with Wilder's weights (infinite memory): two memories of it.
        return max(
            self.vol_window + max(self.return_bars),
            max(self.sma_periods),
            self.volume_window,
            2 * wilder_memory(14),
        )


def symbol_columns(p: UniverseParams) -> list[str]:
    cols = [f"ret_{k}_z" for k in p.return_bars]
    cols += [
        "range_z",
        "range_24_z",
        "vol_ratio",
        "rsi_14",
        "adx_14",
        "er_24",
        "range_pos_24",
        *[f"sma_{n}_dist_z" for n in p.sma_periods],
        "volume_z",
        "funding_bps",
        f"funding_z_{p.funding_z_events}",
    ]
    return cols


def context_columns(p: UniverseParams) -> list[str]:
    cols = ["btc_ret_4_z", "btc_ret_24_z", "btc_er_24", "btc_adx_14"]
    cols += ["breadth_24", "dispersion_24", "market_ret_24_z"]
    for k in p.rank_bars:
        cols += [f"rank_ret_{k}", f"rel_ret_{k}_z"]
    return cols


def feature_columns(p: UniverseParams) -> list[str]:
    return symbol_columns(p) + context_columns(p)


def _rolling_std(x: np.ndarray, window: int) -> np.ndarray:
    return pd.Series(x).rolling(window, min_periods=window).std().to_numpy(copy=True)


def volatility(close: np.ndarray, window: int = 168) -> np.ndarray:
    """The volatility unit at each bar: the standard deviation of the last ``window`` 1-bar log
    returns (NaN before the window fills, or over a flat stretch with no unit)."""
    vol = _rolling_std(log_returns(close, 1), window)
    vol[vol <= 0] = np.nan
    return vol


def cost_over_vol(cost: float, vol: np.ndarray, horizon: np.ndarray | int) -> np.ndarray:
    """The round trip in units of the move ``horizon`` bars typically make, given the
    volatility unit at each bar: the hit calibrator's second input."""
    return cost / (vol * np.sqrt(horizon))


def cost_in_vol(close: np.ndarray, horizon: int, cost: float, window: int = 168) -> np.ndarray:
    """``cost_over_vol`` from the closes themselves (the per-symbol models)."""
    return cost_over_vol(cost, volatility(close, window), horizon)


def _funding_asof(
    open_time: np.ndarray, step_ms: int, funding: pd.DataFrame | None, p: UniverseParams
) -> tuple[np.ndarray, np.ndarray]:
    """The latest settlement known at each bar's close and its z-score over the last
    ``funding_z_events`` settlements; NaN where none is known or the latest is stale."""
    n = len(open_time)
    if funding is None or funding.empty:
        return np.full(n, np.nan), np.full(n, np.nan)
    times = funding["funding_time"].to_numpy(np.int64)
    rates = funding["rate"].to_numpy(np.float64)
    if (np.diff(times) < 0).any():  # stored reads come in time order already
        order = np.argsort(times, kind="stable")
        times, rates = times[order], rates[order]
    z = _rolling_z(rates, p.funding_z_events)
    known = open_time + step_ms - 1
    idx = np.searchsorted(times, known, "right") - 1
    fresh = (idx >= 0) & (known - times[np.maximum(idx, 0)] <= p.funding_max_age_hours * HOUR_MS)
    at = np.maximum(idx, 0)
    return (
        np.where(fresh, rates[at] * 10_000, np.nan),
        np.where(fresh, z[at], np.nan),
    )


# A live tick reads each symbol's settlements over the same span as the tick before, and
# they change only when a settlement joins or leaves it (every few hours): their z-scores are
# kept per process, keyed by the rates themselves, so a kept result is the computed one.
KEEP_Z_RATES = 4096


def _rolling_z(rates: np.ndarray, window: int) -> np.ndarray:
    """Each rate's z-score against the last ``window`` rates (pandas' rolling mean and sample
    std: its rounding residue over a constant stretch is what the batch trained on)."""
    if len(rates) > KEEP_Z_RATES:
        return _z_scores(rates, window)
    return _kept_z_scores(np.ascontiguousarray(rates, np.float64).tobytes(), window)


@lru_cache(maxsize=128)
def _kept_z_scores(rates: bytes, window: int) -> np.ndarray:
    z = _z_scores(np.frombuffer(rates, np.float64), window)
    z.flags.writeable = False  # shared by every caller that reads these rates
    return z


def _z_scores(rates: np.ndarray, window: int) -> np.ndarray:
    series = pd.Series(rates)
    roll = series.rolling(window, min_periods=window)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = ((series - roll.mean()) / roll.std()).to_numpy(copy=True)
    z[~np.isfinite(z)] = np.nan
    return z


def symbol_frame(
    candles: pd.DataFrame,
    funding: pd.DataFrame | None,
    interval: str,
    p: UniverseParams | None = None,
) -> pd.DataFrame:
    """One symbol's own scale-free columns, indexed by open_time (epoch ms); plus ``vol`` (the
    volatility unit) and ``close``, which the context and the targets use, and the bar's
    ``low`` and ``high`` (never inputs: whether a maker entry filled, ``fills``)."""
    p = p or UniverseParams()
    step = interval_ms(interval)
    t = candles["open_time"].to_numpy(np.int64)
    h = candles["high"].to_numpy(np.float64)
    lo = candles["low"].to_numpy(np.float64)
    c = candles["close"].to_numpy(np.float64)
    v = candles["volume"].to_numpy(np.float64)
    out: dict[str, np.ndarray] = {}
    r1 = log_returns(c, 1)
    vol = volatility(c, p.vol_window)  # NaN over a flat stretch (zero-volume listing hours)
    with np.errstate(divide="ignore", invalid="ignore"):
        for k in p.return_bars:
            out[f"ret_{k}_z"] = log_returns(c, k) / (vol * np.sqrt(k))
        bar_range = np.log(h / lo)
        out["range_z"] = bar_range / vol
        out["range_24_z"] = np.log(talib.MAX(h, p.range_window) / talib.MIN(lo, p.range_window)) / (
            vol * np.sqrt(p.range_window)
        )
        out["vol_ratio"] = np.log(_rolling_std(r1, p.fast_vol_window) / vol)
        out["rsi_14"] = (talib.RSI(c, 14) - 50.0) / 50.0
        out["adx_14"] = talib.ADX(h, lo, c, 14) / 100.0
        out["er_24"] = kaufman_efficiency_ratio(c, 24)
        hi24, lo24 = talib.MAX(h, p.range_window), talib.MIN(lo, p.range_window)
        out["range_pos_24"] = np.where(hi24 > lo24, (c - lo24) / (hi24 - lo24), 0.5)
        for n in p.sma_periods:
            out[f"sma_{n}_dist_z"] = np.log(c / talib.SMA(c, n)) / (vol * np.sqrt(n))
        # Zero-volume bars (right after a listing) have no log volume: NaN, not -inf.
        lv = np.log(np.where(v > 0, v * c, np.nan))
        roll = pd.Series(lv).rolling(p.volume_window, min_periods=p.volume_window // 2)
        # (a window of the last volume_window bars: NaN bars inside it are skipped, so the
        # value depends on those bars alone)
        out["volume_z"] = ((pd.Series(lv) - roll.mean()) / roll.std()).to_numpy(copy=True)
    rate, z = _funding_asof(t, step, funding, p)
    out["funding_bps"] = rate
    out[f"funding_z_{p.funding_z_events}"] = z
    values = np.column_stack(list(out.values()))
    values[np.isinf(values)] = np.nan
    # One block, built once: a live tick builds this frame for every symbol it serves.
    return pd.DataFrame(
        np.column_stack([values, vol, c, lo, h]),
        index=pd.Index(t, name="open_time"),
        columns=[*out, "vol", "close", "low", "high"],
    )


def symbol_row(
    candles: pd.DataFrame,
    funding: pd.DataFrame | None,
    interval: str,
    p: UniverseParams | None = None,
) -> pd.DataFrame:
    """The last row of ``symbol_frame`` alone, as a one-row frame: what live inference reads of
    every symbol at a bar. Each windowed column is computed on its window's values only,
    the TA-Lib smoothers (RSI, ADX) on the whole span as the batch does; equal to the batch's
    last row (to 1e-9, tested at every bar of real series) at a tenth of its cost, since
    pandas' rolling machinery and a frame of ``warmup`` rows are not built."""
    p = p or UniverseParams()
    t = candles["open_time"].to_numpy(np.int64)[-1:]
    h = candles["high"].to_numpy(np.float64)
    lo = candles["low"].to_numpy(np.float64)
    c = candles["close"].to_numpy(np.float64)
    v = candles["volume"].to_numpy(np.float64)
    nan = np.nan
    with np.errstate(divide="ignore", invalid="ignore"):
        r1 = np.log(c[-p.vol_window - 1 :] / np.r_[nan, c[-p.vol_window - 1 : -1]])[1:]
        vol = _window_std(r1, p.vol_window)
        vol = vol if vol > 0 else nan
        out: dict[str, float] = {}
        for k in p.return_bars:
            ret = np.log(c[-1] / c[-1 - k]) if len(c) > k else nan
            out[f"ret_{k}_z"] = ret / (vol * np.sqrt(k))
        out["range_z"] = np.log(h[-1] / lo[-1]) / vol
        w = p.range_window
        hi24, lo24 = (h[-w:].max(), lo[-w:].min()) if len(c) >= w else (nan, nan)
        out["range_24_z"] = np.log(hi24 / lo24) / (vol * np.sqrt(w))
        out["vol_ratio"] = np.log(_window_std(r1, p.fast_vol_window) / vol)
        out["rsi_14"] = (talib.RSI(c, 14)[-1] - 50.0) / 50.0
        out["adx_14"] = talib.ADX(h, lo, c, 14)[-1] / 100.0
        out["er_24"] = kaufman_efficiency_ratio(c[-25:], 24)[-1] if len(c) >= 25 else nan
        # (no 24-bar range yet: NaN > NaN is False, so 0.5, as the batch's ``where`` gives it)
        out["range_pos_24"] = (c[-1] - lo24) / (hi24 - lo24) if hi24 > lo24 else 0.5
        for n in p.sma_periods:
            sma = c[-n:].mean() if len(c) >= n else nan
            out[f"sma_{n}_dist_z"] = np.log(c[-1] / sma) / (vol * np.sqrt(n))
        lv = np.log(
            np.where(v[-p.volume_window :] > 0, v[-p.volume_window :] * c[-p.volume_window :], nan)
        )
        present = lv[~np.isnan(lv)]
        enough = len(present) >= p.volume_window // 2 and not np.isnan(lv[-1])
        out["volume_z"] = (lv[-1] - present.mean()) / present.std(ddof=1) if enough else nan
    # Funding through the batch's own function: pandas' rolling z-score of a constant stretch
    # of rates is rounding residue, which only the same computation reproduces.
    rate, z = _funding_asof(t, interval_ms(interval), funding, p)
    out["funding_bps"] = rate[0]
    out[f"funding_z_{p.funding_z_events}"] = z[0]
    values = np.array([*out.values(), vol, c[-1], lo[-1], h[-1]], dtype=np.float64)
    values[:-2][np.isinf(values[:-2])] = nan
    return pd.DataFrame(
        values[None, :],
        index=pd.Index(t, name="open_time"),
        columns=[*out, "vol", "close", "low", "high"],
    )


def _window_std(x: np.ndarray, window: int) -> float:
    """The sample standard deviation of the last ``window`` values; NaN unless all are there
    (pandas' ``rolling(window).std()`` at the last row)."""
    tail = x[-window:]
    if len(tail) < window or np.isnan(tail).any():
        return np.nan
    return float(tail.std(ddof=1))


def pooled_frame(
    frames: Mapping[str, pd.DataFrame],
    p: UniverseParams | None = None,
    only: str | None = None,
) -> pd.DataFrame:
    """Stack every symbol's ``symbol_frame`` and add the market context at each bar: one row
    per (open_time, symbol), sorted by time then symbol, with a ``symbol`` column.

    Context at bar t is computed across the symbols that have a bar at t and whose own
    columns are defined there (past their warm-up), so a symbol listed yesterday joins the
    ranks only once its returns are measurable. It reads the rows at t alone, so stacking
    only the bars from some time on gives those bars' rows unchanged (live inference stacks
    one bar a symbol).

    Computed on the stacked arrays (one sort, then per-bar sums by ``bincount``): the same
    figures as pandas' group-by (mean and sample std skipping NaN, average ranks as a
    fraction of the values present), tested against it, at a cost that does not grow with
    the number of calls: a live tick makes one call per symbol. ``only``: that symbol's rows
    alone (the context still computed across all)."""
    p = p or UniverseParams()
    names = list(frames)
    parts = list(frames.values())
    columns = list(parts[0].columns) if parts else []
    times = np.concatenate([f.index.to_numpy(np.int64) for f in parts] or [np.zeros(0, np.int64)])
    which = np.repeat(np.arange(len(parts)), [len(f) for f in parts])
    by_name = np.argsort(np.argsort(np.array(names, dtype=object)))  # each symbol's sort place
    order = np.lexsort((by_name[which], times))
    times, which = times[order], which[order]
    stacked = np.concatenate([f.to_numpy(np.float64) for f in parts])[order] if parts else None
    values = {c: stacked[:, i] for i, c in enumerate(columns)}
    out: dict[str, np.ndarray] = dict(values)
    group = np.cumsum(np.r_[True, times[1:] != times[:-1]]) - 1 if len(times) else which
    r24 = values.get("ret_24_z", np.zeros(0))
    with np.errstate(invalid="ignore", divide="ignore"):
        up = np.where(np.isnan(r24), np.nan, (r24 > 0).astype(np.float64))
        out["breadth_24"] = _group_mean(up, group)
        out["dispersion_24"] = _group_std(r24, group)
        out["market_ret_24_z"] = _group_mean(r24, group)
        for k in p.rank_bars:
            col = values[f"ret_{k}_z"]
            out[f"rank_ret_{k}"] = _group_rank_pct(col, group)
            out[f"rel_ret_{k}_z"] = col - _group_mean(col, group)
    btc_columns = ["ret_4_z", "ret_24_z", "er_24", "adx_14"]
    btc = _rows_at(frames.get(CONTEXT_SYMBOL), btc_columns, times)
    for i, c in enumerate(btc_columns):
        out[f"btc_{c}"] = btc[:, i]
    keep = slice(None)
    if only is not None:
        keep = np.flatnonzero(which == names.index(only)) if only in names else which[:0]
    # One float block, then the two keys in front: a live tick makes this frame per symbol.
    block = np.column_stack(list(out.values()))[keep] if len(times) else np.zeros((0, len(out)))
    frame = pd.DataFrame(block, columns=list(out))
    frame.insert(0, "symbol", np.array(names, dtype=object)[which[keep]] if names else [])
    frame.insert(0, "open_time", times[keep])
    return frame


def _rows_at(frame: pd.DataFrame | None, columns: list[str], times: np.ndarray) -> np.ndarray:
    """``frame``'s ``columns`` at each of ``times`` (its index, in time order), NaN where it
    has no such bar."""
    out = np.full((len(times), len(columns)), np.nan)
    if frame is None or not len(frame):
        return out
    index = frame.index.to_numpy(np.int64)
    at = np.minimum(np.searchsorted(index, times), len(index) - 1)
    hit = index[at] == times
    picked = frame.to_numpy(np.float64)[:, frame.columns.get_indexer(columns)]
    out[hit] = picked[at[hit]]
    return out


def _group_mean(x: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Each row's group mean of the values present (NaN where none is)."""
    present = ~np.isnan(x)
    n = np.bincount(group, present)
    total = np.bincount(group, np.where(present, x, 0.0))
    return (total / np.where(n > 0, n, np.nan))[group]


def _group_std(x: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Each row's group sample standard deviation (ddof 1) of the values present, from the
    deviations around the group mean (NaN below two values)."""
    present = ~np.isnan(x)
    n = np.bincount(group, present)
    deviation = np.where(present, x - _group_mean(x, group), 0.0)
    squares = np.bincount(group, deviation * deviation)
    return np.sqrt(squares / np.where(n > 1, n - 1, np.nan))[group]


def _group_rank_pct(x: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Each value's rank within its group (ties share the mean of their places), divided by
    the count of values present; NaN stays NaN."""
    out = np.full(len(x), np.nan)
    present = np.flatnonzero(~np.isnan(x))
    if not len(present):
        return out
    g, v = group[present], x[present]
    order = np.lexsort((v, g))
    g, v = g[order], v[order]
    place = np.arange(len(v))
    first_of_group = np.r_[True, g[1:] != g[:-1]]
    group_start = np.maximum.accumulate(np.where(first_of_group, place, 0))
    new_run = first_of_group | np.r_[True, v[1:] != v[:-1]]
    run = np.cumsum(new_run) - 1
    run_start = place[new_run]
    run_end = np.r_[run_start[1:], len(v)] - 1
    rank = (run_start + run_end)[run] / 2.0 - group_start + 1.0
    count = np.bincount(g)[g]
    out[present[order]] = rank / count
    return out


def forward_return_z(frame: pd.DataFrame, horizon: int) -> np.ndarray:
    """Per symbol: the log return from a bar's close to the close ``horizon`` bars later, in
    units of the volatility known at the bar (NaN where the future is not yet known)."""
    c = frame["close"].to_numpy(np.float64)
    out = np.full(len(c), np.nan)
    if len(c) > horizon:
        out[:-horizon] = np.log(c[horizon:] / c[:-horizon])
    return out / (frame["vol"].to_numpy() * np.sqrt(horizon))
