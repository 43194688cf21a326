"""The files of a run: Parquet shards of every table, and what ``run.json`` records; written
through Beam's FileSystems by the steps in :mod:`mmfuse.transforms.sinks.beam`.

Tables are written by a sink of mmfuse's own rather than ``WriteToParquet``, because a feature
column's metadata (its width, the hash of the model or the fitted projection that made it) is
only known once the job has run. Each bundle's rows are written where they are made, in files
of up to ``ROWS_PER_SHARD`` rows sorted by key (:func:`row_key`), and then named
``part-SSSSS-of-NNNNN.parquet`` in the order of their first keys; every table gets at least one
file, so an empty ``errors/`` still carries its schema.
"""

from __future__ import annotations

import platform
from typing import Mapping

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from mmfuse.fs import join, open_write
from mmfuse.schemas.tables import FeatureSpec, read_feature_spec

__all__ = [
    "ROWS_PER_SHARD",
    "ROW_GROUP",
    "library_versions",
    "one_width",
    "row_widths",
    "row_key",
    "table_prefix",
    "to_batch",
    "vector_columns",
    "with_metadata",
    "write_parquet",
]

ROWS_PER_SHARD = 20_000
ROW_GROUP = 5_000
_NUMPY = {pa.float32(): np.float32, pa.float64(): np.float64, pa.uint8(): np.uint8, pa.int32(): np.int32}


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


def vector_columns(schema: pa.Schema) -> tuple[str, ...]:
    """Feature columns: numeric lists with feature metadata."""
    return tuple(
        f.name for f in schema if pa.types.is_list(f.type) and f.type.value_type in _NUMPY and read_feature_spec(f) is not None
    )


def with_metadata(schema: pa.Schema, specs: Mapping[str, FeatureSpec], widths: Mapping[str, int]) -> pa.Schema:
    """The schema as written, with feature metadata (``specs`` override the schema's) whose
    width is the one the written rows have (``widths``, from :func:`row_widths`; a column
    without any value keeps its stated width).

    Feature columns stay ``list<float32>`` rather than Arrow's fixed-size list: Parquet stores
    both alike, but pyarrow up to 25 cannot read back a fixed-size list column holding nulls
    (apache/arrow#35692), and a window without video or sound has a null ``visual`` or
    ``audio``. The width is in the ``mmfuse.dim`` metadata, and every row has it."""
    fields = []
    for f in schema:
        spec = specs.get(f.name) or read_feature_spec(f)
        if spec is not None and pa.types.is_list(f.type):
            dim = widths.get(f.name) or (spec.dim if isinstance(spec.dim, int) else 0)
            f = f.with_metadata(FeatureSpec(spec.extractor, dim, spec.config, spec.model_hash, spec.artifact_hash).metadata())
        fields.append(f)
    return pa.schema(fields, metadata=schema.metadata)


def _vectors(values: list, kind: pa.ListType) -> pa.Array:
    """One feature column from float arrays (or lists, from an earlier run's rows) without
    going through Python floats: the rows' values in one block, one copy into Arrow."""
    dtype = _NUMPY[kind.value_type]
    arrays = [None if v is None else np.asarray(v, dtype).reshape(-1) for v in values]
    lengths = np.array([0 if a is None else len(a) for a in arrays], np.int32)
    offsets = np.zeros(len(arrays) + 1, np.int32)
    np.cumsum(lengths, out=offsets[1:])
    present = [a for a in arrays if a is not None]
    block = np.concatenate(present) if present else np.zeros(0, dtype)
    missing = np.array([a is None for a in arrays], bool)
    return pa.ListArray.from_arrays(
        pa.array(offsets), pa.array(block), type=kind, mask=pa.array(missing) if missing.any() else None
    )


def to_batch(schema: pa.Schema, rows: list) -> pa.RecordBatch:
    """Row dicts as one record batch of ``schema``; feature columns are copied from their
    arrays in one block, the rest converted by pyarrow."""
    vectors = set(vector_columns(schema))
    columns = []
    for f in schema:
        values = [r.get(f.name) for r in rows]
        columns.append(_vectors(values, f.type) if f.name in vectors else pa.array(values, type=f.type))
    return pa.RecordBatch.from_arrays(columns, schema=schema)


def write_parquet(path: str, schema: pa.Schema, rows: list) -> tuple:
    """One Parquet file of ``rows`` in key order (:func:`row_key`), streamed: ``ROW_GROUP``
    rows at a time become a record batch and a row group, written to a temporary name and
    renamed once complete (:func:`~mmfuse.fs.open_write`). Returns the first row's key."""
    rows = sorted(rows, key=row_key)
    # Dictionary encoding never pays on feature values (every float is new): only the
    # other columns try it.
    plain = set(vector_columns(schema))
    dictionary = [f.name for f in schema if f.name not in plain]
    with open_write(path) as f, pq.ParquetWriter(f, schema, compression="snappy", use_dictionary=dictionary) as writer:
        for i in range(0, max(len(rows), 1), ROW_GROUP):
            writer.write_batch(to_batch(schema, rows[i : i + ROW_GROUP]), row_group_size=ROW_GROUP)
    return row_key(rows[0] if rows else {})


def row_widths(rows: list, columns) -> dict[str, int]:
    """The one width of each feature column's non-null values in ``rows`` (ValueError when a
    column's rows differ)."""
    widths = {}
    for r in rows:
        for c in columns:
            v = r.get(c)
            if v is not None:
                widths.setdefault(c, set()).add(len(v))
    return one_width(widths)


def one_width(widths: Mapping[str, set]) -> dict[str, int]:
    odd = {c: sorted(w) for c, w in widths.items() if len(w) > 1}
    if odd:
        raise ValueError(f"feature columns with rows of different widths: {odd}; every row of a column must have one width")
    return {c: next(iter(w)) for c, w in widths.items()}


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
