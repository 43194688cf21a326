"""Cross-modal retrieval, text → window, on the real-picture set of ``semantic_real.py``.

Each cue of the 24 evaluated items is a query ("A cup of espresso on a red saucer."); a window
is relevant when the picture it shows (by the items' true shot times) is the subject the cue
names, in any item. Recall@k: the share of queries with a relevant window among the top k of
all windows, through ``mmfuse.search`` in the zero-shot space and in the semantic CCA fitted on
the 60 training items; chance is the share of relevant windows.

    python benchmarks/semantic_real.py --corpus ../shared/corpus   # makes the runs, once
    python benchmarks/retrieval.py
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def _subjects(windows, truth: dict) -> np.ndarray:
    """The subject each window shows (by its middle), '' where no true shot holds it."""
    out = []
    for m, s, e in zip(windows.media_id, windows.start_us, windows.end_us):
        mid = (int(s) + int(e)) // 2
        out.append(next((name for a, b, name in truth[m]["shots"] if a <= mid < b), "") if m in truth else "")
    return np.array(out, dtype=object)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base", default=os.path.join(ROOT, "out", "bench", "semantic_real"))
    args = ap.parse_args()
    from mmfuse.search import load_for_search, load_space

    truth = json.load(open(os.path.join(args.base, "test", "truth.json")))
    queries = [(c[2], t["shots"][k][2]) for t in truth.values() for k, c in enumerate(t["cues"])]
    spaces = (
        ("zero_shot", "zero_shot", args.base + "/zero_shot"),
        ("semantic CCA, 360 pairs", "semantic_cca", args.base + "/fitted"),
    )
    print(f"{len(queries)} text queries over the windows of {len(truth)} items of real pictures")
    for label, space_name, run in spaces:
        windows = load_for_search(run)
        space = load_space(run if space_name == "zero_shot" else args.base + "/fit", windows, space=space_name)
        subjects = _subjects(windows, truth)
        pictures = space.pictures(windows.features["visual"])
        hits = {1: 0, 5: 0, 10: 0}
        chance = []
        for text, subject in queries:
            order = np.argsort(-(pictures @ space.text(text)))
            for k in hits:
                hits[k] += bool((subjects[order[:k]] == subject).any())
            chance.append(float((subjects == subject).mean()))
        recalls = ", ".join(f"R@{k} {v / len(queries):.1%}" for k, v in hits.items())
        print(f"{label:<26} {recalls}  (a random window is relevant {np.mean(chance):.1%} of the time)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
