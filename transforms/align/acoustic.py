"""English alignment by an acoustic model: pocketsphinx's en-us model (its wheel ships the model
and the CMU dictionary, so it works offline), on spans of any length.

Two ways to place words:

* ``force`` aligns a known word sequence to a short span (a cue and its margin) with
  pocketsphinx's forced alignment.
* ``walk`` finds a word sequence in audio of any length without knowing where it is: windows
  of ``window_us`` are decoded with a grammar that accepts any prefix of the words still to
  place, in order (a finite-state grammar; Gentle reaches the same with a language model of the
  transcript). The words found, but for the last two (they may be cut by the window's end),
  are kept; the next window starts where the last kept word ends. Memory is one window, so an
  hour of lecture with one plain transcript aligns like a minute of it.

Scores. pocketsphinx normalises acoustic scores by the best senone of every frame, so a word's
log score per frame is near 0 where the model hears that word and far below it where it hears
something else. ``score`` maps it to (0, 1) by a logistic centred on -3 (ln units per 10 ms
frame): measured on the corpus's real speech, words of the right transcript sit at a median of
-0.8 to -2.0, words of another recording's transcript at -4.6 to -6.5. A word is *confident* at
``score >= CONFIDENT`` (0.5).

Words missing from the dictionary (names, fillers like "yknow", numbers) get a pronunciation
from espeak-ng's phonemes mapped to the CMU phone set; pocketsphinx has no grapheme-to-phoneme
model of its own. Other languages go the same way for every word: espeak-ng's phonemes of the
language, mapped to the nearest English phones, aligned with the English model. That is far
better than matching synthetic speech by DTW (on real French conversation: median onset error
40 ms against 1 s), but its scores are lower, so a window is never skipped as unsupported.
"""

from __future__ import annotations

import math
from typing import Optional, Sequence

import numpy as np

from mmfuse.transforms.align.speech import AudioCursor
from mmfuse.transforms.align.tts import EspeakUnavailable, WordTime, phonemes
from mmfuse.transforms.text.tokens import strip_word

__all__ = ["CONFIDENT", "AcousticAligner", "cmu_phones", "score", "sphinx_word"]

CONFIDENT = 0.5
_SCORE_MID = -3.0  # ln acoustic score per frame where score() is 0.5
_SCORE_SLOPE = 2.0
_FRAME_US = 10_000
_NOT_WORDS = {"<s>", "</s>", "<sil>", "[NOISE]", "(NULL)", "++NOISE++", "++BREATH++"}
# Words a window of the walk may hold at most: 6 words a second is fast speech.
_WORDS_PER_SECOND = 6
# A window whose words score below this (median) is audio those words are not in (music, other
# speech): it is skipped instead of consuming them.
_UNSUPPORTED = 0.5

# espeak-ng's ASCII phoneme mnemonics (en-us) → CMU phones, longest first.
_ESPEAK_TO_CMU = {
    "aI@": "AY ER", "aU@": "AW ER", "i@3": "IH R",
    "aI": "AY", "aU": "AW", "eI": "EY", "oU": "OW", "OI": "OY", "tS": "CH", "dZ": "JH",
    "i:": "IY", "u:": "UW", "A:": "AA", "O:": "AO", "3:": "ER", "A@": "AA R", "e@": "EH R",
    "i@": "IH R", "U@": "UH R", "o@": "AO R", "O@": "AO R", "@L": "AH L", "I2": "IH", "@2": "AH",
    "@5": "AH", "a#": "AH", "3": "ER", "@": "AH", "V": "AH", "I": "IH", "E": "EH", "a": "AE",
    "U": "UH", "0": "AA", "A": "AA", "O": "AO", "e": "EH", "o": "OW", "u": "UW", "i": "IY",
    "p": "P", "b": "B", "t": "T", "d": "D", "k": "K", "g": "G", "f": "F", "v": "V", "T": "TH",
    "D": "DH", "s": "S", "z": "Z", "S": "SH", "Z": "ZH", "h": "HH", "m": "M", "n": "N", "N": "NG",
    "l": "L", "r": "R", "j": "Y", "w": "W", "x": "K", "C": "HH",
    # other voices' symbols, for languages aligned through the English model: French nasals,
    # front rounded vowels and the uvular r, nearest English phones
    "O~": "AO N", "E~": "EH N", "A~": "AA N", "W~": "ER N", "W": "ER", "Y": "ER", "y": "UW",
    "R": "R", "J": "N Y", "H": "W", "o:": "OW", "e:": "EY", "a:": "AA", "y:": "UW",
}  # fmt: skip
_ESPEAK_KEYS = sorted(_ESPEAK_TO_CMU, key=len, reverse=True)


def sphinx_word(word: str) -> str:
    """The dictionary form of a transcript word: lower case, outer punctuation removed."""
    return strip_word(word.lower())


def cmu_phones(mnemonics: str) -> list[str]:
    """CMU phones of espeak-ng's ASCII phonemes (``"h@l'oU"`` → HH AH L OW); stress marks and
    symbols without a CMU phone are dropped."""
    text = "".join(ch for ch in mnemonics if ch not in "',%=_|!-")
    out, i = [], 0
    while i < len(text):
        for key in _ESPEAK_KEYS:
            if text.startswith(key, i):
                out.extend(_ESPEAK_TO_CMU[key].split())
                i += len(key)
                break
        else:
            i += 1  # '#', '?', digits and other marks
    return out


