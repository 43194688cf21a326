"""Cues against the media they belong to."""

from __future__ import annotations

from typing import Optional

from mmfuse.schemas.records import Cue

__all__ = ["clamp_cues"]


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
