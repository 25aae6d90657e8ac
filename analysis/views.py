from __future__ import annotations

from datetime import UTC, datetime

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from analysis.freshness import series_freshness


def home(request: HttpRequest) -> HttpResponse:
    """What data the product holds and how current it is."""
    return render(request, "analysis/home.html", {"series": series_freshness(datetime.now(UTC))})
