"""Word timings for every cue of a transcript, by forced alignment against the item's audio.

Each cue is aligned inside its own stretch of audio (its time ± a margin), so memory is
bounded by the longest cue, not by the file. English goes through pocketsphinx when every
word is in its dictionary; otherwise, or when pocketsphinx fails, the text is spoken by
espeak-ng and matched by DTW. An untimed transcript (plain text) is split into sentences that
are found one after the other in a window that moves along the audio.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Callable, Iterator, Literal, Optional, Sequence

import numpy as np

from mmfuse.schemas.records import Cue
from mmfuse.transforms.align.speech import FRAME_US, AudioCursor, frame_energy_db
from mmfuse.transforms.align.tts import EspeakUnavailable, Synthesizer, TtsAligner, WordTime
from mmfuse.transforms.text.tokens import strip_word

__all__ = ["AlignedWord", "WordAligner", "align_transcript", "align_untimed", "cue_words", "split_sentences"]

_LOG = logging.getLogger(__name__)
Method = Literal["auto", "sphinx", "tts"]
# espeak-ng voice for a transcript language code.
_VOICES = {"en": "en-us"}
_MIN_MARGIN_US = 100_000
# Cues longer than this are treated as untimed text to find sentence by sentence.
_LONG_CUE_US = 60_000_000


@dataclass(frozen=True)
class AlignedWord:
    cue_index: int
    word: str
    start_us: Optional[int]
    end_us: Optional[int]
    score: Optional[float]
    method: str

    def as_row(self, media_id: str) -> dict:
        return {
            "media_id": media_id,
            "cue_index": self.cue_index,
            "word": self.word,
            "start_us": self.start_us,
            "end_us": self.end_us,
            "score": self.score,
            "method": self.method,
        }


def cue_words(text: str) -> list[str]:
    """The words of a cue as written, without surrounding punctuation."""
    out = []
    for token in text.split():
        word = strip_word(token)
        if any(ch.isalnum() for ch in word):
            out.append(word)
    return out


def split_sentences(text: str) -> list[str]:
    """Sentences of plain text (a full stop, question or exclamation mark ends one)."""
    parts = re.split(r"(?<=[.!?])\s+", " ".join(text.split()))
    return [p for p in parts if cue_words(p)]


class WordAligner:
    """Aligns word lists to speech with the configured method; engines are built on first use."""

    def __init__(self, method: Method = "auto", language: str = "en"):
        if method not in ("auto", "sphinx", "tts"):
            raise ValueError(f"alignment method must be auto, sphinx or tts, got {method!r}")
        self.method, self.language = method, language
        self._sphinx = self._tts = None

    def _sphinx_aligner(self):
        if self._sphinx is None:
            from mmfuse.transforms.align.sphinx import SphinxAligner

            self._sphinx = SphinxAligner()
        return self._sphinx

    def tts(self) -> TtsAligner:
        if self._tts is None:
            self._tts = TtsAligner(Synthesizer(voice=_VOICES.get(self.language, self.language)))
        return self._tts

    def align(self, samples, words: list[str]) -> tuple[Optional[list[WordTime]], str]:
        """(word times relative to the samples' start, method) or (None, "none")."""
        if self.method in ("auto", "sphinx") and self.language == "en":
            result = self._sphinx_aligner().align(samples, words)
            if result is not None:
                return result, "sphinx"
            if self.method == "sphinx":
                return None, "none"
        try:
            result = self.tts().align(samples, words)
        except EspeakUnavailable as err:
            _LOG.warning("%s", err)
            return None, "none"
        return (result, "tts_dtw") if result is not None else (None, "none")


def align_transcript(
    open_cursor: Callable[[], AudioCursor],
    cues: Sequence[Cue],
    aligner: WordAligner,
    margin_us: int = 500_000,
) -> Iterator[AlignedWord]:
    """Aligned words of every cue, cues taken in time order; words that could not be placed
    have null times. ``open_cursor`` gives a fresh pass over the item's audio."""
    cursor = open_cursor()
    order = sorted(range(len(cues)), key=lambda k: (cues[k].start_us, k))
    for n, k in enumerate(order):
        cue = cues[k]
        words = cue_words(cue.text)
        if not words:
            continue
        if cue.duration_us > _LONG_CUE_US:
            # A long cue moves through the audio on a pass of its own.
            yield from _align_long(open_cursor(), k, cue, aligner, margin_us)
            continue
        # The margin reaches at most halfway to the neighbouring cues, so the speech of one
        # cue is not offered to the words of the next.
        before = after = margin_us
        if n > 0:
            before = min(before, max(_MIN_MARGIN_US, (cue.start_us - cues[order[n - 1]].end_us) // 2))
        if n + 1 < len(order):
            after = min(after, max(_MIN_MARGIN_US, (cues[order[n + 1]].start_us - cue.end_us) // 2))
        yield from _align_span(cursor, k, words, cue.start_us - before, cue.end_us + after, aligner)


def _snap_to_speech(samples, times: list[Optional[WordTime]]) -> list[Optional[WordTime]]:
    """Move the first word's start and the last word's end off the silence around the speech:
    an aligner may stretch an edge word over the margin it was given."""
    placed = [i for i, t in enumerate(times) if t is not None]
    energy = frame_energy_db(samples)
    if not placed or len(energy) < 3:
        return times
    floor, peak = np.percentile(energy, 5), energy.max()
    active = np.flatnonzero(energy > max(floor + 10.0, peak - 40.0))
    if not len(active):
        return times
    first_on, last_on = active[0] * FRAME_US, (active[-1] + 1) * FRAME_US
    out = list(times)
    # Leading words placed in the silence before the speech start where it starts; the word
    # that straddles the onset starts at it. The same, mirrored, at the end.
    for i in placed:
        t = out[i]
        if t.end_us <= first_on:
            out[i] = WordTime(first_on, first_on, t.score)
            continue
        if t.start_us < first_on:
            out[i] = WordTime(first_on, t.end_us, t.score)
        break
    for j in reversed(placed):
        t = out[j]
        if t.start_us >= last_on:
            out[j] = WordTime(last_on, last_on, t.score)
            continue
        if t.end_us > last_on:
            out[j] = WordTime(t.start_us, last_on, t.score)
        break
    return out


def _align_span(
    cursor: AudioCursor, k: int, words: list[str], start_us: int, end_us: int, aligner: WordAligner
) -> Iterator[AlignedWord]:
    first, samples = cursor.span(max(0, start_us), end_us)
    times, method = aligner.align(samples, words) if len(samples) else (None, "none")
    if times is not None:
        times = _snap_to_speech(samples, times)
    base = cursor.time_of(first)
    for n, word in enumerate(words):
        t = times[n] if times is not None else None
        if t is None:
            yield AlignedWord(k, word, None, None, None, "none")
        else:
            yield AlignedWord(k, word, base + t.start_us, base + t.end_us, round(t.score, 4), method)


def _align_long(cursor: AudioCursor, k: int, cue: Cue, aligner: WordAligner, margin_us: int) -> Iterator[AlignedWord]:
    """Sentences of a long cue, found in order inside a window moving forward from its start."""
    for _, words in _locate_sentences(cursor, split_sentences(cue.text), max(0, cue.start_us), aligner, margin_us):
        for w in words:
            yield AlignedWord(k, w.word, w.start_us, w.end_us, w.score, w.method)


def _locate_sentences(cursor: AudioCursor, sentences: list[str], position: int, aligner: WordAligner, margin_us: int):
    """For each sentence: (sentence, its aligned words). The synthetic rendering finds the
    sentence in a window after the previous one; the chosen method then places its words."""
    tts = aligner.tts()
    for sentence in sentences:
        words = cue_words(sentence)
        # A generous window: the sentence spoken at half espeak-ng's speed, plus 10 s of slack.
        guess = len(" ".join(words)) * 80_000
        first, samples = cursor.span(max(0, position - margin_us), position + 2 * guess + 10_000_000)
        located = tts.align(samples, words) if len(samples) else None
        if located is None:
            yield sentence, [AlignedWord(-1, w, None, None, None, "none") for w in words]
            continue
        base = cursor.time_of(first)
        start, end = base + located[0].start_us, base + located[-1].end_us
        yield sentence, list(_align_span(cursor, -1, words, start - 300_000, end + 300_000, aligner))
        position = max(position, end)


def align_untimed(
    open_cursor: Callable[[], AudioCursor], text: str, aligner: WordAligner, margin_us: int = 500_000
) -> tuple[list[Cue], list[AlignedWord]]:
    """Plain text to timed sentence cues and their aligned words; a sentence that cannot be
    found gets no cue and its words null times (their ``cue_index`` is -1)."""
    cues: list[Cue] = []
    words_out: list[AlignedWord] = []
    for sentence, words in _locate_sentences(open_cursor(), split_sentences(text), 0, aligner, margin_us):
        placed = [w for w in words if w.start_us is not None]
        if not placed:
            words_out.extend(words)
            continue
        k = len(cues)
        cues.append(Cue(placed[0].start_us, max(w.end_us for w in placed), sentence))
        words_out.extend(AlignedWord(k, w.word, w.start_us, w.end_us, w.score, w.method) for w in words)
    return cues, words_out
