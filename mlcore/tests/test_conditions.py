"""Grading only where the effect lives: the condition is chosen on earlier folds, a subset wins
only on a clearly stronger effect, calls outside it are C, and the serving model does the same."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from mlcore.pipeline.universe import conditions, pooled
from mlcore.pipeline.universe.conditions import EVERY_ROW, Condition
from mlcore.pipeline.universe.final_model import predict_rows

H = 3_600_000
WILD = "wild volatility (top third of short/long vol)"


def market(n: int, seed: int, effect_everywhere: float = 0.0, effect_wild: float = 0.25):
    """Rows whose score predicts the target only when vol_ratio is high (plus an optional
    effect on every row); funding unknown, so that condition is never inside."""
    rng = np.random.default_rng(seed)
    vol_ratio = rng.uniform(0.5, 2.0, n)
    score = rng.normal(size=n)
    wild = vol_ratio >= np.quantile(vol_ratio, 2 / 3)
    target = rng.normal(size=n) + effect_everywhere * score + np.where(wild, effect_wild, 0) * score
    rows = pd.DataFrame({"vol_ratio": vol_ratio, "funding_z_24": np.nan})
    return score, target, conditions.columns(score, rows)


def test_a_condition_is_chosen_only_where_its_effect_is_clearly_stronger():
    score, target, values = market(6000, 1)
    every = np.ones(len(score), dtype=bool)
    chosen = conditions.choose(values, score, target, every, every)
    assert chosen.name == WILD and chosen.t >= conditions.MIN_T
    inside = chosen.inside(values)
    assert 0.3 < inside.mean() < 0.37  # the top third
    # The same effect on every row: the subset has a smaller t, and every row stands.
    score, target, values = market(6000, 2, effect_everywhere=0.2, effect_wild=0.0)
    assert conditions.choose(values, score, target, every, every).name == EVERY_ROW
    # No effect anywhere: nothing reaches MIN_T, so every row (grading then finds nothing).
    score, target, values = market(6000, 3, effect_wild=0.0)
    assert conditions.choose(values, score, target, every, every).name == EVERY_ROW
    # Only independent rows count: the same rows with 1 in 12 counted give a smaller t.
    score, target, values = market(6000, 1)
    sparse = np.arange(len(score)) % 12 == 0
    few = conditions.choose(values, score, target, every, sparse)
    assert few.independent == pytest.approx(sparse[chosen.inside(values)].sum(), abs=1)


def test_each_folds_condition_and_confidence_come_from_earlier_rows_only():
    score, target, values = market(9000, 4)
    n = len(score)
    fold = np.repeat([1, 2, 3], n // 3)
    t = np.arange(n) * H
    ends = t + 4 * H
    hit = target * np.sign(score) > 0.3
    every = np.ones(n, dtype=bool)

    def run(s, tg, h):
        return conditions.walk_forward(
            values | {"|score|": np.abs(s)}, s, tg, every, np.full(n, 0.2), h, every, fold, t,
            ends, 300,
        )  # fmt: skip

    found = run(score, target, hit)
    assert found.calibrated_folds == [2, 3] and np.isnan(found.confidence[fold == 1]).all()
    assert found.chosen[2].name == WILD
    # Inside calls are confident where the effect lives; the cut came from fold 1's rows.
    cut = np.quantile(values["vol_ratio"][fold == 1], 2 / 3)
    np.testing.assert_array_equal(found.inside[fold == 2], values["vol_ratio"][fold == 2] >= cut)
    # Fold 2 is decided before it opens: rewriting fold 2 and 3 (and fold 1's last rows, whose
    # outcome was known only inside fold 2) changes nothing of fold 2.
    later = (fold >= 2) | (np.arange(n) >= n // 3 - 4)
    noise = np.random.default_rng(9).normal(size=n)
    target2 = np.where(later, noise, target)
    hit2 = np.where(later, ~hit, hit)
    again = run(score, target2, hit2)
    np.testing.assert_array_equal(again.confidence[fold == 2], found.confidence[fold == 2])
    np.testing.assert_array_equal(again.inside[fold == 2], found.inside[fold == 2])
    assert not np.allclose(again.confidence[fold == 3], found.confidence[fold == 3])


def test_a_condition_round_trips_and_an_old_model_grades_every_row():
    c = Condition(WILD, "vol_ratio", 1.25, 0.06, 3.1, 2977)
    assert Condition.from_dict(json.loads(json.dumps(c.to_dict()))) == c
    every = Condition.from_dict(json.loads(json.dumps(Condition().to_dict())))
    assert every == Condition() and every.cut == -math.inf
    assert Condition.from_dict(None) == Condition()
    assert every.inside({"vol_ratio": np.array([np.nan, 0.1])}).all()
    assert not c.inside({"vol_ratio": np.array([np.nan])}).any()  # unknown is outside


def test_the_serving_model_grades_only_inside_its_condition(universe_champion):
    """The quick universe model, told to grade only in wild markets: every call outside is C,
    and inside its grade follows its confidence as before."""
    from dataclasses import replace
    from pathlib import Path

    from mlcore import artifacts
    from mlcore.pipeline.universe.scale_free import pooled_frame, symbol_frame
    from mlcore.tests.conftest import load

    model = artifacts.load_universe(Path(universe_champion.artifact_path))
    assert model.condition.name in {EVERY_ROW, *conditions.CONDITIONS}  # saved and loaded
    frames = {s: symbol_frame(*load(s), "1h", model.params) for s in model.symbols}
    rows = pooled_frame(frames, model.params, only="BTCUSDT").tail(3000)
    model = replace(model, condition=Condition(), inside_hits=None)
    before = predict_rows(model, rows, "")
    cut = float(np.nanquantile(rows["vol_ratio"], 0.5))
    wild = replace(model, condition=Condition(WILD, "vol_ratio", cut), inside_hits=model.hits)
    after = predict_rows(wild, rows, "")
    inside = rows["vol_ratio"].to_numpy() >= cut
    np.testing.assert_array_equal(after.inside, inside)
    graded = after.grade != ""
    assert set(after.grade[graded & ~inside]) == {"C"}
    np.testing.assert_array_equal(after.grade[inside], before.grade[inside])
    np.testing.assert_array_equal(after.confidence, before.confidence)  # same calibrator
    # Not vacuous: some calls outside would have been graded better.
    assert (before.grade[graded & ~inside] != "C").any() or (before.grade != "C").sum() == 0


def test_the_walk_forward_reports_the_condition_each_fold_chose():
    from mlcore.pipeline.universe.scale_free import UniverseParams, pooled_frame, symbol_frame
    from mlcore.tests.conftest import load

    params = UniverseParams()
    frames = {s: symbol_frame(*load(s), "1h", params) for s in ("BTCUSDT", "ETHUSDT")}
    config = pooled.PooledConfig.build(quick=True)
    data = pooled.make_dataset(pooled_frame(frames, params), H, config.horizons, params)
    result = pooled.walk_forward(data, config)
    report = pooled.report(result)["condition"]
    assert set(report["per_fold"]) == {str(f) for f in result.calls.calibrated_folds}
    names = {EVERY_ROW, *conditions.CONDITIONS}
    assert set(report["per_fold"].values()) <= names and report["serving"]["name"] in names
    c = result.calls
    assert (c.grade[~c.inside & (c.grade != "")] == "C").all()
    assert report["calls_inside"] <= report["calls"]
