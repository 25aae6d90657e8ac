"""first_run replaces a champion this code cannot load (an older model format after an
upgrade), which would otherwise refuse every bar."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from mlcore.tests.factories import model_version
from signals.management.commands.first_run import usable

pytestmark = pytest.mark.django_db


def test_a_champion_from_an_older_format_counts_as_missing(champion):
    assert usable(champion)
    manifest = Path(champion.artifact_path) / "manifest.json"
    data = json.loads(manifest.read_text())
    manifest.write_text(json.dumps(data | {"format_version": 1}))
    assert not usable(champion)
    assert not usable(None)
    gone = model_version(version="gone", status="retired", artifact_path="/nonexistent")
    assert not usable(gone)


@pytest.mark.django_db(transaction=True)
def test_the_replay_stops_at_each_series_last_complete_bar_and_runs_once(universe_champion, eager):
    """The shared dumps' funding files end before their candles: replaying to the last candle
    opened the dashboard on "funding is overdue" refusals. Each series stops at its own last
    complete bar, every replayed bar is served, and a second run adds nothing."""
    from datetime import timedelta

    from django.core.management import call_command

    from analysis.freshness import last_complete_bar
    from analysis.models import Candle
    from signals.models import NoSignal, Signal

    symbols = ["1000PEPEUSDT", "BTCUSDT", "ETHUSDT"]
    ends = {s: last_complete_bar(s, "1h") for s in symbols}
    assert all(ends[s] < Candle.objects.last_open_time(s, "1h") for s in symbols)
    start = max(ends.values()) - timedelta(days=1)
    out = io.StringIO()
    call_command("first_run", "--days", "1", "--simulate-days", "0", stdout=out)
    assert not NoSignal.objects.exists(), out.getvalue()
    replayed = [s for s in symbols if ends[s] >= start]
    assert replayed
    for symbol in replayed:
        served = Signal.objects.filter(symbol=symbol, interval="1h").order_by("open_time")
        assert served.exists(), out.getvalue()
        assert served.last().open_time == ends[symbol]
        assert served.first().open_time >= start
        expected = Candle.objects.filter(
            symbol=symbol, interval="1h", open_time__gte=start, open_time__lte=ends[symbol]
        ).count()
        assert served.count() == expected
    count = Signal.objects.count()
    call_command("first_run", "--days", "1", "--simulate-days", "0", stdout=io.StringIO())
    assert Signal.objects.count() == count
