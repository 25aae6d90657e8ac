"""/api/backtests: recorded backtest runs."""

from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest
from ninja import Router, Schema

from mlcore.models import BacktestRun
from tradingai.api_errors import ApiError

router = Router(tags=["backtests"])


class BacktestSummaryOut(Schema):
    id: int
    created_at: datetime
    symbol: str
    interval: str
    strategy: str
    start: datetime
    end: datetime
    metrics: dict


class BacktestOut(BacktestSummaryOut):
    params: dict
    baselines: dict
    comparison: dict
    curve: list
    trades: list


@router.get("/", response=list[BacktestSummaryOut])
def list_backtests(request: HttpRequest, limit: int = 50) -> list[BacktestRun]:
    """The newest runs, without their curves and trades."""
    return list(BacktestRun.objects.defer("curve", "trades")[: max(1, min(limit, 500))])


@router.get("/{backtest_id}", response=BacktestOut)
def get_backtest(request: HttpRequest, backtest_id: int) -> BacktestRun:
    """One run: metrics, baselines side by side, the equity/drawdown curve and the trades."""
    try:
        return BacktestRun.objects.get(pk=backtest_id)
    except BacktestRun.DoesNotExist:
        raise ApiError(404, "not_found", f"no backtest #{backtest_id}") from None
