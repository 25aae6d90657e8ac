from __future__ import annotations

import csv

from django.contrib import admin
from django.http import HttpRequest, HttpResponse

from journal.models import Trade

CSV_FIELDS = [
    "id",
    "entry_time",
    "exit_time",
    "ticker",
    "action",
    "side",
    "grade",
    "followed_signal",
    "entry_price",
    "exit_price",
    "quantity",
    "leverage",
    "fees",
    "funding",
    "pnl",
    "return_on_margin",
    "mae",
    "mfe",
    "mae_pct",
    "mfe_pct",
    "notes",
]


@admin.action(description="Export the selected trades as CSV")
def export_csv(modeladmin, request: HttpRequest, queryset) -> HttpResponse:
    response = HttpResponse(content_type="text/csv")
    response["Content-Disposition"] = 'attachment; filename="trades.csv"'
    writer = csv.writer(response)
    writer.writerow(CSV_FIELDS)
    for trade in queryset.order_by("entry_time"):
        writer.writerow([spreadsheet_safe(getattr(trade, f)) for f in CSV_FIELDS])
    return response


def spreadsheet_safe(value: object) -> object:
    """A text cell a spreadsheet would run as a formula (=, +, -, @, or a tab or return first)
    is exported with a leading apostrophe: shown as text, never executed (OWASP's advice)."""
    if isinstance(value, str) and value[:1] in {"=", "+", "-", "@", "\t", "\r"}:
        return "'" + value
    return value


@admin.register(Trade)
class TradeAdmin(admin.ModelAdmin):
    """Trades are typed in; PnL, MAE/MFE, grade and followed/overrode are computed on save."""

    list_display = [
        "entry_time",
        "ticker",
        "action",
        "side",
        "grade",
        "followed_signal",
        "quantity",
        "entry_price",
        "exit_price",
        "pnl",
    ]
    list_filter = ["action", "side", "grade", "followed_signal", "ticker"]
    search_fields = ["ticker", "notes"]
    date_hierarchy = "entry_time"
    raw_id_fields = ["signal"]
    readonly_fields = [
        "grade",
        "followed_signal",
        "pnl",
        "return_on_margin",
        "mae",
        "mfe",
        "mae_pct",
        "mfe_pct",
    ]
    actions = [export_csv]
