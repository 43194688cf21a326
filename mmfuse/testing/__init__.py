"""Media with events at known times, made with PyAV: for the demo, the tests and benchmarks.

White flashes in the picture and tone bursts in the sound mark instants that every later stage
(decode, windows, offsets) must put at the right time. Nothing here is used on real inputs.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Optional, Sequence

import av
import numpy as np

__all__ = [
    "CONCEPTS",
    "Event",
    "SyntheticSpec",
    "make_media",
    "make_sample_set",
    "make_speech",
    "make_story",
    "narrate",
    "write_srt",
    "write_vtt",
    "write_whisper_json",
]


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


def _fmt_srt(us: int) -> str:
    ms = us // 1000
    return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"


def _fmt_vtt(us: int) -> str:
    return _fmt_srt(us).replace(",", ".")


def write_srt(path: str, cues: Sequence[tuple[int, int, str]]) -> None:
    """Write ``(start_us, end_us, text)`` cues as SubRip."""
    with open(path, "w", encoding="utf-8") as f:
        for i, (s, e, text) in enumerate(cues, start=1):
            f.write(f"{i}\n{_fmt_srt(s)} --> {_fmt_srt(e)}\n{text}\n\n")


def write_vtt(path: str, cues: Sequence[tuple[int, int, str]]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write("WEBVTT\n\n")
        for s, e, text in cues:
            f.write(f"{_fmt_vtt(s)} --> {_fmt_vtt(e)}\n{text}\n\n")


def write_whisper_json(path: str, cues: Sequence[tuple[int, int, str]]) -> None:
    """Write cues as an openai-whisper ``transcribe()`` result, with evenly spread words."""
    segments = []
    for i, (s, e, text) in enumerate(cues):
        words = text.split()
        step = (e - s) / max(1, len(words))
        segments.append(
            {
                "id": i,
                "start": s / 1e6,
                "end": e / 1e6,
                "text": " " + text,
                "words": [
                    {
                        "word": " " + w,
                        "start": round((s + k * step) / 1e6, 3),
                        "end": round((s + (k + 1) * step) / 1e6, 3),
                        "probability": 0.9,
                    }
                    for k, w in enumerate(words)
                ],
            }
        )
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"text": " ".join(c[2] for c in cues), "segments": segments, "language": "en"}, f, indent=1)


def make_sample_set(folder: str) -> str:
    """A small set of items covering each input kind, with a manifest; returns its path.

    lecture (video + audio + SRT), interview (stereo 48 kHz + WebVTT), podcast (audio only +
    Whisper JSON), silent_clip (video only, no transcript) and corrupt_upload (random bytes).
    """
    import os

    os.makedirs(folder, exist_ok=True)
    p = lambda name: os.path.join(folder, name)  # noqa: E731
    make_media(
        p("lecture.mp4"),
        SyntheticSpec(duration_s=8, flashes=[Event(2.0, 0.2), Event(5.0, 0.2)], tones=[Event(3.5, 0.3), Event(6.5, 0.3, 660)]),
    )
    write_srt(
        p("lecture.srt"),
        [
            (500_000, 2_500_000, "Welcome to the lecture."),
            (3_000_000, 4_200_000, "Listen to the tone."),
            (5_000_000, 7_500_000, "A second flash, then a second tone."),
        ],
    )
    make_media(
        p("interview.mp4"),
        SyntheticSpec(
            duration_s=6, sample_rate=48000, channels=2, flashes=[Event(1.0, 0.12)], tones=[Event(4.0, 0.5, 440)], seed=1
        ),
    )
    write_vtt(
        p("interview.vtt"),
        [(0, 1_800_000, "So, tell me <i>about</i> it."), (2_000_000, 5_500_000, "It started with a flash &amp; a tone.")],
    )
    make_media(p("podcast.m4a"), SyntheticSpec(duration_s=5, video=False, sample_rate=22050, tones=[Event(1.0, 1.0, 300)]))
    write_whisper_json(p("podcast.json"), [(200_000, 2_400_000, "a low hum begins"), (2_600_000, 4_800_000, "and then it fades")])
    make_media(p("silent_clip.mp4"), SyntheticSpec(duration_s=4, audio=False, flashes=[Event(3.0, 0.2)], fps=30))
    with open(p("corrupt_upload.mp4"), "wb") as f:
        f.write(np.random.default_rng(7).bytes(4096))
    items = [
        {"id": "lecture", "video": "lecture.mp4", "transcript": "lecture.srt"},
        {"id": "interview", "video": "interview.mp4", "transcript": "interview.vtt"},
        {"id": "podcast", "audio": "podcast.m4a", "transcript": "podcast.json"},
        {"id": "silent_clip", "video": "silent_clip.mp4"},
        {"id": "corrupt_upload", "video": "corrupt_upload.mp4"},
    ]
    manifest = p("manifest.jsonl")
    with open(manifest, "w", encoding="utf-8") as f:
        for item in items:
            f.write(json.dumps(item) + "\n")
    return manifest


def make_speech(
    path: str,
    sentences: Sequence[str],
    voice: str = "en-us",
    words_per_minute: int = 160,
    lead_in_s: float = 0.5,
    gap_s: float | Sequence[float] = 0.7,
    tail_s: float = 0.5,
) -> list[tuple[int, int, str]]:
    """Speech from espeak-ng, one sentence after another with silences of known length
    (``gap_s``: one length, or one per gap), as a 16 kHz WAV; returns each sentence's exact
    ``(start_us, end_us, text)``. Needs espeak-ng."""
    from mmfuse.transforms.align.tts import Synthesizer

    synth = Synthesizer(voice=voice, words_per_minute=words_per_minute)
    rate = 16000
    pieces = [np.zeros(int(lead_in_s * rate), np.float32)]
    truth = []
    position = len(pieces[0])
    for k, text in enumerate(sentences):
        speech, _ = synth.speak(text)
        truth.append((position * 1_000_000 // rate, (position + len(speech)) * 1_000_000 // rate, text))
        pieces.append(speech)
        gap = gap_s if isinstance(gap_s, (int, float)) else gap_s[k % len(gap_s)]
        silence = np.zeros(int((gap if k + 1 < len(sentences) else tail_s) * rate), np.float32)
        pieces.append(silence)
        position += len(speech) + len(silence)
    samples = np.concatenate(pieces)
    out = av.open(path, mode="w", format="wav")
    stream = out.add_stream("pcm_s16le", rate=rate)
    stream.codec_context.layout = "mono"
    pcm = (np.clip(samples, -1, 1) * 32767).astype(np.int16)[None, :]
    frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
    frame.sample_rate = rate
    frame.pts = 0
    for packet in stream.encode(frame):
        out.mux(packet)
    for packet in stream.encode(None):
        out.mux(packet)
    out.close()
    return truth


# Concepts a story's shots show (a flat colour) and its narration names.
CONCEPTS = {
    "red": (200, 30, 30),
    "green": (30, 170, 40),
    "blue": (30, 60, 200),
    "yellow": (230, 210, 40),
    "purple": (130, 40, 160),
    "orange": (240, 130, 20),
    "cyan": (40, 200, 210),
    "pink": (240, 130, 180),
    "brown": (110, 65, 25),
    "gray": (128, 128, 128),
    "olive": (120, 130, 30),
    "navy": (20, 30, 90),
}
_TEMPLATES = (
    "now we look at the {} room",
    "this part shows a {} wall",
    "here everything is {}",
    "the camera moves to the {} door",
    "we stay a while in the {} hall",
    "a {} light fills the screen",
)


def make_story(
    path: str, shots: Sequence[tuple[str, float]], seed: int = 0, width: int = 96, height: int = 64, fps: int = 25
) -> list[tuple[int, int, str]]:
    """A video of hard-cut shots, each a concept's colour for its duration; returns the shots as
    exact ``(start_us, end_us, concept)``. Cuts fall on frame boundaries."""
    frame_us = 1_000_000 // fps
    scenes, truth, t = [], [], 0
    for concept, seconds in shots:
        length = max(frame_us, round(seconds * 1_000_000 / frame_us) * frame_us)
        scenes.append((t / 1_000_000, CONCEPTS[concept]))
        truth.append((t, t + length, concept))
        t += length
    make_media(
        path,
        SyntheticSpec(
            duration_s=t / 1_000_000, fps=fps, width=width, height=height, noise=4, scenes=tuple(scenes), audio=False, seed=seed
        ),
    )
    return truth


def narrate(shots: Sequence[tuple[int, int, str]], seed: int = 0) -> list[tuple[int, int, str]]:
    """One cue per shot, inside it, naming its concept in a varied sentence."""
    rng = np.random.default_rng(seed)
    cues = []
    for start, end, concept in shots:
        margin = (end - start) // 6
        cues.append((start + margin, end - margin, _TEMPLATES[rng.integers(len(_TEMPLATES))].format(concept)))
    return cues
