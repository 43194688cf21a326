"""TF-IDF over the dataset's window transcripts, reduced to ``dims`` by LSA (truncated SVD).

The vocabulary and IDF come from document frequencies counted by a CombineFn (``DocFreqFn``
in :mod:`~mmfuse.transforms.analyzers.combiners`) (a document is a
window's token list); the SVD is fitted on a bounded, deterministic sample of windows.
"""

from __future__ import annotations

from collections import Counter
from typing import Optional, Sequence

import numpy as np

from mmfuse.transforms.analyzers.artifacts import Artifact
from mmfuse.transforms.analyzers.linear import deterministic_signs
from mmfuse.transforms.text.tokens import words_of

__all__ = ["TfidfLsa", "fit_tfidf_lsa"]


class TfidfLsa:
    """Applies a fitted TF-IDF + LSA artifact to token lists."""

    def __init__(self, artifact: Artifact):
        self.vocab = {w: i for i, w in enumerate(artifact.arrays["vocabulary"].tolist())}
        self.idf = artifact.arrays["idf"]
        self.components = artifact.arrays["components"]

    def __call__(self, tokens) -> Optional[np.ndarray]:
        counts = Counter(w for w in words_of(tokens) if w in self.vocab)
        if not counts:
            return None
        idx = np.fromiter((self.vocab[w] for w in counts), int)
        tf = np.fromiter(counts.values(), float)
        weights = tf * self.idf[idx]
        weights /= np.linalg.norm(weights)
        return (self.components[:, idx] @ weights).astype(np.float32)


def fit_tfidf_lsa(doc_freq, sample: Sequence, dims: int, max_vocab: int, min_df: int = 2) -> Optional[Artifact]:
    """Vocabulary (most frequent by document frequency, ties alphabetical), smoothed IDF as in
    scikit-learn, and an SVD basis from the sample's L2-normalised TF-IDF vectors."""
    from scipy.sparse import csr_matrix
    from sklearn.decomposition import TruncatedSVD

    n_docs, df = doc_freq
    terms = sorted((t for t, c in df.items() if c >= min_df), key=lambda t: (-df[t], t))[:max_vocab]
    if not terms or not sample:
        return None
    vocab = {t: i for i, t in enumerate(terms)}
    idf = np.log((1 + n_docs) / (1 + np.array([df[t] for t in terms], float))) + 1
    rows, cols, vals = [], [], []
    for r, tokens in enumerate(sample):
        counts = Counter(w for w in words_of(tokens) if w in vocab)
        if not counts:
            continue
        w = np.array([c * idf[vocab[t]] for t, c in counts.items()])
        w /= np.linalg.norm(w)
        rows += [r] * len(counts)
        cols += [vocab[t] for t in counts]
        vals += w.tolist()
    matrix = csr_matrix((vals, (rows, cols)), shape=(len(sample), len(terms)))
    k = max(1, min(dims, len(terms) - 1, matrix.shape[0] - 1)) if len(terms) > 1 and matrix.shape[0] > 1 else 1
    if k < 1 or matrix.nnz == 0:
        return None
    svd = TruncatedSVD(n_components=k, algorithm="randomized", random_state=0, n_iter=7)
    svd.fit(matrix)
    components = svd.components_
    components = components * deterministic_signs(components.T)[:, None]
    return Artifact(
        name="text_tfidf_lsa",
        kind="tfidf_lsa",
        column="text",
        arrays={"vocabulary": np.array(terms, dtype=str), "idf": idf, "components": components},
        params={
            "dims": int(k),
            "requested_dims": dims,
            "max_vocab": max_vocab,
            "min_df": min_df,
            "n_documents": int(n_docs),
            "lsa_sample": len(sample),
        },
    )
