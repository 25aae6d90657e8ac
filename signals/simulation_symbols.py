"""A per-symbol simulation's two family-specific steps (``signals.simulation`` runs the rest):
each symbol's own model (XGBoost + LSTM ensemble) trained at a window's start, and its calls
over the window.

- ``train``: the gated pipeline of ``train SYMBOL`` (``mlcore.training.symbol``) on the bars
  before the window's start only (``TrainRequest.until``: its candles and funding are read up
  to there, and a row is a training row only if its triple-barrier label ended before it);
  the verdict of every gate is kept on the window, the model recorded under the simulation.
- ``calls``: the window's model behind the serving interface (``SymbolServing.window_calls``: the
  ``predict`` live inference ends in, and the same call-maker), fed the stored bars up to the
  window's end, with the risk figures the live call would have carried.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import transaction

from analysis.quality import ms_to_datetime
from mlcore.config import TrainRequest
from mlcore.models import ModelVersion
from mlcore.serving import risk as serving_risk
from mlcore.serving.cache import serving_for
from mlcore.training.symbol import train_simulated
from signals.models import Signal, Simulation, SimulationWindow

if TYPE_CHECKING:
    from signals.simulation import Inputs

# The start of a window's message when its symbol could not be trained (too short a
# history, no candles before it): the window is settled, served by an earlier model or none.
NO_MODEL = "no model could be trained: "


def train(sim: Simulation, window: SimulationWindow) -> ModelVersion | None:
    """The symbol's model at the window's start, recorded on the window in one transaction."""
    request = TrainRequest(
        window.symbol, sim.interval, until=window.start, quick=sim.quick, force=sim.force
    )
    trained = train_simulated(request, sim.name)
    with transaction.atomic():
        locked = SimulationWindow.objects.select_for_update().get(pk=window.pk)
        if locked.trained_id:  # a second delivery of the same training finished first
            return locked.trained
        if trained.version is None:
            window.message = NO_MODEL + trained.message
            window.save(update_fields=["message"])
            return None
        window.trained = trained.version
        window.passed = trained.passed
        window.candles_end = trained.version.train_end
        if trained.labels_end_ms is not None:
            window.labels_end = ms_to_datetime(trained.labels_end_ms)
        window.rule = trained.rule
        window.message = trained.message
        window.save()
    return trained.version


def calls(
    sim: Simulation,
    window: SimulationWindow,
    model: ModelVersion,
    inputs: Inputs,
    loaded: serving_risk.Loaded | None,
) -> list[Signal]:
    """The window's calls as unsaved simulated signals (``Signal.from_call``), with the risk
    the window's risk model (``loaded``) gives at each bar."""
    served = serving_for(model)
    first, last = (int(t.timestamp() * 1000) for t in (window.start, window.end))
    symbol = window.symbol
    made = served.window_calls(symbol, inputs.candles[symbol], inputs.funding[symbol], first, last)
    if loaded is not None and made:
        made = serving_risk.with_risk(
            loaded, made, inputs.bars, served.horizon, served.round_trip_cost
        )
    return [Signal.from_call(call, model, simulation=sim) for call in made]
