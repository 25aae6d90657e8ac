"""Market data is read-only here (ingest writes it, never a hand); the universe is edited here."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest
from django.shortcuts import redirect

from analysis.models import Candle, FundingRate, Universe


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


@admin.register(Universe)
class UniverseAdmin(admin.ModelAdmin):
    """One row: the symbols and intervals every fetch, training, drift check and page uses.
    Deleting it returns to the environment's TRADINGAI_SYMBOLS / TRADINGAI_INTERVALS."""

    list_display = ["symbols", "intervals", "updated_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return not Universe.objects.exists()

    def save_model(self, request: HttpRequest, obj: Universe, form, change: bool) -> None:
        obj.pk = 1  # the one live row
        super().save_model(request, obj, form, change)

    def changelist_view(self, request: HttpRequest, extra_context=None):
        # One row: a list of it says nothing. Its form, or the form to save the environment's
        # universe as the first row.
        row = Universe.objects.first()
        if row:
            return redirect("admin:analysis_universe_change", row.pk)
        return redirect("admin:analysis_universe_add")

    def get_changeform_initial_data(self, request: HttpRequest) -> dict:
        from analysis import universe

        symbols, intervals = universe.current()
        return {"symbols": ",".join(symbols), "intervals": ",".join(intervals)}
