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
from typing import Mapping

import numpy as np

from mmfuse.fs import join, read_bytes, write_bytes

__all__ = ["Artifact", "load_artifact", "save_artifact"]


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


def load_artifact(folder: str, name: str) -> Artifact:
    """Read an artifact back and check its content hash against its description."""
    description = json.loads(read_bytes(join(folder, f"{name}.json")))
    with np.load(io.BytesIO(read_bytes(join(folder, f"{name}.npz"))), allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    artifact = Artifact(description["name"], description["kind"], description["column"], arrays, description.get("params", {}))
    if artifact.content_hash != description["content_hash"]:
        raise ValueError(f"artifact {name} in {folder} does not match its recorded content hash")
    return artifact
