"""Alignment by content: transcript cues to shots, by what a cue says and what a shot shows.

Two spaces compare them. The zero-shot space (:mod:`.zeroshot`) needs no fit: a shot is named
by a pretrained ImageNet CNN and the names are embedded with the cue in MiniLM sentence space.
The fitted space is learned over the dataset with canonical correlation analysis (CCA) on
(cue text, shot picture) pairs whose times agree: a cue is paired with the shot that holds its
middle. Text is the cue's MiniLM embedding (or hashed bag of words), a shot's picture the mean
visual feature of its frames; the CCA is ridge-regularised and fitted in closed form on a
bounded deterministic sample (a :class:`~mmfuse.transforms.analyzers.artifacts.Artifact` like
the PCA ones). A fit on fewer than ``min_pairs`` pairs is refused, and every fit records its
canonical correlations on items held out of it (K-fold over items), so a space that only
memorised its pairs shows as one.

With a space, each item's cues are assigned to its shots by dynamic programming: assignments
never go back in time (cue order is kept), and each cue's score is its similarity to the shot
plus a Gaussian prior on the distance between its stated time and the shot. The prior decides
when the content says nothing; content that clearly matches another shot overrules it, so cues
whose times are off by more than a shot, shots without narration and cues past the end of the
media all land where their content is. A whole transcript that is late or early is found as
one offset, chosen together with the assignment.

A placement's ``score`` is calibrated against the item's other shots: the share of them the
cue is less similar to than to its own (ties count half). Whatever the space and however many
pairs it was fitted on, a cue put on a shot at random scores 0.5 on average and a cue on the
shot it matches best scores 1.0.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from mmfuse.schemas.records import Cue
from mmfuse.transforms.align.shots import Shot
from mmfuse.transforms.analyzers.artifacts import Artifact
from mmfuse.transforms.analyzers.linear import deterministic_signs

__all__ = [
    "SEMANTIC_CCA",
    "CuePlacement",
    "assign_cues",
    "calibrated_score",
    "fit_cca",
    "fit_semantic",
    "held_out_correlations",
    "project",
    "training_pairs",
]

SEMANTIC_CCA = "semantic_cca"  # artifact name of the fitted text/picture space
_EPS = 1e-9


@dataclass(frozen=True)
class CuePlacement:
    cue_index: int
    shot_index: int
    score: Optional[float]  # calibrated: share of the item's other shots less similar (None: one shot)
    similarity: float  # raw similarity of cue and shot in the space (0 without evidence)
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


def fit_cca(
    pairs: Sequence[tuple[np.ndarray, np.ndarray]],
    dims: int,
    ridge: float = _RIDGE,
    x_name: str = "hashed cue words",
    y_name: str = "mean visual feature of the shot",
) -> Optional[Artifact]:
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
            "x": x_name,
            "y": y_name,
        },
    )


def _fold_of(group: str, folds: int) -> int:
    return zlib.crc32(group.encode("utf-8")) % folds


def held_out_correlations(
    pairs: Sequence[tuple[np.ndarray, np.ndarray]], groups: Sequence[str], dims: int, folds: int = 5, ridge: float = _RIDGE
) -> Optional[np.ndarray]:
    """Canonical correlations on pairs held out of the fit, by K-fold over ``groups`` (items:
    a cue and a shot of one item never sit on both sides). Each fold's held-out pairs are
    projected with the fit on the other folds; per dimension, the Pearson correlation of the
    two projections over that fold's pairs, averaged over folds weighted by their pairs (each
    fold has its own canonical directions, so folds are not pooled). None when fewer than two
    groups or no fold holds three pairs."""
    names = sorted(set(groups))
    if len(names) < 2:
        return None
    folds = min(folds, len(names))
    fold = {g: k for k, g in enumerate(names)} if folds == len(names) else {g: _fold_of(g, folds) for g in names}
    sums, weight = None, 0
    for k in range(folds):
        train = [p for p, g in zip(pairs, groups) if fold[g] != k]
        test = [p for p, g in zip(pairs, groups) if fold[g] == k]
        cca = fit_cca(train, dims, ridge) if len(test) >= 3 else None
        if cca is None:
            continue
        a = cca.arrays
        x = (np.stack([p[0] for p in test]) - a["x_mean"]) @ a["x_projection"]
        y = (np.stack([p[1] for p in test]) - a["y_mean"]) @ a["y_projection"]
        x, y = x - x.mean(axis=0), y - y.mean(axis=0)
        denominator = np.sqrt((x * x).sum(axis=0) * (y * y).sum(axis=0))
        corr = np.where(denominator > _EPS, (x * y).sum(axis=0) / np.maximum(denominator, _EPS), 0.0)
        corr = np.pad(corr, (0, max(0, dims - len(corr))))[:dims]
        sums = corr * len(test) if sums is None else sums + corr * len(test)
        weight += len(test)
    return None if sums is None else sums / weight


# Below this held-out first canonical correlation a fitted space says little about content.
WEAK_FIT = 0.3
# Fewer pairs than this make a weak fit whatever its held-out figures say: they are measured on
# a handful of pairs themselves.
WEAK_PAIRS = 200


def fit_semantic(
    sample: Sequence[tuple[str, tuple[np.ndarray, np.ndarray]]],
    dims: int,
    min_pairs: int,
    x_name: str,
    y_name: str,
    folds: int = 5,
) -> tuple[Optional[Artifact], dict]:
    """The fitted space from ``(item, (text, picture))`` pairs, or None, with a report for the
    run summary: the held-out canonical correlations of a fit, or why it was refused, and a
    ``warning`` when there is one to give."""
    pairs = [pair for _, pair in sample]
    groups = [g for g, _ in sample]
    report: dict = {"name": SEMANTIC_CCA, "pairs": len(pairs), "items": len(set(groups)), "min_pairs": min_pairs}
    if len(pairs) < min_pairs:
        report["refused"] = True
        report["warning"] = (
            f"semantic_cca not fitted: {len(pairs)} cue/shot pairs, fewer than --semantic_min_pairs {min_pairs}; "
            "a space learned from so few pairs matches content by chance"
        )
        return None, report
    artifact = fit_cca(pairs, dims, x_name=x_name, y_name=y_name)
    if artifact is None:
        report["refused"] = True
        report["warning"] = "semantic_cca not fitted: too few pairs"
        return None, report
    held = held_out_correlations(pairs, groups, dims, folds)
    params = dict(artifact.params)
    params["items"] = len(set(groups))
    params["held_out_correlations"] = None if held is None else [round(float(c), 4) for c in held]
    params["held_out_folds"] = min(folds, len(set(groups)))
    if held is None or held[0] < WEAK_FIT:
        first = "unknown (one item)" if held is None else f"{held[0]:.2f}"
        params["warning"] = (
            f"weak semantic fit: held-out first canonical correlation {first} (below {WEAK_FIT}); "
            "its placements follow stated times more than content"
        )
    elif len(pairs) < WEAK_PAIRS:
        params["warning"] = (
            f"weak semantic fit: {len(pairs)} cue/shot pairs (fewer than {WEAK_PAIRS}); its held-out "
            "correlations are measured on a handful of pairs and it may only know the things those show"
        )
    artifact = Artifact(artifact.name, artifact.kind, artifact.column, artifact.arrays, params)
    return artifact, report


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
        score = calibrated_score(similarity[i], j)
        out.append(CuePlacement(i, s.index, score, round(float(similarity[i, j]), 4), int(shift)))
    return sorted(out, key=lambda p: p.cue_index)


def calibrated_score(row: np.ndarray, j: int) -> Optional[float]:
    """Share of the other shots whose similarity to the cue is below shot ``j``'s (ties
    count half): a permutation test of the placement against the item's own shots. A cue
    put on a random shot scores 0.5 on average; None when the item has one shot."""
    row = np.asarray(row, np.float64)
    others = np.delete(row, j)
    if not len(others):
        return None
    below = float(np.sum(others < row[j])) + 0.5 * float(np.sum(others == row[j]))
    return round(below / len(others), 4)
