"""Text features that need no fit: hashed bag of words of a window's transcript."""

from __future__ import annotations

import numpy as np

from mmfuse.schemas.tables import FeatureSpec
from mmfuse.transforms.text.tokens import words_of

__all__ = ["TEXT_EXTRACTORS", "HashingText", "make_text_extractor"]

TEXT_EXTRACTORS = ("hashing",)


class HashingText:
    """scikit-learn's HashingVectorizer over lower-cased word tokens, L2-normalised."""

    def __init__(self, n_features: int = 256):
        if n_features < 1:
            raise ValueError("n_features must be positive")
        self.name = "hashing"
        self.dim = n_features
        self._vectorizer = None

    def _get(self):
        if self._vectorizer is None:
            from sklearn.feature_extraction.text import HashingVectorizer

            self._vectorizer = HashingVectorizer(n_features=self.dim, analyzer=words_of, alternate_sign=False, norm="l2")
        return self._vectorizer

    def __call__(self, tokens: list[str]) -> np.ndarray | None:
        words = words_of(tokens)
        if not words:
            return None
        return self._get().transform([tokens]).toarray()[0].astype(np.float32)

    def spec(self) -> FeatureSpec:
        return FeatureSpec(
            self.name,
            self.dim,
            {
                "vectorizer": "sklearn HashingVectorizer",
                "alternate_sign": False,
                "norm": "l2",
                "tokens": "nltk, lower-cased, words only",
            },
        )


def make_text_extractor(name: str, n_features: int = 256) -> HashingText:
    if name not in TEXT_EXTRACTORS:
        raise ValueError(f"unknown text extractor {name!r}; choose one of {list(TEXT_EXTRACTORS)}")
    return HashingText(n_features)
