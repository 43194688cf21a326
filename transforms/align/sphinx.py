"""English forced alignment with pocketsphinx (its wheel ships the en-us acoustic model and
dictionary, so it works offline)."""

from __future__ import annotations

import re
from typing import Optional

import numpy as np

from mmfuse.transforms.align.tts import WordTime
from mmfuse.transforms.text.tokens import strip_word

__all__ = ["SphinxAligner", "sphinx_word"]

_ALT = re.compile(r"\(\d+\)$")  # alternative pronunciations: "for(2)"
_FILLERS = {"<s>", "</s>", "<sil>", "[NOISE]", "(NULL)"}
_FRAME_US = 10_000


def sphinx_word(word: str) -> str:
    """The dictionary form of a transcript word: lower case, outer punctuation removed."""
    return strip_word(word.lower())


class SphinxAligner:
    """Aligns a known word sequence to 16 kHz speech; None when the decoder cannot (words
    missing from the dictionary, or speech that does not match them)."""

    def __init__(self):
        from pocketsphinx import Decoder

        self._decoder = Decoder(lm=None, samprate=16000, loglevel="FATAL")
        # pocketsphinx's acoustic model mis-handles digital silence; a little noise fixes it.
        self._rng = np.random.default_rng(0)

    def knows(self, words: list[str]) -> bool:
        return all(w and self._decoder.lookup_word(w) is not None for w in words)

    def align(self, samples: np.ndarray, words: list[str]) -> Optional[list[WordTime]]:
        words = [sphinx_word(w) for w in words]
        if not words or not self.knows(words) or len(samples) < 1600:
            return None
        try:
            self._decoder.set_align_text(" ".join(words))
        except RuntimeError:
            return None
        noisy = samples + self._rng.normal(0.0, 3e-4, len(samples)).astype(np.float32)
        pcm = (np.clip(noisy, -1.0, 1.0) * 32767).astype(np.int16).tobytes()
        d = self._decoder
        d.start_utt()
        d.process_raw(pcm, full_utt=True)
        d.end_utt()
        segments = d.seg()
        if segments is None:
            return None
        found = [s for s in segments if s.word not in _FILLERS]
        if [_ALT.sub("", s.word) for s in found] != words:
            return None
        out = []
        for s in found:
            n = max(1, s.end_frame - s.start_frame + 1)
            # Geometric mean over the word's frames of the acoustic likelihood, in (0, 1].
            score = float(np.exp(np.log(max(s.ascore, 1e-300)) / n))
            out.append(WordTime(s.start_frame * _FRAME_US, (s.end_frame + 1) * _FRAME_US, min(1.0, score)))
        return out
