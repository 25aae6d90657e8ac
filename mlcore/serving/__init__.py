"""The one seam every model family serves through.

- ``choice``: which model serves a symbol (its own champion or the universe one) and what
  its evidence backs;
- ``ServingModel`` (``base``): what history a model needs and ``serve(symbols, bar)`` ->
  per symbol a frozen ``Call`` or a ``Refusal`` (``call``); ``SymbolServing`` and
  ``UniverseServing`` implement it;
- ``serving_for(record)`` (``cache``): the loaded model of a ``ModelVersion``, per process.

Nothing outside this package asks which family a model is in order to predict with it.
"""

from __future__ import annotations

from mlcore.serving.call import Call, Refusal, Refused
from mlcore.serving.choice import (
    actionable,
    choose,
    is_universe,
    serving_model,
    serving_models,
    supported_grades,
    trained_on,
    universe_wins,
)

__all__ = [
    "Call",
    "Refusal",
    "Refused",
    "actionable",
    "choose",
    "is_universe",
    "serving_model",
    "serving_models",
    "supported_grades",
    "trained_on",
    "universe_wins",
]
