"""The sequence the members do not own: purged walk-forward out-of-fold predictions, the
ensemble and its calibration learned walk-forward too, and the final fit.

Every probability this module hands back for a row comes from models (and a calibrator, and an
ensemble weight) fitted without that row's fold and without any label that reaches into it:
- members: fitted per fold on the purged training rows before the fold (``split``);
- ensemble weight and calibrator for fold k: fitted on the out-of-fold predictions of folds
  before k, purged of labels ending inside fold k. A fold is calibrated (and reported) only
  once ``min_calibration_rows`` earlier rows exist (or half of all out-of-fold rows, on a short
  history), so the first fold or two serve only as calibration data;
- the class prior each row is compared with: the label frequencies of its fold's training rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from mlcore.pipeline.common.calibrate import Calibrator, Method, log_loss
from mlcore.pipeline.common.hits import known_before
from mlcore.pipeline.common.split import Fold, SplitConfig, final_split
from mlcore.pipeline.models.base import Dataset, FitInfo, Member
from mlcore.pipeline.models.lstm import QUICK, LSTMParams
from mlcore.pipeline.models.xgb import DEFAULT_GRID, QUICK_GRID, XGBParams
from mlcore.pipeline.symbol import ensemble

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class TrainConfig:
    split: SplitConfig = field(default_factory=SplitConfig)
    xgb_grid: tuple[XGBParams, ...] = DEFAULT_GRID
    lstm: LSTMParams = field(default_factory=LSTMParams)
    xgb_weight: float = ensemble.DEFAULT_XGB_WEIGHT
    fit_weight: bool = False  # fit the ensemble weight on earlier folds instead
    # Platt scaling by default: on a few thousand out-of-fold rows from a market whose class
    # balance drifts, isotonic steps overfit (measured on BTC 1h: fold log loss 2.57 vs 1.19).
    calibration: Method = "sigmoid"
    min_calibration_rows: int = 2000  # earlier out-of-fold rows before a fold is calibrated
    seed: int = 0
    quick: bool = False

    def __post_init__(self) -> None:
        if self.calibration not in ("isotonic", "sigmoid"):
            raise ValueError(f"calibration must be isotonic or sigmoid, not {self.calibration!r}")
        if self.split.mode not in ("expanding", "rolling"):
            raise ValueError(
                f"walk-forward mode must be expanding or rolling, not {self.split.mode!r}"
            )
        if not 0.0 <= self.xgb_weight <= 1.0:
            raise ValueError(f"the XGBoost weight must lie in [0, 1], got {self.xgb_weight}")
        if self.split.folds < 2:
            raise ValueError("the walk-forward needs at least 2 folds")

    @classmethod
    def build(cls, *, horizon: int, quick: bool = False, **overrides) -> TrainConfig:
        """Defaults for a label horizon; ``quick`` is a small search and few epochs (demos,
        tests), recorded on the model."""
        split = SplitConfig(folds=3 if quick else 5, embargo=horizon)
        config = cls(split=split, quick=quick)
        if quick:
            config = replace(config, xgb_grid=QUICK_GRID, lstm=QUICK, min_calibration_rows=500)
        return replace(config, **overrides)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class FoldRecord:
    fold: int
    train_rows: int
    validation_rows: int
    test_rows: int
    test_start: int  # open time (ms) of the fold's first and last rows
    test_end: int
    fit: FitInfo
    log_loss: float  # of the member on the fold's labelled test rows
    prior_log_loss: float


@dataclass(frozen=True)
class MemberOOF:
    """One member's out-of-fold predictions: every test row of every fold, in time order."""

    member: str
    rows: np.ndarray  # positions in the dataset
    fold: np.ndarray
    proba: np.ndarray
    prior: np.ndarray  # per row: the class frequencies of its fold's training labels
    folds: list[FoldRecord]

    def scores(self, y: np.ndarray) -> tuple[float, float]:
        """(log loss, prior log loss) over the rows with a known label."""
        known = y[self.rows] >= 0
        target = y[self.rows][known]
        return log_loss(target, self.proba[known]), log_loss(target, self.prior[known])


def class_prior(y: np.ndarray) -> np.ndarray:
    counts = np.bincount(y[y >= 0], minlength=3).astype(np.float64)
    return (counts + 1.0) / (counts.sum() + 3.0)  # Laplace: never a zero probability


