"""The universe (pooled) model's purged walk-forward: one model over the rows of every symbol,
folds split by time across all of them, the target chosen by evidence, and every figure out of
sample. Pure; the Django side is ``mlcore.training.universe``.

For each fold (a block of time; every symbol's rows in it are the test rows):
1. training rows are those of any symbol whose label ends before the block opens, less an
   embargo of the longest candidate horizon (purge by time, across symbols);
2. the label horizon is chosen among ``horizons`` on the inner validation slice only (the
   last ``validation_fraction`` of the training time, purged the same way): the horizon whose
   XGBoost fit on the rest has the highest validation IC;
3. the members (XGBoost and a ridge regression on standardised inputs, the simpler member) are
   fitted on every training row for that horizon; the score is their blend, each in units of
   its own training-prediction spread;
4. the condition a call must be in to be graded, and the hit calibrator of the calls inside
   it, are learnt on earlier folds' rows whose outcome was known before the block opened
   (``conditions``, ``hits``); the first fold only feeds them.
Beside the model on the same rows: the simple rules (``baselines``), the best of them chosen
on earlier folds, and per-symbol models (the same members fitted on one symbol's rows only).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn.linear_model import Ridge

from mlcore.pipeline.common import rule_baselines
from mlcore.pipeline.common.device import cpu_threads
from mlcore.pipeline.common.dissimilarity import Dissimilarity
from mlcore.pipeline.common.fills import by_direction, credited, maker_filled
from mlcore.pipeline.common.hits import (
    GradeFigures,
    HitCalibrator,
    HitGrades,
    grade_calls,
    grade_evidence,
    hit_ece,
    independent_slots,
    supported_grades,
)
from mlcore.pipeline.universe import conditions
from mlcore.pipeline.universe.conditions import Condition
from mlcore.pipeline.universe.scale_free import UniverseParams, cost_over_vol, feature_columns

Progress = Callable[[int, int], None]
TARGET_CLIP = 4.0  # vol units: one crash bar must not steer a squared-error fit


@dataclass(frozen=True)
class PooledConfig:
    horizons: tuple[int, ...] = (4, 8, 24)
    folds: int = 8
    # Share of the time span before the first test block. Of time, not rows: a universe
    # whose symbols list over the years has most of its rows late, and a row share would
    # start testing only then (2023 on the research universe instead of 2021).
    min_train_fraction: float = 0.3
    validation_fraction: float = 0.15
    xgb_trees: int = 300
    xgb_depth: int = 3
    xgb_learning_rate: float = 0.03
    xgb_min_child_weight: float = 200.0  # rows per leaf: noisy targets need big leaves
    ridge_alpha: float = 1000.0
    xgb_weight: float = 0.5
    round_trip_cost: float = 0.0012  # two taker fees and two slippages
    maker_entry: bool = False  # a call counts only where its limit at the close filled
    min_calibration_calls: int = 2000
    per_symbol: bool = True  # also fit per-symbol models on the same folds, for comparison
    # Leave-symbols-out: the symbols split into this many groups, each group's rows scored by
    # members fitted without any of its symbols, on the same folds: the evidence for a symbol
    # the model never trained on (``unseen_evidence``). 0: none, and no unseen symbol's call is
    # actionable.
    unseen_groups: int = 3
    device: str = "cpu"  # XGBoost's: "cuda" where torch sees a GPU
    seed: int = 0
    quick: bool = False
    grades: HitGrades = field(default_factory=HitGrades)

    @classmethod
    def build(cls, quick: bool = False, **overrides) -> PooledConfig:
        """The defaults, or ``quick`` (3 folds, small forests, no per-symbol members: demos and
        tests, recorded on the model), with ``overrides``."""
        base = cls()
        if quick:
            base = cls(
                folds=3,
                xgb_trees=60,
                min_calibration_calls=300,
                quick=True,
                per_symbol=False,
                unseen_groups=0,
            )
        return replace(base, **overrides)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Dataset:
    """Pooled rows sorted by (open_time, symbol), with forward returns per horizon."""

    rows: pd.DataFrame
    X: np.ndarray
    features: list[str]
    step_ms: int
    target_z: dict[int, np.ndarray]  # horizon -> forward return in vol units
    forward: dict[int, np.ndarray]  # horizon -> simple forward return
    long_fills: np.ndarray  # a limit buy at the close traded in the next bar (``fills``)
    short_fills: np.ndarray

    @property
    def open_time(self) -> np.ndarray:
        return self.rows["open_time"].to_numpy(np.int64)

    @property
    def symbol(self) -> np.ndarray:
        return self.rows["symbol"].to_numpy()


def make_dataset(
    rows: pd.DataFrame, step_ms: int, horizons: tuple[int, ...], p: UniverseParams
) -> Dataset:
    """``rows`` from ``universe.pooled_frame``. Rows before a symbol's warm-up (no volatility
    unit yet) are dropped: the model never sees or is scored on them."""
    rows = rows[np.isfinite(rows["vol"]) & rows[f"ret_{max(p.return_bars)}_z"].notna()]
    rows = rows.reset_index(drop=True)
    names = feature_columns(p)
    grouped = rows.groupby("symbol", sort=False)
    close = rows["close"].to_numpy(np.float64)
    open_time = rows["open_time"].to_numpy()
    target_z, forward = {}, {}
    for h in horizons:
        later = grouped["close"].shift(-h).to_numpy(np.float64)
        # The bar h steps later must be h intervals later: a hole would stretch the horizon.
        exact = grouped["open_time"].shift(-h).to_numpy() == open_time + h * step_ms
        simple = np.where(exact, later / close - 1.0, np.nan)
        forward[h] = simple
        target_z[h] = np.log1p(simple) / (rows["vol"].to_numpy() * np.sqrt(h))
    X = rows[names].to_numpy(np.float32)
    exact = grouped["open_time"].shift(-1).to_numpy() == open_time + step_ms
    next_low = np.where(exact, grouped["low"].shift(-1).to_numpy(np.float64), np.nan)
    next_high = np.where(exact, grouped["high"].shift(-1).to_numpy(np.float64), np.nan)
    ones = np.ones(len(close))
    return Dataset(
        rows,
        X,
        names,
        step_ms,
        target_z,
        forward,
        maker_filled(ones, close, next_low, next_high),
        maker_filled(-ones, close, next_low, next_high),
    )


@dataclass(frozen=True)
class TimeFold:
    number: int
    test_start: int  # open time (ms), inclusive
    test_end: int  # exclusive
    test: np.ndarray  # row positions
    train_until: int  # training rows open before this (purge + embargo applied)


def time_folds(data: Dataset, config: PooledConfig) -> list[TimeFold]:
    """Test blocks of equal time from the bar where ``min_train_fraction`` of the time span
    lies behind; each fold's training rows are every row (of any symbol) whose label ends
    before the block opens, less an embargo of the longest horizon."""
    t = data.open_time
    first, end = int(t[0]), int(t[-1]) + data.step_ms
    start = first + int((end - first) * config.min_train_fraction)
    start = first + (start - first) // data.step_ms * data.step_ms
    edges = np.linspace(start, end, config.folds + 1).astype(np.int64)
    edges = (edges - start) // data.step_ms * data.step_ms + start  # on bar boundaries
    edges[-1] = end
    reach = 2 * max(config.horizons) * data.step_ms  # label reach plus an equal embargo
    folds = []
    for k in range(config.folds):
        lo, hi = int(edges[k]), int(edges[k + 1])
        test = np.flatnonzero((t >= lo) & (t < hi))
        if len(test) == 0:
            continue
        folds.append(TimeFold(k + 1, lo, hi, test, lo - reach))
    return folds


def label_end(data: Dataset, rows: np.ndarray, horizon: int) -> np.ndarray:
    """Open time of the bar whose close decides each row's label (the purge's end time)."""
    return data.open_time[rows] + horizon * data.step_ms


def training_rows(data: Dataset, fold: TimeFold, horizon: int) -> np.ndarray:
    t = data.open_time
    candidates = np.flatnonzero(t < fold.train_until)
    known = np.isfinite(data.target_z[horizon][candidates])
    rows = candidates[known]
    return rows[label_end(data, rows, horizon) < fold.test_start]


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    value = rule_baselines.spearman(a, b)
    return -1.0 if value is None else value


class Members:
    """XGBoost and ridge fitted on the same rows; their blended score in spread units. Saved
    as XGBoost's own file plus plain numbers (``to_dict``): no pickle."""

    XGB_FILE = "universe_xgb.ubj"

    def __init__(self, config: PooledConfig) -> None:
        self.config = config
        self.weight = config.xgb_weight

    def fit(self, X: np.ndarray, y: np.ndarray, use: np.ndarray | None = None) -> Members:
        """``use``: the inputs the ridge member may weigh (the rest get no weight), for the
        final model, which leaves out inputs whose effect flipped sign across folds."""
        c = self.config
        y = np.clip(y, -TARGET_CLIP, TARGET_CLIP)
        self.xgb = xgb.XGBRegressor(
            n_estimators=c.xgb_trees,
            max_depth=c.xgb_depth,
            learning_rate=c.xgb_learning_rate,
            subsample=0.7,
            colsample_bytree=0.7,
            min_child_weight=c.xgb_min_child_weight,
            reg_lambda=10.0,
            tree_method="hist",
            device=c.device,
            random_state=c.seed,
            n_jobs=cpu_threads(2),
        ).fit(X, y)
        with warnings.catch_warnings():  # a column with no value here (no funding at all)
            warnings.simplefilter("ignore", RuntimeWarning)
            mean, scale = np.nanmean(X, axis=0), np.nanstd(X, axis=0)
        self.mean = np.where(np.isfinite(mean), mean, 0.0)
        self.scale = np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)
        standard = self._standard(X)
        if use is not None:
            standard = standard * use  # a column of zeros earns a zero coefficient
        ridge = Ridge(alpha=c.ridge_alpha).fit(standard, y)
        self.coef, self.intercept = ridge.coef_.astype(np.float64), float(ridge.intercept_)
        px, pr = self._raw(X)
        self.spread = (float(np.std(px)) + 1e-12, float(np.std(pr)) + 1e-12)
        return self

    def _standard(self, X: np.ndarray) -> np.ndarray:
        # A missing input (funding on a symbol without it) sits at the training mean.
        return np.clip(np.nan_to_num((X - self.mean) / self.scale), -5.0, 5.0)

    def _raw(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.xgb.predict(X), self._standard(X) @ self.coef + self.intercept

    def score(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        px, pr = self._raw(X)
        px, pr = px / self.spread[0], pr / self.spread[1]
        return self.weight * px + (1 - self.weight) * pr, px, pr

    @property
    def booster(self) -> xgb.Booster:
        return self.xgb.get_booster()

    def save(self, directory: Path) -> dict:
        self.xgb.save_model(directory / self.XGB_FILE)
        return {
            "xgb": self.XGB_FILE,
            "weight": self.weight,
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "coef": self.coef.tolist(),
            "intercept": self.intercept,
            "spread": list(self.spread),
        }

    @classmethod
    def load(cls, directory: Path, data: dict, config: PooledConfig) -> Members:
        members = cls(config)
        members.xgb = xgb.XGBRegressor()
        members.xgb.load_model(directory / data["xgb"])
        # One bar at a time on the CPU: threads only cost start-up, a GPU only the copy.
        members.xgb.set_params(n_jobs=1, device="cpu")
        members.weight = float(data["weight"])
        members.mean = np.asarray(data["mean"], dtype=np.float64)
        members.scale = np.asarray(data["scale"], dtype=np.float64)
        members.coef = np.asarray(data["coef"], dtype=np.float64)
        members.intercept = float(data["intercept"])
        members.spread = (float(data["spread"][0]), float(data["spread"][1]))
        return members


def choose_horizon(
    data: Dataset, fold: TimeFold, config: PooledConfig, only: np.ndarray | None = None
) -> tuple[int, dict[int, float]]:
    """The horizon with the best IC on the inner validation slice of this fold's training
    rows (a fit on the rest, purged against the slice). ``only``: a row mask (per-symbol)."""
    scores: dict[int, float] = {}
    for h in config.horizons:
        rows = training_rows(data, fold, h)
        if only is not None:
            rows = rows[only[rows]]
        if len(rows) < 200:
            continue
        t = data.open_time[rows]
        cut = int(np.quantile(t, 1 - config.validation_fraction))
        validation = rows[t >= cut]
        inner = rows[(label_end(data, rows, h) < cut) & (t < cut - h * data.step_ms)]
        if len(inner) < 100 or len(validation) < 50:
            continue
        model = Members(config).fit(data.X[inner], data.target_z[h][inner])
        s, _, _ = model.score(data.X[validation])
        scores[h] = _spearman(s, data.target_z[h][validation])
    if not scores:
        return max(config.horizons), {}
    return max(scores, key=scores.get), scores


@dataclass(frozen=True)
class FoldInfo:
    number: int
    test_start: int
    test_end: int
    test_rows: int
    train_rows: int
    horizon: int
    validation_ic: dict[int, float]
    ic: float | None
    seconds: float
    ridge_coef: list[float]  # the ridge member's weight per input, in standardised units


@dataclass(frozen=True)
class OutOfFold:
    """Per test row of the pooled walk-forward, in the order of ``rows`` (time, symbol)."""

    rows: np.ndarray
    fold: np.ndarray
    horizon: np.ndarray
    score: np.ndarray
    xgb: np.ndarray
    ridge: np.ndarray
    target_z: np.ndarray  # forward return in vol units over the fold's horizon
    forward: np.ndarray  # simple forward return over the same horizon
    outside: np.ndarray  # inputs unlike the fold's training rows (``dissimilarity``)
    folds: list[FoldInfo]


def _walk(
    data: Dataset,
    folds: list[TimeFold],
    config: PooledConfig,
    only: np.ndarray | None,
    progress: Progress | None,
    test_only: np.ndarray | None = None,
) -> OutOfFold:
    """The walk-forward on the rows ``only`` (every row: None); ``test_only``: test these rows
    instead of the same ones (the symbols left out of training)."""
    parts: dict[str, list[np.ndarray]] = {k: [] for k in OutOfFold.__dataclass_fields__}
    infos = []
    tested = only if test_only is None else test_only
    for i, fold in enumerate(folds):
        started = time.perf_counter()
        test = fold.test if tested is None else fold.test[tested[fold.test]]
        if len(test) == 0:
            continue
        horizon, validation_ic = choose_horizon(data, fold, config, only)
        train = training_rows(data, fold, horizon)
        if only is not None:
            train = train[only[train]]
        if len(train) < 200:
            continue
        model = Members(config).fit(data.X[train], data.target_z[horizon][train])
        score, px, pr = model.score(data.X[test])
        # Fitted on (a sample of) the fold's training rows only, like the members.
        sample = train[:: max(1, len(train) // 50_000)]
        parts["outside"].append(Dissimilarity.fit(data.X[sample], data.features).flag(data.X[test]))
        target = data.target_z[horizon][test]
        parts["rows"].append(test)
        parts["fold"].append(np.full(len(test), fold.number))
        parts["horizon"].append(np.full(len(test), horizon))
        parts["score"].append(score)
        parts["xgb"].append(px)
        parts["ridge"].append(pr)
        parts["target_z"].append(target)
        parts["forward"].append(data.forward[horizon][test])
        infos.append(
            FoldInfo(
                fold.number,
                fold.test_start,
                fold.test_end,
                len(test),
                len(train),
                horizon,
                validation_ic,
                rule_baselines.spearman(score, target),
                round(time.perf_counter() - started, 2),
                [round(float(v), 6) for v in model.coef],
            )
        )
        if progress:
            progress(i + 1, len(folds))
    if not infos:
        raise ValueError("no fold had enough training rows: the history is too short")
    arrays = {k: np.concatenate(v) for k, v in parts.items() if k != "folds"}
    return OutOfFold(**arrays, folds=infos)


@dataclass(frozen=True)
class Calls:
    """The out-of-fold rows as directional calls, with the hit-probability confidence learnt
    walk-forward (fold k's calibrator saw only earlier folds' settled calls)."""

    direction: np.ndarray
    confidence: np.ndarray  # NaN on rows of folds that had no calibrator yet
    grade: np.ndarray  # C outside the fold's condition
    net_return: np.ndarray  # direction x forward return - round-trip cost
    hit: np.ndarray
    calibrated_folds: list[int]
    inside: np.ndarray  # inside the condition its fold chose (``conditions``)
    chosen: dict[int, Condition]  # per calibrated fold


def oof_cost_z(data: Dataset, oof: OutOfFold, cost: float) -> np.ndarray:
    """The round trip in units of the move each out-of-fold row's horizon typically makes."""
    return cost_over_vol(cost, data.rows["vol"].to_numpy()[oof.rows], oof.horizon)


def calls(oof: OutOfFold, data: Dataset, config: PooledConfig, cost_z: np.ndarray) -> Calls:
    direction = np.sign(oof.score).astype(np.int64)
    net = direction * oof.forward - config.round_trip_cost
    if config.maker_entry:  # a call whose limit did not fill has no outcome
        longs, shorts = data.long_fills[oof.rows], data.short_fills[oof.rows]
        net, _ = credited(net, direction, by_direction(direction, longs, shorts))
    hit = net > 0
    settled = np.isfinite(net) & (direction != 0)  # an unfilled maker call has no outcome
    t = data.open_time[oof.rows]
    found = conditions.walk_forward(
        condition_values(data, oof),
        oof.score,
        oof.target_z,
        first_of_blocks(data, oof),
        cost_z,
        hit,
        settled,
        oof.fold,
        t,
        t + oof.horizon * data.step_ms,
        config.min_calibration_calls,
    )
    grade = grade_calls(found.confidence, direction, config.grades)
    grade[~found.inside & (grade != "")] = "C"  # a call, promising nothing
    return Calls(
        direction,
        found.confidence,
        grade,
        net,
        hit,
        found.calibrated_folds,
        found.inside,
        found.chosen,
    )


def condition_values(data: Dataset, oof: OutOfFold) -> dict[str, np.ndarray]:
    return conditions.columns(oof.score, data.rows.iloc[oof.rows])


def first_of_blocks(data: Dataset, oof: OutOfFold) -> np.ndarray:
    """The independent rows: the first of each symbol's horizon-long block of time."""
    slots = independent_slots(
        data.symbol[oof.rows], data.open_time[oof.rows], oof.horizon * data.step_ms
    )
    first = np.zeros(len(slots), dtype=bool)
    first[np.unique(slots, return_index=True)[1]] = True
    return first


@dataclass(frozen=True)
class PooledResult:
    config: PooledConfig
    data: Dataset
    oof: OutOfFold
    calls: Calls
    # The one that serves: fitted on the settled out-of-fold calls of the horizon the last fold
    # chose (every settled call when too few of them).
    calibrator: HitCalibrator
    # The condition the whole walk-forward backs, and the calibrator of the calls inside it
    # (fitted on the same calls, those inside; ``calibrator`` itself under every row).
    condition: Condition
    inside_calibrator: HitCalibrator
    per_symbol: dict[str, OutOfFold]
    rules: dict[str, np.ndarray]
    seconds: float
    # Each row of the symbols in ``unseen_groups`` scored by members that never saw its
    # symbol, and those scores as calls (None: too few symbols or rows to leave any out).
    unseen: OutOfFold | None = None
    unseen_calls: Calls | None = None
    unseen_groups: list[list[str]] = field(default_factory=list)


def walk_forward(
    data: Dataset,
    config: PooledConfig,
    progress: Progress | None = None,
) -> PooledResult:
    started = time.perf_counter()
    folds = time_folds(data, config)
    symbols = sorted(set(data.symbol))
    groups = symbol_groups(symbols, config.unseen_groups)
    steps = len(folds) * (1 + (len(symbols) if config.per_symbol else 0) + len(groups))
    done = [0]

    def tick(_: int, __: int) -> None:
        done[0] += 1
        if progress:
            progress(done[0], steps)

    oof = _walk(data, folds, config, None, tick)
    per_symbol: dict[str, OutOfFold] = {}
    if config.per_symbol:
        for s in symbols:
            try:
                per_symbol[s] = _walk(data, folds, config, data.symbol == s, tick)
            except ValueError:
                continue  # too young to train alone: the universe model is all it can have
    cost_z = oof_cost_z(data, oof, config.round_trip_cost)
    c = calls(oof, data, config, cost_z)
    unseen = _unseen_walk(data, folds, config, groups, tick)
    unseen_calls = None
    if unseen is not None:
        unseen_cost = oof_cost_z(data, unseen, config.round_trip_cost)
        unseen_calls = calls(unseen, data, config, unseen_cost)
    settled = np.isfinite(c.net_return) & (c.direction != 0)
    same = settled & (oof.horizon == oof.folds[-1].horizon)
    use = same if same.sum() >= config.min_calibration_calls else settled
    calibrator = HitCalibrator.fit(np.abs(oof.score)[use], cost_z[use], c.hit[use])
    values = condition_values(data, oof)
    condition = conditions.choose(
        values,
        oof.score,
        oof.target_z,
        np.ones(len(oof.rows), dtype=bool),
        first_of_blocks(data, oof),
    )
    inside = use & condition.inside(values)
    if inside.sum() < config.min_calibration_calls:
        condition, inside = Condition(), use
    inside_calibrator = HitCalibrator.fit(np.abs(oof.score)[inside], cost_z[inside], c.hit[inside])
    rules = rule_baselines.rule_scores(data.rows.iloc[oof.rows])
    return PooledResult(
        config,
        data,
        oof,
        c,
        calibrator,
        condition,
        inside_calibrator,
        per_symbol,
        rules,
        round(time.perf_counter() - started, 1),
        unseen,
        unseen_calls,
        groups if unseen is not None else [],
    )


def symbol_groups(symbols: list[str], groups: int) -> list[list[str]]:
    """``symbols`` dealt round-robin into at most ``groups`` groups (none with fewer than two
    symbols: leaving every symbol out would leave nothing to train on)."""
    count = min(groups, len(symbols)) if len(symbols) >= 2 else 0
    return [symbols[k::count] for k in range(count)] if count >= 2 else []


def _unseen_walk(
    data: Dataset,
    folds: list[TimeFold],
    config: PooledConfig,
    groups: list[list[str]],
    progress: Progress,
) -> OutOfFold | None:
    """Per group, its symbols' rows scored by the walk-forward of every other symbol's rows;
    the groups' out-of-fold rows together, in the dataset's order. None when a group could
    not train (too little history without it)."""
    parts = []
    for group in groups:
        left_out = np.isin(data.symbol, group)
        try:
            parts.append(_walk(data, folds, config, ~left_out, progress, test_only=left_out))
        except ValueError:
            return None
    if not parts:
        return None
    arrays = {
        k: np.concatenate([getattr(p, k) for p in parts])
        for k in OutOfFold.__dataclass_fields__
        if k != "folds"
    }
    order = np.argsort(arrays["rows"], kind="stable")
    return OutOfFold(**{k: v[order] for k, v in arrays.items()}, folds=parts[0].folds)


# -- the report ----------------------------------------------------------------------------


def _ic(score: np.ndarray, target: np.ndarray, horizon: int) -> dict:
    rho, p, n = rule_baselines.ic_with_p(score, target, horizon)
    return {"ic": rho, "p_value": p, "rows": n}


def stable_inputs(oof: OutOfFold, min_agreement: float = 0.75) -> np.ndarray:
    """Inputs whose ridge weight kept one sign in at least ``min_agreement`` of the folds: an
    effect that flips from fold to fold is noise fitted, and must not decide a signal."""
    coef = np.array([f.ridge_coef for f in oof.folds])
    majority = np.sign(np.sign(coef).sum(axis=0))
    agreement = (np.sign(coef) == majority).mean(axis=0)
    return (agreement >= min_agreement) & (majority != 0)


def _dissimilar(oof: OutOfFold, c: Calls, scored: np.ndarray) -> dict:
    """How often the dissimilarity flag fired out of sample, and how flagged calls fared."""
    settled = scored & np.isfinite(c.net_return) & (c.direction != 0)

    def rate(mask: np.ndarray) -> float | None:
        return float(c.hit[mask].mean()) if mask.any() else None

    return {
        "flagged_share": float(oof.outside.mean()) if len(oof.outside) else None,
        "flagged_calls": int((settled & oof.outside).sum()),
        "hit_rate_flagged": rate(settled & oof.outside),
        "hit_rate_unflagged": rate(settled & ~oof.outside),
    }


def conditional_evidence(result: PooledResult) -> list[dict]:
    """Per candidate condition, the rows inside it (each fold's cut chosen on the earlier
    folds' rows only; the first fold has none and is left out), and the IC of the score with
    the target on them with its t, on independent rows. ``every row`` is the same on all rows
    after the first fold. (What grading used is ``condition`` in the report: the condition
    each fold chose on earlier folds, and the one the model serves with.)"""
    data, oof = result.data, result.oof
    first = first_of_blocks(data, oof)
    values = condition_values(data, oof)
    folds = sorted(set(oof.fold.tolist()))
    later = oof.fold > folds[0]

    def figures(name: str, inside: np.ndarray) -> dict:
        ic, t, n = conditions.evidence(oof.score, oof.target_z, inside & first)
        return {
            "condition": name,
            "rows": int((inside & later).sum()),
            "independent": n,
            "ic": ic,
            "t": t,
        }

    out = [figures(conditions.EVERY_ROW, later)]
    for name, (column, q) in conditions.CONDITIONS.items():
        column_values = values[column]
        inside = np.zeros(len(column_values), dtype=bool)
        for number in folds[1:]:
            earlier = (oof.fold < number) & np.isfinite(column_values)
            if not earlier.any():
                continue
            here = oof.fold == number
            with np.errstate(invalid="ignore"):
                inside[here] = column_values[here] >= np.quantile(column_values[earlier], q)
        out.append(figures(name, inside))
    return out


def _grade_evidence(
    result: PooledResult, oof: OutOfFold, c: Calls, scored: np.ndarray
) -> list[GradeFigures]:
    """Per grade, the ``scored`` calls against their promise, on independent calls."""
    data = result.data
    slots = independent_slots(
        data.symbol[oof.rows], data.open_time[oof.rows], oof.horizon * data.step_ms
    )
    return grade_evidence(
        c.grade[scored],
        c.confidence[scored],
        c.net_return[scored],
        result.config.grades,
        slots[scored],
    )


def unseen_evidence(result: PooledResult) -> dict | None:
    """The leave-symbols-out walk-forward's figures: how the model does on symbols it never
    trained on, graded as the model grades (its own walk-forward conditions and calibration),
    and the grades that evidence backs: the only ones a call on an unseen symbol may be
    actionable in."""
    u, c = result.unseen, result.unseen_calls
    if u is None or c is None:
        return None
    horizon = int(np.median(u.horizon))
    symbols = result.data.symbol[u.rows]
    scored = np.isin(u.fold, c.calibrated_folds)
    evidence = _grade_evidence(result, u, c, scored)
    settled = scored & np.isfinite(c.net_return) & (c.direction != 0)
    per_symbol = {
        s: _ic(u.score[symbols == s], u.target_z[symbols == s], horizon)
        for s in sorted(set(symbols))
    }
    return {
        "groups": result.unseen_groups,
        "rows": len(u.rows),
        "ic": _ic(u.score, u.target_z, horizon),
        "per_symbol": per_symbol,
        "positive_symbols": sum(1 for r in per_symbol.values() if (r["ic"] or 0) > 0),
        "calls": {
            "scored_calls": int(settled.sum()),
            "hit_base_rate": float(c.hit[settled].mean()) if settled.any() else None,
            "grades": [asdict(e) for e in evidence],
        },
        "supported": supported_grades(evidence),
    }


def best_rule(result: PooledResult) -> rule_baselines.BestRule:
    """The simple rule a trader would have used in each fold, chosen on the earlier ones."""
    return rule_baselines.best_rule_walk_forward(result.rules, result.oof.target_z, result.oof.fold)


def report(result: PooledResult) -> dict:
    """Every figure of the walk-forward, out of sample, as plain data (the JSON report)."""
    data, oof, c = result.data, result.oof, result.calls
    config_horizon = int(np.median(oof.horizon))
    scored = np.isin(oof.fold, c.calibrated_folds)  # rows with a walk-forward confidence
    symbols = data.symbol[oof.rows]
    years = pd.to_datetime(data.open_time[oof.rows], unit="ms", utc=True).year
    best = best_rule(result)
    on_best = np.isin(oof.fold, list(best.chosen))
    model_ic = _ic(oof.score[on_best], oof.target_z[on_best], config_horizon)
    rule_ic = _ic(best.score[on_best], oof.target_z[on_best], config_horizon)
    per_symbol = []
    for s in sorted(set(symbols)):
        mine = symbols == s
        row = {"symbol": s, "universe": _ic(oof.score[mine], oof.target_z[mine], config_horizon)}
        own = result.per_symbol.get(s)
        if own is not None:
            # The same rows, scored by the symbol's own model (where it could train).
            index = pd.Index(own.rows)
            at = index.get_indexer(oof.rows[mine])
            both = at >= 0
            u = oof.score[mine][both]
            o = own.score[at[both]]
            target = oof.target_z[mine][both]
            row["per_symbol"] = _ic(o, target, config_horizon)
            row["universe_same_rows"] = _ic(u, target, config_horizon)
            a, b = row["universe_same_rows"]["ic"], row["per_symbol"]["ic"]
            row["winner"] = "universe" if (b is None or (a is not None and a >= b)) else "symbol"
        else:
            row["per_symbol"] = None
            row["winner"] = "universe"
        row["best_rule"] = _ic(best.score[mine & on_best], oof.target_z[mine & on_best], 1)
        per_symbol.append(row)
    evidence = _grade_evidence(result, oof, c, scored)
    settled = scored & np.isfinite(c.net_return)
    unfilled = scored & np.isfinite(oof.forward) & (c.direction != 0) & ~settled
    base_rate = float(c.hit[settled].mean()) if settled.any() else None
    return {
        "rows": len(oof.rows),
        "symbols": sorted(set(symbols)),
        "seconds": result.seconds,
        "folds": [asdict(f) for f in oof.folds],
        "horizons_chosen": {str(f.number): f.horizon for f in oof.folds},
        "ic": model_ic,
        "ic_all_folds": _ic(oof.score, oof.target_z, config_horizon),
        "members": {
            "xgboost": _ic(oof.xgb[on_best], oof.target_z[on_best], config_horizon),
            "ridge": _ic(oof.ridge[on_best], oof.target_z[on_best], config_horizon),
        },
        "best_rule": best.to_dict() | {"ic_same_rows": rule_ic},
        "per_symbol": per_symbol,
        "positive_symbols": sum(1 for r in per_symbol if (r["universe"]["ic"] or 0) > 0),
        "per_year": {
            str(y): _ic(oof.score[years == y], oof.target_z[years == y], config_horizon)
            for y in sorted(set(years))
        },
        "calls": {
            "calibrated_folds": c.calibrated_folds,
            "scored_calls": int(settled.sum()),
            "unfilled": int(unfilled.sum()),  # maker entries whose limit never traded
            "hit_base_rate": base_rate,
            "hit_definition": "direction x forward return over the fold's horizon > round trip",
            "ece": hit_ece(c.confidence[settled], c.hit[settled]),
            "grades": [asdict(e) for e in evidence],
        },
        "dissimilar": _dissimilar(oof, c, scored),
        "calibrator": result.calibrator.to_dict(),
        "conditional": conditional_evidence(result),
        "unseen": unseen_evidence(result),
        "condition": {
            "serving": result.condition.to_dict(),
            "per_fold": {str(k): v.name for k, v in c.chosen.items()},
            "calls_inside": int((scored & c.inside & (c.direction != 0)).sum()),
            "calls": int((scored & (c.direction != 0)).sum()),
        },
        "unstable_inputs": [
            name for name, ok in zip(data.features, stable_inputs(oof), strict=True) if not ok
        ],
    }
