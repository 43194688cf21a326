"""Cross-modal retrieval over a run: windows ranked by how well their picture matches a
sentence (``--text``) or another window's picture (``--like``), in a shared space learned
from the run.

With pretrained visual features (``--visual efficientnet_lite0``) the space is zero-shot, as
``--semantic_space zero_shot`` has it: a window's picture is its ImageNet class posteriors
named in MiniLM sentence space, the query its MiniLM embedding. Otherwise it is the run's
semantic CCA (``artifacts/semantic_cca``, fitted by ``--semantic_align``) when it has one,
else a CCA fitted here with scikit-learn on the windows that have both text and a picture.
A fitted CCA places cues among one item's shots well, but ranking windows across a whole run
needs a space where a sentence and a picture are close in absolute terms; on the real-picture
benchmark the zero-shot space does that and a CCA fitted on 360 pairs in 1280 dimensions does
not (``benchmarks/retrieval.py`` prints both). The score is the cosine in the space.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from mmfuse.data.windows import Windows, load_windows, table_dataset
from mmfuse.schemas.tables import read_feature_spec
from mmfuse.transforms.features.pretrained import PRETRAINED

__all__ = ["Hit", "SharedSpace", "load_space", "search_like", "search_text"]


@dataclass(frozen=True)
class Hit:
    media_id: str
    window_index: int
    start_us: int
    end_us: int
    score: float
    transcript: Optional[str]


@dataclass
class SharedSpace:
    """How a sentence (``text``) and window pictures (``pictures``: (n, D) visual features)
    become unit vectors of one space."""

    name: str
    text: Callable[[str], np.ndarray]
    pictures: Callable[[np.ndarray], np.ndarray]


def _linear(name, text_mean, text_projection, picture_mean, picture_projection, embed) -> SharedSpace:
    return SharedSpace(
        name,
        lambda s: _unit((embed(s) - text_mean) @ text_projection),
        lambda v: _unit((np.asarray(v, np.float64) - picture_mean) @ picture_projection),
    )


def _zero_shot(model: str, model_hash: Optional[str], device: str) -> SharedSpace:
    """The pretrained CNN's ImageNet posteriors named in MiniLM space (as --semantic_space
    zero_shot describes shots), each window's description centred on the mean over windows."""
    from mmfuse.transforms.align.zeroshot import ShotNamer

    namer = ShotNamer(model, device, model_hash)

    def pictures(visual: np.ndarray) -> np.ndarray:
        d = namer.describe(namer.posteriors(visual))
        return _unit(d - d.mean(axis=0))  # a picture like every sentence would attract them all

    return SharedSpace(f"zero_shot ({model} ImageNet classes in MiniLM space)", lambda s: namer.embed([s])[0], pictures)


