"""The universe walk-forward: the purge across symbols, the rules and the gate that uses them,
a confidence that means its hit rate, grades that keep their promise, and the command."""

from __future__ import annotations

import io
import itertools
import json

import numpy as np
import pandas as pd
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from analysis.ingest import import_file
from analysis.tests.binance_replay import SHARED
from mlcore.pipeline.common import rule_baselines
from mlcore.pipeline.common.hits import (
    HitCalibrator,
    HitGrades,
    grade_calls,
    grade_evidence,
    hit_ece,
    walk_forward_confidence,
    wilson,
)
from mlcore.pipeline.universe import pooled
from mlcore.pipeline.universe.scale_free import UniverseParams, pooled_frame, symbol_frame
from mlcore.tests.conftest import load
from mlcore.training.universe import gate

H = 3_600_000
P = UniverseParams()
SYMBOLS = ("BTCUSDT", "ETHUSDT", "1000PEPEUSDT")


@pytest.fixture(scope="module")
def data() -> pooled.Dataset:
    frames = {s: symbol_frame(*load(s), "1h", P) for s in SYMBOLS}
    config = pooled.PooledConfig.build(quick=True)
    return pooled.make_dataset(pooled_frame(frames, P), H, config.horizons, P)


def test_no_training_label_of_any_symbol_reaches_into_a_test_fold(data):
    config = pooled.PooledConfig.build(quick=True, folds=5)
    folds = pooled.time_folds(data, config)
    assert len(folds) == 5
    t = data.open_time
    for fold in folds:
        assert set(data.symbol[fold.test]) == set(SYMBOLS)  # every symbol is tested
        for h in config.horizons:
            train = pooled.training_rows(data, fold, h)
            assert len(train) > 1000
            assert set(data.symbol[train]) == set(SYMBOLS)
            # Labels end before the block opens, and an embargo separates them.
            assert (pooled.label_end(data, train, h) < fold.test_start).all()
            assert t[train].max() < fold.test_start - max(config.horizons) * H
            # The label's end bar really is h bars later for that symbol (no stretched label).
            assert np.isfinite(data.target_z[h][train]).all()
        assert t[fold.test].min() >= fold.test_start and t[fold.test].max() < fold.test_end
    # Negative control: training on every row before the block would leak labels into it.
    fold, h = folds[2], max(config.horizons)
    naive = np.flatnonzero(t < fold.test_start)
    assert (pooled.label_end(data, naive, h) >= fold.test_start).sum() >= len(SYMBOLS) * h - 3


def test_forward_returns_are_per_symbol_and_never_span_a_hole(data):
    rows = data.rows
    eth = rows[rows["symbol"] == "ETHUSDT"]
    i = eth.index[100]
    later = eth[eth["open_time"] == eth.loc[i, "open_time"] + 8 * H]
    expected = later["close"].iloc[0] / eth.loc[i, "close"] - 1
    assert data.forward[8][i] == pytest.approx(expected)
    # A hole: drop an hour of ETH; the rows whose horizon spans it get no target.
    frames = {s: symbol_frame(*load(s), "1h", P) for s in ("BTCUSDT", "ETHUSDT")}
    eth_frame = frames["ETHUSDT"]
    cut = eth_frame.index[5000]
    frames["ETHUSDT"] = eth_frame.drop(index=cut)
    holed = pooled.make_dataset(pooled_frame(frames, P), H, (4,), P)
    e = holed.rows["symbol"].to_numpy() == "ETHUSDT"
    spans = e & (holed.open_time < cut) & (holed.open_time >= cut - 4 * H)
    assert spans.sum() == 4 and np.isnan(holed.forward[4][spans]).all()


