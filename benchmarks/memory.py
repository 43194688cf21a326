"""Peak memory of whole extraction runs against a short run of the same kind, same command.

Makes (once, cached under out/bench/) 320x240 H.264 + AAC videos of 2 and 20 minutes with
ffmpeg, runs `python -m mmfuse.pipelines.extract --videos FILE` on each in its own process, and prints
peak RSS and the ratio long / short (target <= 1.25: memory must not grow with duration).
With --hour it also runs a 1-hour 720p file (target: well under 2 GiB); making that file takes
several minutes. With --align-hour it runs subtitle sync and forced alignment over an hour of
espeak-ng speech with a shifted SRT (target: within 1 GiB).

Every run is also reported as MiB per hour of input: (peak RSS - floor) / hours of input, with
floor = the peak RSS of a run of the same kind on a 1 s input (interpreter, imports, models:
what a run costs before it holds any media). A pipeline whose memory does not grow with duration
has a per-hour figure that falls as the input gets longer.

    python benchmarks/memory.py [--quick] [--hour] [--align-hour]

--quick: 12 s vs 2 min of 320x240 (a smoke run).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile

from common import ROOT, ffmpeg_testsrc

_MEASURE = r"""
import resource, subprocess, sys
subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def make_file(path: str, seconds: int, size: str, rate: int) -> str:
    return ffmpeg_testsrc(path, seconds, size, rate, ["-c:v", "libx264", "-preset", "veryfast"], tone_hz=330)


def make_hour_of_speech(folder: str) -> str:
    """An hour of espeak-ng sentences with random pauses, and an SRT 1.5 s late; returns a
    manifest naming both."""
    import json
    import random

    sys.path.insert(0, ROOT)
    from mmfuse.testing import make_speech, write_srt

    manifest = os.path.join(folder, "speech_hour.jsonl")
    if os.path.exists(manifest):
        return manifest
    words = (
        "the river bright stone carries a small boat past green hills while seven birds call "
        "over quiet water and a tall man reads an old map near the wooden bridge"
    ).split()
    rng = random.Random(5)
    sentences, total = [], 0.0
    while total < 3600:
        n = rng.randint(6, 12)
        sentences.append(" ".join(rng.choice(words) for _ in range(n)).capitalize() + ".")
        total += n * 0.38 + 1.0
    gaps = [rng.uniform(0.4, 1.6) for _ in sentences]
    wav = os.path.join(folder, "speech_hour.wav")
    truth = make_speech(wav, sentences, gap_s=gaps)
    srt = os.path.join(folder, "speech_hour_late.srt")
    write_srt(srt, [(s + 1_500_000, e + 1_500_000, t) for s, e, t in truth])
    with open(manifest, "w") as f:
        f.write(json.dumps({"id": "hour", "audio": wav, "transcript": srt}) + "\n")
    return manifest


def make_short_speech(folder: str) -> str:
    """One espeak-ng sentence (about 1 s) and its SRT 1.5 s late: the floor of --align-hour."""
    import json

    sys.path.insert(0, ROOT)
    from mmfuse.testing import make_speech, write_srt

    manifest = os.path.join(folder, "speech_1s.jsonl")
    if os.path.exists(manifest):
        return manifest
    wav = os.path.join(folder, "speech_1s.wav")
    truth = make_speech(wav, ["The river is bright."], lead_in_s=0.1, tail_s=0.1)
    srt = os.path.join(folder, "speech_1s_late.srt")
    write_srt(srt, [(s + 1_500_000, e + 1_500_000, t) for s, e, t in truth])
    with open(manifest, "w") as f:
        f.write(json.dumps({"id": "short", "audio": wav, "transcript": srt}) + "\n")
    return manifest


def media_seconds(path: str) -> float:
    """Duration of a media file, or of the audio of the items of a manifest, by ffprobe."""
    import json

    if path.endswith(".jsonl"):
        with open(path) as f:
            items = [json.loads(line) for line in f if line.strip()]
        return sum(media_seconds(item.get("video") or item["audio"]) for item in items)
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", path],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return float(out.strip())


def report(label: str, rss: float, floor: float, seconds: float) -> str:
    per_hour = (rss - floor) / (seconds / 3600)
    return f"{label}: {rss:7.1f} MiB peak, {rss - floor:6.1f} MiB above the 1 s floor, {per_hour:8.1f} MiB per hour of input"


def peak_rss_mib(path: str, *flags: str) -> float:
    """Peak resident memory of one extraction run (its own process), in MiB."""
    with tempfile.TemporaryDirectory() as out:
        source = ["--manifest", path] if path.endswith(".jsonl") else ["--videos", path]
        cmd = [sys.executable, "-m", "mmfuse.pipelines.extract", *source, "--output", out, *flags]
        result = subprocess.run(
            [sys.executable, "-c", _MEASURE, *cmd],
            check=True,
            capture_output=True,
            text=True,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": ROOT},
        )
    return int(result.stdout.strip().splitlines()[-1]) / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="12 s vs 2 min of 320x240")
    parser.add_argument("--hour", action="store_true", help="also run a 1-hour 720p file")
    parser.add_argument("--align-hour", action="store_true", help="also sync and align an hour of speech")
    args = parser.parse_args()
    bench = os.path.join(ROOT, "out", "bench")
    short_s, long_s = (12, 120) if args.quick else (120, 1200)
    floor_file = make_file(os.path.join(bench, "qvga_1s.mp4"), 1, "320x240", 25)
    short = make_file(os.path.join(bench, f"qvga_{short_s}s.mp4" if args.quick else "qvga_2min.mp4"), short_s, "320x240", 25)
    long = make_file(os.path.join(bench, "qvga_2min.mp4" if args.quick else "qvga_20min.mp4"), long_s, "320x240", 25)
    floor = peak_rss_mib(floor_file)
    a, b = peak_rss_mib(short), peak_rss_mib(long)
    name = lambda s: f"{s // 60} min" if s >= 60 else f"{s} s"  # noqa: E731
    print(f"peak RSS 1 s 320x240 (floor): {floor:7.1f} MiB")
    print(report(f"{name(short_s):>6s} 320x240", a, floor, media_seconds(short)))
    print(report(f"{name(long_s):>6s} 320x240", b, floor, media_seconds(long)))
    print(f"ratio {name(long_s)} / {name(short_s)}   = {b / a:.2f}   (target <= 1.25)", flush=True)
    if args.hour:
        hd = make_file(os.path.join(bench, "hd_60min.mp4"), 3600, "1280x720", 25)
        hd_floor = peak_rss_mib(make_file(os.path.join(bench, "hd_1s.mp4"), 1, "1280x720", 25))
        c = peak_rss_mib(hd)
        print(f"peak RSS 1 s 1280x720 (floor): {hd_floor:7.1f} MiB")
        print(report("60 min 1280x720", c, hd_floor, media_seconds(hd)) + "   (target: well under 2048 MiB peak)", flush=True)
    if args.align_hour:
        flags = ("--apply_transcript_offset", "--align_words")
        manifest = make_hour_of_speech(bench)
        speech_floor = peak_rss_mib(make_short_speech(bench), *flags)
        d = peak_rss_mib(manifest, *flags)
        print(f"peak RSS aligning 1 s of speech (floor): {speech_floor:7.1f} MiB")
        print(report("aligning 60 min of speech", d, speech_floor, media_seconds(manifest)) + "   (target: within 1024 MiB peak)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