def _unit(z: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(z, axis=-1, keepdims=True)
    return z / np.where(norm > 1e-12, norm, 1.0)


def _embedder(kind: str, width: int, device: str) -> Callable[[str], np.ndarray]:
    if kind == "minilm":
        from mmfuse.transforms.features.minilm import embed_sentences, load_minilm

        model = load_minilm(device, "search with MiniLM text")
        return lambda s: embed_sentences(model, [s])[0]
    from mmfuse.transforms.features import make_text_extractor
    from mmfuse.transforms.text.tokens import tokenize

    hashing = make_text_extractor("hashing", width)
    return lambda s: np.asarray(hashing(tokenize(s)), np.float64)


def load_space(run: str, windows: Windows, device: str = "cpu", space: str = "auto", dims: int = 32) -> SharedSpace:
    """The shared space (see the module): ``auto`` is zero-shot for a run with pretrained
    visual features, else the run's semantic CCA, else a CCA fitted on its windows;
    ``zero_shot``, ``semantic_cca`` or ``windows_cca`` ask for one."""
    from mmfuse.fs import exists, join
    from mmfuse.transforms.analyzers.artifacts import load_artifact

    folder = join(run, "artifacts")
    cca = None
    if space in ("auto", "semantic_cca") and exists(join(folder, "semantic_cca.json")):
        cca = load_artifact(folder, "semantic_cca")  # None: that run refused the fit
    schema = table_dataset(run, "windows").schema  # with the feature columns' metadata
    visual = read_feature_spec(schema.field("visual"))
    if space == "zero_shot" or (space == "auto" and visual is not None and visual.extractor in PRETRAINED):
        if visual is None or visual.extractor not in PRETRAINED:
            raise ValueError("the zero-shot space needs a run made with --visual efficientnet_lite0")
        return _zero_shot(visual.extractor, visual.model_hash, device)
    if cca is not None and space in ("auto", "semantic_cca"):
        a = cca.arrays
        kind = "minilm" if str(cca.params.get("x_name", "")).startswith("MiniLM") else "hashing"
        embed = _embedder(kind, len(a["x_mean"]), device)
        return _linear("semantic_cca", a["x_mean"], a["x_projection"], a["y_mean"], a["y_projection"], embed)
    if space == "semantic_cca":
        raise ValueError("the run has no fitted semantic CCA (--semantic_align with enough pairs)")
    from sklearn.cross_decomposition import CCA

    both = windows.masks["text"] & windows.masks["visual"]
    if both.sum() < 10:
        raise ValueError("the run has no semantic CCA and fewer than 10 windows with both text and a picture to fit one")
    x, y = windows.features["text"][both].astype(np.float64), windows.features["visual"][both].astype(np.float64)
    k = max(1, min(dims, x.shape[1], y.shape[1], int(both.sum()) - 1))
    fitted = CCA(n_components=k, max_iter=1000).fit(x, y)
    spec = read_feature_spec(schema.field("text"))
    kind = "minilm" if spec is not None and spec.extractor.startswith("minilm") else "hashing"
    embed = _embedder(kind, x.shape[1], device)
    # CCA scales its inputs (private attributes: scikit-learn has no public accessor for them)
    return _linear(
        "a CCA fitted on the run's windows (text against picture)",
        fitted._x_mean,
        fitted.x_rotations_ / fitted._x_std[:, None],
        fitted._y_mean,
        fitted.y_rotations_ / fitted._y_std[:, None],
        embed,
    )


def _ranked(windows: Windows, scores: np.ndarray, top: int, exclude: Optional[np.ndarray] = None) -> list[Hit]:
    scores = np.where(windows.masks["visual"], scores, -np.inf)
    if exclude is not None:
        scores = np.where(exclude, -np.inf, scores)
    order = np.argsort(-scores, kind="stable")[:top]
    transcripts = windows.columns.get("transcript")
    return [
        Hit(
            str(windows.media_id[i]),
            int(windows.window_index[i]),
            int(windows.start_us[i]),
            int(windows.end_us[i]),
            float(scores[i]),
            None if transcripts is None else transcripts[i],
        )
        for i in order
        if np.isfinite(scores[i])
    ]


def search_text(space: SharedSpace, windows: Windows, sentence: str, top: int = 10) -> list[Hit]:
    """The ``top`` windows whose picture is closest to ``sentence``."""
    return _ranked(windows, space.pictures(windows.features["visual"]) @ space.text(sentence), top)


def search_like(space: SharedSpace, windows: Windows, media_id: str, seconds: float, top: int = 10) -> list[Hit]:
    """The ``top`` windows of other items whose picture is closest to that of the window of
    ``media_id`` holding ``seconds``."""
    t = round(seconds * 1_000_000)
    at = np.flatnonzero((windows.media_id == media_id) & (windows.start_us <= t) & (t < windows.end_us))
    at = [i for i in at if windows.masks["visual"][i]]
    if not at:
        raise ValueError(f"no window of {media_id!r} with a picture holds {seconds} s")
    pictures = space.pictures(windows.features["visual"])
    return _ranked(windows, pictures @ pictures[at[0]], top, exclude=windows.media_id == media_id)


def load_for_search(run: str) -> Windows:
    return load_windows(run, features=("visual", "text"), window_columns=("transcript",), label=None)
