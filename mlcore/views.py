from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from mlcore.models import BacktestRun

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


def backtest_list(request: HttpRequest) -> HttpResponse:
    runs = BacktestRun.objects.defer("curve", "trades")[:100]
    return render(request, "mlcore/backtest_list.html", {"runs": runs})


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
