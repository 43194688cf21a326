"""The demo"s sample set: one item of each input kind, and a manifest."""

from __future__ import annotations

import json
import os

import numpy as np

from mmfuse.testing.media import Event, SyntheticSpec, make_media
from mmfuse.testing.subtitles import write_srt, write_vtt, write_whisper_json

__all__ = ["make_sample_set"]


def make_sample_set(folder: str) -> str:
    """A small set of items covering each input kind, with a manifest; returns its path.

    lecture (video + audio + SRT), interview (stereo 48 kHz + WebVTT), podcast (audio only +
    Whisper JSON), silent_clip (video only, no transcript) and corrupt_upload (random bytes).
    """
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
