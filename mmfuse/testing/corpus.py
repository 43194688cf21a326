"""Alignment cases from real recordings with reference word timings (the layout of the shared
corpus's ``speech/``: ``index.json``, ``items/<id>/audio.wav``, ``words.json``, transcripts), and
the scoring of a run's ``words/`` table against those references."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Iterable, Optional, Sequence

from mmfuse.testing.subtitles import write_srt

__all__ = ["INDEPENDENT_EN", "SpeechItem", "onset_errors", "percentile", "speech_items", "write_case"]

# English items whose references pocketsphinx did not make (hand-labelled, gentle/Kaldi, HTS,
# P2FA): the fair judges of an aligner built on pocketsphinx's model.
INDEPENDENT_EN = (
    "praatio_bobby",
    "praatio_mary",
    "praatio_damon",
    "parselmouth_northwind",
    "gentle_harvard_list30",
    "arctic_slt_a0009",
)


@dataclass(frozen=True)
class SpeechItem:
    id: str
    language: str
    audio: str
    duration_s: float
    words: tuple  # reference [{"word", "start", "end"}], seconds
    lines: tuple[str, ...]  # the transcript as written, one line per sentence where it has them
    independent: bool  # reference made by a method other than pocketsphinx's


def speech_items(folder: str, language: str = "en", ids: Optional[Iterable[str]] = None) -> list[SpeechItem]:
    """Items with word-level references in ``language``."""
    index = json.load(open(os.path.join(folder, "index.json"), encoding="utf-8"))
    wanted = set(ids) if ids is not None else None
    out = []
    for rec in index["items"]:
        if rec.get("language") != language or "words" not in rec or (wanted is not None and rec["id"] not in wanted):
            continue
        words = json.load(open(os.path.join(folder, rec["words"]), encoding="utf-8"))
        original = open(os.path.join(folder, rec["transcript_original"]), encoding="utf-8").read()
        lines = tuple(line.strip() for line in original.splitlines() if line.strip())
        if sum(len(line.split()) for line in lines) != len(words):
            lines = (" ".join(w["word"] for w in words),)
        out.append(
            SpeechItem(
                rec["id"],
                language,
                os.path.abspath(os.path.join(folder, rec["audio"])),
                float(rec["duration_s"]),
                tuple(words),
                lines,
                bool(rec.get("reference_independent")),
            )
        )
    return out


def _cues(item: SpeechItem, shift_us: int) -> list[tuple[int, int, str]]:
    """One cue per line, exactly on the reference's speech, moved by ``shift_us``."""
    cues, k = [], 0
    for line in item.lines:
        n = len(line.split())
        ws = item.words[k : k + n]
        k += n
        start, end = round(ws[0]["start"] * 1e6) + shift_us, round(ws[-1]["end"] * 1e6) + shift_us
        cues.append((max(0, start), max(0, end), line))
    return cues


def write_case(folder: str, items: Sequence[SpeechItem], mode: str, shift_us: int = 0) -> str:
    """A manifest of ``items`` with transcripts for ``mode``: ``text`` (plain text),
    ``cues`` (an SRT per item, cues on the speech, moved by ``shift_us``) or ``mismatch``
    (each item with the plain transcript of the other item closest to it in length). Returns
    the manifest's path."""
    os.makedirs(folder, exist_ok=True)
    lines = []
    for n, item in enumerate(items):
        if mode == "cues":
            transcript = os.path.join(folder, f"{item.id}.srt")
            write_srt(transcript, _cues(item, shift_us))
        else:
            source = item
            if mode == "mismatch":
                others = [o for o in items if o.lines != item.lines]  # not a copy of the same recording
                source = min(others, key=lambda o: (abs(len(o.words) - len(item.words)), o.id))
            transcript = os.path.join(folder, f"{item.id}.txt")
            with open(transcript, "w", encoding="utf-8") as f:
                f.write("\n".join(source.lines) + "\n")
        lines.append(json.dumps({"id": item.id, "audio": item.audio, "transcript": transcript}))
    manifest = os.path.join(folder, "items.jsonl")
    with open(manifest, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return manifest


def onset_errors(rows: Sequence[dict], item: SpeechItem, plain: bool) -> list[float]:
    """Seconds between each reference word's start and the aligned word in the same place of
    the transcript (``inf`` where the word got no time); ``plain``: the transcript was plain
    text (``word_index`` counts in the whole text)."""
    mine = [r for r in rows if r["media_id"] == item.id]
    mine.sort(key=(lambda r: r["word_index"]) if plain else (lambda r: (r["cue_index"], r["word_index"])))
    if len(mine) != len(item.words):
        raise ValueError(f"{item.id}: {len(mine)} aligned words for {len(item.words)} reference words")
    return [float("inf") if r["start_us"] is None else abs(r["start_us"] / 1e6 - w["start"]) for r, w in zip(mine, item.words)]


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-quantile (0..1) of ``values``, nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))] if ordered else float("nan")
