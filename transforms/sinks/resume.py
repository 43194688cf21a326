"""Resuming: skip items whose outputs for the same input content and settings already exist.

Every item gets a fingerprint: a hash of each of its files' URI, size and modification time
(through FileSystems, so for any filesystem) and of every setting that changes its rows
(models and fitted artifacts by content hash). The media table stores it. A run with
``--skip_existing`` reads the earlier media table, processes only items whose fingerprint is
new or whose earlier run failed, carries the other items' rows over from the earlier tables,
and writes the complete tables again; so a rerun gives the same rows, never duplicates.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Iterator, Mapping, Optional

import apache_beam as beam
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from mmfuse.fs import exists, join, open_read
from mmfuse.schemas.records import MediaItem
from mmfuse.settings import ExtractConfig

__all__ = ["PENDING", "SKIPPED", "CarryOver", "Fingerprint", "config_fingerprint", "read_done", "split_items"]

PENDING = "pending"
SKIPPED = "skipped"
# Settings that change how a job runs but not what it writes.
_NEUTRAL = {"chunk_seconds", "decode_threads", "batch_size", "model_copies"}


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


class Fingerprint(beam.DoFn):
    """MediaItem → the same item with its fingerprint."""

    def __init__(self, config_hash: str):
        self.config_hash = config_hash

    def process(self, item: MediaItem) -> Iterator[MediaItem]:
        facts = [_file_facts(u) for u in (item.video_uri, item.audio_uri, item.transcript_uri)]
        digest = hashlib.sha256(json.dumps([self.config_hash, facts]).encode()).hexdigest()[:32]
        yield dataclasses.replace(item, fingerprint=digest)


def read_done(output: str) -> dict[str, str]:
    """media_id → fingerprint of the items an earlier run in ``output`` completed."""
    folder = join(output, "media")
    if not exists(folder):
        return {}
    done = {}
    for result in FileSystems.match([join(folder, "*.parquet")]):
        for meta in result.metadata_list:
            with open_read(meta.path) as f:
                table = pq.read_table(f, columns=["media_id", "status", "fingerprint"])
            for row in table.to_pylist():
                if row["status"] in ("ok", "partial", "skipped") and row["fingerprint"]:
                    done[row["media_id"]] = row["fingerprint"]
    return done


class _Split(beam.DoFn):
    def __init__(self, done: Mapping[str, str]):
        self.done = dict(done)

    def process(self, item: MediaItem):
        if item.fingerprint and self.done.get(item.media_id) == item.fingerprint:
            yield beam.pvalue.TaggedOutput(SKIPPED, item.media_id)
        else:
            yield item


def split_items(items, done: Mapping[str, str]):
    """Items → ``{"pending": items to process, "skipped": media_ids to carry over}``."""
    out = items | "SplitResumed" >> beam.ParDo(_Split(done)).with_outputs(SKIPPED, main=PENDING)
    return {PENDING: out[PENDING], SKIPPED: out[SKIPPED]}


class CarryOver(beam.PTransform):
    """The rows of skipped items from an earlier run's table (media rows marked skipped)."""

    def __init__(self, output: str, table: str):
        super().__init__()
        self.output, self.table = output, table

    def expand(self, skipped):
        pattern = join(self.output, self.table, "*.parquet")
        rows = skipped.pipeline | f"Read_{self.table}" >> beam.io.ReadFromParquet(pattern)
        keep = beam.pvalue.AsList(skipped)

        def mine(row, ids):
            return row.get("media_id") in set(ids)

        rows = rows | f"Keep_{self.table}" >> beam.Filter(mine, keep)
        if self.table == "media":
            rows = rows | "MarkSkipped" >> beam.Map(lambda r: {**r, "status": "skipped"})
        return rows
