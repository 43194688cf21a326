"""Every setting of mmfuse, declared once, grouped by the stage that uses it.

Each setting is a field of one frozen dataclass: its type, default, help text and allowed values
live there and nowhere else. The command line (``mmfuse --help``) is built from these fields, one
argument group per class, and :class:`ExtractConfig` holds one instance of each group, so a
stage is handed only the group it needs (``DecodeTasks(config.decode, ...)``).

Every value is a plain number, string or None: a config pickles small and hashes stably.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Literal, Optional

from mmfuse.clock import WindowGrid, seconds_to_us
from mmfuse.errors import ConfigError
from mmfuse.transforms.features import AUDIO_CHOICES, TEXT_CHOICES, VISUAL_CHOICES
from mmfuse.transforms.features.pretrained import PRETRAINED

__all__ = [
    "AlignSettings",
    "AnalyzerSettings",
    "ContentSettings",
    "DecodeSettings",
    "ExtractConfig",
    "FeatureSettings",
    "JobSettings",
    "Setting",
    "WindowSettings",
    "settings_of",
]


def setting(default: Any, help: str, *, choices: Optional[tuple] = None, metavar: Optional[str] = None):
    """A dataclass field with its command-line help; ``choices`` when the type does not say them."""
    return field(default=default, metadata={"help": help, "choices": choices, "metavar": metavar})


@dataclass(frozen=True)
class Setting:
    """One declared setting, as the command line sees it."""

    name: str
    type: type
    default: Any
    help: str
    choices: Optional[tuple]
    metavar: Optional[str]


def settings_of(group: type) -> list[Setting]:
    """The settings a group class declares, in order, with types resolved from annotations."""
    hints = typing.get_type_hints(group)
    out = []
    for f in dataclasses.fields(group):
        hint = hints[f.name]
        choices = f.metadata.get("choices")
        if typing.get_origin(hint) is typing.Union:  # Optional[X]
            hint = next(a for a in typing.get_args(hint) if a is not type(None))
        if typing.get_origin(hint) is Literal:
            choices = choices or typing.get_args(hint)
            hint = type(choices[0])
        out.append(Setting(f.name, hint, f.default, f.metadata["help"], choices and tuple(choices), f.metadata.get("metavar")))
    return out


def _need(cond: bool, message: str) -> None:
    if not cond:
        raise ConfigError(message)


def _check_choices(group) -> None:
    for s in settings_of(type(group)):
        value = getattr(group, s.name)
        if s.choices is not None and value not in s.choices:
            raise ConfigError(f"--{s.name} must be one of {', '.join(map(str, s.choices))}, got {value!r}")


def _exact_seconds(name: str, value: float) -> None:
    _need(value > 0, f"--{name} must be positive, got {value}")
    try:
        seconds_to_us(value)
    except ValueError:
        raise ConfigError(f"--{name} must be a whole number of microseconds, got {value}") from None


@dataclass(frozen=True)
class JobSettings:
    """What to read and where to write (the job itself)."""

    manifest: Optional[str] = setting(
        None,
        'Inputs as JSON lines: {"id": ..., "video": ..., "audio": ..., "transcript": ...}; '
        "video or audio is required, relative paths are resolved against the manifest's folder.",
        metavar="FILE.jsonl",
    )
    videos: Optional[str] = setting(
        None,
        "Inputs as a glob of media files (quote it); a transcript with the same stem "
        "(.srt, .vtt or Whisper .json, or stem.LANG.srt|vtt) is used when present. Exactly one of "
        "--manifest/--videos.",
        metavar="GLOB",
    )
    labels_file: Optional[str] = setting(
        None,
        "With --videos: labels by media id, a CSV with an 'id' column or JSON lines with an 'id' key; "
        "'label', 'split' and every other column reach media/ and windows/ (label, split, meta). "
        "A manifest carries these keys on its lines instead.",
        metavar="FILE.csv|jsonl",
    )
    output: Optional[str] = setting(
        None, "Output folder (local or any Beam filesystem): windows/, media/, errors/, run.json.", metavar="DIR"
    )
    overwrite: bool = setting(False, "Replace the tables of an earlier run in --output instead of refusing to start.")
    skip_existing: bool = setting(
        False,
        "Resume: keep the rows of items whose files and settings are unchanged since the run "
        "already in --output (failed items are retried), process the rest, rewrite the tables. "
        "Fitted analyzers of that run are applied, not refitted.",
    )

    def __post_init__(self):
        _need(bool(self.manifest) != bool(self.videos), "give exactly one of --manifest FILE.jsonl or --videos GLOB")
        _need(bool(self.output), "--output DIR is required")
        _need(
            not (self.labels_file and self.manifest), "--labels_file goes with --videos; a manifest carries labels on its lines"
        )
        _need(
            not (self.skip_existing and self.overwrite),
            "--skip_existing keeps an earlier run's rows and --overwrite discards them: give one",
        )


@dataclass(frozen=True)
class DecodeSettings:
    """Decoding (stage media): which streams, which frames, in what chunks."""

    fps: float = setting(2.0, "Video frames sampled per second, chosen by PTS against a k/fps grid; 0 keeps every frame.")
    chunk_seconds: float = setting(60.0, "Video is decoded in chunks of this many seconds, in parallel.")
    decode_threads: int = setting(
        1,
        "Decoder threads per video chunk; 0 lets ffmpeg choose (one per core). Chunks of long videos "
        "already decode in parallel across workers. With more than one thread, ffmpeg's own messages "
        "about damaged data are not collected into media/ warnings.",
    )
    video_stream: Optional[int] = setting(
        None, "Use this video stream (0 = first video stream) instead of ffmpeg's default choice."
    )
    audio_stream: Optional[int] = setting(
        None, "Use this audio stream (0 = first audio stream) instead of ffmpeg's default choice."
    )
    subtitle_stream: Optional[int] = setting(
        None,
        "For items without a transcript file: read this subtitle stream of the video (0 = first "
        "subtitle stream). By default the first text subtitle stream is used when there is one.",
    )
    max_megapixels: float = setting(
        40.0,
        "Largest video picture, in megapixels (8K UHD is 33.2); a larger one is refused (too_large) from its header.",
    )
    max_transcript_mb: float = setting(
        64.0, "Largest transcript file read, in MB; a larger one is an error of the item (too_large), which goes on without text."
    )
    task_timeout: float = setting(
        900.0,
        "Seconds one decode task (a video chunk or an item's audio) may take; past it the task ends "
        "in a typed error (timeout) and the job goes on. 0: no limit. Without --isolate_decode a "
        "decoder stuck in C code keeps its thread busy until the worker ends.",
    )
    isolate_decode: bool = setting(
        False,
        "Decode each task in a subprocess of the worker (Beam's with_exception_handling(use_subprocess=True)): "
        "a decoder that crashes or hangs costs that task only, and is killed at --task_timeout.",
    )

    def __post_init__(self):
        _need(self.task_timeout >= 0, "--task_timeout must be >= 0 (0: no limit)")
        _need(self.fps >= 0, f"--fps must be 0 (every frame) or positive, got {self.fps}")
        try:
            Fraction(str(self.fps))
        except ValueError:
            raise ConfigError(f"--fps must be a number, got {self.fps}") from None
        _exact_seconds("chunk_seconds", self.chunk_seconds)
        _need(self.decode_threads >= 0, "--decode_threads must be >= 0 (0 lets ffmpeg choose)")
        for name in ("video_stream", "audio_stream", "subtitle_stream"):
            value = getattr(self, name)
            _need(value is None or value >= 0, f"--{name} must be >= 0")
        _need(self.max_transcript_mb > 0, "--max_transcript_mb must be positive")
        _need(self.max_megapixels > 0, "--max_megapixels must be positive")

    @property
    def chunk_us(self) -> int:
        return seconds_to_us(self.chunk_seconds)

    @property
    def max_pixels(self) -> int:
        return int(self.max_megapixels * 1_000_000)

    @property
    def max_transcript_bytes(self) -> int:
        return int(self.max_transcript_mb * 1_000_000)

    @property
    def captures_errors(self) -> bool:
        """Whether ffmpeg's messages can be collected per item (single-threaded decoding only)."""
        return self.decode_threads == 1


