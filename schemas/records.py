"""Records that travel between pipeline stages.

Every time is an integer count of microseconds on the media clock (``*_us``); intervals are
half-open ``[start_us, end_us)``. Records are frozen and check their invariants on creation;
edits return copies.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Literal, Mapping, Optional

import numpy as np

__all__ = [
    "AudioWindow",
    "Chunk",
    "ChunkReport",
    "Cue",
    "DecodeTask",
    "ErrorRecord",
    "FrameRecord",
    "ItemPlan",
    "MediaInfo",
    "MediaItem",
    "StreamInfo",
    "TAG_COLUMNS",
    "Word",
    "merged_warnings",
]

StreamKind = Literal["video", "audio", "subtitle", "data", "attachment"]


def _check_int(name: str, value, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int of microseconds, got {value!r}")


# The columns of what a user attaches to an item (see mmfuse.transforms.inputs.labels).
TAG_COLUMNS = ("label", "split", "meta")


@dataclass(frozen=True)
class MediaItem:
    """One input: a video and/or an audio file, with an optional transcript."""

    media_id: str
    video_uri: Optional[str] = None
    audio_uri: Optional[str] = None
    transcript_uri: Optional[str] = None
    fingerprint: Optional[str] = None  # input content + settings, for resuming
    # what the user attached to the item (manifest keys, --labels): see transforms.inputs.labels
    label: Optional[str] = None
    split: Optional[str] = None
    meta: Optional[str] = None  # JSON object text of every extra key

    def tags(self) -> dict:
        """The ``label``, ``split`` and ``meta`` columns of the item's rows."""
        return {"label": self.label, "split": self.split, "meta": self.meta}

    def __post_init__(self):
        if not self.media_id or not isinstance(self.media_id, str):
            raise ValueError("media_id must be a non-empty string")
        if not self.video_uri and not self.audio_uri:
            raise ValueError(f"item {self.media_id!r} has neither a video nor an audio file")

    @property
    def uri(self) -> str:
        """The item's primary file: the video, else the audio."""
        return self.video_uri or self.audio_uri  # type: ignore[return-value]


@dataclass(frozen=True)
class Word:
    """A word of a cue; times are None where the word could not be placed."""

    text: str
    start_us: Optional[int] = None
    end_us: Optional[int] = None
    score: Optional[float] = None

    def __post_init__(self):
        _check_int("start_us", self.start_us, allow_none=True)
        _check_int("end_us", self.end_us, allow_none=True)
        if self.start_us is not None and self.end_us is not None and self.end_us < self.start_us:
            raise ValueError(f"word {self.text!r} ends before it starts")

    def with_offset(self, delta_us: int) -> "Word":
        if self.start_us is None:
            return self
        end = None if self.end_us is None else self.end_us + delta_us
        return dataclasses.replace(self, start_us=self.start_us + delta_us, end_us=end)


@dataclass(frozen=True)
class Cue:
    """A transcript segment over ``[start_us, end_us)``; zero-length cues are allowed."""

    start_us: int
    end_us: int
    text: str
    words: tuple[Word, ...] = ()

    def __post_init__(self):
        _check_int("start_us", self.start_us)
        _check_int("end_us", self.end_us)
        if self.end_us < self.start_us:
            raise ValueError(f"cue ends before it starts: [{self.start_us}, {self.end_us})")
        if not isinstance(self.words, tuple):
            object.__setattr__(self, "words", tuple(self.words))

    @property
    def duration_us(self) -> int:
        return self.end_us - self.start_us

    def with_offset(self, delta_us: int) -> "Cue":
        return Cue(
            self.start_us + delta_us,
            self.end_us + delta_us,
            self.text,
            tuple(w.with_offset(delta_us) for w in self.words),
        )

    def clamp(self, start_us: int, end_us: int) -> Optional["Cue"]:
        """The part of the cue inside ``[start_us, end_us)``, or None when nothing is left."""
        if self.start_us >= end_us or self.end_us < start_us:
            return None
        if self.end_us == start_us and self.duration_us > 0:
            return None
        return dataclasses.replace(self, start_us=max(self.start_us, start_us), end_us=min(self.end_us, end_us))


@dataclass(frozen=True)
class StreamInfo:
    """Facts about one stream of a container, as the media table lists them."""

    index: int
    kind: StreamKind
    codec: Optional[str]
    time_base: Optional[Fraction] = None
    start_us: Optional[int] = None
    duration_us: Optional[int] = None
    frame_rate: Optional[float] = None
    sample_rate: Optional[int] = None
    channels: Optional[int] = None
    width: Optional[int] = None
    height: Optional[int] = None
    language: Optional[str] = None
    is_default: bool = False


