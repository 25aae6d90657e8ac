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
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.utils import timezone

from analysis.intervals import interval_ms
from analysis.market import UnknownSeries, candles_frame
from analysis.quality import ms_to_datetime
from mlcore import reports
from mlcore.models import RiskModel
from mlcore.pipeline.risk.evaluate import evaluate
from mlcore.pipeline.risk.model import Bars, fit_risk

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
