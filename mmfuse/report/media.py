"""What an item page shows of the media itself: small JPEG thumbnails at chosen times, a
waveform envelope, and the transcript's cues as written (PyAV, OpenCV; no Beam)."""

from __future__ import annotations

from fractions import Fraction
from typing import Optional, Sequence

import numpy as np

__all__ = ["cues_as_written", "thumbnails", "waveform"]


def thumbnails(path: str, times_us: Sequence[int], width: int = 160) -> list[tuple[int, bytes]]:
    """``(pts_us, JPEG bytes)`` of the first frame at or after each time (in time order,
    decoding forward once); times past the last frame are left out."""
    import av
    import cv2

    wanted = sorted(set(int(t) for t in times_us))
    out: list[tuple[int, bytes]] = []
    if not wanted:
        return out
    with av.open(path) as container:
        stream = next((s for s in container.streams if s.type == "video"), None)
        if stream is None:
            return out
        stream.thread_type = "AUTO"
        k = 0
        for frame in container.decode(stream):
            if frame.pts is None:
                continue
            pts_us = round(Fraction(frame.pts) * stream.time_base * 1_000_000)
            if pts_us < wanted[k]:
                continue
            rgb = frame.to_ndarray(format="rgb24")
            h = max(1, round(rgb.shape[0] * width / rgb.shape[1]))
            small = cv2.resize(rgb, (width, h), interpolation=cv2.INTER_AREA)
            ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(small, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 70])
            if ok:
                out.append((pts_us, jpeg.tobytes()))
            while k < len(wanted) and wanted[k] <= pts_us:
                k += 1
            if k == len(wanted):
                break
    return out


def waveform(path: str, rate: int = 8000) -> Optional[tuple[np.ndarray, float, int]]:
    """(mono samples at ``rate``, media-clock time of the first one in seconds, ``rate``),
    or None without sound."""
    import av

    with av.open(path) as container:
        stream = next((s for s in container.streams if s.type == "audio"), None)
        if stream is None:
            return None
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
        chunks, start = [], None
        for frame in container.decode(stream):
            if start is None and frame.pts is not None:
                start = float(Fraction(frame.pts) * stream.time_base)
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray().reshape(-1))
        for out in resampler.resample(None):
            chunks.append(out.to_ndarray().reshape(-1))
    if not chunks:
        return None
    return np.concatenate(chunks), start or 0.0, rate


def cues_as_written(uri: Optional[str]) -> list:
    """The transcript's cues with the times the file gives (empty when it cannot be read)."""
    if not uri:
        return []
    from mmfuse.transforms.text.transcripts import load_transcript_uri

    try:
        return list(load_transcript_uri(uri).cues)
    except Exception:  # the run recorded why; the page shows the rest
        return []
