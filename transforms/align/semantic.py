"""Alignment by content: transcript cues to shots, in a space shared by text and pictures.

The shared space is learned over the dataset with canonical correlation analysis (CCA) on
(cue text, shot picture) pairs whose times agree: a cue is paired with the shot that holds its
middle. Text is the cue's hashed bag of words, a shot's picture the mean visual feature of its
frames; the CCA is ridge-regularised and fitted in closed form on a bounded deterministic
sample (a :class:`~mmfuse.transforms.analyzers.artifacts.Artifact` like the PCA ones). With the space
fitted, each item's cues are assigned to its shots by dynamic programming: assignments never
go back in time (cue order is kept), and each cue's score is its cosine similarity to the shot
plus a Gaussian prior on the distance between its stated time and the shot. The prior decides
when the content says nothing; content that clearly matches another shot overrules it, so cues
whose times are off by more than a shot, shots without narration and cues past the end of the
media all land where their content is. A whole transcript that is late or early is found as
one offset, chosen together with the assignment.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from mmfuse.schemas.records import Cue
from mmfuse.transforms.align.shots import Shot
from mmfuse.transforms.analyzers.artifacts import Artifact
from mmfuse.transforms.analyzers.linear import deterministic_signs

__all__ = ["SEMANTIC_CCA", "CuePlacement", "assign_cues", "fit_cca", "project", "training_pairs"]

SEMANTIC_CCA = "semantic_cca"  # artifact name of the fitted text/picture space
_EPS = 1e-9


@dataclass(frozen=True)
class CuePlacement:
    cue_index: int
    shot_index: int
    score: float  # cosine similarity of cue and shot in the shared space (0 without evidence)
    time_shift_us: int  # move from the cue's middle to the nearest instant of its shot


def _center(c: Cue) -> int:
    return (c.start_us + c.end_us) // 2


def shot_of(t_us: int, shots: Sequence[Shot]) -> Optional[int]:
    for s in shots:
        if s.start_us <= t_us < s.end_us:
            return s.index
    return None


def training_pairs(cues: Sequence[Cue], cue_vecs, shots: Sequence[Shot], shot_vecs) -> list[tuple[np.ndarray, np.ndarray]]:
    """(text, picture) pairs of cues whose middle lies in a shot with frames."""
    pairs = []
    for c, tv in zip(cues, cue_vecs):
        k = shot_of(_center(c), shots)
        if tv is not None and k is not None and shot_vecs[k] is not None:
            pairs.append((np.asarray(tv, np.float64), np.asarray(shot_vecs[k], np.float64)))
    return pairs


# Ridge added to each covariance, as a share of its mean variance: CCA on bag-of-words and
# histogram vectors wider than the pairs that support them would otherwise fit noise.
_RIDGE = 0.1


def _inverse_sqrt(cov: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh(cov)
    return (vectors / np.sqrt(np.maximum(values, _EPS))) @ vectors.T


def fit_cca(pairs: Sequence[tuple[np.ndarray, np.ndarray]], dims: int, ridge: float = _RIDGE) -> Optional[Artifact]:
    """Regularised CCA between text (x) and picture (y) vectors; None with too few pairs.

    Closed form: with ridge-regularised covariances Cxx, Cyy and the cross-covariance Cxy, the
    SVD of Cxx^-1/2 Cxy Cyy^-1/2 = U S Vᵀ gives the projections Cxx^-1/2 U and Cyy^-1/2 V, the
    canonical correlations in S."""
    if len(pairs) < 4:
        return None
    x = np.stack([p[0] for p in pairs]).astype(np.float64)
    y = np.stack([p[1] for p in pairs]).astype(np.float64)
    x_mean, y_mean = x.mean(axis=0), y.mean(axis=0)
    xc, yc = x - x_mean, y - y_mean
    n = len(pairs)
    cxx, cyy, cxy = xc.T @ xc / n, yc.T @ yc / n, xc.T @ yc / n
    cxx += ridge * max(np.trace(cxx) / len(cxx), _EPS) * np.eye(len(cxx))
    cyy += ridge * max(np.trace(cyy) / len(cyy), _EPS) * np.eye(len(cyy))
    wx, wy = _inverse_sqrt(cxx), _inverse_sqrt(cyy)
    u, corr, vt = np.linalg.svd(wx @ cxy @ wy)
    k = max(1, min(dims, len(corr)))
    u, vt = u[:, :k], vt[:k]
    signs = deterministic_signs(u)
    return Artifact(
        name=SEMANTIC_CCA,
        kind="cca",
        column="cues~shots",
        arrays={
            "x_mean": x_mean,
            "x_projection": (wx @ u) * signs,
            "y_mean": y_mean,
            "y_projection": (wy @ vt.T) * signs,
            "correlations": corr[:k],
        },
        params={
            "dims": int(k),
            "requested_dims": dims,
            "ridge": ridge,
            "pairs": n,
            "x_dim": int(x.shape[1]),
            "y_dim": int(y.shape[1]),
            "x": "hashed cue words",
            "y": "mean visual feature of the shot",
        },
    )


def project(artifact: Artifact, vector, side: str) -> Optional[np.ndarray]:
    """A text (side "x") or picture ("y") vector in the shared space, unit length."""
    if vector is None:
        return None
    a = artifact.arrays
    z = (np.asarray(vector, np.float64) - a[f"{side}_mean"]) @ a[f"{side}_projection"]
    norm = np.linalg.norm(z)
    return z / norm if norm > _EPS else None


def _dp(centers: np.ndarray, order: list[int], starts, ends, evidence: np.ndarray, prior_us: float) -> tuple[list[int], float]:
    """Best monotonic shot per cue (in ``order``) under evidence + Gaussian time prior, and
    the total log score."""
    n, m = len(order), len(starts)
    c = centers[order][:, None]
    distance = np.maximum(0.0, np.maximum(starts[None, :] - c, c - ends[None, :] + 1))
    score = evidence[order] - 0.5 * (distance / prior_us) ** 2
    columns = np.arange(m)
    best = score[0].copy()
    back = np.zeros((n, m), int)
    for r in range(1, n):
        running = np.maximum.accumulate(best)
        # latest shot at or before j that holds the running best
        arg = np.maximum.accumulate(np.where(best >= running, columns, 0))
        back[r] = arg
        best = score[r] + running
    placement = [0] * n
    placement[-1] = int(np.argmax(best))
    for r in range(n - 1, 0, -1):
        placement[r - 1] = int(back[r, placement[r]])
    return placement, float(best.max())


def assign_cues(
    cues: Sequence[Cue],
    shots: Sequence[Shot],
    similarity: np.ndarray,
    prior_us: int = 5_000_000,
    temperature: float = 0.1,
    offset_scale_us: int = 30_000_000,
    max_offset_us: int = 120_000_000,
) -> list[CuePlacement]:
    """Monotonic assignment of cues (taken in time order) to shots maximising, summed over
    cues, log P(shot | cue content) + log P(shot | cue time): the first a softmax of the
    similarities at ``temperature``, the second a Gaussian of scale ``prior_us`` on the
    distance between the shot and the cue's middle moved by the item's offset.

    The offset (a transcript late or early as a whole) is chosen jointly: every offset on a
    grid of half a typical shot within ``max_offset_us`` is tried, each scored by its best
    assignment plus a Gaussian prior of scale ``offset_scale_us`` on the offset itself."""
    if not cues or not shots:
        return []
    order = sorted(range(len(cues)), key=lambda i: (cues[i].start_us, i))
    starts = np.array([s.start_us for s in shots], np.float64)
    ends = np.array([s.end_us for s in shots], np.float64)
    logits = similarity / temperature
    evidence = logits - logits.max(axis=1, keepdims=True)
    evidence -= np.log(np.exp(evidence).sum(axis=1, keepdims=True))
    centers = np.array([_center(c) for c in cues], np.float64)
    step = max(100_000.0, float(np.median(ends - starts)) / 2)
    reach = min(max_offset_us, ends[-1] - starts[0] + step)
    best = None
    for offset in np.arange(-reach, reach + step / 2, step):
        placement, score = _dp(centers + offset, order, starts, ends, evidence, prior_us)
        score -= 0.5 * (offset / offset_scale_us) ** 2
        if best is None or score > best[0]:
            best = (score, placement)
    placement = best[1]
    out = []
    for i, j in zip(order, placement):
        c = _center(cues[i])
        s = shots[j]
        shift = 0 if s.start_us <= c < s.end_us else (s.start_us - c if c < s.start_us else (s.end_us - 1) - c)
        out.append(CuePlacement(i, s.index, round(float(similarity[i, j]), 4), int(shift)))
    return sorted(out, key=lambda p: p.cue_index)
