"""Audio/video offset from content: when sound starts against when the picture changes.

Every frame of the first ``max_seconds`` is decoded small and grey; its mean absolute
difference from the frame before is the visual change, placed at the frame's PTS on a 10 ms
grid. The audio's onset strength (positive spectral flux) lies on the same grid. The lag of
their best cross-correlation, refined between grid points, is ``av_offset_us`` = audio time −
video time of the same event: positive means the audio lags. Header start times play no part.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from mmfuse.schemas.records import Chunk, MediaInfo
from mmfuse.transforms.align.speech import FRAME_US, AudioCursor, onset_envelope
from mmfuse.transforms.align.xcorr import lagged_correlation, refined_peak
from mmfuse.transforms.media.video import iter_sampled_frames

__all__ = ["AvSyncEstimate", "estimate_av_offset", "visual_change"]

_SMOOTH_FRAMES = 2  # Gaussian sigma, in 10 ms frames, applied to both envelopes


@dataclass(frozen=True)
class AvSyncEstimate:
    offset_us: int
    confidence: float


def visual_change(info: MediaInfo, max_seconds: float) -> np.ndarray:
    """Visual change per 10 ms frame over ``[0, max_seconds)`` (zero where no frame starts)."""
    n = int(max_seconds * 1_000_000) // FRAME_US
    change = np.zeros(n, np.float32)
    end_us = n * FRAME_US
    previous = None

    def small_grey(frame):
        return frame.to_ndarray(width=64, height=36, format="gray").astype(np.float32)

    chunk = Chunk(info.media_id, 0, 0, end_us)
    for sampled in iter_sampled_frames(info.item.video_uri, info.video.index, info.video_origin_us, chunk, 0, small_grey):
        if previous is not None:
            k = sampled.pts_us // FRAME_US
            if 0 <= k < n:
                change[k] += float(np.mean(np.abs(sampled.image - previous)))
        previous = sampled.image
    return change


def _smooth(x: np.ndarray) -> np.ndarray:
    r = 4 * _SMOOTH_FRAMES
    kernel = np.exp(-0.5 * (np.arange(-r, r + 1) / _SMOOTH_FRAMES) ** 2)
    return np.convolve(x, kernel / kernel.sum(), mode="same")


def _zscore(x: np.ndarray) -> np.ndarray:
    sd = x.std()
    return (x - x.mean()) / sd if sd > 0 else x * 0


def estimate_av_offset(
    info: MediaInfo, max_seconds: float = 120.0, max_lag_us: int = 1_000_000, capture_errors: bool = True
) -> Optional[AvSyncEstimate]:
    """The item's A/V offset from its first ``max_seconds``; None without both streams or
    without events in either."""
    if not (info.has_video and info.has_audio):
        return None
    video = visual_change(info, max_seconds)
    n = len(video)
    cursor = AudioCursor(info, capture_errors=capture_errors)
    first, samples = cursor.span(0, n * FRAME_US)
    audio = np.zeros(n, np.float32)
    onsets = onset_envelope(samples)
    # Onset frame j of the span covers samples [160 j, 160 j + 400): place it by its centre.
    start = (cursor.time_of(first) + 12_500) // FRAME_US
    lo, hi = max(0, start), min(n, start + len(onsets))
    if hi > lo:
        audio[lo:hi] = onsets[lo - start : hi - start]
    if not video.any() or not audio.any():
        return None
    v, a = _zscore(_smooth(video)), _zscore(_smooth(audio))
    max_lag = min(max_lag_us // FRAME_US, n - 1)
    # audio events `lag` frames after the video's: positive lag = audio late
    lags, corr = lagged_correlation(v, a, max_lag)
    lag, peak, second = refined_peak(lags, corr, 100_000 // FRAME_US)
    confidence = max(0.0, peak) * min(1.0, max(0.0, (peak - second) / max(peak, 1e-9)) * 2)
    return AvSyncEstimate(int(round(lag * FRAME_US)), round(min(1.0, confidence), 4))
