"""Feature benchmark on 1,000,000 bars: the full pipeline against the bare TA-Lib calls it makes.

    .venv/bin/python benchmarks/features.py [--bars 1000000]

1. Bars: ``benchmarks.bars.continuous_bars``, the real BTC 1h history as one long path.
2. Full pipeline: ``build_features`` for the whole spec, timed; meanwhile every TA-Lib function
   is wrapped so the time spent inside TA-Lib itself is summed: the limit.
3. Tail window: ``latest_row`` over the last ``spec.warmup`` bars (median of 50 runs), and the
   incremental state live inference keeps (``mlcore.pipeline.features.live``): one bar pushed
   and its row read, over 2,000 consecutive bars (p50 and p99), checked equal to the batch.
4. The same kind of indicator set in the ``ta`` package, where it is installed
   (``pip install ta==0.11.0``; pandas-ta is no longer installable from PyPI).
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import talib

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.bars import continuous_bars  # noqa: E402
from benchmarks.targets import Targets  # noqa: E402
from mlcore.pipeline.features import build_features, latest_row, make_spec  # noqa: E402
from mlcore.pipeline.features.live import LiveFeatures  # noqa: E402


class TalibClock:
    """Wraps every TA-Lib function so the seconds spent inside TA-Lib add up."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.calls = 0
        self._originals: dict[str, object] = {}

    def __enter__(self) -> TalibClock:
        for name in talib.get_functions():
            original = getattr(talib, name)
            self._originals[name] = original

            @functools.wraps(original)
            def timed(*args, __f=original, **kwargs):
                started = time.perf_counter()
                try:
                    return __f(*args, **kwargs)
                finally:
                    self.seconds += time.perf_counter() - started
                    self.calls += 1

            setattr(talib, name, timed)
        return self

    def __exit__(self, *exc: object) -> None:
        for name, original in self._originals.items():
            setattr(talib, name, original)


def ta_package_seconds(candles: pd.DataFrame) -> float | None:
    try:
        import ta
    except ImportError:
        return None
    h, low, c, v = candles["high"], candles["low"], candles["close"], candles["volume"]
    started = time.perf_counter()
    for n in (7, 14, 21):
        ta.momentum.RSIIndicator(c, n).rsi()
    macd = ta.trend.MACD(c)
    macd.macd(), macd.macd_signal(), macd.macd_diff()
    stoch = ta.momentum.StochasticOscillator(h, low, c)
    stoch.stoch(), stoch.stoch_signal()
    ta.momentum.StochRSIIndicator(c).stochrsi_k()
    ta.trend.CCIIndicator(h, low, c, 20).cci()
    for n in (1, 3, 6, 12, 24):
        ta.momentum.ROCIndicator(c, n).roc()
    ta.momentum.WilliamsRIndicator(h, low, c).williams_r()
    ta.volume.MFIIndicator(h, low, c, v).money_flow_index()
    ta.volatility.AverageTrueRange(h, low, c).average_true_range()
    bb = ta.volatility.BollingerBands(c)
    bb.bollinger_wband(), bb.bollinger_pband()
    ta.volatility.KeltnerChannel(h, low, c).keltner_channel_pband()
    for n in (10, 20, 50, 100, 200):
        ta.trend.SMAIndicator(c, n).sma_indicator()
    for n in (10, 20, 50, 100):
        ta.trend.EMAIndicator(c, n).ema_indicator()
    adx = ta.trend.ADXIndicator(h, low, c)
    adx.adx(), adx.adx_pos(), adx.adx_neg()
    aroon = ta.trend.AroonIndicator(h, low)
    aroon.aroon_up(), aroon.aroon_down()
    ichi = ta.trend.IchimokuIndicator(h, low)
    ichi.ichimoku_a(), ichi.ichimoku_b(), ichi.ichimoku_conversion_line(), ichi.ichimoku_base_line()
    ta.volume.OnBalanceVolumeIndicator(c, v).on_balance_volume()
    ta.volume.VolumeWeightedAveragePrice(h, low, c, v).volume_weighted_average_price()
    return time.perf_counter() - started


def live_row_ms(spec, candles: pd.DataFrame, funding: pd.DataFrame, batch: pd.DataFrame):
    """Push each bar after the warm-up into a live state and read its row; every row must
    equal the batch's (to 1e-9). Returns p50 and p99 of push + row in ms."""
    hour = 3_600_000
    settled = funding["funding_time"].to_numpy()
    seed_close = int(candles["open_time"].iloc[spec.warmup - 1]) + hour - 1
    state = LiveFeatures.from_window(
        spec, candles.iloc[: spec.warmup], funding[settled <= seed_close]
    )
    times, rows = [], []
    columns = ["open_time", "open", "high", "low", "close", "volume"]
    for values in candles[columns].iloc[spec.warmup :].itertuples(index=False, name=None):
        close = int(values[0]) + hour - 1
        started = time.perf_counter()
        new = (settled > close - hour) & (settled <= close)
        if new.any():  # a settlement at this bar's close, as a live fetch stores it
            state.add_funding(funding[new])
        state.push(*values)
        rows.append(state.row())
        times.append(time.perf_counter() - started)
    expected = batch.loc[candles["open_time"].iloc[spec.warmup :]].to_numpy()
    same = np.isclose(np.array(rows), expected, rtol=1e-9, atol=1e-12, equal_nan=True)
    if not same.all():
        raise SystemExit(f"live rows differ from the batch in {int((~same).sum())} values")
    return float(np.percentile(times, 50) * 1000), float(np.percentile(times, 99) * 1000)


