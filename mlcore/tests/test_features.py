from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from mlcore.pipeline.features import (
    FeatureSpec,
    FeatureSpecMismatch,
    build_features,
    latest_row,
    make_spec,
)
from mlcore.pipeline.features.bars import Bars

H = 3_600_000
Compute = Callable[[pd.DataFrame, pd.DataFrame], pd.DataFrame]


def prefix(candles: pd.DataFrame, funding: pd.DataFrame, t: int):
    """What was knowable at bar t: candles up to t, settlements stamped by t's close."""
    close_ms = int(candles["open_time"].iloc[t]) + H - 1
    return candles.iloc[: t + 1], funding[funding["funding_time"] <= close_ms]


def prefix_violations(compute: Compute, candles, funding, cuts) -> dict[str, list[int]]:
    """Features whose value at bar t differs between data[:t+1] and the full history."""
    full = compute(candles, funding)
    bad: dict[str, list[int]] = {}
    for t in cuts:
        row = compute(*prefix(candles, funding, t)).iloc[-1]
        expected = full.iloc[t]
        same = np.isclose(
            row.to_numpy(), expected.to_numpy(), rtol=1e-9, atol=1e-12, equal_nan=True
        )
        for name in row.index[~same]:
            bad.setdefault(name, []).append(t)
    return bad


def cut_points(candles: pd.DataFrame, warmup: int) -> list[int]:
    """Early bars, bars around the warm-up, and bars at 4h/1d bucket edges, where a leak from
    a still-forming higher-timeframe candle would show."""
    times = candles["open_time"].to_numpy()
    last_of_day = [int(i) for i in np.flatnonzero((times + H) % 86_400_000 == 0)]
    first_of_4h = [int(i) for i in np.flatnonzero(times % (4 * H) == 0)]
    picks = {60, 250, warmup - 1, warmup + 7, len(candles) - 1}
    picks |= set(last_of_day[100:101] + last_of_day[300:301])
    picks |= set(first_of_4h[900:901] + [i + 2 for i in first_of_4h[1500:1501]])
    return sorted(p for p in picks if p < len(candles))


@pytest.mark.slow
@pytest.mark.parametrize("symbol", ["btc", "pepe"])
def test_every_feature_is_prefix_invariant(symbol, request):
    """The proof of no look-ahead, on real data, for every feature of the spec."""
    candles, funding = request.getfixturevalue(symbol)
    spec = make_spec("1h", columns=candles.columns, funding=funding)
    compute = lambda c, f: build_features(c, f, spec=spec).frame  # noqa: E731
    assert prefix_violations(compute, candles, funding, cut_points(candles, spec.warmup)) == {}


@pytest.mark.parametrize(
    "leak",
    [
        lambda c: c["close"].rolling(5, center=True).mean() / c["close"],  # centred window
        lambda c: c["close"].shift(-1) / c["close"],  # forward shift
    ],
)
def test_the_prefix_check_catches_look_ahead(btc, leak):
    candles, funding = btc
    compute = lambda c, f: pd.DataFrame({"leaky": leak(c).to_numpy()})  # noqa: E731
    assert "leaky" in prefix_violations(compute, candles, funding, [500, 5000])


@pytest.mark.parametrize("symbol", ["btc", "pepe"])
def test_tail_window_equals_the_full_computation(symbol, request):
    candles, funding = request.getfixturevalue(symbol)
    spec = make_spec("1h", columns=candles.columns, funding=funding)
    full = build_features(candles, funding, spec=spec).frame
    for t in (len(candles) - 1, len(candles) - 778, spec.warmup * 3):
        past_candles, past_funding = prefix(candles, funding, t)
        row = latest_row(past_candles, past_funding, spec=spec)
        np.testing.assert_allclose(row.to_numpy(), full.iloc[t].to_numpy(), rtol=1e-9, atol=1e-12)


def test_at_least_sixty_stationary_features(btc):
    """Scaling every price by the same factor changes no feature: none carries a price level."""
    candles, funding = btc
    spec = make_spec("1h", columns=candles.columns, funding=funding)
    assert len(spec.features) >= 60
    scaled = candles.assign(**{c: candles[c] * 1024.0 for c in ("open", "high", "low", "close")})
    a = build_features(candles, funding, spec=spec).warm
    b = build_features(scaled, funding, spec=spec).warm
    pd.testing.assert_frame_equal(a, b, rtol=1e-9, atol=1e-12)


