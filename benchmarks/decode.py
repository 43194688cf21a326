"""Decode cost against the peers a user would pick instead, measured the same way on both sides.

Makes (once, cached under out/bench/) a noisy 720p H.264 + AAC file with ffmpeg's default
libx264 settings (180 s; --quick: 60 s), then runs each of these in its own Python process:

  mmfuse   mmfuse's decode + sample step at --fps 2: frames chosen by PTS, kept frames converted
           to the analysis size (mmfuse.transforms.media.video.iter_sampled_frames)
  opencv   cv2.VideoCapture (FFmpeg backend, one decoder thread): grab() every frame, retrieve()
           only the frame nearest each 1/fps step (by CAP_PROP_POS_MSEC), BGR at full size
  ffmpeg   `ffmpeg -threads 1 -i FILE -vf fps=2 -f rawvideo -pix_fmt bgr24 pipe:`, the frames
           read from the pipe into numpy arrays (the size from ffprobe first)

and for each prints CPU seconds (user + system, all threads) of
  whole    the whole process: interpreter start, imports, probing, the loop (the child's
           rusage, ffmpeg/ffprobe children included)
  loop     the decode loop alone (time.process_time around it in the child; for the ffmpeg
           pipe, plus the ffmpeg process's CPU)

Then whole extraction runs (`python -m mmfuse.pipelines.extract`, default settings, own process):
  pipeline  the same file; ratio pipeline / OpenCV's whole process (target <= 1.2)
  growth    8 items of 60 s in one job vs 1 item of 60 s, with fixed = a run on a 1 s item:
            holds when CPU(8) <= 1.1 * 8 * (CPU(1) - fixed) + fixed
  memory    peak RSS of a 600 s item vs the 60 s item (target <= 1.1); the 600 s file is the
            60 s one looped 10 times by stream copy
            (--quick: 10 s items, 100 s vs 10 s)

Each figure is the minimum of --repeat runs (growth and memory runs: --repeat-long), because these
machines are shared and noisy. Default run: about 8-10 minutes on 2 cores once the files exist.

    python benchmarks/decode.py [--quick] [--seconds 180] [--repeat 2] [--repeat-long 1]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

from common import ROOT, ffmpeg_testsrc

# Runs a command and prints, as JSON, the CPU and peak RSS of it and its descendants, and the
# last line it printed: one way of measuring every side.
_MEASURE = r"""
import json, resource, subprocess, sys
p = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
r = resource.getrusage(resource.RUSAGE_CHILDREN)
lines = p.stdout.strip().splitlines()
print(json.dumps({"rc": p.returncode, "cpu": r.ru_utime + r.ru_stime, "maxrss_mib": r.ru_maxrss / 1024,
                  "last": lines[-1] if lines else "", "stderr": p.stderr[-3000:]}))
"""

_MMFUSE = r"""
import json, sys, time
from mmfuse.schemas.records import Chunk, MediaItem
from mmfuse.transforms.features.visual import analysis_size
from mmfuse.transforms.media.probe import probe_media
from mmfuse.transforms.media.video import VideoDecodeStats, iter_sampled_frames

path, fps = sys.argv[1], float(sys.argv[2])
info = probe_media(MediaItem("bench", path))
w, h = analysis_size(info.video.width, info.video.height)
convert = lambda f: f.to_ndarray(width=w, height=h, format="bgr24", interpolation="AREA")
stats = VideoDecodeStats()
start = time.process_time()
kept = sum(1 for _ in iter_sampled_frames(path, info.video.index, info.video_origin_us, Chunk("bench", 0, 0, None), fps, convert, stats, threads=1))
loop = time.process_time() - start
print(json.dumps({"loop": loop, "kept": kept, "decoded": stats.decoded, "size": f"{w}x{h}"}))
"""

_OPENCV = r"""
import json, sys, time
import cv2

path, fps = sys.argv[1], float(sys.argv[2])
cap = cv2.VideoCapture(path, cv2.CAP_FFMPEG, [cv2.CAP_PROP_N_THREADS, 1])
half_frame_ms = 500.0 / (cap.get(cv2.CAP_PROP_FPS) or 30.0)
step_ms = 1000.0 / fps
start = time.process_time()
k = kept = decoded = 0
size = ""
while cap.grab():
    decoded += 1
    t = cap.get(cv2.CAP_PROP_POS_MSEC)
    if t + half_frame_ms > k * step_ms:  # the frame nearest step k (constant frame rate)
        ok, frame = cap.retrieve()
        if ok:
            kept += 1
            size = f"{frame.shape[1]}x{frame.shape[0]}"
        while t + half_frame_ms > k * step_ms:
            k += 1
