"""Word tokens with NLTK, offline: no ``nltk.download``, no Punkt data needed."""

from __future__ import annotations

__all__ = ["tokenize"]


def tokenize(text: str) -> list[str]:
    """Treebank-style word tokens of ``text`` (NLTK's ``NLTKWordTokenizer``)."""
    from nltk.tokenize import NLTKWordTokenizer

    if not text or not text.strip():
        return []
    return NLTKWordTokenizer().tokenize(" ".join(text.split()))