def test_best_rule_is_chosen_on_earlier_folds_only():
    rng = np.random.default_rng(0)
    n = 3000
    fold = np.repeat([1, 2, 3], n // 3)
    target = rng.normal(size=n)
    noise = rng.normal(size=n)
    # "a" tracks the target in fold 1 only, "b" in folds 2 and 3.
    a = np.where(fold == 1, target + noise * 0.5, rng.normal(size=n))
    b = np.where(fold >= 2, target + noise * 0.5, rng.normal(size=n))
    best = rule_baselines.best_rule_walk_forward({"a": a, "b": b}, target, fold)
    assert best.chosen == {2: "a", 3: "b"}  # fold 2 could only know fold 1
    assert np.isnan(best.score[fold == 1]).all()
    np.testing.assert_array_equal(best.score[fold == 2], a[fold == 2])
    # Changing fold 3's outcomes cannot change the choice for fold 2.
    shuffled = target.copy()
    shuffled[fold == 3] = rng.permutation(shuffled[fold == 3])
    assert rule_baselines.best_rule_walk_forward({"a": a, "b": b}, shuffled, fold).chosen[2] == "a"


def test_rules_score_momentum_reversal_and_funding():
    rows = pd.DataFrame({"ret_4_z": [1.0, -2.0], "ret_24_z": [0.5, 0.1], "funding_bps": [1, -1]})
    scores = rule_baselines.rule_scores(rows)
    np.testing.assert_array_equal(scores["reversal_4"], [-1.0, 2.0])
    np.testing.assert_array_equal(scores["momentum_24"], [0.5, 0.1])
    np.testing.assert_array_equal(scores["funding_fade"], [-1.0, 1.0])


def _report(model_ic, rule_ic, log_loss, base):
    return {
        "ic": {"ic": model_ic},
        "best_rule": {"ic_same_rows": {"ic": rule_ic}},
        "calls": {"log_loss": log_loss, "base_rate_log_loss": base},
    }


def test_gate_3_needs_the_model_to_beat_the_best_rule_and_the_base_rate():
    assert gate(_report(0.04, 0.03, 0.68, 0.69))["passed"]
    assert not gate(_report(0.02, 0.03, 0.68, 0.69))["passed"]  # the rule is better
    assert not gate(_report(0.04, 0.03, 0.70, 0.69))["passed"]  # no better than the base rate
    failed = gate(_report(0.02, 0.03, 0.68, 0.69))
    assert "does not beat the best rule" in failed["reason"]


def test_stated_confidence_matches_the_out_of_fold_hit_rate():
    """Fitted on earlier calls, the confidence of later calls is their hit rate: in every
    populated bin the later calls' hit rate lies in the Wilson interval around the stated
    confidence's mean, and the ECE is under 0.03."""
    rng = np.random.default_rng(1)
    n = 60_000
    strength = np.abs(rng.normal(size=n))
    cost_z = rng.uniform(0.05, 0.6, size=n)
    truth = 1 / (1 + np.exp(-(-0.1 + 0.3 * strength - 0.8 * cost_z)))  # the real chance
    hit = rng.random(n) < truth
    half = n // 2
    calibrator = HitCalibrator.fit(strength[:half], cost_z[:half], hit[:half])
    confidence = calibrator.apply(strength[half:], cost_z[half:])
    later = hit[half:]
    assert hit_ece(confidence, later) < 0.03
    edges = np.quantile(confidence, np.linspace(0, 1, 8))
    for lo, hi in itertools.pairwise(edges):
        inside = (confidence >= lo) & (confidence < hi)
        if inside.sum() < 500:
            continue
        low, high = wilson(int(later[inside].sum()), int(inside.sum()))
        assert low - 0.01 <= confidence[inside].mean() <= high + 0.01
    # Negative controls: a confidence that is not a hit probability fails the same check, and
    # so does a calibrator blind to the cost.
    assert hit_ece(np.clip(truth[half:] + 0.1, 0, 1), later) > 0.05
    blind = HitCalibrator.fit(strength[:half], np.zeros(half), hit[:half])
    off = blind.apply(strength[half:], np.zeros(half))
    costly = cost_z[half:] > 0.45
    assert off[costly].mean() - later[costly].mean() > 0.03


def test_walk_forward_confidence_uses_only_settled_earlier_calls():
    rng = np.random.default_rng(4)
    n = 3000
    fold = np.repeat([1, 2, 3], n // 3)
    t = np.arange(n) * H
    strength, cost_z = np.abs(rng.normal(size=n)), np.full(n, 0.2)
    hit = rng.random(n) < 0.5
    ends = t + 24 * H
    confidence, done = walk_forward_confidence(
        strength, cost_z, hit, np.ones(n, bool), fold, t, ends, 500
    )
    assert done == [2, 3] and np.isnan(confidence[fold == 1]).all()
    # Fold 2's calibrator cannot see fold 2's or fold 3's outcomes, nor fold 1's last 24 calls
    # (their outcome was known only inside fold 2).
    flipped = hit.copy()
    flipped[fold >= 2] = ~flipped[fold >= 2]
    flipped[np.flatnonzero(fold == 1)[-24:]] ^= True
    again, _ = walk_forward_confidence(
        strength, cost_z, flipped, np.ones(n, bool), fold, t, ends, 500
    )
    np.testing.assert_array_equal(again[fold == 2], confidence[fold == 2])
    assert not np.allclose(again[fold == 3], confidence[fold == 3])


def test_calibrator_round_trips_and_rises_with_strength():
    rng = np.random.default_rng(2)
    s = np.abs(rng.normal(size=5000))
    cz = rng.uniform(0.1, 0.5, 5000)
    c = HitCalibrator.fit(s, cz, rng.random(5000) < 0.4 + 0.1 * s - 0.2 * cz)
    again = HitCalibrator.from_dict(json.loads(json.dumps(c.to_dict())))
    grid = np.linspace(0, 4, 50)
    np.testing.assert_array_equal(c.apply(grid, grid * 0 + 0.2), again.apply(grid, grid * 0 + 0.2))
    assert (np.diff(c.apply(grid, grid * 0 + 0.2)) > 0).all()
    assert c.apply(np.array([1.0]), np.array([0.1])) > c.apply(np.array([1.0]), np.array([0.5]))


def test_a_grade_is_supported_only_by_its_evidence():
    grades = HitGrades({"A+": 0.6, "A": 0.57, "B": 0.54}, min_calls=30)
    n = 1000
    confidence = np.r_[np.full(n, 0.62), np.full(n, 0.58), np.full(n, 0.55), np.full(n, 0.4)]
    direction = np.ones(4 * n, dtype=int)
    grade = grade_calls(confidence, direction, grades)
    assert list(grade[[0, n, 2 * n, 3 * n]]) == ["A+", "A", "B", "C"]
    rng = np.random.default_rng(3)
    # A+ right 70 % with small wins and big losses: loses money, so not a grade.
    a_plus = np.where(rng.random(n) < 0.7, 0.001, -0.01)
    # A right 65 %, symmetric moves: supported. B right 50 %: under its promise.
    a = np.where(rng.random(n) < 0.65, 0.005, -0.005)
    b = np.where(rng.random(n) < 0.5, 0.005, -0.005)
    net = np.r_[a_plus, a, b, rng.normal(size=n) * 0.01]
    evidence = {e.grade: e for e in grade_evidence(grade, confidence, net, grades)}
    assert not evidence["A+"].supported and "lost" in evidence["A+"].reason
    assert evidence["A"].supported and evidence["A"].hit_rate_low >= 0.57
    assert not evidence["B"].supported and "under its 54%" in evidence["B"].reason
    assert not evidence["C"].supported
    assert grade_calls(np.array([0.9]), np.array([0]), grades)[0] == ""  # no direction


@pytest.mark.slow
def test_pooled_walk_forward_is_out_of_sample_end_to_end(data):
    config = pooled.PooledConfig.build(quick=True)
    result = pooled.walk_forward(data, config)
    oof, calls = result.oof, result.calls
    first = oof.folds[0].number
    # The first fold only feeds the calibrator: no confidence of its own.
    assert first not in calls.calibrated_folds
    assert np.isnan(calls.confidence[oof.fold == first]).all()
    assert np.isfinite(calls.confidence[np.isin(oof.fold, calls.calibrated_folds)]).all()
    for info in oof.folds:
        assert info.horizon in config.horizons
        assert set(info.validation_ic) <= set(config.horizons)
    rep = pooled.report(result)
    assert rep["symbols"] == sorted(SYMBOLS)
    assert {r["symbol"] for r in rep["per_symbol"]} == set(SYMBOLS)
    assert [g["grade"] for g in rep["calls"]["grades"]] == ["A+", "A", "B", "C"]
    assert rep["calls"]["ece"] < 0.05
    d = rep["dissimilar"]
    assert 0 <= d["flagged_share"] < 0.2 and d["hit_rate_unflagged"] is not None
    assert len(result.oof.outside) == len(result.oof.rows)
    # Conditional evidence: each condition a subset of the rows after the first fold, its cut
    # learnt on earlier folds; IC and t on one row per symbol and horizon-long block.
    every, *conditions = rep["conditional"]
    assert every["condition"] == "every row" and len(conditions) == 3
    later = int((oof.fold > first).sum())
    assert every["rows"] == later and 0 < every["independent"] < later
    for c in conditions:
        assert 0 < c["rows"] < later and c["independent"] <= every["independent"]
        assert c["ic"] is None or (-1 <= c["ic"] <= 1 and np.isfinite(c["t"]))
    strongest = conditions[0]
    assert 0.03 < strongest["rows"] / later < 0.3  # about a tenth, cut on earlier folds
    json.dumps(rep, default=float)


@pytest.fixture
def stored_three(settings, tmp_path, db):
    settings.REPORTS_DIR = tmp_path / "reports"
    for s in SYMBOLS:
        import_file(SHARED / f"binance_futures_{s}_1h.csv.gz")
        import_file(SHARED / f"binance_futures_{s}_funding.csv.gz")
    return tmp_path


@pytest.mark.slow
def test_train_all_pooled_writes_the_universe_report(stored_three):
    from mlcore.models import GradingConfig

    config = GradingConfig.current()
    config.b_confidence = 0.52  # the grades promise what /settings says
    config.save()
    out = io.StringIO()
    call_command(
        "train_all",
        "--pooled",
        "--quick",
        "--symbols",
        "BTCUSDT,ETHUSDT,1000PEPEUSDT,NOPEUSDT",
        stdout=out,
        stderr=io.StringIO(),
    )
    text = out.getvalue()
    assert "left out NOPEUSDT: no 1h candles stored" in text
    assert "gate 3" in text and "best rule" in text
    rep = json.loads((stored_three / "reports" / "universe_1h.json").read_text())
    assert rep["symbols"] == sorted(SYMBOLS) and rep["left_out"].keys() == {"NOPEUSDT"}
    for key in ("ic", "best_rule", "per_symbol", "per_year", "calls", "gate", "calibrator"):
        assert key in rep
    assert rep["gate"]["number"] == 3
    assert rep["config"]["grades"]["promises"] == {"A+": 0.60, "A": 0.57, "B": 0.52}
    assert rep["config"]["round_trip_cost"] == pytest.approx(0.0012)
    # Every symbol's calls traded net of costs beside buy-and-hold, random and the best rule.
    assert {b["symbol"] for b in rep["backtests"]} == set(SYMBOLS)
    for b in rep["backtests"]:
        every = next(x for x in b["sets"] if x["grade_set"] == "all calls")
        assert every["signals"] > 0 and "buy_and_hold" in every["baselines"]
        assert every["metrics"]["fees"] > 0 and "total_return" in b["best_rule"]
    assert "every call net of costs" in text


def test_train_all_pooled_refuses_without_two_clean_symbols(stored_three):
    with pytest.raises(CommandError, match="at least two symbols"):
        call_command(
            "train_all", "--pooled", "--quick", "--symbols", "BTCUSDT,NOPEUSDT",
            stdout=io.StringIO(), stderr=io.StringIO(),
        )  # fmt: skip


def test_beating_a_losing_rule_with_no_skill_does_not_pass():
    assert not gate(_report(-0.001, -0.03, 0.68, 0.69))["passed"]
    assert gate(_report(0.01, -0.03, 0.68, 0.69))["passed"]


def test_inputs_whose_effect_flips_sign_get_no_weight_in_the_final_model(data):
    from dataclasses import replace as swap

    from mlcore.pipeline.universe.final_model import final_model

    result = pooled.walk_forward(data, pooled.PooledConfig.build(quick=True))
    n = len(data.features)
    signs = [np.ones(n), np.ones(n), np.ones(n)]
    signs[1][0] = -1.0  # input 0 flips in one fold of three: unstable
    folds = [
        swap(f, ridge_coef=list(s * 0.1)) for f, s in zip(result.oof.folds, signs, strict=True)
    ]
    flipped = swap(result, oof=swap(result.oof, folds=folds))
    stable = pooled.stable_inputs(flipped.oof)
    assert not stable[0] and stable[1:].all()
    model = final_model(flipped, "1h", P, [])
    assert model.members.coef[0] == 0.0 and (model.members.coef[1:] != 0).any()
    assert pooled.report(flipped)["unstable_inputs"] == [data.features[0]]
