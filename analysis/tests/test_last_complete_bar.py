"""The replay of a first run stops at each series' last complete bar: the newest bar a model
serves without refusing for stale funding, never one before it (the shared BTC dump's funding
file ends hours before its candles do)."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from analysis.freshness import last_complete_bar
from analysis.ingest import import_file
from analysis.models import Candle, FundingRate
from analysis.tests.binance_replay import SHARED
from mlcore.serving.symbol import funding_problem

pytestmark = pytest.mark.django_db


def test_the_last_complete_bar_is_the_last_one_served_without_overdue_funding():
    import_file(SHARED / "binance_futures_BTCUSDT_1h.csv.gz")
    assert last_complete_bar("BTCUSDT", "1h") == Candle.objects.last_open_time("BTCUSDT", "1h")
    import_file(SHARED / "binance_futures_BTCUSDT_funding.csv.gz")
    last_candle = Candle.objects.last_open_time("BTCUSDT", "1h")
    complete = last_complete_bar("BTCUSDT", "1h")
    assert complete < last_candle
    times = np.array(
        [
            int(t.timestamp() * 1000)
            for t in FundingRate.objects.values_list("funding_time", flat=True)
        ]
    )
    hour = 3_600_000

    def closes(bar) -> int:
        return int(bar.timestamp() * 1000) + hour - 1

    assert funding_problem(times, closes(complete)) is None
    assert "overdue" in funding_problem(times, closes(complete + timedelta(hours=1)))
    assert last_complete_bar("NOSUCHUSDT", "1h") is None
