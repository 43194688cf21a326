"""Shot cuts (`--shots`) on real footage edited at known frames, against PySceneDetect.

Clips are made from pieces of the corpus's real videos, each from inside one shot of its source
(mmfuse.testing.shotclips), joined by hard cuts, fades through black and dissolves, with white
flashes (1-3 frames, full or 80 % white) laid over some pieces. Every frame is written with its
number as PTS, so the truth is exact to the frame. Scored at ±1 frame:

  hard cuts     precision / recall / F1; a found cut that is no cut (a flash, inside a piece) is
                a false positive; one inside a fade or dissolve is that transition's, not a cut's
  flashes       found cuts on a flash (from a frame before it to two after): should be none
  transitions   fades and dissolves with a found cut in their span (a frame either side)

mmfuse is what `mmfuse.pipelines.extract --shots` writes to shots/ (the clips in one job); its
extra CPU is that job's CPU less the same job's without --shots (best of --repeat runs each,
children's CPU from getrusage). The decode path alone is measured too, in this process: every
frame decoded and fed to the detector, less the frames the job decodes anyway at --fps 2.
PySceneDetect runs in its own process with its OpenCV backend (its own decoding) and the
configurations a user would pick: ContentDetector and AdaptiveDetector, defaults.

    python benchmarks/shots.py [--corpus ../shared/corpus] [--repeat 2]
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import pyarrow.parquet as pq

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from benchmarks.common import run_extract  # noqa: E402
from mmfuse.schemas.records import Chunk  # noqa: E402
from mmfuse.testing.shotclips import build_clip, plan_clip  # noqa: E402
from mmfuse.transforms.align.shots import CutDetector  # noqa: E402
from mmfuse.transforms.media.video import iter_sampled_frames  # noqa: E402

C, F, D = "cut", "fade", "dissolve"
# joins of each clip: 30 hard cuts, 3 fades through black, 3 dissolves; 3 flashes a clip
CLIPS = (
    (C, C, F, C, C, D, C, C, C),
    (C, D, C, C, C, F, C, C, C),
    (C, C, C, F, C, C, D, C, C),
    (C, C, C, C, C, C, C, C, C),
)

SCENEDETECT = """
import json, sys
from scenedetect import AdaptiveDetector, ContentDetector, detect
make = {"content": ContentDetector, "adaptive": AdaptiveDetector}[sys.argv[1]]
print(json.dumps({p: [s.frame_num for s, _ in detect(p, make())[1:]] for p in sys.argv[2:]}))
"""


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def score(found: list[int], truth) -> dict:
    """Counts at ±1 frame for found cuts (frame numbers) against a clip's truth."""
    found = sorted(set(found))
    spans = [(a - 1, b + 1) for _, a, b in truth.transitions]
    in_span = [f for f in found if any(a <= f <= b for a, b in spans)]
    rest = [f for f in found if f not in in_span]
    matched, tp = set(), 0
    for c in truth.cuts:
        hit = next((f for f in rest if abs(f - c) <= 1 and f not in matched), None)
        if hit is not None:
            matched.add(hit)
            tp += 1
    fp = [f for f in rest if f not in matched]
    flash_fp = sum(any(a - 1 <= f <= b + 2 for a, b in truth.flashes) for f in fp)
    hits = {k: 0 for k in (F, D)}
    for kind, a, b in truth.transitions:
        hits[kind] += any(a - 1 <= f <= b + 1 for f in found)
    return {"tp": tp, "fp": len(fp), "cuts": len(truth.cuts), "flash_fp": flash_fp, "flashes": len(truth.flashes), **hits}


def total(scores: list[dict]) -> dict:
    out = {k: sum(s[k] for s in scores) for k in scores[0]}
    p = out["tp"] / max(1, out["tp"] + out["fp"])
    r = out["tp"] / max(1, out["cuts"])
    out.update(precision=p, recall=r, f1=2 * p * r / max(1e-9, p + r))
    return out


def frame_of(t_us: int, pts: list[int]) -> int:
    """The frame number of a time: the frame with that PTS, else the last frame before it."""
    return max(0, bisect.bisect_right(pts, t_us) - 1)


def mmfuse_job(manifest: str, out: str, repeat: int, *flags: str) -> float:
    best = float("inf")
    for _ in range(repeat):
        before = children_cpu()
        run_extract(manifest, out, *flags)
        best = min(best, children_cpu() - before)
    return best


