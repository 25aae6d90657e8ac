from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from analysis.exchange import ExchangeError
from portfolio.holdings import NotConfigured, UnsafeKey, snapshot


@login_required
def portfolio(request: HttpRequest) -> HttpResponse:
    """The account, read-only: or why it cannot be shown (no key, an unsafe key, no exchange)."""
    context: dict = {"portfolio": None, "problem": None}
    try:
        context["portfolio"] = snapshot()
    except (NotConfigured, UnsafeKey, ExchangeError) as exc:
        context["problem"] = str(exc)
        context["kind"] = type(exc).__name__
    return render(request, "portfolio/portfolio.html", context)
