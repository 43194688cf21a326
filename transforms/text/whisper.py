"""Whisper JSON in both dialects: openai-whisper (``word``/``probability``) and
whisper-timestamped (``text``/``confidence``); a bare list of segments is accepted too."""

from __future__ import annotations

import json
from fractions import Fraction

from mmfuse.errors import TranscriptError
from mmfuse.schemas.records import Cue, Word

__all__ = ["parse_whisper_json"]


def _seconds_to_us(value, where: str, name) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise TranscriptError(f"{where}: time must be a number of seconds, got {value!r}", name=name)
    try:
        seconds = Fraction(str(value))
    except ValueError:
        raise TranscriptError(f"{where}: time must be a number of seconds, got {value!r}", name=name) from None
    return round(seconds * 1_000_000)


def _word(w, where: str, name) -> Word | None:
    if not isinstance(w, dict):
        raise TranscriptError(f"{where}: a word must be an object", name=name)
    text = w.get("word", w.get("text"))
    if not isinstance(text, str):
        raise TranscriptError(f"{where}: a word needs 'word' or 'text'", name=name)
    if not text.strip():
        return None
    start = w.get("start")
    end = w.get("end")
    start_us = None if start is None else _seconds_to_us(start, where, name)
    end_us = None if end is None else _seconds_to_us(end, where, name)
    if start_us is not None and end_us is not None and end_us < start_us:
        end_us = start_us
    score = w.get("probability", w.get("confidence"))
    score = float(score) if isinstance(score, (int, float)) and not isinstance(score, bool) else None
    return Word(text.strip(), start_us, end_us, score)


def parse_whisper_json(text: str, name: str | None = None) -> list[Cue]:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as err:
        raise TranscriptError(f"invalid JSON: {err.msg}", line=err.lineno, name=name) from None
    segments = doc.get("segments") if isinstance(doc, dict) else doc
    if not isinstance(segments, list):
        raise TranscriptError("Whisper JSON needs a 'segments' list", line=1, name=name)
    cues = []
    for i, seg in enumerate(segments):
        where = f"segment {i}"
        if not isinstance(seg, dict) or "start" not in seg or "end" not in seg:
            raise TranscriptError(f"{where}: a segment needs 'start' and 'end'", name=name)
        start = _seconds_to_us(seg["start"], where, name)
        end = max(start, _seconds_to_us(seg["end"], where, name))
        words = tuple(w for j, raw in enumerate(seg.get("words") or ()) if (w := _word(raw, f"{where} word {j}", name)))
        text_value = seg.get("text", "")
        if not isinstance(text_value, str):
            raise TranscriptError(f"{where}: 'text' must be a string", name=name)
        cues.append(Cue(start, end, " ".join(text_value.split()), words))
    return cues
