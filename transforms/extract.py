"""The whole extraction as one composite transform, and the schemas of what it produces.

    items ─► PlanItems (probe, transcript, chunks) ─► Reshuffle ─► DecodeTasks ─┐
                  └─► AlignItems (offsets, word timings; optional) ─► words rows   │
          FuseWindows (CoGroupByKey on media_id × window) ◄───────────────────────┘
          ─► windows rows ─► MediaRows ─► media rows; dead letters of every stage ─► errors
"""

from __future__ import annotations

import apache_beam as beam
import pyarrow as pa

from schemas.records import FrameRecord
from schemas.tables import errors_schema, frames_schema, media_schema, windows_schema, words_schema
from transforms.alignment import AlignItems
from transforms.config import ExtractConfig
from transforms.features import make_audio_extractor, make_text_extractor, make_visual_extractor
from transforms.decode import DecodeTasks
from transforms.plan import PlanItems
from transforms.report import MediaRows
from transforms.windows import FuseWindows

__all__ = ["ExtractFeatures", "table_schemas"]


def table_schemas(config: ExtractConfig) -> dict[str, pa.Schema]:
    """Arrow schemas of the tables a job with ``config`` writes, with feature metadata.

    Extractor objects are light (nothing is loaded until first use), so building them here to
    read their specs costs nothing at graph construction.
    """
    visual = make_visual_extractor(config.visual).spec()
    specs = {
        "visual": visual,
        "audio": make_audio_extractor(config.audio, n_mels=config.n_mels).spec(),
        "text": make_text_extractor(config.text, config.text_features).spec(),
    }
    schemas = {"windows": windows_schema(specs), "media": media_schema(), "errors": errors_schema()}
    if config.frames_table:
        schemas["frames"] = frames_schema(visual)
    if config.align_words:
        schemas["words"] = words_schema()
    return schemas


def _frame_row(f: FrameRecord) -> dict:
    return {"media_id": f.media_id, "pts_us": f.pts_us, "features": f.features.tolist()}


class ExtractFeatures(beam.PTransform):
    """MediaItems → ``{"windows", "media", "errors"[, "frames"]}``: PCollections of row dicts
    in the schemas of :func:`table_schemas`."""

    def __init__(self, config: ExtractConfig):
        super().__init__()
        self.config = config

    def expand(self, items):
        planned = items | "Plan" >> PlanItems(self.config)
        decoded = planned["tasks"] | "DecodeTasks" >> DecodeTasks(self.config)
        plans, stage_errors = planned["plans"], [planned["errors"], decoded["errors"]]
        words = None
        if self.config.aligns:
            aligned = plans | "Align" >> AlignItems(self.config)
            plans, words = aligned["plans"], aligned["words"]
            stage_errors.append(aligned["errors"])
        windows = {
            "plans": plans,
            "frames": decoded["frames"],
            "audio": decoded["audio"],
        } | "Fuse" >> FuseWindows(self.config)
        errors = tuple(stage_errors) | "AllErrors" >> beam.Flatten()
        media = {
            "plans": plans,
            "reports": decoded["reports"],
            "windows": windows,
            "errors": errors,
            "failed": planned["failed"],
        } | "Media" >> MediaRows()
        tables = {"windows": windows, "media": media, "errors": errors | "ErrorRows" >> beam.Map(lambda e: e.as_row())}
        if self.config.frames_table:
            tables["frames"] = decoded["frames"] | "FrameRows" >> beam.Map(_frame_row)
        if self.config.align_words:
            tables["words"] = words
        return tables
