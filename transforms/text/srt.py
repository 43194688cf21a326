"""SubRip (.srt), read the way players read it: tolerant of what real files do.

Accepted: any index or none, unpadded or dotted timestamps (``0:0:1.5``), CRLF, missing blank
lines between cues, zero-length and overlapping cues (kept as written), HTML-ish and ASS
override tags (stripped). A timing line whose end precedes its start is skipped with a warning.
Input with text but no cue at all raises :class:`TranscriptError`.
"""

from __future__ import annotations

import re
from fractions import Fraction

from mmfuse.errors import TranscriptError
from mmfuse.schemas.records import Cue
from mmfuse.transforms.text.markup import strip_markup

__all__ = ["parse_srt"]

_TS = r"(?:(\d+)\s*:\s*)?(\d{1,2})\s*:\s*(\d{1,2})(?:\s*[,.:;]\s*(\d{1,9}))?"
_TIMING = re.compile(rf"^\s*{_TS}\s*-+>\s*{_TS}(?:\s.*)?$")
_INDEX = re.compile(r"^\s*\d+\s*$")


def _to_us(h, m, s, frac) -> int:
    us = ((int(h or 0) * 60 + int(m)) * 60 + int(s)) * 1_000_000
    if frac:
        us += round(Fraction(int(frac), 10 ** len(frac)) * 1_000_000)
    return us


def parse_srt(text: str, name: str | None = None, warnings: list[str] | None = None) -> list[Cue]:
    """Cues of a decoded SRT file, in the file's order.

    A cue's text is every line between its timing line and the next one, less blank lines and
    the next cue's index.
    """
    lines = text.split("\n")
    timings = [(i, m) for i, line in enumerate(lines) if (m := _TIMING.match(line))]
    if not timings:
        if text.strip():
            first = next(i for i, line in enumerate(lines, start=1) if line.strip())
            raise TranscriptError("no SRT timing line ('00:00:01,000 --> 00:00:02,000') found", line=first, name=name)
        return []
    cues: list[Cue] = []
    for k, (i, m) in enumerate(timings):
        stop = timings[k + 1][0] if k + 1 < len(timings) else len(lines)
        body = lines[i + 1 : stop]
        while body and not body[-1].strip():
            body.pop()
        if k + 1 < len(timings) and body and _INDEX.match(body[-1]):
            body.pop()  # the next cue's index
        start, end = _to_us(*m.groups()[:4]), _to_us(*m.groups()[4:])
        if end < start:
            if warnings is not None:
                warnings.append(f"line {i + 1}: cue ends before it starts; skipped")
            continue
        text_lines = [line for line in body if line.strip()]
        cues.append(Cue(start, end, strip_markup("\n".join(text_lines))))
    return cues
