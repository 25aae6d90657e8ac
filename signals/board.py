"""What the dashboard says about every series, actionable or not: the abstention made visible.

The list shows only actionable signals (``Signal.actionable``). The rest of the picture is here:
- ``board()``: per series, its latest prediction (whatever its grade), how that grade fared out
  of sample, the regime, and the standing of the model that serves it;
- ``evidence()``: when nothing is actionable, one sentence per serving model with the figures
  behind the abstention ("no grade of this model beat a coin flip out of sample: 50.3 % on
  4,153 calls");
both read off the stored walk-forward evaluation of each model (``explanations.standing``
reads the same figures for one signal).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Max

from mlcore import serving
from mlcore.models import Evaluation, ModelVersion
from signals.models import Signal


@dataclass(frozen=True)
class GradeStanding:
    grade: str
    count: int
    hit_rate: float | None
    hit_rate_low: float | None
    promise: float | None
    supported: bool


@dataclass(frozen=True)
class BoardRow:
    symbol: str
    interval: str
    latest: Signal
    grade: GradeStanding | None  # the latest prediction's grade, out of sample
    model: ModelVersion
    standing: str  # the model's standing in words


_figures: dict[tuple, list[dict]] = {}
FIELDS = ("grade", "count", "hits", "hit_rate", "hit_rate_low", "promise", "supported")


def grade_figures(model: ModelVersion) -> list[dict]:
    """The model's per-grade out-of-sample figures (``hits.grade_figures`` dicts, under
    ``per_grade`` in every stored evaluation: ``judged.CallFigures``). A model's walk-forward
    is written once, at training: kept per process, since every pushed signal's board row
    reads it (reading the whole evaluation each time cost the push ~25 ms)."""
    key = (model.pk, model.created_at)  # a row id alone can come back (SQLite, a test)
    if key not in _figures:
        evaluation = (
            model.evaluations.filter(kind=Evaluation.Kind.WALK_FORWARD)
            .values_list("figures", flat=True)
            .first()
        )
        figures = evaluation or {}
        if len(_figures) >= 64:
            _figures.clear()
        found = figures.get("per_grade", [])
        _figures[key] = [{k: g.get(k) for k in FIELDS} for g in found]
    return _figures[key]


def _standing_of(grade: str, figures: list[dict]) -> GradeStanding | None:
    row = next((g for g in figures if g.get("grade") == grade), None)
    if row is None:
        return None
    return GradeStanding(
        grade,
        int(row.get("count") or 0),
        row.get("hit_rate"),
        row.get("hit_rate_low"),
        row.get("promise"),
        bool(row.get("supported")),
    )


def model_standing(model: ModelVersion) -> str:
    if model.forced:
        return "forced past a failed gate: no grade is actionable"
    supported = serving.supported_grades(model)
    if supported:
        return "backed out of sample: " + ", ".join(supported)
    return "no grade backed out of sample"


def row_for(latest: Signal) -> BoardRow:
    """The board's row for ``latest``, the newest prediction of its series."""
    model = latest.model_version
    figures = grade_figures(model)
    return BoardRow(
        latest.symbol,
        latest.interval,
        latest,
        _standing_of(latest.grade, figures) if latest.grade else None,
        model,
        model_standing(model),
    )


def board() -> list[BoardRow]:
    """Every series with a live prediction, its latest one first by symbol."""
    newest = (
        Signal.objects.values("symbol", "interval")
        .annotate(last=Max("open_time"))
        .order_by("symbol", "interval")
    )
    return [
        row_for(
            Signal.objects.filter(
                symbol=series["symbol"], interval=series["interval"], open_time=series["last"]
            )
            .select_related("model_version")
            .order_by("-id")
            .first()
        )
        for series in newest
    ]


def evidence(model: ModelVersion) -> str:
    """Why ``model`` makes no actionable signal, in one sentence with its figures."""
    if model.forced:
        return (
            f"{model.version} was forced past a failed training gate, so none of its calls "
            "is actionable."
        )
    supported = serving.supported_grades(model)
    if supported:
        return (
            f"{model.version} backs grade {', '.join(supported)} out of sample, but none of its "
            "predictions here reached it."
        )
    figures = grade_figures(model)
    calls = sum(int(g.get("count") or 0) for g in figures)
    hits = sum(int(g.get("hits") or 0) for g in figures)
    if not calls:
        return f"{model.version} has no out-of-sample calls on record to back any grade."
    sentence = (
        f"No grade of {model.version} beat its promise out of sample: its calls were hits "
        f"{hits / calls:.1%} of the time net of costs on {calls:,} calls"
    )
    promised = [g for g in figures if g.get("promise") is not None and g.get("count")]
    if promised:
        best = max(promised, key=lambda g: g.get("hit_rate_low") or 0.0)
        sentence += (
            f" (best, {best['grade']}: {best['hit_rate']:.1%} on {best['count']:,}, "
            f"Wilson low {best['hit_rate_low']:.1%} under the {best['promise']:.0%} it promises)"
        )
    return sentence + "."


def abstentions(rows: list[BoardRow]) -> list[str]:
    """One sentence per model serving the board, for the page with no actionable signal."""
    seen: dict[int, ModelVersion] = {}
    for row in rows:
        seen.setdefault(row.model.pk, row.model)
    return [evidence(m) for m in seen.values()]
