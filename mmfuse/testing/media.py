"""Media with events at known times, made with PyAV.

White flashes in the picture and tone bursts in the sound mark instants that every later stage
(decode, windows, offsets) must put at the right time. Nothing here is used on real inputs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Optional, Sequence

import av
import numpy as np

__all__ = ["Event", "SyntheticSpec", "make_media"]


@dataclass(frozen=True)
class Event:
    """An event over ``[start_s, start_s + duration_s)``: a white flash or a tone burst."""

    start_s: float
    duration_s: float
    freq_hz: float = 1000.0


@dataclass(frozen=True)
class SyntheticSpec:
    duration_s: float = 6.0
    fps: int = 25
    width: int = 160
    height: int = 120
    video: bool = True
    audio: bool = True
    sample_rate: int = 44100
    channels: int = 1
    flashes: Sequence[Event] = ()
    tones: Sequence[Event] = ()
    # Delay of the first video frame / first audio sample on the media clock.
    video_start_s: float = 0.0
    audio_start_s: float = 0.0
    # Per-frame timestamps (seconds) instead of a constant rate: variable frame rate.
    frame_times_s: Optional[Sequence[float]] = None
    video_codec: str = "libx264"
    audio_codec: str = "aac"
    pix_fmt: str = "yuv420p"
    # Hard cuts: ``(start_s, (r, g, b))`` scenes, each a flat colour with a moving square, from
    # its start to the next one's (before the first: the default gradient).
    scenes: Sequence[tuple[float, tuple[int, int, int]]] = ()
    noise: float = 0.0  # amplitude of random pixel noise (0..255), makes files realistic to decode
    gop: Optional[int] = None
    bit_rate: Optional[int] = None
    seed: int = 0
    extra_options: dict = field(default_factory=dict)


# Codecs whose encoders only take a frame-rate time base.
_FIXED_RATE_CODECS = ("mpeg1video", "mpeg2video", "msmpeg4", "msmpeg4v2", "mpeg4", "cinepak", "mjpeg")


def _layout(channels: int) -> str:
    return {1: "mono", 2: "stereo", 6: "5.1"}[channels]


def _frame_times(spec: SyntheticSpec) -> list[Fraction]:
    if spec.frame_times_s is not None:
        return [Fraction(str(t)) for t in spec.frame_times_s]
    n = int(round(spec.duration_s * spec.fps))
    return [Fraction(spec.video_start_s).limit_denominator(1000) + Fraction(k, spec.fps) for k in range(n)]


def _background(spec: SyntheticSpec, t: float, base: np.ndarray) -> np.ndarray:
    """A dim gradient (or the current scene's colour) with a grey square gliding across it:
    smooth motion, so encoders use B-frames as they do on real footage."""
    scene = next((c for start, c in sorted(spec.scenes, reverse=True) if t >= start), None)
    if scene is not None:
        img = np.empty((spec.height, spec.width, 3), np.float32)
        img[:] = np.array(scene, np.float32) * np.linspace(0.85, 1.0, spec.width, dtype=np.float32)[None, :, None]
    else:
        img = np.broadcast_to(base, (spec.height, spec.width, 3)).copy()
    side = max(2, spec.height // 4)
    span = max(1, spec.width - side)
    phase = (t * spec.width / 3) % (2 * span)  # back and forth, never jumping
    x = int(phase if phase < span else 2 * span - phase)
    y = (spec.height - side) // 2
    img[y : y + side, x : x + side] = (120, 110, 100)
    return img


def _in_event(t: float, events: Sequence[Event]) -> Optional[Event]:
    for e in events:
        if e.start_s <= t < e.start_s + e.duration_s:
            return e
    return None


def make_media(path: str, spec: SyntheticSpec = SyntheticSpec(), container_format: Optional[str] = None) -> dict:
    """Write a file with the picture and sound that ``spec`` describes; return its truth:
    the exact PTS time of every video frame and the flash / tone times."""
    # Some encoders (SVT-AV1) raise the calling thread to real-time scheduling; every process
    # started from it afterwards would inherit that and could starve the machine.
    policy = _scheduling()
    try:
        return _make_media(path, spec, container_format)
    finally:
        _restore_scheduling(policy)


def _scheduling():
    try:
        return os.sched_getscheduler(0), os.sched_getparam(0)
    except (AttributeError, OSError):
        return None


def _restore_scheduling(policy) -> None:
    if policy is not None and _scheduling() != policy:
        try:
            os.sched_setscheduler(0, policy[0], policy[1])
        except OSError:
            pass


def _make_media(path: str, spec: SyntheticSpec, container_format: Optional[str]) -> dict:
    rng = np.random.default_rng(spec.seed)
    out = av.open(path, mode="w", format=container_format)
    vstream = astream = None
    if spec.video:
        time_base = Fraction(1, 90000) if spec.frame_times_s is not None else Fraction(1, spec.fps * 1000)
        vstream = out.add_stream(spec.video_codec, rate=spec.fps)
        vstream.width, vstream.height = spec.width, spec.height
        vstream.pix_fmt = spec.pix_fmt
        if spec.video_codec not in _FIXED_RATE_CODECS:
            vstream.time_base = time_base
            vstream.codec_context.time_base = time_base
        # As ffmpeg's command line would: a keyframe every 2 s and up to 3 B-frames.
        vstream.codec_context.gop_size = spec.gop or 2 * spec.fps
        if spec.video_codec in ("libx264", "libx265", "mpeg4"):
            vstream.codec_context.max_b_frames = 3
        if spec.bit_rate:
            vstream.codec_context.bit_rate = spec.bit_rate
        if spec.video_codec == "libx264":
            vstream.codec_context.options = {"preset": "veryfast", **spec.extra_options}
    if spec.audio:
        astream = out.add_stream(spec.audio_codec, rate=spec.sample_rate)
        astream.codec_context.layout = _layout(spec.channels)
    truth = {"frames_s": [], "flashes": [e.start_s for e in spec.flashes], "tones": [e.start_s for e in spec.tones]}

    # Interleave by time so the muxer does not have to buffer a whole stream.
    vtimes = _frame_times(spec) if vstream is not None else []
    chunk = 1024
    n_audio = int(round((spec.duration_s - spec.audio_start_s) * spec.sample_rate)) if astream else 0
    a_pos = 0
    v_pos = 0
    base = np.linspace(40, 90, spec.width, dtype=np.float32)[None, :, None]
    while v_pos < len(vtimes) or a_pos < n_audio:
        next_v = float(vtimes[v_pos]) if v_pos < len(vtimes) else float("inf")
        next_a = spec.audio_start_s + a_pos / spec.sample_rate if a_pos < n_audio else float("inf")
        if next_v <= next_a:
            t = vtimes[v_pos]
            flash = _in_event(float(t), spec.flashes)
            if flash is not None:
                img = np.full((spec.height, spec.width, 3), 255, np.float32)
            else:
                img = _background(spec, float(t), base)
            if spec.noise:
                img += rng.normal(0, spec.noise, img.shape).astype(np.float32)
            frame = av.VideoFrame.from_ndarray(np.clip(img, 0, 255).astype(np.uint8), format="rgb24")
            tb = vstream.time_base or vstream.codec_context.time_base or Fraction(1, spec.fps)
            frame.pts = int(t / tb)
            frame.time_base = tb
            truth["frames_s"].append(float(frame.pts * tb))
            for packet in vstream.encode(frame):
                out.mux(packet)
            v_pos += 1
        else:
            n = min(chunk, n_audio - a_pos)
            t = spec.audio_start_s + (a_pos + np.arange(n)) / spec.sample_rate
            sig = np.zeros(n, np.float32)
            for e in spec.tones:
                on = (t >= e.start_s) & (t < e.start_s + e.duration_s)
                sig[on] = 0.5 * np.sin(2 * np.pi * e.freq_hz * t[on])
            if spec.noise:
                sig += rng.normal(0, 0.002, n).astype(np.float32)
            data = np.repeat(sig[None, :], spec.channels, axis=0).astype(np.float32)
            layout = _layout(spec.channels)
            frame = av.AudioFrame.from_ndarray(data, format="fltp", layout=layout)
            frame.sample_rate = spec.sample_rate
            frame.pts = int(round(spec.audio_start_s * spec.sample_rate)) + a_pos
            frame.time_base = Fraction(1, spec.sample_rate)
            for packet in astream.encode(frame):
                out.mux(packet)
            a_pos += n
    for stream in (vstream, astream):
        if stream is not None:
            for packet in stream.encode(None):
                out.mux(packet)
    out.close()
    return truth
