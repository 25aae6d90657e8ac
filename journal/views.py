"""/journal: record a trade (the same validation as the admin and the API), the trades, and how
they did beside the predictions."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from journal.models import Trade
from journal.performance import performance

DATETIME = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


class TradeForm(forms.ModelForm):
    class Meta:
        model = Trade
        fields = [
            "ticker",
            "action",
            "side",
            "signal",
            "entry_time",
            "entry_price",
            "exit_time",
            "exit_price",
            "quantity",
            "leverage",
            "fees",
            "funding",
            "notes",
        ]
        widgets = {
            "entry_time": DATETIME,
            "exit_time": DATETIME,
            "signal": forms.NumberInput(),
            "notes": forms.TextInput(),
        }
        # The browser's date picker sends no zone; the server reads UTC, as every page shows.
        labels = {"entry_time": "Entry time (UTC)", "exit_time": "Exit time (UTC)"}


@login_required
def journal(request: HttpRequest) -> HttpResponse:
    form = TradeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        trade = form.save()
        pnl = "open" if trade.pnl is None else f"PnL {trade.pnl:+.2f} USDT"
        messages.success(request, f"Recorded #{trade.pk} {trade}: {pnl}")
        return redirect("journal:journal")
    trades = Trade.objects.select_related("signal")
    return render(
        request,
        "journal/journal.html",
        {
            "form": form,
            "trades": trades[:100],
            "figures": performance(trades),
        },
    )
