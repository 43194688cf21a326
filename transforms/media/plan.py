"""Probe each item, read its transcript, and split it into decode tasks.

An item that cannot be used at all goes to the dead letter (``errors``) and to the media table
as ``failed``; a transcript that cannot be read is an error of its own while the item goes on
without text.
"""

from __future__ import annotations

import logging
import traceback
from typing import Iterator, Optional

import apache_beam as beam

from mmfuse.clock import WindowGrid
from mmfuse.errors import MediaError, MmfuseError
from mmfuse.schemas.records import Chunk, Cue, DecodeTask, ErrorRecord, ItemPlan, MediaInfo, MediaItem
from mmfuse.settings import ExtractConfig
from mmfuse.transforms.counters import Counter
from mmfuse.transforms.media.probe import probe_media
from mmfuse.transforms.text.transcripts import TEXT_SUBTITLE_CODECS, load_transcript_uri

__all__ = ["ERRORS", "FAILED", "PlanItems", "clamp_cues", "error_record", "failed_media_row", "plan_chunks"]

ERRORS = "errors"
FAILED = "failed"
_LOG = logging.getLogger(__name__)


def error_record(media_id: str, uri: Optional[str], stage: str, err: BaseException) -> ErrorRecord:
    """A dead-letter row for ``err``; unexpected exceptions keep their type and last frame.
    Counted in the ``errors`` and ``errors_<type>`` metrics."""
    if isinstance(err, MmfuseError):
        record = ErrorRecord(media_id, uri, stage, err.error_type, str(err))
    else:
        tb = traceback.extract_tb(err.__traceback__)
        where = f" (at {tb[-1].filename.rsplit('/', 1)[-1]}:{tb[-1].lineno})" if tb else ""
        record = ErrorRecord(media_id, uri, stage, "internal_error", f"{type(err).__name__}: {err}{where}")
    Counter("errors").inc()
    Counter(f"errors_{record.error_type}").inc()
    return record


def failed_media_row(item: MediaItem, n_errors: int = 1) -> dict:
    return {
        "media_id": item.media_id,
        "video_uri": item.video_uri,
        "audio_uri": item.audio_uri,
        "transcript_uri": item.transcript_uri,
        "status": "failed",
        "n_errors": n_errors,
        "fingerprint": item.fingerprint,
    }


def plan_chunks(media_id: str, duration_us: Optional[int], chunk_us: int) -> tuple[Chunk, ...]:
    """Chunks of ``chunk_us`` from 0; the last is open-ended so nothing past the stated
    duration is lost."""
    if not duration_us or duration_us <= chunk_us:
        return (Chunk(media_id, 0, 0, None),)
    n = -(-duration_us // chunk_us)
    return tuple(Chunk(media_id, k, k * chunk_us, (k + 1) * chunk_us if k < n - 1 else None) for k in range(n))


def clamp_cues(cues: tuple[Cue, ...], duration_us: Optional[int], timed: bool) -> tuple[tuple[Cue, ...], int]:
    """Cues against the media's span ``[0, duration)``: returns the cues and how many reach
    outside it. Timed cues keep their times (windows exist only inside the media, so text
    past the end lands nowhere, and a later offset correction can still bring it back); an
    untimed transcript (plain text) becomes one cue over the whole item."""
    if not timed:
        if duration_us is None:
            return cues, 0
        return tuple(Cue(0, duration_us, c.text, c.words) for c in cues), 0
    if duration_us is None:
        return cues, 0
    outside = sum(1 for c in cues if c.start_us < 0 or c.end_us > duration_us)
    return tuple(cues), outside


class _PlanItemFn(beam.DoFn):
    def __init__(self, config: ExtractConfig):
        self.config = config
        self.probed = Counter("items_probed")
        self.failed = Counter("items_failed")

    def _embedded_source(self, info: MediaInfo) -> Optional[str]:
        """The video itself when it carries a text subtitle stream and no transcript is given."""
        if not info.item.video_uri:
            return None
        text = [s for s in info.other_streams if s.kind == "subtitle" and s.codec in TEXT_SUBTITLE_CODECS]
        return info.item.video_uri if text or self.config.subtitle_stream is not None else None

    def process(self, item: MediaItem) -> Iterator:
        try:
            info = probe_media(item, self.config.video_stream, self.config.audio_stream)
        except Exception as err:  # every per-item failure goes to the dead letter
            if not isinstance(err, MediaError):
                _LOG.exception("probing %s failed unexpectedly", item.uri)
            self.failed.inc()
            yield beam.pvalue.TaggedOutput(ERRORS, error_record(item.media_id, item.uri, "probe", err))
            yield beam.pvalue.TaggedOutput(FAILED, failed_media_row(item))
            return
        self.probed.inc()
        cues, fmt, clamped, timed, warnings = (), None, 0, True, list(info.warnings)
        source = item.transcript_uri or self._embedded_source(info)
        if source:
            try:
                transcript = load_transcript_uri(source, self.config.subtitle_stream)
                fmt, timed = transcript.format, transcript.timed
                cues, clamped = clamp_cues(transcript.cues, info.duration_us, transcript.timed)
                warnings.extend(transcript.warnings)  # cues reaching outside the media are counted, not warned of
            except Exception as err:
                record = error_record(item.media_id, source, "transcript", err)
                warnings.append(f"transcript not used: {record.message}")
                yield beam.pvalue.TaggedOutput(ERRORS, record)
        grid: WindowGrid = self.config.grid
        yield ItemPlan(
            info=info,
            chunks=plan_chunks(item.media_id, info.duration_us, self.config.chunk_us),
            n_windows=grid.count(info.duration_us or 0),
            cues=cues,
            transcript_format=fmt,
            n_cues_clamped=clamped,
            warnings=tuple(warnings),
            timed=timed,
        )


def decode_tasks(plan: ItemPlan) -> Iterator[DecodeTask]:
    info: MediaInfo = plan.info
    if info.has_video:
        for chunk in plan.chunks:
            yield DecodeTask(info, "video", chunk)
    if info.has_audio:
        yield DecodeTask(info, "audio")


class PlanItems(beam.PTransform):
    """Items → ``{"plans", "tasks", "errors", "failed"}``: probed items, their decode tasks
    (shuffled so chunks of one long item spread over workers), dead letters, failed rows."""

    def __init__(self, config: ExtractConfig):
        super().__init__()
        self.config = config

    def expand(self, items):
        out = items | "Probe" >> beam.ParDo(_PlanItemFn(self.config)).with_outputs(ERRORS, FAILED, main="plans")
        tasks = out.plans | "SplitTasks" >> beam.FlatMap(decode_tasks) | "SpreadTasks" >> beam.Reshuffle()
        return {"plans": out.plans, "tasks": tasks, ERRORS: out[ERRORS], FAILED: out[FAILED]}
