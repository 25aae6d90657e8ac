"""Leave-symbols-out evidence: each symbol's rows scored by members that never trained on it,
judged as the model's own calls are, and the only evidence a call on a symbol the model never
trained on may be actionable by."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from mlcore.pipeline.universe import pooled
from mlcore.pipeline.universe.scale_free import UniverseParams, pooled_frame, symbol_frame
from mlcore.serving.choice import actionable
from mlcore.tests.conftest import load
from mlcore.tests.factories import model_version

H = 3_600_000
SYMBOLS = ("BTCUSDT", "ETHUSDT", "1000PEPEUSDT")


@pytest.fixture(scope="module")
def data() -> pooled.Dataset:
    params = UniverseParams()
    frames = {s: symbol_frame(*load(s), "1h", params) for s in SYMBOLS}
    config = pooled.PooledConfig.build(quick=True)
    return pooled.make_dataset(pooled_frame(frames, params), H, config.horizons, params)


def test_symbols_are_dealt_into_groups_that_leave_something_to_train_on():
    assert pooled.symbol_groups(["A", "B", "C", "D", "E"], 3) == [["A", "D"], ["B", "E"], ["C"]]
    assert pooled.symbol_groups(["A", "B"], 3) == [["A"], ["B"]]
    assert pooled.symbol_groups(["A"], 3) == [] and pooled.symbol_groups(["A", "B"], 0) == []


def test_a_left_out_symbols_scores_never_saw_its_outcomes(data):
    config = pooled.PooledConfig.build(quick=True, unseen_groups=3)
    folds = pooled.time_folds(data, config)
    groups = pooled.symbol_groups(list(SYMBOLS), 3)
    unseen = pooled._unseen_walk(data, folds, config, groups, lambda *_: None)
    assert unseen is not None
    main = pooled._walk(data, folds, config, None, None)
    np.testing.assert_array_equal(unseen.rows, main.rows)  # every tested row, once
    # ETH's outcomes rewritten: its left-out scores do not move, the model that trained on
    # them does.
    eth = data.symbol == "ETHUSDT"
    noise = np.random.default_rng(0).normal(size=len(eth))
    rewritten = replace(
        data, target_z={h: np.where(eth, noise, v) for h, v in data.target_z.items()}
    )
    again = pooled._unseen_walk(rewritten, folds, config, groups, lambda *_: None)
    mine = eth[unseen.rows]
    np.testing.assert_array_equal(again.score[mine], unseen.score[mine])
    assert not np.allclose(again.score[~mine], unseen.score[~mine])
    main_again = pooled._walk(rewritten, folds, config, None, None)
    assert not np.allclose(main_again.score[mine], main.score[mine])


def test_the_report_says_what_the_unseen_evidence_backs(data):
    config = pooled.PooledConfig.build(quick=True, unseen_groups=3)
    result = pooled.walk_forward(data, config)
    report = pooled.report(result)["unseen"]
    assert report["groups"] == [["1000PEPEUSDT"], ["BTCUSDT"], ["ETHUSDT"]]
    assert set(report["per_symbol"]) == set(SYMBOLS) and report["rows"] == len(result.oof.rows)
    grades = {g["grade"]: g for g in report["calls"]["grades"]}
    assert set(grades) == {"A+", "A", "B", "C"}
    assert report["supported"] == [g for g, f in grades.items() if f["supported"]]
    # Quick trainings leave nothing out (their tests and demos stay fast): no such evidence.
    quick = pooled.report(pooled.walk_forward(data, pooled.PooledConfig.build(quick=True)))
    assert quick["unseen"] is None


@pytest.mark.django_db
def test_a_call_on_an_unseen_symbol_is_actionable_only_on_the_left_out_evidence():
    model = model_version(
        symbol="UNIVERSE",
        kind="universe",
        version="UNIVERSE-1h-stub",
        metrics={"supported_grades": ["A+", "A"], "supported_grades_unseen": ["A+"]},
    )
    assert actionable(model, "A", True) and actionable(model, "A+", True)
    assert not actionable(model, "A", True, unseen=True)
    assert actionable(model, "A+", True, unseen=True)
    assert not actionable(model, "A+", False, unseen=True)  # a neutral call never is
    older = model_version(
        symbol="UNIVERSE", kind="universe", version="UNIVERSE-1h-old", status="retired",
        metrics={"supported_grades": ["A+"]},
    )  # fmt: skip
    assert actionable(older, "A+", True) and not actionable(older, "A+", True, unseen=True)
