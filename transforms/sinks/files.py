"""The files of a run: Parquet shards of every table, and what ``run.json`` records; written
through Beam's FileSystems by the steps in :mod:`mmfuse.transforms.sinks.beam`.

Tables are written by a sink of mmfuse's own rather than ``WriteToParquet``, because a feature
column's metadata (its width, the hash of the model or the fitted projection that made it) is
only known once the job has run. Rows are spread over ``part-SSSSS-of-NNNNN.parquet`` shards
by a hash of their key, sorted inside each shard, so a rerun writes the same files; every
table gets at least one file, so an empty ``errors/`` still carries its schema.
"""

from __future__ import annotations

import hashlib
import io
import platform
from typing import Mapping

import pyarrow as pa
import pyarrow.parquet as pq

from mmfuse.fs import join, write_bytes
from mmfuse.schemas.tables import FeatureSpec, read_feature_spec

__all__ = ["ROWS_PER_SHARD", "library_versions", "row_key", "shard_of", "table_prefix", "with_metadata", "write_parquet"]

ROWS_PER_SHARD = 20_000
_ROW_GROUP = 5_000


def table_prefix(output: str, table: str) -> str:
    return join(output, table, "part")


_KEY_COLUMNS = (
    "media_id",
    "window_index",
    "pts_us",
    "cue_index",
    "word_index",
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


def shard_of(row: dict, n: int) -> int:
    digest = hashlib.blake2b(repr(row_key(row)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % n


def with_metadata(schema: pa.Schema, specs: Mapping[str, FeatureSpec], rows: list) -> pa.Schema:
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


def write_parquet(path: str, schema: pa.Schema, rows: list) -> None:
    buf = io.BytesIO()
    with pq.ParquetWriter(buf, schema, compression="snappy") as writer:
        for i in range(0, max(len(rows), 1), _ROW_GROUP):
            writer.write_table(pa.Table.from_pylist(rows[i : i + _ROW_GROUP], schema=schema))
    write_bytes(path, buf.getvalue())


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
