"""PCA, PCA with whitening, and ICA after PCA, fitted from mergeable statistics.

Fit: the covariance from :class:`~mmfuse.transforms.analyzers.stats.Moments`, ``numpy.linalg.eigh``,
components ordered by variance with a fixed sign (largest entry positive), so a fit is a pure
function of the data. Whitening divides each component by its standard deviation; directions
with (numerically) no variance are dropped rather than blown up. ICA runs scikit-learn's
FastICA on a bounded, deterministic sample of the whitened PCA projections.

Apply: ``y = (x − mean) · P`` with one projection matrix ``P`` per artifact.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from mmfuse.transforms.analyzers.artifacts import Artifact
from mmfuse.transforms.analyzers.stats import Moments

__all__ = ["apply_linear", "fit_ica", "fit_pca"]

# Components whose variance is below this fraction of the largest are not kept.
_RANK_TOL = 1e-9
# FastICA iterations; a fit that has not converged by then says so in its parameters.
_ICA_MAX_ITER = 400


def deterministic_signs(columns: np.ndarray) -> np.ndarray:
    """±1 per column, making each column's largest-magnitude entry positive: eigen- and singular
    vectors are defined up to sign, and a fit must not flip from one run to the next."""
    k = columns.shape[1]
    signs = np.sign(columns[np.argmax(np.abs(columns), axis=0), np.arange(k)]) if k else np.ones(0)
    return np.where(signs == 0, 1.0, signs)


def _pca(moments: Moments, dims: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    mean, cov = moments.mean_cov()
    values, vectors = np.linalg.eigh(cov)
    order = np.argsort(values)[::-1]
    values, vectors = values[order], vectors[:, order]
    keep = int(np.sum(values > max(values[0], 0) * _RANK_TOL)) if len(values) else 0
    k = min(dims, keep)
    values, vectors = values[:k], vectors[:, :k]
    vectors = vectors * deterministic_signs(vectors)
    return mean, values, vectors


def fit_pca(moments: Optional[Moments], dims: int, whiten: bool, column: str) -> Optional[Artifact]:
    """PCA (optionally whitened) of a column; None when the column had no rows."""
    if moments is None or moments.n == 0:
        return None
    mean, values, vectors = _pca(moments, dims)
    projection = vectors / np.sqrt(values) if whiten else vectors
    kind = "pca_whiten" if whiten else "pca"
    return Artifact(
        name=f"{column}_{kind}",
        kind=kind,
        column=column,
        arrays={"mean": mean, "projection": projection, "explained_variance": values},
        params={"dims": int(projection.shape[1]), "requested_dims": dims, "n": int(moments.n), "input_dim": int(len(mean))},
    )


def fit_ica(moments: Optional[Moments], sample: Sequence[np.ndarray], dims: int, column: str) -> Optional[Artifact]:
    """FastICA on whitened PCA projections of a bounded sample; None without rows."""
    from sklearn.decomposition import FastICA

    pca = fit_pca(moments, dims, True, column)
    if pca is None or not len(sample):
        return None
    z = (np.stack(sample).astype(np.float64) - pca.arrays["mean"]) @ pca.arrays["projection"]
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    ica = FastICA(whiten=False, random_state=0, max_iter=_ICA_MAX_ITER, tol=1e-4)  # as many components as z has columns
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        ica.fit(z)
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    unmixing = ica.components_  # (k, k), applied to whitened data
    return Artifact(
        name=f"{column}_ica",
        kind="ica",
        column=column,
        arrays={
            "mean": pca.arrays["mean"],
            "projection": pca.arrays["projection"] @ unmixing.T,
            "explained_variance": pca.arrays["explained_variance"],
        },
        params={**pca.params, "ica_sample": len(sample), "ica_iterations": int(ica.n_iter_), "ica_converged": converged},
    )


def apply_linear(artifact: Artifact, vector) -> Optional[np.ndarray]:
    if vector is None:
        return None
    x = np.asarray(vector, np.float64)
    return ((x - artifact.arrays["mean"]) @ artifact.arrays["projection"]).astype(np.float32)
