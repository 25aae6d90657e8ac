"""Inputs unlike anything the model has seen: a dissimilarity score per prediction, with a
threshold fitted on the training rows only. Pure; no Django.

The score is the largest absolute z-score of the row's inputs against the training rows (each
input scaled by its training mean and standard deviation; a missing input does not count). It
names the input that is furthest out, so a flagged prediction explains itself in one line
("inputs outside what the model was trained on: funding_z_30 at 6.2 sd"). The threshold is the
``quantile`` of the training rows' own scores: by construction about 1 - quantile of rows like
the training ones are flagged, and a flag on later rows says the market moved somewhere the
model never learnt from. (FreqAI's dissimilarity index measures a distance to the training
points instead; this one is a distance in the scaled feature space, as the issue allows, and
costs one pass.)
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Dissimilarity:
    names: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    threshold: float

    @classmethod
    def fit(
        cls, X: np.ndarray, names: tuple[str, ...] | list[str], quantile: float = 0.995
    ) -> Dissimilarity:
        with warnings.catch_warnings():  # an input never present in training: no scale
            warnings.simplefilter("ignore", RuntimeWarning)
            mean, scale = np.nanmean(X, axis=0), np.nanstd(X, axis=0)
        mean = np.where(np.isfinite(mean), mean, 0.0)
        scale = np.where(np.isfinite(scale) & (scale > 0), scale, np.inf)
        d = cls(tuple(names), mean, scale, 0.0)
        score, _ = d.score(X)
        threshold = float(np.nanquantile(score, quantile)) if np.isfinite(score).any() else np.inf
        return cls(tuple(names), mean, scale, threshold)

    def score(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per row: the largest |z| over its inputs, and which input it is."""
        z = np.abs((np.asarray(X, dtype=np.float64) - self.mean) / self.scale)
        z = np.where(np.isfinite(z), z, -1.0)  # missing inputs do not count
        worst = z.argmax(axis=1)
        return z[np.arange(len(z)), worst], worst

    def flag(self, X: np.ndarray) -> np.ndarray:
        return self.score(X)[0] > self.threshold

    def explain(self, row: np.ndarray) -> str | None:
        """One line for a flagged row; None for a row like the training ones."""
        return self.explain_rows(np.asarray(row).reshape(1, -1))[0]

    def explain_rows(self, X: np.ndarray) -> list[str | None]:
        score, worst = self.score(X)
        return [
            f"inputs outside what the model was trained on: {self.names[int(w)]} at {z:.1f} sd"
            if z > self.threshold
            else None
            for z, w in zip(score, worst, strict=True)
        ]

    def to_dict(self) -> dict:
        return {
            "names": list(self.names),
            "mean": self.mean.tolist(),
            # An input with no spread in training never counts: saved as null, read back as inf.
            "scale": [None if not np.isfinite(v) else float(v) for v in self.scale],
            "threshold": self.threshold,
        }

    @classmethod
    def from_dict(cls, data: dict) -> Dissimilarity:
        scale = np.array([np.inf if v is None else v for v in data["scale"]], dtype=np.float64)
        return cls(
            tuple(data["names"]),
            np.asarray(data["mean"], dtype=np.float64),
            scale,
            float(data["threshold"]),
        )
