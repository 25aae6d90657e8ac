"""Forecasts of a horizon's return variance (the sum of its bars' squared log returns), each
fitted on training rows only and read at bar t from bars up to t:

- ``ewma``: the exponentially weighted mean of squared returns, times the horizon, its
  half-life chosen on the training rows (the RiskMetrics baseline);
- ``har``: HAR-RV (Corsi 2009): the horizon's variance regressed on the last day's, week's
  and month's realized variance, in levels, by least squares;
- ``model``: the product's forecast: HAR in logs (multiplicative errors, as variance has),
  with a range-based (Parkinson) day, the last few bars, and the time-of-day and day-of-week
  profile of the bars the horizon covers (crypto's US and Asian sessions and its weekends).
  Its inputs are scale-free, so one fit serves many symbols, unseen ones too.

``features(open_time, high, low, close, step_ms)`` computes every input once per series;
``fit(kind, frames, targets, h)`` fits on the training rows; ``VolForecast.predict`` reads
the forecast at any bar. A variance forecast is positive and finite wherever the inputs are
warm; NaN before.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mlcore.pipeline.risk.outcomes import log_returns

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
KINDS = ("ewma", "har", "model")
EWMA_HALF_LIVES_DAYS = (0.25, 1.0, 3.0, 11.0)  # 11 days: RiskMetrics' daily lambda of 0.94
FLOOR = 1e-12  # a variance forecast never reaches zero (a stale price feed would)


def _rolling_mean(values: np.ndarray, window: int) -> np.ndarray:
    """Mean over the last ``window`` values (NaN until full or where one is NaN), from running
    sums: a live call reads a few thousand bars, and pandas' rolling machinery cost more than
    the sums."""
    ok = np.isfinite(values)
    sums = np.concatenate([[0.0], np.cumsum(np.where(ok, values, 0.0))])
    counts = np.concatenate([[0], np.cumsum(ok)])
    out = np.full(len(values), np.nan)
    if len(values) >= window:
        full = (counts[window:] - counts[:-window]) == window
        out[window - 1 :] = np.where(full, (sums[window:] - sums[:-window]) / window, np.nan)
    return out


def _ewma(values: np.ndarray, half_life: float) -> np.ndarray:
    return (
        pd.Series(values).ewm(halflife=half_life, min_periods=int(half_life) + 1).mean().to_numpy()
    )


def bars_per(step_ms: int, span_ms: int) -> int:
    return max(1, round(span_ms / step_ms))


def features(
    open_time: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    step_ms: int,
    *,
    baselines: bool = True,
) -> pd.DataFrame:
    """Per bar, from bars up to it: squared returns' means over the last few bars, a day, a
    week and a month (per-bar variance units), a day of Parkinson's range variance, the EWMA
    of squared returns at each candidate half-life (``baselines``), and the bar's time-of-day
    and weekday slots (for the seasonal profile). A month of bars is the warm-up."""
    r2 = log_returns(close) ** 2
    day = bars_per(step_ms, DAY_MS)
    hl = np.log(np.asarray(high, dtype=np.float64) / np.asarray(low, dtype=np.float64)) ** 2
    parkinson = hl / (4.0 * np.log(2.0))
    out = {
        "open_time": np.asarray(open_time, dtype=np.int64),
        "r2": r2,
        "rv_recent": _rolling_mean(r2, max(1, min(4, day))),
        "rv_day": _rolling_mean(r2, day),
        "rv_week": _rolling_mean(r2, 7 * day),
        "rv_month": _rolling_mean(r2, 30 * day),
        "pk_day": _rolling_mean(parkinson, day),
    }
    for days in EWMA_HALF_LIVES_DAYS if baselines else ():  # only the EWMA baseline reads them
        out[f"ewma_{days:g}d"] = _ewma(r2, max(1.0, days * day))
    t = np.asarray(open_time, dtype=np.int64)
    out["slot_hour"] = ((t // HOUR_MS) % 24).astype(np.int64)
    out["slot_weekday"] = (((t // DAY_MS) + 3) % 7).astype(
        np.int64
    )  # 0: Monday (1970-01-01 a Thursday)
    return pd.DataFrame(out)


@dataclass(frozen=True)
class Profile:
    """The mean squared return of each hour of the day and each weekday, relative to the
    whole (1.0 everywhere when the bars are a day or longer)."""

    hour: np.ndarray  # 24
    weekday: np.ndarray  # 7

    @classmethod
    def fit(cls, frames: Sequence[pd.DataFrame]) -> Profile:
        rows = pd.concat([f[["r2", "slot_hour", "slot_weekday"]] for f in frames])
        rows = rows[np.isfinite(rows["r2"])]
        overall = float(rows["r2"].mean()) or 1.0

        def relative(slot: str, n: int) -> np.ndarray:
            means = rows.groupby(slot)["r2"].mean().reindex(range(n)).to_numpy() / overall
            return np.where(np.isfinite(means) & (means > 0), means, 1.0)

        return cls(relative("slot_hour", 24), relative("slot_weekday", 7))

    def ahead(self, frame: pd.DataFrame, h: int, step_ms: int) -> np.ndarray:
        """The profile's mean over the h bars after each bar (what the horizon covers): a
        table over the week's 168 starting hours, read at each bar's own."""
        if step_ms >= DAY_MS:
            return np.ones(len(frame))
        start = np.arange(168, dtype=np.float64)  # hours since Monday 00:00
        total = np.zeros(168)
        for k in range(1, h + 1):
            at = start + k * step_ms / HOUR_MS
            hour = (at % 24).astype(np.int64)
            weekday = ((at // 24) % 7).astype(np.int64)
            total += self.hour[hour] * self.weekday[weekday]
        table = total / h
        slot = frame["slot_weekday"].to_numpy() * 24 + frame["slot_hour"].to_numpy()
        return table[slot]

    def to_dict(self) -> dict:
        return {"hour": self.hour.tolist(), "weekday": self.weekday.tolist()}

    @classmethod
    def from_dict(cls, data: dict) -> Profile:
        return cls(np.asarray(data["hour"], dtype=np.float64), np.asarray(data["weekday"]))


MODEL_INPUTS = ("rv_recent", "rv_day", "rv_week", "rv_month", "pk_day")


def _design(kind: str, frame: pd.DataFrame, h: int, step_ms: int, profile: Profile | None):
    if kind == "har":
        return np.column_stack(
            [
                np.ones(len(frame)),
                *(h * frame[c].to_numpy() for c in ("rv_day", "rv_week", "rv_month")),
            ]
        )
    logs = [np.log(np.maximum(frame[c].to_numpy(), FLOOR)) for c in MODEL_INPUTS]
    seasonal = (
        np.log(profile.ahead(frame, h, step_ms)) if profile is not None else np.zeros(len(frame))
    )
    return np.column_stack([np.ones(len(frame)), *logs, seasonal])


@dataclass(frozen=True)
class VolForecast:
    """A fitted forecast of the h-bar variance."""

    kind: str
    h: int
    step_ms: int
    coef: np.ndarray = field(default_factory=lambda: np.zeros(0))
    half_life_days: float | None = None  # ewma
    smear: float = 1.0  # model: E[exp(residual)] (Duan), so exp(log forecast) is unbiased
    profile: Profile | None = None  # model

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        if self.kind == "ewma":
            var = self.h * frame[f"ewma_{self.half_life_days:g}d"].to_numpy()
        elif self.kind == "har":
            var = _design("har", frame, self.h, self.step_ms, None) @ self.coef
            # Least squares in levels can go below zero after a calm spell: floor it at a
            # tenth of the last day's variance over the horizon.
            var = np.maximum(var, 0.1 * self.h * frame["rv_day"].to_numpy())
        else:
            X = _design("model", frame, self.h, self.step_ms, self.profile)
            var = np.exp(X @ self.coef) * self.smear
        var = np.where(np.isfinite(var), np.maximum(var, FLOOR), np.nan)
        return var

    def to_dict(self) -> dict:
        return {
            "kind": self.kind,
            "h": self.h,
            "step_ms": self.step_ms,
            "coef": self.coef.tolist(),
            "half_life_days": self.half_life_days,
            "smear": self.smear,
            "profile": self.profile.to_dict() if self.profile else None,
        }

    @classmethod
    def from_dict(cls, data: dict) -> VolForecast:
        return cls(
            data["kind"],
            int(data["h"]),
            int(data["step_ms"]),
            np.asarray(data["coef"], dtype=np.float64),
            data.get("half_life_days"),
            float(data.get("smear", 1.0)),
            Profile.from_dict(data["profile"]) if data.get("profile") else None,
        )


def qlike(var: np.ndarray, realized: np.ndarray) -> float:
    """The QLIKE loss (Patton 2011): robust to noise in the realized variance, and it ranks
    forecasts as their true variance would; lower is better."""
    ok = np.isfinite(var) & np.isfinite(realized) & (var > 0) & (realized > 0)
    ratio = realized[ok] / var[ok]
    return float(np.mean(ratio - np.log(ratio) - 1.0)) if ok.any() else float("inf")


def fit(
    kind: str,
    frames: Sequence[pd.DataFrame],
    targets: Sequence[np.ndarray],
    h: int,
    step_ms: int,
) -> VolForecast:
    """Fit ``kind`` on the training rows: each frame's rows whose target (the realized h-bar
    variance after the bar) is known. The caller gives training rows only."""
    if kind not in KINDS:
        raise ValueError(f"unknown volatility forecast {kind!r}; one of {KINDS}")
    if kind == "ewma":
        best = min(
            EWMA_HALF_LIVES_DAYS,
            key=lambda days: np.mean(
                [
                    qlike(h * f[f"ewma_{days:g}d"].to_numpy(), y)
                    for f, y in zip(frames, targets, strict=True)
                ]
            ),
        )
        return VolForecast("ewma", h, step_ms, half_life_days=best)
    profile = Profile.fit(frames) if kind == "model" else None
    X = np.concatenate([_design(kind, f, h, step_ms, profile) for f in frames])
    y = np.concatenate(targets)
    ok = np.isfinite(X).all(axis=1) & np.isfinite(y) & (y > 0)
    if ok.sum() < 10 * X.shape[1]:
        raise ValueError(f"too few rows to fit the {kind} forecast ({int(ok.sum())})")
    if kind == "har":
        coef, *_ = np.linalg.lstsq(X[ok], y[ok], rcond=None)
        return VolForecast("har", h, step_ms, coef)
    log_y = np.log(y[ok])
    coef, *_ = np.linalg.lstsq(X[ok], log_y, rcond=None)
    smear = float(np.mean(np.exp(log_y - X[ok] @ coef)))
    return VolForecast("model", h, step_ms, coef, smear=smear, profile=profile)
