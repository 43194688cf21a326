"""Fitted analyzers as files: ``NAME.npz`` (arrays) and ``NAME.json`` (description), no pickle.

The content hash covers the arrays (names, dtypes, shapes, bytes) and the parameters, so two
fits that agree bit for bit have the same hash; it also goes into the Parquet field metadata of
the columns the artifact produced.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass, field
from typing import Mapping, Optional

import numpy as np

from mmfuse.fs import join, read_bytes, write_bytes

__all__ = ["Artifact", "check_artifact", "load_artifact", "read_not_fitted", "save_artifact", "save_not_fitted"]


@dataclass(frozen=True)
class Artifact:
    """A fitted analyzer: what it is (``kind``), which column it serves, its arrays."""

    name: str  # file stem, e.g. "visual_pca_whiten"
    kind: str  # pca | pca_whiten | ica | tfidf_lsa
    column: str
    arrays: Mapping[str, np.ndarray]
    params: Mapping[str, object] = field(default_factory=dict)

    @property
    def content_hash(self) -> str:
        h = hashlib.sha256()
        h.update(
            json.dumps({"kind": self.kind, "column": self.column, "params": self.params}, sort_keys=True, default=str).encode()
        )
        for key in sorted(self.arrays):
            a = np.ascontiguousarray(self.arrays[key])
            h.update(f"{key}:{a.dtype.str}:{a.shape}".encode())
            h.update(a.tobytes())
        return h.hexdigest()

    def describe(self) -> dict:
        return {
            "name": self.name,
            "kind": self.kind,
            "column": self.column,
            "params": dict(self.params),
            "arrays": {k: {"dtype": v.dtype.str, "shape": list(v.shape)} for k, v in sorted(self.arrays.items())},
            "content_hash": self.content_hash,
            "format": "numpy .npz (allow_pickle=False) + this JSON",
        }


def save_artifact(artifact: Artifact, folder: str) -> dict:
    """Write ``folder/NAME.npz`` and ``folder/NAME.json``; returns the description."""
    buf = io.BytesIO()
    arrays = {k: np.ascontiguousarray(v) for k, v in artifact.arrays.items()}
    for v in arrays.values():
        if v.dtype == object:
            raise TypeError("artifacts hold numeric or string arrays only, never objects")
    np.savez(buf, **arrays)
    write_bytes(join(folder, f"{artifact.name}.npz"), buf.getvalue())
    description = artifact.describe()
    write_bytes(join(folder, f"{artifact.name}.json"), (json.dumps(description, indent=2) + "\n").encode(), "application/json")
    return description


def save_not_fitted(folder: str, name: str, facts: Mapping[str, object]) -> dict:
    """Write ``folder/NAME.json`` saying that ``name`` was not fitted and why (``facts``: a
    ``reason``, figures): a later run applying the folder then knows the artifact is absent on
    purpose, not lost. Returns the description."""
    description = {**dict(facts), "name": name, "fitted": False}
    write_bytes(join(folder, f"{name}.json"), (json.dumps(description, indent=2) + "\n").encode(), "application/json")
    return description


def read_not_fitted(folder: str, name: str) -> dict:
    """The facts :func:`save_not_fitted` recorded for ``name`` in ``folder``."""
    description = json.loads(read_bytes(join(folder, f"{name}.json")))
    if description.get("fitted") is not False:
        raise ValueError(f"{name} in {folder} is a fitted artifact, not a record of a refused fit")
    return {k: v for k, v in description.items() if k not in ("name", "fitted")}


def load_artifact(folder: str, name: str) -> Optional[Artifact]:
    """Read an artifact back and check its content hash against its description; None when
    the run that wrote ``folder`` did not fit it (:func:`save_not_fitted`)."""
    description = json.loads(read_bytes(join(folder, f"{name}.json")))
    if description.get("fitted") is False:
        return None
    with np.load(io.BytesIO(read_bytes(join(folder, f"{name}.npz"))), allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    artifact = Artifact(description["name"], description["kind"], description["column"], arrays, description.get("params", {}))
    if artifact.content_hash != description["content_hash"]:
        raise ValueError(f"artifact {name} in {folder} does not match its recorded content hash")
    return artifact


# For each kind: (vector array, projection array) pairs whose shapes must fit, and the arrays
# that must exist. A projection's first axis is its input's length.
_SHAPES = {
    "pca": (("mean", "projection"),),
    "pca_whiten": (("mean", "projection"),),
    "ica": (("mean", "projection"),),
    "tfidf_lsa": (("idf", "components"), ("vocabulary", "components")),
    "cca": (("x_mean", "x_projection"), ("y_mean", "y_projection")),
}


def check_artifact(artifact: Artifact, input_dim: int | None = None) -> None:
    """Raise ValueError unless the artifact can be applied: a kind mmfuse knows, its arrays
    present with shapes that fit each other (and ``input_dim``, the width of the column it
    applies to, where known), every number finite. A hash proves the files are as written,
    not that what was written is usable (an all-NaN fit hashes as well as any)."""
    arrays = artifact.arrays
    if artifact.kind == "early_fusion":
        for c in artifact.params.get("columns", []):
            mean, scale = arrays.get(f"{c}_mean"), arrays.get(f"{c}_scale")
            if mean is None or scale is None or mean.shape != scale.shape or mean.ndim != 1:
                raise ValueError(f"no matching {c}_mean and {c}_scale vectors")
            if not (scale > 0).all():
                raise ValueError(f"{c}_scale holds values that are not positive")
    elif artifact.kind not in _SHAPES:
        raise ValueError(f"unknown kind {artifact.kind!r}")
    for vector, matrix in _SHAPES.get(artifact.kind, ()):
        missing = [k for k in (vector, matrix) if k not in arrays]
        if missing:
            raise ValueError(f"no {' or '.join(missing)} array")
        v, m = arrays[vector], arrays[matrix]
        if v.ndim != 1 or m.ndim != 2 or m.shape[0] != v.shape[0]:
            raise ValueError(f"{matrix} {list(m.shape)} does not fit {vector} {list(v.shape)}")
    if artifact.kind == "cca" and arrays["x_projection"].shape[1] != arrays["y_projection"].shape[1]:
        raise ValueError("x_projection and y_projection have different widths")
    if input_dim and artifact.kind in ("pca", "pca_whiten", "ica") and arrays["mean"].shape[0] != input_dim:
        raise ValueError(
            f"fitted on {arrays['mean'].shape[0]}-d {artifact.column} features, these settings make {input_dim}-d ones"
        )
    for key, a in arrays.items():
        if np.issubdtype(a.dtype, np.number) and not np.isfinite(a).all():
            raise ValueError(f"{key} holds NaN or infinite values")
