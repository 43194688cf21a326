"""Entry point: ``mmfuse`` / ``python -m pipelines.extract --help``.

Checks flags, inputs and the output folder before any job starts, wires the transforms, runs
the job and prints a summary. Exit codes: 0 when the job ran (bad media files are reported in
``errors/``, not fatal), 2 for a bad flag or unusable inputs, 1 when the job itself failed.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Optional

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from pipelines.options import JobArgs, parse_args
from pipelines.summary import format_summary, read_run_json
from schemas.tables import TABLES
from transforms.errors import ConfigError, InputError, MmfuseError
from transforms.extract import ExtractFeatures, table_schemas
from transforms.inputs import ERRORS, ReadInputs, check_glob, check_manifest
from transforms.io import exists, join
from transforms.report import RunCounts
from transforms.sinks import WriteRunSummary, WriteTables

__all__ = ["build_pipeline", "main", "prepare_output", "run"]

_LOG = logging.getLogger("mmfuse")


def prepare_output(output: str, overwrite: bool) -> None:
    """Refuse to mix two runs' tables in one folder unless told to replace them."""
    present = [t for t in (*TABLES, "artifacts", "run.json") if exists(join(output, t))]
    if not present:
        return
    if not overwrite:
        raise ConfigError(f"{output} already holds a run ({', '.join(present)}); pass --overwrite or choose another --output")
    FileSystems.delete([join(output, t) for t in present])


def check_inputs(job: JobArgs) -> int:
    return check_manifest(job.manifest) if job.manifest else check_glob(job.videos)


_LOCAL_RUNNERS = {"directrunner", "fnapirunner", "bundlebaseddirectrunner", "switchingdirectrunner", "prismrunner"}


def check_resources(job: JobArgs, options: PipelineOptions) -> None:
    """Model files and artifacts exist; a local run asking for a GPU has one. (On Dataflow the
    GPU is checked on the worker, where the model is loaded.)"""
    cfg = job.config
    for flag, path in (("--visual_model", cfg.visual_model if cfg.visual == "cnn" else None),
                       ("--audio_model", cfg.audio_model if cfg.audio == "rnn" else None)):
        if path and not exists(path):
            raise ConfigError(f"{flag} {path} does not exist")
    if cfg.artifacts_from:
        from transforms.analyzers.transform import artifact_names

        names = list(artifact_names(cfg).values()) + (["semantic_cca"] if cfg.semantic_align else [])
        missing = [n for n in names if not exists(join(cfg.artifacts_from, f"{n}.npz"))]
        if missing:
            raise ConfigError(f"--artifacts_from {cfg.artifacts_from} lacks {', '.join(missing)} (.npz + .json) for these settings")
    if cfg.visual == "cnn" or cfg.audio == "rnn" or cfg.text == "minilm":
        try:
            import torch  # noqa: F401
        except ImportError:
            raise ConfigError("--visual cnn, --audio rnn and --text minilm need PyTorch: pip install 'mmfuse[cnn]'") from None
    runner = (options.view_as(StandardOptions).runner or "DirectRunner").rsplit(".", 1)[-1].lower()
    if cfg.device == "cuda" and runner in _LOCAL_RUNNERS:
        from transforms.models import check_local_device

        try:
            check_local_device("cuda")
        except RuntimeError as err:
            raise ConfigError(str(err)) from None


def build_pipeline(p: beam.Pipeline, job: JobArgs, n_inputs: Optional[int] = None) -> None:
    """Wire the whole job onto ``p``."""
    inputs = p | "Inputs" >> ReadInputs(job.manifest, job.videos)
    tables = dict(inputs["items"] | "Extract" >> ExtractFeatures(job.config, job.output))
    specs, artifacts = tables.pop("feature_specs", None), tables.pop("artifacts", None)
    input_errors = inputs[ERRORS] | "InputErrorRows" >> beam.Map(lambda e: e.as_row())
    tables["errors"] = (tables["errors"], input_errors) | "ErrorTable" >> beam.Flatten()
    schemas = table_schemas(job.config)
    written = tables | "Write" >> WriteTables(job.output, schemas, specs)
    run_config = {
        **job.config.as_dict(),
        "manifest": job.manifest,
        "videos": job.videos,
        "output": job.output,
        "listed_inputs": n_inputs,
    }
    summary_inputs = {"media": tables["media"], "errors": tables["errors"], "written": written}
    if artifacts is not None:
        summary_inputs["artifacts"] = artifacts
    _ = summary_inputs | "RunSummary" >> WriteRunSummary(job.output, run_config, RunCounts(), started_at=time.time())


def run(argv: Optional[list] = None, test_pipeline: Optional[beam.Pipeline] = None) -> dict:
    """Run a job; returns the parsed ``run.json``. Raises :class:`ConfigError` or
    :class:`InputError` before starting anything when flags or inputs are wrong."""
    argv = list(sys.argv[1:] if argv is None else argv)
    job = parse_args(argv)
    n_inputs = check_inputs(job)
    options = PipelineOptions(argv)
    check_resources(job, options)
    prepare_output(job.output, job.overwrite)
    p = test_pipeline or beam.Pipeline(options=options)
    build_pipeline(p, job, n_inputs)
    result = p.run()
    result.wait_until_finish()
    return read_run_json(job.output)


def main(argv: Optional[list] = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        summary = run(argv)
    except (ConfigError, InputError) as err:
        print(f"mmfuse: error: {err}", file=sys.stderr)
        return 2
    except MmfuseError as err:
        print(f"mmfuse: error: {err}", file=sys.stderr)
        return 1
    print(format_summary(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
