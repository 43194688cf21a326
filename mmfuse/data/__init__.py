"""Read a run's tables for training, with pyarrow and numpy only (no Beam, no decoder).

    from mmfuse.data import Gates, load_windows
    w = load_windows("out/run1", gates=Gates(min_transcript_sync_confidence=0.5))
    w.features["visual"], w.masks["visual"], w.labels, w.classes

PyTorch datasets (map-style windows, per-item sequences, streaming over shards) are in
:mod:`mmfuse.data.torchsets`, which imports torch; :func:`fill_missing` makes Hugging Face
``datasets`` rows collate on missing modalities.
"""

from mmfuse.data.hf import fill_missing
from mmfuse.data.windows import Gates, Windows, feature_widths, load_windows, selected_items, table_dataset

__all__ = ["Gates", "Windows", "feature_widths", "fill_missing", "load_windows", "selected_items", "table_dataset"]
