"""Semantic alignment and shot detection on a synthetic set with exact truth.

Every item is a run of hard-cut shots, each showing a concept (a colour) for 1.5–4 s, with a
narration cue per shot naming it. Training items keep their cue times; held-out items have
their cues moved by one to three shots' worth of time (either way), some cues dropped and some
shots left without narration. One `mmfuse.pipelines.extract --semantic_align` job runs over all of it;
the script prints the share of held-out cues assigned to the shot they name (target >= 90%),
the same share for the cues' stated times alone (the baseline: what a time-only alignment
gets), and the shot-boundary error against the true cuts.

    python benchmarks/semantic.py [--items 40] [--held-out 10]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys

import numpy as np
import pyarrow.parquet as pq

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import run_extract  # noqa: E402

from mmfuse.testing import CONCEPTS, make_story, narrate, write_srt  # noqa: E402


def build(folder: str, items: int, held_out: int, seed: int = 0, n_concepts: int = len(CONCEPTS)) -> dict:
    """Make the set; returns per item its true shots, the cues as written, and each cue's shot."""
    rng = np.random.default_rng(seed)
    names = list(CONCEPTS)[:n_concepts]
    truth = {}
    lines = []
    for k in range(items):
        n = int(rng.integers(5, 9))
        concepts = [names[int(rng.integers(len(names)))]]
        while len(concepts) < n:
            c = names[int(rng.integers(len(names)))]
            if c != concepts[-1]:
                concepts.append(c)
        shots = make_story(
            os.path.join(folder, f"item{k:03d}.mp4"), [(c, float(rng.uniform(1.5, 4.0))) for c in concepts], seed=seed * 1000 + k
        )
        cues = narrate(shots, seed=seed * 1000 + k)
        target = list(range(len(cues)))
        test = k >= items - held_out
        if test:
            keep = [i for i in range(len(cues)) if rng.random() > 0.2 or i == 0]  # drop some cues
            cues, target = [cues[i] for i in keep], [target[i] for i in keep]
            # the whole transcript late or early by 1.2-3 average shots: late cues run past the end
            shift = int(rng.choice([-1, 1])) * int(rng.uniform(1.2, 3.0) * 2_750_000)
            cues = [(max(0, s + shift), max(0, e + shift), t) for s, e, t in cues]
        write_srt(os.path.join(folder, f"item{k:03d}.srt"), cues)
        truth[f"item{k:03d}"] = {"shots": shots, "cues": cues, "target": target, "held_out": test}
        lines.append(json.dumps({"id": f"item{k:03d}", "video": f"item{k:03d}.mp4", "transcript": f"item{k:03d}.srt"}))
    with open(os.path.join(folder, "items.jsonl"), "w") as f:
        f.write("\n".join(lines) + "\n")
    return truth


def evaluate(truth: dict, out: str) -> dict:
    alignments = pq.read_table(os.path.join(out, "alignments")).to_pylist()
    shots = pq.read_table(os.path.join(out, "shots")).to_pylist()
    placed = {(a["media_id"], a["cue_index"]): a["shot_index"] for a in alignments}
    spans = {(r["media_id"], r["shot_index"]): (r["start_us"], r["end_us"]) for r in shots}
    right = total = by_time = 0
    for media_id, t in truth.items():
        if not t["held_out"]:
            continue
        for i, (s, e, _) in enumerate(t["cues"]):
            total += 1
            # right when the detected shot it was given holds the middle of the shot it names
            a, b, _ = t["shots"][t["target"][i]]
            got = spans.get((media_id, placed.get((media_id, i))))
            right += got is not None and got[0] <= (a + b) // 2 < got[1]
            middle = (s + e) // 2
            stated = next((j for j, (a, b, _) in enumerate(t["shots"]) if a <= middle < b), None)
            by_time += stated == t["target"][i]
    errors = []
    for media_id, t in truth.items():
        found = sorted(r["start_us"] for r in shots if r["media_id"] == media_id)[1:]
        for a, _, _ in t["shots"][1:]:
            errors.append(min(abs(a - f) for f in found) if found else float("inf"))
    return {"right": right, "total": total, "by_time": by_time, "cut_errors": errors}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=40)
    parser.add_argument("--held-out", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runner", default="FnApiRunner")
    args = parser.parse_args()
    folder = os.path.join(ROOT, "out", "bench", f"semantic_{args.seed}")
    os.makedirs(folder, exist_ok=True)
    truth = build(folder, args.items, args.held_out, args.seed)
    out = os.path.join(folder, "out")
    run_extract(os.path.join(folder, "items.jsonl"), out, "--semantic_align", runner=args.runner)
    r = evaluate(truth, out)
    frame_us = 40_000
    within = sum(e <= frame_us for e in r["cut_errors"])
    print(f"{args.items} items ({args.held_out} held out with shifted and dropped cues), {len(r['cut_errors'])} true cuts")
    print(f"held-out cues on the shot they name: {r['right']}/{r['total']} = {r['right'] / r['total']:.1%}   (target >= 90%)")
    print(f"  baseline, by the cues' stated times:  {r['by_time']}/{r['total']} = {r['by_time'] / r['total']:.1%}")
    print(
        f"shot boundaries: median error {statistics.median(r['cut_errors']) / 1000:.1f} ms, "
        f"{within}/{len(r['cut_errors'])} within one frame (40 ms)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
