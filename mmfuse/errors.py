"""The exceptions mmfuse raises. Each carries an ``error_type`` that lands in ``errors/``."""

from __future__ import annotations

from typing import Optional

__all__ = [
    "ConfigError",
    "DecodeError",
    "DecodeTimeout",
    "DecoderCrashed",
    "InputError",
    "InputTooLarge",
    "MediaError",
    "MediaNotFound",
    "MmfuseError",
    "NoDecodableStream",
    "NotAFile",
    "OutputError",
    "TranscriptError",
    "UnreadableContainer",
]


class MmfuseError(Exception):
    """Base class of every error mmfuse raises on purpose."""

    error_type = "error"


class ConfigError(MmfuseError, ValueError):
    """A flag or setting is invalid; raised before a job starts."""

    error_type = "config_error"


class InputError(MmfuseError, ValueError):
    """The list of inputs (manifest, glob) cannot be used; raised before a job starts."""

    error_type = "input_error"


class OutputError(MmfuseError):
    """The job could not write its output (a full disk, no permission); the earlier run in
    the folder is kept."""

    error_type = "output_error"


class MediaError(MmfuseError):
    """A media file cannot be used (the item or one of its streams fails)."""

    error_type = "media_error"


class MediaNotFound(MediaError):
    error_type = "not_found"


class NotAFile(MediaError):
    """The path names a directory, a FIFO, a device or a socket: only regular files are read
    (opening a FIFO blocks forever; a device can be read forever)."""

    error_type = "not_a_file"


class InputTooLarge(MediaError):
    """A file is larger than the limit set for its kind (``--max_transcript_mb``)."""

    error_type = "too_large"


class UnreadableContainer(MediaError):
    """The file is not a container ffmpeg can open (empty, truncated header, random bytes)."""

    error_type = "unreadable_container"


class NoDecodableStream(MediaError):
    """The container opens but holds no audio or video stream that decodes."""

    error_type = "no_decodable_stream"


class DecodeError(MediaError):
    """Decoding failed part way through a stream."""

    error_type = "decode_error"


class DecodeTimeout(MediaError):
    """A decode task ran past ``--task_timeout``."""

    error_type = "timeout"


class DecoderCrashed(MediaError):
    """The subprocess decoding a task (``--isolate_decode``) died: a crash in the decoder."""

    error_type = "decoder_crashed"


class TranscriptError(MmfuseError, ValueError):
    """A transcript cannot be parsed. ``line`` is the 1-based line where parsing failed."""

    error_type = "transcript_error"

    def __init__(self, message: str, line: Optional[int] = None, name: Optional[str] = None):
        where = []
        if name:
            where.append(str(name))
        if line is not None:
            where.append(f"line {line}")
        super().__init__(f"{': '.join(where)}: {message}" if where else message)
        self.line = line
        self.name = name
