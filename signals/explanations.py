"""What the detail page shows about a signal's explanation and its model's standing."""

from __future__ import annotations

from mlcore.models import Evaluation
from mlcore.pipeline.common.explain import Interaction, interactions
from mlcore.pipeline.symbol.predict import predict
from mlcore.serving.cache import serving_for
from mlcore.serving.symbol import window
from signals.models import Signal

CLASS_INDEX = {"sell": 0, "neutral": 1, "buy": 2}


def driver_bars(signal: Signal) -> list[dict]:
    """Drivers for and against as bars scaled to the largest contribution."""
    e = signal.explanation or {}
    drivers = [*e.get("drivers_for", []), *e.get("drivers_against", [])]
    largest = max((abs(d["contribution"]) for d in drivers), default=0) or 1.0
    return [
        d | {"width": round(100 * abs(d["contribution"]) / largest, 1), "up": d["contribution"] > 0}
        for d in drivers
    ]


def standing(signal: Signal) -> dict:
    """The model behind the signal and how its grade fared out of sample."""
    model = signal.model_version
    evaluation = model.evaluations.filter(kind=Evaluation.Kind.WALK_FORWARD).first()
    figures = evaluation.figures if evaluation else {}
    grades = figures.get("per_grade", [])  # every family's shape (``judged.CallFigures``)
    grade = next((g for g in grades if g["grade"] == signal.grade), None)
    return {"model": model, "grade": grade}


def interactions_for(signal: Signal, top: int = 10) -> list[Interaction]:
    """Recompute the bar's features with the signal's model and return the interaction values
    among its top drivers (TreeSHAP interactions cost ~30 ms: on demand, not stored). A
    universe model's are not computed (an empty list): only its drivers are explained."""
    served = serving_for(signal.model_version)
    if served.kind != "symbol":
        return []
    bundle = served.bundle
    bar_ms = int(signal.open_time.timestamp() * 1000)
    candles, funding = window(signal.symbol, bundle, bar_ms)
    preds = predict(bundle, candles, funding if not funding.empty else None, since=bar_ms)
    e = signal.explanation
    names = [d["feature"] for d in (*e.get("drivers_for", []), *e.get("drivers_against", []))]
    predicted = CLASS_INDEX[e.get("predicted_class", "buy")]
    return interactions(
        bundle.xgb, preds.features.iloc[-1].to_numpy(), bundle.spec.features, predicted, names, top
    )
