"""/settings: what the product watches and how it grades, beside the admin that edits the same
``GradingConfig`` row (staff may edit here too; the model's own validation guards both)."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

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


@login_required
def settings_page(request: HttpRequest) -> HttpResponse:
    config = GradingConfig.current()
    form = GradingForm(request.POST or None, instance=config)
    if request.method == "POST":
        if not request.user.is_staff:
            messages.error(request, "Only staff may change the grade thresholds.")
            return redirect("signals:settings")
        if form.is_valid():
            form.save()
            messages.success(request, "Grade thresholds saved; new signals use them.")
            return redirect("signals:settings")
    return render(
        request,
        "signals/settings.html",
        {
            "form": form,
            "config": config,
            "symbols": settings.SYMBOLS,
            "intervals": settings.INTERVALS,
            "editable": request.user.is_staff,
        },
    )
