"""Reading a large windows/ table into training arrays with mmfuse.data.load_windows.

Writes a synthetic run the way the sink does (files of 20 000 rows, row groups of 5 000,
snappy, feature columns list<float32> with their width in the metadata; 10% of the rows
without audio, 30% without text) and reads it back in a fresh process: throughput in GB of
float32 features per second, and peak memory against the size of the arrays themselves. The
first read after writing finds the files in the page cache; with ``--cold`` (root on Linux)
the cache is dropped before reading.

    python benchmarks/readers.py [--rows 1000000 --dims 512,128,64] [--cold]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

PYARROW = """
import json, resource, sys, time
import pyarrow.dataset as ds
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.perf_counter(); c = time.process_time()
table = ds.dataset(sys.argv[1] + "/windows", format="parquet").to_table(columns=["visual", "audio", "text"])
wall, cpu = time.perf_counter() - t, time.process_time() - c
print(json.dumps({"wall_s": wall, "cpu_s": cpu, "bytes": table.nbytes,
                  "peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "import_kib": base}))
"""

READ = """
import json, resource, sys, time
import numpy as np
from mmfuse.data import load_windows
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.perf_counter(); c = time.process_time()
w = load_windows(sys.argv[1])
wall, cpu = time.perf_counter() - t, time.process_time() - c
size = sum(x.nbytes for x in w.features.values()) + sum(m.nbytes for m in w.masks.values())
size += w.window_index.nbytes + w.start_us.nbytes + w.end_us.nbytes + w.labels.nbytes + w.media_id.nbytes
feature_bytes = sum(x.nbytes for x in w.features.values())
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"rows": len(w), "wall_s": wall, "cpu_s": cpu, "feature_bytes": feature_bytes, "array_bytes": size,
                  "peak_kib": peak, "import_kib": base, "checksum": float(w.features["audio"][::9973].sum())}))
"""


def write_run(folder: str, rows: int, dims: tuple, seed: int = 0) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from mmfuse.schemas.tables import FeatureSpec, media_schema, windows_schema

    specs = {c: FeatureSpec("synthetic", d) for c, d in zip(("visual", "audio", "text"), dims)}
    schema = windows_schema(specs)
    rng = np.random.default_rng(seed)
    per_item, shard, group = 100, 20_000, 5_000
    os.makedirs(os.path.join(folder, "windows"), exist_ok=True)
    os.makedirs(os.path.join(folder, "media"), exist_ok=True)
    vectors = {"visual", "audio", "text"}
    n_files = -(-rows // shard)
    for f in range(n_files):
        start, stop = f * shard, min(rows, (f + 1) * shard)
        path = os.path.join(folder, "windows", f"part-{f:05d}-of-{n_files:05d}.parquet")
        use_dictionary = [n for n in schema.names if n not in vectors]
        with pq.ParquetWriter(path, schema, compression="snappy", use_dictionary=use_dictionary) as writer:
            for g in range(start, stop, group):
                n = min(group, stop - g)
                idx = np.arange(g, g + n)
                present = {"visual": np.ones(n, bool), "audio": rng.random(n) > 0.1, "text": rng.random(n) > 0.3}
                columns = {
                    "media_id": pa.array([f"item{i // per_item:06d}" for i in idx]),
                    "window_index": pa.array(idx % per_item, pa.int64()),
                    "start_us": pa.array((idx % per_item) * 1_000_000, pa.int64()),
                    "end_us": pa.array((idx % per_item + 1) * 1_000_000, pa.int64()),
                    "has_video": pa.array(present["visual"]),
                    "has_audio": pa.array(present["audio"]),
                    "has_text": pa.array(present["text"]),
                    "n_frames": pa.array(np.full(n, 2, np.int32)),
                    "label": pa.array([str(i // per_item % 10) for i in idx]),
                }
                for c, d in zip(("visual", "audio", "text"), dims):
                    ok = present[c]
                    offsets = np.zeros(n + 1, np.int32)
                    np.cumsum(ok * d, out=offsets[1:])
                    values = rng.standard_normal(int(ok.sum()) * d, dtype=np.float32)
                    columns[c] = pa.ListArray.from_arrays(
                        pa.array(offsets), pa.array(values), type=schema.field(c).type, mask=pa.array(~ok)
                    )
                arrays = [columns.get(name, pa.nulls(n, schema.field(name).type)) for name in schema.names]
                writer.write_batch(pa.RecordBatch.from_arrays(arrays, schema=schema), row_group_size=group)
    items = -(-rows // per_item)
    mschema = media_schema()
    media = {"media_id": [f"item{i:06d}" for i in range(items)], "status": ["ok"] * items}
    table = pa.table({n: media.get(n, [None] * items) for n in mschema.names}).cast(mschema)
    pq.write_table(table, os.path.join(folder, "media", "part-00000-of-00001.parquet"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--dims", default="512,128,64")
    ap.add_argument("--cold", action="store_true", help="drop the page cache before reading (needs root)")
    ap.add_argument("--out", default=os.path.join(ROOT, "out", "bench", "readers"))
    args = ap.parse_args()
    dims = tuple(int(d) for d in args.dims.split(","))
    marker = os.path.join(args.out, "made.json")
    made = {"rows": args.rows, "dims": list(dims)}
    if not os.path.exists(marker) or json.load(open(marker)) != made:
        t = time.perf_counter()
        write_run(args.out, args.rows, dims)
        json.dump(made, open(marker, "w"))
        print(f"wrote {args.rows} rows in {time.perf_counter() - t:.0f} s")
    disk = sum(os.path.getsize(os.path.join(args.out, "windows", f)) for f in os.listdir(os.path.join(args.out, "windows")))
    if args.cold:
        subprocess.run(["sync"], check=True)
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
    env = {**os.environ, "PYTHONPATH": ROOT}
    results = []
    for code in (READ, PYARROW):  # each in a fresh process, the page cache as the first left it
        out = subprocess.run(
            [sys.executable, "-c", code, args.out], check=True, capture_output=True, text=True, cwd=ROOT, env=env
        )
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    r, peer = results
    peer_peak = (peer["peak_kib"] - peer["import_kib"]) * 1024
    peak = (r["peak_kib"] - r["import_kib"]) * 1024
    print(
        f"{r['rows']} windows of {sum(dims)} floats ({'x'.join(map(str, dims))}; {disk / 1e9:.2f} GB of Parquet, "
        f"{'cold' if args.cold else 'page cache'}): load_windows {r['wall_s']:.2f} s, "
        f"{r['feature_bytes'] / 1e9 / r['wall_s']:.2f} GB/s of float32 features (target >= 1), CPU {r['cpu_s']:.1f} s"
    )
    print(
        f"peak memory above the imports {peak / 2**20:.0f} MiB for {r['array_bytes'] / 2**20:.0f} MiB of arrays: "
        f"{peak / r['array_bytes']:.2f}x (target <= 1.3)"
    )
    print(
        f"pyarrow reading the same three columns into an Arrow table (no matrices, no masks): {peer['wall_s']:.2f} s "
        f"({peer['bytes'] / 1e9 / peer['wall_s']:.2f} GB/s), peak {peer_peak / 2**20:.0f} MiB for its "
        f"{peer['bytes'] / 2**20:.0f} MiB ({peer_peak / peer['bytes']:.2f}x); load_windows / pyarrow wall "
        f"{r['wall_s'] / peer['wall_s']:.2f}x, CPU {r['cpu_s'] / peer['cpu_s']:.2f}x"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
