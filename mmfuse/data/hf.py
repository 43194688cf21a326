"""Hugging Face ``datasets`` on a run's windows: a window without a modality has a null
feature row, which ``with_format("torch")`` turns into ``None`` and the DataLoader's collate
refuses. :func:`fill_missing` is the ``map`` that replaces it with zeros (the ``has_*`` columns
stay the mask)::

    from datasets import load_dataset
    from mmfuse.data import feature_widths, fill_missing
    ds = load_dataset("parquet", data_files="out/run1/windows/*.parquet", split="train")
    ds = ds.map(fill_missing(feature_widths(pq.read_schema(first_file))), batched=True)
    loader = DataLoader(ds.with_format("torch", columns=["visual", "audio", "has_video"]), batch_size=64)
"""

from __future__ import annotations

from typing import Callable, Mapping

__all__ = ["fill_missing"]


def fill_missing(widths: Mapping[str, int]) -> Callable[[dict], dict]:
    """A batched ``datasets.Dataset.map`` function: null feature rows of the columns in
    ``widths`` (name → width, :func:`~mmfuse.data.feature_widths`) become zeros."""
    widths = dict(widths)

    def fill(batch: dict) -> dict:
        out = {}
        for name, width in widths.items():
            if name in batch:
                out[name] = [v if v is not None else [0.0] * width for v in batch[name]]
        return out

    return fill
