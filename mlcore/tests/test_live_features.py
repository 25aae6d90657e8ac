"""The live feature state equals the batch computation, bar after bar, for every feature."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlcore.pipeline.features import build_features, make_spec
from mlcore.pipeline.features.live import LiveFeatures, NotNext

H = 3_600_000


def with_order_flow(candles: pd.DataFrame) -> pd.DataFrame:
    """The dump files' taker and trade-count columns (the shared CSVs lack them), derived
    deterministically so the features that need them are checked too."""
    wobble = 0.5 + 0.3 * np.sin(np.arange(len(candles)) * 0.7)
    return candles.assign(
        taker_buy_base=candles["volume"] * wobble,
        trades=np.round(candles["volume"] * 3.0 + 100.0),
    )


def live_rows(spec, candles: pd.DataFrame, funding: pd.DataFrame, start: int, bars: int):
    """Seed a state on ``spec.warmup`` bars from ``start``, then push ``bars`` bars one at a
    time, each with the settlements stamped by its close, as live inference sees them."""
    first = start + spec.warmup
    seed_close = int(candles["open_time"].iloc[first - 1]) + H - 1
    state = LiveFeatures.from_window(
        spec, candles.iloc[start:first], funding[funding["funding_time"] <= seed_close]
    )
    times = funding["funding_time"].to_numpy()
    columns = ["open_time", "open", "high", "low", "close", "volume", *state.columns]
    rows = []
    for values in candles[columns].iloc[first : first + bars].itertuples(index=False):
        close_ms = int(values[0]) + H - 1
        settled = funding[(times > close_ms - H) & (times <= close_ms)]
        if len(settled):
            state.add_funding(settled)
        state.push(*values)
        rows.append(state.row())
    return first, np.array(rows)


def mismatches(spec, live: np.ndarray, batch: np.ndarray) -> dict[str, int]:
    same = np.isclose(live, batch, rtol=1e-9, atol=1e-12, equal_nan=True)
    return {spec.features[j]: int((~same[:, j]).sum()) for j in np.flatnonzero(~same.all(axis=0))}


@pytest.mark.slow
def test_ten_thousand_live_bars_equal_the_batch_for_every_feature(btc):
    candles, funding = btc
    candles = with_order_flow(candles)
    spec = make_spec("1h", columns=candles.columns, funding=funding)
    assert {"taker_buy_ratio", "trades_z_24", "funding_z_30", "1d_bb_pctb_20"} <= set(spec.features)
    start, bars = 300, 10_000
    assert start + spec.warmup + bars <= len(candles)
    first, live = live_rows(spec, candles, funding, start, bars)
    batch = build_features(candles, funding, spec=spec).frame.to_numpy()[first : first + bars]
    assert mismatches(spec, live, batch) == {}
    assert np.isfinite(live).all()  # every feature is defined after the warm-up


@pytest.mark.slow
def test_a_young_listing_live_equals_the_batch(pepe):
    candles, funding = pepe
    spec = make_spec("1h", columns=candles.columns, funding=funding)
    bars = len(candles) - spec.warmup
    first, live = live_rows(spec, candles, funding, 0, bars)
    batch = build_features(candles, funding, spec=spec).frame.to_numpy()[first:]
    assert mismatches(spec, live, batch) == {}


def test_a_bar_that_does_not_follow_is_refused(btc):
    candles, funding = btc
    spec = make_spec("1h", columns=candles.columns, funding=funding)
    state = LiveFeatures.from_window(spec, candles.iloc[:200], funding)
    skipped = candles.iloc[201]
    with pytest.raises(NotNext, match="does not follow"):
        state.push(int(skipped["open_time"]), *skipped[["open", "high", "low", "close", "volume"]])
    again = candles.iloc[199]
    with pytest.raises(NotNext):
        state.push(int(again["open_time"]), *again[["open", "high", "low", "close", "volume"]])
    assert not state.ready  # 200 bars are not the warm-up: its rows are not used yet
