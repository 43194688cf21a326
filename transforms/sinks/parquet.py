"""Write the tables as Parquet and ``run.json``, through Beam's FileSystems.

Tables are written by a sink of mmfuse's own rather than ``WriteToParquet``, because a feature
column's metadata (its width, the hash of the model or the fitted projection that made it) is
only known once the job has run. Rows are spread over ``part-SSSSS-of-NNNNN.parquet`` shards
by a hash of their key, sorted inside each shard, so a rerun writes the same files; every
table gets at least one file, so an empty ``errors/`` still carries its schema.
"""

from __future__ import annotations

import hashlib
import io
import json
import platform
import time
from typing import Mapping, Optional

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq

from mmfuse.fs import join, write_bytes
from mmfuse.schemas.tables import FeatureSpec, read_feature_spec

__all__ = ["WriteRunSummary", "WriteTables", "library_versions", "row_key", "table_prefix"]

_ROWS_PER_SHARD = 20_000
_ROW_GROUP = 5_000


def table_prefix(output: str, table: str) -> str:
    return join(output, table, "part")


_KEY_COLUMNS = (
    "media_id",
    "window_index",
    "pts_us",
    "cue_index",
    "shot_index",
    "start_us",
    "stage",
    "error_type",
    "word",
    "message",
)


def row_key(row: dict) -> tuple:
    """A stable sort key of a row of any table (missing values sort last)."""
    return tuple((0, v) if (v := row.get(k)) is not None else (1, 0) for k in _KEY_COLUMNS)


def _shard(row: dict, n: int) -> int:
    digest = hashlib.blake2b(repr(row_key(row)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % n


def _with_metadata(schema: pa.Schema, specs: Mapping[str, FeatureSpec], rows: list) -> pa.Schema:
    """The schema with feature metadata; a vector column's width comes from the data."""
    fields = []
    for f in schema:
        spec = specs.get(f.name) or read_feature_spec(f)
        if spec is not None and pa.types.is_list(f.type):
            dim = next((len(r[f.name]) for r in rows if r.get(f.name) is not None), spec.dim)
            spec = FeatureSpec(spec.extractor, dim, spec.config, spec.model_hash, spec.artifact_hash)
            f = f.with_metadata(spec.metadata())
        fields.append(f)
    return pa.schema(fields, metadata=schema.metadata)


def _write_file(path: str, schema: pa.Schema, rows: list) -> None:
    buf = io.BytesIO()
    with pq.ParquetWriter(buf, schema, compression="snappy") as writer:
        for i in range(0, max(len(rows), 1), _ROW_GROUP):
            writer.write_table(pa.Table.from_pylist(rows[i : i + _ROW_GROUP], schema=schema))
    write_bytes(path, buf.getvalue())


class _WriteShard(beam.DoFn):
    def __init__(self, prefix: str, schema: pa.Schema):
        self.prefix, self.schema = prefix, schema

    def process(self, element, count: int, specs: Mapping[str, FeatureSpec]):
        shard, rows = element
        rows = sorted(rows, key=row_key)
        n = max(1, -(-count // _ROWS_PER_SHARD))
        path = f"{self.prefix}-{shard:05d}-of-{n:05d}.parquet"
        _write_file(path, _with_metadata(self.schema, specs, rows), rows)
        yield path


class _WriteEmpty(beam.DoFn):
    def __init__(self, prefix: str, schema: pa.Schema):
        self.prefix, self.schema = prefix, schema

    def process(self, count: int, specs: Mapping[str, FeatureSpec]):
        if count == 0:
            path = f"{self.prefix}-00000-of-00001.parquet"
            _write_file(path, _with_metadata(self.schema, specs, []), [])
            yield path


class _WriteTable(beam.PTransform):
    def __init__(self, prefix: str, schema: pa.Schema, specs):
        super().__init__()
        self.prefix, self.schema, self.specs = prefix, schema, specs

    def expand(self, rows):
        count = rows | "Count" >> beam.combiners.Count.Globally()
        specs = beam.pvalue.AsSingleton(self.specs)
        n_shards = beam.pvalue.AsSingleton(count)
        files = (
            rows
            | "Shard" >> beam.Map(lambda r, c: (_shard(r, max(1, -(-c // _ROWS_PER_SHARD))), r), n_shards)
            | "GroupShard" >> beam.GroupByKey()
            | "WriteShard" >> beam.ParDo(_WriteShard(self.prefix, self.schema), n_shards, specs)
        )
        empty = count | "WriteIfEmpty" >> beam.ParDo(_WriteEmpty(self.prefix, self.schema), specs)
        return (files, empty) | "Files" >> beam.Flatten()


class WriteTables(beam.PTransform):
    """``{table: PCollection of row dicts}`` → ``{table: PCollection of written file names}``.

    ``specs`` is an optional PCollection holding one ``{column: FeatureSpec}`` dict that
    overrides the schema's feature metadata (fitted projections add their artifact hash).
    """

    def __init__(self, output: str, schemas: Mapping[str, pa.Schema], specs: Optional[beam.PCollection] = None):
        super().__init__()
        self.output = output
        self.schemas = dict(schemas)
        self.specs = specs

    def expand(self, tables):
        pipeline = next(iter(tables.values())).pipeline
        specs = self.specs if self.specs is not None else pipeline | "NoSpecs" >> beam.Create([{}])
        written = {}
        for name, rows in tables.items():
            written[name] = rows | f"Write_{name}" >> _WriteTable(table_prefix(self.output, name), self.schemas[name], specs)
        return written


def library_versions() -> dict:
    """Versions of what shaped the output: decoders, feature libraries, Beam, Python."""
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for dist in (
        "mmfuse",
        "apache-beam",
        "av",
        "numpy",
        "scipy",
        "pyarrow",
        "librosa",
        "opencv-python-headless",
        "scikit-learn",
        "nltk",
        "pocketsphinx",
        "torch",
        "sentence-transformers",
    ):
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

    def process(self, counts: dict, artifacts: list, **tables):
        finished = time.time()
        doc = {
            "config": self.config,
            "versions": library_versions(),
            "counts": counts,
            "tables": {name: sorted(files) for name, files in sorted(tables.items())},
            "artifacts": sorted(artifacts, key=lambda a: a.get("name", "")),
            "timings": {
                "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.started_at)),
                "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(finished)),
                "wall_seconds": round(finished - self.started_at, 3),
            },
            **self.extra,
        }
        uri = join(self.output, "run.json")
        write_bytes(uri, (json.dumps(doc, indent=2, default=str) + "\n").encode(), "application/json")
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
        artifacts = pcolls.get("artifacts")
        if artifacts is None:
            artifacts = media.pipeline | "NoArtifacts" >> beam.Create([])
        counts = (media, errors) | "MediaAndErrors" >> beam.Flatten() | "Count" >> beam.CombineGlobally(self.counts_fn)
        side = {name: beam.pvalue.AsList(files) for name, files in written.items()}
        return counts | "WriteRunJson" >> beam.ParDo(
            _WriteRunJson(self.output, self.config, self.started_at, self.extra), beam.pvalue.AsList(artifacts), **side
        )
