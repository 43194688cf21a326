"""Stage sinks as Beam steps: every table to Parquet shards (WriteTables), ``run.json`` once
the tables are final (WriteRunSummary), and resume (Fingerprint, split_items, CarryOver).

Tables are written by a sink of mmfuse's own rather than ``WriteToParquet``, because a feature
column's metadata (its width, the hash of the model or the fitted projection that made it) is
only known once the job has run.
"""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Iterator, Mapping, Optional

import apache_beam as beam
import pyarrow as pa

from mmfuse.fs import join, write_bytes
from mmfuse.schemas.records import MediaItem
from mmfuse.schemas.tables import FeatureSpec
from mmfuse.transforms.sinks.files import (
    ROWS_PER_SHARD,
    library_versions,
    row_key,
    shard_of,
    table_prefix,
    with_metadata,
    write_parquet,
)
from mmfuse.transforms.sinks.resume import PENDING, SKIPPED, item_fingerprint

__all__ = ["CarryOver", "Fingerprint", "WriteRunSummary", "WriteTables", "split_items"]


class _WriteShard(beam.DoFn):
    def __init__(self, prefix: str, schema: pa.Schema):
        self.prefix, self.schema = prefix, schema

    def process(self, element, count: int, specs: Mapping[str, FeatureSpec]):
        shard, rows = element
        rows = sorted(rows, key=row_key)
        n = max(1, -(-count // ROWS_PER_SHARD))
        path = f"{self.prefix}-{shard:05d}-of-{n:05d}.parquet"
        write_parquet(path, with_metadata(self.schema, specs, rows), rows)
        yield path


class _WriteEmpty(beam.DoFn):
    def __init__(self, prefix: str, schema: pa.Schema):
        self.prefix, self.schema = prefix, schema

    def process(self, count: int, specs: Mapping[str, FeatureSpec]):
        if count == 0:
            path = f"{self.prefix}-00000-of-00001.parquet"
            write_parquet(path, with_metadata(self.schema, specs, []), [])
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
            | "Shard" >> beam.Map(lambda r, c: (shard_of(r, max(1, -(-c // ROWS_PER_SHARD))), r), n_shards)
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


class Fingerprint(beam.DoFn):
    """MediaItem → the same item with its fingerprint."""

    def __init__(self, config_hash: str):
        self.config_hash = config_hash

    def process(self, item: MediaItem) -> Iterator[MediaItem]:
        yield dataclasses.replace(item, fingerprint=item_fingerprint(item, self.config_hash))


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
