"""WebVTT, following the W3C WebVTT parser algorithm (https://www.w3.org/TR/webvtt1/#file-parsing).

A file without the ``WEBVTT`` signature, and cues whose timing line is invalid, yield no cues,
as the specification says. Cue settings, STYLE and REGION blocks are read past. Inline
timestamps (``<00:00:01.000><c> word</c>``, as in YouTube auto-captions) become word timings.
"""

from __future__ import annotations

from mmfuse.schemas.records import Cue, Word
from mmfuse.transforms.text.markup import split_timed_words, strip_markup

__all__ = ["parse_vtt", "parse_vtt_timestamp"]

_DIGITS = "0123456789"


def _collect_digits(s: str, pos: int) -> tuple[str, int]:
    start = pos
    while pos < len(s) and s[pos] in _DIGITS:
        pos += 1
    return s[start:pos], pos


def _timestamp(s: str, pos: int) -> tuple[int | None, int]:
    """Collect a WebVTT timestamp at ``pos``: (microseconds or None on failure, new pos)."""
    hours_form = False
    if pos >= len(s) or s[pos] not in _DIGITS:
        return None, pos
    d1, pos = _collect_digits(s, pos)
    v1 = int(d1)
    if len(d1) != 2 or v1 > 59:
        hours_form = True
    if pos >= len(s) or s[pos] != ":":
        return None, pos
    d2, pos = _collect_digits(s, pos + 1)
    if len(d2) != 2:
        return None, pos
    v2 = int(d2)
    if hours_form or (pos < len(s) and s[pos] == ":"):
        if pos >= len(s) or s[pos] != ":":
            return None, pos
        d3, pos = _collect_digits(s, pos + 1)
        if len(d3) != 2:
            return None, pos
        v3 = int(d3)
    else:
        v1, v2, v3 = 0, v1, v2
    if pos >= len(s) or s[pos] != ".":
        return None, pos
    d4, pos = _collect_digits(s, pos + 1)
    if len(d4) != 3:
        return None, pos
    if v2 > 59 or v3 > 59:
        return None, pos
    return ((v1 * 3600 + v2 * 60 + v3) * 1000 + int(d4)) * 1000, pos


def parse_vtt_timestamp(text: str) -> int | None:
    """Microseconds of a whole WebVTT timestamp string, or None when it is not one."""
    value, pos = _timestamp(text, 0)
    return value if pos == len(text) else None


def _skip_ws(s: str, pos: int) -> int:
    while pos < len(s) and s[pos] in " \t\n\f\r":
        pos += 1
    return pos


def _timings(line: str) -> tuple[int, int] | None:
    pos = _skip_ws(line, 0)
    start, pos = _timestamp(line, pos)
    if start is None:
        return None
    pos = _skip_ws(line, pos)
    if line[pos : pos + 3] != "-->":
        return None
    pos = _skip_ws(line, pos + 3)
    end, pos = _timestamp(line, pos)
    if end is None:
        return None
    # The rest of the line holds cue settings, which never invalidate a cue.
    return start, end


class _Reader:
    def __init__(self, text: str):
        self.s = text
        self.pos = 0

    def at_end(self) -> bool:
        return self.pos >= len(self.s)

    def line(self) -> str:
        end = self.s.find("\n", self.pos)
        end = len(self.s) if end < 0 else end
        line = self.s[self.pos : end]
        self.pos = end
        return line

    def skip_newlines(self) -> None:
        while self.pos < len(self.s) and self.s[self.pos] == "\n":
            self.pos += 1


def _collect_block(r: _Reader, in_header: bool):
    """The spec's 'collect a WebVTT block': a (start, end, id, text) tuple or None."""
    line_count = 0
    previous = r.pos
    buffer = ""
    seen_eof = seen_arrow = False
    cue = None
    while True:
        line = r.line()
        line_count += 1
        if r.at_end():
            seen_eof = True
        else:
            r.pos += 1
        if "-->" in line:
            if not in_header and (line_count == 1 or (line_count == 2 and not seen_arrow)):
                seen_arrow = True
                previous = r.pos
                timings = _timings(line)
                cue = None if timings is None else (timings[0], timings[1], buffer)
                if cue is not None:
                    buffer = ""
            else:
                r.pos = previous
                break
        elif line == "":
            break
        else:
            if buffer:
                buffer += "\n"
            buffer += line
            previous = r.pos
        if seen_eof:
            break
    if cue is None:
        return None
    return cue[0], cue[1], cue[2], buffer


def parse_vtt(text: str) -> list[Cue]:
    """Cues of a decoded WebVTT file (BOM already removed, line endings normalised)."""
    s = text.replace("\x00", "\ufffd")
    if s.startswith("\ufeff"):
        s = s[1:]
    if len(s) < 6 or not s.startswith("WEBVTT"):
        return []
    if len(s) > 6 and s[6] not in " \t\n":
        return []
    r = _Reader(s)
    r.line()
    if r.at_end():
        return []
    r.pos += 1
    if not r.at_end() and s[r.pos] != "\n":
        _collect_block(r, in_header=True)
    elif not r.at_end():
        r.pos += 1
    r.skip_newlines()
    cues: list[Cue] = []
    while not r.at_end():
        block = _collect_block(r, in_header=False)
        if block is not None:
            start, end, _ident, raw = block
            cues.append(_make_cue(start, end, raw))
        r.skip_newlines()
    return cues


def _make_cue(start: int, end: int, raw: str) -> Cue:
    # The spec lets a cue end before it starts (renderers never show it); keep its start.
    end = max(end, start)
    pieces = split_timed_words(raw)
    words: list[Word] = []
    if pieces:
        times = [start] + [parse_vtt_timestamp(ts) for ts, _ in pieces[1:]]
        for i, (t, (_, piece)) in enumerate(zip(times, pieces)):
            piece = " ".join(piece.split())
            if not piece:
                continue
            nxt = next((u for u in times[i + 1 :] if u is not None), end)
            t0 = None if t is None else min(max(t, start), end)
            t1 = None if t0 is None else max(t0, min(nxt, end))
            words.append(Word(piece, t0, t1))
    return Cue(start, end, strip_markup(raw), tuple(words))