def full_row_ms(spec, candles: pd.DataFrame, funding: pd.DataFrame) -> float:
    started = time.perf_counter()
    tail = candles.iloc[-spec.warmup :]
    close = int(tail["open_time"].iloc[-1]) + 3_600_000 - 1
    LiveFeatures.from_window(spec, tail, funding[funding["funding_time"] <= close])
    return (time.perf_counter() - started) * 1000


def group_profile(spec, candles: pd.DataFrame, funding: pd.DataFrame) -> None:
    """Each feature group's seconds on these bars, and the bare TA-Lib calls inside them, in
    the order the pipeline computes them (a group may reuse what an earlier one cached on the
    bars); the excess over TA-Lib is what a fix can win."""
    from mlcore.pipeline.features.bars import Bars
    from mlcore.pipeline.features.build import _funding, all_definitions

    step = 3_600_000
    bars = Bars.from_frame(candles, step)
    by_name = {d.name: d for d in all_definitions(spec.params, step, _funding(funding))}
    groups: dict[str, list[float]] = {}
    for name in spec.features:
        definition = by_name[name]
        group = definition.compute.__module__.rsplit(".", 1)[-1]
        with TalibClock() as clock:
            started = time.perf_counter()
            definition.compute(bars)
            seconds = time.perf_counter() - started
        total = groups.setdefault(group, [0.0, 0.0, 0])
        total[0] += seconds
        total[1] += clock.seconds
        total[2] += 1
    print("by group (seconds, TA-Lib inside, features):")
    for group, (seconds, inside, count) in sorted(groups.items(), key=lambda kv: -kv[1][0]):
        print(f"  {group:<12} {seconds:6.3f} s  TA-Lib {inside:6.3f} s  ({count} features)")


def output_seconds(rows: int, columns: int, dtype: type) -> float:
    """Writing a fresh output block of the pipeline's shape, a column at a time as the
    pipeline fills it, from columns already computed: what storing the result costs before
    anything is computed (the first touch of every page of the new block, then the copy)."""
    source = np.random.default_rng(0).random(rows)
    started = time.perf_counter()
    block = np.empty((rows, columns), dtype=dtype, order="F")
    for j in range(columns):
        block[:, j] = source
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--groups", action="store_true", help="also time each feature group")
    args = parser.parse_args()
    candles, funding = continuous_bars(args.bars)
    spec = make_spec("1h", columns=candles.columns, funding=funding)
    build_features(candles.iloc[:5000], funding, spec=spec)  # compile the numba kernels first
    # What the target leaves for everything else: writing the output block, measured as the
    # pipeline meets it (no other block held), the median of three.
    out64, out32 = (
        statistics.median(output_seconds(args.bars, len(spec.features), t) for _ in range(3))
        for t in (np.float64, np.float32)
    )

    with TalibClock() as clock:
        started = time.perf_counter()
        frame = build_features(candles, funding, spec=spec).frame
        full = time.perf_counter() - started
    assert frame.shape == (args.bars, len(spec.features))

    tail_candles = candles.iloc[-spec.warmup :]
    latest_row(tail_candles, funding, spec=spec)
    tail = []
    for _ in range(50):
        started = time.perf_counter()
        latest_row(tail_candles, funding, spec=spec)
        tail.append(time.perf_counter() - started)
    tail_ms = statistics.median(tail) * 1000

    print(
        f"features benchmark: {args.bars:,} bars, {len(spec.features)} features, "
        f"warm-up {spec.warmup} bars, {os.cpu_count()} CPUs"
    )
    print(f"full pipeline:            {full:8.2f} s  {args.bars / full:12,.0f} bars/s")
    print(f"bare TA-Lib calls inside: {clock.seconds:8.2f} s  ({clock.calls} calls)")
    targets = Targets()
    ratio = full / clock.seconds
    word = targets.check("pipeline <= 3x its bare TA-Lib calls", ratio <= 3)
    print(f"pipeline / bare TA-Lib:   {ratio:8.2f}x   (target <= 3x: {word})")
    print(
        f"writing the output alone: {out64:8.2f} s  ({out64 / clock.seconds:.2f}x TA-Lib) as "
        f"float64, {out32:.2f} s ({out32 / clock.seconds:.2f}x) as float32; the pipeline "
        f"less its output: {(full - out64) / clock.seconds:.2f}x TA-Lib"
    )
    word = targets.check("latest row < 5 ms", tail_ms < 5)
    print(f"tail-window latest row:   {tail_ms:8.2f} ms (median of 50; target < 5 ms: {word})")
    live_p50, live_p99 = live_row_ms(spec, candles.iloc[-(spec.warmup + 2000) :], funding, frame)
    word = targets.check("incremental latest row <= 1 ms (p50)", live_p50 <= 1.0)
    print(
        f"incremental latest row:   {live_p50:8.2f} ms p50, {live_p99:.2f} ms p99 over 2,000 bars "
        f"(target <= 1 ms: {word}; {full_row_ms(spec, candles, funding):.2f} ms to rebuild "
        "the state from a full window)"
    )
    ta_seconds = ta_package_seconds(candles)
    if ta_seconds is None:
        print("ta package: not installed, skipped (pip install ta==0.11.0)")
    else:
        print(
            f"ta package, ~52 of the same indicators: {ta_seconds:8.2f} s -> pipeline is "
            f"{ta_seconds / full:.1f}x faster with all {len(spec.features)} (target >= 10x: "
            f"{targets.check('>= 10x the ta package', ta_seconds / full >= 10)})"
        )
    if args.groups:
        group_profile(spec, candles, funding)
    targets.finish()


if __name__ == "__main__":
    main()
