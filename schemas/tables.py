"""Arrow schemas of every output table: the single source of truth for writers and readers.

Feature columns (``visual``, ``audio``, ``text`` and the ``features`` of ``frames/``) carry
field metadata that says how they were made (see :class:`FeatureSpec`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Mapping, Optional

import pyarrow as pa

__all__ = [
    "FEATURE_COLUMNS",
    "FeatureSpec",
    "STREAM",
    "TABLES",
    "errors_schema",
    "frames_schema",
    "media_schema",
    "read_feature_spec",
    "alignments_schema",
    "shots_schema",
    "windows_schema",
    "words_schema",
]

FEATURE_COLUMNS = ("visual", "audio", "text")
_META_PREFIX = b"mmfuse."


@dataclass(frozen=True)
class FeatureSpec:
    """How a feature column was made: extractor, its settings, its width, and the hash of
    any model or fitted artifact it used."""

    extractor: str
    dim: int
    config: Mapping[str, object] = field(default_factory=dict)
    model_hash: Optional[str] = None
    artifact_hash: Optional[str] = None

    def metadata(self) -> dict[bytes, bytes]:
        meta = {
            _META_PREFIX + b"extractor": self.extractor.encode(),
            _META_PREFIX + b"dim": str(self.dim).encode(),
            _META_PREFIX + b"config": json.dumps(dict(self.config), sort_keys=True).encode(),
        }
        if self.model_hash:
            meta[_META_PREFIX + b"model_hash"] = self.model_hash.encode()
        if self.artifact_hash:
            meta[_META_PREFIX + b"artifact_hash"] = self.artifact_hash.encode()
        return meta


def read_feature_spec(f: pa.Field) -> Optional[FeatureSpec]:
    """The :class:`FeatureSpec` stored on a feature column, or None when it has none."""
    meta = f.metadata or {}
    if _META_PREFIX + b"extractor" not in meta:
        return None
    get = lambda k: meta.get(_META_PREFIX + k, b"").decode() or None  # noqa: E731
    return FeatureSpec(
        extractor=get(b"extractor"),
        dim=int(get(b"dim")),
        config=json.loads(get(b"config") or "{}"),
        model_hash=get(b"model_hash"),
        artifact_hash=get(b"artifact_hash"),
    )


# What the user attached to the item (manifest keys, --labels): ``label`` as text, ``split``,
# and ``meta``, every extra key as one JSON object (mmfuse.transforms.inputs.labels).
_TAGS = (pa.field("label", pa.string()), pa.field("split", pa.string()), pa.field("meta", pa.string()))


def _vector(name: str, spec: Optional[FeatureSpec], value_type: pa.DataType = pa.float32()) -> pa.Field:
    return pa.field(name, pa.list_(value_type), metadata=spec.metadata() if spec else None)


def windows_schema(
    specs: Mapping[str, FeatureSpec],
    quantized: tuple[str, ...] = (),
    shots: bool = False,
    content: bool = False,
    fused: bool = False,
) -> pa.Schema:
    """``windows/``: one row per item × window ``[start_us, end_us)``. Columns named in
    ``quantized`` hold 8-bit codes (list<uint8>) instead of float32. ``cue_indices`` are the
    cues whose stated span overlaps the window. With ``shots`` (``--shots``), ``shot_index``
    is the shot holding the window's start; with ``content`` (``--semantic_align``),
    ``content_cue_indices`` are the cues whose span overlaps the window once each is moved to
    the shot it talks about (``alignments/``). With ``fused`` (``--fusion early``), ``fused`` is
    the early-fusion vector, its layout in the column's metadata."""
    extra = [pa.field("shot_index", pa.int32())] if shots else []
    if fused:
        extra.append(_vector("fused", specs.get("fused") or FeatureSpec("early_fusion", 0)))
    if content:
        extra.append(pa.field("content_cue_indices", pa.list_(pa.int32())))
    return pa.schema(
        [
            pa.field("media_id", pa.string(), nullable=False),
            pa.field("window_index", pa.int64(), nullable=False),
            pa.field("start_us", pa.int64(), nullable=False),
            pa.field("end_us", pa.int64(), nullable=False),
            pa.field("has_video", pa.bool_(), nullable=False),
            pa.field("has_audio", pa.bool_(), nullable=False),
            pa.field("has_text", pa.bool_(), nullable=False),
            pa.field("n_frames", pa.int32(), nullable=False),
            _vector("visual", specs.get("visual"), pa.uint8() if "visual" in quantized else pa.float32()),
            _vector("audio", specs.get("audio"), pa.uint8() if "audio" in quantized else pa.float32()),
            _vector("text", specs.get("text")),
            pa.field("transcript", pa.string()),
            pa.field("tokens", pa.list_(pa.string())),
            pa.field("cue_indices", pa.list_(pa.int32())),
            *_TAGS,
            *extra,
        ]
    )


