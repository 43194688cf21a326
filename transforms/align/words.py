"""Word timings for every word of a transcript, by an acoustic model.

English goes through pocketsphinx's en-us model (:mod:`~mmfuse.transforms.align.acoustic`):

* **timed cues**: each cue's words are force-aligned inside the cue's stretch of audio (its time
  ± a margin, never past halfway to the neighbouring cues), so memory is bounded by the longest
  cue. A cue whose words the audio does not support there (its times are off) is looked for
  again, in order, in a wider window around it.
* **untimed text** (a plain transcript, or a cue longer than a minute) is found in order along
  the audio, one window at a time.

Other languages (``language`` != ``en``) use the same model with espeak-ng's phonemes of the
language (method ``sphinx_xlang``). ``method="tts"`` instead speaks the text with espeak-ng and
matches the synthetic speech to the real one by DTW over MFCCs (the aeneas approach).

Words come out in transcript order with non-decreasing, non-overlapping times; a word the audio
does not support has a low score or null times.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Callable, Iterator, Literal, Optional, Sequence

import numpy as np

from mmfuse.schemas.records import Cue
from mmfuse.transforms.align.acoustic import CONFIDENT, AcousticAligner
from mmfuse.transforms.align.speech import FRAME_US, AudioCursor, frame_energy_db
from mmfuse.transforms.align.tts import EspeakUnavailable, Synthesizer, TtsAligner, WordTime
from mmfuse.transforms.text.tokens import strip_word

__all__ = [
    "AlignedWord",
    "WordAligner",
    "align_transcript",
    "align_untimed",
    "confident_ratio",
    "cue_words",
    "split_sentences",
]

_LOG = logging.getLogger(__name__)
Method = Literal["auto", "sphinx", "tts"]
# espeak-ng voice for a transcript language code.
_VOICES = {"en": "en-us"}
_MIN_MARGIN_US = 100_000
# How far around a cue its words are looked for again when they are not where it says.
_SEARCH_US = 3_000_000
# Cues longer than this are treated as untimed text, found along the audio.
_LONG_CUE_US = 60_000_000


@dataclass(frozen=True)
class AlignedWord:
    cue_index: int
    word_index: int  # position in its cue
    word: str
    start_us: Optional[int]
    end_us: Optional[int]
    score: Optional[float]
    method: str

    @property
    def confident(self) -> bool:
        return self.start_us is not None and self.score is not None and self.score >= CONFIDENT

    def as_row(self, media_id: str) -> dict:
        return {
            "media_id": media_id,
            "cue_index": self.cue_index,
            "word_index": self.word_index,
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


def confident_ratio(words: Sequence[AlignedWord]) -> Optional[float]:
    """Share of the words placed with a score of at least ``CONFIDENT``: ``aligned_word_ratio``."""
    return round(sum(w.confident for w in words) / len(words), 4) if words else None


class WordAligner:
    """Aligns word lists to speech with the configured method; engines are built on first use."""

    def __init__(self, method: Method = "auto", language: str = "en"):
        if method not in ("auto", "sphinx", "tts"):
            raise ValueError(f"alignment method must be auto, sphinx or tts, got {method!r}")
        self.method, self.language = method, language
        self._acoustic = self._tts = None

    @property
    def acoustic(self) -> Optional[AcousticAligner]:
        """The acoustic model's aligner, unless ``tts`` was asked for."""
        if self.method == "tts":
            return None
        if self._acoustic is None:
            self._acoustic = AcousticAligner(_VOICES.get(self.language, self.language))
        return self._acoustic

    @property
    def acoustic_method(self) -> str:
        return "sphinx" if self.language == "en" else "sphinx_xlang"

    def tts(self) -> TtsAligner:
        if self._tts is None:
            self._tts = TtsAligner(Synthesizer(voice=_VOICES.get(self.language, self.language)))
        return self._tts

    def align(self, samples, words: list[str]) -> tuple[Optional[list[Optional[WordTime]]], str]:
        """(word times relative to the samples' start, method) or (None, "none")."""
        if self.acoustic is not None:
            return self.acoustic.force(samples, words), self.acoustic_method
        try:
            result = self.tts().align(samples, words)
        except EspeakUnavailable as err:
            _LOG.warning("%s", err)
            return None, "none"
        return (result, "tts_dtw") if result is not None else (None, "none")


