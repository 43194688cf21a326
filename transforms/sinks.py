"""Write the tables as Parquet and ``run.json``, through Beam's FileSystems."""

from __future__ import annotations

import json
import platform
import time
from typing import Mapping, Optional

import apache_beam as beam
import pyarrow as pa

from transforms.io import join, write_bytes

__all__ = ["WriteRunSummary", "WriteTables", "library_versions", "table_prefix"]


def table_prefix(output: str, table: str) -> str:
    return join(output, table, "part")


class WriteTables(beam.PTransform):
    """``{table: PCollection of row dicts}`` → ``{table: PCollection of written file names}``.

    Each table goes to ``OUTPUT/<table>/part-SSSSS-of-NNNNN.parquet`` with its Arrow schema
    (field metadata included).
    """

    def __init__(self, output: str, schemas: Mapping[str, pa.Schema], num_shards: int = 0):
        super().__init__()
        self.output = output
        self.schemas = dict(schemas)
        self.num_shards = num_shards

    def expand(self, tables):
        written = {}
        for name, rows in tables.items():
            written[name] = rows | f"Write_{name}" >> beam.io.WriteToParquet(
                table_prefix(self.output, name),
                self.schemas[name],
                codec="snappy",
                file_name_suffix=".parquet",
                num_shards=self.num_shards,
            )
        return written


def library_versions() -> dict:
    """Versions of what shaped the output: decoders, feature libraries, Beam, Python."""
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for dist in ("mmfuse", "apache-beam", "av", "numpy", "scipy", "pyarrow", "librosa", "opencv-python-headless", "scikit-learn", "nltk"):
        try:
            out[dist] = md.version(dist)
        except md.PackageNotFoundError:
            out[dist] = None
    try:
        import av

        out["ffmpeg"] = av.ffmpeg_version_info
    except Exception:
        out["ffmpeg"] = None
    return out


class _WriteRunJson(beam.DoFn):
    def __init__(self, output: str, config: dict, started_at: float, extra: Optional[dict]):
        self.output = output
        self.config = config
        self.started_at = started_at
        self.extra = extra or {}

    def process(self, counts: dict, **tables):
        finished = time.time()
        doc = {
            "config": self.config,
            "versions": library_versions(),
            "counts": counts,
            "tables": {name: sorted(files) for name, files in sorted(tables.items())},
            "timings": {
                "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.started_at)),
                "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(finished)),
                "wall_seconds": round(finished - self.started_at, 3),
            },
            **self.extra,
        }
        uri = join(self.output, "run.json")
        write_bytes(uri, (json.dumps(doc, indent=2, sort_keys=False) + "\n").encode(), "application/json")
        yield uri


class WriteRunSummary(beam.PTransform):
    """Counts media rows and errors, then writes ``OUTPUT/run.json`` once every table's files
    are final (the written file names arrive as side inputs)."""

    def __init__(self, output: str, config: dict, counts_fn: beam.CombineFn, started_at: float, extra: Optional[dict] = None):
        super().__init__()
        self.output = output
        self.config = config
        self.counts_fn = counts_fn
        self.started_at = started_at
        self.extra = extra

    def expand(self, pcolls):
        media, errors, written = pcolls["media"], pcolls["errors"], pcolls["written"]
        counts = (media, errors) | "MediaAndErrors" >> beam.Flatten() | "Count" >> beam.CombineGlobally(self.counts_fn)
        side = {name: beam.pvalue.AsList(files) for name, files in written.items()}
        return counts | "WriteRunJson" >> beam.ParDo(
            _WriteRunJson(self.output, self.config, self.started_at, self.extra), **side
        )
