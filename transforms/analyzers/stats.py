"""Mergeable statistics of vectors: n, Σx and Σxxᵀ."""

from __future__ import annotations

from typing import Optional

import numpy as np

__all__ = ["Moments"]


class Moments:
    """n, Σx and Σxxᵀ in float64: enough for a mean and a covariance."""

    __slots__ = ("n", "total", "outer")

    def __init__(self, n: int = 0, total: Optional[np.ndarray] = None, outer: Optional[np.ndarray] = None):
        self.n, self.total, self.outer = n, total, outer

    def add_batch(self, x: np.ndarray) -> None:
        x = np.asarray(x, np.float64)
        if self.total is None:
            self.total = np.zeros(x.shape[1])
            self.outer = np.zeros((x.shape[1], x.shape[1]))
        if x.shape[1] != len(self.total):
            raise ValueError(f"vectors of width {x.shape[1]} and {len(self.total)} in one column")
        self.n += len(x)
        self.total += x.sum(axis=0)
        self.outer += x.T @ x

    def merge(self, other: "Moments") -> "Moments":
        if other.n == 0:
            return self
        if self.n == 0:
            return other
        return Moments(self.n + other.n, self.total + other.total, self.outer + other.outer)

    def mean_cov(self) -> tuple[np.ndarray, np.ndarray]:
        mean = self.total / self.n
        cov = self.outer / self.n - np.outer(mean, mean)
        return mean, (cov + cov.T) / 2
