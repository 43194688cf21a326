"""The cost of writing wide feature rows: mmfuse's table sink inside Beam against pyarrow's
own write of the same numbers from one numpy array.

Each case runs in its own process (CPU = user + system of that process, peak = its maximum RSS):

- ``pyarrow``:      make the (N, D) float32 array, write it with ``pq.write_table`` with
                    mmfuse's settings (snappy, row groups of 5 000, no dictionary encoding of
                    the feature values), as a user with a numpy array would;
- ``array only``:   make the same array, write nothing (the floor of the case above);
- ``beam count``:   a Beam job (FnApiRunner) whose DoFn makes the same rows (dicts holding
                    float32 arrays, 1 000 rows an element) and only counts them;
- ``beam write``:   the same job writing the rows with mmfuse's ``WriteTables`` (shuffle into
                    shards, sort, stream row groups to Parquet).

The write's own cost is the difference to its floor: ``beam write - beam count`` against
``pyarrow - array only`` in CPU, and whole processes in peak memory (holding the array is
pyarrow's whole peak), target <= 1.5x each.

    python benchmarks/sink.py [--rows 20000] [--dim 2048]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_CASE = r"""
import json, os, resource, sys, time
case, rows, dim, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
import numpy as np

def block(start, n):
    return np.random.default_rng(start).standard_normal((n, dim), dtype=np.float32)

if case in ("pyarrow", "array"):
    import pyarrow as pa, pyarrow.parquet as pq
    x = np.concatenate([block(s, min(1000, rows - s)) for s in range(0, rows, 1000)])
    if case == "pyarrow":
        table = pa.table({
            "media_id": pa.array([f"m{i // 100:05d}" for i in range(rows)]),
            "window_index": pa.array(np.arange(rows) % 100),
            "visual": pa.FixedSizeListArray.from_arrays(pa.array(x.reshape(-1)), dim),
        })
        # mmfuse's own settings: snappy, row groups of 5 000, no dictionary for feature values
        pq.write_table(table, os.path.join(out, "x.parquet"), compression="snappy", row_group_size=5000,
                       use_dictionary=["media_id", "window_index"])
else:
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions
    import pyarrow as pa
    from mmfuse.schemas.tables import FeatureSpec
    from mmfuse.transforms.sinks.beam import WriteTables

    def make(start):
        x = block(start, min(1000, rows - start))
        for k, v in enumerate(x):
            i = start + k
            yield {"media_id": f"m{i // 100:05d}", "window_index": i % 100, "visual": v}

    spec = FeatureSpec("bench", dim, {})
    schema = pa.schema([
        pa.field("media_id", pa.string(), False),
        pa.field("window_index", pa.int64(), False),
        pa.field("visual", pa.list_(pa.float32()), metadata=spec.metadata()),
    ])
    with beam.Pipeline("FnApiRunner", options=PipelineOptions([])) as p:
        made = p | beam.Create(list(range(0, rows, 1000))) | beam.Reshuffle() | beam.FlatMap(make)
        if case == "count":
            _ = made | beam.combiners.Count.Globally()
        else:
            _ = {"windows": made} | WriteTables(out, {"windows": schema})
r = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"cpu_s": r.ru_utime + r.ru_stime, "peak_mib": r.ru_maxrss / 1024}))
"""


def run_case(case: str, rows: int, dim: int) -> dict:
    with tempfile.TemporaryDirectory() as out:
        proc = subprocess.run(
            [sys.executable, "-c", _CASE, case, str(rows), str(dim), out],
            check=True,
            capture_output=True,
            text=True,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": ROOT},
        )
        size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(out) for f in fs)
    doc = json.loads(proc.stdout.strip().splitlines()[-1])
    doc["bytes"] = size
    return doc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=20_000)
    ap.add_argument("--dim", type=int, default=2048)
    args = ap.parse_args()
    results = {c: run_case(c, args.rows, args.dim) for c in ("array", "pyarrow", "count", "write")}
    print(f"{args.rows} rows x {args.dim} float32 ({args.rows * args.dim * 4 / 2**20:.0f} MiB of numbers)")
    print(f"{'case':<12} {'CPU s':>7} {'peak MiB':>9} {'output MiB':>11}")
    names = {"array": "array only", "pyarrow": "pyarrow", "count": "beam count", "write": "beam write"}
    for c, r in results.items():
        print(f"{names[c]:<12} {r['cpu_s']:7.2f} {r['peak_mib']:9.0f} {r['bytes'] / 2**20:11.1f}")
    a, p, n, w = (results[c] for c in ("array", "pyarrow", "count", "write"))
    own, base = w["cpu_s"] - n["cpu_s"], p["cpu_s"] - a["cpu_s"]
    print(
        f"write's own CPU: mmfuse in Beam {own:.2f} s vs pyarrow {base:.2f} s -> {own / base:.2f}x (target <= 1.5x); "
        f"whole processes {w['cpu_s']:.1f} vs {p['cpu_s']:.1f} s -> {w['cpu_s'] / p['cpu_s']:.2f}x"
    )
    # pyarrow's write adds nothing to the peak of holding the array, so memory is compared whole
    print(
        f"peak memory, whole processes: mmfuse in Beam {w['peak_mib']:.0f} vs pyarrow {p['peak_mib']:.0f} MiB -> {w['peak_mib'] / p['peak_mib']:.2f}x (target <= 1.5x)"
    )


if __name__ == "__main__":
    main()
