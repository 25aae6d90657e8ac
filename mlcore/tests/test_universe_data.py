"""The universe model's reads are kept per process while their series are unchanged: a kept
read must equal a fresh one, and any write that changes a stored row, in the span or not, must
retire it (``SeriesRevision``'s stamp)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from analysis.dumps import read_dump
from analysis.ingest import import_file
from analysis.models import SeriesRevision
from analysis.quality import ms_to_datetime
from analysis.store import delete_candles, upsert_candles, upsert_funding
from analysis.tests.binance_replay import SHARED
from mlcore.pipeline.universe.scale_free import UniverseParams
from mlcore.training import inputs

pytestmark = pytest.mark.django_db(transaction=True)
SYMBOLS = ("BTCUSDT", "ETHUSDT")


def test_a_write_renews_the_series_stamp_and_a_repeat_does_not():
    frame = read_dump(SHARED / "binance_futures_BTCUSDT_1h.csv.gz").frame.iloc[:50].copy()
    stamps: list[dict] = []

    def stamp() -> dict:
        stamps.append(SeriesRevision.current(["BTCUSDT"], ["1h", "funding"]))
        return stamps[-1]

    assert stamp() == {("BTCUSDT", "1h"): (0, 0), ("BTCUSDT", "funding"): (0, 0)}
    upsert_candles("BTCUSDT", "1h", frame.iloc[:40])
    first = stamp()
    upsert_candles("BTCUSDT", "1h", frame.iloc[:40])  # the same rows: nothing changed
    assert stamp() == first != stamps[0]
    upsert_candles("BTCUSDT", "1h", frame)  # ten new bars
    appended = stamp()
    changed = frame.iloc[[5]].copy()
    changed["close"] *= 1.01
    upsert_candles("BTCUSDT", "1h", changed)  # an old bar rewritten
    rewritten = stamp()
    delete_candles("BTCUSDT", "1h", open_time__gte=ms_to_datetime(int(frame.open_time.iloc[45])))
    deleted = stamp()
    candle_stamps = [s[("BTCUSDT", "1h")] for s in (first, appended, rewritten, deleted)]
    assert len(set(candle_stamps)) == 4  # each write a new stamp
    assert deleted[("BTCUSDT", "funding")] == (0, 0)  # the funding series untouched
    upsert_funding(
        "BTCUSDT", pd.DataFrame({"funding_time": [1], "rate": [0.0001], "mark_price": [1.0]})
    )
    assert stamp()[("BTCUSDT", "funding")] != (0, 0)


def test_the_history_stamp_changes_exactly_when_a_write_is_not_a_pure_append():
    """What lets a live state read only the rows after its own last one: ``history`` stays
    while every write appended after the newest row, and changes on anything else."""
    frame = read_dump(SHARED / "binance_futures_BTCUSDT_1h.csv.gz").frame.iloc[:60].copy()

    def history() -> int:
        return SeriesRevision.stamps("BTCUSDT", ["1h"])["1h"][1]

    upsert_candles("BTCUSDT", "1h", frame.iloc[:40])
    start = history()
    assert start != 0
    upsert_candles("BTCUSDT", "1h", frame.iloc[38:45])  # the last two again, five new
    upsert_candles("BTCUSDT", "1h", frame.iloc[45:46])  # one new bar, as a live fetch stores
    assert history() == start
    assert SeriesRevision.stamps("BTCUSDT", ["1h"])["1h"][0] != 0
    steps = []
    gap = frame.iloc[[50]]  # a bar after a hole is still an append
    upsert_candles("BTCUSDT", "1h", gap)
    steps.append(history() == start)
    upsert_candles("BTCUSDT", "1h", frame.iloc[46:50])  # the hole filled: before the newest
    steps.append(history() == start)
    now = history()
    changed = frame.iloc[[51]].copy()
    upsert_candles("BTCUSDT", "1h", changed)  # append
    changed["close"] *= 1.01
    upsert_candles("BTCUSDT", "1h", changed)  # the newest bar rewritten
    steps.append(history() == now)
    now = history()
    mixed = frame.iloc[51:54].copy()  # the rewritten bar back as it was, and two new
    upsert_candles("BTCUSDT", "1h", mixed)
    steps.append(history() == now)
    now = history()
    delete_candles("BTCUSDT", "1h", open_time__gte=ms_to_datetime(int(frame.open_time.iloc[53])))
    steps.append(history() == now)
    assert steps == [True, False, False, False, False]
    funding = pd.DataFrame({"funding_time": [1, 2], "rate": [1e-4, 2e-4], "mark_price": [1.0, 1.0]})
    upsert_funding("BTCUSDT", funding)
    settled = SeriesRevision.stamps("BTCUSDT", ["funding"])["funding"][1]
    upsert_funding("BTCUSDT", funding.assign(funding_time=[2, 3], rate=[2e-4, 3e-4]))  # repeat, new
    assert SeriesRevision.stamps("BTCUSDT", ["funding"])["funding"][1] == settled


def _inputs(bar_ms: int, span: int = 500, last_row: bool = False) -> inputs.UniverseInputs:
    model = SimpleNamespace(symbols=list(SYMBOLS), params=UniverseParams())
    return inputs.read_inputs(
        model, "BTCUSDT", "1h", bar_ms - (span - 1) * 3_600_000, bar_ms, last_row=last_row
    )


def _fresh(bar_ms: int) -> inputs.UniverseInputs:
    inputs._reads.clear()
    return _inputs(bar_ms)


def test_a_kept_read_equals_a_fresh_one_until_a_stored_row_changes():
    for symbol in SYMBOLS:
        import_file(SHARED / f"binance_futures_{symbol}_1h.csv.gz")
        import_file(SHARED / f"binance_futures_{symbol}_funding.csv.gz")
    bar_ms = 1_704_067_200_000  # 2024-01-01 00:00
    first = _fresh(bar_ms)
    again = _inputs(bar_ms)
    assert again.frames["ETHUSDT"] is first.frames["ETHUSDT"]  # kept, not recomputed
    pd.testing.assert_frame_equal(again.frames["ETHUSDT"], _fresh(bar_ms).frames["ETHUSDT"])

    # A bar inside the span rewritten (a repair): the next read sees the stored value.
    eth = read_dump(SHARED / "binance_futures_ETHUSDT_1h.csv.gz").frame
    bar = eth[eth.open_time == bar_ms - 10 * 3_600_000].copy()
    bar["close"] *= 1.05
    bar["high"] = bar[["high", "close"]].max(axis=1)
    _inputs(bar_ms)  # kept from before the write
    upsert_candles("ETHUSDT", "1h", bar)
    after = _inputs(bar_ms)
    assert after.frames["ETHUSDT"] is not first.frames["ETHUSDT"]
    pd.testing.assert_frame_equal(after.frames["ETHUSDT"], _fresh(bar_ms).frames["ETHUSDT"])
    assert not after.frames["ETHUSDT"].equals(first.frames["ETHUSDT"])
    # The other symbol's kept read was not touched by ETH's write.
    btc = _inputs(bar_ms).frames["BTCUSDT"]
    assert _inputs(bar_ms).frames["BTCUSDT"] is btc

    # A new funding settlement retires the symbol's read too.
    kept = _inputs(bar_ms).frames["BTCUSDT"]
    upsert_funding(
        "BTCUSDT",
        pd.DataFrame(
            {"funding_time": [bar_ms - 3_600_000 + 5], "rate": [0.01], "mark_price": [1.0]}
        ),
    )
    assert _inputs(bar_ms).frames["BTCUSDT"] is not kept


def test_a_kept_span_slides_over_appended_bars_and_equals_a_fresh_read(monkeypatch):
    """A live tick appends a bar: the kept span reads only the rows after it and must equal
    a full read of the moved span, funding included (also a late settlement, older than the
    span's end); a rewritten old row makes the next read a full one."""
    bar_ms = 1_704_067_200_000  # 2024-01-01 00:00
    for symbol in SYMBOLS:
        import_file(SHARED / f"binance_futures_{symbol}_1h.csv.gz")
        rates = read_dump(SHARED / f"binance_futures_{symbol}_funding.csv.gz").frame
        upsert_funding(symbol, rates[rates.funding_time <= bar_ms])  # settled by then
    eth = read_dump(SHARED / "binance_futures_ETHUSDT_1h.csv.gz").frame
    btc = read_dump(SHARED / "binance_futures_BTCUSDT_1h.csv.gz").frame
    tail = {"ETHUSDT": eth[eth.open_time > bar_ms], "BTCUSDT": btc[btc.open_time > bar_ms]}
    for symbol in SYMBOLS:
        delete_candles(symbol, "1h", open_time__gt=ms_to_datetime(bar_ms))
    full_reads: list[str] = []
    read_span = inputs._read_span

    def counted(symbol, *args):
        full_reads.append(symbol)
        return read_span(symbol, *args)

    monkeypatch.setattr(inputs, "_read_span", counted)
    inputs._reads.clear()
    _inputs(bar_ms)
    assert sorted(full_reads) == sorted(SYMBOLS)
    for i in range(1, 6):
        for symbol in SYMBOLS:
            upsert_candles(symbol, "1h", tail[symbol].iloc[i - 1 : i])
        if i == 3:  # a settlement stored late, inside the span
            upsert_funding(
                "ETHUSDT",
                pd.DataFrame({"funding_time": [bar_ms + 5], "rate": [0.002], "mark_price": [1.0]}),
            )
        full_reads.clear()
        slid = _inputs(bar_ms + i * 3_600_000)
        assert full_reads == [], f"bar {i}: a full read"
        fresh = _fresh(bar_ms + i * 3_600_000)
        for symbol in SYMBOLS:
            pd.testing.assert_frame_equal(slid.frames[symbol], fresh.frames[symbol])
        pd.testing.assert_frame_equal(slid.candles, fresh.candles)
        pd.testing.assert_frame_equal(slid.funding, fresh.funding)
        # What live inference reads (the bar's row of each symbol) slides the same way.
        rows = _inputs(bar_ms + i * 3_600_000, last_row=True)
        for symbol in SYMBOLS:
            np.testing.assert_allclose(
                rows.frames[symbol].to_numpy(), fresh.frames[symbol].iloc[[-1]].to_numpy(),
                rtol=1e-9, atol=1e-12,
            )  # fmt: skip
    assert slid.frames["ETHUSDT"]["funding_bps"].iloc[-1] == pytest.approx(20.0)  # the late one

    # A rewrite of a stored row inside the span: the next tick reads ETH in full.
    changed = tail["ETHUSDT"].iloc[[1]].copy()
    changed["close"] *= 1.02
    changed["high"] = changed[["high", "close"]].max(axis=1)
    upsert_candles("ETHUSDT", "1h", changed)
    for symbol in SYMBOLS:
        upsert_candles(symbol, "1h", tail[symbol].iloc[5:6])
    full_reads.clear()
    after = _inputs(bar_ms + 6 * 3_600_000)
    assert full_reads == ["ETHUSDT"]
    fresh = _fresh(bar_ms + 6 * 3_600_000)
    pd.testing.assert_frame_equal(after.frames["ETHUSDT"], fresh.frames["ETHUSDT"])
