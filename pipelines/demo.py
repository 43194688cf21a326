"""``make demo``: make a small sample set, run the extraction on it, show what came out.

python -m mmfuse.pipelines.demo [--output out/demo] [extra mmfuse flags…]
"""

from __future__ import annotations

import argparse
import os
import sys

from mmfuse.pipelines import extract
from mmfuse.testing import make_sample_set

__all__ = ["main"]


def _preview(output: str) -> str:
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    windows = pq.read_table(os.path.join(output, "windows"))
    media = pq.read_table(os.path.join(output, "media"))
    lines = ["", "media/:"]
    for row in media.select(["media_id", "status", "duration_us", "n_windows", "n_frames", "transcript_format"]).to_pylist():
        lines.append("  " + ", ".join(f"{k}={v}" for k, v in row.items()))
    lines.append("")
    lines.append("windows/ of 'lecture' (flashes at 2.0 s and 5.0 s, tones at 3.5 s and 6.5 s):")
    rows = windows.filter(pc.equal(windows["media_id"], "lecture")).sort_by("window_index").to_pylist()
    extractor = (windows.schema.field("visual").metadata or {}).get(b"mmfuse.extractor", b"").decode()
    if extractor != "basic":
        lines.append(f"  (visual = {extractor} features; luma shows their L2 norm)")
    for r in rows:
        if r["visual"] is None:
            bright = "-"
        elif extractor == "basic":
            bright = f"{r['visual'][-2]:.2f}"
        else:
            bright = f"{sum(v * v for v in r['visual']) ** 0.5:.2f}"
        loud = "-" if r["audio"] is None else f"{max(r['audio'][:64]):6.1f}"
        lines.append(
            f"  [{r['start_us'] / 1e6:4.1f}, {r['end_us'] / 1e6:4.1f}) frames={r['n_frames']} "
            f"luma={bright} max_logmel_dB={loud} text={r['transcript']!r}"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", default="out/demo")
    args, rest = parser.parse_known_args(argv)
    inputs = os.path.join(args.output, "inputs")
    manifest = make_sample_set(inputs)
    print(f"sample set: {inputs}/ ({manifest})")
    code = extract.main(["--manifest", manifest, "--output", args.output, "--overwrite", *rest])
    if code == 0:
        print(_preview(args.output))
    return code


if __name__ == "__main__":  # `python -m pipelines.X` from a checkout runs the installed module
    from mmfuse.pipelines.demo import main as _main

    sys.exit(_main())
