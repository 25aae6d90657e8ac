"""Fit the risk model of an interval on the stored bars and record it (``manage.py
train_risk``; ``train_all --pooled`` and the first run call it too).

``train_risk(interval, symbols, until=None, holdout_from=None, progress=None)``:
1. read each symbol's stored candles up to ``until`` (a symbol with fewer than two months of
   bars is left out, with the reason);
2. fit (``risk.model.fit_risk``) on the rows whose outcomes ended by the training end: by
   ``holdout_from`` when given, else by the last stored bar;
3. with ``holdout_from``: evaluate the fitted model on the bars from then on
   (``risk.evaluate``), out of time, beside EWMA and HAR-RV on the same rows;
4. record it as a ``RiskModel`` row (the newest of an interval serves) and write the report
   to ``var/reports/risk_<interval>.json``.

``judge_window(interval, symbols, start, end)``: the serving risk model judged over a window
after its training end (``evaluate`` reports it beside the direction figures), with the
baselines fitted on each symbol's bars before the window.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.utils import timezone

from analysis.intervals import interval_ms
from analysis.market import UnknownSeries, candles_frame
from analysis.quality import ms_to_datetime
from mlcore import reports
from mlcore.models import RiskModel
from mlcore.pipeline.risk.evaluate import Judged, evaluate, judge
from mlcore.pipeline.risk.model import Bars, fit_risk, horizons_in_bars
from mlcore.pipeline.risk.model import RiskModel as Fitted

MIN_DAYS = 60  # a month of warm-up and a month of outcomes


class RiskError(ValueError):
    """The stored data cannot fit a risk model; the message says why."""


@dataclass
class RiskFit:
    record: RiskModel
    left_out: dict[str, str] = field(default_factory=dict)


def train_risk(
    interval: str,
    symbols: Sequence[str],
    until: datetime | None = None,
    holdout_from: datetime | None = None,
    progress: Callable[[str], None] | None = None,
) -> RiskFit:
    say = progress or (lambda _: None)
    step = interval_ms(interval)
    series, left_out = read_series(interval, symbols, until=until)
    if not series:
        raise RiskError(
            "no symbol has enough stored bars to fit the risk model; left out: "
            + ("; ".join(f"{k}: {v}" for k, v in left_out.items()) or "none")
        )
    last = max(int(b.open_time[-1]) for _, b in series) + step
    end = int(holdout_from.timestamp() * 1000) if holdout_from else last
    say(f"fitting the risk model on {len(series)} symbols up to {ms_to_datetime(end):%Y-%m-%d}")
    model = fit_risk([b for _, b in series], step, end)
    report: dict = {"left_out": left_out}
    if holdout_from is not None:
        say("evaluating it on the held-out bars")
        report |= evaluate(series, step, end, model=model)
    version = f"risk-{interval}-{timezone.now():%Y%m%d-%H%M%S-%f}"
    record = RiskModel.objects.create(
        interval=interval,
        version=version,
        train_end=ms_to_datetime(end),
        symbols=[name for name, _ in series],
        params=model.to_dict(),
        report=reports.plain(report),
    )
    reports.write_report(f"risk_{interval}.json", {"version": version, **record.report})
    return RiskFit(record, left_out)


def read_series(
    interval: str, symbols: Sequence[str], until: datetime | None = None
) -> tuple[list[tuple[str, Bars]], dict[str, str]]:
    """Each symbol's stored bars up to ``until``; a symbol with fewer than ``MIN_DAYS`` of them
    is left out, with the reason."""
    step = interval_ms(interval)
    series, left_out = [], {}
    for symbol in symbols:
        try:
            candles = candles_frame(symbol, interval, until=until)
        except (UnknownSeries, ValueError) as exc:
            left_out[symbol] = str(exc)
            continue
        if len(candles) * step < MIN_DAYS * 86_400_000:
            left_out[symbol] = f"{len(candles)} bars: fewer than {MIN_DAYS} days"
            continue
        series.append((symbol, Bars.of(candles)))
    return series, left_out


def judge_window(interval: str, symbols: Sequence[str], start: datetime, end: datetime) -> dict:
    """The interval's serving risk model judged on ``[start, end)`` (``risk.evaluate.judge``);
    ``{"refused": why}`` where it cannot be judged honestly (none fitted, or the window starts
    before its training end)."""
    record = RiskModel.current(interval)
    if record is None:
        return {"refused": f"no {interval} risk model fitted yet (manage.py train_risk)"}
    if start < record.train_end:
        return {
            "refused": f"the risk model {record.version} fitted outcomes up to "
            f"{record.train_end:%Y-%m-%d %H:%M}: an honest evaluation of it starts then or later",
            "model": record.version,
        }
    step = interval_ms(interval)
    lookahead = max(horizons_in_bars(step)) + 1
    series, left_out = read_series(
        interval, symbols, until=end + timedelta(milliseconds=lookahead * step)
    )
    if not series:
        return {"refused": "no symbol has enough stored bars", "left_out": left_out}
    window = Judged(int(start.timestamp() * 1000), int(end.timestamp() * 1000),
                    Fitted.from_dict(record.params))  # fmt: skip
    report = judge(series, step, [window])
    return reports.plain({"model": record.version, "left_out": left_out} | report)


def describe(h: int, figures: dict) -> str:
    """One horizon of a risk report as the commands print it."""
    v, t = figures["volatility"], figures["touch"]
    ic = v["mean_ic"]

    def f(x: float | None) -> str:
        return "n/a" if x is None else f"{x:.3f}"

    lines = [
        f"horizon {h} bars: rank IC model {f(ic['model'])}, EWMA {f(ic['ewma'])}, HAR-RV "
        f"{f(ic['har'])}; the model beats both on {v['symbols_model_beats_baselines']} of "
        f"{v['symbols_judged']} symbols"
    ]
    for name, r in figures["ranges"].items():
        terciles = ", ".join(f(x["coverage"]) for x in r["terciles"])
        lines.append(f"  {name}: covered {f(r['all']['coverage'])} (terciles {terciles})")
    if t.get("ideas"):
        lines.append(
            f"  first touch on {t['ideas']} ideas: ECE {f(t['calibrated']['ece'])} "
            f"(driftless {f(t['baseline']['ece'])}), Brier skill {f(t['brier_skill'])}"
        )
    return "\n".join(lines)
