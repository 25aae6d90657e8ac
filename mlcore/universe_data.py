"""The stored bars a universe model reads: every symbol it knows, over one span, as the
scale-free frames of ``mlcore.pipeline.universe``. Live inference (one bar) and ``evaluate``
(a window) both read through here, so both see the same inputs.

The target symbol must have every bar of the span (a hole is refused with where it is); a
context symbol with a hole is left out of the context, since its returns would straddle the
hole, and a context symbol not listed yet simply is not there (as in training).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pandas as pd

from analysis.intervals import interval_ms
from analysis.market import candles_frame, funding_frame
from analysis.quality import find_gaps, ms_to_datetime
from mlcore.pipeline.universe import symbol_frame
from mlcore.pipeline.universe_model import UniverseModel

# Funding's look-back before a span: the z-score's 30 settlements at the slowest (8h)
# schedule, with room to spare.
FUNDING_LOOKBACK = timedelta(days=11)


class MissingBars(ValueError):
    """The target symbol lacks bars the model needs; the message says which."""


@dataclass(frozen=True)
class UniverseInputs:
    frames: dict[str, pd.DataFrame]  # symbol -> scale-free frame, the target among them
    candles: pd.DataFrame  # the target's candles over the span
    funding: pd.DataFrame  # the target's settlements over the span (and its look-back)


def read_inputs(
    model: UniverseModel, symbol: str, interval: str, first_ms: int, last_ms: int
) -> UniverseInputs:
    """Bars opening in [first_ms, last_ms] of every symbol the model knows and of ``symbol``."""
    step = interval_ms(interval)
    since, until = ms_to_datetime(first_ms), ms_to_datetime(last_ms + step)
    need = (last_ms - first_ms) // step + 1
    frames: dict[str, pd.DataFrame] = {}
    target = target_funding = None
    for s in dict.fromkeys([*model.symbols, symbol]):
        candles = candles_frame(s, interval, since=since, until=until)
        whole = len(candles) == need
        if s == symbol and not whole:
            gaps = find_gaps(candles["open_time"].to_numpy(), step)
            where = f": {gaps[0]}" if gaps else ""
            raise MissingBars(
                f"candles are missing ({len(candles)} of the {need} bars the universe model "
                f"reads from {since:%Y-%m-%d %H:%M} are stored{where}); run "
                "`manage.py check_data --repair`"
            )
        if not whole:
            continue
        # A stale or missing funding rate is a missing input (NaN), never a refusal: the
        # universe model trained with symbols that had none.
        funding = funding_frame(s, since=since - FUNDING_LOOKBACK, until=until)
        frames[s] = symbol_frame(
            candles, funding if not funding.empty else None, interval, model.params
        )
        if s == symbol:
            target, target_funding = candles, funding
    return UniverseInputs(frames, target, target_funding)
