"""Incremental features for live inference: a new closed bar costs its own update.

``build_features`` computes every feature over a whole window; live inference used to call it
on the last ``spec.warmup`` (1,621) bars for every new bar. ``LiveFeatures`` keeps, per series,
what the next bar needs instead:
- the recurrences of TA-Lib's exponential smoothers carried forward (EMA, Wilder's RSI, ATR,
  the ADX family's smoothed sums, MACD and its signal line, OBV, the Supertrend's ratchet);
- the last few hundred bars in contiguous rings, so a finite-window feature is one TA-Lib call
  (or a few numpy operations) on the slice its window covers;
- the 4h/1d buckets being filled, with the higher-timeframe features recomputed only when a
  bucket closes;
- the funding settlements of the last days.

Equal to the batch: over 10,000 consecutive bars of real data every feature of the spec equals
``build_features``'s value to 1e-9 relative (1e-12 absolute near zero, the tolerance the tail
window already meets), tested in ``mlcore/tests/test_live_features.py``. The smoothers are seeded
at the first bar the state is given and have forgotten their seed to 1e-13 after the warm-up,
exactly as a tail-window computation does; the state therefore needs ``spec.warmup`` bars before
its rows are used (``ready``).

Bars must come in order without a hole: ``push`` refuses any other bar (``NotNext``), and the
caller then rebuilds from a full read (see ``mlcore.live_state`` for how a change to stored
history is detected).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import talib

from analysis.indicators import (
    bollinger,
    garman_klass_volatility,
    kaufman_efficiency_ratio,
    parkinson_volatility,
    rolling_vwap,
    skew_kurt_from_sums,
    zscore,
)
from analysis.intervals import interval_ms
from mlcore.pipeline.features import derivatives, timeframes
from mlcore.pipeline.features.bars import OPTIONAL, Bars
from mlcore.pipeline.features.derivatives import Funding
from mlcore.pipeline.features.momentum import stoch, stochrsi
from mlcore.pipeline.features.spec import FeatureSpec

DAY_MS = 86_400_000
WEEK_MS, MONDAY_MS = 7 * DAY_MS, 3 * DAY_MS  # as in returns.py: weeks start on Monday
FUNDING_KEEP_MS = 12 * DAY_MS  # a week of cumulative funding, with room
FUNDING_KEEP_EVENTS = 48  # the z-score's 30 settlements, with room


class NotNext(ValueError):
    """A bar that is not the one after the state's last: the state must be rebuilt."""


def _is_zero(x: float) -> bool:
    return -1e-8 < x < 1e-8  # TA-Lib's TA_IS_ZERO


class Ring:
    """The last ``size`` values of a series, readable as one contiguous slice: every value is
    written twice, ``size`` apart, so the newest ``k`` always sit side by side."""

    __slots__ = ("buf", "count", "pos", "size")

    def __init__(self, size: int) -> None:
        self.size = size
        self.buf = np.full(2 * size, np.nan)
        self.pos = size - 1  # where the newest value sits (in the upper copy)
        self.count = 0

    def push(self, x: float) -> None:
        self.pos = self.pos + 1 if self.pos + 1 < 2 * self.size else self.size
        self.buf[self.pos] = x
        self.buf[self.pos - self.size] = x
        self.count += 1

    def last(self, k: int) -> np.ndarray:
        """The newest ``k`` values, oldest first (NaN where fewer were pushed)."""
        return self.buf[self.pos - k + 1 : self.pos + 1]

    def ago(self, k: int) -> float:
        """The value ``k`` pushes back (0: the newest)."""
        return float(self.buf[self.pos - k]) if k < self.count else math.nan


class Ema:
    """TA-Lib's EMA step; seeded with the first value."""

    __slots__ = ("k", "value")

    def __init__(self, period: int) -> None:
        self.k = 2.0 / (period + 1)
        self.value = math.nan

    def push(self, x: float) -> float:
        self.value = x if math.isnan(self.value) else (x - self.value) * self.k + self.value
        return self.value


class Wilder:
    """Wilder's average, as TA-Lib's ATR steps it: (prev * (n - 1) + x) / n."""

    __slots__ = ("n", "value")

    def __init__(self, period: int) -> None:
        self.n = period
        self.value = math.nan

    def push(self, x: float) -> float:
        if math.isnan(self.value):
            self.value = x
        else:
            self.value = (self.value * (self.n - 1) + x) / self.n
        return self.value