def frames_schema(spec: Optional[FeatureSpec]) -> pa.Schema:
    """``frames/`` (opt-in): one row per kept video frame."""
    return pa.schema(
        [
            pa.field("media_id", pa.string(), nullable=False),
            pa.field("pts_us", pa.int64(), nullable=False),
            _vector("features", spec),
        ]
    )


STREAM = pa.struct(
    [
        ("index", pa.int32()),
        ("kind", pa.string()),
        ("codec", pa.string()),
        ("start_us", pa.int64()),
        ("duration_us", pa.int64()),
        ("frame_rate", pa.float64()),
        ("sample_rate", pa.int32()),
        ("channels", pa.int32()),
        ("width", pa.int32()),
        ("height", pa.int32()),
        ("language", pa.string()),
        ("is_default", pa.bool_()),
        ("selected", pa.bool_()),
    ]
)


def media_schema() -> pa.Schema:
    """``media/``: one row per input item, whatever became of it."""
    return pa.schema(
        [
            pa.field("media_id", pa.string(), nullable=False),
            pa.field("video_uri", pa.string()),
            pa.field("audio_uri", pa.string()),
            pa.field("transcript_uri", pa.string()),
            # ok | partial | failed | skipped
            pa.field("status", pa.string(), nullable=False),
            pa.field("duration_us", pa.int64()),
            pa.field("n_windows", pa.int64()),
            pa.field("n_frames", pa.int64()),
            pa.field("n_chunks", pa.int32()),
            pa.field("container_format", pa.string()),
            pa.field("video_stream", pa.int32()),
            pa.field("video_codec", pa.string()),
            pa.field("width", pa.int32()),
            pa.field("height", pa.int32()),
            pa.field("frame_rate", pa.float64()),
            pa.field("video_start_us", pa.int64()),
            pa.field("video_end_us", pa.int64()),
            pa.field("audio_stream", pa.int32()),
            pa.field("audio_codec", pa.string()),
            pa.field("sample_rate", pa.int32()),
            pa.field("channels", pa.int32()),
            pa.field("audio_start_us", pa.int64()),
            pa.field("audio_end_us", pa.int64()),
            pa.field("streams", pa.list_(STREAM)),
            pa.field("transcript_format", pa.string()),
            pa.field("transcript_language", pa.string()),
            pa.field("n_cues", pa.int32()),
            pa.field("n_cues_clamped", pa.int32()),
            # alignment (--sync_transcripts, --av_sync, --align_words)
            pa.field("transcript_offset_us", pa.int64()),
            pa.field("transcript_drift_ppm", pa.float64()),
            pa.field("transcript_sync_confidence", pa.float64()),
            pa.field("transcript_offset_applied", pa.bool_()),
            pa.field("av_offset_us", pa.int64()),
            pa.field("av_sync_confidence", pa.float64()),
            pa.field("n_words", pa.int64()),
            pa.field("aligned_word_ratio", pa.float64()),
            pa.field("n_shots", pa.int32()),
            pa.field("semantic_space", pa.string()),
            pa.field("semantic_score_mean", pa.float64()),
            pa.field("n_cues_moved", pa.int32()),
            # transcript and stream quality
            pa.field("n_cue_overlaps", pa.int32()),
            pa.field("n_cue_gaps", pa.int32()),
            pa.field("av_length_mismatch_us", pa.int64()),
            pa.field("n_warnings", pa.int32()),
            pa.field("warnings", pa.list_(pa.string())),
            pa.field("n_errors", pa.int32()),
            pa.field("fingerprint", pa.string()),  # input content + settings (--skip_existing)
            # kept from an earlier run by --skip_existing; status is the one it had then
            pa.field("carried_over", pa.bool_()),
            *_TAGS,
        ]
    )


