"""Drift: has the market moved away from what a model was trained on? Pure; no Django.

Three triggers, each with its thresholds in ``DriftThresholds`` (settings feed them):

1. **Features.** Per feature, a two-sample Kolmogorov-Smirnov test (SciPy) of the recent
   window against the reference sample saved with the model at training time. Two corrections
   keep 100 features from raising an alarm by chance every day:
   - *Serial correlation.* KS assumes independent draws; hourly features are anything but (a
     168-bar volatility changes slowly: a month of it is a handful of independent values). Each
     feature's integrated autocorrelation time tau, measured on the training series and saved
     with the model, turns n rows into n / tau effective draws, and the p-value is computed on
     those (``scipy.stats.kstwo`` on the effective two-sample size). tau is capped so that any
     window still counts as at least ``min_effective_draws`` draws: a feature whose whole window
     sits outside its training range is caught even if it is slow.
   - *Multiple testing.* Benjamini-Hochberg (``scipy.stats.false_discovery_control``) across
     the features, at ``alpha``: the expected share of false alarms among flagged features.
   A feature drifts when its corrected p-value is below ``alpha`` and its KS statistic (the
   effect size) is at least ``min_statistic``.
2. **Accuracy.** The hit rate of the model's recent predictions (argmax against the realised
   label) against its out-of-fold baseline: a drop of more than ``accuracy_drop`` triggers, once
   at least ``min_outcomes`` outcomes are known.
3. **Age.** Older than ``max_age_days`` since the end of its training data.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class DriftThresholds:
    alpha: float = 0.01
    min_statistic: float = 0.2  # KS effect-size floor
    min_effective_draws: int = 8  # tau is capped at window / this
    accuracy_drop: float = 0.05
    min_outcomes: int = 200
    max_age_days: float = 30.0

    def to_dict(self) -> dict:
        return asdict(self)


def autocorrelation_time(X: np.ndarray, max_lag: int = 2000) -> np.ndarray:
    """Integrated autocorrelation time of each column (rows in time order): 1 + 2 * sum of the
    autocorrelations up to Sokal's automatic window (the first lag M >= 5 tau(M))."""
    X = np.asarray(X, dtype=np.float64)
    out = np.ones(X.shape[1])
    for j in range(X.shape[1]):
        x = X[:, j]
        x = x[~np.isnan(x)]
        n = len(x)
        if n < 10 or np.ptp(x) == 0:
            continue
        x = x - x.mean()
        spectrum = np.fft.rfft(x, 2 * n)
        acf = np.fft.irfft(spectrum * np.conj(spectrum))[:n]
        acf = acf / acf[0]
        sums = 1.0 + 2.0 * np.cumsum(acf[1 : min(max_lag, n - 1) + 1])
        lags = np.arange(1, len(sums) + 1)
        stop = np.flatnonzero(lags >= 5.0 * sums)
        out[j] = max(float(sums[stop[0]] if len(stop) else sums[-1]), 1.0)
    return out


@dataclass(frozen=True)
class FeatureDrift:
    name: str
    statistic: float  # KS D
    p_value: float  # on effective draws
    p_adjusted: float  # Benjamini-Hochberg
    tau: float  # autocorrelation time used (capped)
    drifted: bool


def feature_drift(
    reference: np.ndarray,
    recent: np.ndarray,
    names: tuple[str, ...] | list[str],
    *,
    tau: np.ndarray | None = None,
    reference_rows: int | None = None,
    t: DriftThresholds | None = None,
) -> list[FeatureDrift]:
    """KS per column of ``recent`` (rows in time order) against ``reference`` (a sample of
    ``reference_rows`` training rows); ``tau`` from training, else measured on ``recent``."""
    t = t or DriftThresholds()
    if reference.shape[1] != recent.shape[1] or len(names) != recent.shape[1]:
        raise ValueError("reference, recent window and names disagree on the features")
    tau = autocorrelation_time(recent) if tau is None else np.asarray(tau, dtype=np.float64)
    tau = np.clip(tau, 1.0, max(len(recent) / t.min_effective_draws, 1.0))
    total = reference_rows or len(reference)
    statistics, p_values = [], []
    for j in range(recent.shape[1]):
        a, b = reference[:, j], recent[:, j]
        a, b = a[~np.isnan(a)], b[~np.isnan(b)]
        if not len(a) or not len(b):
            statistics.append(0.0)
            p_values.append(1.0)
            continue
        d = float(stats.ks_2samp(a, b).statistic)
        n1 = min(len(a), total / tau[j])
        n2 = max(len(b) / tau[j], 1.0)
        effective = max(round(n1 * n2 / (n1 + n2)), 1)
        statistics.append(d)
        p_values.append(float(stats.kstwo.sf(d, effective)))
    adjusted = stats.false_discovery_control(np.asarray(p_values), method="bh")
    return [
        FeatureDrift(
            name,
            statistics[j],
            p_values[j],
            float(adjusted[j]),
            float(tau[j]),
            bool(adjusted[j] < t.alpha and statistics[j] >= t.min_statistic),
        )
        for j, name in enumerate(names)
    ]


@dataclass(frozen=True)
class DriftAssessment:
    features: list[FeatureDrift]
    accuracy: float | None  # recent hit rate (None: too few outcomes)
    outcomes: int
    baseline_accuracy: float | None
    age_days: float
    triggers: list[str] = field(default_factory=list)  # "features", "accuracy", "age"

    @property
    def drifted(self) -> list[str]:
        """Drifted features, largest effect first."""
        return [f.name for f in sorted(self.features, key=lambda f: -f.statistic) if f.drifted]


def assess(
    features: list[FeatureDrift],
    correct: np.ndarray,
    baseline_accuracy: float | None,
    age_days: float,
    t: DriftThresholds | None = None,
) -> DriftAssessment:
    """Combine the three checks; ``correct`` holds one bool per recent prediction with a known
    outcome."""
    t = t or DriftThresholds()
    triggers = []
    if any(f.drifted for f in features):
        triggers.append("features")
    n = len(correct)
    accuracy = float(np.mean(correct)) if n else None
    enough = n >= t.min_outcomes and accuracy is not None and baseline_accuracy is not None
    if enough and baseline_accuracy - accuracy > t.accuracy_drop:
        triggers.append("accuracy")
    if age_days > t.max_age_days:
        triggers.append("age")
    return DriftAssessment(features, accuracy, n, baseline_accuracy, age_days, triggers)