@dataclass(frozen=True)
class MediaInfo:
    """What probing an item found: chosen streams, exact start times and the duration."""

    item: MediaItem
    duration_us: Optional[int]
    video: Optional[StreamInfo] = None
    audio: Optional[StreamInfo] = None
    video_origin_us: int = 0
    audio_origin_us: int = 0
    # Exact media-clock time (seconds) of the first decoded audio sample; sample n of the
    # decoded stream lies at audio_t0 + n / sample_rate.
    audio_t0: Optional[Fraction] = None
    video_streams: tuple[StreamInfo, ...] = ()
    audio_streams: tuple[StreamInfo, ...] = ()
    other_streams: tuple[StreamInfo, ...] = ()
    container_format: Optional[str] = None
    warnings: tuple[str, ...] = ()
    # The end the file's header states (Matroska/FLV duration, AVI frame count, WAV data size),
    # to tell a cut-off file from a whole one; None where the format states none.
    declared_end_us: Optional[int] = None

    @property
    def media_id(self) -> str:
        return self.item.media_id

    @property
    def time_limit_us(self) -> Optional[int]:
        """No stream time past this is believed: the probed duration plus as much again (at
        least 60 s). Timestamps that jump past it (a 32-bit millisecond counter read as signed
        jumps to 596 hours) end that stream's decoding with a warning."""
        if self.duration_us is None:
            return None
        return self.duration_us + max(60_000_000, self.duration_us)

    @property
    def has_video(self) -> bool:
        return self.video is not None

    @property
    def has_audio(self) -> bool:
        return self.audio is not None and self.audio_t0 is not None

    @property
    def audio_uri(self) -> Optional[str]:
        return self.item.audio_uri or self.item.video_uri if self.has_audio else None


@dataclass(frozen=True)
class Chunk:
    """A time slice of an item: frames with PTS in ``[start_us, end_us)`` and the windows
    starting there. ``end_us`` None means up to the end of the media."""

    media_id: str
    index: int
    start_us: int
    end_us: Optional[int]

    def __post_init__(self):
        _check_int("start_us", self.start_us)
        _check_int("end_us", self.end_us, allow_none=True)
        if self.end_us is not None and self.end_us <= self.start_us:
            raise ValueError(f"empty chunk [{self.start_us}, {self.end_us})")

    def contains(self, t_us: int) -> bool:
        return t_us >= self.start_us and (self.end_us is None or t_us < self.end_us)


@dataclass(frozen=True)
class ItemPlan:
    """A probed item ready for decoding: streams, cues on the media clock, time chunks."""

    info: MediaInfo
    chunks: tuple[Chunk, ...]
    n_windows: int
    cues: tuple[Cue, ...] = ()
    transcript_format: Optional[str] = None
    n_cues_clamped: int = 0
    warnings: tuple[str, ...] = ()
    timed: bool = True  # False for plain text: one cue over the whole item until aligned
    facts: Mapping[str, object] = field(default_factory=dict)  # offsets and quality figures

    @property
    def media_id(self) -> str:
        return self.info.media_id


@dataclass(frozen=True)
class FrameRecord:
    """Features of one kept video frame, at its presentation time."""

    media_id: str
    pts_us: int
    features: np.ndarray

    def __post_init__(self):
        _check_int("pts_us", self.pts_us)


@dataclass(frozen=True)
class AudioWindow:
    """Audio features of one window's span."""

    media_id: str
    window_index: int
    features: np.ndarray


@dataclass(frozen=True)
class ChunkReport:
    """What decoding one chunk produced, for the media table."""

    media_id: str
    chunk_index: int
    n_frames: int = 0
    n_audio_windows: int = 0
    warnings: tuple[str, ...] = ()
    video_end_us: Optional[int] = None
    audio_end_us: Optional[int] = None
    failed: bool = False


@dataclass(frozen=True)
class ErrorRecord:
    """A dead-letter row: which item, which stage, what went wrong."""

    media_id: str
    uri: Optional[str]
    stage: str
    error_type: str
    message: str

    def as_row(self) -> dict:
        return dataclasses.asdict(self)


def merged_warnings(*groups: tuple[str, ...], limit: int = 20) -> tuple[str, ...]:
    """Distinct warnings in order of first appearance, at most ``limit`` of them."""
    seen: dict[str, None] = {}
    for group in groups:
        for w in group:
            seen.setdefault(w, None)
            if len(seen) >= limit:
                return tuple(seen)
    return tuple(seen)


@dataclass(frozen=True)
class DecodeTask:
    """One unit of decoding work: a video chunk, or an item's whole audio stream (audio is
    decoded in one sequential pass; see mmfuse.transforms.media.audio)."""

    info: MediaInfo
    kind: Literal["video", "audio"]
    chunk: Optional[Chunk] = None

    def __post_init__(self):
        if self.kind == "video" and self.chunk is None:
            raise ValueError("a video task needs a chunk")

    @property
    def media_id(self) -> str:
        return self.info.media_id
