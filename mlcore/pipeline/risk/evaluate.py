"""Out-of-time proof of the risk figures: each risk model judged on bars after its training
end only, side by side with the baselines on the same rows.

``judge(series, step_ms, schedule)`` -> a plain dict. The schedule is one or more ``Judged``
windows, each a model and the bars it is judged on (open times in ``[start_ms, end_ms)``):
``train_risk --holdout-from`` judges one model from its training end on, ``evaluate`` the
serving model over the asked window, ``simulate`` the model refitted at each window's start.
Per horizon (bars):
1. ``volatility``: the forecast's rank IC (Spearman) against the realized absolute move, and
   EWMA's and HAR-RV's (each fitted on the symbol's own rows that ended by the window's
   start), per symbol, their means, and on how many symbols the model beats the better
   baseline;
2. ``ranges``: at every ``range_every``-th judged bar, the served ranges exactly as live
   inference computes them (``model.intervals_over``: the live function, a week per pass),
   checked against what happened: coverage of the 50 % and 90 % ranges of the close at the
   horizon and of the high and low reached within it, overall, per volatility tercile (the
   forecast's terciles among each symbol's sampled bars) and per symbol, each with its Wilson
   95 % interval;
3. ``touch``: ideas at every ``idea_every``-th judged bar (both sides, stops and targets at
   0.5, 1 and 1.5 forecast spreads): ECE and Brier of the driftless baseline and of the
   calibrated odds (the calibrator saw ideas resolved before the window only), and the Brier
   skill, pooled and per symbol.
``evaluate(series, step_ms, train_end_ms)`` is the one-window case (fitting the model when
none is given).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mlcore.pipeline.common.hits import wilson
from mlcore.pipeline.common.rule_baselines import spearman
from mlcore.pipeline.risk import outcomes, touch, volatility
from mlcore.pipeline.risk.model import (
    COVERAGES,
    Bars,
    RiskModel,
    fit_risk,
    horizon_scores,
    ideas,
    intervals_over,
)


@dataclass(frozen=True)
class Judged:
    """A risk model and the bars it is judged on: open times from ``start_ms`` (at or after
    its training end) to ``end_ms`` (None: the last)."""

    start_ms: int
    end_ms: int | None
    model: RiskModel

    def rows(self, bars: Bars) -> np.ndarray:
        inside = bars.open_time >= self.start_ms
        if self.end_ms is not None:
            inside &= bars.open_time < self.end_ms
        return inside


def _coverage(inside: np.ndarray) -> dict:
    hits, n = int(inside.sum()), len(inside)
    low, high = wilson(hits, n) if n else (None, None)
    return {"n": n, "coverage": hits / n if n else None, "low": low, "high": high}


def evaluate(
    series: Sequence[tuple[str, Bars]],
    step_ms: int,
    train_end_ms: int,
    *,
    range_every: int = 24,
    idea_every: int = 6,
    model: RiskModel | None = None,
) -> dict:
    """``model``: one fitted already (on data before ``train_end_ms``); else fitted here."""
    model = model or fit_risk([b for _, b in series], step_ms, train_end_ms, idea_every)
    report = judge(
        series,
        step_ms,
        [Judged(train_end_ms, None, model)],
        range_every=range_every,
        idea_every=idea_every,
    )
    return {"train_end_ms": train_end_ms, "model": model.to_dict()} | report


def judge(
    series: Sequence[tuple[str, Bars]],
    step_ms: int,
    schedule: Sequence[Judged],
    *,
    range_every: int = 24,
    idea_every: int = 6,
) -> dict:
    """The module's figures; every model of ``schedule`` has the same horizons (one
    interval)."""
    bars = [b for _, b in series]
    frames = [volatility.features(b.open_time, b.high, b.low, b.close, step_ms) for b in bars]
    report: dict = {
        "symbols": [name for name, _ in series],
        "windows": [{"start_ms": w.start_ms, "end_ms": w.end_ms} for w in schedule],
    }
    sampled = _ranges(series, schedule, range_every)
    for h in (m.h for m in schedule[0].model.horizons):
        report[str(h)] = {
            "volatility": _volatility(series, frames, schedule, h, step_ms),
            "ranges": sampled[h],
            "touch": _touch(series, frames, schedule, h, idea_every),
        }
    return report


def _volatility(series, frames, schedule, h: int, step_ms: int) -> dict:
    per_symbol = []
    for (name, b), f in zip(series, frames, strict=True):
        move = np.abs(outcomes.forward_move(b.close, h))
        realized = outcomes.forward_variance(b.close, h)
        forecasts = {k: np.full(len(b.close), np.nan) for k in ("model", "ewma", "har")}
        judged = np.zeros(len(b.close), dtype=bool)
        for w in schedule:
            t = w.rows(b)
            if not t.any():
                continue
            judged |= t
            forecasts["model"][t] = w.model.horizon(h).vol.predict(f)[t]
            trained = b.open_time + (h + 1) * step_ms <= w.start_ms
            for kind in ("ewma", "har"):  # the baselines, on the symbol's own earlier rows
                try:
                    fitted = volatility.fit(
                        kind, [f.loc[trained].reset_index(drop=True)], [realized[trained]], h,
                        step_ms,
                    )  # fmt: skip
                    forecasts[kind][t] = fitted.predict(f)[t]
                except ValueError:  # too little history before the window to fit it
                    pass
        # The same rows for all three: where each forecast that exists is known.
        same = judged & np.isfinite(move)
        for values in forecasts.values():
            if np.isfinite(values[judged]).any():
                same &= np.isfinite(values)
        ics = {
            k: spearman(np.sqrt(v[same]), move[same]) if np.isfinite(v[same]).any() else None
            for k, v in forecasts.items()
        }
        best = max((x for k, x in ics.items() if k != "model" and x is not None), default=None)
        beats = None if ics["model"] is None or best is None else bool(ics["model"] >= best)
        per_symbol.append(
            {"symbol": name, "rows": int(same.sum()), "ic": ics, "model_beats": beats}
        )
    judged = [p for p in per_symbol if p["model_beats"] is not None]
    return {
        "per_symbol": per_symbol,
        "mean_ic": {k: _mean([p["ic"][k] for p in per_symbol]) for k in ("model", "ewma", "har")},
        "symbols_model_beats_baselines": sum(p["model_beats"] for p in judged),
        "symbols_judged": len(judged),
    }


def _mean(values) -> float | None:
    known = [v for v in values if v is not None]
    return float(np.mean(known)) if known else None


def _ranges(series, schedule, every: int) -> dict[int, dict]:
    """The served ranges at sampled judged bars against what happened after them."""
    # (h, what, coverage) -> per symbol: (inside, tercile of the bar's spread)
    hits: dict = {}
    for name, b in series:
        mine: dict = {}
        for w in schedule:
            rows = np.flatnonzero(w.rows(b))[::every]
            for row, found in zip(rows, intervals_over(w.model, b, rows), strict=True):
                if found is None:
                    continue
                for m, spread, z_ranges in found:
                    realized = _realized(b, int(row), m.h, spread)
                    if realized is None:
                        continue
                    for what, levels in z_ranges.items():
                        for key, (lo, hi) in levels.items():
                            value = realized[what]
                            mine.setdefault((m.h, what, key), []).append(
                                (lo <= value <= hi, spread)
                            )
        for key, values in mine.items():
            inside = np.array([v[0] for v in values], dtype=float)
            spreads = np.array([v[1] for v in values])
            cuts = np.quantile(spreads, [1 / 3, 2 / 3])
            hits.setdefault(key, []).append((name, inside, np.digitize(spreads, cuts)))
    out: dict[int, dict] = {m.h: {} for m in schedule[0].model.horizons}
    for (h, what, key), parts in hits.items():
        inside = np.concatenate([p[1] for p in parts])
        tercile = np.concatenate([p[2] for p in parts])
        out[h][f"{what}_{key}"] = {
            "target": int(key) / 100,
            "all": _coverage(inside),
            "terciles": [_coverage(inside[tercile == k]) for k in range(3)],
            "per_symbol": {name: _coverage(mine) for name, mine, _ in parts},
        }
    return out


def _realized(bars: Bars, row: int, h: int, spread: float) -> dict[str, float] | None:
    """What happened over the h bars after ``row``, in spreads; None past the data."""
    if row + h >= len(bars.close):
        return None
    window = bars.slice(row, row + h + 1)
    scores = horizon_scores(window, np.full(len(window.close), spread**2), h)
    return {k: float(v[0]) for k, v in scores.items()}


def _touch(series, frames, schedule, h: int, idea_every: int) -> dict:
    per_symbol, pooled = [], []
    for (name, b), f in zip(series, frames, strict=True):
        every = np.arange(len(b.close))[::idea_every]
        parts = []
        for w in schedule:
            m = w.model.horizon(h)
            shape, out = ideas(b, m.vol.predict(f), every[w.rows(b)[every]], h)
            known = out >= 0
            shape, out = shape[known], out[known]
            parts.append((shape, out, m.touch.apply(*shape.T) if len(out) else np.empty((0, 3))))
        mine = tuple(np.concatenate([p[i] for p in parts]) for i in range(3))
        pooled.append(mine)
        per_symbol.append({"symbol": name} | _touch_figures(*mine, detail=False))
    figures = _touch_figures(*(np.concatenate([p[i] for p in pooled]) for i in range(3)))
    rows = sorted({w.model.horizon(h).touch.rows for w in schedule})
    return figures | {"calibration_rows": rows[0] if len(rows) == 1 else rows,
                      "per_symbol": per_symbol}  # fmt: skip


def _touch_figures(shape, out, calibrated, detail: bool = True) -> dict:
    if not len(out):
        return {"ideas": 0}
    base = touch.driftless(*shape.T)
    brier_base, brier_cal = touch.brier(base, out), touch.brier(calibrated, out)
    figures = {
        "ideas": len(out),
        "baseline": {"ece": touch.ece(base, out), "brier": brier_base},
        "calibrated": {"ece": touch.ece(calibrated, out), "brier": brier_cal},
        "brier_skill": 1.0 - brier_cal / brier_base if brier_base > 0 else None,
    }
    if detail:
        figures["frequencies"] = {
            name: float((out == k).mean())
            for name, k in (("target", 0), ("stop", 1), ("neither", 2))
        }
    return figures


__all__ = ["COVERAGES", "Judged", "evaluate", "judge"]
