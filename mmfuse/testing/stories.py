"""Stories of hard-cut shots whose narration names what each shows, for alignment by content."""

from __future__ import annotations

import json
import os
from typing import Sequence

import numpy as np
import pyarrow.parquet as pq

from mmfuse.testing.media import SyntheticSpec, make_media
from mmfuse.testing.subtitles import write_srt

__all__ = ["CONCEPTS", "make_story", "make_story_set", "narrate", "score_story_set"]


CONCEPTS = {
    "red": (200, 30, 30),
    "green": (30, 170, 40),
    "blue": (30, 60, 200),
    "yellow": (230, 210, 40),
    "purple": (130, 40, 160),
    "orange": (240, 130, 20),
    "cyan": (40, 200, 210),
    "pink": (240, 130, 180),
    "brown": (110, 65, 25),
    "gray": (128, 128, 128),
    "olive": (120, 130, 30),
    "navy": (20, 30, 90),
}
_TEMPLATES = (
    "now we look at the {} room",
    "this part shows a {} wall",
    "here everything is {}",
    "the camera moves to the {} door",
    "we stay a while in the {} hall",
    "a {} light fills the screen",
)


def make_story(
    path: str, shots: Sequence[tuple[str, float]], seed: int = 0, width: int = 96, height: int = 64, fps: int = 25
) -> list[tuple[int, int, str]]:
    """A video of hard-cut shots, each a concept's colour for its duration; returns the shots as
    exact ``(start_us, end_us, concept)``. Cuts fall on frame boundaries."""
    frame_us = 1_000_000 // fps
    scenes, truth, t = [], [], 0
    for concept, seconds in shots:
        length = max(frame_us, round(seconds * 1_000_000 / frame_us) * frame_us)
        scenes.append((t / 1_000_000, CONCEPTS[concept]))
        truth.append((t, t + length, concept))
        t += length
    make_media(
        path,
        SyntheticSpec(
            duration_s=t / 1_000_000, fps=fps, width=width, height=height, noise=4, scenes=tuple(scenes), audio=False, seed=seed
        ),
    )
    return truth


def narrate(shots: Sequence[tuple[int, int, str]], seed: int = 0) -> list[tuple[int, int, str]]:
    """One cue per shot, inside it, naming its concept in a varied sentence."""
    rng = np.random.default_rng(seed)
    cues = []
    for start, end, concept in shots:
        margin = (end - start) // 6
        cues.append((start + margin, end - margin, _TEMPLATES[rng.integers(len(_TEMPLATES))].format(concept)))
    return cues


def make_story_set(folder: str, items: int, held_out: int, seed: int = 0, n_concepts: int = len(CONCEPTS)) -> dict:
    """``items`` stories of 5-8 shots in ``folder`` with an SRT each and ``items.jsonl``; the last
    ``held_out`` have cues dropped and the whole transcript shifted by 1.2-3 shots. Returns per
    item its true shots, the cues as written, and each cue's shot."""
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


def score_story_set(truth: dict, out: str) -> dict:
    """Held-out cues on the right shot (``right`` of ``total``; ``by_time``: by stated times), and
    each true cut's distance to the nearest detected one, from a run's tables in ``out``."""
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
