"""The hand-written indicators (TA-Lib has none of them) against values computed by hand on
short series, so a change of their arithmetic cannot pass unnoticed."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import talib
from numpy.testing import assert_allclose, assert_array_equal

from analysis.indicators import (
    _supertrend,
    bollinger,
    ichimoku,
    kaufman_efficiency_ratio,
    rolling_skew_kurt,
)

NAN = np.nan


def test_kaufman_efficiency_ratio_by_hand():
    # window 2: |net change| over 2 bars / the path walked in those 2 bars.
    # t=2: |10-10| / (1+1) = 0;  t=3: |12-11| / (1+2) = 1/3;  t=4: |13-10| / (2+1) = 1.
    close = np.array([10.0, 11.0, 10.0, 12.0, 13.0])
    assert_allclose(kaufman_efficiency_ratio(close, 2), [NAN, NAN, 0.0, 1 / 3, 1.0])
    # A flat window walked no path: 0, not a division by zero.
    assert kaufman_efficiency_ratio(np.full(4, 5.0), 2)[-1] == 0.0


def test_supertrend_by_hand():
    """ATR 1, multiplier 1, high/low half a point either side of the close (so the mid is the
    close). Bands: close +/- 1, ratcheting towards price; the trend flips when price closes
    through the band on the other side (bar 4: 11 < the lower band 12)."""
    close = np.array([10.0, 10.5, 12.0, 13.0, 11.0, 8.0, 7.0, 7.8, 8.5])
    direction, line = _supertrend(close + 0.5, close - 0.5, close, np.ones_like(close), 1.0)
    assert_array_equal(direction, [1, 1, 1, 1, -1, -1, -1, -1, 1])
    # Up: the lower band (9, 9.5, 11, 12); down: the upper band (12, 9, 8), which holds at 8
    # when price bounces to 7.8 (the band only ratchets down), so 8.5 closes through it and
    # the trend turns up on the lower band (7.5).
    assert_array_equal(line, [9.0, 9.5, 11.0, 12.0, 12.0, 9.0, 8.0, 8.0, 7.5])
    # No ATR yet: no value.
    direction, line = _supertrend(close, close, close, np.full_like(close, np.nan), 1.0)
    assert np.isnan(direction).all() and np.isnan(line).all()


def test_ichimoku_by_hand():
    """high = t+1, low = t: a window's mid is (high[t] + low[t-w+1]) / 2 = t + 1 - w/2.
    tenkan (2) = t; kijun (3) = t - 0.5; span A = (tenkan + kijun) / 2 = t - 0.25 and span B
    (4) = t - 1, each drawn 3 bars (kijun) ahead: at bar t they are t - 3.25 and t - 4."""
    t = np.arange(8, dtype=float)
    lines = ichimoku(t + 1, t, tenkan=2, kijun=3, senkou=4)
    assert_allclose(lines["tenkan"], [NAN, 1, 2, 3, 4, 5, 6, 7])
    assert_allclose(lines["kijun"], [NAN, NAN, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5])
    assert_allclose(lines["senkou_a"], [NAN] * 5 + [1.75, 2.75, 3.75])
    assert_allclose(lines["senkou_b"], [NAN] * 6 + [2.0, 3.0])


def _exact_moments(window: np.ndarray) -> tuple[float, float]:
    """Bias-corrected skew and excess kurtosis of one window, centred, in exact sums."""
    n = float(len(window))
    d = window - window.mean()
    m2 = math.fsum(d**2)
    skew = n * (n - 1) ** 0.5 / (n - 2) * math.fsum(d**3) / m2**1.5
    kurt = n * (n + 1) * (n - 1) * math.fsum(d**4) / ((n - 2) * (n - 3) * m2 * m2)
    return skew, kurt - 3 * (n - 1) ** 2 / ((n - 2) * (n - 3))


def test_rolling_skew_and_kurtosis_are_each_windows_own():
    """Heavy tails (a crash bar's fourth power entering and leaving the window) leave no error
    in the running sums: every window equals its exact value; pandas agrees to its drift."""
    rng = np.random.default_rng(7)
    x = rng.standard_t(3, 3000) * 0.01
    x[1500] = 0.4  # a 40% bar
    skew, kurt = rolling_skew_kurt(x, 24)
    assert np.isnan(skew[:23]).all() and np.isnan(kurt[:23]).all()
    for t in range(23, len(x), 7):
        exact = _exact_moments(x[t - 23 : t + 1])
        assert_allclose([skew[t], kurt[t]], exact, rtol=1e-9, atol=1e-12)
    rolling = pd.Series(x).rolling(24)
    assert_allclose(skew[23:], rolling.skew().to_numpy()[23:], rtol=1e-6, atol=1e-7)
    assert_allclose(kurt[23:], rolling.kurt().to_numpy()[23:], rtol=1e-6, atol=1e-7)
    # A window holding a NaN, or one value repeated (no shape), is NaN, as in pandas.
    flat = np.r_[np.full(30, 0.001), x[:10]]
    flat[35] = NAN
    s, k = rolling_skew_kurt(flat, 24)
    assert np.isnan(s[23:30]).all() and np.isnan(k[35:]).all()
    assert np.isfinite(s[30:35]).all()


def test_bollinger_bands_are_talibs_without_its_cancellation():
    rng = np.random.default_rng(3)
    close = 60_000 + np.cumsum(rng.normal(0, 50, 5000))
    upper, middle, _ = bollinger(close, 20, 2.0)
    t_upper, t_middle, _ = talib.BBANDS(close, 20, 2.0, 2.0, 0)
    assert_allclose(middle[19:], t_middle[19:], rtol=1e-12)
    assert_allclose(upper[19:], t_upper[19:], rtol=1e-9)
    for t in (19, 2000, 4999):  # each window's own population deviation, two-pass
        window = close[t - 19 : t + 1]
        assert_allclose(upper[t] - middle[t], 2.0 * window.std(), rtol=1e-12)
    assert np.isnan(upper[:19]).all()
