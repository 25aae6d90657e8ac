"""Ranges with the coverage they promise: conformal intervals on volatility-normalised scores,
kept honest through volatility breaks by adaptive conformal inference (ACI, Gibbs & Candès
2021).

A score is an outcome divided by the forecast spread (``z = move / sqrt(var)``), so one set of
quantiles serves calm and wild bars alike: an interval is ``[q_lo, q_hi] * sqrt(var)``. The
quantiles are read from the most recent resolved scores (a trailing window), at a level that
ACI moves after each resolved outcome: a miss widens the next intervals, a run of hits narrows
them, so long-run coverage holds at the target whatever the forecast gets wrong. Outcomes
resolve h bars after their bar; the update uses only outcomes resolved by the bar it serves
(no look-ahead), which is the delayed-feedback form of ACI.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
import pandas as pd

WINDOW = 2_000  # resolved scores the quantiles are read from (about 12 weeks of hourly bars)
GAMMA = 0.005  # ACI's step: how fast the level answers a miss


@numba.njit(cache=True)
def _quantile(sorted_values, q):  # pragma: no cover - compiled
    # The conformal quantile: the ceil(q (n + 1))-th smallest, clipped to the sample.
    n = len(sorted_values)
    k = int(np.ceil(q * (n + 1))) - 1
    k = min(max(k, 0), n - 1)
    return sorted_values[k]


@numba.njit(cache=True)
def _aci(scores, buckets, resolved_at, coverages, window, gamma, warm):  # pragma: no cover
    """For each bar t in order and each coverage: the interval of z at bar t from the scores
    of its bucket resolved by t, at that bucket's and coverage's ACI level. ``resolved_at[i]``:
    the bar at which score i is known (i + h). Each bucket keeps its last ``window`` resolved
    scores sorted (an insert and a removal a step, no sort), shared by the coverages."""
    n = len(scores)
    k = len(coverages)
    groups = buckets.max() + 1 if n else 1
    lo = np.full((k, n), np.nan)
    hi = np.full((k, n), np.nan)
    alpha = np.empty((groups, k))
    for g in range(groups):
        for c in range(k):
            alpha[g, c] = 1.0 - coverages[c]
    order = np.argsort(resolved_at, kind="mergesort")
    pointer = 0
    history = np.empty((groups, n))  # each bucket's resolved scores, in the order they resolved
    count = np.zeros(groups, dtype=np.int64)
    kept = np.empty((groups, window))  # the newest ``size`` of them, sorted
    size = np.zeros(groups, dtype=np.int64)
    for t in range(n):
        # Every score resolved by bar t joins its bucket; each one's miss moves that level.
        while pointer < n and resolved_at[order[pointer]] <= t:
            i = order[pointer]
            pointer += 1
            z, g = scores[i], buckets[i]
            if not np.isfinite(z) or g < 0:
                continue
            for c in range(k):
                if np.isfinite(lo[c, i]):
                    miss = 1.0 if (z < lo[c, i] or z > hi[c, i]) else 0.0
                    alpha[g, c] += gamma * ((1.0 - coverages[c]) - miss)
            history[g, count[g]] = z
            count[g] += 1
            m = size[g]
            if m == window:  # the oldest kept score leaves
                old = history[g, count[g] - 1 - window]
                at = np.searchsorted(kept[g, :m], old)
                kept[g, at : m - 1] = kept[g, at + 1 : m].copy()
                m -= 1
            at = np.searchsorted(kept[g, :m], z)
            kept[g, at + 1 : m + 1] = kept[g, at:m].copy()
            kept[g, at] = z
            size[g] = m + 1
        g = buckets[t]
        if g < 0 or count[g] < warm:
            continue
        for c in range(k):
            a = min(max(alpha[g, c], 1e-4), 1.0 - 1e-4)
            lo[c, t] = _quantile(kept[g, : size[g]], a / 2.0)
            hi[c, t] = _quantile(kept[g, : size[g]], 1.0 - a / 2.0)
    return lo, hi


@dataclass(frozen=True)
class Ranges:
    """Per bar, the central interval of the normalised score at one coverage (NaN before
    enough outcomes have resolved)."""

    coverage: float
    lo: np.ndarray
    hi: np.ndarray


def volatility_buckets(spread: np.ndarray, groups: int = 3, window: int = WINDOW) -> np.ndarray:
    """Each bar's forecast spread ranked among the series' last ``window`` forecasts (known at
    that bar: each uses bars up to its own): 0 calm .. groups-1 wild; -1 before any forecast.
    Quantiles kept per bucket make coverage hold within each, not only on average."""
    pct = pd.Series(spread).rolling(window, min_periods=50).rank(pct=True).to_numpy()
    out = np.full(len(spread), -1, dtype=np.int64)
    ok = np.isfinite(pct)
    out[ok] = np.minimum((pct[ok] * groups).astype(np.int64), groups - 1)
    return out


def adaptive_ranges(
    scores: np.ndarray,
    h: int,
    coverage: float,
    buckets: np.ndarray | None = None,
    *,
    window: int = WINDOW,
    gamma: float = GAMMA,
    warm: int = 100,
) -> Ranges:
    """ACI intervals for one series' scores (in time order; NaN where the outcome is unknown),
    per bucket when ``buckets`` are given (``volatility_buckets``). The interval at bar t reads
    only scores resolved by t: those of bars up to t - h."""
    return adaptive_ranges_at(
        scores, h, (coverage,), buckets, window=window, gamma=gamma, warm=warm
    )[0]


def adaptive_ranges_at(
    scores: np.ndarray,
    h: int,
    coverages: tuple[float, ...],
    buckets: np.ndarray | None = None,
    *,
    window: int = WINDOW,
    gamma: float = GAMMA,
    warm: int = 100,
) -> list[Ranges]:
    """``adaptive_ranges`` at several coverages in one pass (one sorted window each bucket)."""
    scores = np.asarray(scores, dtype=np.float64)
    if buckets is None:
        buckets = np.zeros(len(scores), dtype=np.int64)
    resolved_at = np.arange(len(scores), dtype=np.int64) + h
    lo, hi = _aci(
        scores,
        np.asarray(buckets, dtype=np.int64),
        resolved_at,
        np.asarray(coverages, dtype=np.float64),
        int(window),
        float(gamma),
        int(warm),
    )
    return [Ranges(c, lo[i], hi[i]) for i, c in enumerate(coverages)]


def covered(scores: np.ndarray, ranges: Ranges) -> np.ndarray:
    """1.0 where the score fell inside its bar's interval, 0.0 outside, NaN where unknown."""
    ok = np.isfinite(scores) & np.isfinite(ranges.lo)
    out = np.full(len(scores), np.nan)
    out[ok] = ((scores[ok] >= ranges.lo[ok]) & (scores[ok] <= ranges.hi[ok])).astype(float)
    return out
