"""Audio access for alignment: a cursor over an item's 16 kHz audio, speech activity and
onset envelopes on a 10 ms grid."""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Iterator

import numpy as np

from mmfuse.clock import US_PER_SECOND
from mmfuse.schemas.records import MediaInfo
from mmfuse.transforms.media.audio import TARGET_RATE, iter_audio_blocks

__all__ = ["AudioCursor", "FRAME_US", "onset_envelope", "speech_activity", "frame_energy_db"]

FRAME_US = 10_000  # analysis grid of every envelope here: 10 ms
_HOP = TARGET_RATE * FRAME_US // US_PER_SECOND  # 160 samples


class AudioCursor:
    """Spans of an item's audio in increasing time order, decoded once, holding only what a
    later request may still need: the longest span asked for, and ``HISTORY_US`` before the
    latest request's start (a request may start that much before an earlier one)."""

    HISTORY_US = 10_000_000

    def __init__(self, info: MediaInfo, block_seconds: float = 10.0, capture_errors: bool = True):
        self.t0 = info.audio_t0
        self._blocks = iter_audio_blocks(
            info.audio_uri,
            info.audio.index,
            info.audio_origin_us,
            info.audio_t0,
            block_seconds=block_seconds,
            capture_errors=capture_errors,
            limit_us=info.time_limit_us,
        )
        self._buf = np.zeros(0, np.float32)
        self._first = 0  # sample index of _buf[0]
        self._done = False

    def index_at(self, t_us: int) -> int:
        return max(0, math.ceil((Fraction(t_us, US_PER_SECOND) - self.t0) * TARGET_RATE))

    def time_of(self, index: int) -> int:
        """Media-clock microseconds of sample ``index``."""
        return round((self.t0 + Fraction(index, TARGET_RATE)) * US_PER_SECOND)

    def span(self, start_us: int, end_us: int) -> tuple[int, np.ndarray]:
        """(index of the first sample, samples) for ``[start_us, end_us)``, fewer where the
        stream ends. Requests must not start more than ``HISTORY_US`` before an earlier
        request's start."""
        lo, hi = self.index_at(start_us), self.index_at(end_us)
        while not self._done and self._first + len(self._buf) < hi:
            try:
                first, block = next(self._blocks)
            except StopIteration:
                self._done = True
                break
            if not len(self._buf):
                self._buf, self._first = block, first
            else:
                self._buf = np.concatenate([self._buf, block])
        keep = self.index_at(start_us - self.HISTORY_US) if start_us > self.HISTORY_US else 0
        if keep > self._first:  # nothing that far before lo is asked for again
            cut = min(keep - self._first, len(self._buf))
            self._buf, self._first = self._buf[cut:], self._first + cut
        a = max(lo, self._first) - self._first
        b = max(a, min(hi, self._first + len(self._buf)) - self._first)
        return self._first + a, self._buf[a:b]

    def frames(self, frame_us: int = FRAME_US * 100) -> Iterator[tuple[int, np.ndarray]]:
        """The whole stream in consecutive pieces of ``frame_us``."""
        start = self.time_of(0)
        while True:
            first, samples = self.span(start, start + frame_us)
            if not len(samples):
                return
            yield first, samples
            start += frame_us


def frame_energy_db(samples: np.ndarray) -> np.ndarray:
    """RMS level (dBFS) of consecutive 10 ms frames."""
    n = len(samples) // _HOP
    if n == 0:
        return np.zeros(0, np.float32)
    frames = samples[: n * _HOP].reshape(n, _HOP).astype(np.float64)
    rms = np.sqrt(np.mean(frames**2, axis=1))
    return (20 * np.log10(np.maximum(rms, 1e-6))).astype(np.float32)


def speech_activity(energy_db: np.ndarray, min_speech_frames: int = 5, hangover_frames: int = 10) -> np.ndarray:
    """Binary voice activity on the 10 ms grid: frames well above the noise floor, with short
    blips removed and short pauses inside speech bridged."""
    if len(energy_db) == 0:
        return np.zeros(0, bool)
    floor = np.percentile(energy_db, 10)
    peak = np.percentile(energy_db, 99)
    threshold = max(floor + 0.3 * (peak - floor), floor + 6.0)
    active = energy_db > threshold
    # bridge pauses shorter than the hangover, then drop bursts shorter than min_speech
    active = _close_runs(active, hangover_frames, value=False)
    active = _close_runs(active, min_speech_frames, value=True)
    return active


def _close_runs(mask: np.ndarray, max_len: int, value: bool) -> np.ndarray:
    """Flip runs of ``value`` no longer than ``max_len`` (interior runs only for False)."""
    out = mask.copy()
    n = len(mask)
    i = 0
    while i < n:
        if mask[i] == value:
            j = i
            while j < n and mask[j] == value:
                j += 1
            interior = i > 0 and j < n
            if j - i <= max_len and (value or interior):
                out[i:j] = not value
            i = j
        else:
            i += 1
    return out


def onset_envelope(samples: np.ndarray, n_mels: int = 40) -> np.ndarray:
    """Positive spectral flux of log-mel energies on the 10 ms grid: large where a sound starts."""
    import librosa

    if len(samples) < 400:
        return np.zeros(0, np.float32)
    mel = librosa.feature.melspectrogram(y=samples, sr=TARGET_RATE, n_fft=400, hop_length=_HOP, n_mels=n_mels, center=False)
    logmel = np.log(mel + 1e-6)
    flux = np.maximum(0.0, np.diff(logmel, axis=1)).sum(axis=0)
    return np.concatenate([[0.0], flux]).astype(np.float32)
