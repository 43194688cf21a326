"""Model files and architectures for the CNN/RNN features.

A model is a TorchScript file, or a ``state_dict`` plus an architecture name (torchvision's
when it is installed, otherwise the small built-in ones below). Models are loaded by the
RunInference model handler (:mod:`mmfuse.transforms.features.handler`) on the worker, once per
process, never at graph construction.
"""

from __future__ import annotations

import hashlib

from apache_beam.io.filesystems import FileSystems

from mmfuse.transforms.features.device import torch_module

__all__ = ["ARCHITECTURES", "architecture", "file_sha256", "model_format", "small_cnn", "small_gru"]


def file_sha256(path: str) -> str:
    """Content hash of a model file (read through FileSystems), for field metadata."""
    h = hashlib.sha256()
    with FileSystems.open(path) as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def model_format(path: str) -> str:
    """``torchscript``, ``state_dict`` (a zip written by ``torch.save``) or ``unknown``, from
    the file's zip directory alone: nothing is unpickled or run."""
    import zipfile

    try:
        with FileSystems.open(path) as f, zipfile.ZipFile(f) as z:
            names = z.namelist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return "unknown"
    if any("/code/" in n for n in names) and any(n.endswith("constants.pkl") for n in names):
        return "torchscript"
    return "state_dict" if any(n.endswith("data.pkl") for n in names) else "unknown"


# ---- built-in architectures (used for state_dicts when torchvision is absent) --------------


def small_cnn(out_dim: int = 128):
    """Four conv blocks and global average pooling: (B, 3, H, W) → (B, out_dim)."""
    nn = torch_module().nn
    layers, channels = [], 3
    for width in (16, 32, 64, out_dim):
        layers += [nn.Conv2d(channels, width, 3, stride=2, padding=1), nn.BatchNorm2d(width), nn.ReLU()]
        channels = width
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    return nn.Sequential(*layers)


def small_gru(n_mels: int = 64, hidden: int = 128):
    """A one-layer GRU whose last hidden state encodes the sequence: (B, T, n_mels) → (B, hidden)."""
    nn = torch_module().nn

    class SmallGRU(nn.Module):
        def __init__(self):
            super().__init__()
            self.gru = nn.GRU(n_mels, hidden, batch_first=True)

        def forward(self, x):
            _, h = self.gru(x)
            return h[-1]

    return SmallGRU()


ARCHITECTURES = {"small_cnn": small_cnn, "small_gru": small_gru}


def architecture(name: str):
    """A model class by name: built-in, or any ``torchvision.models`` constructor."""
    if name in ARCHITECTURES:
        return ARCHITECTURES[name]
    try:
        import torchvision.models as tvm
    except Exception as err:  # torchvision missing or broken beside this torch
        raise ValueError(
            f"unknown architecture {name!r}: built-in ones are {sorted(ARCHITECTURES)}; torchvision is not usable here ({err})"
        ) from None
    if not hasattr(tvm, name):
        raise ValueError(f"unknown architecture {name!r} (not built in, not in torchvision.models)")
    return getattr(tvm, name)
