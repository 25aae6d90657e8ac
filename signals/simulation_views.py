"""The simulations' pages: the list, and one track record (equity curves, per-grade table, the
retraining timeline), read off the stored report; a running one polls its progress."""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from signals.models import Simulation, SimulationWindow

COLORS = {
    "all calls": "#1f6feb",
    "B and up": "#8957e5",
    "actionable": "#2ea043",
    "best rule": "#d29922",
    "buy and hold": "#8b949e",
}


def by_symbol(
    windows: list[SimulationWindow],
) -> tuple[list[datetime], list[tuple[str, list[SimulationWindow | None]]]]:
    """A per-symbol simulation's windows as a grid: the periods, and per symbol its window in
    each (None where it has none)."""
    periods = sorted({w.start for w in windows})
    cells: dict[str, dict[datetime, SimulationWindow]] = {}
    for w in windows:
        cells.setdefault(w.symbol, {})[w.start] = w
    return periods, [(s, [mine.get(p) for p in periods]) for s, mine in sorted(cells.items())]


@login_required
def simulations(request: HttpRequest) -> HttpResponse:
    return render(request, "signals/simulations.html", {"simulations": Simulation.objects.all()})


@login_required
def simulation(request: HttpRequest, simulation_id: int) -> HttpResponse:
    sim = get_object_or_404(Simulation, pk=simulation_id)
    report = sim.report or {}
    curves = [
        {"name": name, "color": COLORS.get(name, "#c9d1d9"), "points": points}
        for name, points in (report.get("curves") or {}).items()
    ]
    context = {"sim": sim, "report": report, "curves": curves, "calls": report.get("calls")}
    if request.htmx and request.htmx.target == "simulation-progress":
        return render(request, "signals/simulation.html#progress", context)
    # The windows only for the whole page, not for the progress a running one polls.
    context["windows"] = list(sim.windows.select_related("trained", "served_by"))
    if not sim.pooled:
        context["periods"], context["grid"] = by_symbol(context["windows"])
    return render(request, "signals/simulation.html", context)