@dataclass(frozen=True)
class WindowSettings:
    """The window grid (stage fuse): window i covers [i*hop, i*hop + window)."""

    window: float = setting(1.0, "Window length in seconds.")
    hop: float = setting(1.0, "Seconds between window starts; window i covers [i*hop, i*hop + window).")
    frames_table: bool = setting(False, "Also write frames/: one row per sampled frame with its time and visual features.")

    def __post_init__(self):
        _exact_seconds("window", self.window)
        _exact_seconds("hop", self.hop)

    @property
    def grid(self) -> WindowGrid:
        return WindowGrid.from_seconds(self.window, self.hop)


@dataclass(frozen=True)
class FeatureSettings:
    """Features (stage features): classical extractors, or models through RunInference."""

    visual: str = setting(
        "basic",
        "Visual features per frame, averaged over each window: basic = colour histogram + 8x8 thumbnail "
        "+ edge density and luma statistics; efficientnet_lite0 = 1280-d features of a pretrained "
        "ImageNet CNN (mmfuse[pretrained]); cnn = your own PyTorch image model (--visual_model).",
        choices=VISUAL_CHOICES,
    )
    audio: str = setting(
        "logmel",
        "Audio features of each window: mean and std of log-mel bands or MFCCs; rnn = a PyTorch "
        "sequence model over the window's log-mel frames (--audio_model).",
        choices=AUDIO_CHOICES,
    )
    text: str = setting(
        "hashing",
        "Text features of each window's transcript: hashing = hashed bag of words (no fit); tfidf = "
        "TF-IDF fitted over the dataset, reduced to --dims by LSA; minilm = 384-d sentence "
        "embeddings (mmfuse[text]).",
        choices=TEXT_CHOICES,
    )
    n_mels: int = setting(64, "Mel bands of the audio features.")
    text_features: int = setting(256, "Width of the hashed text vector.")
    visual_model: Optional[str] = setting(
        None,
        "Image model for --visual cnn: a TorchScript file, or a state_dict with --visual_arch (any Beam filesystem).",
        metavar="PATH",
    )
    visual_arch: Optional[str] = setting(
        None, "Architecture of a --visual_model state_dict: a torchvision.models name, or small_cnn (built in)."
    )
    visual_input_size: int = setting(224, "Frames are resized (shorter side) and centre-cropped to this.")
    visual_normalize: Literal["imagenet", "none"] = setting(
        "imagenet",
        "Pixel normalisation before a --visual cnn model: ImageNet mean/std, or none (0..1). Pretrained models use their own.",
    )
    audio_model: Optional[str] = setting(
        None,
        "Sequence model for --audio rnn, input (batch, time, n_mels): TorchScript, or a state_dict with --audio_arch.",
        metavar="PATH",
    )
    audio_arch: Optional[str] = setting(None, "Architecture of an --audio_model state_dict: small_gru (built in).")
    device: Literal["cpu", "cuda"] = setting(
        "cpu", "Where models run. cuda on a machine without a usable GPU stops the job instead of falling back to the CPU."
    )
    batch_size: int = setting(
        0, "Inputs per model call, padded to it. 0: 4 for image models on the CPU (a CNN runs 1.5x as fast as in 32s), else 32."
    )
    model_copies: Optional[int] = setting(
        None,
        "Exact number of model copies per worker machine (Beam's model_copies; 1 = one per GPU). "
        "Default: one per worker process.",
    )

    def __post_init__(self):
        _check_choices(self)
        _need(
            self.visual != "cnn" or bool(self.visual_model),
            "--visual cnn needs --visual_model PATH (a TorchScript file, or a state_dict with --visual_arch)",
        )
        _need(
            self.audio != "rnn" or bool(self.audio_model),
            "--audio rnn needs --audio_model PATH (a TorchScript file, or a state_dict with --audio_arch)",
        )
        _need(16 <= self.visual_input_size <= 4096, "--visual_input_size must be between 16 and 4096")
        _need(self.batch_size >= 0, "--batch_size must be at least 1 (or 0 for the default)")
        _need(self.model_copies is None or self.model_copies >= 1, "--model_copies must be positive")
        _need(1 <= self.n_mels <= 256, f"--n_mels must be between 1 and 256, got {self.n_mels}")
        _need(self.text_features >= 1, "--text_features must be positive")

    @property
    def learned_visual(self) -> bool:
        """Frames go through an image model (RunInference), not the OpenCV extractors."""
        return self.visual == "cnn" or self.visual in PRETRAINED

    def model_batch(self, kind: str = "image") -> int:  # --batch_size, or 0's default for the model's kind
        return self.batch_size or (4 if kind == "image" and self.device == "cpu" else 32)

    @property
    def uses_torch(self) -> bool:
        return self.learned_visual or self.audio == "rnn" or self.text == "minilm"


