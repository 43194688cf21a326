"""Words of a transcript: NLTK tokens offline (no ``nltk.download``, no Punkt data needed), and
the two normal forms the stages use (lower-cased word tokens; words without outer punctuation)."""

from __future__ import annotations

import re

__all__ = ["strip_word", "tokenize", "words_of"]

# Punctuation around a word, keeping apostrophes ("don't", "'90s").
_OUTER_PUNCTUATION = re.compile(r"^[^\w']+|[^\w']+$")


def tokenize(text: str) -> list[str]:
    """Treebank-style word tokens of ``text`` (NLTK's ``NLTKWordTokenizer``)."""
    from nltk.tokenize import NLTKWordTokenizer

    if not text or not text.strip():
        return []
    return NLTKWordTokenizer().tokenize(" ".join(text.split()))


def words_of(tokens) -> list[str]:
    """The tokens that hold a letter or digit, lower-cased (what text features count)."""
    return [t.lower() for t in tokens or () if any(ch.isalnum() for ch in t)]


def strip_word(token: str) -> str:
    """``token`` without the punctuation around it (``"(hello),"`` → ``"hello"``)."""
    return _OUTER_PUNCTUATION.sub("", token)
