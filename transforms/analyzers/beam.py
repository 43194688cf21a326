"""Fit analyzers over every window row of the job, then apply them through side inputs.

    rows ─► column vectors ─► CombineGlobally(MomentsFn) ──┐
         └► CombineGlobally(SampleFn) (ICA, LSA) ──────────┴► fit ─► artifact (singleton)
    rows ─► Map(apply, artifact = AsSingleton) ─► rows with reduced columns
                                         artifact ─► artifacts/NAME.npz + NAME.json

With ``--artifacts_from DIR`` the artifacts are read from DIR instead of fitted.
"""

from __future__ import annotations

from typing import Mapping, Optional

import apache_beam as beam
import numpy as np

from mmfuse.fs import join
from mmfuse.schemas.tables import FeatureSpec
from mmfuse.settings import AnalyzerSettings
from mmfuse.transforms.analyzers.artifacts import Artifact, load_artifact, read_not_fitted, save_artifact, save_not_fitted
from mmfuse.transforms.analyzers.combiners import DiagonalMomentsFn, DocFreqFn, MomentsFn, SampleFn
from mmfuse.transforms.analyzers.fusion import FUSION_EARLY, fit_early_fusion, fused_vector, fusion_layout
from mmfuse.transforms.analyzers.linear import apply_linear, fit_ica, fit_pca
from mmfuse.transforms.analyzers.quantize import CLIP, quantize8
from mmfuse.transforms.analyzers.tfidf import TfidfLsa, fit_tfidf_lsa
from mmfuse.transforms.deadletter import ERRORS, error_record, media_id_of

__all__ = ["EarlyFusion", "FitAnalyzers", "LoadArtifact", "SaveArtifacts", "artifact_names"]


def _window_key(row: dict) -> tuple:
    return (row["media_id"], row["window_index"])


def artifact_names(analyzers: AnalyzerSettings, tfidf: bool) -> dict[str, str]:
    """Column → artifact file stem that the analyzers fit or read (``tfidf``: ``--text tfidf``)."""
    names = {}
    if analyzers.reduce != "none":
        for column in ("visual", "audio"):
            names[column] = f"{column}_{analyzers.reduce}"
    if tfidf:
        names["text"] = "text_tfidf_lsa"
    return names


def _fit_column(moments, sample, kind: str, dims: int, column: str) -> Optional[Artifact]:
    if kind == "ica":
        return fit_ica(moments, [v for _, v in sample], dims, column)
    return fit_pca(moments, dims, kind == "pca_whiten", column)


def _apply(row: dict, artifacts: Mapping[str, Optional[Artifact]], quantize: int, prepared: Optional[dict] = None) -> dict:
    """``row`` with every fitted column applied. ``prepared`` keeps a TF-IDF applier per
    artifact between rows: building one indexes the whole vocabulary."""
    out = dict(row)
    for column, artifact in artifacts.items():
        if artifact is None:
            continue
        if artifact.kind == "tfidf_lsa":
            prepared = {} if prepared is None else prepared
            if prepared.get("artifact") is not artifact:  # side inputs hand the same object to every row
                prepared.update(artifact=artifact, applier=TfidfLsa(artifact))
            vec = prepared["applier"](row.get("tokens"))
        else:
            vec = apply_linear(artifact, row.get(column))
            if vec is not None and quantize:
                out[column] = quantize8(vec)
                continue
        out[column] = None if vec is None else np.asarray(vec, np.float32)
    return out


def _spec(base: FeatureSpec, artifact: Optional[Artifact], quantize: int) -> FeatureSpec:
    if artifact is None:
        return base
    config = {**dict(base.config), "fitted": artifact.kind, "artifact": artifact.name, **dict(artifact.params)}
    if quantize and artifact.kind != "tfidf_lsa":
        config.update(quantize=quantize, clip=list(CLIP), dequantize="x = q * (clip_hi - clip_lo) / 255 + clip_lo")
    name = base.extractor if artifact.kind == "tfidf_lsa" else f"{base.extractor}+{artifact.kind}"
    return FeatureSpec(name, int(artifact.params.get("dims", base.dim)), config, base.model_hash, artifact.content_hash)


