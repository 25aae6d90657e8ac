"""Read-only admin: market data is written by ingest only, never edited by hand."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from analysis.models import Candle, FundingRate


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Candle)
class CandleAdmin(ReadOnlyAdmin):
    list_display = ["symbol", "interval", "open_time", "open", "high", "low", "close", "volume"]
    list_filter = ["symbol", "interval"]
    date_hierarchy = "open_time"
    ordering = ["symbol", "interval", "-open_time"]
    search_fields = ["symbol"]
    # Counting a million rows on every page load is the slow part of a big changelist.
    show_full_result_count = False


@admin.register(FundingRate)
class FundingRateAdmin(ReadOnlyAdmin):
    list_display = ["symbol", "funding_time", "rate", "mark_price"]
    list_filter = ["symbol"]
    date_hierarchy = "funding_time"
    ordering = ["symbol", "-funding_time"]
    show_full_result_count = False
