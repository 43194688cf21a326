"""Audio/video offset from content: when sound starts against when the picture changes.

Every frame of the first ``max_seconds`` is decoded small and grey; its mean absolute
difference from the frame before is the visual change, placed at the frame's PTS on a 10 ms
grid. The audio's onset strength (positive spectral flux) lies on the same grid. The lag of
their best cross-correlation, refined between grid points, is ``av_offset_us`` = audio time −
video time of the same event: positive means the audio lags. Header start times play no part.

Confidence is measured against chance on the item's own content. The audio envelope is rolled
circularly by ``_NULL_SHIFTS`` amounts far outside the lag window, which keeps its rhythm and
loudness but breaks its relation to the picture, and the best correlation within the lag window
is found for each: those maxima are what a peak looks like by chance. ``z`` is how many of
their standard deviations the real peak stands above their mean, and the confidence is
``Φ(z − 2)``, discounted when a lag more than 100 ms away is nearly as good (periodic sound).
So 0.5 means the peak stands 2 standard deviations above what chance gives on this very
material, whatever the clip's length or kind; music that does not follow the picture stays
near 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np

from mmfuse.clock import US_PER_SECOND
from mmfuse.schemas.records import Chunk, MediaInfo
from mmfuse.transforms.align.speech import FRAME_US, TARGET_RATE, AudioCursor, onset_envelope
from mmfuse.transforms.align.xcorr import lagged_correlation, refined_peak
from mmfuse.transforms.media.video import iter_sampled_frames

__all__ = ["AvSyncEstimate", "estimate_av_offset", "visual_change"]

_SMOOTH_FRAMES = 2  # Gaussian sigma, in 10 ms frames, applied to both envelopes
_NULL_SHIFTS = 64  # circular shifts of the audio that make the chance distribution of peaks
_Z_AT_HALF = 2.0  # a peak this many standard deviations above chance gets confidence 0.5


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
    for sampled in iter_sampled_frames(
        info.item.video_uri, info.video.index, info.video_origin_us, chunk, 0, small_grey, limit_us=info.time_limit_us
    ):
        if previous is not None:
            k = (sampled.pts_us + FRAME_US // 2) // FRAME_US  # nearest grid point
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
    """The item's A/V offset from its first ``max_seconds``; None without both streams, without
    events in either, or when they overlap too briefly to tell a peak from chance."""
    if not (info.has_video and info.has_audio):
        return None
    video = visual_change(info, max_seconds)
    n = len(video)
    cursor = AudioCursor(info, capture_errors=capture_errors)
    first, samples = cursor.span(0, n * FRAME_US)
    # Flux j compares the 25 ms frames starting 10 (j - 1) and 10 j ms after the first sample:
    # the change lies between their centres, 7.5 ms after frame j starts. Drop the samples
    # (fewer than 160) that put that point on the 10 ms grid, so no offset is rounded away.
    t0 = cursor.time_of(first)
    skip = -(-((-(t0 + 7_500)) % FRAME_US) * TARGET_RATE // US_PER_SECOND)
    audio = np.zeros(n, np.float32)
    onsets = onset_envelope(samples[skip:])
    start = (cursor.time_of(first + skip) + 7_500) // FRAME_US
    lo, hi = max(0, start), min(n, start + len(onsets))
    if hi > lo:
        audio[lo:hi] = onsets[lo - start : hi - start]
    # Only the stretch that both streams cover: zeros past a short item's end would count as
    # agreement between the two envelopes.
    picture = np.nonzero(video)[0]
    end = min(hi, int(picture[-1]) + 1) if len(picture) else 0
    video, audio = video[:end], audio[:end]
    if not video.any() or not audio.any():
        return None
    v, a = _zscore(_smooth(video)), _zscore(_smooth(audio))
    max_lag = min(max_lag_us // FRAME_US, end // 4)
    if max_lag < 1:
        return None
    # audio events `lag` frames after the video's: positive lag = audio late
    lags, corr = lagged_correlation(v, a, max_lag)
    lag, peak, second = refined_peak(lags, corr, 100_000 // FRAME_US)
    return AvSyncEstimate(int(round(lag * FRAME_US)), _confidence(v, a, max_lag, peak, second))


def _chance_peaks(v: np.ndarray, a: np.ndarray, max_lag: int) -> np.ndarray:
    """Best correlation within the lag window after rolling the audio by amounts that keep every
    lag of the window at least ``max_lag`` away from the true alignment."""
    n = len(v)
    shifts = np.unique(np.linspace(2 * max_lag, n - 2 * max_lag, _NULL_SHIFTS).astype(int))
    return np.array([lagged_correlation(v, np.roll(a, int(d)), max_lag)[1].max() for d in shifts])


def _confidence(v: np.ndarray, a: np.ndarray, max_lag: int, peak: float, second: float) -> float:
    chance = _chance_peaks(v, a, max_lag)
    if len(chance) < 8 or peak <= 0:
        return 0.0
    z = (peak - chance.mean()) / max(float(chance.std()), 1e-9)
    unique = min(1.0, 2.0 * max(0.0, peak - second) / peak)
    return round(float(_norm_cdf(z - _Z_AT_HALF)) * unique, 4)


def _norm_cdf(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))