def test_no_nan_or_constant_feature_after_warm_up(btc):
    candles, funding = btc
    spec = make_spec("1h", columns=candles.columns, funding=funding)
    warm = build_features(candles, funding, spec=spec).warm
    assert not warm.isna().any().any()
    assert (warm.nunique() > 1).all()


def test_features_a_source_cannot_feed_are_dropped_not_zero_filled(btc):
    candles, funding = btc
    bare = make_spec("1h", columns=candles.columns)
    assert not {"trades_z_24", "taker_buy_ratio", "funding_rate"} & set(bare.features)
    api_like = candles.assign(
        trades=(candles["volume"] * 3).round(), taker_buy_base=candles["volume"] * 0.5
    )
    full = make_spec("1h", columns=api_like.columns, funding=funding)
    assert {"trades_z_24", "taker_buy_ratio", "taker_buy_ratio_24", "funding_rate"} <= set(
        full.features
    )
    frame = build_features(api_like, funding, spec=full).warm
    assert frame["taker_buy_ratio"].eq(0.5).all() and not frame["trades_z_24"].isna().any()
    with pytest.raises(ValueError, match="lack columns"):
        build_features(candles, funding, spec=full)


def test_funding_is_known_only_from_its_settlement_on(btc):
    candles, funding = btc
    spec = make_spec("1h", columns=candles.columns, funding=funding)
    frame = build_features(candles, funding, spec=spec).frame
    # The 08:00 settlement of 2023-01-02 is stamped a few ms late: the 07:00 bar (closing at
    # 07:59:59.999) must not see it, the 08:00 bar must.
    seven, eight = 1672642800000, 1672646400000
    settled = funding.set_index(funding["funding_time"] // H * H)["rate"]
    assert frame.loc[seven, "funding_rate"] == settled[1672617600000]
    assert frame.loc[eight, "funding_rate"] == settled[1672646400000]
    assert frame.loc[seven, "hours_to_funding"] == pytest.approx(0.0, abs=1e-6)
    assert frame.loc[eight, "hours_to_funding"] == pytest.approx(7.0, abs=1e-6)
    assert np.isnan(frame.loc[1672556400000, "hours_to_funding"])  # one settlement: no schedule


def test_spec_is_data_with_a_stable_version(btc):
    candles, funding = btc
    spec = make_spec("1h", columns=candles.columns, funding=funding)
    again = FeatureSpec.from_dict(spec.to_dict())
    assert again == spec and again.version == spec.version
    assert spec.warmup >= max(200, 24 * 20)  # SMA200 and the 1d SMA20 at least


def test_inference_refuses_a_model_with_another_spec(btc):
    candles, funding = btc
    trained = make_spec("1h", columns=candles.columns, funding=funding)
    now = make_spec("1h", columns=candles.columns)  # funding went missing
    with pytest.raises(FeatureSpecMismatch) as err:
        trained.require_same(now)
    assert "missing features: funding_rate" in str(err.value)
    assert set(err.value.missing) == {f for f in trained.features if "funding" in f}
    trained.require_same(make_spec("1h", columns=candles.columns, funding=funding))


def test_higher_timeframes_use_only_closed_candles(btc):
    candles, _ = btc
    bars = Bars.from_frame(candles, H)
    from mlcore.pipeline.features.timeframes import resample

    day = resample(bars, 24 * H)
    assert (np.diff(day.open_time) == 24 * H).all()
    first = candles.iloc[:24]
    assert day.high[0] == first["high"].max() and day.close[0] == first["close"].iloc[-1]
    spec = make_spec("1h", columns=candles.columns)
    frame = build_features(candles, spec=spec).frame
    # Bars of 2023-01-02 up to 22:00 still see the 1d candle of 2023-01-01; 23:00 sees its own.
    jan2 = frame.loc[1672617600000:1672700400000, "1d_range_pct_14"]
    assert jan2.iloc[:-1].nunique(dropna=False) == 1


def test_counts_upto_is_the_binary_search_it_replaces():
    """The as-of lookups (funding, higher timeframes) count the points at or before each bar
    in one pass; the same integers as a binary search for every bar, ties and points beyond
    either end included."""
    from mlcore.pipeline.features.bars import counts_upto

    rng = np.random.default_rng(7)
    for n_points, n_queries in [(0, 10), (5, 0), (50, 10_000), (3_000, 1_000), (10_000, 10_000)]:
        points = np.sort(rng.integers(-100, 20_100, n_points))
        queries = np.sort(rng.integers(0, 20_000, n_queries))
        expected = np.searchsorted(points, queries, "right")
        np.testing.assert_array_equal(counts_upto(points, queries), expected)
