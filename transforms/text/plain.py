"""Plain text (``.txt``, ``.lab``): the words of an item with no times, for forced alignment."""

from __future__ import annotations

from mmfuse.schemas.records import Cue

__all__ = ["parse_plain"]


def parse_plain(text: str) -> list[Cue]:
    """One untimed cue (``[0, 0)``) holding the whole text; the pipeline stretches it over the
    item's duration or aligns its words to the audio."""
    body = " ".join(text.split())
    return [Cue(0, 0, body)] if body else []
