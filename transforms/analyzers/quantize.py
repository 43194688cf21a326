"""8-bit quantization of reduced features, as YouTube-8M shipped them: clip to a fixed range,
then map it linearly onto 0 … 255. The range is recorded in the column's metadata."""

from __future__ import annotations

import numpy as np

__all__ = ["CLIP", "dequantize", "quantize8"]

CLIP = (-2.0, 2.0)


def quantize8(x, clip: tuple[float, float] = CLIP) -> np.ndarray:
    lo, hi = clip
    q = np.round((np.clip(np.asarray(x, np.float64), lo, hi) - lo) * (255.0 / (hi - lo)))
    return q.astype(np.uint8)


def dequantize(q, clip: tuple[float, float] = CLIP) -> np.ndarray:
    lo, hi = clip
    return np.asarray(q, np.float32) * ((hi - lo) / 255.0) + lo