loop = time.process_time() - start
cap.release()
print(json.dumps({"loop": loop, "kept": kept, "decoded": decoded, "size": size}))
"""

_FFMPEG = r"""
import json, resource, subprocess, sys, time
import numpy as np

path, fps = sys.argv[1], float(sys.argv[2])
probe = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=width,height",
                        "-of", "json", path], check=True, capture_output=True, text=True).stdout
s = json.loads(probe)["streams"][0]
w, h = s["width"], s["height"]
def children():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime
before, start = children(), time.process_time()
p = subprocess.Popen(["ffmpeg", "-v", "error", "-threads", "1", "-i", path, "-vf", f"fps={fps:g}", "-f", "rawvideo",
                      "-pix_fmt", "bgr24", "pipe:"], stdout=subprocess.PIPE, bufsize=0)
n = w * h * 3
kept = 0
while True:
    buf = p.stdout.read(n)
    while buf and len(buf) < n:
        more = p.stdout.read(n - len(buf))
        if not more:
            break
        buf += more
    if len(buf) < n:
        break
    frame = np.frombuffer(buf, np.uint8).reshape(h, w, 3)
    kept += 1
p.wait()
loop = time.process_time() - start + children() - before
print(json.dumps({"loop": loop, "kept": kept, "decoded": None, "size": f"{w}x{h}"}))
"""


def measure(cmd: list[str]) -> dict:
    """CPU and peak RSS of ``cmd`` (its own process, descendants included) and the JSON it printed last."""
    out = subprocess.run(
        [sys.executable, "-c", _MEASURE, *cmd],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": ROOT},
    )
    m = json.loads(out.stdout.strip().splitlines()[-1])
    if m["rc"] != 0:
        raise RuntimeError(f"{' '.join(cmd[:6])} ... failed ({m['rc']}):\n{m['stderr']}")
    if m["last"].startswith("{"):
        m.update(json.loads(m["last"]))
    return m


def best(cmd: list[str], repeat: int) -> dict:
    runs = [measure(cmd) for _ in range(repeat)]
    result = min(runs, key=lambda r: r["cpu"])
    if "loop" in result:
        result["loop"] = min(r["loop"] for r in runs)
    result["maxrss_mib"] = min(r["maxrss_mib"] for r in runs)
    return result


def extract(source: str, repeat: int) -> dict:
    with tempfile.TemporaryDirectory() as out:
        flag = "--manifest" if source.endswith(".jsonl") else "--videos"
        return best([sys.executable, "-m", "mmfuse.pipelines.extract", flag, source, "--output", out, "--overwrite"], repeat)


def make_file(path: str, seconds: int) -> str:
    """testsrc2 (moving patterns) plus temporal noise, libx264 defaults at 4 Mb/s, AAC."""
    return ffmpeg_testsrc(
        path,
        seconds,
        "1280x720",
        30,
        ["-vf", "noise=alls=14:allf=t", "-c:v", "libx264", "-b:v", "4M", "-pix_fmt", "yuv420p", "-b:a", "128k"],
    )


def make_looped(source: str, path: str, times: int) -> str:
    """``source`` played ``times`` times in one file, by stream copy (no re-encoding)."""
    if not os.path.exists(path):
        tmp = path + ".part.mp4"
        subprocess.run(
            ["ffmpeg", "-v", "error", "-y", "-stream_loop", str(times - 1), "-i", source, "-c", "copy", tmp], check=True
        )
        os.replace(tmp, path)
    return path


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
    parser.add_argument("--quick", action="store_true", help="60 s file, 10 s items, one run each")
    parser.add_argument("--seconds", type=int, default=None, help="length of the decode file (default 180; quick 60)")
    parser.add_argument("--item-seconds", type=int, default=None, help="growth item length (default 60; quick 10)")
    parser.add_argument("--repeat", type=int, default=None, help="runs of each decode figure (default 2; quick 1)")
    parser.add_argument("--repeat-long", type=int, default=1, help="runs of each growth / memory figure")
    parser.add_argument("--fps", type=float, default=2.0)
    parser.add_argument("--skip-growth", action="store_true", help="only the decode comparison and the pipeline run")
    args = parser.parse_args()
    seconds = args.seconds or (60 if args.quick else 180)
    item_s = args.item_seconds or (10 if args.quick else 60)
    repeat = args.repeat or (1 if args.quick else 2)
    if not shutil.which("ffmpeg"):
        print("ffmpeg is needed for the baselines (apt-get install ffmpeg)", file=sys.stderr)
        return 2
    bench = os.path.join(ROOT, "out", "bench")
    path = make_file(os.path.join(bench, f"noisy720p_{seconds}s.mp4"), seconds)
    facts = describe(path)
    print(
        f"file: {path}: 1280x720 H.264 4 Mb/s + AAC, {seconds} s, {facts['frames']} frames, "
        f"{facts['b_share']:.0%} B-frames, {facts['keyframes']} keyframes; best of {repeat} runs",
        flush=True,
    )

    fps = f"{args.fps:g}"
    sides = {
        "mmfuse decode + sample": best([sys.executable, "-c", _MMFUSE, path, fps], repeat),
        "OpenCV grab/retrieve": best([sys.executable, "-c", _OPENCV, path, fps], repeat),
        "ffmpeg fps filter, pipe": best([sys.executable, "-c", _FFMPEG, path, fps], repeat),
    }
    print(f"decode + sample at {fps} fps, CPU s     whole process   decode loop   kept  decoded  size")
    for name, r in sides.items():
        decoded = "all" if r["decoded"] is None else r["decoded"]
        print(f"  {name:26s} {r['cpu']:12.2f} {r['loop']:13.2f} {r['kept']:6d} {decoded!s:>8s}  {r['size']}")
    ours = sides["mmfuse decode + sample"]
    for name, r in list(sides.items())[1:]:
        print(
            f"  ratio {name} / mmfuse:  whole process {r['cpu'] / ours['cpu']:.2f}, decode loop {r['loop'] / ours['loop']:.2f}"
            "   (>= 1.0: mmfuse cheaper)"
        )
    sys.stdout.flush()

    pipeline = extract(path, repeat)
    opencv = sides["OpenCV grab/retrieve"]
    print(f"pipeline  mmfuse.pipelines.extract, default settings, whole process {pipeline['cpu']:7.2f} s CPU")
    print(f"  ratio pipeline / OpenCV whole process = {pipeline['cpu'] / opencv['cpu']:.2f}   (target <= 1.2)", flush=True)
    if args.skip_growth:
        return 0

    with tempfile.TemporaryDirectory() as folder:
        tiny = make_file(os.path.join(bench, "noisy720p_1s.mp4"), 1)
        item = make_file(os.path.join(bench, f"noisy720p_{item_s}s.mp4"), item_s)
        copies = []
        for i in range(8):  # eight files (not one path eight times): nothing can be shared by path
            copy = os.path.join(folder, f"item{i}.mp4")
            shutil.copyfile(item, copy)
            copies.append(copy)
        manifest = os.path.join(folder, "eight.jsonl")
        with open(manifest, "w") as f:
            for i, copy in enumerate(copies):
                f.write(json.dumps({"id": f"item{i}", "video": copy}) + "\n")
        fixed = extract(tiny, args.repeat_long)["cpu"]
        one = extract(item, args.repeat_long)
        eight = extract(manifest, args.repeat_long)["cpu"]
    bound = 1.1 * 8 * (one["cpu"] - fixed) + fixed
    print(
        f"growth    1 s item {fixed:.2f} s CPU (fixed); 1 x {item_s} s {one['cpu']:.2f} s; 8 x {item_s} s in one job {eight:.2f} s"
    )
    print(
        f"  CPU(8) {eight:.2f} <= 1.1 * 8 * (CPU(1) - fixed) + fixed = {bound:.2f}: {'yes' if eight <= bound else 'NO'}"
        f"   (per item beyond the fixed cost: {(eight - fixed) / 8:.2f} vs {one['cpu'] - fixed:.2f} s, "
        f"x{(eight - fixed) / 8 / (one['cpu'] - fixed):.2f})",
        flush=True,
    )
    long = make_looped(item, os.path.join(bench, f"noisy720p_{item_s}s_x10.mp4"), 10)
    big = extract(long, args.repeat_long)
    print(
        f"memory    peak RSS 1 x {item_s} s {one['maxrss_mib']:.1f} MiB; 1 x {10 * item_s} s {big['maxrss_mib']:.1f} MiB "
        f"({big['cpu']:.2f} s CPU)"
    )
    print(f"  ratio {10 * item_s} s / {item_s} s = {big['maxrss_mib'] / one['maxrss_mib']:.2f}   (target <= 1.1)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
