"""Evaluations stored before the one shape (``judged.CallFigures``) are rewritten into it by
migration 0008, so every reader has one path: the three old shapes, as they were stored."""

from __future__ import annotations

import importlib
from dataclasses import fields
from types import SimpleNamespace

from mlcore.pipeline.common.judged import HIT_BARRIER, HIT_FORWARD, CallFigures

migration = importlib.import_module("mlcore.migrations.0008_one_figures_shape")
SHAPE = {f.name for f in fields(CallFigures)}
GRADE = {"grade": "A", "count": 40, "hits": 30, "supported": False}
CALIBRATION = {"rows": 10, "log_loss": 1.0, "brier": 0.6, "ece": 0.05, "reliability": []}


def test_a_symbol_models_figures_keep_their_classes_apart():
    old = {
        "rows": 500,
        "class_counts": {"sell": 1, "neutral": 2, "buy": 3},
        "accuracy": 0.4,
        "majority_accuracy": 0.38,
        "prior_log_loss": 1.09,
        "prior_brier": 0.66,
        "raw": CALIBRATION,
        "calibrated": CALIBRATION,
        "ic": 0.02,
        "ic_p_value": 0.3,
        "hit_ece": 0.04,
        "signals": 80,
        "per_grade": [GRADE, GRADE | {"grade": "C", "count": 10, "hits": 2}],
        "grade_sets": [],
        "round_trip_cost": 0.0012,
        "risk": {"refused": "none fitted"},
    }
    version = SimpleNamespace(symbol="BTCUSDT", label_params={"horizon": 24}, config={})
    new = migration.reshaped(old, version)
    assert set(new) == SHAPE | {"risk"} and new["hit_definition"] == HIT_BARRIER
    assert new["classes"]["accuracy"] == 0.4 and new["classes"]["calibrated"] == CALIBRATION
    assert new["hit_base_rate"] == 32 / 50 and new["horizon"] == 24
    assert new["symbol"] == "BTCUSDT" and new["risk"] == old["risk"]
    assert migration.reshaped(new, version) is new  # run twice, changed once


def test_a_universe_walk_forward_lifts_its_calls_and_keeps_the_rest_as_detail():
    old = {
        "rows": 9000,
        "ic": {"ic": 0.03, "p_value": 0.01, "rows": 9000},
        "calls": {
            "calibrated_folds": [2, 3],
            "scored_calls": 700,
            "hit_base_rate": 0.49,
            "hit_definition": "old words",
            "ece": 0.02,
            "grades": [GRADE],
        },
        "per_symbol": [{"symbol": "BTCUSDT"}],
        "best_rule": {"name": "momentum"},
    }
    version = SimpleNamespace(
        symbol="UNIVERSE", label_params={"horizon": 8}, config={"round_trip_cost": 0.001}
    )
    new = migration.reshaped(old, version)
    assert set(new) == SHAPE and new["hit_definition"].startswith(HIT_FORWARD)
    assert (new["ic"], new["ic_p_value"], new["signals"]) == (0.03, 0.01, 700)
    assert new["per_grade"] == [GRADE] and new["classes"] is None
    assert new["detail"]["per_symbol"] == old["per_symbol"] and new["round_trip_cost"] == 0.001


def test_a_universe_holdout_drops_its_scope_for_the_kind():
    old = {
        "scope": "universe",
        "symbol": "SOLUSDT",
        "trained_on_symbol": False,
        "horizon": 8,
        "rows": 300,
        "signals": 40,
        "ic": -0.01,
        "ic_p_value": 0.8,
        "hit_ece": 0.03,
        "hit_base_rate": 0.47,
        "per_grade": [GRADE],
        "grade_sets": [],
        "supported_grades": [],
        "round_trip_cost": 0.0012,
    }
    version = SimpleNamespace(symbol="UNIVERSE", label_params={"horizon": 8}, config={})
    new = migration.reshaped(old, version)
    assert set(new) == SHAPE and new["kind"] == "universe" and new["hit_definition"] == HIT_FORWARD
    assert new["symbol"] == "SOLUSDT" and new["trained_on_symbol"] is False
