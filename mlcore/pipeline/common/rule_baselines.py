"""Simple rules a model must beat, scored out of sample on the model's own folds. Pure.

Each rule turns inputs known at the bar into a score whose sign is its call: momentum and
reversal at a few lookbacks (the return over k bars in units of the symbol's volatility, or
its negative), and the funding-rate sign (crowded longs pay: fade them). A rule has no
parameters to fit, so every fold's score is out of sample by construction; what must not see
the future is the *choice* among rules. ``best_rule_walk_forward`` therefore picks, for each
fold, the rule with the highest IC on the earlier folds only, and scores that rule on the fold:
the figure a model's IC is held against (gate 3), since a trader could have picked a rule the
same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import stats

RETURN_BARS = (1, 4, 24, 72)


def rule_scores(rows: pd.DataFrame) -> dict[str, np.ndarray]:
    """Every rule's score per row of a pooled or single-symbol frame (``ret_<k>_z`` and
    ``funding_bps`` columns, as ``mlcore.pipeline.universe.scale_free`` builds them)."""
    out: dict[str, np.ndarray] = {}
    for k in RETURN_BARS:
        column = f"ret_{k}_z"
        if column in rows:
            r = rows[column].to_numpy(np.float64)
            out[f"momentum_{k}"] = r
            out[f"reversal_{k}"] = -r
    if "funding_bps" in rows and rows["funding_bps"].notna().any():
        out["funding_fade"] = -np.sign(rows["funding_bps"].to_numpy(np.float64))
    return out


def beats_rule(model_ic: float | None, rule_ic: float | None) -> bool:
    """Gate 3's test: the model's IC above the best rule's and above zero (beating a rule that
    lost is no evidence of skill)."""
    return model_ic is not None and model_ic > max(rule_ic if rule_ic is not None else 0.0, 0.0)


def spearman(score: np.ndarray, target: np.ndarray) -> float | None:
    known = np.isfinite(score) & np.isfinite(target)
    if known.sum() < 30 or np.ptp(score[known]) == 0:
        return None
    return float(stats.spearmanr(score[known], target[known]).statistic)


def ic_with_p(
    score: np.ndarray, target: np.ndarray, horizon: int, groups: int = 1
) -> tuple[float | None, float | None, int]:
    """Spearman's rho and its two-sided p-value on the effective sample: overlapping
    ``horizon``-bar returns count as n / horizon draws. (Symbols moving together make even
    that generous; the per-symbol and per-year figures beside it are the check.)"""
    known = np.isfinite(score) & np.isfinite(target)
    n = int(known.sum())
    rho = spearman(score, target)
    n_eff = n / max(horizon, 1)
    if rho is None or n_eff < 10:
        return rho, None, n
    t = rho * np.sqrt((n_eff - 2) / max(1.0 - rho**2, 1e-12))
    return rho, float(2 * stats.t.sf(abs(t), n_eff - 2)), n


@dataclass(frozen=True)
class RuleFigures:
    rule: str
    ic: float | None
    per_fold: dict[int, float | None]

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class BestRule:
    """The rule a trader would have used in each fold, chosen on earlier folds only."""

    chosen: dict[int, str]  # fold -> rule
    score: np.ndarray  # per row: the chosen rule's score (NaN outside scored folds)
    ic: float | None  # over every scored fold
    rules: list[RuleFigures]

    def to_dict(self) -> dict:
        return {
            "chosen": {str(k): v for k, v in self.chosen.items()},
            "ic": self.ic,
            "rules": [r.to_dict() for r in self.rules],
        }


def best_rule_walk_forward(
    scores: Mapping[str, np.ndarray], target: np.ndarray, fold: np.ndarray
) -> BestRule:
    """``fold`` numbers each out-of-sample row's fold (0 or less: not a test row). The first
    fold has no earlier fold to choose on and scores the rule that the first fold itself
    would crown last, i.e. none: it is left out, exactly as the model's uncalibrated first
    fold is."""
    numbers = sorted(int(k) for k in np.unique(fold[fold > 0]))
    figures = []
    per_fold_ic: dict[str, dict[int, float | None]] = {}
    for name, s in scores.items():
        per = {k: spearman(s[fold == k], target[fold == k]) for k in numbers}
        per_fold_ic[name] = per
        test = fold > 0
        figures.append(RuleFigures(name, spearman(s[test], target[test]), per))
    chosen: dict[int, str] = {}
    out = np.full(len(target), np.nan)
    for i, k in enumerate(numbers[1:], start=1):
        earlier = np.isin(fold, numbers[:i])
        ranked = {name: spearman(s[earlier], target[earlier]) for name, s in scores.items()}
        valid = {n: v for n, v in ranked.items() if v is not None}
        if not valid:
            continue
        best = max(valid, key=valid.get)
        chosen[k] = best
        here = fold == k
        out[here] = scores[best][here]
    scored = np.isin(fold, list(chosen))
    ic = spearman(out[scored], target[scored]) if scored.any() else None
    return BestRule(chosen, out, ic, figures)
