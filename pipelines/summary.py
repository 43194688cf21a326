"""Read a finished run's ``run.json`` and say what it made, in a few lines."""

from __future__ import annotations

import json

from mmfuse.fs import join, read_bytes

__all__ = ["format_summary", "read_run_json"]


def read_run_json(output: str) -> dict:
    return json.loads(read_bytes(join(output, "run.json")))


def format_summary(run: dict) -> str:
    c = run["counts"]
    out = run["config"]["output"]
    lines = [
        f"mmfuse: {c['inputs']} items: {c['ok']} ok ({c['partial']} partial, {c['skipped']} skipped), {c['failed']} failed; "
        f"{c['windows']} windows, {c['frames']} frames sampled, {c['errors']} errors"
    ]
    if c["errors_by_type"]:
        kinds = ", ".join(f"{k} {v}" for k, v in c["errors_by_type"].items())
        lines.append(f"  errors by type: {kinds} (see {join(out, 'errors')}/)")
    for table, files in run["tables"].items():
        lines.append(f"  {table + '/':<9} {len(files)} file(s) under {join(out, table)}/")
    lines.append(f"  run.json  {join(out, 'run.json')}  ({run['timings']['wall_seconds']} s)")
    return "\n".join(lines)
