"""The window a per-symbol champion reads, kept per worker process with its features' live
state, so that a new closed bar costs a read of that bar and its own feature update instead of
a read of ``history_needed`` (1,621+) bars and their recompute.

Whether the kept state still holds is read off the series' ``SeriesRevision`` stamps (one
indexed query):
- both stamps unchanged: exactly the stored rows the state was built from;
- ``history`` unchanged: every write since appended rows after the newest one then stored, so
  the rows after the state's last bar are all that is new: they are read and pushed;
- ``history`` changed (a stored row was rewritten, deleted, or back-filled before the newest):
  the state is dropped and rebuilt from a full read.
A bar older than the state's last, a window that is not whole, or new bars with a hole give no
state: the caller reads in full, as before, and refuses what it must refuse.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.intervals import interval_ms
from analysis.market import candles_frame, funding_frame
from analysis.models import SeriesRevision
from analysis.quality import ms_to_datetime
from mlcore.pipeline.features.live import LiveFeatures, NotNext
from mlcore.pipeline.symbol.predict import Bundle

KEEP_SERIES = 64  # states kept per process (least recently used first out)


@dataclass
class Window:
    candles: pd.DataFrame  # the ``history_needed`` bars up to and including the bar
    funding: pd.DataFrame  # settlements from the window's first bar to the bar's close
    features: pd.DataFrame  # the warm rows a prediction reads (the last ``seq_len`` bars)


@dataclass
class _State:
    live: LiveFeatures
    candles: pd.DataFrame
    funding: pd.DataFrame
    rows: list[np.ndarray]  # the newest bars' features, as many as the model's sequence
    times: list[int]
    keep: int
    stamps: dict[str, tuple[int, int]]

    @property
    def last(self) -> int:
        return int(self.candles["open_time"].iloc[-1])


_states: OrderedDict[tuple[str, str, str], _State] = OrderedDict()


def window(symbol: str, interval: str, bundle: Bundle, bar_ms: int) -> Window | None:
    """The model's window and features at ``bar_ms`` from the kept state, or None where the
    caller must read in full (and keep nothing)."""
    key = (symbol, interval, bundle.spec.version)
    stamps = SeriesRevision.stamps(symbol, [interval, SeriesRevision.FUNDING])
    state = _states.get(key)
    if state is not None and not _still_holds(state, stamps, symbol, interval, bundle, bar_ms):
        state = None
    if state is None:
        _states.pop(key, None)
        state = _build(symbol, interval, bundle, bar_ms)
        if state is None:
            return None
    state.stamps = stamps
    _states[key] = state
    _states.move_to_end(key)
    while len(_states) > KEEP_SERIES:
        _states.popitem(last=False)
    seq_len = bundle.lstm.p.seq_len
    features = pd.DataFrame(
        np.array(state.rows[-seq_len:]),
        index=pd.Index(state.times[-seq_len:], name="open_time"),
        columns=list(bundle.spec.features),
    )
    return Window(state.candles, state.funding, features)


def _still_holds(
    state: _State,
    stamps: dict[str, tuple[int, int]],
    symbol: str,
    interval: str,
    bundle: Bundle,
    bar_ms: int,
) -> bool:
    """Whether the kept state serves ``bar_ms``, after reading and pushing any new bars."""
    if bar_ms < state.last or any(stamps[s][1] != state.stamps[s][1] for s in stamps):
        return False  # an older bar, or stored history changed: a full read
    return bar_ms == state.last or _catch_up(state, symbol, interval, bundle, bar_ms)


def _read(symbol: str, interval: str, first_ms: int, bar_ms: int):
    step = interval_ms(interval)
    until = ms_to_datetime(bar_ms + step)
    candles = candles_frame(symbol, interval, since=ms_to_datetime(first_ms), until=until)
    return candles, until


def _build(symbol: str, interval: str, bundle: Bundle, bar_ms: int) -> _State | None:
    step = interval_ms(interval)
    need = bundle.history_needed
    candles, until = _read(symbol, interval, bar_ms - (need - 1) * step, bar_ms)
    if len(candles) != need or int(candles["open_time"].iloc[-1]) != bar_ms:
        return None  # not whole: the full read refuses it with its reason
    first = ms_to_datetime(int(candles["open_time"].iloc[0]))
    funding = funding_frame(symbol, since=first, until=until)
    if not bundle.spec.uses_funding:
        funding = funding.iloc[:0]
    warmup = bundle.spec.warmup
    live = LiveFeatures.from_window(bundle.spec, candles.iloc[:warmup], funding)
    state = _State(live, candles, funding, [], [], bundle.lstm.p.seq_len, {})
    _push(state, candles.iloc[warmup:])
    return state


def _catch_up(state: _State, symbol: str, interval: str, bundle: Bundle, bar_ms: int) -> bool:
    """Read and push the bars after the state's last, up to ``bar_ms``; False on a hole."""
    step = interval_ms(interval)
    new, until = _read(symbol, interval, state.last + step, bar_ms)
    times = new["open_time"].to_numpy(np.int64)
    expected = np.arange(state.last + step, bar_ms + step, step, dtype=np.int64)
    if len(times) != len(expected) or (times != expected).any():
        return False
    if bundle.spec.uses_funding:
        known = state.funding["funding_time"]
        since = int(known.iloc[-1]) + 1 if len(known) else state.last
        settled = funding_frame(symbol, since=ms_to_datetime(since), until=until)
        if len(settled):
            state.live.add_funding(settled)
            state.funding = pd.concat([state.funding, settled], ignore_index=True)
    try:
        _push(state, new)
    except NotNext:
        return False
    need = bundle.history_needed
    state.candles = pd.concat([state.candles, new], ignore_index=True).iloc[-need:]
    state.candles = state.candles.reset_index(drop=True)
    first = int(state.candles["open_time"].iloc[0])
    state.funding = state.funding[state.funding["funding_time"] >= first].reset_index(drop=True)
    return True


def _push(state: _State, candles: pd.DataFrame) -> None:
    live = state.live
    for values in live.bars_of(candles):
        live.push(*values)
        state.rows.append(live.row())
        state.times.append(int(values[0]))
    if len(state.rows) > state.keep:
        del state.rows[: -state.keep], state.times[: -state.keep]
