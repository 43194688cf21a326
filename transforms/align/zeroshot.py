"""Zero-shot shot descriptions: what a pretrained ImageNet CNN sees, said in sentence space.

A shot is described without any fit on the user's data: each of its frames' pooled CNN
features goes through the network's own ImageNet classifier (the final linear layer, whose
weights ship with the features model), the class posteriors are averaged over the shot, and
the shot's description is the mean of the MiniLM embeddings of the 1000 class names, each said
as "a photo of a NAME.", weighted by the posterior flattened to the power
:data:`POSTERIOR_POWER`. A cue's MiniLM embedding is then compared
with that description by cosine: "a tabby cat looks at the camera" lands near a shot whose
frames the classifier calls tabby / tiger cat / Egyptian cat.

The class names (``imagenet_classes.txt``, one per line in class-index order) are the
WordNet-derived ImageNet-1k names as PyTorch Hub lists them (pytorch/hub, BSD-3-Clause,
commit a6fc887fbbbda0dd37c440bf8a145f1da6707d6b).
"""

from __future__ import annotations

from importlib import resources
from typing import Optional, Sequence

import numpy as np

__all__ = ["POSTERIOR_POWER", "PROMPT", "ShotNamer", "imagenet_classes", "zero_shot_similarity"]

PROMPT = "a photo of a {}."
# The posterior is flattened (p ** 0.07, renormalised: the logits at temperature ~14) before it
# weights the class names, so a description carries the classes ranked below the first: a
# picture ImageNet has no class for (the moon, stained tissue) is still told apart by what it
# is closer to. Chosen on the 60 training items of benchmarks/semantic_real.py with their
# narration moved two shots late: 80.0% of cues on their shot with the plain posterior, 93.1%
# at 0.07 (0.05-0.15 within 2 points).
POSTERIOR_POWER = 0.07
_N_CLASSES = 1000


def imagenet_classes() -> list[str]:
    """The 1000 ImageNet-1k class names, by class index."""
    text = resources.files("mmfuse.transforms.align").joinpath("imagenet_classes.txt").read_text("utf-8")
    names = text.splitlines()
    if len(names) != _N_CLASSES:
        raise ValueError(f"imagenet_classes.txt lists {len(names)} names, not {_N_CLASSES}")
    return names


def _classifier(model_name: str, expected_sha256: Optional[str]) -> tuple[np.ndarray, np.ndarray]:
    """(W, b) of the pretrained model's ImageNet classifier, read from the weights file the
    worker's installed package holds (checked against the hash recorded at submission)."""
    import torch

    from mmfuse.transforms.features.models import file_sha256
    from mmfuse.transforms.features.pretrained import pretrained

    model = pretrained(model_name)
    model.check_installed()
    path = model.weights_path()
    if expected_sha256 and file_sha256(path) != expected_sha256:
        raise RuntimeError(f"the {model_name} weights on this worker ({path}) differ from those the job was submitted with")
    state = torch.load(path, map_location="cpu", weights_only=True)
    weight, bias = state["_fc.weight"].double().numpy(), state["_fc.bias"].double().numpy()
    if weight.shape != (_N_CLASSES, model.dim):
        raise ValueError(f"{model_name}'s classifier has shape {tuple(weight.shape)}, not ({_N_CLASSES}, {model.dim})")
    return weight, bias


class ShotNamer:
    """The classifier of ``model_name`` and MiniLM with the class names embedded: built once per
    worker process (a few seconds: 1000 short sentences through MiniLM)."""

    def __init__(self, model_name: str, device: str = "cpu", expected_sha256: Optional[str] = None):
        from mmfuse.transforms.features.minilm import embed_sentences, load_minilm

        self.weight, self.bias = _classifier(model_name, expected_sha256)
        self.text_model = load_minilm(device, "--semantic_space zero_shot")
        self.names = imagenet_classes()
        self.name_vectors = embed_sentences(self.text_model, [PROMPT.format(n) for n in self.names], batch_size=256)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        from mmfuse.transforms.features.minilm import embed_sentences

        return embed_sentences(self.text_model, texts)

    def posteriors(self, features: np.ndarray) -> np.ndarray:
        """(n, 1000) ImageNet class posteriors of (n, dim) pooled features."""
        logits = np.asarray(features, np.float64) @ self.weight.T + self.bias
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(axis=1, keepdims=True)

    def describe(self, posterior: np.ndarray) -> np.ndarray:
        """A shot's mean class posterior (or ``(n, 1000)`` of them) as a unit vector in
        sentence space (or ``(n, 384)``)."""
        weights = np.asarray(posterior, np.float64) ** POSTERIOR_POWER
        d = (weights / weights.sum(axis=-1, keepdims=True)) @ self.name_vectors
        return d / np.maximum(np.linalg.norm(d, axis=-1, keepdims=True), 1e-12)

    def top_classes(self, posterior: np.ndarray, k: int = 3) -> list[tuple[str, float]]:
        order = np.argsort(-np.asarray(posterior))[:k]
        return [(self.names[i], float(posterior[i])) for i in order]


def zero_shot_similarity(cue_vectors: np.ndarray, shot_descriptions: np.ndarray) -> np.ndarray:
    """(cues, shots) cosine of each cue with each shot's description, each shot's column
    centred on its mean over the item's cues when there are at least two.

    The centring removes what a shot shares with every sentence: descriptions spread over
    many classes (a texture, a dark frame) sit close to every cue and would otherwise attract
    all of them (the hubness of nearest-neighbour search in embedding spaces)."""
    sim = np.asarray(cue_vectors, np.float64) @ np.asarray(shot_descriptions, np.float64).T
    if sim.shape[0] >= 2:
        sim = sim - sim.mean(axis=0, keepdims=True)
    return sim