@dataclass(frozen=True)
class AnalyzerSettings:
    """Analyzers fitted over the whole dataset (stage analyzers)."""

    reduce: Literal["none", "pca", "pca_whiten", "ica"] = setting(
        "none",
        "Reduce visual and audio features (each separately) with PCA, whitened PCA or ICA fitted over "
        "the whole dataset; fitted analyzers are written to artifacts/.",
    )
    dims: int = setting(128, "Dimensions kept by --reduce and by TF-IDF's LSA.")
    quantize: Literal[0, 8] = setting(
        0, "8: store reduced features as 8-bit codes of the clip range [-2, 2] (YouTube-8M recipe; needs pca_whiten or ica)."
    )
    artifacts_from: Optional[str] = setting(
        None,
        "Apply the analyzers in DIR (an earlier run's artifacts/) instead of fitting: training and "
        "serving features then match bit for bit.",
        metavar="DIR",
    )
    fusion: Literal["none", "early"] = setting(
        "none",
        "early: add a 'fused' column to windows/: each modality standardised with per-dimension statistics "
        "fitted over the dataset (artifacts/fusion_early), concatenated, then one presence indicator per "
        "modality (zeros for an absent one); the layout is in the column's metadata.",
    )
    tfidf_vocab: int = setting(20000, "Largest TF-IDF vocabulary.")
    fit_sample: int = setting(20000, "Rows in the deterministic sample that ICA, LSA and the semantic CCA are fitted on.")

    def __post_init__(self):
        _check_choices(self)
        _need(self.dims >= 1, "--dims must be positive")
        _need(
            self.quantize == 0 or self.reduce in ("pca_whiten", "ica"),
            "--quantize 8 needs whitened features: --reduce pca_whiten or ica",
        )
        _need(
            not (self.quantize and self.fusion == "early"),
            "--fusion early standardises float features: it does not take --quantize 8 codes",
        )
        _need(self.tfidf_vocab >= 1 and self.fit_sample >= 10, "--tfidf_vocab and --fit_sample must be positive")