def score(ascore: float, n_frames: int) -> float:
    """(0, 1) from a word's linear acoustic score over ``n_frames`` (see the module docstring)."""
    per_frame = math.log(max(ascore, 1e-300)) / max(1, n_frames)
    return 1.0 / (1.0 + math.exp(-_SCORE_SLOPE * (per_frame - _SCORE_MID)))


class AcousticAligner:
    """Places words in 16 kHz speech; the decoder is built on first use. ``voice``: espeak-ng's
    voice for pronunciations (``en-us``: the CMU dictionary first)."""

    def __init__(self, voice: str = "en-us", window_us: int = 20_000_000):
        self.voice, self.window_us = voice, window_us
        self.english = voice.startswith("en")
        self.unsupported = _UNSUPPORTED if self.english else 0.0
        self._decoder = None
        # pocketsphinx's model mis-handles digital silence; a little noise fixes it. Seeded, so
        # a run's word times are reproducible.
        self._rng = np.random.default_rng(0)

    def _get(self):
        if self._decoder is None:
            from pocketsphinx import Decoder

            self._decoder = Decoder(lm=None, samprate=16000, loglevel="FATAL")
        return self._decoder

    def spell(self, words: Sequence[str]) -> list[Optional[str]]:
        """The dictionary entry of each word, adding a pronunciation for words the dictionary
        lacks; None for a word nothing can pronounce."""
        d = self._get()
        out: list[Optional[str]] = []
        for word in words:
            text = sphinx_word(word)
            key = text if self.english else f"{self.voice}_{text}"
            if text and d.lookup_word(key) is None:
                try:
                    phones = cmu_phones(phonemes(text.replace("_", " "), self.voice))
                except EspeakUnavailable:
                    phones = []
                if phones:
                    d.add_word(key, " ".join(phones), True)
                else:
                    key = ""
            out.append(key if text and key else None)
        return out

    def _decode(self, samples: np.ndarray) -> list:
        noisy = samples + self._rng.normal(0.0, 3e-4, len(samples)).astype(np.float32)
        d = self._get()
        d.start_utt()
        d.process_raw((np.clip(noisy, -1.0, 1.0) * 32767).astype(np.int16).tobytes(), full_utt=True)
        d.end_utt()
        return [s for s in (d.seg() or []) if s.word not in _NOT_WORDS and not s.word.startswith("+")]

    @staticmethod
    def _time(seg, base_us: int) -> WordTime:
        n = seg.end_frame - seg.start_frame + 1
        return WordTime(base_us + seg.start_frame * _FRAME_US, base_us + (seg.end_frame + 1) * _FRAME_US, score(seg.ascore, n))

    def force(self, samples: np.ndarray, words: Sequence[str]) -> Optional[list[Optional[WordTime]]]:
        """Times (relative to the samples' start) of every word, None for words without a
        pronunciation; None when the decoder cannot align the words to these samples."""
        keys = self.spell(words)
        usable = [i for i, k in enumerate(keys) if k]
        if not usable or len(samples) < 1600:
            return None
        try:
            self._get().set_align_text(" ".join(keys[i] for i in usable))
        except RuntimeError:
            return None
        segs = self._decode(samples)
        if len(segs) != len(usable):
            return None
        out: list[Optional[WordTime]] = [None] * len(words)
        for i, seg in zip(usable, segs):
            out[i] = self._time(seg, 0)
        return out

    def walk(
        self, cursor: AudioCursor, words: Sequence[str], start_us: int, end_us: Optional[int] = None
    ) -> list[Optional[WordTime]]:
        """Media-clock times of ``words`` found in order in the audio from ``start_us`` (to
        ``end_us``, or the end); None for words that were not found."""
        keys = self.spell(words)
        todo = [i for i, k in enumerate(keys) if k]
        out: list[Optional[WordTime]] = [None] * len(words)
        pos = max(0, start_us)
        max_words = max(8, self.window_us * _WORDS_PER_SECOND // 1_000_000)
        d = self._get()
        while todo:
            stop = pos + self.window_us if end_us is None else min(end_us, pos + self.window_us)
            if stop - pos < 100_000:
                break
            first, samples = cursor.span(pos, stop)
            if len(samples) < 1600:
                break
            base = cursor.time_of(first)
            last_window = (end_us is not None and stop >= end_us) or len(samples) < (stop - pos) * 16 // 1000 - 160
            batch = todo[:max_words]
            final = len(batch) + 1
            chain = [(k, k + 1, 1.0, keys[i]) for k, i in enumerate(batch)] + [(k + 1, final, 1.0) for k in range(len(batch))]
            d.add_fsg("prefix", d.create_fsg("prefix", 0, final, chain))
            d.activate_search("prefix")
            segs = self._decode(samples)
            times = [self._time(s, base) for s in segs]
            keep = times if last_window else times[:-2]
            supported = keep and float(np.median([t.score for t in keep])) >= self.unsupported
            if not supported:
                if last_window:
                    break
                pos += self.window_us // 2  # audio without these words: look further on
                continue
            for i, t in zip(batch, keep):
                out[i] = t
            todo = todo[len(keep) :]
            pos = keep[-1].end_us
            if last_window:
                break
        return out
