"""Out-of-time proof of the risk figures: forecasts fitted on the rows whose outcomes ended
before ``train_end``, judged on the bars from ``train_end`` on, side by side with the
baselines on the same rows.

``evaluate(series, step_ms, train_end_ms, horizons)`` -> a plain dict, per horizon:
1. volatility: each forecast's rank IC (Spearman) against the realized absolute move, per
   symbol and pooled, and on how many symbols the model beats the better baseline;
2. ranges: the 50 % and 90 % ranges' coverage of the close at the horizon and of the high and
   low reached within it, overall and per volatility tercile (the forecast's terciles among
   each symbol's test bars), each with its Wilson 95 % interval;
3. first-touch odds: ideas at every ``idea_every``-th bar (both sides, stops and targets at
   0.5, 1 and 1.5 forecast spreads), the calibrator fitted on training-period ideas only;
   ECE and Brier of the driftless baseline and of the calibrated odds, and the Brier skill.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from mlcore.pipeline.risk import outcomes, ranges, touch, volatility

COVERAGES = (0.5, 0.9)
MULTIPLES = (0.5, 1.0, 1.5)  # stop and target distances, in forecast spreads


@dataclass(frozen=True)
class Series:
    symbol: str
    open_time: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray


def wilson(hits: int, n: int, z: float = 1.96) -> tuple[float | None, float | None]:
    if n == 0:
        return None, None
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return float(centre - half), float(centre + half)


def spearman(x: np.ndarray, y: np.ndarray) -> float | None:
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 30:
        return None
    return float(stats.spearmanr(x[ok], y[ok]).statistic)


def _coverage(inside: np.ndarray) -> dict:
    known = inside[np.isfinite(inside)]
    hits, n = int(known.sum()), len(known)
    low, high = wilson(hits, n)
    return {"n": n, "coverage": hits / n if n else None, "low": low, "high": high}


def evaluate(
    series: Sequence[Series],
    step_ms: int,
    train_end_ms: int,
    horizons: Sequence[int] = (4, 24, 72),
    idea_every: int = 6,
) -> dict:
    frames = [volatility.features(s.open_time, s.high, s.low, s.close, step_ms) for s in series]
    report: dict = {"train_end_ms": train_end_ms, "symbols": [s.symbol for s in series]}
    for h in horizons:
        report[str(h)] = _horizon(series, frames, step_ms, train_end_ms, h, idea_every)
    return report


def _horizon(series, frames, step_ms, train_end_ms, h, idea_every) -> dict:
    realized = [outcomes.forward_variance(s.close, h) for s in series]
    move = [outcomes.forward_move(s.close, h) for s in series]
    # A training row's outcome ends by the training end: bar t's ends when bar t + h closes.
    trained = [s.open_time + (h + 1) * step_ms <= train_end_ms for s in series]
    tested = [s.open_time >= train_end_ms for s in series]

    model = volatility.fit(
        "model",
        [f.loc[m].reset_index(drop=True) for f, m in zip(frames, trained, strict=True)],
        [r[m] for r, m in zip(realized, trained, strict=True)],
        h,
        step_ms,
    )
    forecasts: dict[str, list[np.ndarray]] = {"model": [model.predict(f) for f in frames]}
    for kind in ("ewma", "har"):  # the baselines, fitted per symbol on its own training rows
        forecasts[kind] = []
        for f, r, m in zip(frames, realized, trained, strict=True):
            try:
                fitted = volatility.fit(kind, [f.loc[m].reset_index(drop=True)], [r[m]], h, step_ms)
                forecasts[kind].append(fitted.predict(f))
            except ValueError:  # too little history to fit: no forecast
                forecasts[kind].append(np.full(len(f), np.nan))
    per_symbol = []
    for i, s in enumerate(series):
        t = tested[i]
        ics = {k: spearman(np.sqrt(v[i][t]), np.abs(move[i][t])) for k, v in forecasts.items()}
        best = max((x for k, x in ics.items() if k != "model" and x is not None), default=None)
        per_symbol.append(
            {
                "symbol": s.symbol,
                "rows": int(np.isfinite(move[i][t]).sum()),
                "ic": ics,
                "model_beats_baselines": None
                if ics["model"] is None or best is None
                else ics["model"] >= best,
            }
        )
    judged = [p for p in per_symbol if p["model_beats_baselines"] is not None]
    volatility_report = {
        "per_symbol": per_symbol,
        "mean_ic": {k: _mean([p["ic"][k] for p in per_symbol]) for k in forecasts},
        "symbols_model_beats_baselines": sum(p["model_beats_baselines"] for p in judged),
        "symbols_judged": len(judged),
        "model": model.to_dict(),
    }
    return {
        "volatility": volatility_report,
        "ranges": _ranges(series, forecasts["model"], move, tested, h),
        "touch": _touch(series, forecasts["model"], trained, tested, h, idea_every),
    }


def _mean(values) -> float | None:
    known = [v for v in values if v is not None]
    return float(np.mean(known)) if known else None


def _ranges(series, var, move, tested, h) -> dict:
    out = {}
    for what in ("close", "high", "low"):
        for coverage in COVERAGES:
            inside, tercile = [], []
            for i, s in enumerate(series):
                spread = np.sqrt(var[i])
                if what == "close":
                    outcome = move[i]
                else:
                    up, down = outcomes.forward_extremes(s.high, s.low, s.close, h)
                    outcome = up if what == "high" else down
                z = outcome / spread
                buckets = ranges.volatility_buckets(spread)
                r = ranges.adaptive_ranges(z, h, coverage, buckets)
                t = tested[i] & np.isfinite(z) & np.isfinite(r.lo)
                inside.append(ranges.covered(z, r)[t])
                cuts = np.nanquantile(spread[t], [1 / 3, 2 / 3]) if t.any() else [np.inf, np.inf]
                tercile.append(np.digitize(spread[t], cuts))
            inside_all, terciles = np.concatenate(inside), np.concatenate(tercile)
            out[f"{what}_{int(coverage * 100)}"] = {
                "target": coverage,
                "all": _coverage(inside_all),
                "terciles": [_coverage(inside_all[terciles == k]) for k in range(3)],
            }
    return out


def _ideas(s: Series, var: np.ndarray, rows: np.ndarray, h: int):
    """Ideas entered at the close of ``rows``: both sides, every pair of stop and target
    distances in forecast spreads. Returns (a, b, horizon variance) per idea and the outcomes."""
    spread = np.sqrt(var[rows])
    ok = np.isfinite(spread) & (spread > 0)
    rows, spread = rows[ok], spread[ok]
    pairs = [(side, kt, ks) for side in (1, -1) for kt in MULTIPLES for ks in MULTIPLES]
    start = np.repeat(rows, len(pairs))
    side = np.tile([p[0] for p in pairs], len(rows))
    a = np.repeat(spread, len(pairs)) * np.tile([p[1] for p in pairs], len(rows))
    b = np.repeat(spread, len(pairs)) * np.tile([p[2] for p in pairs], len(rows))
    close = s.close[start]
    upper = np.where(side > 0, close * np.exp(a), close * np.exp(b))
    lower = np.where(side > 0, close * np.exp(-b), close * np.exp(-a))
    outcome = outcomes.first_touch(s.high, s.low, start, upper, lower, side, h)
    return np.column_stack([a, b, np.repeat(spread, len(pairs)) ** 2]), outcome


def _touch(series, var, trained, tested, h, idea_every) -> dict:
    fit_base, fit_out, test_base, test_out = [], [], [], []
    for i, s in enumerate(series):
        every = np.arange(len(s.close))[::idea_every]
        base, out = _ideas(s, var[i], every[trained[i][every]], h)
        fit_base.append(base)
        fit_out.append(out)
        base, out = _ideas(s, var[i], every[tested[i][every]], h)
        test_base.append(base)
        test_out.append(out)
    shape = np.concatenate(fit_base)
    calibrator = touch.TouchCalibrator.fit(*shape.T, np.concatenate(fit_out))
    shape, out = np.concatenate(test_base), np.concatenate(test_out)
    known = out >= 0
    shape, out = shape[known], out[known]
    if not len(out):
        return {"ideas": 0}
    base = touch.driftless(*shape.T)
    calibrated = calibrator.apply(*shape.T)
    brier_base, brier_cal = touch.brier(base, out), touch.brier(calibrated, out)
    return {
        "ideas": len(out),
        "calibration_rows": calibrator.rows,
        "frequencies": {
            k: float((out == v).mean()) for k, v in (("target", 0), ("stop", 1), ("neither", 2))
        },
        "baseline": {"ece": touch.ece(base, out), "brier": brier_base},
        "calibrated": {"ece": touch.ece(calibrated, out), "brier": brier_cal},
        "brier_skill": 1.0 - brier_cal / brier_base if brier_base > 0 else None,
    }


def load_csv(path: str, symbol: str) -> Series:
    """A shared-data candle file (``open_time,open,high,low,close,volume``) as a Series."""
    frame = pd.read_csv(path)
    return Series(
        symbol,
        frame["open_time"].to_numpy(np.int64),
        frame["high"].to_numpy(np.float64),
        frame["low"].to_numpy(np.float64),
        frame["close"].to_numpy(np.float64),
    )
