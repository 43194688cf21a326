"""Shot boundaries from every decoded frame: hard cuts, fades and dissolves.

Hard cuts are found in the manner of PySceneDetect's ``AdaptiveDetector``: each frame is scaled
to 64 pixels wide and converted to HSV; its change from the frame before is the mean absolute
difference of hue, saturation and value, averaged over the three (0–255 scale, hue wrapping).
A frame starts a new shot when its change is at least ``threshold`` (10) and at least ``ratio``
(3) times the mean change of the ``history`` frames before it (steady camera motion is not a
cut), unless the last boundary is less than ``min_shot_us`` ago, and only if the picture has not
come back: ``confirm_us`` later it must still differ from the frame before the cut by at least
half the cut's own change (a flash or a one-frame glitch is not a cut). The cut time is the PTS
of the new shot's first frame, so it is exact to the frame.

Gradual transitions (a dissolve, a fade through black) change the picture as much as a cut, but
in small steps that all go one way. Over the frames of the last ``window_us`` the net change
(first frame to last) is set against the path (the sum of the steps between): a window whose
``net² / path`` is at least ``gradual`` (11), with no step more than a quarter of the net (a cut
or a flash inside is not a gradual change), is a transition; camera motion and grain go back and
forth, so their path is long and their score low. Of the windows of one transition the best is
kept, and its boundary is the frame where half its path has been gone. A window that ends on a
black frame is not counted (a fade to black ends where the next picture comes up), nor one that
starts on black before any picture has been seen (a fade in at the start is no boundary).

Why not PySceneDetect itself: its detectors take frames from its own decoders, numbered
``0, 1, 2…`` and timed from the frame rate; mmfuse must time boundaries by each frame's PTS on
the media clock (variable frame rate, edit lists, chunks decoded in parallel) and already holds
every decoded frame, so decoding the file a second time would double the cost. On real clips
(benchmarks/shots.py) PySceneDetect's ContentDetector and AdaptiveDetector also take white
flashes for cuts and find no dissolves.

Frames in the common YUV layouts are scaled plane by plane with OpenCV, from the decoder's
buffers: about ten times cheaper than asking swscale for a small RGB picture.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Optional

import cv2
import numpy as np

__all__ = ["CutDetector", "Shot", "shots_from_cuts"]

_WIDTH = 64
_YUV = {"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "yuv411p", "yuv410p", "yuv440p"}
_BLACK_LEVEL = 40  # HSV value at or under which a pixel is dark
_BLACK_SHARE = 0.02
_LEVELS = np.arange(256, dtype=np.float32)
_Y_FULL = np.clip((_LEVELS - 16) * 255 / 219, 0, 255).round().astype(np.uint8)
_C_FULL = np.clip((_LEVELS - 128) * 255 / 224 + 128, 0, 255).round().astype(np.uint8)
_LIT = 64  # HSV value from which hue and saturation are trusted  # a frame is black when no more than this share of its pixels is brighter


def _size(frame) -> tuple[int, int]:
    return _WIDTH, max(2, int(round(frame.height * _WIDTH / max(1, frame.width) / 2)) * 2)


def small_hsv(frame) -> np.ndarray:
    """The frame, 64 pixels wide (aspect kept), as HSV uint8."""
    size = _size(frame)
    if frame.format.name in _YUV:
        planes = []
        for p in frame.planes[:3]:
            pixels = np.frombuffer(p, np.uint8).reshape(p.height, p.line_size)[:, : p.width]
            planes.append(cv2.resize(pixels, size, interpolation=cv2.INTER_AREA))
        if not frame.format.name.startswith("yuvj") and frame.color_range != 2:  # video range to full
            planes = [cv2.LUT(planes[0], _Y_FULL), cv2.LUT(planes[1], _C_FULL), cv2.LUT(planes[2], _C_FULL)]
        y, cb, cr = planes
        rgb = cv2.cvtColor(cv2.merge((y, cr, cb)), cv2.COLOR_YCrCb2RGB)  # BT.601, as swscale's default
    else:
        rgb = frame.to_ndarray(width=size[0], height=size[1], format="rgb24", interpolation="AREA")
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)


def content_value(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute HSV difference, averaged over the channels (hue wraps at 180)."""
    d = cv2.absdiff(a, b)
    hue = d[..., 0]
    np.minimum(hue, 180 - hue, out=hue)
    m = cv2.mean(d)
    return (m[0] + m[1] + m[2]) / 3


