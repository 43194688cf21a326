"""Command-line flags of ``mmfuse`` / ``python -m mmfuse.pipelines.extract``.

The flags live in a ``PipelineOptions`` subclass, so runners that display options (Dataflow)
show them; ``parse_args`` checks them and turns them into an ``ExtractConfig``.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
from dataclasses import dataclass
from typing import Optional

from apache_beam.options.pipeline_options import PipelineOptions

from mmfuse.errors import ConfigError
from mmfuse.settings import ExtractConfig
from mmfuse.transforms.features import AUDIO_CHOICES, TEXT_CHOICES, VISUAL_CHOICES

__all__ = ["JobArgs", "MmfuseOptions", "build_parser", "parse_args"]

_EPILOG = """\
Beam's own flags pass through unchanged, for example:
  --runner DirectRunner|FnApiRunner|DataflowRunner|FlinkRunner|PortableRunner
  --direct_running_mode in_memory|multi_threading|multi_processing --direct_num_workers N
See README.md for Dataflow and Flink submission.

Examples:
  mmfuse --videos 'data/*.mp4' --output out/run1
  mmfuse --manifest items.jsonl --output gs://bucket/features --fps 1 --window 2 --hop 1
"""


class MmfuseOptions(PipelineOptions):
    @classmethod
    def _add_argparse_args(cls, parser):
        add = parser.add_argument
        add(
            "--manifest",
            default=None,
            metavar="FILE.jsonl",
            help='Inputs as JSON lines: {"id": ..., "video": ..., "audio": ..., "transcript": ...}; '
            "video or audio is required, relative paths are resolved against the manifest's folder.",
        )
        add(
            "--videos",
            default=None,
            metavar="GLOB",
            help="Inputs as a glob of media files (quote it); a transcript with the same stem "
            "(.srt, .vtt or Whisper .json) is used when present. Exactly one of --manifest/--videos.",
        )
        add(
            "--output",
            default=None,
            metavar="DIR",
            help="Output folder (local or any Beam filesystem): windows/, media/, errors/, run.json.",
        )
        add(
            "--overwrite",
            action="store_true",
            default=False,
            help="Replace the tables of an earlier run in --output instead of refusing to start.",
        )
        add(
            "--skip_existing",
            action="store_true",
            default=False,
            help="Resume: keep the rows of items whose files and settings are unchanged since the run "
            "already in --output (failed items are retried), process the rest, rewrite the tables. "
            "Fitted analyzers of that run are applied, not refitted.",
        )
        add(
            "--fps",
            type=float,
            default=2.0,
            help="Video frames sampled per second, chosen by PTS against a k/fps grid; 0 keeps every frame. Default 2.",
        )
        add("--window", type=float, default=1.0, help="Window length in seconds. Default 1.")
        add(
            "--hop",
            type=float,
            default=1.0,
            help="Seconds between window starts; window i covers [i*hop, i*hop + window). Default 1.",
        )
        add(
            "--chunk_seconds",
            type=float,
            default=60.0,
            help="Video is decoded in chunks of this many seconds, in parallel. Default 60.",
        )
        add(
            "--visual",
            default="basic",
            choices=list(VISUAL_CHOICES),
            help="Visual features per frame, averaged over each window: basic = colour histogram "
            "+ 8x8 thumbnail + edge density and luma statistics; cnn = a PyTorch image model "
            "(--visual_model). Default basic.",
        )
        add(
            "--audio",
            default="logmel",
            choices=list(AUDIO_CHOICES),
            help="Audio features of each window: mean and std of log-mel bands or MFCCs; rnn = a "
            "PyTorch sequence model over the window's log-mel frames (--audio_model). Default logmel.",
        )
        add("--n_mels", type=int, default=64, help="Mel bands of the audio features. Default 64.")
        add(
            "--text",
            default="hashing",
            choices=list(TEXT_CHOICES),
            help="Text features of each window's transcript: hashing = hashed bag of words (no fit); "
            "tfidf = TF-IDF fitted over the dataset, reduced to --dims by LSA; minilm = 384-d "
            "sentence embeddings (mmfuse[text]). Default hashing.",
        )
        add("--text_features", type=int, default=256, help="Width of the hashed text vector. Default 256.")
        add(
            "--visual_model",
            default=None,
            metavar="PATH",
            help="Image model for --visual cnn: a TorchScript file, or a state_dict with --visual_arch (any Beam filesystem).",
        )
        add(
            "--visual_arch",
            default=None,
            help="Architecture of a --visual_model state_dict: a torchvision.models name, or small_cnn (built in).",
        )
        add(
            "--visual_input_size",
            type=int,
            default=224,
            help="Frames are resized (shorter side) and centre-cropped to this. Default 224.",
        )
        add(
            "--visual_normalize",
            default="imagenet",
            choices=["imagenet", "none"],
            help="Pixel normalisation before the model: ImageNet mean/std, or none (0..1). Default imagenet.",
        )
        add(
            "--audio_model",
            default=None,
            metavar="PATH",
            help="Sequence model for --audio rnn, input (batch, time, n_mels): TorchScript, or a state_dict with --audio_arch.",
        )
        add("--audio_arch", default=None, help="Architecture of an --audio_model state_dict: small_gru (built in).")
        add(
            "--device",
            default="cpu",
            choices=["cpu", "cuda"],
            help="Where models run. cuda on a machine without a usable GPU stops the job instead of "
            "falling back to the CPU. Default cpu.",
        )
        add("--batch_size", type=int, default=32, help="Largest batch sent to a model. Default 32.")
        add(
            "--model_copies",
            type=int,
            default=None,
            help="Exact number of model copies per worker machine (Beam's model_copies; 1 = one per GPU). "
            "Default: one per worker process.",
        )
        add(
            "--reduce",
            default="none",
            choices=["none", "pca", "pca_whiten", "ica"],
            help="Reduce visual and audio features (each separately) with PCA, whitened PCA or ICA "
            "fitted over the whole dataset; fitted analyzers are written to artifacts/. Default none.",
        )
        add("--dims", type=int, default=128, help="Dimensions kept by --reduce and by TF-IDF's LSA. Default 128.")
        add(
            "--quantize",
            type=int,
            default=0,
            choices=[0, 8],
            help="8: store reduced features as 8-bit codes of the clip range [-2, 2] (YouTube-8M recipe; needs pca_whiten or ica).",
        )
        add(
            "--artifacts_from",
            default=None,
            metavar="DIR",
            help="Apply the analyzers in DIR (an earlier run's artifacts/) instead of fitting: training "
            "and serving features then match bit for bit.",
        )
        add("--tfidf_vocab", type=int, default=20000, help="Largest TF-IDF vocabulary. Default 20000.")
        add(
            "--fit_sample",
            type=int,
            default=20000,
            help="Rows in the deterministic sample that ICA and LSA are fitted on. Default 20000.",
        )
        add(
            "--shots",
            action="store_true",
            default=False,
            help="Find shot cuts on every decoded frame and write shots/ (implied by --semantic_align).",
        )
        add(
            "--semantic_align",
            action="store_true",
            default=False,
            help="Assign every transcript cue to the shot it talks about, in a text/picture space "
            "learned over the dataset (CCA); writes alignments/ and artifacts/semantic_cca.",
        )
        add("--semantic_dims", type=int, default=16, help="Dimensions of the learned text/picture space. Default 16.")
        add(
            "--semantic_prior",
            type=float,
            default=5.0,
            help="Seconds: how far from its stated time a cue may move before the content must "
            "clearly say so (scale of the Gaussian time prior). Default 5.",
        )
        add(
            "--frames_table",
            action="store_true",
            default=False,
            help="Also write frames/: one row per sampled frame with its time and visual features.",
        )
        add(
            "--decode_threads",
            type=int,
            default=1,
            help="Decoder threads per video chunk; 0 lets ffmpeg choose (one per core). Chunks of "
            "long videos already decode in parallel across workers. With more than one thread, "
            "ffmpeg's own messages about damaged data are not collected into media/ warnings. Default 1.",
        )
        add(
            "--sync_transcripts",
            action="store_true",
            default=False,
            help="Estimate how far each transcript is from the speech (offset, drift, confidence) "
            "from voice activity; reported in media/.",
        )
        add(
            "--apply_transcript_offset",
            action="store_true",
            default=False,
            help="Move cues by the estimated offset and drift before windowing (implies "
            "--sync_transcripts; skipped when the estimate's confidence is below 0.3).",
        )
        add("--max_transcript_offset", type=float, default=30.0, help="Largest subtitle offset searched, in seconds. Default 30.")
        add(
            "--av_sync",
            action="store_true",
            default=False,
            help="Estimate the audio/video offset from content (audio onsets against picture "
            "changes) over the first --av_sync_seconds; reported in media/ (positive: audio lags).",
        )
        add("--av_sync_seconds", type=float, default=120.0, help="Seconds examined by --av_sync. Default 120.")
        add(
            "--align_words",
            action="store_true",
            default=False,
            help="Force-align every cue's words to the audio and write words/ (plain-text "
            "transcripts become timed sentence cues).",
        )
        add(
            "--align_method",
            default="auto",
            choices=["auto", "sphinx", "tts"],
            help="auto: pocketsphinx for English, espeak-ng + DTW otherwise or when it fails. Default auto.",
        )
        add(
            "--language",
            default="en",
            help="Transcript language (espeak-ng voice code for non-English alignment, e.g. de, fr). Default en.",
        )
        add(
            "--video_stream",
            type=int,
            default=None,
            help="Use this video stream (0 = first video stream) instead of ffmpeg's default choice.",
        )
        add(
            "--audio_stream",
            type=int,
            default=None,
            help="Use this audio stream (0 = first audio stream) instead of ffmpeg's default choice.",
        )
        add(
            "--subtitle_stream",
            type=int,
            default=None,
            help="For items without a transcript file: read this subtitle stream of the video "
            "(0 = first subtitle stream). By default the first text subtitle stream is used when there is one.",
        )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mmfuse",
        description="Decode videos, audio and transcripts, align them on one media clock, and write "
        "fused per-window feature tables as Parquet.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    MmfuseOptions._add_argparse_args(parser)
    return parser


@dataclass(frozen=True)
class JobArgs:
    config: ExtractConfig
    manifest: Optional[str]
    videos: Optional[str]
    output: str
    overwrite: bool
    beam_args: list
    skip_existing: bool = False


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
    known = _known_beam_flags()
    for arg in beam_args:
        if not arg.startswith("--"):
            continue
        flag = arg.split("=", 1)[0]
        if flag not in known:
            close = difflib.get_close_matches(flag, sorted(known), n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            raise ConfigError(f"unknown flag {flag}{hint} (mmfuse --help lists the flags)")


def parse_args(argv: list) -> JobArgs:
    """Split ``argv`` into mmfuse's settings and Beam's flags; raise :class:`ConfigError` with
    a message naming the flag for anything wrong."""
    parser = build_parser()
    args, beam_args = parser.parse_known_args(argv)
    _check_beam_args(beam_args)
    if bool(args.manifest) == bool(args.videos):
        raise ConfigError("give exactly one of --manifest FILE.jsonl or --videos GLOB")
    if not args.output:
        raise ConfigError("--output DIR is required")
    # every ExtractConfig field has the flag of the same name
    config = ExtractConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(ExtractConfig)})
    if args.skip_existing and args.overwrite:
        raise ConfigError("--skip_existing keeps an earlier run's rows and --overwrite discards them: give one")
    return JobArgs(config, args.manifest, args.videos, args.output, args.overwrite, beam_args, args.skip_existing)
