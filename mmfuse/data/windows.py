"""A run's ``windows/`` as numpy arrays, ready for training: feature matrices, presence masks,
labels, and chosen ``media/`` columns joined by item, after quality gates.

Reads Parquet with pyarrow alone (no Beam, no decoder), from a local folder or any filesystem
pyarrow knows (``gs://``, ``s3://``). Feature columns are ``list<float32>`` in the files (every
row of a column has the width in its ``mmfuse.dim`` metadata; an absent modality is a null row);
they come back as one contiguous ``(N, D)`` float32 array per modality, zeros where absent, with
a boolean mask beside it. Row groups are decoded on a few threads at once, each copied
straight into its rows, so reading needs little more memory than the arrays themselves.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Optional, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from mmfuse.schemas.tables import FEATURE_COLUMNS, read_feature_spec

__all__ = [
    "Gates",
    "Windows",
    "as_mapping",
    "class_order",
    "feature_widths",
    "fill_features",
    "load_windows",
    "selected_items",
    "table_dataset",
]


def table_dataset(run: str, table: str) -> ds.Dataset:
    """The Parquet files of ``run``/``table`` as a pyarrow dataset."""
    return ds.dataset(f"{run.rstrip('/')}/{table}", format="parquet")


def feature_widths(schema: pa.Schema, columns: Iterable[str] = FEATURE_COLUMNS) -> dict[str, int]:
    """Width of each feature column present in ``schema``, from its ``mmfuse.dim`` metadata
    (0 for a column no row has)."""
    out = {}
    for name in columns:
        if name in schema.names:
            spec = read_feature_spec(schema.field(name))
            out[name] = spec.dim if spec is not None else 0
    return out


@dataclass(frozen=True)
class Gates:
    """Which items to keep, by their ``media/`` row. A gate on a figure keeps the items whose
    figure is at least the threshold; an item without the figure (no transcript, no audio) is
    dropped by that gate. ``status``: the statuses kept (a resumed run's carried items keep
    theirs). ``splits``: the ``split`` values kept (None: all)."""

    status: tuple[str, ...] = ("ok", "partial")
    splits: Optional[tuple[str, ...]] = None
    min_transcript_sync_confidence: Optional[float] = None
    min_av_sync_confidence: Optional[float] = None
    min_aligned_word_ratio: Optional[float] = None
    min_semantic_score: Optional[float] = None

    def expression(self, schema: pa.Schema) -> pc.Expression:
        expr = pc.field("status").isin(list(self.status))
        if self.splits is not None:
            expr = expr & pc.field("split").isin(list(self.splits))
        for name, column in (
            ("min_transcript_sync_confidence", "transcript_sync_confidence"),
            ("min_av_sync_confidence", "av_sync_confidence"),
            ("min_aligned_word_ratio", "aligned_word_ratio"),
            ("min_semantic_score", "semantic_score_mean"),
        ):
            threshold = getattr(self, name)
            if threshold is None:
                continue
            if column not in schema.names:
                raise ValueError(f"{name}: the media table has no {column} column (was the run made without that stage?)")
            expr = expr & (pc.field(column) >= threshold)  # null >= x is null: dropped
        return expr


def selected_items(run: str, gates: Gates = Gates(), columns: Sequence[str] = ()) -> pa.Table:
    """The ``media/`` rows the gates keep: ``media_id`` and ``columns``."""
    media = table_dataset(run, "media")
    missing = [c for c in columns if c not in media.schema.names]
    if missing:
        raise ValueError(f"media/ has no columns {missing}; it has {media.schema.names}")
    wanted = ["media_id", *[c for c in columns if c != "media_id"]]
    return media.to_table(columns=wanted, filter=gates.expression(media.schema))


@dataclass
class Windows:
    """Window rows as arrays, in the order of the files. ``features[name]``: ``(N, D)``
    float32, zeros where ``masks[name]`` is False. ``labels``: class index per row (-1: the
    item has no label), ``classes`` the label values in index order. ``columns``: any other
    window column asked for, and the ``media/`` columns joined by item, as numpy arrays."""

    media_id: np.ndarray
    window_index: np.ndarray
    start_us: np.ndarray
    end_us: np.ndarray
    features: dict[str, np.ndarray]
    masks: dict[str, np.ndarray]
    labels: Optional[np.ndarray] = None
    classes: tuple[str, ...] = ()
    columns: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.media_id)

    def items(self) -> dict[str, np.ndarray]:
        """Row indices of each item, in window order: for per-item sequences."""
        order = np.lexsort((self.window_index, self.media_id))
        ids = self.media_id[order]
        starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]]) if len(ids) else np.zeros(0, int)
        return {ids[s]: order[s:e] for s, e in zip(starts, [*starts[1:], len(ids)])}


def fill_features(out: np.ndarray, mask: np.ndarray, at: int, column: pa.Array, width: int) -> None:
    """Copy one batch of a list<float> column into rows ``at…`` of ``out``."""
    if isinstance(column, pa.ChunkedArray):  # concatenating copies, even a single chunk
        column = column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()
    n = len(column)
    values = column.flatten().to_numpy(zero_copy_only=False)  # the valid rows' values, in order
    if column.null_count == 0:  # one contiguous copy
        mask[at : at + n] = True
        if values.size != n * width:
            raise ValueError(f"a feature row does not have the column's width {width}")
        out[at : at + n] = values.reshape(n, width)
        return
    valid = column.is_valid().to_numpy(zero_copy_only=False)
    mask[at : at + n] = valid
    if values.size != int(valid.sum()) * width:
        raise ValueError(f"a feature row does not have the column's width {width}")
    if values.size:
        out[at : at + n][valid] = values.reshape(-1, width)


@dataclass(frozen=True)
class _Part:
    """One row group of one file: the rows it gives (``keep``: a row selection, or None for
    all) and where they go in the result (``at``, ``count``)."""

    path: str
    group: int
    at: int
    count: int
    keep: Optional[pa.Array]


def _plan(windows: ds.Dataset, keep_ids: Optional[pa.Array], require: Sequence[str]) -> list[_Part]:
    """Every row group of ``windows`` in file order with its place in the result; only the
    media_id (and required) columns are read, and only when rows are selected. Each file is
    closed before the next one is opened: a ParquetFile keeps its decoders' buffers (about
    one row group's size per column) for as long as it lives."""
    parts, at = [], 0
    for path in sorted(windows.files):
        with windows.filesystem.open_input_file(path) as f:
            parquet = pq.ParquetFile(f)
            for group in range(parquet.num_row_groups):
                keep, count = None, parquet.metadata.row_group(group).num_rows
                if keep_ids is not None or require:
                    table = parquet.read_row_group(group, columns=["media_id", *require])
                    if keep_ids is not None:
                        keep = pc.is_in(table.column("media_id"), value_set=keep_ids)
                    for name in require:
                        valid = pc.is_valid(table.column(name))
                        keep = valid if keep is None else pc.and_(keep, valid)
                    keep = keep.combine_chunks() if isinstance(keep, pa.ChunkedArray) else keep
                    count = int(pc.sum(keep).as_py() or 0)
                parts.append(_Part(path, group, at, count, keep))
                at += count
    return parts


