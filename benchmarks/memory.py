"""Peak memory of whole extraction runs against a short run of the same kind, same command.

Makes (once, cached under out/bench/) 320x240 H.264 + AAC videos of 2 and 20 minutes with
ffmpeg, runs `python -m mmfuse.pipelines.extract --videos FILE` on each in its own process, and prints
peak RSS and the ratio long / short (target <= 1.25: memory must not grow with duration).
With --hour it also runs a 1-hour 720p file (target: well under 2 GiB); making that file takes
several minutes. With --align-hour it runs subtitle sync and forced alignment over an hour of
espeak-ng speech with a shifted SRT (target: within 1 GiB).

    python benchmarks/memory.py [--hour] [--align-hour]
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
    parser.add_argument("--hour", action="store_true", help="also run a 1-hour 720p file")
    parser.add_argument("--align-hour", action="store_true", help="also sync and align an hour of speech")
    args = parser.parse_args()
    bench = os.path.join(ROOT, "out", "bench")
    short = make_file(os.path.join(bench, "qvga_2min.mp4"), 120, "320x240", 25)
    long = make_file(os.path.join(bench, "qvga_20min.mp4"), 1200, "320x240", 25)
    a, b = peak_rss_mib(short), peak_rss_mib(long)
    print(f"peak RSS  2 min 320x240: {a:7.1f} MiB")
    print(f"peak RSS 20 min 320x240: {b:7.1f} MiB")
    print(f"ratio 20 min / 2 min   = {b / a:.2f}   (target <= 1.25)")
    if args.hour:
        hd = make_file(os.path.join(bench, "hd_60min.mp4"), 3600, "1280x720", 25)
        c = peak_rss_mib(hd)
        print(f"peak RSS 60 min 1280x720: {c:7.1f} MiB   (target: well under 2048 MiB)")
    if args.align_hour:
        manifest = make_hour_of_speech(bench)
        d = peak_rss_mib(manifest, "--apply_transcript_offset", "--align_words")
        print(f"peak RSS aligning 60 min of speech: {d:7.1f} MiB   (target: within 1024 MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