class Rsi:
    """TA-Lib's RSI step: Wilder-averaged gains and losses."""

    __slots__ = ("gain", "loss", "n", "value")

    def __init__(self, period: int) -> None:
        self.n, self.gain, self.loss, self.value = period, math.nan, math.nan, math.nan

    def push(self, change: float) -> float:
        if math.isnan(change):
            return self.value
        up, down = (change, 0.0) if change >= 0 else (0.0, -change)
        if math.isnan(self.gain):
            self.gain, self.loss = up, down
        else:
            n = self.n
            self.gain = (self.gain * (n - 1) + up) / n
            self.loss = (self.loss * (n - 1) + down) / n
        total = self.gain + self.loss
        self.value = 100.0 * (self.gain / total) if not _is_zero(total) else 0.0
        return self.value


class Adx:
    """TA-Lib's DM/TR sums (s - s/n + x), +DI/-DI, and ADX as Wilder's average of DX."""

    __slots__ = ("adx", "history", "minus_di", "minus_dm", "n", "plus_di", "plus_dm", "tr")

    def __init__(self, period: int) -> None:
        self.n = period
        self.plus_dm = self.minus_dm = self.tr = math.nan
        self.plus_di = self.minus_di = self.adx = math.nan
        self.history = Ring(period)  # ADXR averages ADX now and period - 1 bars back

    def push(self, high: float, low: float, prev_high: float, prev_low: float, tr: float) -> None:
        n = self.n
        up, down = high - prev_high, prev_low - low
        plus = up if (up > 0 and up > down) else 0.0
        minus = down if (down > 0 and up < down) else 0.0
        if math.isnan(self.tr):
            self.plus_dm, self.minus_dm, self.tr = plus * n, minus * n, tr * n
        else:
            self.plus_dm = self.plus_dm - self.plus_dm / n + plus
            self.minus_dm = self.minus_dm - self.minus_dm / n + minus
            self.tr = self.tr - self.tr / n + tr
        if not _is_zero(self.tr):
            self.plus_di = 100.0 * (self.plus_dm / self.tr)
            self.minus_di = 100.0 * (self.minus_dm / self.tr)
            total = self.plus_di + self.minus_di
            if not _is_zero(total):
                dx = 100.0 * (abs(self.minus_di - self.plus_di) / total)
                self.adx = dx if math.isnan(self.adx) else (self.adx * (n - 1) + dx) / n
        self.history.push(self.adx)

    @property
    def adxr(self) -> float:
        return (self.adx + self.history.ago(self.n - 1)) / 2.0


class Supertrend:
    """The ratchet of ``analysis.indicators._supertrend``, one bar at a time."""

    __slots__ = ("direction", "line", "lower", "multiplier", "trend", "upper")

    def __init__(self, multiplier: float) -> None:
        self.multiplier = multiplier
        self.upper = self.lower = math.nan
        self.trend, self.direction, self.line = 1.0, math.nan, math.nan

    def push(self, high: float, low: float, close: float, prev_close: float, atr: float) -> None:
        if math.isnan(atr):
            return
        mid = (high + low) / 2.0
        basic_upper = mid + self.multiplier * atr
        basic_lower = mid - self.multiplier * atr
        if math.isnan(self.upper):
            self.upper, self.lower = basic_upper, basic_lower
        else:
            if basic_upper < self.upper or prev_close > self.upper:
                self.upper = basic_upper
            if basic_lower > self.lower or prev_close < self.lower:
                self.lower = basic_lower
        if self.trend > 0 and close < self.lower:
            self.trend = -1.0
        elif self.trend < 0 and close > self.upper:
            self.trend = 1.0
        self.direction = self.trend
        self.line = self.lower if self.trend > 0 else self.upper


