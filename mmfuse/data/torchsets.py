"""PyTorch datasets over a run's windows (imports torch; the rest of :mod:`mmfuse.data` does not).

- :class:`WindowDataset`: map-style, one window per index: ``{visual, visual_mask, audio, …,
  label}`` tensors, zeros where a modality is absent, so the default collate works;
- :class:`SequenceDataset`: map-style, one item per index: ``(T, D)`` per modality over its
  windows in time order; :func:`pad_sequences` collates them with a padding mask, for RNN or
  transformer fusion;
- :class:`StreamingWindows`: iterable over the row groups of the shards, split across
  DataLoader workers and distributed ranks (each row exactly once per epoch), for datasets
  larger than memory.
"""

from __future__ import annotations

from typing import Iterator, Optional, Sequence

import numpy as np
import pyarrow.parquet as pq
import torch
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import Dataset, IterableDataset, get_worker_info

from mmfuse.data.windows import (
    Gates,
    Windows,
    as_mapping,
    class_order,
    feature_widths,
    fill_features,
    selected_items,
    table_dataset,
)
from mmfuse.schemas.tables import FEATURE_COLUMNS

__all__ = ["SequenceDataset", "StreamingWindows", "WindowDataset", "pad_sequences"]


def _tensor(x: np.ndarray) -> torch.Tensor:
    x = np.ascontiguousarray(x)
    return torch.from_numpy(x if x.flags.writeable else x.copy())  # Arrow's buffers are read-only


class WindowDataset(Dataset):
    """Windows (from :func:`~mmfuse.data.load_windows`) one per index, as tensors."""

    def __init__(self, windows: Windows):
        arrays = as_mapping(windows)
        self.tensors = {k: _tensor(v) for k, v in arrays.items() if v.dtype != object}
        self.n = len(windows)

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict:
        return {k: v[i] for k, v in self.tensors.items()}


class SequenceDataset(Dataset):
    """Items one per index: each modality ``(T, D)`` over the item's windows in time order,
    ``{name}_mask`` ``(T,)``, ``label`` (the item's), ``media_id``."""

    def __init__(self, windows: Windows):
        self.windows = windows
        self.groups = list(windows.items().items())

    def __len__(self) -> int:
        return len(self.groups)

    def __getitem__(self, i: int) -> dict:
        media_id, rows = self.groups[i]
        w = self.windows
        out = {"media_id": media_id}
        for name, x in w.features.items():
            out[name], out[f"{name}_mask"] = _tensor(x[rows]), _tensor(w.masks[name][rows])
        if w.labels is not None:
            out["label"] = int(w.labels[rows[0]])
        return out


def pad_sequences(batch: Sequence[dict]) -> dict:
    """Collate :class:`SequenceDataset` items: ``(B, T_max, D)`` per modality, ``lengths``
    ``(B,)``, ``padding_mask`` ``(B, T_max)`` (True on padding), ``label`` ``(B,)``."""
    out = {"media_id": [b["media_id"] for b in batch]}
    lengths = torch.tensor([len(next(v for k, v in b.items() if k.endswith("_mask"))) for b in batch])
    for key in batch[0]:
        if key in ("media_id", "label"):
            continue
        out[key] = pad_sequence([b[key] for b in batch], batch_first=True)
    out["lengths"] = lengths
    out["padding_mask"] = torch.arange(int(lengths.max()))[None, :] >= lengths[:, None]
    if "label" in batch[0]:
        out["label"] = torch.tensor([b["label"] for b in batch])
    return out


class StreamingWindows(IterableDataset):
    """Windows streamed from the shards, one row group at a time. Row groups are dealt to
    ``rank * num_workers + worker_id`` out of ``world_size * num_workers`` (rank and world size
    from ``torch.distributed`` when it is initialised, or given), so every row is read exactly
    once per epoch across all workers; ``shuffle`` permutes row groups and rows within them
    with ``seed + epoch`` (call :meth:`set_epoch`). Rows are dicts like :class:`WindowDataset`'s;
    ``classes`` fixes the label indices (by default the sorted labels of the kept items)."""

    def __init__(
        self,
        run: str,
        features: Sequence[str] = FEATURE_COLUMNS,
        gates: Gates = Gates(),
        label: Optional[str] = "label",
        classes: Optional[Sequence[str]] = None,
        shuffle: bool = False,
        seed: int = 0,
        rank: Optional[int] = None,
        world_size: Optional[int] = None,
    ):
        windows = table_dataset(run, "windows")
        self.widths = feature_widths(windows.schema, features)
        items = selected_items(run, gates, [label] if label else [])
        self.keep = set(items.column("media_id").to_pylist())
        if label and classes is None:
            classes = class_order(items.column(label).to_pylist())
        self.label, self.classes = label, tuple(classes or ())
        self.filesystem = windows.filesystem
        # the fragments read their footers through the dataset's filesystem (gs://, s3:// too)
        fragments = sorted(windows.get_fragments(), key=lambda fragment: fragment.path)
        self.units = [(fragment.path, g) for fragment in fragments for g in range(fragment.num_row_groups)]
        self.shuffle, self.seed, self.epoch = shuffle, seed, 0
        self.rank, self.world_size = rank, world_size

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _share(self) -> list:
        info = get_worker_info()
        workers, worker = (info.num_workers, info.id) if info else (1, 0)
        rank, world = self.rank, self.world_size
        if rank is None or world is None:
            dist = torch.distributed
            ready = dist.is_available() and dist.is_initialized()
            rank, world = (dist.get_rank(), dist.get_world_size()) if ready else (0, 1)
        units = list(self.units)
        if self.shuffle:
            np.random.default_rng(self.seed + self.epoch).shuffle(units)
        return units[rank * workers + worker :: world * workers]

    def __iter__(self) -> Iterator[dict]:
        index = {c: i for i, c in enumerate(self.classes)}
        rng = np.random.default_rng((self.seed + self.epoch) * 7919 + 1)
        columns = ["media_id", "window_index", "start_us", "end_us", *self.widths, *([self.label] if self.label else [])]
        for path, group in self._share():
            with self.filesystem.open_input_file(path) as f:
                table = pq.ParquetFile(f).read_row_group(group, columns=columns)
            ids = table.column("media_id").to_pylist()
            rows = [i for i, m in enumerate(ids) if m in self.keep]
            if self.shuffle:
                rng.shuffle(rows)
            arrays = {}
            for name, width in self.widths.items():
                x, valid = np.zeros((len(table), width), np.float32), np.zeros(len(table), bool)
                fill_features(x, valid, 0, table.column(name), width)
                arrays[name], arrays[f"{name}_mask"] = x, valid
            for c in ("window_index", "start_us", "end_us"):
                arrays[c] = table.column(c).to_numpy()
            labels = table.column(self.label).to_pylist() if self.label else None
            for i in rows:
                row = {k: torch.as_tensor(v[i]) for k, v in arrays.items()}
                if labels is not None:
                    row["label"] = torch.tensor(index.get(labels[i], -1))
                row["media_id"] = ids[i]
                yield row
