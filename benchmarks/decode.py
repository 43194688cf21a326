"""Decode cost against ffmpeg, on the same file, in the same command.

Makes (once, cached under out/bench/) a noisy 720p H.264 + AAC file with ffmpeg's default
libx264 settings, then measures CPU seconds (user + system, all threads) of:

  baseline   ffmpeg -threads 1 -i FILE -f null -          (full decode of every stream)
  step       mmfuse's decode + sample step at --fps 2: frames chosen by PTS, kept frames
             converted to the analysis size (mmfuse.transforms.media.video.iter_sampled_frames)
  pipeline   a whole `python -m mmfuse.pipelines.extract --videos FILE` run with default settings
             (interpreter start, Beam, audio, features, Parquet included)

and prints ratios: ffmpeg / step (target >= 1.0) and pipeline / ffmpeg (target <= 1.4).
Each figure is the minimum of --repeat runs, because these machines are shared and noisy.

    python benchmarks/decode.py [--seconds 180] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile

from common import ROOT, ffmpeg_testsrc

_STEP = r"""
import json, resource, sys
from mmfuse.schemas.records import Chunk
from mmfuse.transforms.features.visual import analysis_size
from mmfuse.transforms.media.probe import probe_media
from mmfuse.schemas.records import MediaItem
from mmfuse.transforms.media.video import VideoDecodeStats, iter_sampled_frames

def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime

path, fps, threads = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
info = probe_media(MediaItem("bench", path))
w, h = analysis_size(info.video.width, info.video.height)
convert = lambda f: f.to_ndarray(width=w, height=h, format="bgr24", interpolation="AREA")
stats = VideoDecodeStats()
start = cpu()
kept = sum(1 for _ in iter_sampled_frames(path, info.video.index, info.video_origin_us, Chunk("bench", 0, 0, None), fps, convert, stats, threads=threads))
print(json.dumps({"cpu": cpu() - start, "kept": kept, "decoded": stats.decoded, "packets": stats.packets,
                  "skipped_packets": stats.skipped_packets, "skipped_groups": stats.skipped_groups}))
"""


def _child_cpu(cmd: list[str], **kw) -> tuple[float, str]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), out.stdout


def make_file(path: str, seconds: int) -> None:
    """testsrc2 (moving patterns) plus temporal noise, libx264 defaults at 4 Mb/s, AAC."""
    ffmpeg_testsrc(
        path,
        seconds,
        "1280x720",
        30,
        ["-vf", "noise=alls=14:allf=t", "-c:v", "libx264", "-b:v", "4M", "-pix_fmt", "yuv420p", "-b:a", "128k"],
    )


def describe(path: str) -> dict:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "frame=pict_type,key_frame", "-of", "json", path],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    frames = json.loads(out)["frames"]
    n = len(frames)
    return {
        "frames": n,
        "b_share": sum(f["pict_type"] == "B" for f in frames) / n,
        "keyframes": sum(int(f["key_frame"]) for f in frames),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=180)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--fps", type=float, default=2.0)
    parser.add_argument("--threads", type=int, default=1, help="decoder threads of the step (the pipeline default)")
    args = parser.parse_args()
    if not shutil.which("ffmpeg"):
        print("ffmpeg is needed for the baseline (apt-get install ffmpeg)", file=sys.stderr)
        return 2
    path = os.path.join(ROOT, "out", "bench", f"noisy720p_{args.seconds}s.mp4")
    make_file(path, args.seconds)
    facts = describe(path)
    print(
        f"file: {path}: 1280x720 H.264 4 Mb/s + AAC, {args.seconds} s, {facts['frames']} frames, "
        f"{facts['b_share']:.0%} B-frames, {facts['keyframes']} keyframes"
    )

    env = {**os.environ, "PYTHONPATH": ROOT}
    ffmpeg = min(
        _child_cpu(["ffmpeg", "-v", "error", "-threads", "1", "-i", path, "-f", "null", "-"])[0] for _ in range(args.repeat)
    )
    steps = []
    for _ in range(args.repeat):
        _, out = _child_cpu([sys.executable, "-c", _STEP, path, str(args.fps), str(args.threads)], env=env, cwd=ROOT)
        steps.append(json.loads(out.strip().splitlines()[-1]))
    step = min(steps, key=lambda s: s["cpu"])
    runs = []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as out_dir:
            cpu, _ = _child_cpu(
                [sys.executable, "-m", "mmfuse.pipelines.extract", "--videos", path, "--output", out_dir, "--overwrite"],
                env=env,
                cwd=ROOT,
            )
            runs.append(cpu)
    pipeline = min(runs)

    print(f"baseline  ffmpeg -threads 1 full decode          {ffmpeg:7.2f} s CPU")
    print(
        f"step      decode + sample at {args.fps:g} fps            {step['cpu']:7.2f} s CPU  "
        f"({step['kept']} kept, {step['decoded']} of {facts['frames']} frames decoded, "
        f"{step['skipped_packets']} packets never decoded)"
    )
    print(f"pipeline  mmfuse.pipelines.extract, default settings {pipeline:7.2f} s CPU")
    print(f"ratio ffmpeg / step      = {ffmpeg / step['cpu']:.2f}   (target >= 1.0)")
    print(f"ratio pipeline / ffmpeg  = {pipeline / ffmpeg:.2f}   (target <= 1.4)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
