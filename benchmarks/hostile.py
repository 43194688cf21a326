"""Hostile inputs: what a job makes of damaged media, special files and bombs.

Makes the full hostile set of mmfuse.testing.hostile (every container cut at 10, 50 and 90% of
its bytes, bit-flipped and header-fuzzed; wrapped FLV timestamps; FIFO, directory, /dev/zero;
a 50 MB WebVTT cue; two good items) plus a 16000x16000 RGB PNG posing as video, and prints:

  batch        all cases in one `mmfuse.pipelines.extract` job: exit code, wall time, peak RSS,
               inputs accounted for (inputs = ok + failed = cases), internal_error count, damaged
               cases that came out `ok`, good items' rows against a clean run
  alone        each heavy case in a job of its own: peak RSS (target <= 1 GiB per item)
  isolate      CPU of a whole job on the 180 s 720p benchmark file with and without
               --isolate_decode (target: <= 10% more), one after the other in this command

    python benchmarks/hostile.py [--seconds 180] [--no-isolate]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import zlib

import pyarrow.parquet as pq

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

from mmfuse.testing.hostile import make_hostile_set  # noqa: E402

_JOB = (
    "import resource, sys; from mmfuse.pipelines.extract import main; rc = main(sys.argv[1:]); "
    "print('PEAK', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr); sys.exit(rc)"
)


def job(args: list[str], timeout: float = 900) -> dict:
    """One job in a process of its own: exit code (None when it hung), wall and CPU seconds,
    peak RSS in MiB."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    try:
        done = subprocess.run([sys.executable, "-c", _JOB, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"rc": None, "wall": timeout, "cpu": None, "peak_mib": None, "stderr": "hung"}
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    peaks = [int(line.split()[1]) for line in done.stderr.splitlines() if line.startswith("PEAK")]
    return {
        "rc": done.returncode,
        "wall": time.monotonic() - started,
        "cpu": after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime,
        "peak_mib": peaks[0] / 1024 if peaks else None,
        "stderr": done.stderr[-1500:],
    }


def huge_png(path: str, side: int = 16000) -> str:
    """An RGB ``side``×``side`` PNG (768 MB of pixels), written row by row (a few MB compressed)."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + tag + data + zlib.crc32(tag + data).to_bytes(4, "big")

    packer = zlib.compressobj(9)
    row = b"\x00" + b"\x80\x40\x20" * side
    body = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()
    header = side.to_bytes(4, "big") * 2 + bytes([8, 2, 0, 0, 0])  # 8-bit RGB
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b""))
    return path


def batch(folder: str) -> None:
    manifest, cases = make_hostile_set(os.path.join(folder, "in"), full=True, cue_mb=50)
    png = huge_png(os.path.join(folder, "in", "huge.png"))
    with open(manifest, "a") as f:
        f.write(json.dumps({"id": "png_16k", "video": png}) + "\n")
    expect = {c.id: c.expect for c in cases} | {"png_16k": "failed"}
    out = os.path.join(folder, "out")
    r = job(["--manifest", manifest, "--output", out, "--runner", "FnApiRunner"])
    print(f"batch: {len(expect)} cases in one job: exit {r['rc']}, {r['wall']:.1f} s wall, peak RSS {r['peak_mib'] or 0:.0f} MiB")
    if r["rc"] != 0:
        print("  hangs 1" if r["rc"] is None else f"  job crashed:\n{r['stderr']}")
        return
    media = {m["media_id"]: m for m in pq.read_table(os.path.join(out, "media")).to_pylist()}
    errors = pq.read_table(os.path.join(out, "errors")).to_pylist()
    counts = json.load(open(os.path.join(out, "run.json")))["counts"]
    lost = sorted(set(expect) - set(media))
    internal = [e for e in errors if e["error_type"] == "internal_error"]
    missed = sorted(c for c, e in expect.items() if e == "damaged" and media.get(c, {}).get("status") == "ok")
    wrong_failed = sorted(c for c, e in expect.items() if e == "failed" and media.get(c, {}).get("status") != "failed")
    print(f"  hangs 0, job crashes 0, inputs unaccounted {len(lost)} {lost or ''}")
    print(f"  inputs {counts['inputs']} = ok {counts['ok']} + failed {counts['failed']}; internal_error {len(internal)}")
    print(
        f"  damaged cases reported ok: {len(missed)} {missed or ''}; bad cases not failed: {len(wrong_failed)} {wrong_failed or ''}"
    )
    types: dict[str, int] = {}
    for e in errors:
        types[e["error_type"]] = types.get(e["error_type"], 0) + 1
    print(f"  error types: {json.dumps(types, sort_keys=True)}")
    statuses = {}
    for m in media.values():
        statuses[m["status"]] = statuses.get(m["status"], 0) + 1
    print(f"  statuses: {json.dumps(statuses, sort_keys=True)}")
    heavy = ["png_16k", "long_cue", "zero_transcript", "wrapped_flv", "bitflip_ts", "good_mkv"]
    peaks = []
    for case in heavy:
        row = {"id": case, **next(c.row for c in cases if c.id == case)} if case != "png_16k" else {"id": case, "video": png}
        one = os.path.join(folder, f"{case}.jsonl")
        with open(one, "w") as f:
            f.write(json.dumps(row) + "\n")
        r = job(["--manifest", one, "--output", os.path.join(folder, f"alone_{case}"), "--runner", "FnApiRunner"])
        peaks.append((r["peak_mib"] or 0, case))
        print(f"  alone {case:<16} exit {r['rc']}  {r['wall']:5.1f} s  peak RSS {r['peak_mib'] or 0:6.0f} MiB")
    print(f"  largest peak RSS of one item: {max(peaks)[0]:.0f} MiB ({max(peaks)[1]}; target <= 1024)")


def isolate(folder: str, seconds: int) -> None:
    from decode import make_file

    path = os.path.join(ROOT, "out", "bench", f"noisy720p_{seconds}s.mp4")
    make_file(path, seconds)
    runs = {}
    for name, extra in (("in process", []), ("--isolate_decode", ["--isolate_decode"])):
        r = job(["--videos", path, "--output", os.path.join(folder, name.strip("-")), "--runner", "FnApiRunner", *extra])
        if r["rc"] != 0:
            print(f"isolate: {name} failed:\n{r['stderr']}")
            return
        runs[name] = r
        print(f"isolate: {name:<17} {r['cpu']:6.1f} CPU-s  {r['wall']:6.1f} s wall  peak RSS {r['peak_mib']:.0f} MiB")
    ratio = runs["--isolate_decode"]["cpu"] / runs["in process"]["cpu"]
    print(f"  --isolate_decode / in process CPU = {ratio:.3f} (target <= 1.10) on {seconds} s of 720p")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=180, help="length of the --isolate_decode benchmark file")
    parser.add_argument("--no-isolate", action="store_true", help="skip the --isolate_decode cost")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        batch(folder)
        if not args.no_isolate:
            isolate(folder, args.seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
