"""PyTorch models through Beam's RunInference: CNN frame embeddings, RNN window encodings.

A model is a TorchScript file, or a ``state_dict`` plus an architecture name (torchvision's
when it is installed, otherwise the small built-in ones below). Models are loaded by the
RunInference model handler on the worker, once per process, never at graph construction.
``--device cuda`` on a worker without a usable GPU fails loudly instead of running on the CPU.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any, Iterable, Optional, Sequence

from apache_beam.io.filesystems import FileSystems
from apache_beam.ml.inference.base import PredictionResult

__all__ = [
    "ARCHITECTURES",
    "GPU_UNAVAILABLE",
    "check_local_device",
    "file_sha256",
    "make_handler",
]

_LOG = logging.getLogger(__name__)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
GPU_UNAVAILABLE = (
    "--device cuda was requested but no usable CUDA GPU is visible to PyTorch here "
    "(torch.cuda.is_available() is False). Run on a machine or worker with a GPU and a CUDA "
    "build of torch, or pass --device cpu."
)


def _torch():
    try:
        import torch
    except ImportError as err:
        raise ImportError("CNN/RNN features need PyTorch: pip install 'mmfuse[cnn]'") from err
    return torch


def cuda_usable() -> bool:
    torch = _torch()
    if not torch.cuda.is_available():
        return False
    try:
        torch.zeros(1, device="cuda")
        return True
    except RuntimeError:
        return False


def check_local_device(device: str) -> None:
    """Raise at job start when a local run asks for a GPU it does not have."""
    if device == "cuda" and not cuda_usable():
        raise RuntimeError(GPU_UNAVAILABLE)


def file_sha256(path: str) -> str:
    """Content hash of a model file (read through FileSystems), for field metadata."""
    h = hashlib.sha256()
    with FileSystems.open(path) as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# ---- built-in architectures (used for state_dicts when torchvision is absent) --------------


def small_cnn(out_dim: int = 128):
    """Four conv blocks and global average pooling: (B, 3, H, W) → (B, out_dim)."""
    nn = _torch().nn
    layers, channels = [], 3
    for width in (16, 32, 64, out_dim):
        layers += [nn.Conv2d(channels, width, 3, stride=2, padding=1), nn.BatchNorm2d(width), nn.ReLU()]
        channels = width
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    return nn.Sequential(*layers)


def small_gru(n_mels: int = 64, hidden: int = 128):
    """A one-layer GRU whose last hidden state encodes the sequence: (B, T, n_mels) → (B, hidden)."""
    nn = _torch().nn

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


# ---- inference functions -------------------------------------------------------------------


def _flatten(out):
    """(B, D) from whatever a model returns: a tensor, a (B, T, D) sequence (last step), a tuple."""
    if isinstance(out, (tuple, list)):
        out = out[0]
    if out.dim() == 3:
        out = out[:, -1]
    return out.reshape(out.shape[0], -1)


def _padded(batch: Sequence[Any], pad_to: int):
    """The batch stacked and padded with zeros to ``pad_to`` rows: every call then has one
    shape, so a row's result never depends on which other rows shared its batch (BLAS picks
    kernels by shape), and features are reproducible bit for bit."""
    torch = _torch()
    x = torch.stack(list(batch))
    if len(batch) < pad_to:
        x = torch.cat([x, x.new_zeros((pad_to - len(batch),) + tuple(x.shape[1:]))])
    return x


def image_inference_fn(normalize: bool, pad_to: int):
    """uint8 (3, H, W) tensors in, features out: scaling and normalisation run on the device."""

    def fn(
        batch: Sequence[Any], model, device, inference_args: Optional[dict] = None, model_id: Optional[str] = None
    ) -> Iterable[PredictionResult]:
        torch = _torch()
        with torch.no_grad():
            x = _padded(batch, pad_to).to(device, non_blocking=True).float().div_(255.0)
            if normalize:
                mean = torch.tensor(IMAGENET_MEAN, device=x.device).view(1, 3, 1, 1)
                std = torch.tensor(IMAGENET_STD, device=x.device).view(1, 3, 1, 1)
                x = (x - mean) / std
            out = _flatten(model(x, **(inference_args or {})))[: len(batch)].float().cpu().numpy()
        return [PredictionResult(example, row, model_id) for example, row in zip(batch, out)]

    return fn


def sequence_inference_fn(pad_to: int):
    """float (T, n_mels) tensors in, one vector per sequence out."""

    def fn(
        batch: Sequence[Any], model, device, inference_args: Optional[dict] = None, model_id: Optional[str] = None
    ) -> Iterable[PredictionResult]:
        torch = _torch()
        with torch.no_grad():
            x = _padded(batch, pad_to).to(device, non_blocking=True).float()
            out = _flatten(model(x, **(inference_args or {})))[: len(batch)].float().cpu().numpy()
        return [PredictionResult(example, row, model_id) for example, row in zip(batch, out)]

    return fn


# ---- the model handler -----------------------------------------------------------------------


def make_handler(
    model_path: str,
    arch: Optional[str],
    device: str,
    batch_size: int,
    kind: str,
    normalize: bool = True,
    arch_params: Optional[dict] = None,
    model_copies: Optional[int] = None,
):
    """A PyTorch model handler for ``kind`` ``"image"`` (uint8 (3, H, W) tensors) or
    ``"sequence"`` (float (T, F) tensors); wrap it in ``KeyedModelHandler`` for keyed input."""
    from mmfuse.transforms.features.handler import StrictDeviceHandler

    common = dict(
        device="GPU" if device == "cuda" else "CPU",
        inference_fn=image_inference_fn(normalize, batch_size) if kind == "image" else sequence_inference_fn(batch_size),
        # full batches (bundle ends excepted): a GPU is fed as much as it is asked to take
        min_batch_size=batch_size,
        max_batch_size=batch_size,
        model_copies=model_copies,
    )
    if arch:
        return StrictDeviceHandler(
            state_dict_path=model_path,
            model_class=architecture(arch),
            model_params=arch_params or {},
            load_model_args={"weights_only": True},
            **common,
        )
    return StrictDeviceHandler(torch_script_model_path=model_path, **common)
