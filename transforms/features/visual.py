"""Per-frame visual features with OpenCV: colour histogram, grayscale thumbnail, edges.

Frames arrive as BGR uint8 at the analysis size (the decoder scales them there in one step,
see :func:`analysis_size`), so every feature is independent of the source resolution.
"""

from __future__ import annotations

from typing import Callable

import cv2
import numpy as np

from mmfuse.schemas.tables import FeatureSpec

__all__ = ["ANALYSIS_SIDE", "VISUAL_EXTRACTORS", "VisualExtractor", "analysis_size", "make_visual_extractor"]

# Frames are scaled so their longer side is this many pixels before any feature is computed.
ANALYSIS_SIDE = 160
_HIST_BINS = (8, 4, 4)  # hue, saturation, value
_THUMB = 8


def analysis_size(width: int, height: int, side: int = ANALYSIS_SIDE) -> tuple[int, int]:
    """(width, height) with the longer side ``side`` and the aspect ratio kept (even sizes)."""
    if width <= 0 or height <= 0:
        raise ValueError("frame has no pixels")
    scale = side / max(width, height)
    w = max(2, int(round(width * scale / 2)) * 2)
    h = max(2, int(round(height * scale / 2)) * 2)
    return w, h


def color_histogram(bgr: np.ndarray) -> np.ndarray:
    hsv = cv2.cvtColor(bgr, cv2.COLOR_BGR2HSV)
    hist = cv2.calcHist([hsv], [0, 1, 2], None, list(_HIST_BINS), [0, 180, 0, 256, 0, 256]).ravel()
    total = hist.sum()
    return (hist / total if total > 0 else hist).astype(np.float32)


def thumbnail(bgr: np.ndarray) -> np.ndarray:
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    small = cv2.resize(gray, (_THUMB, _THUMB), interpolation=cv2.INTER_AREA)
    return (small.astype(np.float32) / 255.0).ravel()


def edges(bgr: np.ndarray) -> np.ndarray:
    """Canny edge density, mean and standard deviation of luma (all in [0, 1])."""
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    density = float(np.count_nonzero(cv2.Canny(gray, 100, 200))) / gray.size
    return np.array([density, gray.mean() / 255.0, gray.std() / 255.0], np.float32)


_PARTS: dict[str, tuple[Callable[[np.ndarray], np.ndarray], int]] = {
    "color_hist": (color_histogram, int(np.prod(_HIST_BINS))),
    "thumbnail": (thumbnail, _THUMB * _THUMB),
    "edges": (edges, 3),
}
VISUAL_EXTRACTORS = {
    "basic": ("color_hist", "thumbnail", "edges"),
    "color_hist": ("color_hist",),
    "thumbnail": ("thumbnail",),
    "edges": ("edges",),
}


class VisualExtractor:
    """Concatenation of the named parts, for one BGR frame at the analysis size."""

    def __init__(self, name: str):
        if name not in VISUAL_EXTRACTORS:
            raise ValueError(f"unknown visual extractor {name!r}; choose one of {sorted(VISUAL_EXTRACTORS)}")
        self.name = name
        self.parts = VISUAL_EXTRACTORS[name]
        self.dim = sum(_PARTS[p][1] for p in self.parts)

    def __call__(self, bgr: np.ndarray) -> np.ndarray:
        return np.concatenate([_PARTS[p][0](bgr) for p in self.parts])

    def spec(self) -> FeatureSpec:
        layout, offset = {}, 0
        for p in self.parts:
            layout[p] = [offset, offset + _PARTS[p][1]]
            offset += _PARTS[p][1]
        config = {
            "analysis_side": ANALYSIS_SIDE,
            "hsv_bins": list(_HIST_BINS),
            "thumbnail": [_THUMB, _THUMB],
            "canny": [100, 200],
            "layout": layout,
            "pooling": "mean over the window's sampled frames",
        }
        return FeatureSpec(self.name, self.dim, config)


def make_visual_extractor(name: str) -> VisualExtractor:
    return VisualExtractor(name)
