"""The dataset-wide statistics as Beam CombineFns: moments of vectors, a deterministic bounded
sample, and document frequencies. Any number of workers can merge their accumulators."""

from __future__ import annotations

import hashlib
import heapq
from collections import Counter
from typing import Callable

import apache_beam as beam
import numpy as np

from mmfuse.transforms.analyzers.fusion import DiagonalMoments
from mmfuse.transforms.analyzers.stats import Moments
from mmfuse.transforms.text.tokens import words_of

__all__ = ["DiagonalMomentsFn", "DocFreqFn", "MomentsFn", "SampleFn"]


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


class DocFreqFn(beam.CombineFn):
    """(number of documents, token → number of documents holding it)."""

    def create_accumulator(self):
        return [0, Counter()]

    def add_input(self, acc, tokens):
        acc[0] += 1
        acc[1].update(set(words_of(tokens)))
        return acc

    def merge_accumulators(self, accumulators):
        n, df = 0, Counter()
        for a, c in accumulators:
            n += a
            df.update(c)
        return [n, df]

    def extract_output(self, acc):
        return acc[0], dict(acc[1])


class DiagonalMomentsFn(beam.CombineFn):
    """Per-dimension mean and variance of each column: inputs are ``(column, vector)``, the
    output ``{column: DiagonalMoments}``; vectors are buffered and added in batches."""

    _BATCH = 512

    def create_accumulator(self):
        return ({}, {})

    def add_input(self, acc, element):
        moments, pending = acc
        column, vector = element
        batch = pending.setdefault(column, [])
        batch.append(vector)
        if len(batch) >= self._BATCH:
            moments.setdefault(column, DiagonalMoments()).add_batch(np.stack(batch))
            batch.clear()
        return acc

    def _flush(self, acc) -> dict:
        moments, pending = acc
        for column, batch in pending.items():
            if batch:
                moments.setdefault(column, DiagonalMoments()).add_batch(np.stack(batch))
                batch.clear()
        return moments

    def merge_accumulators(self, accumulators):
        total: dict = {}
        for acc in accumulators:
            for column, m in self._flush(acc).items():
                total.setdefault(column, DiagonalMoments()).merge_in(m)
        return (total, {})

    def compact(self, acc):
        return (self._flush(acc), {})

    def extract_output(self, acc) -> dict:
        return self._flush(acc)
