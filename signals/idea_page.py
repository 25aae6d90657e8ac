""" "Check my idea" (``/risk/``): the trader's own trade through the risk model, the same
``mlcore.risk_check.check`` that ``POST /api/risk/check`` answers with."""

from __future__ import annotations

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from analysis import universe
from analysis.symbols import SYMBOL, normalise
from mlcore import risk_check
from mlcore.pipeline.risk.model import HORIZON_HOURS


class IdeaForm(forms.Form):
    ticker = forms.CharField(max_length=30, help_text="BTCUSDT, BTC-USD or btc/usdt")
    side = forms.ChoiceField(choices=[("long", "long"), ("short", "short")])
    entry = forms.FloatField(required=False, min_value=1e-12, help_text="blank: the last close")
    stop = forms.FloatField(min_value=1e-12)
    target = forms.FloatField(min_value=1e-12)
    horizon_hours = forms.TypedChoiceField(
        coerce=int, choices=[(h, f"{h} h") for h in HORIZON_HOURS], initial=24
    )

    def clean_ticker(self) -> str:
        symbol = normalise(self.cleaned_data["ticker"])
        if not SYMBOL.fullmatch(symbol):
            raise forms.ValidationError("not a symbol")
        return symbol


@login_required
def idea(request: HttpRequest) -> HttpResponse:
    form = IdeaForm(request.POST or None)
    answer = None
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        try:
            answer = risk_check.check(
                d["ticker"],
                universe.intervals()[0],
                d["side"],
                d["stop"],
                d["target"],
                d["horizon_hours"],
                d["entry"],
            )
        except risk_check.IdeaError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        except (risk_check.UnknownSymbol, risk_check.RiskUnavailable) as exc:
            form.add_error(None, str(exc))
    template = "signals/idea.html#result" if request.htmx else "signals/idea.html"
    return render(request, template, {"form": form, "answer": answer})
