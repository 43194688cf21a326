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
import uuid
from typing import Iterator, Mapping, Optional

import apache_beam as beam
import pyarrow as pa
from apache_beam.transforms.window import GlobalWindows

from mmfuse.fs import join, write_bytes
from mmfuse.schemas.records import MediaItem
from mmfuse.schemas.tables import FeatureSpec
from mmfuse.transforms.sinks.files import (
    ROWS_PER_SHARD,
    library_versions,
    one_width,
    row_widths,
    table_prefix,
    vector_columns,
    with_metadata,
    write_parquet,
)
from mmfuse.transforms.sinks.resume import PENDING, SKIPPED, item_fingerprint

__all__ = ["CarryOver", "Fingerprint", "WriteRunSummary", "WriteTables", "split_items"]


class _WriteFiles(beam.DoFn):
    """Rows → Parquet files written by the step that makes the rows, as Beam's file sinks do:
    the rows are never shuffled (moving every feature vector through the runner's data plane
    cost several times the write itself). Each file holds up to ``ROWS_PER_SHARD`` rows of
    one bundle, sorted by key, under a temporary name; :class:`_Finalize` gives the files
    their final names. Yields one description per file."""

    def __init__(self, prefix: str, schema: pa.Schema):
        self.prefix, self.schema = prefix, schema
        self.columns = vector_columns(schema)

    def start_bundle(self):
        self.rows, self.specs = [], {}

    def process(self, row, specs: Mapping[str, FeatureSpec]):
        self.specs = specs
        self.rows.append(row)
        if len(self.rows) >= ROWS_PER_SHARD:
            yield self._close()

    def finish_bundle(self):
        if self.rows:
            yield GlobalWindows.windowed_value(self._close())

    def _close(self) -> dict:
        rows, self.rows = self.rows, []
        widths = row_widths(rows, self.columns)
        path = f"{self.prefix}-tmp-{uuid.uuid4().hex}.parquet"
        first = write_parquet(path, with_metadata(self.schema, self.specs, widths), rows)
        return {"path": path, "rows": len(rows), "first": first, "widths": widths}


class _Finalize(beam.DoFn):
    """Every file of a table → renamed ``part-SSSSS-of-NNNNN.parquet`` in the order of their
    first rows' keys (an empty table gets one empty file, so it still carries its schema);
    files of bundles the runner retried, which no description names, are deleted."""

    def __init__(self, prefix: str, schema: pa.Schema):
        self.prefix, self.schema = prefix, schema

    def process(self, files: list, specs: Mapping[str, FeatureSpec]):
        from apache_beam.io.filesystems import FileSystems

        widths = {}
        for f in files:
            for c, w in f["widths"].items():
                widths.setdefault(c, set()).add(w)
        one_width(widths)
        if not files:
            path = f"{self.prefix}-00000-of-00001.parquet"
            write_parquet(path, with_metadata(self.schema, specs, {}), [])
            yield path
            return
        files = sorted(files, key=lambda f: (f["first"], f["path"]))
        n = len(files)
        finals = [f"{self.prefix}-{i:05d}-of-{n:05d}.parquet" for i in range(n)]
        FileSystems.rename([f["path"] for f in files], finals)
        named = {f["path"] for f in files}
        strays = [m.path for r in FileSystems.match([f"{self.prefix}-tmp-*"]) for m in r.metadata_list]
        strays = [p for p in strays if p not in named]
        if strays:
            FileSystems.delete(strays)
        yield from finals


class _WriteTable(beam.PTransform):
    def __init__(self, prefix: str, schema: pa.Schema, specs):
        super().__init__()
        self.prefix, self.schema, self.specs = prefix, schema, specs

    def expand(self, rows):
        specs = beam.pvalue.AsSingleton(self.specs)
        return (
            rows
            | "WriteFiles" >> beam.ParDo(_WriteFiles(self.prefix, self.schema), specs)
            | "AllFiles" >> beam.combiners.ToList()
            | "Finalize" >> beam.ParDo(_Finalize(self.prefix, self.schema), specs)
        )


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


_RESUMABLE = ("ok", "partial", "skipped")


class ReadDone(beam.PTransform):
    """The earlier run's media table in ``output`` → ``(media_id, fingerprint)`` of each item it
    completed. Read by the workers as a PCollection, so the earlier index is never held in
    the job graph."""

    def __init__(self, output: str):
        super().__init__()
        self.output = output

    def expand(self, pbegin):
        pattern = join(self.output, "media", "*.parquet")
        rows = pbegin | "ReadMedia" >> beam.io.ReadFromParquet(pattern, columns=["media_id", "status", "fingerprint"])
        return rows | "Completed" >> beam.FlatMap(
            lambda r: [(r["media_id"], r["fingerprint"])] if r["status"] in _RESUMABLE and r["fingerprint"] else []
        )


class _Split(beam.DoFn):
    def process(self, element):
        media_id, groups = element
        done = set(groups["done"])
        for item in groups["item"]:
            if item.fingerprint and item.fingerprint in done:
                yield beam.pvalue.TaggedOutput(SKIPPED, item)
            else:
                yield item


def split_items(items, done):
    """Items and ``done`` (a PCollection from :class:`ReadDone`) → ``{"pending": items to
    process, "skipped": items to carry over}``, joined by media_id."""
    joined = {"item": items | "KeyItems" >> beam.Map(lambda it: (it.media_id, it)), "done": done} | "JoinDone" >> (
        beam.CoGroupByKey()
    )
    out = joined | "SplitResumed" >> beam.ParDo(_Split()).with_outputs(SKIPPED, main=PENDING)
    return {PENDING: out[PENDING], SKIPPED: out[SKIPPED]}


def _carried(element, table: str):
    _, groups = element
    item = next(iter(groups["skipped"]), None)
    if item is None:
        return
    # the tags are the ones given now: relabelling needs no reprocessing
    tags = item.tags() if table in ("media", "windows") else {}
    for row in groups["rows"]:
        yield {**row, **tags, "carried_over": True} if table == "media" else {**row, **tags}


class CarryOver(beam.PTransform):
    """The rows of skipped items (from :func:`split_items`) in an earlier run's table, joined
    by key: media rows keep the status they had and say ``carried_over``; media and window rows
    take the label, split and meta the items have now."""

    def __init__(self, output: str, table: str):
        super().__init__()
        self.output, self.table = output, table

    def expand(self, skipped):
        pattern = join(self.output, self.table, "*.parquet")
        rows = skipped.pipeline | f"Read_{self.table}" >> beam.io.ReadFromParquet(pattern)
        joined = {
            "rows": rows | f"Key_{self.table}" >> beam.Map(lambda r: (r.get("media_id"), r)),
            "skipped": skipped | f"KeySkipped_{self.table}" >> beam.Map(lambda it: (it.media_id, it)),
        } | f"Join_{self.table}" >> beam.CoGroupByKey()
        return joined | f"Keep_{self.table}" >> beam.FlatMap(_carried, self.table)
