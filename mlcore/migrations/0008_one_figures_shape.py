"""Every stored evaluation in one shape (``mlcore.pipeline.common.judged``).

Before: a symbol model's figures had its class figures at the top level, a universe model's
holdout had ``scope``, and a universe walk-forward kept its grades under ``calls.grades`` and
its IC as a dict. The rewrite is frozen here (a migration must not import code that moves)."""

from django.db import migrations

HIT_BARRIER = (
    "direction x the return to the triple-barrier exit (target, stop, or the close at the "
    "horizon) > round trip"
)
HIT_FORWARD = "direction x the close-to-close return over the horizon > round trip"
CLASS_KEYS = (
    "class_counts",
    "accuracy",
    "majority_accuracy",
    "prior_log_loss",
    "prior_brier",
    "raw",
    "calibrated",
)


def reshaped(f: dict, version) -> dict:
    if "hit_definition" in f and "kind" in f:
        return f  # already one shape
    horizon = int((version.label_params or {}).get("horizon") or 0)
    if "calls" in f:  # a universe walk-forward report
        calls, ic = f["calls"], f.get("ic") or {}
        return {
            "kind": "universe",
            "hit_definition": HIT_FORWARD + " (the horizon chosen on each fold)",
            "horizon": horizon,
            "round_trip_cost": (version.config or {}).get("round_trip_cost"),
            "rows": f.get("rows", 0),
            "signals": calls.get("scored_calls", 0),
            "ic": ic.get("ic"),
            "ic_p_value": ic.get("p_value"),
            "hit_ece": calls.get("ece"),
            "hit_base_rate": calls.get("hit_base_rate"),
            "entry": "taker",  # every model before the choice of entry
            "unfilled": 0,
            "per_grade": calls.get("grades", []),
            "grade_sets": [],
            "symbol": "",
            "trained_on_symbol": True,
            "classes": None,
            "detail": {k: v for k, v in f.items() if k not in {"rows", "ic", "calls"}}
            | {"calibrated_folds": calls.get("calibrated_folds")},
        }
    if f.get("scope") == "universe":  # a universe model's holdout
        return {
            "kind": "universe",
            "hit_definition": HIT_FORWARD,
            "horizon": f.get("horizon", horizon),
            "round_trip_cost": f.get("round_trip_cost"),
            "rows": f.get("rows", 0),
            "signals": f.get("signals", 0),
            "ic": f.get("ic"),
            "ic_p_value": f.get("ic_p_value"),
            "hit_ece": f.get("hit_ece"),
            "hit_base_rate": f.get("hit_base_rate"),
            "entry": "taker",
            "unfilled": 0,
            "per_grade": f.get("per_grade", []),
            "grade_sets": f.get("grade_sets", []),
            "symbol": f.get("symbol", ""),
            "trained_on_symbol": f.get("trained_on_symbol", True),
            "classes": None,
            "detail": {"supported_grades": f.get("supported_grades", [])},
        } | ({"risk": f["risk"]} if "risk" in f else {})
    calls = f.get("per_grade", [])  # every directional call falls in one grade
    counted = sum(g.get("count") or 0 for g in calls)
    hits = sum(g.get("hits") or 0 for g in calls)
    return {
        "kind": "symbol",
        "hit_definition": HIT_BARRIER,
        "horizon": horizon,
        "round_trip_cost": f.get("round_trip_cost"),
        "rows": f.get("rows", 0),
        "signals": f.get("signals", 0),
        "ic": f.get("ic"),
        "ic_p_value": f.get("ic_p_value"),
        "hit_ece": f.get("hit_ece"),
        "hit_base_rate": hits / counted if counted else None,
        "entry": "taker",
        "unfilled": 0,
        "per_grade": f.get("per_grade", []),
        "grade_sets": f.get("grade_sets", []),
        "symbol": version.symbol,
        "trained_on_symbol": True,
        "classes": {k: f.get(k) for k in CLASS_KEYS},
        "detail": {},
    } | ({"risk": f["risk"]} if "risk" in f else {})


def forwards(apps, schema_editor):
    Evaluation = apps.get_model("mlcore", "Evaluation")
    for evaluation in Evaluation.objects.select_related("model_version").iterator():
        if not evaluation.figures:
            continue
        figures = reshaped(evaluation.figures, evaluation.model_version)
        if figures is not evaluation.figures:
            evaluation.figures = figures
            evaluation.save(update_fields=["figures"])


class Migration(migrations.Migration):
    dependencies = [("mlcore", "0007_model_kind")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
