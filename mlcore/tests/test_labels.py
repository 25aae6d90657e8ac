from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlcore.pipeline.common.alignment import check_alignment, training_rows
from mlcore.pipeline.common.labels import BarrierParams, triple_barrier
from mlcore.pipeline.features import build_features, make_spec

H = 3_600_000


def path(closes: list[float], spread: float = 0.5) -> pd.DataFrame:
    """Hand-built candles: each bar opens at the previous close, wicks ``spread`` either side."""
    close = np.asarray(closes, dtype=float)
    open_ = np.r_[close[0], close[:-1]]
    return pd.DataFrame(
        {
            "open_time": np.arange(len(close), dtype=np.int64) * H,
            "open": open_,
            "high": np.maximum(open_, close) + spread,
            "low": np.minimum(open_, close) - spread,
            "close": close,
            "volume": 1.0,
        }
    )


# 15 flat bars give ATR(3) = 1.0 (range 1.0 each bar), so barriers at 2 ATR sit +/- 2 away.
FLAT = [100.0] * 15
PARAMS = BarrierParams(atr_period=3, upper_atr=2.0, lower_atr=2.0, horizon=5)


def test_upper_barrier_hit_is_a_buy_ending_at_the_touch():
    labels = triple_barrier(path([*FLAT, 100.5, 101.0, 102.0, 100.0, 100.0, 100.0]), PARAMS)
    t = 14  # entry at the last flat bar's close, barriers 98 / 102
    assert labels.upper.iloc[t] == pytest.approx(102.0) and labels.lower.iloc[t] == pytest.approx(
        98.0
    )
    assert labels.label.iloc[t] == 1
    assert labels.end_time.iloc[t] == 17 * H  # bar 17 closes at 102, high 102.5


def test_lower_barrier_hit_is_a_sell():
    labels = triple_barrier(path([*FLAT, 99.5, 98.0, 97.0, 97.0, 97.0, 97.0]), PARAMS)
    assert labels.label.iloc[14] == -1 and labels.end_time.iloc[14] == 16 * H


def test_no_touch_within_the_horizon_times_out_neutral():
    labels = triple_barrier(path([*FLAT, 100.2, 99.8, 100.3, 99.9, 100.1, 100.0, 100.0]), PARAMS)
    assert labels.label.iloc[14] == 0 and labels.end_time.iloc[14] == 19 * H


def test_both_barriers_in_one_bar_is_ambiguous_neutral():
    candles = path([*FLAT, 100.0, 100.0, 100.0, 100.0, 100.0, 100.0])
    candles.loc[15, ["high", "low"]] = [103.0, 97.0]
    assert triple_barrier(candles, PARAMS).label.iloc[14] == 0


def test_unknown_outcome_at_the_end_has_no_label():
    labels = triple_barrier(path([*FLAT, 100.0, 100.1]), PARAMS)
    assert np.isnan(labels.label.iloc[-1]) and labels.end_time.iloc[-1] == -1


def test_fee_aware_floor_widens_barriers_when_atr_is_tiny():
    candles = path([*FLAT, 100.0, 100.3, 100.4, 100.0, 100.0, 100.0], spread=0.01)
    plain = triple_barrier(candles, PARAMS)
    paying = triple_barrier(
        candles, BarrierParams(3, 2.0, 2.0, 5, round_trip_cost=0.001, min_edge=0.004)
    )
    assert plain.label.iloc[14] == 1  # 0.04 of ATR barriers: a 0.3 move is a "buy"...
    assert paying.upper.iloc[14] == pytest.approx(100.5)  # ...but it cannot pay 0.5 % of costs
    assert paying.label.iloc[14] == 0


def test_alignment_passes_on_real_data_and_names_what_breaks(btc):
    candles, funding = btc
    spec = make_spec("1h", columns=candles.columns, funding=funding)
    features = build_features(candles, funding, spec=spec)
    labels = triple_barrier(candles)
    report = check_alignment(features, labels)
    assert report.ok, str(report)
    x, y = training_rows(features, labels)
    assert len(x) == len(y) and set(y.unique()) <= {-1, 0, 1} and len(x) > 10_000

    broken = features.frame.copy()
    broken["rsi_14"] = 50.0
    broken.iloc[5000, broken.columns.get_loc("macd")] = np.nan
    bad = check_alignment(type(features)(broken, spec), labels)
    assert not bad.ok
    assert "constant features: rsi_14" in str(bad)
    assert "macd is NaN after the warm-up" in str(bad)
    short = check_alignment(features, triple_barrier(candles.iloc[:-10]))
    assert "index differs" in str(short)