def _tasks(parts: list[_Part], workers: int) -> list[list[_Part]]:
    """The parts grouped into units of work: a file each when there are enough files to keep
    the workers busy, else a row group each."""
    by_file: dict[str, list[_Part]] = {}
    for part in parts:
        by_file.setdefault(part.path, []).append(part)
    if len(by_file) >= 2 * workers:
        return list(by_file.values())
    return [[part] for part in parts]


def _read_parts(filesystem, parts: list[_Part], columns: list[str], widths: Mapping[str, int], out, masks) -> list:
    """Decode ``parts`` (row groups of one file) and copy their feature columns into their
    rows of ``out``/``masks``; returns ``(at, table of the other columns)`` per part."""
    small = [c for c in columns if c not in widths]
    kept = []
    with filesystem.open_input_file(parts[0].path) as f:
        parquet = pq.ParquetFile(f)
        for part in parts:
            # use_threads=False: the parts themselves are read in parallel
            table = parquet.read_row_group(part.group, columns=columns, use_threads=False)
            if part.keep is not None:
                table = table.filter(part.keep)
            for name, width in widths.items():
                fill_features(out[name], masks[name], part.at, table.column(name), width)
            kept.append((part.at, table.select(small)))
            del table
    return kept


def load_windows(
    run: str,
    features: Sequence[str] = FEATURE_COLUMNS,
    gates: Gates = Gates(),
    media_columns: Sequence[str] = (),
    window_columns: Sequence[str] = (),
    label: Optional[str] = "label",
    require: Sequence[str] = (),
    workers: Optional[int] = None,
) -> Windows:
    """The windows of ``run`` whose items pass ``gates``, as :class:`Windows`.

    ``features``: feature columns to read (those the run lacks are left out of the result).
    ``media_columns``: ``media/`` columns joined onto each window by item (any type,
    list columns included). ``window_columns``: other ``windows/`` columns to keep
    (``transcript``, ``shot_index``, ``split``, …). ``label``: the column whose values become
    class indices (``label`` by default; None for none). ``require``: feature columns a
    window must have to be kept (e.g. ``("visual", "audio")``). ``workers``: threads that
    decode row groups at the same time (default: the CPUs)."""
    windows = table_dataset(run, "windows")
    widths = feature_widths(windows.schema, features)
    items = selected_items(run, gates, media_columns)
    keep_ids = None
    if len(items) < table_dataset(run, "media").count_rows():  # some items gated out
        keep_ids = items.column("media_id").combine_chunks().cast(pa.string())
    for name in require:
        if name not in widths:
            raise ValueError(f"require: windows/ has no {name} column")
    parts = _plan(windows, keep_ids, require)
    n = sum(part.count for part in parts)
    # The result's own arrays are the only large allocation: each row group is decoded and
    # copied straight into its rows, so reading needs about one row group per worker on top.
    out = {name: np.zeros((n, max(width, 0)), np.float32) for name, width in widths.items()}
    masks = {name: np.zeros(n, bool) for name in widths}
    keys = ["media_id", "window_index", "start_us", "end_us"]
    extra = [c for c in (*window_columns, *([label] if label else ())) if c not in keys]
    columns = keys + extra + list(widths)
    workers = max(1, workers or os.cpu_count() or 1)
    tasks = _tasks(parts, workers)
    # Threads, not processes: pyarrow's decoding and numpy's copies run without the GIL, and
    # every thread writes its own rows of the same arrays.
    with ThreadPoolExecutor(max_workers=min(workers, max(1, len(tasks)))) as pool:
        done = list(pool.map(lambda task: _read_parts(windows.filesystem, task, columns, widths, out, masks), tasks))
    small = [table for _, table in sorted((kept for result in done for kept in result), key=lambda k: k[0])]
    cols = {
        c: pa.chunked_array([chunk for t in small for chunk in t.column(c).chunks], type=windows.schema.field(c).type)
        for c in keys + extra
    }
    result = Windows(
        media_id=np.asarray(cols["media_id"].to_numpy(zero_copy_only=False), dtype=object),
        window_index=cols["window_index"].to_numpy(),
        start_us=cols["start_us"].to_numpy(),
        end_us=cols["end_us"].to_numpy(),
        features=out,
        masks=masks,
    )
    if label:
        result.labels, result.classes = _encode(cols[label])
    result.columns = {c: cols[c].to_numpy(zero_copy_only=False) for c in window_columns}
    if media_columns:
        at_item = pc.index_in(cols["media_id"], value_set=items.column("media_id"))
        for c in media_columns:
            result.columns[c] = items.column(c).take(at_item).to_numpy(zero_copy_only=False)
    return result


def class_order(values) -> tuple:
    """The label values (nulls left out) in class-index order: sorted, numbers in numeric
    order when all of them are numbers."""
    uniques = {v for v in values if v is not None}
    try:
        return tuple(sorted(uniques, key=float))
    except (TypeError, ValueError):
        return tuple(sorted(uniques, key=str))


def _encode(values: pa.ChunkedArray) -> tuple[np.ndarray, tuple[str, ...]]:
    """Class indices of label values (sorted; numbers in numeric order when all are), -1 for null."""
    classes = class_order(pc.unique(values).to_pylist())
    index = pc.index_in(values, value_set=pa.array(classes, type=values.type) if classes else pa.array([], values.type))
    return pc.fill_null(index, -1).to_numpy().astype(np.int64), classes


def as_mapping(w: Windows) -> Mapping[str, np.ndarray]:
    """Every array of ``w`` by name (``visual``, ``visual_mask``, …, ``label``)."""
    out = {"media_id": w.media_id, "window_index": w.window_index, "start_us": w.start_us, "end_us": w.end_us}
    for name, x in w.features.items():
        out[name], out[f"{name}_mask"] = x, w.masks[name]
    if w.labels is not None:
        out["label"] = w.labels
    return {**out, **w.columns}