def is_black(hsv: np.ndarray) -> bool:
    return np.count_nonzero(hsv[..., 2] > _BLACK_LEVEL) <= _BLACK_SHARE * hsv.shape[0] * hsv.shape[1]


@dataclass
class CutDetector:
    threshold: float = 10.0
    ratio: float = 3.0
    history: int = 8
    min_shot_us: int = 400_000
    confirm_us: int = 200_000
    window_us: int = 640_000
    gradual: float = 11.0
    _prev: Optional[np.ndarray] = None
    _prev_black: bool = False
    _recent: list = field(default_factory=list)  # changes of the frames before
    _last_cut: Optional[int] = None
    _pending: list = field(default_factory=list)  # (cut time, frame before the cut, its change)
    _window: deque = field(default_factory=deque)  # (time, hsv, change from the frame before, leading black)
    _seen_picture: bool = False
    _event: Optional[tuple] = None  # best window of the gradual transition going on: (score, time, lead)
    _held: Optional[tuple] = None  # (boundary, until): a gradual boundary dropped if black comes first
    cuts: list = field(default_factory=list)

    def feed(self, t_us: int, frame) -> None:
        """Look at the next decoded frame (in presentation order)."""
        hsv = small_hsv(frame)
        black = is_black(hsv)
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
        change = 0.0
        if self._prev is not None:
            change = content_value(self._prev, hsv)
            usual = sum(self._recent) / len(self._recent) if self._recent else 0.0
            # between two black frames the change is noise of hue and saturation in the dark
            if change >= self.threshold and change >= self.ratio * usual and not (black and self._prev_black):
                if self._last_cut is None or t_us - self._last_cut >= self.min_shot_us:
                    self._pending.append((t_us, self._prev, change))
                    self._last_cut = t_us
            self._recent = (self._recent + [change])[-self.history :]
        self._prev, self._prev_black = hsv, black
        self._gradual(t_us, hsv, change, black)

    def _gradual(self, t_us: int, hsv: np.ndarray, change: float, black: bool) -> None:
        window = self._window
        window.append((t_us, hsv, change, black and not self._seen_picture))
        while len(window) > 2 and t_us - window[1][0] >= self.window_us:
            window.popleft()
        score = None
        first = window[0]
        if t_us - first[0] >= self.window_us and not black:
            steps = [w[2] for w in list(window)[1:]]
            net, path = content_value(first[1], hsv), sum(steps)
            if path > 0 and max(steps) <= net / 4:
                score = net * net / path
        self._seen_picture = self._seen_picture or not black
        if self._held is not None and (black or t_us >= self._held[1]):
            if not black:
                self._add_gradual(self._held[0])
            self._held = None
        if score is not None and score >= self.gradual:
            if self._event is None or score > self._event[0]:
                half, gone = path / 2, 0.0
                for t, _, step, _ in list(window)[1:]:
                    gone += step
                    if gone >= half:
                        break
                # a fade in from the black the stream starts with is no boundary
                lead = first[3] if self._event is None else self._event[2]
                self._event = (score, t, lead)
        elif self._event is not None and (score is None or score < self.gradual * 0.7):
            if self._held is not None:
                self._add_gradual(self._held[0])
            if not self._event[2]:
                self._held = (self._event[1], t_us + self.window_us)  # unless a fade to black goes on
            self._event = None

    def _add_gradual(self, t: int) -> None:
        near = [c for c in self.cuts + [p[0] for p in self._pending] if abs(c - t) < self.window_us]
        if not near:
            self.cuts.append(t)
            self._last_cut = t if self._last_cut is None else max(t, self._last_cut)

    def finish(self) -> list:
        """All boundaries; cuts too close to the end of the stream to be checked are kept."""
        self.cuts.extend(t for t, _, _ in self._pending)
        self._pending = []
        if self._held is not None:
            self._add_gradual(self._held[0])
        if self._event is not None and not self._event[2]:
            self._add_gradual(self._event[1])
        self._event = self._held = None
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
