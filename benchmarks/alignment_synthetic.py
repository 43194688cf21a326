"""Alignment on speech that espeak-ng made, with exact ground truth: a secondary check (the
non-English aligner speaks with espeak-ng too). The headline figures on real speech come from
``benchmarks/alignment.py``.

Makes speech with ../shared/tools/make_speech_truth.py (espeak-ng; several voices, speaking
rates, subtitle shifts and A/V offsets), runs one `mmfuse.pipelines.extract` job over all of it with
`--apply_transcript_offset --av_sync --align_words`, and compares the tables with the truth:

  sentence boundaries   first/last aligned word of each sentence vs the sample-exact bounds
                        (median target <= 40 ms)
  subtitle offset       transcript_offset_us vs the shift written into the SRT (target <= 50 ms)
  A/V offset            av_offset_us vs the audio delay of the video (target <= 40 ms)

    python benchmarks/alignment_synthetic.py [--tool ../shared/tools/make_speech_truth.py]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

import pyarrow.parquet as pq
from common import ROOT, run_extract

DEFAULT_TOOL = os.path.join(ROOT, "..", "shared", "tools", "make_speech_truth.py")

# voice, words per minute, SRT shift (ms), A/V offset (ms), seed
CASES = [
    ("en-us", 160, 1250, 200, 1234),
    ("en-us", 210, -700, -120, 7),
    ("en-gb-x-rp", 140, 2500, 80, 11),
    ("en-us+f3", 180, 400, -40, 23),
    ("en-gb-x-rp", 190, -1800, 320, 42),
]


def make_cases(tool: str, folder: str) -> list[dict]:
    made = []
    for voice, rate, shift, av, seed in CASES:
        name = f"{voice}_{rate}wpm_{shift:+d}ms_av{av:+d}ms".replace("+f", "_f")
        out = os.path.join(folder, name)
        if not os.path.exists(os.path.join(out, "truth.json")):
            subprocess.run(
                [
                    sys.executable,
                    tool,
                    "--out-dir",
                    out,
                    "--voice",
                    voice,
                    "--rate",
                    str(rate),
                    "--shift-ms",
                    str(shift),
                    "--lead-in",
                    "2.5",
                    "--seed",
                    str(seed),
                    "--video",
                    "--av-offset-ms",
                    str(av),
                ],
                check=True,
                capture_output=True,
            )
        truth = json.load(open(os.path.join(out, "truth.json")))
        made.append({"name": name, "dir": out, "truth": truth, "shift_us": shift * 1000, "av_us": av * 1000})
    return made


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tool", default=DEFAULT_TOOL)
    parser.add_argument("--runner", default="FnApiRunner")
    args = parser.parse_args()
    if not os.path.exists(args.tool):
        print(f"speech generator not found: {args.tool}", file=sys.stderr)
        return 2
    folder = os.path.join(ROOT, "out", "bench", "speech")
    cases = make_cases(args.tool, folder)
    manifest = os.path.join(folder, "manifest.jsonl")
    with open(manifest, "w") as f:
        for c in cases:
            files = c["truth"]["files"]
            f.write(
                json.dumps(
                    {
                        "id": f"{c['name']}/audio",
                        "audio": os.path.join(c["dir"], files["wav"]),
                        "transcript": os.path.join(c["dir"], files["shifted_srt"]["path"]),
                    }
                )
                + "\n"
            )
            f.write(json.dumps({"id": f"{c['name']}/video", "video": os.path.join(c["dir"], files["av_mp4"]["path"])}) + "\n")
    out = os.path.join(folder, "out")
    run_extract(manifest, out, "--apply_transcript_offset", "--av_sync", "--align_words", runner=args.runner)
    media = {r["media_id"]: r for r in pq.read_table(os.path.join(out, "media")).to_pylist()}
    words = pq.read_table(os.path.join(out, "words")).to_pylist()

    boundary_errors, offset_errors, av_errors = [], [], []
    print(f"{'case':<38} {'sentence bound err (ms) median/max':>36} {'sub offset err':>15} {'A/V err':>9}  methods")
    for c in cases:
        audio = media[f"{c['name']}/audio"]
        video = media[f"{c['name']}/video"]
        errs = []
        methods = set()
        for k, s in enumerate(c["truth"]["sentences"]):
            mine = [
                w for w in words if w["media_id"] == f"{c['name']}/audio" and w["cue_index"] == k and w["start_us"] is not None
            ]
            methods |= {w["method"] for w in mine}
            if not mine:
                continue
            errs += [abs(mine[0]["start_us"] - s["start"] * 1e6), abs(max(w["end_us"] for w in mine) - s["end"] * 1e6)]
        boundary_errors += errs
        off = abs(audio["transcript_offset_us"] - c["shift_us"]) if audio["transcript_offset_us"] is not None else float("inf")
        av = abs(video["av_offset_us"] - c["av_us"]) if video["av_offset_us"] is not None else float("inf")
        offset_errors.append(off)
        av_errors.append(av)
        print(
            f"{c['name']:<38} {statistics.median(errs) / 1000:>20.1f} / {max(errs) / 1000:>6.1f}"
            f" {off / 1000:>14.1f}ms {av / 1000:>7.1f}ms  {','.join(sorted(methods))}"
            f"  (aligned {audio['aligned_word_ratio']:.2f})"
        )
    print()
    print(
        f"sentence boundaries: median error {statistics.median(boundary_errors) / 1000:.1f} ms over "
        f"{len(boundary_errors)} boundaries (target <= 40 ms)"
    )
    print(
        f"subtitle offset:     median error {statistics.median(offset_errors) / 1000:.1f} ms, "
        f"max {max(offset_errors) / 1000:.1f} ms (target <= 50 ms)"
    )
    print(
        f"A/V offset:          median error {statistics.median(av_errors) / 1000:.1f} ms, "
        f"max {max(av_errors) / 1000:.1f} ms (target <= 40 ms)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