class SaveArtifacts(beam.DoFn):
    """Artifact → its description, once written to ``folder``. None (a fit without rows) is
    recorded as not fitted under ``name``; so is a dict, a refused fit's report naming itself."""

    def __init__(self, folder: str, name: Optional[str] = None, source: Optional[str] = None):
        self.folder, self.name, self.source = folder, name, source  # source: the --artifacts_from it was read from

    def process(self, artifact):
        if isinstance(artifact, Artifact):
            yield save_artifact(artifact, self.folder)
        elif isinstance(artifact, dict):
            yield save_not_fitted(self.folder, artifact["name"], artifact)
        elif self.name:
            facts = read_not_fitted(self.source, self.name) if self.source else {"reason": "no rows had this column"}
            yield save_not_fitted(self.folder, self.name, facts)


class LoadArtifact(beam.PTransform):
    """A one-element PCollection: the artifact ``name`` read from ``folder`` on a worker."""

    def __init__(self, folder: str, name: str):
        super().__init__()
        self.folder, self.name = folder, name

    def expand(self, pbegin):
        return pbegin | "Name" >> beam.Create([self.name]) | "Load" >> beam.Map(lambda n, d: load_artifact(d, n), self.folder)


class _ApplyFn(beam.DoFn):
    """Fitted artifacts (side inputs) applied to each row; a row they cannot take is a dead
    letter. The TF-IDF applier is built once per DoFn instance, not once per row."""

    def setup(self):
        self.prepared: dict = {}

    def process(self, row: dict, quantize, **artifacts):
        try:
            applied = _apply(row, artifacts, quantize, self.prepared)
        except Exception as err:
            yield beam.pvalue.TaggedOutput(ERRORS, error_record(media_id_of(row), None, "analyzers", err))
            return
        yield applied


class FitAnalyzers(beam.PTransform):
    """Window rows → ``{"rows", "specs", "artifacts", "errors"}``: rows with fitted columns, one
    ``{column: FeatureSpec}`` dict naming each artifact's hash, artifact descriptions, and dead
    letters of rows the artifacts could not be applied to."""

    def __init__(self, analyzers: AnalyzerSettings, names: Mapping[str, str], output: str, base_specs: Mapping[str, FeatureSpec]):
        super().__init__()
        self.analyzers, self.names, self.output, self.base_specs = analyzers, dict(names), output, dict(base_specs)

    def _fitted(self, rows, column: str, name: str):
        cfg = self.analyzers
        p = rows.pipeline
        if cfg.artifacts_from:
            return p | f"Read_{name}" >> LoadArtifact(cfg.artifacts_from, name)
        if column == "text":
            tokens = rows | "Tokens" >> beam.Map(lambda r: r.get("tokens") or [])
            doc_freq = tokens | "DocFreq" >> beam.CombineGlobally(DocFreqFn())
            sample = (
                rows
                | "WithTokens" >> beam.Filter(lambda r: bool(r.get("tokens")))
                | "KeyTokens" >> beam.Map(lambda r: (_window_key(r), r["tokens"]))
                | "SampleTokens" >> beam.CombineGlobally(SampleFn(cfg.fit_sample, key=lambda e: e[0]))
            )
            return doc_freq | "FitTfidf" >> beam.Map(
                lambda df, s: fit_tfidf_lsa(df, [t for _, t in s], cfg.dims, cfg.tfidf_vocab), beam.pvalue.AsSingleton(sample)
            )
        keyed = (
            rows
            | f"Has_{column}" >> beam.Filter(lambda r, c: r.get(c) is not None, column)
            | f"Vec_{column}" >> beam.Map(lambda r, c: (_window_key(r), np.asarray(r[c], np.float32)), column)
        )
        moments = keyed | f"Moments_{column}" >> beam.Values() | f"Sum_{column}" >> beam.CombineGlobally(MomentsFn())
        if cfg.reduce == "ica":
            sample = keyed | f"Sample_{column}" >> beam.CombineGlobally(SampleFn(cfg.fit_sample, key=lambda e: e[0]))
        else:
            sample = rows.pipeline | f"NoSample_{column}" >> beam.Create([[]])
        return moments | f"Fit_{column}" >> beam.Map(_fit_column, beam.pvalue.AsSingleton(sample), cfg.reduce, cfg.dims, column)

    def expand(self, rows):
        fitted = {column: self._fitted(rows, column, name) for column, name in self.names.items()}
        side = {column: beam.pvalue.AsSingleton(pc) for column, pc in fitted.items()}
        applied = rows | "ApplyAnalyzers" >> beam.ParDo(_ApplyFn(), self.analyzers.quantize, **side).with_outputs(
            ERRORS, main="main"
        )
        base = self.base_specs
        quantize = self.analyzers.quantize
        p = rows.pipeline
        specs = (
            p
            | "SpecSeed" >> beam.Create([None])
            | "Specs" >> beam.Map(lambda _, **arts: {c: _spec(base[c], a, quantize) for c, a in arts.items()}, **side)
        )
        folder = join(self.output, "artifacts")
        source = self.analyzers.artifacts_from
        saved = [
            pc | f"Save_{column}" >> beam.ParDo(SaveArtifacts(folder, self.names[column], source))
            for column, pc in fitted.items()
        ]
        artifacts = tuple(saved) | "Artifacts" >> beam.Flatten() if saved else p | "NoArtifacts" >> beam.Create([])
        return {"rows": applied.main, "specs": specs, "artifacts": artifacts, "errors": applied[ERRORS]}


