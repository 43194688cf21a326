"""Records and Arrow schemas of mmfuse: the single source of truth for every table."""

from mmfuse.schemas.records import (
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
from mmfuse.schemas.tables import (
    FeatureSpec,
    errors_schema,
    frames_schema,
    media_schema,
    read_feature_spec,
    windows_schema,
    words_schema,
)

__all__ = [
    "AudioWindow",
    "Chunk",
    "ChunkReport",
    "Cue",
    "DecodeTask",
    "ErrorRecord",
    "FeatureSpec",
    "FrameRecord",
    "ItemPlan",
    "MediaInfo",
    "MediaItem",
    "StreamInfo",
    "Word",
    "errors_schema",
    "frames_schema",
    "media_schema",
    "read_feature_spec",
    "windows_schema",
    "words_schema",
]
