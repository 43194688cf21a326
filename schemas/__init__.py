"""Records and Arrow schemas of mmfuse: the single source of truth for every table."""

from schemas.records import (
    AudioWindow,
    Chunk,
    ChunkReport,
    Cue,
    DecodeTask,
    ErrorRecord,
    FrameRecord,
    ItemPlan,
    MediaInfo,
    MediaItem,
    StreamInfo,
    Word,
)
from schemas.tables import (
    ERRORS,
    MEDIA,
    FeatureSpec,
    errors_schema,
    frames_schema,
    media_schema,
    read_feature_spec,
    windows_schema,
)

__all__ = [
    "AudioWindow",
    "Chunk",
    "ChunkReport",
    "Cue",
    "DecodeTask",
    "ERRORS",
    "ErrorRecord",
    "FeatureSpec",
    "FrameRecord",
    "ItemPlan",
    "MEDIA",
    "MediaInfo",
    "MediaItem",
    "StreamInfo",
    "Word",
    "errors_schema",
    "frames_schema",
    "media_schema",
    "read_feature_spec",
    "windows_schema",
]
