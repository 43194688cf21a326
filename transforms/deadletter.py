"""Dead letters: the ``errors`` output every stage has, and the rows it becomes.

A stage that cannot handle an element emits an :class:`~mmfuse.schemas.records.ErrorRecord` on
its ``ERRORS`` output instead of failing the job; they all land in ``errors/``.
"""

from __future__ import annotations

import traceback
from typing import Any, Callable, Iterable, Optional

import apache_beam as beam

from mmfuse.errors import MmfuseError
from mmfuse.schemas.records import ErrorRecord, MediaItem
from mmfuse.transforms.counters import JobCounter

__all__ = ["ERRORS", "FAILED", "Guarded", "error_record", "failed_media_row", "media_id_of"]

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
        "carried_over": False,
        **item.tags(),
    }


def media_id_of(element: Any) -> str:
    """The item an element of any stage belongs to: a record's ``media_id``, a row's
    ``"media_id"``, or the key of a ``(media_id, …)`` / ``((media_id, index), …)`` pair."""
    if hasattr(element, "media_id"):
        return str(element.media_id)
    if isinstance(element, dict) and "media_id" in element:
        return str(element["media_id"])
    if isinstance(element, tuple) and element:
        return media_id_of(element[0]) if not isinstance(element[0], str) else element[0]
    return "?"


class _GuardedFn(beam.DoFn):
    def __init__(self, fn: Callable[..., Iterable], stage: str):
        self.fn, self.stage = fn, stage

    def process(self, element, *args, **kwargs):
        try:
            # materialised, so an element that fails half way emits nothing but its error
            out = list(self.fn(element, *args, **kwargs))
        except Exception as err:
            yield beam.pvalue.TaggedOutput(ERRORS, error_record(media_id_of(element), None, self.stage, err))
            return
        yield from out


class Guarded(beam.PTransform):
    """``FlatMap(fn, *args)`` whose failures are dead letters: an element that raises becomes
    an :class:`~mmfuse.schemas.records.ErrorRecord` of ``stage`` on the ``errors`` output, and
    the others go on (``main``). Beam's own ``with_exception_handling`` hands on the element
    with the exception's repr and traceback text; the ``errors/`` table needs the item, the
    stage and the exception's type, so the wrapper is written here."""

    def __init__(self, fn: Callable[..., Iterable], stage: str, *args, **kwargs):
        super().__init__()
        self.fn, self.stage, self.args, self.kwargs = fn, stage, args, kwargs

    def expand(self, pcoll):
        return pcoll | beam.ParDo(_GuardedFn(self.fn, self.stage), *self.args, **self.kwargs).with_outputs(ERRORS, main="main")