def _present(row: dict, columns: tuple) -> list:
    return [(c, np.asarray(row[c], np.float32)) for c in columns if row.get(c) is not None]


def _fusion_spec(artifact: Optional[Artifact]) -> Optional[FeatureSpec]:
    if artifact is None:
        return None
    layout = fusion_layout(artifact)
    config = {"fitted": artifact.kind, "artifact": artifact.name, "layout": layout, **dict(artifact.params)}
    return FeatureSpec("early_fusion", layout[-1][2], config, None, artifact.content_hash)


class _FuseEarlyFn(beam.DoFn):
    def process(self, row: dict, artifact):
        try:
            fused = None if artifact is None else fused_vector(row, artifact)
        except Exception as err:
            yield beam.pvalue.TaggedOutput(ERRORS, error_record(media_id_of(row), None, "fusion", err))
            return
        yield {**row, "fused": fused}


class EarlyFusion(beam.PTransform):
    """Window rows → ``{"rows": rows with a ``fused`` column, "spec": its FeatureSpec (one
    element; None when nothing was fitted), "artifacts": the description written, "errors"}``.
    The statistics are fitted over every row (CombineGlobally) or read from ``artifacts_from``."""

    def __init__(self, columns: tuple, output: str, artifacts_from: Optional[str] = None):
        super().__init__()
        self.columns, self.output, self.artifacts_from = tuple(columns), output, artifacts_from

    def expand(self, rows):
        if self.artifacts_from:
            artifact = rows.pipeline | "ReadFusion" >> LoadArtifact(self.artifacts_from, FUSION_EARLY)
        else:
            artifact = (
                rows
                | "FusionVectors" >> beam.FlatMap(_present, self.columns)
                | "FusionMoments" >> beam.CombineGlobally(DiagonalMomentsFn())
                | "FitFusion" >> beam.Map(fit_early_fusion, self.columns)
            )
        fused = rows | "FuseEarly" >> beam.ParDo(_FuseEarlyFn(), beam.pvalue.AsSingleton(artifact)).with_outputs(
            ERRORS, main="rows"
        )
        save = SaveArtifacts(join(self.output, "artifacts"), FUSION_EARLY, self.artifacts_from)
        return {
            "rows": fused.rows,
            "spec": artifact | "FusionSpec" >> beam.Map(_fusion_spec),
            "artifacts": artifact | "SaveFusion" >> beam.ParDo(save),
            "errors": fused[ERRORS],
        }
