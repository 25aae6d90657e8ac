"""The trader's dashboard: signals master-detail with live insertion, acknowledge, interactions."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_POST

from analysis.symbols import normalise
from mlcore.pipeline.common.grading import GRADES
from signals import board, charts, explanations, replay
from signals.models import NoSignal, Signal

PER_PAGE = 50


def _listing(request: HttpRequest) -> dict:
    """Actionable signals by default (the product abstains from the rest); ``show=all`` lists
    every directional prediction. The count of the hidden ones is always given."""
    signals = Signal.objects.graded().select_related("model_version")
    ticker = normalise(request.GET.get("ticker", ""))
    grade = request.GET.get("grade", "")
    show_all = request.GET.get("show") == "all"
    if ticker:
        signals = signals.filter(symbol=ticker)
    if grade in GRADES:
        signals = signals.filter(grade=grade)
    hidden = 0 if show_all else signals.filter(actionable=False).count()
    if not show_all:
        signals = signals.filter(actionable=True)
    page = Paginator(signals, PER_PAGE).get_page(request.GET.get("page"))
    tickers = Signal.objects.graded().values_list("symbol", flat=True).distinct().order_by("symbol")
    return {
        "page": page,
        "ticker": ticker,
        "grade": grade,
        "grades": GRADES,
        "show_all": show_all,
        "hidden": hidden,
        "tickers": list(tickers),
        "query": request.GET.urlencode(),
    }


def _detail(signal: Signal | None) -> dict:
    if signal is None:
        return {"selected": None}
    return {
        "selected": signal,
        "chart": charts.signal_chart(signal),
        "standing": explanations.standing(signal),
        "drivers": explanations.driver_bars(signal),
    }


@login_required
def dashboard(request: HttpRequest, signal_id: int | None = None) -> HttpResponse:
    """The board of every series, then the list (actionable signals, or every prediction with
    ``show=all``; filterable by ticker and grade, newest first) beside one signal's detail."""
    context = _listing(request)
    if request.htmx and request.htmx.target == "signal-list":
        return render(request, "signals/dashboard.html#list", context)
    selected = (
        get_object_or_404(Signal.objects.select_related("model_version"), pk=signal_id)
        if signal_id
        else next(iter(context["page"].object_list), None)
    )
    context |= _detail(selected)
    if request.htmx and request.htmx.target == "signal-detail":
        return render(request, "signals/dashboard.html#detail", context)
    context["refusals"] = NoSignal.objects.order_by("symbol")
    context["board"] = board.board()
    context["can_replay"] = can_replay(request)
    if not context["page"].object_list and not context["show_all"]:
        context["abstentions"] = board.abstentions(context["board"])
    return render(request, "signals/dashboard.html", context)


@login_required
@require_POST
def acknowledge(request: HttpRequest, signal_id: int) -> HttpResponse:
    """Mark as seen; the list refreshes through the ``signals-changed`` event."""
    signal = get_object_or_404(Signal.objects.select_related("model_version"), pk=signal_id)
    signal.acknowledge()
    response = render(request, "signals/dashboard.html#detail", _detail(signal))
    response["HX-Trigger"] = "signals-changed"
    return response


@login_required
def interactions(request: HttpRequest, signal_id: int) -> HttpResponse:
    """TreeSHAP interaction values among the signal's top drivers, computed on demand."""
    signal = get_object_or_404(Signal.objects.select_related("model_version"), pk=signal_id)
    pairs = explanations.interactions_for(signal)
    return render(request, "signals/_interactions.html", {"pairs": pairs, "selected": signal})


def can_replay(request: HttpRequest) -> bool:
    """The replay runs inference in the web process: a staff demo of the embedded mode only
    (in production the workers infer, on the schedule)."""
    return settings.EMBEDDED and request.user.is_staff


@login_required
@require_POST
def replay_step(request: HttpRequest) -> HttpResponse:
    """Replay the next stored bar of every symbol with a champion, in this process, so the
    signal it makes is pushed to the open dashboards (the embedded mode's in-memory layer)."""
    if not can_replay(request):
        return HttpResponseForbidden("Replaying bars is for staff, in the embedded mode.")
    from mlcore.models import ModelVersion

    sent = []
    for symbol, interval in ModelVersion.objects.filter(status="champion").values_list(
        "symbol", "interval"
    ):
        bar = replay.next_bar(symbol, interval)
        if bar is not None:
            replay.step(symbol, interval, bar)
            sent.append(f"{symbol} {bar:%Y-%m-%d %H:%M}")
    message = "Replayed " + ", ".join(sent) if sent else "Nothing left to replay."
    return HttpResponse(message)