class HigherTimeframe:
    """Complete ``htf_ms`` candles built from the base bars, and the CORE features on them,
    recomputed when a bucket closes. A bucket with a missing bar is never complete, as in
    ``timeframes.resample``."""

    def __init__(self, label: str, htf_ms: int, step_ms: int, keep: int) -> None:
        self.label, self.htf_ms, self.step_ms = label, htf_ms, step_ms
        self.per_bucket = htf_ms // step_ms
        self.keep = keep  # higher candles the CORE windows need
        self.rows: dict[str, Ring] = {c: Ring(keep) for c in ("open", "high", "low", "close")}
        self.times = Ring(keep)
        self.values: dict[str, float] = {name: math.nan for name, _, _ in timeframes.CORE}

    def push(self, open_time: int, base: dict[str, Ring], filled: int) -> None:
        """``filled``: how many consecutive bars, up to this one, the base rings hold."""
        if (open_time + self.step_ms) % self.htf_ms or filled < self.per_bucket:
            return
        k = self.per_bucket
        self.rows["open"].push(base["open"].ago(k - 1))
        self.rows["high"].push(float(base["high"].last(k).max()))
        self.rows["low"].push(float(base["low"].last(k).min()))
        self.rows["close"].push(base["close"].ago(0))
        self.times.push(float(open_time + self.step_ms - self.htf_ms))
        n = min(self.times.count, self.keep)
        htf = Bars(
            open_time=self.times.last(n).astype(np.int64),
            open=self.rows["open"].last(n),
            high=self.rows["high"].last(n),
            low=self.rows["low"].last(n),
            close=self.rows["close"].last(n),
            volume=np.zeros(n),  # no CORE feature reads volume
            step_ms=self.htf_ms,
        )
        with np.errstate(divide="ignore", invalid="ignore"):
            for name, _, compute in timeframes.CORE:
                self.values[name] = float(compute(htf)[-1])


@dataclass(frozen=True)
class _Plan:
    """What the spec asks of the state: the periods each recurrence runs at."""

    rsi: tuple[int, ...]
    ema: tuple[int, ...]
    ring: int  # base bars (and 1-bar returns) kept for the finite windows
    obv: int
    slope: int


def _plan(spec: FeatureSpec) -> _Plan:
    p = spec.params
    emas = {*p.ema_periods, *p.ema_slope_periods, 12, 26, 20}
    longest = max(
        *p.sma_periods,
        *p.extreme_windows,
        *p.volume_windows,
        *(w + 1 for w in p.hv_windows),
        *(w + 1 for w in p.moment_windows),
        *(n + 1 for n in p.roc_horizons),
        *(n + 1 for n in p.return_horizons),
        *(w + 1 for w in p.er_windows),
        *(w + 1 for w in p.obv_windows),
        52 + 26,  # Ichimoku's span B, drawn 26 bars ahead
        2 * (p.range_window + 1),
    )
    return _Plan(
        rsi=tuple(sorted({*p.rsi_periods, 14})),
        ema=tuple(sorted(emas)),
        ring=longest + 2,
        obv=max(p.obv_windows) + 1,
        slope=p.slope_bars + 1,
    )


