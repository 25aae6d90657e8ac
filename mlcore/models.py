from __future__ import annotations

from django.db import models


class BacktestRun(models.Model):
    """One backtest of one symbol: what was run, on what window and costs, and what came out
    (strategy metrics, the baselines beside it, the equity curve and the trades)."""

    created_at = models.DateTimeField(auto_now_add=True)
    symbol = models.CharField(max_length=20)
    interval = models.CharField(max_length=4)
    strategy = models.CharField(max_length=100)
    start = models.DateTimeField()
    end = models.DateTimeField()
    params = models.JSONField(default=dict, help_text="costs, margin, sizing, data window")
    metrics = models.JSONField(default=dict)
    baselines = models.JSONField(default=dict, help_text="baseline name -> metrics")
    comparison = models.JSONField(default=dict, help_text="Monte Carlo random-signal percentiles")
    curve = models.JSONField(
        default=list, help_text="[open_time ms, equity, drawdown], downsampled"
    )
    trades = models.JSONField(default=list)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        window = f"{self.start:%Y-%m-%d}..{self.end:%Y-%m-%d}"
        return f"{self.strategy} on {self.symbol} {self.interval} ({window})"
