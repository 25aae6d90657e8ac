"""The universe model's inputs: no look-ahead (for one symbol and across symbols), scale-free,
and no stale funding."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlcore.pipeline.universe.scale_free import (
    UniverseParams,
    context_columns,
    feature_columns,
    pooled_frame,
    symbol_columns,
    symbol_frame,
    symbol_row,
)
from mlcore.tests.conftest import load

H = 3_600_000
P = UniverseParams()


@pytest.fixture(scope="module")
def three() -> dict[str, tuple[pd.DataFrame, pd.DataFrame]]:
    return {s: load(s) for s in ("BTCUSDT", "ETHUSDT", "1000PEPEUSDT")}


def _known_at(funding: pd.DataFrame, close_ms: int) -> pd.DataFrame:
    return funding[funding["funding_time"] <= close_ms]


def test_symbol_columns_are_prefix_invariant_and_tail_exact(three):
    """Bar t from data up to t equals the full-history value; so does bar t computed from its
    last ``warmup`` bars only (what live inference would read)."""
    candles, funding = three["BTCUSDT"]
    full = symbol_frame(candles, funding, "1h", P)
    cols = symbol_columns(P)
    for t in (P.warmup + 5, 3000, 7777, len(candles) - 1):
        close_ms = int(candles["open_time"].iloc[t]) + H - 1
        known = _known_at(funding, close_ms)
        prefix = symbol_frame(candles.iloc[: t + 1], known, "1h", P).iloc[-1]
        tail = symbol_frame(candles.iloc[t + 1 - P.warmup : t + 1], known, "1h", P).iloc[-1]
        for row in (prefix, tail):
            np.testing.assert_allclose(
                row[cols].to_numpy(float), full.iloc[t][cols].to_numpy(float), rtol=1e-7,
                atol=1e-9, err_msg=f"bar {t}",
            )  # fmt: skip
        assert full.iloc[t][cols].notna().all(), f"bar {t} is past the warm-up"


def _prefix_differs(compute, candles, funding, t: int) -> bool:
    full = compute(candles, funding)
    close_ms = int(candles["open_time"].iloc[t]) + H - 1
    prefix = compute(candles.iloc[: t + 1], _known_at(funding, close_ms))
    return not np.isclose(prefix.iloc[-1], full.iloc[t], equal_nan=True)


def test_a_leak_would_be_caught(three):
    """Negative control: the same check flags a column that reads the next bar."""
    candles, funding = three["BTCUSDT"]

    def honest(c, f):
        return symbol_frame(c, f, "1h", P)["ret_1_z"]

    def leaky(c, f):
        return honest(c, f).shift(-1)

    assert not _prefix_differs(honest, candles, funding, 3000)
    assert _prefix_differs(leaky, candles, funding, 3000)


def test_context_uses_only_bars_at_or_before_t(three):
    """Context (ranks, breadth, BTC's move) at bar t is the same whether the other symbols'
    later bars exist or not."""
    frames = {s: symbol_frame(c, f, "1h", P) for s, (c, f) in three.items()}
    full = pooled_frame(frames, P)
    cut = int(three["BTCUSDT"][0]["open_time"].iloc[9000])
    early = {s: f[f.index <= cut] for s, f in frames.items()}
    partial = pooled_frame(early, P)
    at = partial["open_time"] == cut
    a = partial[at].set_index("symbol")[context_columns(P)]
    b = full[full["open_time"] == cut].set_index("symbol")[context_columns(P)]
    pd.testing.assert_frame_equal(a, b.loc[a.index])
    assert len(a) == 3 and a.notna().all().all()


def test_inputs_are_scale_free(three):
    """The same market in other units (prices x 1e-6, volume x 1e6) gives the same inputs."""
    candles, funding = three["ETHUSDT"]
    scaled = candles.copy()
    for c in ("open", "high", "low", "close"):
        scaled[c] = scaled[c] * 1e-6
    scaled["volume"] = scaled["volume"] * 1e6
    a = symbol_frame(candles, funding, "1h", P)[symbol_columns(P)]
    b = symbol_frame(scaled, funding, "1h", P)[symbol_columns(P)]
    np.testing.assert_allclose(a.to_numpy(), b.to_numpy(), rtol=1e-6, atol=1e-8)


def test_stale_funding_is_missing_not_forward_filled(three):
    """A hole in the funding history (as BCHUSDT's year without any): NaN from 24 h after the
    last settlement until the next one; values again after it."""
    candles, funding = three["BTCUSDT"]
    t = funding["funding_time"].to_numpy()
    hole = funding[(t < t[300]) | (t > t[600])]
    frame = symbol_frame(candles, hole, "1h", P)
    rate = frame["funding_bps"]
    times = frame.index.to_numpy()
    close = times + H - 1
    inside = (close > t[299] + 24 * H) & (close < t[601])
    assert rate[inside].isna().all()
    fresh = (close >= t[299]) & (close <= t[299] + 24 * H - 1)
    assert rate[fresh].notna().all()
    assert rate[(close >= t[700])].notna().all()
    # ... and the settlement after the hole is the one shown, at its own value.
    first_after = np.flatnonzero(close >= t[601])[0]
    assert rate.iloc[first_after] == pytest.approx(funding["rate"].iloc[601] * 10_000)


def test_zero_volume_bars_give_missing_volume_not_infinity(three):
    candles, funding = three["ETHUSDT"]
    zero = candles.copy()
    zero.loc[5000, "volume"] = 0.0
    frame = symbol_frame(zero, funding, "1h", P)
    assert np.isnan(frame["volume_z"].iloc[5000])
    assert np.isfinite(frame[feature_columns(P)[:-len(context_columns(P))]].iloc[5001:5100]
                       .drop(columns=["funding_z_30"]).to_numpy()).all()  # fmt: skip


def _pandas_context(frames: dict[str, pd.DataFrame], p: UniverseParams) -> pd.DataFrame:
    """The context as pandas' group-by computes it: the reference ``pooled_frame`` must equal."""
    rows = pd.concat(
        [f.reset_index().assign(symbol=s) for s, f in frames.items()], ignore_index=True
    ).sort_values(["open_time", "symbol"], kind="stable", ignore_index=True)
    by_time = rows.groupby("open_time", sort=False)
    r24 = rows["ret_24_z"]
    out = pd.DataFrame(index=rows.index)
    out["breadth_24"] = (
        (r24 > 0).astype(float).where(r24.notna()).groupby(rows["open_time"]).transform("mean")
    )
    out["dispersion_24"] = by_time["ret_24_z"].transform("std")
    out["market_ret_24_z"] = by_time["ret_24_z"].transform("mean")
    for k in p.rank_bars:
        out[f"rank_ret_{k}"] = by_time[f"ret_{k}_z"].rank(pct=True)
        out[f"rel_ret_{k}_z"] = rows[f"ret_{k}_z"] - by_time[f"ret_{k}_z"].transform("mean")
    btc = frames["BTCUSDT"][["ret_4_z", "ret_24_z", "er_24", "adx_14"]].add_prefix("btc_")
    out = out.join(rows[["open_time", "symbol"]]).join(btc, on="open_time")
    return out  # fmt: skip


def test_the_context_equals_pandas_group_by_with_ties_holes_and_late_listings(three):
    """The numpy context (one sort, bincount sums) against pandas' group-by on the same rows:
    three real symbols with different listing dates and warm-ups (NaN rows), plus a copy of
    ETH (every rank a tie) and a symbol with a hole in its bars."""
    frames = {s: symbol_frame(c, f, "1h", P) for s, (c, f) in three.items()}
    frames["ETHCOPYUSDT"] = frames["ETHUSDT"].copy()
    btc = frames["BTCUSDT"]
    frames["HOLEUSDT"] = btc.drop(btc.index[5000:5400]) * 0.5
    ours = pooled_frame(frames, P)
    reference = _pandas_context(frames, P)
    assert list(ours["symbol"]) == list(reference["symbol"])
    assert (ours["open_time"].to_numpy() == reference["open_time"].to_numpy()).all()
    for column in context_columns(P):
        np.testing.assert_allclose(
            ours[column].to_numpy(float), reference[column].to_numpy(float),
            rtol=1e-12, atol=1e-12, err_msg=column,
        )  # fmt: skip
    assert np.isclose(ours["rank_ret_24"], 1.0).any() and ours["rank_ret_24"].isna().any()
    # Stacking only the last bar gives that bar's rows unchanged.
    last = int(ours["open_time"].iloc[-1])
    one = pooled_frame({s: f[f.index >= last] for s, f in frames.items()}, P)
    pd.testing.assert_frame_equal(one, ours[ours["open_time"] >= last].reset_index(drop=True))
    eth = pooled_frame(frames, P, only="ETHUSDT")
    pd.testing.assert_frame_equal(eth, ours[ours["symbol"] == "ETHUSDT"].reset_index(drop=True))


def test_the_last_row_alone_equals_the_batch_last_row(three):
    """``symbol_row`` (what live inference computes for each symbol at a bar) against the last
    row of ``symbol_frame`` on the same span: bars from the first hours of a listing (short
    spans, zero volume, NaN windows) to the end, three real symbols."""
    span = P.warmup + 1
    checked = 0
    for symbol, (candles, funding) in three.items():
        bars = [*range(2, 400, 13), *range(400, len(candles), 211), len(candles) - 1]
        for t in bars:
            window = candles.iloc[max(0, t + 1 - span) : t + 1]
            known = _known_at(funding, int(candles["open_time"].iloc[t]) + H - 1)
            batch = symbol_frame(window, known, "1h", P).iloc[[-1]]
            row = symbol_row(window, known, "1h", P)
            assert list(row.columns) == list(batch.columns) and (row.index == batch.index).all()
            np.testing.assert_allclose(
                row.to_numpy(float), batch.to_numpy(float), rtol=1e-9, atol=1e-12,
                err_msg=f"{symbol} bar {t}",
            )  # fmt: skip
            checked += 1
    assert checked > 150