class LiveFeatures:
    """One series' feature state. ``push`` a closed bar, then ``row()`` is its features."""

    def __init__(self, spec: FeatureSpec, columns: list[str] | tuple[str, ...]) -> None:
        self.spec = spec
        self.step = interval_ms(spec.interval)
        self.plan = _plan(spec)
        self.columns = [c for c in OPTIONAL if c in columns]
        size = self.plan.ring
        self.base = {c: Ring(size) for c in ("open", "high", "low", "close", "volume")}
        self.base |= {c: Ring(size) for c in self.columns}
        self.logret = Ring(size)
        self.last_time: int | None = None
        self.bars = 0  # bars pushed, each the one after the last (``push`` refuses others)
        self._bar: Bars | None = None  # the newest bar as Bars, for the funding features
        self.rsi = {n: Rsi(n) for n in self.plan.rsi}
        self.rsi_14 = Ring(16)  # StochRSI's window over RSI(14)
        self.ema = {n: Ema(n) for n in self.plan.ema}
        self.ema_rings = {n: Ring(self.plan.slope) for n in spec.params.ema_slope_periods}
        self.macd_signal = Ema(9)
        self.macd = math.nan
        self.atr = {n: Wilder(n) for n in (14, 10)}
        self.atr_14 = Ring(100)  # atr_rel_100's mean of ATR(14)
        self.adx = Adx(14)
        self.supertrend = Supertrend(3.0)
        self.obv = math.nan
        self.obv_ring = Ring(self.plan.obv)
        self.htf = [
            HigherTimeframe(label, interval_ms(label), self.step, _htf_keep())
            for label in spec.params.higher_timeframes
            if interval_ms(label) > self.step and interval_ms(label) % self.step == 0
        ]
        self.funding: pd.DataFrame | None = None
        self._funding_defs: dict | None = None
        self._compute = [self._feature(name) for name in spec.features]

    # -- feeding -----------------------------------------------------------------------------

    @classmethod
    def from_window(
        cls, spec: FeatureSpec, candles: pd.DataFrame, funding: pd.DataFrame | None
    ) -> LiveFeatures:
        """A state that has seen every bar of ``candles`` (at least ``spec.warmup`` of them
        for its rows to equal the batch's)."""
        state = cls(spec, list(candles.columns))
        state.add_funding(funding)
        state.push_frame(candles)
        return state

    def add_funding(self, funding: pd.DataFrame | None) -> None:
        """Settlements to know from now on (repeats are dropped)."""
        if funding is None or funding.empty:
            return
        merged = funding[["funding_time", "rate"]]
        if self.funding is not None:
            merged = pd.concat([self.funding, merged])
        merged = merged.drop_duplicates("funding_time", keep="last").sort_values("funding_time")
        newest = int(merged["funding_time"].iloc[-1])
        keep = (merged["funding_time"] >= newest - FUNDING_KEEP_MS).to_numpy(copy=True)
        keep[-FUNDING_KEEP_EVENTS:] = True
        self.funding = merged[keep].reset_index(drop=True)
        f = Funding.from_frame(self.funding)
        self._funding_defs = {
            d.name: d for d in derivatives.definitions(self.spec.params, f, self.step)
        }

    def bars_of(self, candles: pd.DataFrame):
        """``candles``' rows as ``push`` takes them."""
        columns = ["open_time", "open", "high", "low", "close", "volume", *self.columns]
        return candles[columns].itertuples(index=False, name=None)

    def push_frame(self, candles: pd.DataFrame) -> None:
        for values in self.bars_of(candles):
            self.push(*values)

    def push(self, open_time: int, *values: float) -> None:
        open_time = int(open_time)
        if self.last_time is not None and open_time != self.last_time + self.step:
            raise NotNext(f"bar {open_time} does not follow {self.last_time} by {self.step} ms")
        o, h, low, c, v, *extra = (float(x) for x in values)
        prev_close = self.base["close"].ago(0)
        prev_high, prev_low = self.base["high"].ago(0), self.base["low"].ago(0)
        for name, x in zip(
            ("open", "high", "low", "close", "volume"), (o, h, low, c, v), strict=True
        ):
            self.base[name].push(x)
        for name, x in zip(self.columns, extra, strict=True):
            self.base[name].push(x)
        self.last_time = open_time
        self.bars += 1
        self._bar = None
        first = math.isnan(prev_close)
        self.logret.push(math.nan if first else math.log(c / prev_close))
        tr = h - low if first else max(h, prev_close) - min(low, prev_close)

        change = math.nan if first else c - prev_close
        for rsi in self.rsi.values():
            rsi.push(change)
        self.rsi_14.push(self.rsi[14].value)
        for ema in self.ema.values():
            ema.push(c)
        for n, ring in self.ema_rings.items():
            ring.push(self.ema[n].value)
        self.macd = self.ema[12].value - self.ema[26].value
        self.macd_signal.push(self.macd)
        if not first:  # TA-Lib's ATR and ADX start at the second bar
            for atr in self.atr.values():
                atr.push(tr)
            self.atr_14.push(self.atr[14].value)
            self.adx.push(h, low, prev_high, prev_low, tr)
            self.supertrend.push(h, low, c, prev_close, self.atr[10].value)
        if first:
            self.obv = v
        elif c > prev_close:
            self.obv += v
        elif c < prev_close:
            self.obv -= v
        self.obv_ring.push(self.obv)
        for htf in self.htf:
            htf.push(open_time, self.base, self.bars)

    @property
    def ready(self) -> bool:
        """Enough bars that every feature has forgotten where the state started."""
        return self.bars >= self.spec.warmup

    # -- reading -----------------------------------------------------------------------------

    def row(self) -> np.ndarray:
        """The newest bar's features, in ``spec.features`` order (NaN for an undefined one)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.array([compute() for compute in self._compute], dtype=np.float64)
        out[np.isinf(out)] = np.nan
        return out

    def _tail(self, name: str, k: int) -> np.ndarray:
        return self.base[name].last(k)

    def _feature(self, name: str):  # one branch per feature family
        """The function that reads feature ``name`` off the state."""
        p = self.spec.params
        close = self.base["close"]
        tail = self._tail

        def c() -> float:
            return close.ago(0)

        if name.startswith("rsi_"):
            rsi = self.rsi[int(name[4:])]
            return lambda: rsi.value
        if name in ("macd", "macd_signal", "macd_hist"):
            return {
                "macd": lambda: self.macd / c(),
                "macd_signal": lambda: self.macd_signal.value / c(),
                "macd_hist": lambda: (self.macd - self.macd_signal.value) / c(),
            }[name]
        if name in ("stoch_k", "stoch_d"):
            which = 0 if name == "stoch_k" else 1
            return lambda: stoch(tail("high", 18), tail("low", 18), tail("close", 18))[which][-1]
        if name in ("stochrsi_k", "stochrsi_d"):
            which = 0 if name == "stochrsi_k" else 1

            def stoch_rsi() -> float:
                return stochrsi(self.rsi_14.last(7))[which][-1]

            return stoch_rsi
        if name == "cci_20":
            return lambda: talib.CCI(tail("high", 20), tail("low", 20), tail("close", 20), 20)[-1]
        if name == "willr_14":
            return lambda: talib.WILLR(tail("high", 14), tail("low", 14), tail("close", 14), 14)[-1]
        if name == "mfi_14":
            return lambda: talib.MFI(
                tail("high", 15), tail("low", 15), tail("close", 15), tail("volume", 15), 14
            )[-1]
        if name.startswith("roc_"):
            n = int(name[4:])
            return lambda: (c() - close.ago(n)) / close.ago(n)
        if name == "atr_14_pct":
            return lambda: self.atr[14].value / c()
        if name == "natr_14":
            return lambda: self.atr[14].value / c() * 100.0
        if name == "atr_rel_100":
            return lambda: self.atr[14].value / talib.SMA(self.atr_14.last(100), 100)[-1]
        if name in ("bb_width_20", "bb_pctb_20"):
            width = name == "bb_width_20"

            def bb() -> float:
                upper, middle, lower = (x[-1] for x in bollinger(tail("close", 20), 20, 2.0))
                if width:
                    return (upper - lower) / middle
                return (c() - lower) / (upper - lower) if upper > lower else 0.5

            return bb
        if name == "keltner_pos_20":
            return lambda: (c() - self.ema[20].value) / (2.0 * self.atr[10].value)
        if name == f"parkinson_{p.range_window}":
            w = p.range_window
            return lambda: parkinson_volatility(tail("high", w), tail("low", w), w)[-1]
        if name == f"garman_klass_{p.range_window}":
            w = p.range_window
            return lambda: garman_klass_volatility(
                tail("open", w), tail("high", w), tail("low", w), tail("close", w), w
            )[-1]
        if name.startswith("hv_"):
            w = int(name[3:])
            return lambda: talib.STDDEV(self.logret.last(w), w, 1.0)[-1] * math.sqrt(w / (w - 1))
        if name.startswith("close_sma_"):
            n = int(name[10:])
            return lambda: c() / talib.SMA(tail("close", n), n)[-1] - 1.0
        if name.startswith("close_ema_"):
            ema = self.ema[int(name[10:])]
            return lambda: c() / ema.value - 1.0
        if name.startswith("ema_slope_"):
            ring = self.ema_rings[int(name[10:])]
            return lambda: ring.ago(0) / ring.ago(p.slope_bars) - 1.0
        if name == "adx_14":
            return lambda: self.adx.adx
        if name == "adxr_14":
            return lambda: self.adx.adxr
        if name == "plus_di_14":
            return lambda: self.adx.plus_di
        if name == "minus_di_14":
            return lambda: self.adx.minus_di
        if name in ("aroon_up_25", "aroon_down_25"):
            which = 1 if name == "aroon_up_25" else 0
            return lambda: talib.AROON(tail("high", 26), tail("low", 26), 25)[which][-1]
        if name == "aroon_osc_25":
            return lambda: talib.AROONOSC(tail("high", 26), tail("low", 26), 25)[-1]
        if name == "supertrend_dir":
            return lambda: self.supertrend.direction
        if name == "supertrend_dist":
            return lambda: (c() - self.supertrend.line) / c()
        if name.startswith("ichimoku_"):
            return self._ichimoku(name[9:-5])
        if name.startswith("obv_slope_"):
            w = int(name[10:])

            def obv_slope() -> float:
                change = self.obv_ring.ago(0) - self.obv_ring.ago(w)
                traded = talib.SUM(tail("volume", w + 1), w + 1)[-1] - self.base["volume"].ago(0)
                if math.isnan(change):
                    return math.nan
                return change / traded if traded > 0 else 0.0

            return obv_slope
        if name.startswith("volume_z_"):
            w = int(name[9:])
            return lambda: zscore(np.log1p(tail("volume", w)), w)[-1]
        if name.startswith("vwap_dist_"):
            w = int(name[10:])
            return lambda: (
                c()
                / rolling_vwap(
                    tail("high", w), tail("low", w), tail("close", w), tail("volume", w), w
                )[-1]
                - 1.0
            )
        if name == "taker_buy_ratio":
            return lambda: self._taker(1)[-1]
        if name == "taker_buy_ratio_24":
            return lambda: talib.SMA(self._taker(24), 24)[-1]
        if name == "trades_z_24":
            return lambda: zscore(np.log1p(tail("trades", 24)), 24)[-1]
        if name.startswith(("funding", "hours_to_funding")):
            return lambda: self._funding_value(name)
        if name.startswith("logret_"):
            n = int(name[7:])
            return lambda: math.log(c() / close.ago(n)) if n < close.count else math.nan
        if name.startswith(("skew_", "kurt_")):
            return self._moment(name[:4], int(name[5:]))
        if name.startswith("er_"):
            w = int(name[3:])
            return lambda: kaufman_efficiency_ratio(tail("close", w + 1), w)[-1]
        if name.startswith(("dist_high_", "dist_low_")):
            high = name.startswith("dist_high_")
            w = int(name.rsplit("_", 1)[1])
            if high:
                return lambda: c() / float(tail("high", w).max()) - 1.0
            return lambda: c() / float(tail("low", w).min()) - 1.0
        if name in ("hour_sin", "hour_cos", "dow_sin", "dow_cos"):
            period, offset = (DAY_MS, 0) if name.startswith("hour") else (WEEK_MS, MONDAY_MS)
            fn = math.sin if name.endswith("sin") else math.cos

            def cycle() -> float:
                available = self.last_time + self.step - 1
                return fn(2 * np.pi * ((available + 1 + offset) % period) / period)

            return cycle
        for htf in self.htf:
            if name.startswith(htf.label + "_"):
                key = name[len(htf.label) + 1 :]
                return lambda htf=htf, key=key: htf.values[key]
        raise ValueError(f"no incremental form for feature {name!r}")

    def _taker(self, k: int) -> np.ndarray:
        volume = self._tail("volume", k)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(volume > 0, self._tail("taker_buy_base", k) / volume, 0.5)

    def _ichimoku(self, line: str):
        high, low = self.base["high"], self.base["low"]

        def mid(window: int, back: int) -> float:
            end = high.pos - back + 1
            h = high.buf[end - window : end]
            lo = low.buf[end - window : end]
            return (float(h.max()) + float(lo.min())) / 2.0

        def value() -> float:
            c = self.base["close"].ago(0)
            n = self.bars
            if line == "tenkan":
                v = mid(9, 0) if n >= 9 else math.nan
            elif line == "kijun":
                v = mid(26, 0) if n >= 26 else math.nan
            elif line == "senkou_a":
                v = (mid(9, 26) + mid(26, 26)) / 2.0 if n >= 26 + 26 else math.nan
            else:
                v = mid(52, 26) if n >= 52 + 26 else math.nan
            return c / v - 1.0

        return value

    def _moment(self, which: str, window: int):
        """Skew or kurtosis of the last ``window`` 1-bar returns, from their sums of powers
        as ``analysis.indicators.rolling_skew_kurt`` takes them."""
        index = 0 if which == "skew" else 1

        def value() -> float:
            x = self.logret.last(window)
            if np.isnan(x).any() or (x == x[-1]).all():
                return math.nan
            x2 = x * x
            sums = (math.fsum(x), math.fsum(x2), math.fsum(x2 * x), math.fsum(x2 * x2))
            return skew_kurt_from_sums(*sums, float(window))[index]

        return value

    def _funding_value(self, name: str) -> float:
        if self._funding_defs is None or name not in self._funding_defs:
            return math.nan
        if self._bar is None:  # one per bar: its memo shares the settlement lookup
            self._bar = Bars(
                open_time=np.array([self.last_time], dtype=np.int64),
                open=np.full(1, math.nan),
                high=np.full(1, math.nan),
                low=np.full(1, math.nan),
                close=np.array([self.base["close"].ago(0)]),
                volume=np.full(1, math.nan),
                step_ms=self.step,
            )
        return float(self._funding_defs[name].compute(self._bar)[-1])


def _htf_keep() -> int:
    """Higher candles the CORE features read: their longest memory, with room."""
    return max(memory for _, memory, _ in timeframes.CORE) + 4
