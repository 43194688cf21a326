"""Cue text markup: tags, entities, and the inline word timestamps of YouTube captions."""

from __future__ import annotations

import html
import re

__all__ = ["strip_markup", "split_timed_words"]

_TAG = re.compile(r"<[^>]*>")
_ASS_OVERRIDE = re.compile(r"\{\\[^}]*\}")
_TIMESTAMP_TAG = re.compile(r"<((?:\d+:)?\d{2}:\d{2}\.\d{3})>")


def strip_markup(text: str) -> str:
    """Cue text without tags (``<i>``, ``<c.cls>``, ``<v Name>``, ``<00:01.000>``, ``{\\an8}``)
    and with entities decoded; line breaks are kept."""
    text = _ASS_OVERRIDE.sub("", text)
    text = _TAG.sub("", text)
    text = html.unescape(text).replace("\u00a0", " ")
    return "\n".join(line.strip() for line in text.split("\n")).strip("\n")


def split_timed_words(text: str) -> list[tuple[str | None, str]]:
    """Split cue text at inline timestamp tags.

    Returns ``[(timestamp or None, plain text), …]``; the first piece has no timestamp (it
    starts with the cue). Empty when the text has no timestamp tags.
    """
    parts = _TIMESTAMP_TAG.split(text)
    if len(parts) == 1:
        return []
    pieces: list[tuple[str | None, str]] = [(None, strip_markup(parts[0]))]
    for i in range(1, len(parts), 2):
        pieces.append((parts[i], strip_markup(parts[i + 1])))
    return pieces
