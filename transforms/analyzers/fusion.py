"""Early fusion (``--fusion early``): one ``fused`` vector per window, made of each modality's
features standardised with statistics fitted over the whole dataset, then the modalities'
presence indicators. An absent modality contributes zeros (its mean after standardising) and
a 0 indicator, so a model sees both that it is missing and nothing that looks like a value.

The statistics are per dimension (mean and standard deviation over the windows that have the
modality), merged exactly across workers (Chan et al.'s pairwise update), and kept as the
artifact ``fusion_early`` so serving applies the same numbers (``--artifacts_from``).
scikit-learn's ``StandardScaler.partial_fit`` does the same arithmetic but only in one
process; a CombineFn needs a merge of two partial states, which it has no API for.
"""

from __future__ import annotations

from typing import Mapping, Optional, Sequence

import numpy as np

from mmfuse.transforms.analyzers.artifacts import Artifact

__all__ = ["FUSION_EARLY", "DiagonalMoments", "fit_early_fusion", "fused_vector", "fusion_layout"]

FUSION_EARLY = "fusion_early"
_MIN_SCALE = 1e-6  # a constant dimension is centred, not divided by ~0


class DiagonalMoments:
    """Count, mean and sum of squared deviations per dimension, in float64."""

    __slots__ = ("n", "mean", "m2")

    def __init__(self, n: int = 0, mean: Optional[np.ndarray] = None, m2: Optional[np.ndarray] = None):
        self.n, self.mean, self.m2 = n, mean, m2

    def add_batch(self, x: np.ndarray) -> None:
        x = np.asarray(x, np.float64)
        self.merge_in(DiagonalMoments(len(x), x.mean(axis=0), ((x - x.mean(axis=0)) ** 2).sum(axis=0)))

    def merge_in(self, other: "DiagonalMoments") -> None:
        if other.n == 0:
            return
        if self.n == 0:
            self.n, self.mean, self.m2 = other.n, other.mean.copy(), other.m2.copy()
            return
        if other.mean.shape != self.mean.shape:
            raise ValueError(f"vectors of width {len(other.mean)} and {len(self.mean)} in one column")
        n = self.n + other.n
        delta = other.mean - self.mean
        self.mean = self.mean + delta * (other.n / n)
        self.m2 = self.m2 + other.m2 + delta**2 * (self.n * other.n / n)
        self.n = n

    def std(self) -> np.ndarray:
        return np.sqrt(self.m2 / self.n)


def fit_early_fusion(moments: Mapping[str, DiagonalMoments], columns: Sequence[str]) -> Optional[Artifact]:
    """The ``fusion_early`` artifact over ``columns`` (in this order; a column no window has
    is left out); None when no column has any window."""
    arrays, kept, counts = {}, [], {}
    for c in columns:
        m = moments.get(c)
        if m is None or m.n == 0:
            continue
        arrays[f"{c}_mean"] = m.mean
        arrays[f"{c}_scale"] = np.where(m.std() < _MIN_SCALE, 1.0, m.std())
        kept.append(c)
        counts[c] = int(m.n)
    if not kept:
        return None
    return Artifact(FUSION_EARLY, "early_fusion", "fused", arrays, {"columns": kept, "windows": counts})


def fusion_layout(artifact: Artifact) -> list[list]:
    """``[[part, start, stop], …]``: where each standardised modality and each presence
    indicator (``PART_present``) lies in the fused vector."""
    layout, at = [], 0
    columns = artifact.params["columns"]
    for c in columns:
        width = len(artifact.arrays[f"{c}_mean"])
        layout.append([c, at, at + width])
        at += width
    for c in columns:
        layout.append([f"{c}_present", at, at + 1])
        at += 1
    return layout


def fused_vector(row: Mapping[str, object], artifact: Artifact) -> np.ndarray:
    """The fused vector of a window row (float32)."""
    columns = artifact.params["columns"]
    parts, present = [], []
    for c in columns:
        mean, scale = artifact.arrays[f"{c}_mean"], artifact.arrays[f"{c}_scale"]
        value = row.get(c)
        if value is None:
            parts.append(np.zeros(len(mean), np.float32))
            present.append(0.0)
            continue
        value = np.asarray(value, np.float64)
        if value.shape != mean.shape:
            raise ValueError(f"{c} has width {value.size}, the fusion was fitted on {mean.size}")
        parts.append(((value - mean) / scale).astype(np.float32))
        present.append(1.0)
    return np.concatenate([*parts, np.asarray(present, np.float32)])
