"""Fuse modalities on the window grid: one row per item × window ``[i·hop, i·hop + window)``.

Frames join every window their time falls in, the audio of a window comes from its own span,
and a cue joins every window it overlaps (a zero-length cue, the windows holding its instant).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Optional, Sequence

import numpy as np

from mmfuse.clock import WindowGrid
from mmfuse.schemas.records import Cue, FrameRecord
from mmfuse.transforms.text.tokens import tokenize

__all__ = ["WindowText", "cue_windows", "mean_visual", "window_texts"]


@dataclass(frozen=True)
class WindowText:
    transcript: str
    tokens: tuple[str, ...]
    cue_indices: tuple[int, ...]


def cue_windows(cues: Sequence[Cue], grid: WindowGrid, n_windows: Optional[int] = None) -> dict[int, list[int]]:
    """Window index → indices of the cues that overlap it, in cue order."""
    out: dict[int, list[int]] = {}
    for k, cue in enumerate(cues):
        for i in grid.overlapping(cue.start_us, cue.end_us):
            if n_windows is not None and i >= n_windows:
                break
            out.setdefault(i, []).append(k)
    return out


def window_texts(cues: Sequence[Cue], grid: WindowGrid, n_windows: Optional[int] = None) -> dict[int, WindowText]:
    """Transcript text and tokens of every window that some cue overlaps."""
    tokens = [tokenize(c.text) for c in cues]
    texts = [" ".join(c.text.split()) for c in cues]
    return {
        i: WindowText(" ".join(texts[k] for k in ks), tuple(t for k in ks for t in tokens[k]), tuple(ks))
        for i, ks in cue_windows(cues, grid, n_windows).items()
    }


def mean_visual(frames: Iterable[FrameRecord]) -> tuple[Optional[np.ndarray], int]:
    """Mean of the frames' features, summed in time order so the result never depends on the
    order frames arrived in."""
    ordered = sorted(frames, key=lambda f: f.pts_us)
    if not ordered:
        return None, 0
    stacked = np.stack([f.features for f in ordered]).astype(np.float64)
    return stacked.mean(axis=0).astype(np.float32), len(ordered)
