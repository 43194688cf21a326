"""Transcripts: SRT, WebVTT, Whisper JSON and plain text into :class:`~mmfuse.schemas.records.Cue` s.

``parse_transcript(data, name)`` and ``read_transcript(uri)`` are the public entry points; any
input they cannot use raises :class:`TranscriptError`, never another exception type.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, replace
from typing import Literal

from mmfuse.errors import TranscriptError
from mmfuse.schemas.records import Cue
from mmfuse.transforms.text.embedded import TEXT_SUBTITLE_CODECS, read_embedded
from mmfuse.transforms.text.encoding import decode_text
from mmfuse.transforms.text.plain import parse_plain
from mmfuse.transforms.text.srt import parse_srt
from mmfuse.transforms.text.vtt import parse_vtt
from mmfuse.transforms.text.whisper import parse_whisper_json

__all__ = [
    "TRANSCRIPT_EXTENSIONS",
    "Cue",
    "Transcript",
    "TranscriptError",
    "TEXT_SUBTITLE_CODECS",
    "detect_format",
    "is_transcript_file",
    "load_transcript",
    "load_transcript_uri",
    "parse_transcript",
    "read_transcript",
]

Format = Literal["srt", "vtt", "whisper_json", "text"]
# A subtitle cue holds a line or two; one far longer is damage or an attack (a 50 MB cue on
# one line), and would put its whole text into every window it overlaps.
MAX_CUE_CHARS = 10_000

TRANSCRIPT_EXTENSIONS = {".srt": "srt", ".vtt": "vtt", ".json": "whisper_json", ".txt": "text", ".lab": "text"}
_SRT_TIMING = re.compile(r"^\s*(?:\d+:)?\d{1,2}:\d{1,2}[,.]\d+\s*-->", re.MULTILINE)


@dataclass(frozen=True)
class Transcript:
    """A parsed transcript: cues in file order, plus how it was read."""

    cues: tuple[Cue, ...]
    format: str
    encoding: str
    timed: bool = True
    warnings: tuple[str, ...] = ()


def detect_format(text: str, name: str = "") -> Format:
    """The format by file extension, else by content."""
    ext = posixpath.splitext(name.lower())[1]
    if ext in TRANSCRIPT_EXTENSIONS:
        return TRANSCRIPT_EXTENSIONS[ext]  # type: ignore[return-value]
    head = text.lstrip("\ufeff \t\n")
    if head.startswith("WEBVTT"):
        return "vtt"
    if head[:1] in "{[" and head:
        return "whisper_json"
    if _SRT_TIMING.search(text[:20000]):
        return "srt"
    return "text"


def load_transcript(data: bytes, name: str = "") -> Transcript:
    """Parse transcript bytes; ``name`` (a file name or URI) picks the format by extension."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TranscriptError(f"expected bytes, got {type(data).__name__}", name=name)
    try:
        text, encoding = decode_text(bytes(data), name=name)
        fmt = detect_format(text, name)
        warnings: list[str] = []
        if fmt == "srt":
            cues = parse_srt(text, name=name, warnings=warnings)
        elif fmt == "vtt":
            cues = parse_vtt(text)
            if not cues and "-->" in text:
                warnings.append("no valid WebVTT cue (check the WEBVTT header and hh:mm:ss.ttt times)")
        elif fmt == "whisper_json":
            cues = parse_whisper_json(text, name=name)
        else:
            cues = parse_plain(text)
        timed = fmt != "text"
        if timed:
            cues = _cut_long_cues(cues, warnings)
        return Transcript(tuple(cues), fmt, encoding, timed=timed, warnings=tuple(warnings))
    except TranscriptError:
        raise
    except Exception as err:  # a parser bug must still reach users as a TranscriptError
        raise TranscriptError(f"cannot parse ({type(err).__name__}: {err})", name=name) from err


def _cut_long_cues(cues, warnings: list[str]) -> list[Cue]:
    """Cues with text over ``MAX_CUE_CHARS`` cut there (at a space), with one warning."""
    out, n_cut = [], 0
    for cue in cues:
        if len(cue.text) > MAX_CUE_CHARS:
            n_cut += 1
            head = cue.text[:MAX_CUE_CHARS]
            cue = replace(cue, text=head.rsplit(" ", 1)[0] if " " in head else head, words=())
        out.append(cue)
    if n_cut:
        warnings.append(f"{n_cut} cues longer than {MAX_CUE_CHARS} characters were cut to that length")
    return out


def parse_transcript(data: bytes, name: str = "") -> list[Cue]:
    """Cues of a transcript file's bytes; the format comes from ``name``'s extension."""
    return list(load_transcript(data, name).cues)


def is_transcript_file(uri: str) -> bool:
    """Whether ``uri`` names a transcript file (by extension) rather than a media file."""
    return posixpath.splitext(uri.lower())[1] in TRANSCRIPT_EXTENSIONS


def load_transcript_uri(uri: str, subtitle_stream: int | None = None, max_bytes: int | None = None) -> Transcript:
    """A transcript file (at most ``max_bytes``), or the subtitle stream embedded in a media file."""
    if is_transcript_file(uri):
        from mmfuse.fs import read_bytes

        return load_transcript(read_bytes(uri, max_bytes), uri)
    cues, codec, _ = read_embedded(uri, subtitle_stream)
    return Transcript(tuple(cues), f"embedded:{codec}", "utf-8")


def read_transcript(uri: str) -> list[Cue]:
    """Cues of a transcript at ``uri`` (any Beam filesystem): a transcript file, or the first
    text subtitle stream of a media file (mov_text in MP4, SubRip/WebVTT/ASS in MKV)."""
    return list(load_transcript_uri(uri).cues)