def decode_path(path: str) -> tuple[float, float]:
    """CPU of the job's decode of one clip at 2 fps, and of the same with every frame fed to
    the detector (as --shots decodes)."""
    whole = Chunk("c", 0, 0, None)
    started = time.process_time()
    list(iter_sampled_frames(path, 0, 0, whole, 2, lambda f: None))
    plain = time.process_time() - started
    started = time.process_time()
    detector = CutDetector()
    list(iter_sampled_frames(path, 0, 0, whole, 2, lambda f: None, watch=detector.feed))
    detector.finish()
    return plain, time.process_time() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default=os.environ.get("MMFUSE_CORPUS", os.path.join(ROOT, "..", "shared", "corpus")))
    parser.add_argument("--repeat", type=int, default=2, help="runs of each job; the least CPU counts")
    args = parser.parse_args()
    if not os.path.isdir(os.path.join(args.corpus, "video")):
        print(f"no video corpus at {args.corpus}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as folder:
        clips = {}
        for seed, joins in enumerate(CLIPS):
            path = os.path.join(folder, f"clip{seed}.mp4")
            pieces, joins = plan_clip(seed, list(joins), flashes=3)
            clips[f"clip{seed}"] = (path, build_clip(args.corpus, path, pieces, joins))
        frames = sum(len(t.pts_us) for _, t in clips.values())
        manifest = os.path.join(folder, "items.jsonl")
        with open(manifest, "w") as f:
            for name, (path, _) in clips.items():
                f.write(json.dumps({"id": name, "video": path}) + "\n")

        out = os.path.join(folder, "out")
        cpu_plain = mmfuse_job(manifest, out, args.repeat)
        cpu_shots = mmfuse_job(manifest, out, args.repeat, "--shots")
        found = {name: [] for name in clips}
        for row in pq.read_table(os.path.join(out, "shots")).to_pylist():
            if row["shot_index"] > 0:
                found[row["media_id"]].append(frame_of(row["start_us"], clips[row["media_id"]][1].pts_us))
        results = {"mmfuse --shots": (total([score(found[n], t) for n, (_, t) in clips.items()]), cpu_shots - cpu_plain)}
        paths = [p for p, _ in clips.values()]
        plain = shots = 0.0
        for p in paths:
            a, b = decode_path(p)
            plain, shots = plain + a, shots + b

        for config in ("content", "adaptive"):
            best, cuts = float("inf"), None
            for _ in range(args.repeat):
                before = children_cpu()
                done = subprocess.run(
                    [sys.executable, "-c", SCENEDETECT, config, *paths], check=True, capture_output=True, text=True
                )
                best = min(best, children_cpu() - before)
                cuts = json.loads(done.stdout)
            scores = [score(cuts[p], t) for p, t in clips.values()]
            results[f"PySceneDetect {config.capitalize()}Detector"] = (total(scores), best)

    some = next(iter(results.values()))[0]
    kinds = [k for _, t in clips.values() for k, _, _ in t.transitions]
    print(
        f"{len(clips)} clips, {frames} frames at 25 fps, 640x360: {some['cuts']} hard cuts, {some['flashes']} flashes, "
        f"{kinds.count(F)} fades, {kinds.count(D)} dissolves"
    )
    print(
        f"{'detector':<32} {'P':>5} {'R':>5} {'F1':>5} {'TP':>3} {'FP':>3} {'flashFP':>7} {'fades':>5} {'diss':>4} {'CPU-s':>6}"
    )
    for name, (s, cpu) in results.items():
        print(
            f"{name:<32} {s['precision']:>5.3f} {s['recall']:>5.3f} {s['f1']:>5.3f} {s['tp']:>3} {s['fp']:>3} "
            f"{s['flash_fp']:>7} {s[F]:>5} {s[D]:>4} {cpu:>6.2f}"
        )
    extra = results["mmfuse --shots"][1]
    print(f"mmfuse job CPU: {cpu_plain:.2f} s without --shots, {cpu_shots:.2f} s with (extra {extra:.2f} s)")
    print(
        f"mmfuse decode path alone: {plain:.2f} CPU-s at 2 fps, {shots:.2f} with every frame to the detector (extra {shots - plain:.2f})"
    )
    for name, (_, cpu) in results.items():
        if name.startswith("PySceneDetect"):
            print(f"mmfuse extra / {name}: {extra / cpu:.2f} (job), {(shots - plain) / cpu:.2f} (decode path)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
