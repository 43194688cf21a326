"""Mergeable statistics: moments of vectors, and a deterministic bounded sample."""

from __future__ import annotations

import hashlib
import heapq
from typing import Callable, Optional

import apache_beam as beam
import numpy as np

__all__ = ["Moments", "MomentsFn", "SampleFn"]


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


class MomentsFn(beam.CombineFn):
    """Moments of the vectors; inputs are buffered so the outer product runs on batches."""

    _BATCH = 512

    def create_accumulator(self):
        return (Moments(), [])

    def add_input(self, acc, vector):
        moments, pending = acc
        pending.append(vector)
        if len(pending) >= self._BATCH:
            moments.add_batch(np.stack(pending))
            pending.clear()
        return acc

    def _flush(self, acc) -> Moments:
        moments, pending = acc
        if pending:
            moments.add_batch(np.stack(pending))
            pending.clear()
        return moments

    def merge_accumulators(self, accumulators):
        total = Moments()
        for acc in accumulators:
            total = total.merge(self._flush(acc))
        return (total, [])

    def compact(self, acc):
        return (self._flush(acc), [])

    def extract_output(self, acc) -> Moments:
        return self._flush(acc)


def _priority(key) -> int:
    return int.from_bytes(hashlib.blake2b(repr(key).encode(), digest_size=8).digest(), "big")


class SampleFn(beam.CombineFn):
    """A uniform sample of at most ``size`` elements, chosen by a hash of each element's key
    (bottom-k): the same sample whatever the partitioning across workers, so a fit on it is
    reproducible."""

    def __init__(self, size: int, key: Callable):
        self.size, self.key = size, key

    def create_accumulator(self):
        return []

    def add_input(self, acc, element):
        item = (-_priority(self.key(element)), repr(self.key(element)), element)
        if len(acc) < self.size:
            heapq.heappush(acc, item)
        elif item[:2] > acc[0][:2]:
            heapq.heapreplace(acc, item)
        return acc

    def merge_accumulators(self, accumulators):
        merged = []
        for acc in accumulators:
            for item in acc:
                if len(merged) < self.size:
                    heapq.heappush(merged, item)
                elif item[:2] > merged[0][:2]:
                    heapq.heapreplace(merged, item)
        return merged

    def extract_output(self, acc) -> list:
        return [e for _, _, e in sorted(acc, key=lambda it: (-it[0], it[1]))]
