"""Out-of-time proof of the risk figures: the risk model fitted on the rows whose outcomes
ended before ``train_end`` (``model.fit_risk``), judged on the bars from ``train_end`` on,
side by side with the baselines on the same rows.

``evaluate(series, step_ms, train_end_ms)`` -> a plain dict, per horizon (bars):
1. ``volatility``: the forecast's rank IC (Spearman) against the realized absolute move, and
   EWMA's and HAR-RV's (each fitted on the symbol's own training rows), per symbol, their
   means, and on how many symbols the model beats the better baseline;
2. ``ranges``: at every ``range_every``-th test bar, the served ranges exactly as live
   inference computes them (``model.intervals_at`` over the trailing span), checked against
   what happened: coverage of the 50 % and 90 % ranges of the close at the horizon and of the
   high and low reached within it, overall and per volatility tercile (the forecast's
   terciles among each symbol's sampled bars), each with its Wilson 95 % interval;
3. ``touch``: ideas at every ``idea_every``-th test bar (both sides, stops and targets at 0.5,
   1 and 1.5 forecast spreads): ECE and Brier of the driftless baseline and of the calibrated
   odds (the calibrator saw training-period ideas only), and the Brier skill.
"""

from __future__ import annotations

from collections.abc import Sequence

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
    intervals_at,
)


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
    bars = [b for _, b in series]
    model = model or fit_risk(bars, step_ms, train_end_ms, idea_every)
    frames = [volatility.features(b.open_time, b.high, b.low, b.close, step_ms) for b in bars]
    report: dict = {
        "train_end_ms": train_end_ms,
        "symbols": [name for name, _ in series],
        "model": model.to_dict(),
    }
    tested = [b.open_time >= train_end_ms for b in bars]
    sampled = _ranges(model, series, tested, range_every)
    for m in model.horizons:
        report[str(m.h)] = {
            "volatility": _volatility(series, frames, m, step_ms, train_end_ms, tested),
            "ranges": sampled[m.h],
            "touch": _touch(bars, frames, m, tested, idea_every),
        }
    return report


def _volatility(series, frames, m, step_ms, train_end_ms, tested) -> dict:
    h = m.h
    per_symbol = []
    for (name, b), f, t in zip(series, frames, tested, strict=True):
        move = np.abs(outcomes.forward_move(b.close, h))
        forecasts = {"model": m.vol.predict(f)}
        trained = b.open_time + (h + 1) * step_ms <= train_end_ms
        realized = outcomes.forward_variance(b.close, h)
        for kind in ("ewma", "har"):  # the baselines, on the symbol's own training rows
            try:
                fitted = volatility.fit(
                    kind, [f.loc[trained].reset_index(drop=True)], [realized[trained]], h, step_ms
                )
                forecasts[kind] = fitted.predict(f)
            except ValueError:  # too little history before the training end to fit it
                forecasts[kind] = np.full(len(f), np.nan)
        ics = {k: spearman(np.sqrt(v[t]), move[t]) for k, v in forecasts.items()}
        best = max((x for k, x in ics.items() if k != "model" and x is not None), default=None)
        beats = None if ics["model"] is None or best is None else bool(ics["model"] >= best)
        rows = int(np.isfinite(move[t]).sum())
        per_symbol.append({"symbol": name, "rows": rows, "ic": ics, "model_beats": beats})
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


def _ranges(model: RiskModel, series, tested, every: int) -> dict[int, dict]:
    """The served ranges at sampled test bars against what happened after them."""
    hits: dict = {}  # (h, what, coverage) -> [inside], with each bar's spread for terciles
    for (_, b), t in zip(series, tested, strict=True):
        rows = np.flatnonzero(t)[::every]
        mine: dict = {}
        for row in rows:
            upto = Bars(*(x[: row + 1] for x in (b.open_time, b.high, b.low, b.close)))
            found = intervals_at(model, upto)  # reads only bars up to ``row``, as live does
            if found is None:
                continue
            for m, spread, z_ranges in found:
                realized = _realized(b, row, m.h, spread)
                if realized is None:
                    continue
                for what, levels in z_ranges.items():
                    for key, (lo, hi) in levels.items():
                        value = realized[what]
                        mine.setdefault((m.h, what, key), []).append((lo <= value <= hi, spread))
        for key, values in mine.items():
            inside = np.array([v[0] for v in values], dtype=float)
            spreads = np.array([v[1] for v in values])
            cuts = np.quantile(spreads, [1 / 3, 2 / 3])
            hits.setdefault(key, []).append((inside, np.digitize(spreads, cuts)))
    out: dict[int, dict] = {m.h: {} for m in model.horizons}
    for (h, what, key), parts in hits.items():
        inside = np.concatenate([p[0] for p in parts])
        tercile = np.concatenate([p[1] for p in parts])
        out[h][f"{what}_{key}"] = {
            "target": int(key) / 100,
            "all": _coverage(inside),
            "terciles": [_coverage(inside[tercile == k]) for k in range(3)],
        }
    return out


def _realized(bars: Bars, row: int, h: int, spread: float) -> dict[str, float] | None:
    """What happened over the h bars after ``row``, in spreads; None past the data."""
    if row + h >= len(bars.close):
        return None
    window = Bars(
        *(x[row : row + h + 1] for x in (bars.open_time, bars.high, bars.low, bars.close))
    )
    scores = horizon_scores(window, np.full(len(window.close), spread**2), h)
    return {k: float(v[0]) for k, v in scores.items()}


def _touch(bars, frames, m, tested, idea_every) -> dict:
    shapes, results = [], []
    for b, f, t in zip(bars, frames, tested, strict=True):
        every = np.arange(len(b.close))[::idea_every]
        shape, result = ideas(b, m.vol.predict(f), every[t[every]], m.h)
        shapes.append(shape)
        results.append(result)
    shape, out = np.concatenate(shapes), np.concatenate(results)
    known = out >= 0
    shape, out = shape[known], out[known]
    if not len(out):
        return {"ideas": 0}
    base = touch.driftless(*shape.T)
    calibrated = m.touch.apply(*shape.T)
    brier_base, brier_cal = touch.brier(base, out), touch.brier(calibrated, out)
    return {
        "ideas": len(out),
        "calibration_rows": m.touch.rows,
        "frequencies": {
            name: float((out == k).mean())
            for name, k in (("target", 0), ("stop", 1), ("neither", 2))
        },
        "baseline": {"ece": touch.ece(base, out), "brier": brier_base},
        "calibrated": {"ece": touch.ece(calibrated, out), "brier": brier_cal},
        "brier_skill": 1.0 - brier_cal / brier_base if brier_base > 0 else None,
    }


__all__ = ["COVERAGES", "evaluate"]
