"""Dead letters: the ``errors`` output every stage has, and the rows it becomes.

A stage that cannot handle an element emits an :class:`~mmfuse.schemas.records.ErrorRecord` on
its ``ERRORS`` output instead of failing the job; they all land in ``errors/``.
"""

from __future__ import annotations

import traceback
from typing import Optional

from mmfuse.errors import MmfuseError
from mmfuse.schemas.records import ErrorRecord, MediaItem
from mmfuse.transforms.counters import JobCounter

__all__ = ["ERRORS", "FAILED", "error_record", "failed_media_row"]

ERRORS = "errors"  # the dead-letter output of every stage
FAILED = "failed"  # media rows of items that could not be used at all


def error_record(media_id: str, uri: Optional[str], stage: str, err: BaseException) -> ErrorRecord:
    """A dead-letter row for ``err``; unexpected exceptions keep their type and last frame.
    Counted in the ``errors`` and ``errors_<type>`` metrics."""
    if isinstance(err, MmfuseError):
        record = ErrorRecord(media_id, uri, stage, err.error_type, str(err))
    else:
        tb = traceback.extract_tb(err.__traceback__)
        where = f" (at {tb[-1].filename.rsplit('/', 1)[-1]}:{tb[-1].lineno})" if tb else ""
        record = ErrorRecord(media_id, uri, stage, "internal_error", f"{type(err).__name__}: {err}{where}")
    JobCounter("errors").inc()
    JobCounter(f"errors_{record.error_type}").inc()
    return record


def failed_media_row(item: MediaItem, n_errors: int = 1) -> dict:
    """The ``media/`` row of an item that could not be probed."""
    return {
        "media_id": item.media_id,
        "video_uri": item.video_uri,
        "audio_uri": item.audio_uri,
        "transcript_uri": item.transcript_uri,
        "status": "failed",
        "n_errors": n_errors,
        "fingerprint": item.fingerprint,
    }
