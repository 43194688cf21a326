"""A hostile input set: damaged media in every container mmfuse reads, special files and
bombs, each with what a job must make of it. Used by the tests (small) and by
``benchmarks/hostile.py`` (all cases).

Every case is a manifest row plus an expectation: ``"damaged"`` (the item must not come out
``ok``: ``partial`` with a warning, or ``failed`` with a typed error), ``"failed"`` (a typed
error, no rows), ``"ok"`` (a good item, whose rows must equal a clean run's), or ``"any"``
(damage no reader can see, such as flipped bits in PCM samples: any status, never a crash).
"""

from __future__ import annotations

import json
import os
import random
import struct
from dataclasses import dataclass
from typing import Optional

from mmfuse.testing.media import SyntheticSpec, make_media
from mmfuse.testing.subtitles import write_srt

__all__ = ["CONTAINERS", "HostileCase", "make_hostile_set", "wrap_flv_timestamps"]

# (container format, extension, video codec, audio codec); video None: audio only
CONTAINERS = (
    ("matroska", "mkv", "libx264", "aac"),
    ("webm", "webm", "libvpx", "libopus"),
    ("avi", "avi", "mpeg4", "mp3"),
    ("mpegts", "ts", "libx264", "aac"),
    ("flv", "flv", "libx264", "aac"),
    ("mp4", "mp4", "libx264", "aac"),
    ("wav", "wav", None, "pcm_s16le"),
)


@dataclass(frozen=True)
class HostileCase:
    id: str
    row: dict  # the manifest line
    expect: str  # "ok", "damaged" or "failed"
    what: str


def _spec(vcodec: Optional[str], acodec: str, seconds: float) -> SyntheticSpec:
    return SyntheticSpec(
        duration_s=seconds,
        width=96,
        height=64,
        video=vcodec is not None,
        video_codec=vcodec or "libx264",
        audio_codec=acodec,
        sample_rate=48000 if acodec == "libopus" else 44100,
        noise=8,
    )


def wrap_flv_timestamps(data: bytes, after_ms: int) -> bytes:
    """FLV tags after ``after_ms`` moved by 2^31 ms (596.5 hours), as a 32-bit millisecond
    counter read as signed makes them."""
    out = bytearray(data)
    pos = struct.unpack(">I", out[5:9])[0] + 4
    while pos + 11 <= len(out):
        size = int.from_bytes(out[pos + 1 : pos + 4], "big")
        ts = int.from_bytes(out[pos + 4 : pos + 7], "big") | (out[pos + 7] << 24)
        if ts > after_ms:
            ts = (ts + (1 << 31)) & 0xFFFFFFFF
            out[pos + 4 : pos + 7] = (ts & 0xFFFFFF).to_bytes(3, "big")
            out[pos + 7] = ts >> 24
        pos += 11 + size + 4
    return bytes(out)


