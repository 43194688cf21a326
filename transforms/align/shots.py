"""Shot boundaries from every decoded frame.

A detector in the manner of PySceneDetect's ``AdaptiveDetector`` (written here so it runs on
mmfuse's own decoded frames and their PTS instead of frame numbers): each frame is scaled to 64
pixels wide and converted to HSV; its change from the frame before is the mean absolute
difference of hue, saturation and value, averaged over the three (0–255 scale, hue wrapping).
A frame starts a new shot when its change is at least ``threshold`` (10) and at least
``ratio`` (3) times the mean change of the ``history`` frames before it (steady camera motion
is not a cut), unless the last cut is less than ``min_shot_us`` ago, and only if the picture
has not come back: ``confirm_us`` later it must still differ from the frame before the cut by
at least half the cut's own change (a flash or a one-frame glitch is not a cut). The cut time is the PTS of
the new shot's first frame, so it is exact to the frame.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import cv2
import numpy as np

__all__ = ["CutDetector", "Shot", "shots_from_cuts"]

_WIDTH = 64


def small_hsv(frame) -> np.ndarray:
    """The frame, 64 pixels wide (aspect kept), as HSV int16."""
    h = max(2, int(round(frame.height * _WIDTH / max(1, frame.width) / 2)) * 2)
    rgb = frame.to_ndarray(width=_WIDTH, height=h, format="rgb24", interpolation="AREA")
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV).astype(np.int16)


def content_value(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute HSV difference, averaged over the channels (hue wraps at 180)."""
    d = np.abs(a - b)
    d[..., 0] = np.minimum(d[..., 0], 180 - d[..., 0])
    return float(d.reshape(-1, 3).mean(axis=0).mean())


@dataclass
class CutDetector:
    threshold: float = 10.0
    ratio: float = 3.0
    history: int = 8
    min_shot_us: int = 400_000
    confirm_us: int = 200_000
    _prev: Optional[np.ndarray] = None
    _recent: list = field(default_factory=list)  # changes of the frames before
    _last_cut: Optional[int] = None
    _pending: list = field(default_factory=list)  # (cut time, frame before the cut, its change)
    cuts: list = field(default_factory=list)

    def feed(self, t_us: int, frame) -> None:
        """Look at the next decoded frame (in presentation order)."""
        hsv = small_hsv(frame)
        still = []
        for cut_t, before, jump in self._pending:
            if t_us - cut_t >= self.confirm_us:
                # still as different from before the cut as the cut made it (half at least)
                if content_value(before, hsv) >= max(self.threshold, jump) / 2:
                    self.cuts.append(cut_t)
                else:
                    self._last_cut = None if self._last_cut == cut_t else self._last_cut
            else:
                still.append((cut_t, before, jump))
        self._pending = still
        if self._prev is not None:
            change = content_value(self._prev, hsv)
            usual = float(np.mean(self._recent)) if self._recent else 0.0
            if change >= self.threshold and change >= self.ratio * usual:
                if self._last_cut is None or t_us - self._last_cut >= self.min_shot_us:
                    self._pending.append((t_us, self._prev, change))
                    self._last_cut = t_us
            self._recent = (self._recent + [change])[-self.history :]
        self._prev = hsv

    def finish(self) -> list:
        """All cuts; cuts too close to the end of the stream to be checked are kept."""
        self.cuts.extend(t for t, _, _ in self._pending)
        self._pending = []
        return sorted(self.cuts)


@dataclass(frozen=True)
class Shot:
    index: int
    start_us: int
    end_us: int


def shots_from_cuts(cuts, start_us: int, end_us: int) -> list[Shot]:
    """Shots ``[start, cut₁), [cut₁, cut₂), …, [cutₙ, end)`` from sorted cut times."""
    bounds = [start_us] + sorted(c for c in set(cuts) if start_us < c < end_us) + [end_us]
    return [Shot(i, a, b) for i, (a, b) in enumerate(zip(bounds, bounds[1:])) if b > a]
