"""An item's decode plan: chunks of its video on the media clock, and the tasks they become."""

from __future__ import annotations

from typing import Iterator, Optional

from mmfuse.schemas.records import Chunk, DecodeTask, ItemPlan, MediaInfo

__all__ = ["decode_tasks", "plan_chunks"]


def plan_chunks(media_id: str, duration_us: Optional[int], chunk_us: int) -> tuple[Chunk, ...]:
    """Chunks of ``chunk_us`` from 0; the last is open-ended so nothing past the stated
    duration is lost."""
    if not duration_us or duration_us <= chunk_us:
        return (Chunk(media_id, 0, 0, None),)
    n = -(-duration_us // chunk_us)
    return tuple(Chunk(media_id, k, k * chunk_us, (k + 1) * chunk_us if k < n - 1 else None) for k in range(n))


def decode_tasks(plan: ItemPlan, kind: Optional[str] = None) -> Iterator[DecodeTask]:
    """One task per video chunk and one for the whole audio track (only those of ``kind``,
    ``"video"`` or ``"audio"``, when given)."""
    info: MediaInfo = plan.info
    if info.has_video and kind in (None, "video"):
        for chunk in plan.chunks:
            yield DecodeTask(info, "video", chunk)
    if info.has_audio and kind in (None, "audio"):
        yield DecodeTask(info, "audio")
