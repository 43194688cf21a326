"""Peak memory of whole extraction runs against a short run of the same kind, same command.

Makes (once, cached under out/bench/) 320x240 H.264 + AAC videos of 2 and 20 minutes with
ffmpeg, runs `python -m pipelines.extract --videos FILE` on each in its own process, and prints
peak RSS and the ratio long / short (target <= 1.25: memory must not grow with duration).
With --hour it also runs a 1-hour 720p file (target: well under 2 GiB); making that file takes
several minutes.

    python benchmarks/memory.py [--hour]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_MEASURE = r"""
import resource, subprocess, sys
subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def make_file(path: str, seconds: int, size: str, rate: int) -> str:
    if not os.path.exists(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = path + ".part.mp4"
        subprocess.run(
            [
                "ffmpeg", "-v", "error", "-y",
                "-f", "lavfi", "-i", f"testsrc2=size={size}:rate={rate}:duration={seconds}",
                "-f", "lavfi", "-i", f"sine=frequency=330:sample_rate=44100:duration={seconds}",
                "-c:v", "libx264", "-preset", "veryfast", "-c:a", "aac", "-shortest", tmp,
            ],
            check=True,
        )
        os.replace(tmp, path)
    return path


def peak_rss_mib(path: str) -> float:
    """Peak resident memory of one extraction run (its own process), in MiB."""
    with tempfile.TemporaryDirectory() as out:
        cmd = [sys.executable, "-m", "pipelines.extract", "--videos", path, "--output", out]
        result = subprocess.run(
            [sys.executable, "-c", _MEASURE, *cmd],
            check=True, capture_output=True, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": ROOT},
        )
    return int(result.stdout.strip().splitlines()[-1]) / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hour", action="store_true", help="also run a 1-hour 720p file")
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