class _Reader:
    """A forward-only view of the item's audio for spans asked in any order: a request that
    starts before the cursor's position opens a fresh pass."""

    def __init__(self, open_cursor: Callable[[], AudioCursor]):
        self.open_cursor, self.cursor, self.position = open_cursor, open_cursor(), 0

    def at(self, start_us: int) -> AudioCursor:
        if start_us < self.position - AudioCursor.HISTORY_US:
            self.cursor, self.position = self.open_cursor(), 0
        self.position = max(self.position, start_us)
        return self.cursor


def align_transcript(
    open_cursor: Callable[[], AudioCursor],
    cues: Sequence[Cue],
    aligner: WordAligner,
    margin_us: int = 500_000,
    search_cues: Optional[Sequence[Cue]] = None,
) -> Iterator[AlignedWord]:
    """Aligned words of every cue, in transcript order. ``search_cues`` (the cues moved by an
    estimated offset) say where to look, when they differ from the cues as written."""
    reader = _Reader(open_cursor)
    where = list(search_cues or cues)
    order = sorted(range(len(cues)), key=lambda k: (where[k].start_us, k))
    placed: dict[int, list[AlignedWord]] = {}
    for n, k in enumerate(order):
        cue = where[k]
        words = cue_words(cue.text)
        if not words:
            continue
        if cue.duration_us > _LONG_CUE_US:
            placed[k] = _walk(reader, k, words, cue.start_us - margin_us, cue.end_us + margin_us, aligner)
            continue
        # The margin reaches at most halfway to the neighbouring cues, so the speech of one
        # cue is not offered to the words of the next.
        before = after = margin_us
        if n > 0:
            before = min(before, max(_MIN_MARGIN_US, (cue.start_us - where[order[n - 1]].end_us) // 2))
        if n + 1 < len(order):
            after = min(after, max(_MIN_MARGIN_US, (where[order[n + 1]].start_us - cue.end_us) // 2))
        found = _align_span(reader, k, words, cue.start_us - before, cue.end_us + after, aligner)
        if aligner.acoustic is not None and not _supported(found):
            wider = _walk(reader, k, words, cue.start_us - _SEARCH_US, cue.end_us + _SEARCH_US, aligner)
            if sum(w.confident for w in wider) > sum(w.confident for w in found):
                found = wider
        placed[k] = found
    words = [w for k in range(len(cues)) for w in placed.get(k, [])]
    yield from _monotonic(words)


def _supported(words: Sequence[AlignedWord]) -> bool:
    scores = [w.score for w in words if w.start_us is not None and w.score is not None]
    return len(scores) == len(words) and float(np.median(scores)) >= CONFIDENT


def _monotonic(words: Sequence[AlignedWord]) -> list[AlignedWord]:
    """Times non-decreasing and non-overlapping in transcript order: a word that would start
    before the previous one ends starts at that end (words placed out of order by separate
    cues stay in the order they are read)."""
    out, last = [], 0
    for w in words:
        if w.start_us is None:
            out.append(w)
            continue
        start = max(w.start_us, last)
        end = max(start, w.end_us)
        out.append(AlignedWord(w.cue_index, w.word_index, w.word, start, end, w.score, w.method))
        last = end
    return out


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


def _align_span(reader: _Reader, k: int, words: list[str], start_us: int, end_us: int, aligner: WordAligner) -> list[AlignedWord]:
    start_us = max(0, start_us)
    cursor = reader.at(start_us)
    first, samples = cursor.span(start_us, end_us)
    times, method = aligner.align(samples, words) if len(samples) else (None, "none")
    if times is not None:
        times = _snap_to_speech(samples, times)
    base = cursor.time_of(first)
    out = []
    for n, word in enumerate(words):
        t = times[n] if times is not None else None
        if t is None:
            out.append(AlignedWord(k, n, word, None, None, None, "none"))
        else:
            out.append(AlignedWord(k, n, word, base + t.start_us, base + t.end_us, round(t.score, 4), method))
    return out


def _walk(
    reader: _Reader, k: int, words: list[str], start_us: int, end_us: Optional[int], aligner: WordAligner
) -> list[AlignedWord]:
    """Words found in order along ``[start_us, end_us)``: the acoustic model's walk for English,
    otherwise sentence by sentence through the synthetic rendering."""
    start_us = max(0, start_us)
    if aligner.acoustic is None:
        return _tts_walk(reader, k, words, start_us, end_us, aligner)
    times = aligner.acoustic.walk(reader.at(start_us), words, start_us, end_us)
    return [
        AlignedWord(k, n, w, None, None, None, "none")
        if t is None
        else AlignedWord(k, n, w, t.start_us, t.end_us, round(t.score, 4), aligner.acoustic_method)
        for n, (w, t) in enumerate(zip(words, times))
    ]


def _tts_walk(reader: _Reader, k: int, words: list[str], start_us: int, end_us: Optional[int], aligner: WordAligner):
    """Sentences located one after the other by the synthetic rendering, then aligned."""
    out: list[AlignedWord] = []
    position = start_us
    sentences = split_sentences(" ".join(words)) or [" ".join(words)]
    for sentence in sentences:
        sentence_words = cue_words(sentence)
        # A generous window: the sentence spoken at half espeak-ng's speed, plus 10 s of slack.
        guess = len(" ".join(sentence_words)) * 80_000
        stop = position + 2 * guess + 10_000_000
        stop = stop if end_us is None else min(stop, end_us)
        cursor = reader.at(position)
        first, samples = cursor.span(position, stop)
        located = aligner.tts().align(samples, sentence_words) if len(samples) else None
        offset = len(out)
        if located is None:
            out += [AlignedWord(k, offset + n, w, None, None, None, "none") for n, w in enumerate(sentence_words)]
            continue
        base = cursor.time_of(first)
        a, b = base + located[0].start_us, base + located[-1].end_us
        span = _align_span(reader, k, sentence_words, a - 300_000, b + 300_000, aligner)
        out += [AlignedWord(k, offset + w.word_index, w.word, w.start_us, w.end_us, w.score, w.method) for w in span]
        position = max(position, b)
    return out


def align_untimed(open_cursor: Callable[[], AudioCursor], text: str, aligner: WordAligner) -> tuple[list[Cue], list[AlignedWord]]:
    """Plain text to timed sentence cues and their aligned words (``word_index``: the word's
    place in the whole text). A sentence none of whose words is confidently placed gets no
    cue; its words keep ``cue_index`` -1."""
    sentences = split_sentences(text)
    words = [w for s in sentences for w in cue_words(s)]
    found = _walk(_Reader(open_cursor), -1, words, 0, None, aligner)
    cues: list[Cue] = []
    out: list[AlignedWord] = []
    i = 0
    for sentence in sentences:
        mine = found[i : i + len(cue_words(sentence))]
        timed = [w for w in mine if w.start_us is not None]
        k = -1
        if any(w.confident for w in mine):
            k = len(cues)
            cues.append(Cue(timed[0].start_us, max(w.end_us for w in timed), sentence))
        # word_index counts in the whole text: the transcript's order whether or not a sentence was found
        out += [AlignedWord(k, i + n, w.word, w.start_us, w.end_us, w.score, w.method) for n, w in enumerate(mine)]
        i += len(mine)
    return cues, _monotonic(out)