@dataclass(frozen=True)
class AlignSettings:
    """Per-item alignment (stage align): subtitle offset, A/V offset, word timings."""

    sync_transcripts: bool = setting(
        False,
        "Estimate how far each transcript is from the speech (offset, drift, confidence) from voice activity; reported in media/.",
    )
    apply_transcript_offset: bool = setting(
        False,
        "Move cues by the estimated offset and drift before windowing (implies --sync_transcripts; "
        "skipped when the estimate's confidence is below 0.3).",
    )
    max_transcript_offset: float = setting(30.0, "Largest subtitle offset searched, in seconds.")
    av_sync: bool = setting(
        False,
        "Estimate the audio/video offset from content (audio onsets against picture changes) over the "
        "first --av_sync_seconds; reported in media/ (positive: audio lags).",
    )
    av_sync_seconds: float = setting(120.0, "Seconds examined by --av_sync.")
    align_words: bool = setting(
        False,
        "Align every word of the transcript to the audio with an acoustic model and write words/ "
        "(plain-text transcripts become timed sentence cues). Implies --sync_transcripts: with a "
        "confident offset estimate, the words are looked for where the speech is.",
    )
    align_method: Literal["auto", "sphinx", "tts"] = setting(
        "auto",
        "auto and sphinx: pocketsphinx's acoustic model (other languages: with espeak-ng's phonemes of "
        "--language); tts: speak the text with espeak-ng and match it by DTW.",
    )
    language: str = setting("en", "Transcript language (espeak-ng voice code for non-English alignment, e.g. de, fr).")

    def __post_init__(self):
        _check_choices(self)
        _need(self.max_transcript_offset > 0, "--max_transcript_offset must be positive")
        _need(self.av_sync_seconds > 0, "--av_sync_seconds must be positive")
        _need(bool(self.language), "--language must not be empty")
        if (self.apply_transcript_offset or self.align_words) and not self.sync_transcripts:
            object.__setattr__(self, "sync_transcripts", True)

    @property
    def any(self) -> bool:
        """Whether any per-item alignment step runs."""
        return self.sync_transcripts or self.av_sync or self.align_words


