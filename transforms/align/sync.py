"""How far a transcript is from the speech it transcribes: offset and drift from voice activity.

The cues make a 0/1 signal on a 10 ms grid, the audio's voice activity another; the lag of
their best cross-correlation is the offset (transcript time − speech time: positive means the
subtitles are late). Offsets measured piecewise along the item give the drift (a linear trend,
in parts per million, as from a frame-rate conversion).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from mmfuse.schemas.records import Cue
from mmfuse.transforms.align.speech import FRAME_US, AudioCursor, frame_energy_db, speech_activity
from mmfuse.transforms.align.xcorr import lagged_correlation, refined_peak

__all__ = ["SyncEstimate", "estimate_offset", "item_activity", "shift_cues"]


@dataclass(frozen=True)
class SyncEstimate:
    offset_us: int  # transcript time − speech time at the media clock's 0
    drift_ppm: float  # extra transcript time per second of speech, in millionths
    confidence: float  # 0 … 1: correlation at the chosen lag, discounted when another lag is close

    def speech_time(self, transcript_us: int) -> int:
        """Where a transcript instant lies in the audio."""
        return round((transcript_us - self.offset_us) / (1.0 + self.drift_ppm * 1e-6))


def item_activity(cursor: AudioCursor) -> tuple[int, np.ndarray]:
    """(media time of frame 0, voice activity per 10 ms frame) over the whole audio."""
    energies = []
    origin = None
    for first, samples in cursor.frames():
        if origin is None:
            origin = cursor.time_of(first)
        energies.append(frame_energy_db(samples))
    if origin is None:
        return 0, np.zeros(0, bool)
    return origin, speech_activity(np.concatenate(energies))


def _cue_signal(cues: Sequence[Cue], origin_us: int, n: int) -> np.ndarray:
    signal = np.zeros(n, bool)
    for c in cues:
        a = max(0, (c.start_us - origin_us) // FRAME_US)
        b = min(n, -(-(c.end_us - origin_us) // FRAME_US))
        if b > a:
            signal[a:b] = True
    return signal


def _correlate(cue: np.ndarray, speech: np.ndarray, max_lag: int) -> tuple[np.ndarray, np.ndarray]:
    """Correlation of ±1 signals at every lag in [-max_lag, max_lag] (frames); lag > 0 means
    the cues come later than the speech."""
    return lagged_correlation(speech.astype(np.float64) * 2 - 1, cue.astype(np.float64) * 2 - 1, max_lag)


def _peak(lags: np.ndarray, corr: np.ndarray) -> tuple[float, float, float]:
    """(refined lag, peak value, best value at least 1 s away from the peak)."""
    return refined_peak(lags, corr, 1_000_000 // FRAME_US)


def estimate_offset(
    activity: np.ndarray,
    origin_us: int,
    cues: Sequence[Cue],
    max_offset_us: int = 30_000_000,
    segment_us: int = 120_000_000,
) -> Optional[SyncEstimate]:
    """The transcript's offset and drift against voice activity; None without cues or speech."""
    timed = [c for c in cues if c.end_us > c.start_us]
    if not timed or not activity.any():
        return None
    n = len(activity)
    cue = _cue_signal(timed, origin_us, n)
    max_lag = max(1, min(max_offset_us // FRAME_US, n - 1))
    lags, corr = _correlate(cue, activity, max_lag)
    lag, peak, second = _peak(lags, corr)
    offset = lag * FRAME_US
    confidence = max(0.0, peak) * min(1.0, max(0.0, (peak - second) / 0.1))
    drift = 0.0
    # Local offsets in pieces of the item, near the global one, give the drift.
    starts = range(0, n, segment_us // FRAME_US)
    points = []
    local_max = 2_000_000 // FRAME_US
    for s in starts:
        e = min(n, s + segment_us // FRAME_US)
        if e - s < 20_000_000 // FRAME_US or not cue[s:e].any():
            continue
        shifted = np.roll(cue, -int(round(lag)))[s:e]
        l_lags, l_corr = _correlate(shifted, activity[s:e], min(local_max, e - s - 1))
        l_lag, l_peak, _ = _peak(l_lags, l_corr)
        if l_peak > 0.2:
            points.append(((s + e) / 2 * FRAME_US + origin_us, (lag + l_lag) * FRAME_US))
    if len(points) >= 3:
        t, o = np.array(points).T
        slope, intercept = np.polyfit(t, o, 1)
        drift = float(slope * 1e6)
        offset = float(intercept)
    return SyncEstimate(int(round(offset)), round(drift, 3), round(float(confidence), 4))


def shift_cues(cues: Sequence[Cue], estimate: SyncEstimate) -> tuple[Cue, ...]:
    """Cues moved onto the speech: each time mapped through the estimate, never below 0."""
    out = []
    for c in cues:
        start = max(0, estimate.speech_time(c.start_us))
        end = max(start, estimate.speech_time(c.end_us))
        words = tuple(
            w
            if w.start_us is None
            else type(w)(
                w.text,
                max(0, estimate.speech_time(w.start_us)),
                None if w.end_us is None else max(0, estimate.speech_time(w.end_us)),
                w.score,
            )
            for w in c.words
        )
        out.append(Cue(start, end, c.text, words))
    return tuple(out)
