"""The job graph of ``mmfuse.pipelines.extract``: inputs, fingerprints, resume, extraction, sinks."""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Mapping, Optional

import apache_beam as beam

from mmfuse.fs import exists, join, read_bytes, write_bytes
from mmfuse.pipelines.options import JobArgs
from mmfuse.schemas.tables import FeatureSpec
from mmfuse.settings import ExtractConfig
from mmfuse.transforms.analyzers.artifacts import load_artifact
from mmfuse.transforms.counters import NAMESPACE
from mmfuse.transforms.deadletter import ERRORS
from mmfuse.transforms.extraction import ExtractFeatures, artifact_files, feature_specs, table_schemas
from mmfuse.transforms.fuse.beam import RunCounts
from mmfuse.transforms.inputs.beam import ReadInputs
from mmfuse.transforms.sinks.beam import CarryOver, Fingerprint, ReadDone, WriteRunSummary, WriteTables, split_items
from mmfuse.transforms.sinks.resume import PENDING, SKIPPED, config_fingerprint

__all__ = ["add_to_run_json", "build_pipeline", "collect_metrics", "fingerprint_of", "resumable_config"]


def resumable_config(job: JobArgs) -> JobArgs:
    """A resumed run applies the analyzers its output folder was fitted with, so carried-over
    and new rows share one projection."""
    cfg = job.config
    fitted = cfg.fits or cfg.content.semantic_align
    if job.skip_existing and fitted and not cfg.analyzers.artifacts_from and exists(join(job.output, "artifacts")):
        return dataclasses.replace(job, config=cfg.replace(artifacts_from=join(job.output, "artifacts")))
    return job


def fingerprint_of(job: JobArgs, explicit_artifacts: Optional[str], specs: Mapping[str, FeatureSpec]) -> str:
    """The settings part of every item's fingerprint; models (their hashes in ``specs``) and
    explicitly given artifacts count by content."""
    cfg = job.config
    content = {k: v.model_hash for k, v in specs.items() if v.model_hash}
    if explicit_artifacts:
        for name in artifact_files(cfg):
            artifact = load_artifact(explicit_artifacts, name)  # None: that run did not fit it
            content[name] = artifact.content_hash if artifact is not None else "not fitted"
    return config_fingerprint(cfg.replace(artifacts_from=None), content)


def build_pipeline(
    p: beam.Pipeline,
    job: JobArgs,
    n_inputs: Optional[int] = None,
    config_hash: str = "",
    resume: bool = False,
    target: Optional[str] = None,
    specs: Optional[dict[str, FeatureSpec]] = None,
    collisions: frozenset = frozenset(),
) -> None:
    """Wire the whole job onto ``p``. With ``resume``, items whose fingerprint the earlier
    run in ``job.output`` holds are carried over; tables go to ``target``. ``specs``
    (from ``feature_specs``) is computed when not given; model files are hashed there.
    ``collisions``: ``--videos`` ids that keep their extension (two files share the stem)."""
    target = target or job.output
    cfg: ExtractConfig = job.config
    specs = specs if specs is not None else feature_specs(cfg.features, cfg.analyzers)
    inputs = p | "Inputs" >> ReadInputs(job.manifest, job.videos, collisions, job.labels_file)
    items = inputs["items"] | "Fingerprint" >> beam.ParDo(Fingerprint(config_hash))
    skipped = None
    if resume:
        split = split_items(items, p | "EarlierRun" >> ReadDone(job.output))
        items, skipped = split[PENDING], split[SKIPPED]
    tables = dict(items | "Extract" >> ExtractFeatures(cfg, target, specs))
    fitted_specs, artifacts = tables.pop("feature_specs", None), tables.pop("artifacts", None)
    input_errors = inputs[ERRORS] | "InputErrorRows" >> beam.Map(lambda e: e.as_row())
    tables["errors"] = (tables["errors"], input_errors) | "ErrorTable" >> beam.Flatten()
    if skipped is not None:
        for name in list(tables):
            if exists(join(job.output, name)):
                old = skipped | f"CarryOver_{name}" >> CarryOver(job.output, name)
                tables[name] = (tables[name], old) | f"WithCarried_{name}" >> beam.Flatten()
    written = tables | "Write" >> WriteTables(target, table_schemas(cfg, specs), fitted_specs)
    run_config = {
        **cfg.as_dict(),
        "manifest": job.manifest,
        "videos": job.videos,
        "labels_file": job.labels_file,
        "output": job.output,
        "listed_inputs": n_inputs,
        "skip_existing": job.skip_existing,
        "settings_fingerprint": config_hash,
    }
    summary = {"media": tables["media"], "errors": tables["errors"], "written": written}
    if artifacts is not None:
        summary["artifacts"] = artifacts
    _ = summary | "RunSummary" >> WriteRunSummary(target, run_config, RunCounts(), started_at=time.time())


def collect_metrics(result) -> dict:
    """The job's ``mmfuse`` counters (committed where the runner reports them)."""
    try:
        query = result.metrics().query()
    except Exception:  # a runner without metrics support
        return {}
    out = {}
    for counter in query.get("counters", []):
        if counter.key.metric.namespace != NAMESPACE:
            continue
        value = counter.committed if counter.committed is not None else counter.attempted
        out[counter.key.metric.name] = out.get(counter.key.metric.name, 0) + int(value or 0)
    return dict(sorted(out.items()))


def add_to_run_json(output: str, metrics: dict) -> dict:
    path = join(output, "run.json")
    doc = json.loads(read_bytes(path))
    doc["metrics"] = metrics
    write_bytes(path, (json.dumps(doc, indent=2, default=str) + "\n").encode(), "application/json")
    return doc
