"""Words of a transcript: NLTK tokens offline (no ``nltk.download``, no Punkt data needed), and
the two normal forms the stages use (lower-cased word tokens; words without outer punctuation)."""

from __future__ import annotations

import re

__all__ = ["strip_word", "tokenize", "words_of"]

# Punctuation around a word, keeping apostrophes ("don't", "'90s").
_OUTER_PUNCTUATION = re.compile(r"^[^\w']+|[^\w']+$")


# Longer texts are tokenized in pieces: NLTK's regular expressions run under a
# 5 s guard that a single multi-megabyte string trips (TimeoutError). Treebank rules look no
# further than a word's neighbours, except at the very end of the text (a final period is split
# off), so pieces are cut at a space between two letters or digits and give the same tokens.
_PIECE_CHARS = 4096


def _plain_space(text: str, start: int, end: int) -> int:
    """The last space in ``text[start:end]`` between two letters or digits (else any space,
    else the first space after a word longer than the piece, else the text's end)."""
    space = text.rfind(" ", start, end)
    if space <= start:
        after = text.find(" ", end)
        return len(text) if after < 0 else after
    fallback = space
    while space > start:
        if text[space - 1].isalnum() and text[space + 1].isalnum():
            return space
        space = text.rfind(" ", start, space)
    return fallback


def tokenize(text: str) -> list[str]:
    """Treebank-style word tokens of ``text`` (NLTK's ``NLTKWordTokenizer``)."""
    from nltk.tokenize import NLTKWordTokenizer

    if not text or not text.strip():
        return []
    joined = " ".join(text.split())
    tokenizer = NLTKWordTokenizer()
    if len(joined) <= _PIECE_CHARS:
        return tokenizer.tokenize(joined)
    tokens: list[str] = []
    start = 0
    while start < len(joined):
        end = min(len(joined), start + _PIECE_CHARS)
        if end < len(joined):
            end = _plain_space(joined, start, end)
        piece = joined[start:end]
        # a "word" longer than a piece is no word: one token, not a regular-expression bomb
        tokens.extend(tokenizer.tokenize(piece) if len(piece) <= _PIECE_CHARS else [piece])
        start = end + 1 if end < len(joined) and joined[end] == " " else end
    return tokens


def words_of(tokens) -> list[str]:
    """The tokens that hold a letter or digit, lower-cased (what text features count)."""
    return [t.lower() for t in tokens or () if any(ch.isalnum() for ch in t)]


def strip_word(token: str) -> str:
    """``token`` without the punctuation around it (``"(hello),"`` → ``"hello"``)."""
    return _OUTER_PUNCTUATION.sub("", token)
