"""Transcript files with known cue times: SRT, WebVTT, Whisper JSON."""

from __future__ import annotations

import json
from typing import Sequence

__all__ = ["write_srt", "write_vtt", "write_whisper_json"]


def _fmt_srt(us: int) -> str:
    ms = us // 1000
    return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"


def _fmt_vtt(us: int) -> str:
    return _fmt_srt(us).replace(",", ".")


def write_srt(path: str, cues: Sequence[tuple[int, int, str]]) -> None:
    """Write ``(start_us, end_us, text)`` cues as SubRip."""
    with open(path, "w", encoding="utf-8") as f:
        for i, (s, e, text) in enumerate(cues, start=1):
            f.write(f"{i}\n{_fmt_srt(s)} --> {_fmt_srt(e)}\n{text}\n\n")


def write_vtt(path: str, cues: Sequence[tuple[int, int, str]]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write("WEBVTT\n\n")
        for s, e, text in cues:
            f.write(f"{_fmt_vtt(s)} --> {_fmt_vtt(e)}\n{text}\n\n")


def write_whisper_json(path: str, cues: Sequence[tuple[int, int, str]]) -> None:
    """Write cues as an openai-whisper ``transcribe()`` result, with evenly spread words."""
    segments = []
    for i, (s, e, text) in enumerate(cues):
        words = text.split()
        step = (e - s) / max(1, len(words))
        segments.append(
            {
                "id": i,
                "start": s / 1e6,
                "end": e / 1e6,
                "text": " " + text,
                "words": [
                    {
                        "word": " " + w,
                        "start": round((s + k * step) / 1e6, 3),
                        "end": round((s + (k + 1) * step) / 1e6, 3),
                        "probability": 0.9,
                    }
                    for k, w in enumerate(words)
                ],
            }
        )
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"text": " ".join(c[2] for c in cues), "segments": segments, "language": "en"}, f, indent=1)
