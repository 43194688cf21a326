"""Command-line flags of ``mmfuse`` / ``python -m mmfuse.pipelines.extract``.

Nothing is declared here: every flag is a setting of :mod:`mmfuse.settings` (type, default,
help, allowed values), shown in ``--help`` in one group per stage. The flags also live in a
``PipelineOptions`` subclass, so runners that display options (Dataflow) show them;
``parse_args`` checks them and turns them into an :class:`~mmfuse.settings.ExtractConfig`.
"""

from __future__ import annotations

import argparse
import difflib
from dataclasses import dataclass

from apache_beam.options.pipeline_options import PipelineOptions

from mmfuse.errors import ConfigError
from mmfuse.settings import GROUPS, ExtractConfig, JobSettings, Setting, settings_of

__all__ = ["JobArgs", "MmfuseOptions", "add_settings", "build_parser", "parse_args"]

_EPILOG = """\
Beam's own flags pass through unchanged, for example:
  --runner DirectRunner|FnApiRunner|DataflowRunner|FlinkRunner|PortableRunner|DaskRunner
  --dask_client_address tcp://HOST:8786 (DaskRunner; see docs/dask.md)
  --direct_running_mode in_memory|multi_threading|multi_processing --direct_num_workers N
See README.md for Dataflow and Flink submission.

Examples:
  mmfuse --videos 'data/*.mp4' --output out/run1
  mmfuse --manifest items.jsonl --output gs://bucket/features --fps 1 --window 2 --hop 1
"""


def _help(s: Setting) -> str:
    if s.default is None or s.default is False or "Default" in s.help:
        return s.help
    return f"{s.help} Default {s.default}."


def _add(group, s: Setting) -> None:
    if s.type is bool:
        group.add_argument(f"--{s.name}", action="store_true", default=s.default, help=_help(s))
        return
    kwargs = {"default": s.default, "help": _help(s)}
    if s.type is not str:
        kwargs["type"] = s.type
    if s.choices is not None:
        kwargs["choices"] = list(s.choices)
    if s.metavar:
        kwargs["metavar"] = s.metavar
    group.add_argument(f"--{s.name}", **kwargs)


def add_settings(parser) -> None:
    """Every setting as a flag of ``parser``, one argument group per settings class."""
    for klass in (JobSettings, *GROUPS.values()):
        group = parser.add_argument_group((klass.__doc__ or klass.__name__).strip().splitlines()[0].rstrip("."))
        for s in settings_of(klass):
            _add(group, s)


class MmfuseOptions(PipelineOptions):
    @classmethod
    def _add_argparse_args(cls, parser):
        add_settings(parser)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mmfuse",
        description="Decode videos, audio and transcripts, align them on one media clock, and write "
        "fused per-window feature tables as Parquet.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_settings(parser)
    return parser


@dataclass(frozen=True)
class JobArgs:
    """A parsed command line: the job's own settings, the extraction config, Beam's flags."""

    settings: JobSettings
    config: ExtractConfig
    beam_args: list

    def __getattr__(self, name: str):  # job.output, job.manifest, …: the job's settings
        if name == "settings":
            raise AttributeError(name)
        return getattr(self.settings, name)


def _known_beam_flags() -> set[str]:
    parser = argparse.ArgumentParser(add_help=False)
    seen = set()

    def visit(cls):
        for sub in cls.__subclasses__():
            if sub not in seen:
                seen.add(sub)
                try:
                    sub._add_argparse_args(parser)
                except argparse.ArgumentError:
                    pass  # a flag two option classes both declare
                visit(sub)

    visit(PipelineOptions)
    return {s for a in parser._actions for s in a.option_strings}


def _check_beam_args(beam_args: list) -> None:
    if any(a.startswith("--dask_") for a in beam_args):  # DaskOptions exist once their module is imported
        try:
            import apache_beam.runners.dask.dask_runner  # noqa: F401
        except ImportError:
            raise ConfigError("the --dask_* flags need Dask: pip install 'mmfuse[dask]'") from None
    known = _known_beam_flags()
    for arg in beam_args:
        if not arg.startswith("--"):
            continue
        flag = arg.split("=", 1)[0]
        if flag not in known:
            close = difflib.get_close_matches(flag, sorted(known), n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            raise ConfigError(f"unknown flag {flag}{hint} (mmfuse --help lists the flags)")


def _check_glob_not_expanded(argv: list) -> None:
    """``--videos data/*.mp4`` without quotes reaches us as ``--videos a.mp4 b.mp4 …``: the
    shell expanded it, and all but the first file would be taken for other arguments."""
    for i, arg in enumerate(argv):
        if arg == "--videos" or arg.startswith("--videos="):
            rest = argv[i + (1 if "=" in arg else 2) :]
            extra = next((n for n, a in enumerate(rest) if a.startswith("-")), len(rest))
            if extra:
                raise ConfigError(
                    f"--videos takes one glob, but {extra + 1} paths follow it: the shell expanded the pattern. "
                    "Quote it: --videos 'data/clips/*.mp4'"
                )


def parse_args(argv: list) -> JobArgs:
    """Split ``argv`` into mmfuse's settings and Beam's flags; raise :class:`ConfigError` with
    a message naming the flag for anything wrong."""
    _check_glob_not_expanded(argv)
    args, beam_args = build_parser().parse_known_args(argv)
    _check_beam_args(beam_args)
    values = vars(args)
    job = JobSettings(**{s.name: values[s.name] for s in settings_of(JobSettings)})
    config = ExtractConfig(
        **{name: klass(**{s.name: values[s.name] for s in settings_of(klass)}) for name, klass in GROUPS.items()}
    )
    return JobArgs(job, config, beam_args)
