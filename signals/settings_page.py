"""/settings: what the product watches and how it grades, beside the admin that edits the same
``Universe`` and ``GradingConfig`` rows (staff may edit here too; the models' own validation
guards both places)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from analysis import universe
from analysis.models import Universe
from mlcore.models import GradingConfig


class GradingForm(forms.ModelForm):
    class Meta:
        model = GradingConfig
        fields = [
            "a_plus_confidence",
            "a_plus_confirmations",
            "a_confidence",
            "a_confirmations",
            "b_confidence",
            "b_confirmations",
        ]


class CostsForm(forms.ModelForm):
    class Meta:
        model = GradingConfig
        fields = ["entry", "taker_fee", "maker_fee", "slippage_bps"]


class UniverseForm(forms.ModelForm):
    class Meta:
        model = Universe
        fields = ["symbols", "intervals"]
        widgets = {"symbols": forms.Textarea(attrs={"rows": 3})}


SAVED = {
    "universe": "Universe saved; the next fetch, training and check use it.",
    "grades": "Grade thresholds saved; new signals use them.",
    "costs": "Costs saved; the next training judges its calls at them.",
}


@login_required
def settings_page(request: HttpRequest) -> HttpResponse:
    config = GradingConfig.current()
    posted = request.POST.get("form") if request.method == "POST" else None
    symbols, intervals = universe.current()
    current = Universe(pk=1, symbols=",".join(symbols), intervals=",".join(intervals))
    universe_form = UniverseForm(request.POST if posted == "universe" else None, instance=current)
    form = GradingForm(request.POST if posted == "grades" else None, instance=config)
    costs_form = CostsForm(request.POST if posted == "costs" else None, instance=config)
    if posted:
        if not request.user.is_staff:
            messages.error(request, "Only staff may change the settings.")
            return redirect("signals:settings")
        edited = {"universe": universe_form, "costs": costs_form}.get(posted, form)
        if edited.is_valid():
            edited.save()
            messages.success(request, SAVED[posted])
            return redirect("signals:settings")
    return render(
        request,
        "signals/settings.html",
        {
            "form": form,
            "universe_form": universe_form,
            "costs_form": costs_form,
            "round_trip": config.costs().round_trip,
            "config": config,
            "from_environment": not universe.edited(),
            "editable": request.user.is_staff,
        },
    )
