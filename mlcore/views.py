from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from analysis import universe
from mlcore.models import BacktestRun, ModelVersion, TrainingRun
from mlcore.serving import is_universe

TRADES_PER_PAGE = 50
METRIC_ROWS = [
    ("total_return", "Total return", "pct"),
    ("cagr", "CAGR", "pct"),
    ("sharpe", "Sharpe", "num"),
    ("sortino", "Sortino", "num"),
    ("calmar", "Calmar", "num"),
    ("max_drawdown", "Max drawdown", "pct"),
    ("max_drawdown_days", "Max drawdown (days)", "num"),
    ("win_rate", "Win rate", "pct"),
    ("profit_factor", "Profit factor", "num"),
    ("exposure", "Exposure", "pct"),
    ("turnover", "Turnover (x equity / year)", "num"),
    ("trades", "Trades", "int"),
    ("fees", "Fees paid", "num"),
    ("funding", "Funding paid", "num"),
    ("liquidations", "Liquidations", "int"),
    ("psr", "Probabilistic Sharpe", "pct"),
]


@login_required
def backtest_list(request: HttpRequest) -> HttpResponse:
    runs = BacktestRun.objects.defer("curve", "trades")[:100]
    return render(request, "mlcore/backtest_list.html", {"runs": runs})


@login_required
def backtest_detail(request: HttpRequest, backtest_id: int) -> HttpResponse:
    """The run with its baselines side by side; the trades table pages by HTMX partial."""
    run = get_object_or_404(BacktestRun, pk=backtest_id)
    trades = Paginator(run.trades, TRADES_PER_PAGE).get_page(request.GET.get("page"))
    context = {"run": run, "trades": trades}
    if request.htmx:
        return render(request, "mlcore/backtest_detail.html#trades", context)
    columns = [("Strategy", run.metrics), *((name, m) for name, m in run.baselines.items())]
    rows = [
        (label, kind, [metrics.get(key) for _, metrics in columns])
        for key, label, kind in METRIC_ROWS
    ]
    context |= {"columns": [name for name, _ in columns], "rows": rows}
    return render(request, "mlcore/backtest_detail.html", context)


@login_required
def models_list(request: HttpRequest) -> HttpResponse:
    """Per symbol: the champion (or a plain statement that none has passed) and challengers."""
    versions = list(
        ModelVersion.objects.exclude(status=ModelVersion.Status.RETIRED).prefetch_related(
            "evaluations"
        )
    )
    symbols = sorted({*universe.symbols(), *(v.symbol for v in versions)})
    pooled = [v for v in versions if is_universe(v) and v.status == "champion"]
    series = []
    for symbol in symbols:
        mine = [v for v in versions if v.symbol == symbol]
        champion = next((v for v in mine if v.status == "champion"), None)
        series.append(
            {
                "symbol": symbol,
                "universe": bool(mine) and all(is_universe(v) for v in mine),
                "champion": champion,
                "drift": champion.drift_reports.select_related("training_run").first()
                if champion
                else None,
                "challengers": [v for v in mine if v.status == "challenger"],
                "retired": ModelVersion.objects.filter(symbol=symbol, status="retired").count(),
            }
        )
    # Universe series last: the symbols first, each saying what serves it.
    series.sort(key=lambda s: s["universe"])
    return render(request, "mlcore/models.html", {"series": series, "pooled": pooled})


def _reliability_points(figures: dict) -> list[dict]:
    """The calibrated reliability table as SVG coordinates (0-100, y up), sized by count."""
    table = (figures["classes"] or {}).get("calibrated", {}).get("reliability", [])
    most = max((b["count"] for b in table), default=0) or 1
    return [
        {
            "x": round(100 * b["confidence"], 2),
            "y": round(100 - 100 * b["accuracy"], 2),
            "r": round(1.2 + 3.5 * (b["count"] / most) ** 0.5, 2),
            "bin": b,
        }
        for b in table
        if b["count"]
    ]


@login_required
def model_detail(request: HttpRequest, model_id: int) -> HttpResponse:
    """Gates, then one evaluation (walk-forward or a held-out window): reliability diagram,
    per-grade table, graded backtests with their equity curves."""
    model = get_object_or_404(ModelVersion, pk=model_id)
    evaluations = list(model.evaluations.all())
    chosen = request.GET.get("evaluation")
    evaluation = next((e for e in evaluations if str(e.pk) == chosen), None) or (
        evaluations[0] if evaluations else None
    )
    context = {
        "model": model,
        "evaluations": evaluations,
        "evaluation": evaluation,
        "universe": is_universe(model),
        "supported": model.metrics.get("supported_grades", []),
        "target": model.metrics.get("target"),
    }
    if evaluation:
        figures = evaluation.figures  # one shape for every family (``judged.CallFigures``)
        context |= {
            "figures": figures,
            "grades": figures["per_grade"],
            "points": _reliability_points(figures),
            "curves": [
                {"name": b["grade_set"], "curve": b.get("curve", [])} for b in evaluation.backtests
            ],
        }
    return render(request, "mlcore/model_detail.html", context)


@login_required
def training_list(request: HttpRequest) -> HttpResponse:
    """Training runs; the table polls itself every 2 s while one is queued or running."""
    runs = list(TrainingRun.objects.select_related("model_version")[:50])
    context = {"runs": runs, "active": any(r.active for r in runs)}
    if request.htmx:
        return render(request, "mlcore/training.html#runs", context)
    return render(request, "mlcore/training.html", context)


@login_required
def training_detail(request: HttpRequest, run_id: int) -> HttpResponse:
    run = get_object_or_404(TrainingRun.objects.select_related("model_version"), pk=run_id)
    if request.htmx:
        return render(request, "mlcore/training_detail.html#status", {"run": run})
    return render(request, "mlcore/training_detail.html", {"run": run})
