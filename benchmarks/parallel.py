"""Does a second local worker process help? The same job over N items in one process and with
``--direct_running_mode multi_processing --direct_num_workers 2``: wall time, CPU (all child
processes) and peak RSS of the largest process, ratios in one run. As the machine's own
ceiling, the same items are also run as two independent in-process jobs of half the items each,
at the same time: what two cores give when nothing is shared.

Uses decode.py's noisy 720p H.264 file of ``--seconds`` (made once under out/bench/), listed
``--items`` times under different names. The three set-ups alternate over ``--repeat`` rounds,
so a slow spell of this shared machine hits each of them; the least wall (and CPU) of each
counts, and every round is printed.

    python benchmarks/parallel.py [--items 8] [--seconds 60] [--repeat 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

from common import ROOT
from decode import _MEASURE, make_file


def run(jobs: list) -> dict:
    """Runs the (manifest, output, extra flags) jobs at the same time; wall, CPU of all, and the
    largest peak RSS of any one process (each job's own, from decode.py's measuring wrapper:
    RUSAGE_CHILDREN of this script would hold the largest child of every earlier run too)."""
    start = time.perf_counter()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _MEASURE, sys.executable, "-m", "mmfuse.pipelines.extract"]
            + ["--manifest", m, "--output", o, "--overwrite", *extra],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        for m, o, extra in jobs
    ]
    done = [json.loads(p.communicate()[0]) for p in procs]
    wall = time.perf_counter() - start
    failed = [d for d in done if d["rc"]]
    if failed:
        raise SystemExit(f"a job failed ({failed[0]['rc']}):\n{failed[0]['stderr']}")
    return {"wall_s": wall, "cpu_s": sum(d["cpu"] for d in done), "max_rss_mib": max(d["maxrss_mib"] for d in done)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", type=int, default=8)
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--repeat", type=int, default=2, help="rounds of the three set-ups; the least counts")
    args = ap.parse_args()
    src = make_file(os.path.join(ROOT, "out", "bench", f"noisy720p_{args.seconds}s.mp4"), args.seconds)  # decode.py's file
    with tempfile.TemporaryDirectory() as tmp:
        lines = []
        for k in range(args.items):
            path = os.path.join(tmp, f"item{k}.mp4")
            subprocess.run(["cp", src, path], check=True)
            lines.append(json.dumps({"id": f"item{k}", "video": path}))
        manifests = {}
        for name, part in (("all", lines), ("first", lines[::2]), ("second", lines[1::2])):
            manifests[name] = os.path.join(tmp, f"{name}.jsonl")
            with open(manifests[name], "w") as f:
                f.write("\n".join(part) + "\n")
        inproc = ["--runner", "FnApiRunner"]
        workers = ["--direct_running_mode", "multi_processing", "--direct_num_workers", "2"]
        setups = {
            "in process": [(manifests["all"], os.path.join(tmp, "one"), inproc)],
            "2 worker processes": [(manifests["all"], os.path.join(tmp, "two"), workers)],
            "2 half jobs at once": [(manifests[h], os.path.join(tmp, h), inproc) for h in ("first", "second")],
        }
        rounds = {name: [] for name in setups}
        for k in range(args.repeat):
            for name, jobs in setups.items():
                rounds[name].append(run(jobs))
            print(
                f"  round {k + 1}: wall " + ", ".join(f"{name} {rs[-1]['wall_s']:.1f} s" for name, rs in rounds.items()),
                flush=True,
            )
        one, two, halves = (
            {key: min(r[key] for r in rs) for key in ("wall_s", "cpu_s", "max_rss_mib")} for rs in rounds.values()
        )
    print(f"{args.items} items of {args.seconds} s 720p, os.cpu_count()={os.cpu_count()}, least of {args.repeat} rounds")
    for name, r in (("in process", one), ("2 worker processes", two), ("2 half jobs at once", halves)):
        print(f"  {name:<20} wall {r['wall_s']:7.1f} s   CPU {r['cpu_s']:7.1f} s   largest RSS {r['max_rss_mib']:6.0f} MiB")
    print(
        f"  2 workers / in process: wall {two['wall_s'] / one['wall_s']:.2f} (target <= 0.65), "
        f"CPU {two['cpu_s'] / one['cpu_s']:.2f}; "
        f"two independent half jobs / in process: wall {halves['wall_s'] / one['wall_s']:.2f}, CPU {halves['cpu_s'] / one['cpu_s']:.2f}"
    )


if __name__ == "__main__":
    main()