def words_schema() -> pa.Schema:
    """``words/`` (``--align_words``): one row per transcript word. ``cue_index`` is the cue's
    place in the transcript (for plain text: the sentence cue's, -1 when the sentence was not
    found); ``word_index`` is the word's place in its cue (for plain text: in the whole text),
    so (``cue_index``, ``word_index``) is the reading order. Times are null where the word could
    not be aligned; ``score`` is in (0, 1), 0.5 or more a confident placement."""
    return pa.schema(
        [
            pa.field("media_id", pa.string(), nullable=False),
            pa.field("cue_index", pa.int32(), nullable=False),
            pa.field("word_index", pa.int32(), nullable=False),
            pa.field("word", pa.string(), nullable=False),
            pa.field("start_us", pa.int64()),
            pa.field("end_us", pa.int64()),
            pa.field("score", pa.float32()),
            pa.field("method", pa.string(), nullable=False),
        ]
    )


def shots_schema() -> pa.Schema:
    """``shots/`` (``--shots``): one row per shot ``[start_us, end_us)``, in time order."""
    return pa.schema(
        [
            pa.field("media_id", pa.string(), nullable=False),
            pa.field("shot_index", pa.int32(), nullable=False),
            pa.field("start_us", pa.int64(), nullable=False),
            pa.field("end_us", pa.int64(), nullable=False),
        ]
    )


def alignments_schema() -> pa.Schema:
    """``alignments/`` (``--semantic_align``): the shot each cue talks about. ``space`` is
    where cue and shot were compared (``zero_shot``, ``fitted``, or ``stated_times`` when the
    job had no space and only the time prior placed the cue); ``similarity`` is their raw
    similarity there; ``score`` is calibrated against the item's other shots: the share of
    them less similar to the cue than its own (0.5 = chance, 1.0 = the best match; null for an
    item of one shot). ``time_shift_us`` moves the cue's middle to the nearest instant of that
    shot (0 when it is already inside); ``stated_start_us``/``stated_end_us`` are the cue's
    span as the transcript gives it and ``content_start_us``/``content_end_us`` where content
    puts it: moved the least that brings it inside the shot, cut to the shot if longer."""
    return pa.schema(
        [
            pa.field("media_id", pa.string(), nullable=False),
            pa.field("cue_index", pa.int32(), nullable=False),
            pa.field("shot_index", pa.int32(), nullable=False),
            pa.field("space", pa.string(), nullable=False),
            pa.field("score", pa.float32()),
            pa.field("similarity", pa.float32()),
            pa.field("time_shift_us", pa.int64(), nullable=False),
            pa.field("stated_start_us", pa.int64(), nullable=False),
            pa.field("stated_end_us", pa.int64(), nullable=False),
            pa.field("content_start_us", pa.int64(), nullable=False),
            pa.field("content_end_us", pa.int64(), nullable=False),
        ]
    )


def errors_schema() -> pa.Schema:
    """``errors/``: the dead letter, one row per failed item or stage."""
    return pa.schema(
        [
            pa.field("media_id", pa.string()),
            pa.field("uri", pa.string()),
            pa.field("stage", pa.string(), nullable=False),
            pa.field("error_type", pa.string(), nullable=False),
            pa.field("message", pa.string(), nullable=False),
        ]
    )


# Table name -> folder under --output.
TABLES = ("windows", "media", "errors", "frames", "words", "shots", "alignments")
