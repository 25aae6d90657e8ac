from __future__ import annotations

from django.contrib import admin

from mlcore.models import BacktestRun


@admin.register(BacktestRun)
class BacktestRunAdmin(admin.ModelAdmin):
    list_display = ["id", "created_at", "symbol", "interval", "strategy", "start", "end"]
    list_filter = ["symbol", "strategy"]
    readonly_fields = [f.name for f in BacktestRun._meta.fields]
