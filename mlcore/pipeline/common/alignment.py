"""QA gate 2: are features and labels fit to train on?

Same index, no NaN after the warm-up (except where the label is unknown at the very end),
no constant or all-NaN feature, and the features are exactly the spec's."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mlcore.pipeline.common.labels import Labels
from mlcore.pipeline.features.build import FeatureFrame
from mlcore.pipeline.features.spec import FeatureSpec


@dataclass
class AlignmentReport:
    rows: int
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def __str__(self) -> str:
        if self.ok:
            return f"aligned: {self.rows} rows"
        return f"{len(self.problems)} alignment problem(s):\n" + "\n".join(
            f"  - {p}" for p in self.problems
        )


def _listed(names: list[str], limit: int = 10) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" (+{len(names) - limit} more)" if len(names) > limit else "")


def check_alignment(
    features: FeatureFrame, labels: Labels, spec: FeatureSpec | None = None
) -> AlignmentReport:
    frame = features.frame
    spec = spec or features.spec
    report = AlignmentReport(rows=len(frame))
    problems = report.problems
    if features.spec.version != spec.version:
        problems.append(
            f"features were built with spec {features.spec.version}, not {spec.version}"
        )
    if tuple(frame.columns) != spec.features:
        missing = [f for f in spec.features if f not in frame.columns]
        extra = [f for f in frame.columns if f not in spec.features]
        problems.append(f"columns differ from the spec: missing {missing}, extra {extra}")
    if not frame.index.equals(labels.label.index):
        problems.append(
            f"index differs: {len(frame)} feature rows vs {len(labels.label)} label rows"
        )
        return report
    warm = frame.iloc[spec.warmup :]
    if warm.empty:
        problems.append(f"no rows after the warm-up of {spec.warmup} bars")
        return report
    all_nan = [c for c in warm if warm[c].isna().all()]
    if all_nan:
        problems.append(f"all-NaN features: {_listed(all_nan)}")
    nan_cols = [c for c in warm if c not in all_nan and warm[c].isna().any()]
    for column in nan_cols[:10]:
        first = warm.index[np.flatnonzero(warm[column].isna().to_numpy())[0]]
        problems.append(f"{column} is NaN after the warm-up, first at open_time {first}")
    constant = [c for c in warm if c not in all_nan and warm[c].nunique(dropna=True) <= 1]
    if constant:
        problems.append(f"constant features: {_listed(constant)}")
    label = labels.label.iloc[spec.warmup :]
    unknown = label.isna().to_numpy()
    # Unknown labels may only sit within the last horizon of bars (the outcome is not in yet).
    if unknown[: max(len(unknown) - labels.horizon, 0)].any():
        problems.append("labels are missing before the last horizon of bars")
    if not label.dropna().isin([-1.0, 0.0, 1.0]).all():
        problems.append("labels other than -1/0/1")
    ends = labels.end_time.iloc[spec.warmup :][~unknown]
    if (ends.to_numpy() <= ends.index.to_numpy()).any():
        problems.append("a label ends at or before its own bar: the barrier scan looked back")
    return report


def training_rows(features: FeatureFrame, labels: Labels) -> tuple[pd.DataFrame, pd.Series]:
    """Rows after the warm-up with a known label."""
    warm = features.warm
    label = labels.label.loc[warm.index]
    known = label.notna()
    return warm[known], label[known].astype(int)