@dataclass(frozen=True)
class ContentSettings:
    """Shots and alignment by content (stage align)."""

    shots: bool = setting(False, "Find shot cuts on every decoded frame and write shots/ (implied by --semantic_align).")
    semantic_align: bool = setting(
        False,
        "Assign every transcript cue to the shot it talks about, by what the cue says and what the "
        "shot shows (--semantic_space); writes alignments/ and adds content_cue_indices to windows/.",
    )
    semantic_space: str = setting(
        "auto",
        "Where cue text and shot pictures are compared: zero_shot = the shot's ImageNet classes "
        "(--visual efficientnet_lite0) named in MiniLM sentence space, no fit; fitted = a CCA "
        "learned over the dataset (artifacts/semantic_cca, at least --semantic_min_pairs pairs); "
        "auto = fitted where the job has enough pairs, else zero_shot where the CNN is on, else "
        "stated times only.",
        choices=("auto", "zero_shot", "fitted"),
    )
    semantic_min_pairs: int = setting(
        200, "Fewest cue/shot pairs the fitted space is learned from; below it the fit is refused with a warning."
    )
    semantic_dims: int = setting(16, "Dimensions of the learned text/picture space.")
    semantic_prior: float = setting(
        5.0,
        "Seconds: how far from its stated time a cue may move before the content must clearly say so "
        "(scale of the Gaussian time prior).",
    )

    def __post_init__(self):
        _check_choices(self)
        _need(self.semantic_dims >= 1, "--semantic_dims must be positive")
        _need(self.semantic_min_pairs >= 4, "--semantic_min_pairs must be at least 4")
        _need(self.semantic_prior > 0, "--semantic_prior must be positive")
        if self.semantic_align and not self.shots:
            object.__setattr__(self, "shots", True)


# ExtractConfig's groups, in the order --help shows them after the job's own flags.
GROUPS: dict[str, type] = {
    "decode": DecodeSettings,
    "windows": WindowSettings,
    "features": FeatureSettings,
    "analyzers": AnalyzerSettings,
    "align": AlignSettings,
    "content": ContentSettings,
}


@dataclass(frozen=True)
class ExtractConfig:
    """What to extract and how: one settings group per stage."""

    decode: DecodeSettings = field(default_factory=DecodeSettings)
    windows: WindowSettings = field(default_factory=WindowSettings)
    features: FeatureSettings = field(default_factory=FeatureSettings)
    analyzers: AnalyzerSettings = field(default_factory=AnalyzerSettings)
    align: AlignSettings = field(default_factory=AlignSettings)
    content: ContentSettings = field(default_factory=ContentSettings)

    @classmethod
    def from_flat(cls, **values) -> "ExtractConfig":
        """A config from settings by name (``fps=1, reduce="pca"``), as the command line gives them."""
        groups: dict[str, dict] = {name: {} for name in GROUPS}
        owner = {s.name: g for g, klass in GROUPS.items() for s in settings_of(klass)}
        for key, value in values.items():
            if key not in owner:
                raise ConfigError(f"unknown setting {key!r}")
            groups[owner[key]][key] = value
        return cls(**{g: GROUPS[g](**kw) for g, kw in groups.items()})

    def replace(self, **values) -> "ExtractConfig":
        """A copy with some settings changed, by name."""
        return ExtractConfig.from_flat(**{**self.as_dict(), **values})

    def as_dict(self) -> dict:
        """Every setting by name (flat: names are unique across groups)."""
        return {k: v for g in GROUPS for k, v in dataclasses.asdict(getattr(self, g)).items()}

    def __post_init__(self):
        content = self.content
        if content.semantic_align and content.semantic_space == "zero_shot" and self.features.visual not in PRETRAINED:
            raise ConfigError(
                "--semantic_space zero_shot names what a shot shows with a pretrained ImageNet CNN: "
                "add --visual efficientnet_lite0 (or use --semantic_space fitted)"
            )

    @property
    def grid(self) -> WindowGrid:
        return self.windows.grid

    @property
    def fits(self) -> bool:
        """Whether analyzers are fitted (or applied) over the dataset."""
        return self.analyzers.reduce != "none" or self.features.text == "tfidf" or self.analyzers.fusion == "early"
