"""Stage inputs as Beam steps: manifest lines and glob matches become MediaItems, read inside
the pipeline so a million-line manifest never travels in the job graph."""

from __future__ import annotations

import dataclasses
from typing import Iterator, Optional

import apache_beam as beam
from apache_beam.io import fileio

from mmfuse.errors import InputError
from mmfuse.schemas.records import ErrorRecord, MediaItem
from mmfuse.transforms.deadletter import ERRORS
from mmfuse.transforms.inputs.labels import read_labels
from mmfuse.transforms.inputs.listing import dirname, is_transcript, media_id_for, parse_manifest_line, sidecar_transcript

__all__ = ["DiscoverVideos", "ReadInputs", "ReadManifest"]


class _ParseManifestLine(beam.DoFn):
    def __init__(self, base_dir: str):
        self.base_dir = base_dir

    def process(self, line: str):
        try:
            item = parse_manifest_line(line, self.base_dir)
        except InputError as err:
            yield beam.pvalue.TaggedOutput(ERRORS, ErrorRecord("", None, "input", err.error_type, str(err)))
            return
        if item is not None:
            yield item


class ReadManifest(beam.PTransform):
    """MediaItems of a JSONL manifest; relative paths are resolved against its folder."""

    def __init__(self, path: str):
        super().__init__()
        self.path = path

    def expand(self, pbegin):
        lines = pbegin | "ReadManifestLines" >> beam.io.ReadFromText(self.path)
        return lines | "ParseManifest" >> beam.ParDo(_ParseManifestLine(dirname(self.path))).with_outputs(ERRORS, main="items")


class _ItemForVideo(beam.DoFn):
    def __init__(self, pattern: str, collisions: frozenset):
        self.pattern, self.collisions = pattern, collisions

    def process(self, metadata):
        path = metadata.path
        if is_transcript(path):
            return
        yield MediaItem(media_id_for(path, self.pattern, self.collisions), path, None, sidecar_transcript(path))


def _labelled(element) -> Iterator[MediaItem]:
    _, groups = element
    tags = next(iter(groups["tags"]), None)
    for item in groups["item"]:  # an id the labels file has but no video matched: no item
        yield dataclasses.replace(item, **tags) if tags else item


class DiscoverVideos(beam.PTransform):
    """MediaItems for the files a glob matches, each with the transcript beside it
    (same stem; ``.srt``, then ``.vtt``, then ``.json``) when there is one. Ids in
    ``collisions`` (two files with one stem) keep their extension. With ``labels`` (a CSV or
    JSON-lines file by id, :mod:`~mmfuse.transforms.inputs.labels`), items get their tags;
    the file is read by a worker and joined by media id."""

    def __init__(self, pattern: str, collisions: frozenset = frozenset(), labels: Optional[str] = None):
        super().__init__()
        self.pattern, self.collisions, self.labels = pattern, frozenset(collisions), labels

    def expand(self, pbegin):
        matches = pbegin | "MatchVideos" >> fileio.MatchFiles(self.pattern)
        items = matches | "VideoItems" >> beam.ParDo(_ItemForVideo(self.pattern, self.collisions))
        if self.labels:
            tags = pbegin | "LabelsFile" >> beam.Create([self.labels]) | "ReadLabels" >> beam.FlatMap(read_labels)
            keyed = {"item": items | "KeyVideoItems" >> beam.Map(lambda it: (it.media_id, it)), "tags": tags}
            items = keyed | "JoinLabels" >> beam.CoGroupByKey() | "Labelled" >> beam.FlatMap(_labelled)
        errors = pbegin | "NoInputErrors" >> beam.Create([])
        return {"items": items, ERRORS: errors}


class ReadInputs(beam.PTransform):
    """Items from exactly one of a manifest or a glob; returns ``{"items", "errors"}``."""

    def __init__(
        self,
        manifest: Optional[str] = None,
        videos: Optional[str] = None,
        collisions: frozenset = frozenset(),
        labels: Optional[str] = None,
    ):
        super().__init__()
        if bool(manifest) == bool(videos):
            raise InputError("give exactly one of --manifest FILE.jsonl or --videos GLOB")
        if labels and manifest:
            raise InputError("--labels_file goes with --videos; a manifest carries labels on its lines")
        self.manifest, self.videos, self.collisions, self.labels = manifest, videos, frozenset(collisions), labels

    def expand(self, pbegin):
        if self.manifest:
            out = pbegin | "Manifest" >> ReadManifest(self.manifest)
            return {"items": out.items, ERRORS: out[ERRORS]}
        return pbegin | "Videos" >> DiscoverVideos(self.videos, self.collisions, self.labels)