def member_walk_forward(
    make_member: Callable[[], Member],
    data: Dataset,
    folds: list[Fold],
    open_time: np.ndarray,
    progress: Progress | None = None,
) -> MemberOOF:
    rows, fold_of, probas, priors, records = [], [], [], [], []
    for i, fold in enumerate(folds):
        member = make_member()
        info = member.fit(data, fold.train, fold.validation)
        proba = member.predict_proba(data, fold.test)
        prior = class_prior(data.y[np.r_[fold.train, fold.validation]])
        known = data.y[fold.test] >= 0
        target = data.y[fold.test][known]
        records.append(
            FoldRecord(
                fold.number,
                len(fold.train),
                len(fold.validation),
                len(fold.test),
                int(open_time[fold.test[0]]),
                int(open_time[fold.test[-1]]),
                info,
                log_loss(target, proba[known]),
                log_loss(target, np.broadcast_to(prior, (len(target), 3))),
            )
        )
        rows.append(fold.test)
        fold_of.append(np.full(len(fold.test), fold.number))
        probas.append(proba)
        priors.append(np.broadcast_to(prior, proba.shape))
        if progress:
            progress(i + 1, len(folds))
    return MemberOOF(
        make_member().name,
        np.concatenate(rows),
        np.concatenate(fold_of),
        np.concatenate(probas),
        np.concatenate(priors),
        records,
    )


@dataclass(frozen=True)
class EnsembleOOF:
    """Calibrated ensemble predictions on the folds that had earlier folds to learn from."""

    rows: np.ndarray
    fold: np.ndarray
    p_xgb: np.ndarray
    p_lstm: np.ndarray
    raw: np.ndarray  # the blend, before calibration
    calibrated: np.ndarray
    prior: np.ndarray
    weights: dict[int, float]  # XGBoost weight used per fold

    def take(self, keep: np.ndarray) -> EnsembleOOF:
        """The rows where ``keep`` (a mask over ``rows``) holds."""
        return EnsembleOOF(
            self.rows[keep],
            self.fold[keep],
            self.p_xgb[keep],
            self.p_lstm[keep],
            self.raw[keep],
            self.calibrated[keep],
            self.prior[keep],
            {k: v for k, v in self.weights.items() if k in set(self.fold[keep].tolist())},
        )


def _fit_blend(
    p_xgb: np.ndarray, p_lstm: np.ndarray, y: np.ndarray, config: TrainConfig
) -> tuple[float, Calibrator]:
    weight = ensemble.fit_weight(p_xgb, p_lstm, y) if config.fit_weight else config.xgb_weight
    return weight, Calibrator.fit(ensemble.blend(p_xgb, p_lstm, weight), y, config.calibration)


def ensemble_walk_forward(
    xgb: MemberOOF,
    lstm: MemberOOF,
    y: np.ndarray,
    open_time: np.ndarray,
    end_time: np.ndarray,
    config: TrainConfig,
) -> EnsembleOOF:
    if not np.array_equal(xgb.rows, lstm.rows):
        raise ValueError("the members were not predicted on the same rows")
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("rows", "fold", "raw", "cal", "x", "l")}
    weights = {}
    # A short history (a young listing) has fewer out-of-fold rows than the minimum: then half
    # of them, so the later half is still calibrated on the earlier half.
    needed = min(config.min_calibration_rows, int((y[xgb.rows] >= 0).sum()) // 2)
    for number in np.unique(xgb.fold)[1:]:
        here = xgb.fold == number
        known = known_before(xgb.fold, number, open_time[xgb.rows], end_time[xgb.rows])
        past = known & (y[xgb.rows] >= 0)
        if past.sum() < needed:
            continue
        weight, calibrator = _fit_blend(
            xgb.proba[past], lstm.proba[past], y[xgb.rows][past], config
        )
        raw = ensemble.blend(xgb.proba[here], lstm.proba[here], weight)
        weights[int(number)] = weight
        parts["rows"].append(xgb.rows[here])
        parts["fold"].append(xgb.fold[here])
        parts["raw"].append(raw)
        parts["cal"].append(calibrator.apply(raw))
        parts["x"].append(xgb.proba[here])
        parts["l"].append(lstm.proba[here])
    if not weights:
        raise ValueError(
            f"no fold has {needed} earlier out-of-fold rows to calibrate on: the history is "
            "too short for this many folds"
        )
    rows = np.concatenate(parts["rows"])
    keep = np.isin(xgb.rows, rows)
    return EnsembleOOF(
        rows,
        np.concatenate(parts["fold"]),
        np.concatenate(parts["x"]),
        np.concatenate(parts["l"]),
        np.concatenate(parts["raw"]),
        np.concatenate(parts["cal"]),
        xgb.prior[keep],
        weights,
    )


def final_ensemble(
    xgb: MemberOOF, lstm: MemberOOF, y: np.ndarray, config: TrainConfig
) -> tuple[float, Calibrator]:
    """The weight and calibrator that go live: fitted on every out-of-fold prediction."""
    known = y[xgb.rows] >= 0
    return _fit_blend(xgb.proba[known], lstm.proba[known], y[xgb.rows][known], config)


def fit_final(
    make_member: Callable[[], Member],
    data: Dataset,
    open_time: np.ndarray,
    end_time: np.ndarray,
    config: TrainConfig,
) -> tuple[Member, FitInfo]:
    """The member that goes live: all rows, the last slice held out for early stopping."""
    train, validation = final_split(open_time, end_time, config.split)
    member = make_member()
    return member, member.fit(data, train, validation)
