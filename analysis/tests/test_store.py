"""The upsert takes a small batch (a live fetch) and a bulk one (an import) by different routes
on PostgreSQL; both must store the same values, NULLs included, and stay idempotent."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.dumps import read_dump
from analysis.models import Candle
from analysis.store import SMALL_BATCH, upsert_candles
from analysis.tests.binance_replay import SHARED

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("size", [3, SMALL_BATCH + 1], ids=["values", "copy"])
def test_small_and_bulk_batches_store_the_same(size):
    frame = read_dump(SHARED / "binance_futures_BTCUSDT_1h.csv.gz").frame.iloc[:size].copy()
    # An optional column NULL on some rows and set on others, and one NULL on every row.
    frame["trades"] = [np.nan if i % 2 else 1000 + i for i in range(size)]
    frame["quote_volume"] = np.nan

    first = upsert_candles("BTCUSDT", "1h", frame)
    assert (first.inserted, first.updated) == (size, 0)

    stored = Candle.objects.series("BTCUSDT", "1h")
    assert [c.trades for c in stored[:3]] == [1000, None, 1002]
    assert not stored.filter(quote_volume__isnull=False).exists()
    got = stored.to_frame()
    for column in ("open_time", "open", "high", "low", "close", "volume"):
        assert np.array_equal(got[column].to_numpy(), frame[column].to_numpy()), column
    closes = [round(t.timestamp() * 1000) for t in stored.values_list("close_time", flat=True)]
    assert closes == frame["close_time"].tolist()

    again = upsert_candles("BTCUSDT", "1h", frame)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, size)

    frame.loc[frame.index[1], "close"] += 1.5
    changed = upsert_candles("BTCUSDT", "1h", frame)
    assert (changed.inserted, changed.updated) == (0, 1)
    assert stored.count() == size


def test_a_bulk_batch_after_a_series_stored_rows_goes_straight_in_exactly():
    """The next month of a dump lands where its series has no row yet: one COPY into the
    table (no staging, no merge), and the stored rows equal the file's to the bit."""
    frame = read_dump(SHARED / "binance_futures_BTCUSDT_1h.csv.gz").frame.iloc[: 3 * SMALL_BATCH]
    head, tail = frame.iloc[: SMALL_BATCH + 10], frame.iloc[SMALL_BATCH + 10 :]
    assert upsert_candles("BTCUSDT", "1h", head).inserted == len(head)
    later = upsert_candles("BTCUSDT", "1h", tail)
    assert (later.inserted, later.updated) == (len(tail), 0)
    stored = Candle.objects.series("BTCUSDT", "1h")
    got = stored.to_frame()
    for column in ("open_time", "open", "high", "low", "close", "volume"):
        assert np.array_equal(got[column].to_numpy(), frame[column].to_numpy()), column
    closes = [round(t.timestamp() * 1000) for t in stored.values_list("close_time", flat=True)]
    assert closes == frame["close_time"].tolist()
    # Overlapping the stored rows: merged, nothing doubled.
    both = upsert_candles("BTCUSDT", "1h", frame)
    assert (both.inserted, both.updated, both.unchanged) == (0, 0, len(frame))
