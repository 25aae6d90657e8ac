"""Which model serves a symbol: its own champion, or the universe champion.

The universe champion serves a symbol where it won out of sample in its walk-forward (its
IC on the symbol's rows beat the symbol's own model on the same folds), and wherever the
symbol has no champion of its own: a new listing, or a symbol the universe model never trained
on. Otherwise the symbol's own champion serves. The choice is read off the records, so it
changes the moment either champion does.
"""

from __future__ import annotations

from mlcore.models import ModelVersion
from mlcore.pipeline.universe.final_model import UNIVERSE


def universe_wins(universe: ModelVersion, symbol: str) -> bool:
    """The universe model's verdict for ``symbol``; a symbol it never saw has no rival."""
    return universe.metrics.get("winners", {}).get(symbol, "universe") == "universe"


def choose(
    own: ModelVersion | None, universe: ModelVersion | None, symbol: str
) -> ModelVersion | None:
    if universe is not None and (own is None or universe_wins(universe, symbol)):
        return universe
    return own


def serving_model(symbol: str, interval: str) -> ModelVersion | None:
    return choose(
        ModelVersion.objects.champion(symbol, interval),
        ModelVersion.objects.champion(UNIVERSE, interval),
        symbol,
    )


def is_universe(model: ModelVersion) -> bool:
    return model.kind == ModelVersion.Kind.UNIVERSE


def trained_on(model: ModelVersion, symbol: str) -> bool:
    """Did ``model`` see ``symbol``'s rows in training?"""
    if is_universe(model):
        return symbol in model.config.get("symbols", [])
    return model.symbol == symbol


def supported_grades(model: ModelVersion) -> list[str]:
    """The grades the model's out-of-sample evidence backs (recorded at training)."""
    return list(model.metrics.get("supported_grades", []))


def actionable(model: ModelVersion, grade: str, directional: bool, unseen: bool = False) -> bool:
    """A call a trader may act on: directional, in a grade its model's evidence backs, from a
    model that passed its gates (a forced model has earned nothing). On a symbol the model
    never trained on (``unseen``), the evidence is the leave-symbols-out walk-forward's."""
    backed = model.metrics.get("supported_grades_unseen", []) if unseen else supported_grades(model)
    return directional and not model.forced and grade in backed


def serving_models(symbols: list[str], interval: str) -> dict[str, ModelVersion | None]:
    """``serving_model`` of many symbols in one query of the champions."""
    champions = {
        m.symbol: m
        for m in ModelVersion.objects.filter(
            status=ModelVersion.Status.CHAMPION, interval=interval, symbol__in=[*symbols, UNIVERSE]
        )
    }
    universe = champions.get(UNIVERSE)
    return {symbol: choose(champions.get(symbol), universe, symbol) for symbol in symbols}
