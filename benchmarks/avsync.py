"""A/V offset (`--av_sync`) on real clips with known shifts.

Two kinds of real clip, each remuxed with its audio moved by every shift in SHIFTS_MS (packets
copied, so the true offset of a copy is known exactly):

  edited     clips cut from the corpus's real videos with their own sound, joined at irregular
             intervals as shots are (mmfuse.testing.avclips): every join is a cut and a change
             of sound at the same instant, so the true offset is the shift
  unedited   the corpus videos with sound as they are (animation with a music score, NASA
             footage with narration, a silent film with music, a test card with beeps): their
             sound does not follow their picture, so there is little for a content estimate to
             go on; their own offset is taken to be 0

All copies go through one `mmfuse.pipelines.extract --av_sync` job and are scored from media/.
The figures: the error of every estimate; how many estimates at or above README's confidence
threshold are more than 40 ms off (should be none), and how many of the edited copies' good
estimates reach it.

    python benchmarks/avsync.py [--corpus ../shared/corpus] [--clips 6]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

import pyarrow.parquet as pq

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from benchmarks.common import run_extract  # noqa: E402
from mmfuse.testing.avclips import AV_SOURCES, edited_clip, plan_segments, shift_audio  # noqa: E402

SHIFTS_MS = (-300, -120, 0, 40, 200, 500)
THRESHOLD = 0.5  # README's recommended av_sync_confidence
GOOD_MS = 40.0  # one frame at 25 fps


def build(corpus: str, folder: str, n_clips: int) -> list[dict]:
    """Every copy as a manifest row with its kind and true offset."""
    bases = []
    for seed in range(n_clips):
        path = os.path.join(folder, f"edited{seed}.mp4")
        edited_clip(corpus, path, plan_segments(seed))
        bases.append(("edited", f"edited{seed}", path))
    for rel, _ in AV_SOURCES:
        name = os.path.splitext(os.path.basename(rel))[0]
        bases.append(("unedited", name, os.path.join(corpus, rel)))
    rows = []
    for kind, name, path in bases:
        ext = os.path.splitext(path)[1]
        for shift in SHIFTS_MS:
            dst = shift_audio(path, os.path.join(folder, f"{name}_{shift:+d}{ext}"), shift)
            rows.append({"id": f"{name}_{shift:+d}", "video": dst, "kind": kind, "truth_ms": shift})
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default=os.environ.get("MMFUSE_CORPUS", os.path.join(ROOT, "..", "shared", "corpus")))
    parser.add_argument("--clips", type=int, default=6, help="edited clips to make (8 joins each)")
    args = parser.parse_args()
    if not os.path.isdir(os.path.join(args.corpus, "video")):
        print(f"no video corpus at {args.corpus}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as folder:
        rows = build(args.corpus, folder, args.clips)
        manifest = os.path.join(folder, "items.jsonl")
        with open(manifest, "w") as f:
            for r in rows:
                f.write(json.dumps({"id": r["id"], "video": r["video"]}) + "\n")
        started = time.process_time()
        run_extract(manifest, os.path.join(folder, "out"), "--av_sync")
        media = {m["media_id"]: m for m in pq.read_table(os.path.join(folder, "out", "media")).to_pylist()}
    print(f"{len(rows)} copies, one job ({time.process_time() - started:.1f} CPU-s in this process)")
    print(f"{'copy':<34} {'kind':<9} {'truth':>6} {'estimate':>9} {'error':>7} {'conf':>6}")
    scored = []
    for r in rows:
        m = media[r["id"]]
        if m["av_offset_us"] is None:
            print(f"{r['id']:<34} {r['kind']:<9} {r['truth_ms']:>6}  no estimate")
            continue
        est = m["av_offset_us"] / 1000
        err = abs(est - r["truth_ms"])
        conf = m["av_sync_confidence"]
        scored.append((r["kind"], err, conf))
        print(f"{r['id']:<34} {r['kind']:<9} {r['truth_ms']:>6} {est:>9.1f} {err:>7.1f} {conf:>6.3f}")
    print()
    for kind in ("edited", "unedited"):
        errs = sorted(e for k, e, _ in scored if k == kind)
        within = sum(e <= GOOD_MS for e in errs)
        if errs:
            print(
                f"{kind:<9} copies {len(errs):>3}  within {GOOD_MS:.0f} ms {within:>3}  median error {errs[len(errs) // 2]:.1f} ms"
            )
    confident = [(k, e) for k, e, c in scored if c >= THRESHOLD]
    wrong = [e for _, e in confident if e > GOOD_MS]
    bad = [c for _, e, c in scored if e > GOOD_MS]
    edited_good = [c for k, e, c in scored if k == "edited" and e <= GOOD_MS]
    print(
        f"confidence >= {THRESHOLD}: {len(confident)} estimates, {len(wrong)} of them more than {GOOD_MS:.0f} ms off "
        f"(max error {max((e for _, e in confident), default=0):.1f} ms); estimates more than {GOOD_MS:.0f} ms off: "
        f"{len(bad)}, max confidence {max(bad, default=0):.3f}"
    )
    print(
        f"edited copies within {GOOD_MS:.0f} ms: {len(edited_good)}, confident {sum(c >= THRESHOLD for c in edited_good)}, "
        f"min confidence {min(edited_good, default=0):.3f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
