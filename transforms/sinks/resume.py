"""Resuming: skip items whose outputs for the same input content and settings already exist.

Every item gets a fingerprint: a hash of each of its files' URI, size and modification time
(through FileSystems, so for any filesystem) and of every setting that changes its rows
(models and fitted artifacts by content hash). The media table stores it. A run with
``--skip_existing`` reads the earlier media table, processes only items whose fingerprint is
new or whose earlier run failed, carries the other items' rows over from the earlier tables,
and writes the complete tables again; so a rerun gives the same rows, never duplicates.
"""

from __future__ import annotations

import hashlib
import json
from typing import Mapping, Optional

from apache_beam.io.filesystems import FileSystems

from mmfuse.schemas.records import MediaItem
from mmfuse.settings import ExtractConfig

__all__ = ["PENDING", "SKIPPED", "config_fingerprint", "item_fingerprint"]

PENDING = "pending"
SKIPPED = "skipped"
# Settings that change how a job runs but not what it writes.
_NEUTRAL = {"chunk_seconds", "decode_threads", "batch_size", "model_copies", "task_timeout", "isolate_decode"}


def config_fingerprint(config: ExtractConfig, content_hashes: Mapping[str, Optional[str]]) -> str:
    """Hash of every output-shaping setting, models and artifacts by their content."""
    settings = {k: v for k, v in config.as_dict().items() if k not in _NEUTRAL}
    doc = json.dumps({"settings": settings, "content": dict(content_hashes)}, sort_keys=True, default=str)
    return hashlib.sha256(doc.encode()).hexdigest()[:32]


def _file_facts(uri: Optional[str]) -> Optional[list]:
    if not uri:
        return None
    try:
        (result,) = FileSystems.match([uri])
        meta = result.metadata_list[0]
        return [uri, meta.size_in_bytes, round(float(getattr(meta, "last_updated_in_seconds", 0.0) or 0.0), 3)]
    except Exception:  # missing now: the item will fail, and a failed item is never skipped
        return [uri, None, None]


def item_fingerprint(item: MediaItem, config_hash: str) -> str:
    """Hash of the settings (``config_hash``) and of the item's files as they are now."""
    facts = [_file_facts(u) for u in (item.video_uri, item.audio_uri, item.transcript_uri)]
    return hashlib.sha256(json.dumps([config_hash, facts]).encode()).hexdigest()[:32]