def make_hostile_set(folder: str, full: bool = False, seconds: float = 4.0, cue_mb: int = 5) -> tuple[str, list[HostileCase]]:
    """Write the cases under ``folder``; returns ``(manifest path, cases)``. ``full`` cuts every
    container at 10, 50 and 90% of its bytes (else at 50% only) and adds bit flips and header
    fuzzing in every container."""
    os.makedirs(folder, exist_ok=True)
    rng = random.Random(0)
    cases: list[HostileCase] = []

    def add(case_id, expect, what, **paths):
        cases.append(HostileCase(case_id, {"id": case_id, **paths}, expect, what))

    def write(name: str, data: bytes) -> str:
        path = os.path.join(folder, name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    good = {}
    for fmt, ext, vcodec, acodec in CONTAINERS:
        path = os.path.join(folder, f"good.{ext}")
        make_media(path, _spec(vcodec, acodec, seconds), container_format=fmt)
        good[ext] = path
        with open(path, "rb") as f:
            data = f.read()
        key = "video" if vcodec else "audio"
        for pct in (10, 50, 90) if full else (50,):
            # cut off the packet grid (MPEG-TS packets are 188 bytes), as a stopped copy is
            cut = write(f"cut{pct}.{ext}", data[: len(data) * pct // 100 + 37])
            add(f"cut{pct}_{ext}", "damaged", f"{ext} cut at {pct}% of its bytes", **{key: cut})
        if full or ext == "ts":
            flipped = bytearray(data)
            for _ in range(200):
                i = rng.randrange(len(flipped))
                flipped[i] ^= 1 << rng.randrange(8)
            # PCM has no redundancy: flipped bits in WAV samples are just other samples
            expect = "any" if ext == "wav" else "damaged"
            add(f"bitflip_{ext}", expect, f"{ext} with 200 flipped bits", **{key: write(f"bitflip.{ext}", bytes(flipped))})
        if full or ext == "avi":
            fuzzed = bytearray(data)
            # the header before its padding (ffmpeg pads AVI and MKV headers with JUNK / Void)
            end = next((i for i in (data.find(b"JUNK", 12), data.find(b"\xec", 64)) if i > 12), 2048)
            for _ in range(30):
                fuzzed[rng.randrange(12, min(end, len(fuzzed)))] = rng.randrange(256)
            add(f"fuzzed_{ext}", "damaged", f"{ext} with 30 random header bytes", **{key: write(f"fuzzed.{ext}", bytes(fuzzed))})

    repeat = os.path.join(folder, "cut50.mkv")
    for k in range(3):
        add(f"same_cut_mkv_{k}", "damaged", "the same cut MKV, three times in one job", video=repeat)
    with open(good["flv"], "rb") as f:
        wrapped = write("wrapped.flv", wrap_flv_timestamps(f.read(), int(seconds * 500)))
    add("wrapped_flv", "damaged", "FLV whose timestamps jump to 596 hours half way", video=wrapped)
    add("random_bytes", "failed", "random bytes named .mkv", video=write("random.mkv", os.urandom(20_000)))
    add("empty", "failed", "an empty .mp4", video=write("empty.mp4", b""))
    folder_mp4 = os.path.join(folder, "folder.mp4")
    os.makedirs(folder_mp4, exist_ok=True)
    add("directory", "failed", "a directory named .mp4", video=folder_mp4)
    fifo = os.path.join(folder, "fifo.mp4")
    if hasattr(os, "mkfifo") and not os.path.exists(fifo):
        os.mkfifo(fifo)
    if os.path.exists(fifo):
        add("fifo", "failed", "a FIFO named .mp4", video=fifo)
    zero = os.path.join(folder, "zero.srt")
    if os.path.exists("/dev/zero") and not os.path.lexists(zero):
        os.symlink("/dev/zero", zero)
    if os.path.lexists(zero):
        add("zero_transcript", "damaged", "a transcript that is a link to /dev/zero", video=good["mkv"], transcript=zero)
    transcript_dir = os.path.join(folder, "dir.srt")
    os.makedirs(transcript_dir, exist_ok=True)
    add("transcript_dir", "damaged", "a transcript path that is a directory", video=good["mkv"], transcript=transcript_dir)
    bomb = os.path.join(folder, "bomb.vtt")
    with open(bomb, "w") as f:
        f.write("WEBVTT\n\n00:00:01.000 --> 00:00:03.000\n" + "word " * (cue_mb * 200_000) + "\n")
    add("long_cue", "damaged", f"a {cue_mb} MB WebVTT cue on one line", video=good["mkv"], transcript=bomb)

    srt = os.path.join(folder, "good.srt")
    write_srt(srt, [(500_000, 1_500_000, "A first line"), (2_000_000, 3_000_000, "and a second one")])
    add("good_mp4", "ok", "a whole MP4 with subtitles", video=good["mp4"], transcript=srt)
    add("good_mkv", "ok", "a whole MKV", video=good["mkv"])
    manifest = os.path.join(folder, "items.jsonl")
    with open(manifest, "w") as f:
        for case in cases:
            f.write(json.dumps(case.row) + "\n")
    return manifest, cases
