"""Entry point: ``mmfuse`` / ``python -m mmfuse.pipelines.extract --help``.

Checks flags, inputs and the output folder before any job starts, wires the transforms, runs
the job and prints a summary. Exit codes: 0 when the job ran (bad media files are reported in
``errors/``, not fatal), 2 for a bad flag or unusable inputs, 1 when the job itself failed.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import signal
import sys
from typing import Optional

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions, TestOptions

from mmfuse.errors import ConfigError, InputError, MmfuseError, OutputError
from mmfuse.fs import exists, join
from mmfuse.pipelines.job import add_to_run_json, build_pipeline, collect_metrics, fingerprint_of, resumable_config
from mmfuse.pipelines.options import JobArgs, parse_args
from mmfuse.pipelines.summary import format_summary, read_run_json
from mmfuse.remote import check_reachable
from mmfuse.transforms.counters import PROGRESS_ENV
from mmfuse.transforms.extraction import artifact_files, feature_specs
from mmfuse.transforms.inputs.labels import check_labels
from mmfuse.transforms.inputs.listing import check_manifest, list_glob
from mmfuse.transforms.sinks.runfolder import STAGING, RunLock, promote, recover, run_entries

__all__ = ["check_inputs", "check_resources", "main", "prepare_output", "run"]

_LOG = logging.getLogger("mmfuse")


def prepare_output(output: str, overwrite: bool) -> bool:
    """Refuse to mix two runs' tables in one folder unless told to replace them; True when an
    earlier run is there to be replaced. Nothing is deleted here: the new run is written
    beside it and swapped in once complete (:func:`~mmfuse.transforms.sinks.runfolder.promote`)."""
    present = [p.rstrip("/").rsplit("/", 1)[-1] for p in run_entries(output)]
    if present and not overwrite:
        raise ConfigError(f"{output} already holds a run ({', '.join(present)}); pass --overwrite or choose another --output")
    return bool(present)


def check_inputs(job: JobArgs) -> tuple[int, frozenset]:
    """(number of inputs, ``--videos`` ids that two files share without their extension)."""
    if job.labels_file:
        check_labels(job.labels_file)
    return (check_manifest(job.manifest), frozenset()) if job.manifest else list_glob(job.videos)


_LOCAL_RUNNERS = {"directrunner", "fnapirunner", "bundlebaseddirectrunner", "switchingdirectrunner", "prismrunner"}


def check_resources(job: JobArgs, options: PipelineOptions) -> dict:
    """Model files and artifacts exist and can be used; a local run asking for a GPU has one.
    (On Dataflow the GPU is checked on the worker, where the model is loaded.) Returns the
    feature specs (:func:`~mmfuse.transforms.extraction.feature_specs`: model files hashed
    once per job)."""
    features, artifacts_from = job.config.features, job.config.analyzers.artifacts_from
    for flag, path, arch_flag, arch in (
        ("--visual_model", features.visual_model if features.visual == "cnn" else None, "--visual_arch", features.visual_arch),
        ("--audio_model", features.audio_model if features.audio == "rnn" else None, "--audio_arch", features.audio_arch),
    ):
        if path:
            _check_model(flag, path, arch_flag, arch)
    try:
        specs = feature_specs(features, job.config.analyzers)
    except ImportError as err:  # a pretrained model's packages are missing
        raise ConfigError(str(err)) from None
    if artifacts_from:
        missing = [n for n in artifact_files(job.config) if not exists(join(artifacts_from, f"{n}.json"))]
        if missing:
            raise ConfigError(f"--artifacts_from {artifacts_from} lacks {', '.join(missing)} (.npz + .json) for these settings")
        _check_artifacts(job, artifacts_from, specs)
    if features.uses_torch:
        try:
            import torch  # noqa: F401
        except ImportError:
            raise ConfigError(
                "--visual cnn or a pretrained model, --audio rnn and --text minilm need PyTorch: pip install 'mmfuse[cnn]'"
            ) from None
    if features.device == "cuda" and _runner_name(options) in _LOCAL_RUNNERS:
        from mmfuse.transforms.features.device import check_local_device

        try:
            check_local_device("cuda")
        except RuntimeError as err:
            raise ConfigError(str(err)) from None

    return specs


def _check_artifacts(job: JobArgs, folder: str, specs: dict) -> None:
    """Each artifact the job would apply loads, matches its hash, fits its column and holds
    finite numbers, before any worker reads it."""
    from mmfuse.transforms.analyzers.artifacts import check_artifact, load_artifact

    for name in artifact_files(job.config):
        try:
            artifact = load_artifact(folder, name)
            if artifact is None:  # that run recorded it as not fitted (no rows, too few pairs)
                continue
            spec = specs.get(artifact.column)
            check_artifact(artifact, spec.dim if spec is not None and isinstance(spec.dim, int) else None)
        except Exception as err:  # damaged files of any kind: one line, before the job starts
            detail = f"{type(err).__name__}: {err}" if not isinstance(err, ValueError) else str(err)
            raise ConfigError(
                f"--artifacts_from {folder}: {name} cannot be used ({detail}); fit it again or give another folder"
            ) from None


def _check_model(flag: str, path: str, arch_flag: str, arch: Optional[str]) -> None:
    """The model file exists and is what its flags say, before any worker tries to load it."""
    if not exists(path):
        raise ConfigError(f"{flag} {path} does not exist")
    from mmfuse.transforms.features.models import architecture, model_format

    kind = model_format(path)
    if kind == "unknown":
        raise ConfigError(
            f"{flag} {path} is not a PyTorch model file: give a TorchScript file or a state_dict saved with torch.save"
        )
    if kind == "state_dict" and not arch:
        raise ConfigError(
            f"{flag} {path} is a state_dict: name its architecture with {arch_flag} (small_cnn, small_gru or a torchvision.models name)"
        )
    if kind == "torchscript" and arch:
        # with an architecture the handler loads the file as a state_dict, which fails on a worker
        raise ConfigError(f"{flag} {path} is TorchScript, which carries its architecture: drop {arch_flag}")
    if arch:
        try:
            architecture(arch)
        except ValueError as err:
            raise ConfigError(f"{arch_flag}: {err}") from None


def _describe_dry_run(result) -> dict:
    """What a Dataflow dry run built: name, size, worker image, accelerator options."""
    from apache_beam.options.pipeline_options import DebugOptions, GoogleCloudOptions
    from apache_beam.portability import common_urns
    from apache_beam.portability.api import beam_runner_api_pb2

    info = {"dry_run": True, "submitted": False}
    job = getattr(result, "job", None)
    if job is None:
        return info
    proto = job.proto_pipeline
    info["job_name"] = job.proto.name
    info["transforms"] = len(proto.components.transforms)
    info["environments"] = [
        {"urn": env.urn, "image": beam_runner_api_pb2.DockerPayload.FromString(env.payload).container_image}
        if env.urn == common_urns.environments.DOCKER.urn
        else {"urn": env.urn}
        for env in proto.components.environments.values()
    ]
    info["dataflow_service_options"] = job.options.view_as(GoogleCloudOptions).dataflow_service_options or []
    info["experiments"] = job.options.view_as(DebugOptions).experiments or []
    return info


def run(argv: Optional[list] = None, test_pipeline: Optional[beam.Pipeline] = None) -> dict:
    """Run a job; returns the parsed ``run.json`` (with the job's counters under
    ``metrics``), or a description of the job for ``--dry_run``. Raises :class:`ConfigError`
    or :class:`InputError` before starting anything when flags or inputs are wrong."""
    argv = list(sys.argv[1:] if argv is None else argv)
    job = parse_args(argv)
    features = job.config.features
    check_reachable(  # a store without network or credentials: one line now, not minutes of retries
        [
            job.videos,
            job.manifest,
            job.labels_file,
            job.output,
            job.config.analyzers.artifacts_from,
            features.visual_model,
            features.audio_model,
        ]
    )
    n_inputs, collisions = check_inputs(job)
    options = PipelineOptions(argv)
    specs = check_resources(job, options)  # hashes model files: once per job
    dry_run = bool(options.view_as(TestOptions).dry_run)
    explicit_artifacts = job.config.analyzers.artifacts_from
    job = resumable_config(job)
    config_hash = fingerprint_of(job, explicit_artifacts, specs)
    if dry_run:
        p = test_pipeline or beam.Pipeline(runner=_runner(options), options=options)
        build_pipeline(p, job, n_inputs, config_hash, False, job.output, specs, collisions)
        return _describe_dry_run(p.run())
    # The folder's run is replaced only by a complete one: the job writes into the staging
    # folder and swaps it in at the end; a job that fails or is killed leaves the earlier run.
    with RunLock(job.output):
        note = recover(job.output)
        if note:
            _LOG.warning("%s: %s", job.output, note)
        if not job.skip_existing:
            prepare_output(job.output, job.overwrite)
        resume = job.skip_existing and exists(join(job.output, "media"))
        target = join(job.output, STAGING)
        p = test_pipeline or beam.Pipeline(runner=_runner(options), options=options)
        build_pipeline(p, job, n_inputs, config_hash, resume, target, specs, collisions)
        with _progress(_runner_name(options) in _LOCAL_RUNNERS), _output_errors(job.output):
            result = p.run()
            result.wait_until_finish()
        add_to_run_json(target, collect_metrics(result))
        promote(target, job.output)
    return read_run_json(job.output)


_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


def _disk_full(err: BaseException) -> bool:
    """Whether ``err`` or what caused it is a full disk or quota (runners re-raise a step's
    OSError as a RuntimeError that keeps only its text)."""
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, OSError) and err.errno in _DISK_FULL:
            return True
        if any(f"[Errno {n}]" in str(err) for n in _DISK_FULL) or "No space left on device" in str(err):
            return True
        err = err.__cause__ or err.__context__
    return False


@contextlib.contextmanager
def _output_errors(output: str):
    """A full disk ends the job with one line naming the folder, not a runner traceback."""
    try:
        yield
    except Exception as err:
        if _disk_full(err):
            raise OutputError(
                f"no space left on the device while writing {output}: free some or choose another --output "
                "(the earlier run there, if any, is kept)"
            ) from None
        raise


@contextlib.contextmanager
def _progress(enabled: bool):
    """Turn the live progress line on for local runs on a terminal (workers inherit it)."""
    previous = os.environ.get(PROGRESS_ENV)
    if enabled and sys.stderr.isatty():
        os.environ[PROGRESS_ENV] = "1"
    try:
        yield
    finally:
        if enabled and sys.stderr.isatty():
            sys.stderr.write("\n")
        if previous is None:
            os.environ.pop(PROGRESS_ENV, None)
        else:
            os.environ[PROGRESS_ENV] = previous


def _runner_name(options: PipelineOptions) -> str:
    return (options.view_as(StandardOptions).runner or "DirectRunner").rsplit(".", 1)[-1].lower()


def _runner(options: PipelineOptions):
    """``--runner DaskRunner`` (a name Beam 2.77 does not know, and a runner that cannot run
    this job as Beam ships it) is mmfuse's DaskRunner; other runners are Beam's own."""
    if _runner_name(options) != "daskrunner":
        return None
    try:
        from mmfuse.dask_runner import DaskRunner
    except ImportError:
        raise ConfigError("--runner DaskRunner needs Dask: pip install 'mmfuse[dask]'") from None
    return DaskRunner()


class _Interrupt:
    """Ctrl-C in the main thread: Beam re-raises it from inside a step as a RuntimeError with
    a traceback per stage; remembering that it came lets ``main`` end with one line."""

    def __init__(self):
        self.seen = False

    def __call__(self, signum, frame):
        self.seen = True
        logging.disable(logging.CRITICAL)  # the runner's own reports of the stopped steps
        raise KeyboardInterrupt

    @contextlib.contextmanager
    def installed(self):
        try:
            previous = signal.signal(signal.SIGINT, self)
        except ValueError:  # not the main thread: leave signals alone
            yield
            return
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)
            logging.disable(logging.NOTSET)


def main(argv: Optional[list] = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    interrupt = _Interrupt()
    try:
        with interrupt.installed():
            summary = run(argv)
    except Exception as err:
        if not interrupt.seen:
            return _failed(err)
        print("mmfuse: interrupted", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("mmfuse: interrupted", file=sys.stderr)
        return 130
    if summary.get("dry_run"):
        print("mmfuse: dry run, job built and not submitted: " + json.dumps({k: v for k, v in summary.items() if k != "dry_run"}))
    else:
        print(format_summary(summary))
    return 0


def _failed(err: Exception) -> int:
    """Exit code and one line for mmfuse's own errors; anything else is a bug and propagates."""
    if isinstance(err, (ConfigError, InputError)):
        print(f"mmfuse: error: {err}", file=sys.stderr)
        return 2
    if isinstance(err, MmfuseError):
        print(f"mmfuse: error: {err}", file=sys.stderr)
        return 1
    raise err


if __name__ == "__main__":  # `python -m pipelines.X` from a checkout runs the installed module
    from mmfuse.pipelines.extract import main as _main

    sys.exit(_main())
