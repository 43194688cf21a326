"""Settings of an extraction job, checked before anything runs."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from fractions import Fraction
from typing import Optional

from mmfuse.clock import WindowGrid, seconds_to_us
from mmfuse.errors import ConfigError
from mmfuse.transforms.features import AUDIO_CHOICES, TEXT_CHOICES, VISUAL_CHOICES

__all__ = ["ExtractConfig"]


@dataclass(frozen=True)
class ExtractConfig:
    """What to extract and how; every field is a plain value so the config pickles small."""

    fps: float = 2.0
    window: float = 1.0
    hop: float = 1.0
    chunk_seconds: float = 60.0
    visual: str = "basic"
    audio: str = "logmel"
    text: str = "hashing"
    n_mels: int = 64
    text_features: int = 256
    frames_table: bool = False
    video_stream: Optional[int] = None
    audio_stream: Optional[int] = None
    subtitle_stream: Optional[int] = None
    decode_threads: int = 1
    sync_transcripts: bool = False
    apply_transcript_offset: bool = False
    max_transcript_offset: float = 30.0
    av_sync: bool = False
    av_sync_seconds: float = 120.0
    align_words: bool = False
    align_method: str = "auto"
    language: str = "en"
    # learned features (mmfuse[cnn], mmfuse[text])
    visual_model: Optional[str] = None
    visual_arch: Optional[str] = None
    visual_input_size: int = 224
    visual_normalize: str = "imagenet"
    audio_model: Optional[str] = None
    audio_arch: Optional[str] = None
    device: str = "cpu"
    batch_size: int = 32
    model_copies: Optional[int] = None
    # analyzers fitted over the dataset
    reduce: str = "none"
    dims: int = 128
    quantize: int = 0
    artifacts_from: Optional[str] = None
    tfidf_vocab: int = 20000
    fit_sample: int = 20000
    # shots and alignment by content
    shots: bool = False
    semantic_align: bool = False
    semantic_dims: int = 16
    semantic_prior: float = 5.0

    def __post_init__(self):
        def need(cond: bool, message: str) -> None:
            if not cond:
                raise ConfigError(message)

        need(self.fps >= 0, f"--fps must be 0 (every frame) or positive, got {self.fps}")
        for name in ("window", "hop", "chunk_seconds"):
            value = getattr(self, name)
            need(value > 0, f"--{name} must be positive, got {value}")
            try:
                seconds_to_us(value)
            except ValueError:
                raise ConfigError(f"--{name} must be a whole number of microseconds, got {value}") from None
        need(self.visual in VISUAL_CHOICES, f"--visual must be one of {list(VISUAL_CHOICES)}, got {self.visual!r}")
        need(self.audio in AUDIO_CHOICES, f"--audio must be one of {list(AUDIO_CHOICES)}, got {self.audio!r}")
        need(self.text in TEXT_CHOICES, f"--text must be one of {list(TEXT_CHOICES)}, got {self.text!r}")
        need(
            self.visual != "cnn" or bool(self.visual_model),
            "--visual cnn needs --visual_model PATH (a TorchScript file, or a state_dict with --visual_arch)",
        )
        need(
            self.audio != "rnn" or bool(self.audio_model),
            "--audio rnn needs --audio_model PATH (a TorchScript file, or a state_dict with --audio_arch)",
        )
        need(self.visual_normalize in ("imagenet", "none"), "--visual_normalize must be imagenet or none")
        need(16 <= self.visual_input_size <= 4096, "--visual_input_size must be between 16 and 4096")
        need(self.device in ("cpu", "cuda"), f"--device must be cpu or cuda, got {self.device!r}")
        need(self.batch_size >= 1, "--batch_size must be positive")
        need(self.model_copies is None or self.model_copies >= 1, "--model_copies must be positive")
        need(
            self.reduce in ("none", "pca", "pca_whiten", "ica"),
            f"--reduce must be one of none, pca, pca_whiten, ica, got {self.reduce!r}",
        )
        need(self.dims >= 1, "--dims must be positive")
        need(self.quantize in (0, 8), "--quantize must be 0 (off) or 8")
        need(
            self.quantize == 0 or self.reduce in ("pca_whiten", "ica"),
            "--quantize 8 needs whitened features: --reduce pca_whiten or ica",
        )
        need(self.semantic_dims >= 1, "--semantic_dims must be positive")
        need(self.semantic_prior > 0, "--semantic_prior must be positive")
        if self.semantic_align and not self.shots:
            object.__setattr__(self, "shots", True)
        need(self.tfidf_vocab >= 1 and self.fit_sample >= 10, "--tfidf_vocab and --fit_sample must be positive")
        need(1 <= self.n_mels <= 256, f"--n_mels must be between 1 and 256, got {self.n_mels}")
        need(self.text_features >= 1, "--text_features must be positive")
        need(
            self.align_method in ("auto", "sphinx", "tts"),
            f"--align_method must be one of auto, sphinx, tts, got {self.align_method!r}",
        )
        need(self.max_transcript_offset > 0, "--max_transcript_offset must be positive")
        need(self.av_sync_seconds > 0, "--av_sync_seconds must be positive")
        need(bool(self.language), "--language must not be empty")
        if self.apply_transcript_offset and not self.sync_transcripts:
            object.__setattr__(self, "sync_transcripts", True)
        need(self.decode_threads >= 0, "--decode_threads must be >= 0 (0 lets ffmpeg choose)")
        for name in ("video_stream", "audio_stream", "subtitle_stream"):
            value = getattr(self, name)
            need(value is None or value >= 0, f"--{name} must be >= 0")
        try:
            Fraction(str(self.fps))
        except ValueError:
            raise ConfigError(f"--fps must be a number, got {self.fps}") from None

    @property
    def grid(self) -> WindowGrid:
        return WindowGrid.from_seconds(self.window, self.hop)

    @property
    def chunk_us(self) -> int:
        return seconds_to_us(self.chunk_seconds)

    @property
    def fits(self) -> bool:
        """Whether analyzers are fitted (or applied) over the dataset."""
        return self.reduce != "none" or self.text == "tfidf"

    @property
    def aligns(self) -> bool:
        """Whether any per-item alignment step runs."""
        return self.sync_transcripts or self.av_sync or self.align_words

    def as_dict(self) -> dict:
        return asdict(self)
